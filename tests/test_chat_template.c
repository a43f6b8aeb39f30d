/* Chat templates: renderings equal transformers' apply_chat_template text (fixtures written by
 * tools/make_chat_fixtures.py) for Llama-3, Qwen3, SmolLM2, Llama-2 and DeepSeek; the
 * generation prompt is exactly the full rendering up to the last assistant's content; the
 * assistant-side segments are the response plus its end-of-turn token; family detection and
 * errors. */
/* ctest-labels: sanitize */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "testutil.h"
#include "tokenizer/chat_template.h"
#include "util/error.h"

static ChatRole role_of(const char *s)
{
    if (!strcmp(s, "system")) return CHAT_SYSTEM;
    if (!strcmp(s, "user")) return CHAT_USER;
    return CHAT_ASSISTANT;
}

/* The template a fixture case names, loaded the way a user would get it. */
static void template_for_case(json_t *c, ChatTemplate *t)
{
    const char *name = json_string_value(json_object_get(c, "template"));
    json_t *jinja = json_object_get(c, "jinja");
    if (!strcmp(name, "llama3") || !strcmp(name, "qwen3")) {
        char rel[64];
        snprintf(rel, sizeof rel, "tokenizers/%s/tokenizer_config.json", name);
        const char *p = shared_path(rel);
        if (p) {
            assert_int_equal(chat_template_from_model(t, p), 0);
        } else {
            assert_int_equal(chat_template_init(t, name), 0);
        }
    } else {
        assert_true(json_is_string(jinja));
        assert_int_equal(chat_template_from_jinja(t, json_string_value(jinja), name), 0);
    }
    json_t *bos = json_object_get(c, "bos_token"), *eos = json_object_get(c, "eos_token");
    if (json_is_string(bos) && !strcmp(name, "llama2"))
        assert_string_equal(t->bos_text, json_string_value(bos));
    if (json_is_string(eos) && (!strcmp(name, "llama2") || !strcmp(name, "deepseek")))
        assert_string_equal(t->eos_text, json_string_value(eos));
    json_t *suffix = json_object_get(c, "suffix");
    if (json_is_string(suffix)) chat_template_set_suffix(t, json_string_value(suffix), "\n");
}

static void test_matches_apply_chat_template(void **state)
{
    (void)state;
    const char *path = fixture_path("chat/renderings.json");
    assert_non_null(path);
    json_error_t err;
    json_t *cases = json_load_file(path, 0, &err);
    assert_non_null(cases);
    size_t i;
    json_t *c;
    int checked = 0;
    json_array_foreach(cases, i, c) {
        ChatTemplate t;
        template_for_case(c, &t);
        json_t *conv = json_object_get(c, "conversation");
        size_t n = json_array_size(conv);
        ChatMessage msgs[8];
        assert_true(n <= 8);
        for (size_t k = 0; k < n; k++) {
            json_t *m = json_array_get(conv, k);
            msgs[k].role = role_of(json_string_value(json_object_get(m, "role")));
            msgs[k].content = json_string_value(json_object_get(m, "content"));
        }
        bool gen = json_is_true(json_object_get(c, "generation_prompt"));
        ChatRendering r = {0};
        assert_int_equal(chat_render(&t, msgs, gen ? n - 1 : n, gen, &r), 0);
        StrBuf text = {0};
        chat_rendering_text(&r, &text);
        /* Meta-Llama-3's template appends an assistant header even to a finished conversation;
         * a training rendering stops after the last <|eot_id|> (see chat_template.c). */
        if (t.family == CHAT_LLAMA3 && !gen)
            strbuf_puts(&text, "<|start_header_id|>assistant<|end_header_id|>\n\n");
        const char *want = json_string_value(json_object_get(c, "text"));
        if (strcmp(text.data, want) != 0) {
            fprintf(stderr, "case %zu (%s %s gen=%d):\n got: %s\nwant: %s\n", i,
                    chat_family_name(t.family), json_string_value(json_object_get(c, "name")),
                    gen, text.data, want);
        }
        assert_string_equal(text.data, want);
        strbuf_free(&text);
        chat_rendering_free(&r);
        chat_template_free(&t);
        checked++;
    }
    assert_int_equal(checked, 70);
    json_decref(cases);
}

/* For every family: the generation prompt equals the full rendering up to the first assistant
 * segment of the last turn, and the assistant-side text is each response (as the family writes
 * it) followed by its end-of-turn token. */
static void test_prompt_prefix_and_assistant_side(void **state)
{
    (void)state;
    static const char *names[] = {"chatml", "smollm2", "qwen3", "llama3", "llama2", "deepseek",
                                  "raw"};
    /* What each family puts on the assistant side for the two responses below. */
    static const char *assistant_side[] = {
        "Ans 1<|im_end|>Ans 2<|im_end|>",
        "Ans 1<|im_end|>Ans 2<|im_end|>",
        "Ans 1<|im_end|>Ans 2<|im_end|>",
        "Ans 1<|eot_id|>Ans 2<|eot_id|>",
        " Ans 1 </s> Ans 2 </s>",
        " Ans 1<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c> Ans 2"
        "<\xef\xbd\x9c"
        "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
        "Ans 1Ans 2",
    };
    ChatMessage conv[] = {
        {CHAT_USER, "Q 1"}, {CHAT_ASSISTANT, "Ans 1"}, {CHAT_USER, "Q 2"},
        {CHAT_ASSISTANT, "\nAns 2"},
    };
    for (size_t f = 0; f < sizeof names / sizeof names[0]; f++) {
        ChatTemplate t;
        assert_int_equal(chat_template_init(&t, names[f]), 0);
        /* Qwen3 drops leading newlines of the final answer, Llama-2 and -3 strip it; others
         * keep them, so give them the plain text. */
        bool strips = t.family == CHAT_QWEN3 || t.family == CHAT_LLAMA3 ||
                      t.family == CHAT_LLAMA2;
        conv[3].content = strips ? "\nAns 2" : "Ans 2";

        ChatRendering full = {0}, prompt = {0};
        assert_int_equal(chat_render(&t, conv, 4, false, &full), 0);
        assert_int_equal(chat_render(&t, conv, 3, true, &prompt), 0);
        StrBuf ptext = {0}, prefix = {0}, side = {0};
        chat_rendering_text(&prompt, &ptext);
        size_t last_start = 0;
        for (size_t k = 0; k < full.n; k++) {
            if (full.segments[k].assistant) {
                strbuf_append(&side, full.segments[k].text, full.segments[k].len);
                if (k == 0 || !full.segments[k - 1].assistant) last_start = k;
            }
        }
        for (size_t k = 0; k < last_start; k++)
            strbuf_append(&prefix, full.segments[k].text, full.segments[k].len);
        assert_string_equal(prefix.data, ptext.data);
        assert_string_equal(side.data, assistant_side[f]);
        strbuf_free(&ptext);
        strbuf_free(&prefix);
        strbuf_free(&side);
        chat_rendering_free(&full);
        chat_rendering_free(&prompt);
        chat_template_free(&t);
    }
}

static void test_detection(void **state)
{
    (void)state;
    ChatTemplate t;
    /* Qwen2.5's template writes its default system prompt literally (with a Jinja "\n"). */
    const char *qwen25 =
        "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + "
        "messages[0]['content'] + '<|im_end|>\\n' }}{%- else %}{{- '<|im_start|>system\\nYou are "
        "Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}{%- endif %}";
    assert_int_equal(chat_template_from_jinja(&t, qwen25, "x"), 0);
    assert_int_equal(t.family, CHAT_CHATML);
    assert_string_equal(t.default_system,
                        "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.");
    StrBuf out = {0};
    assert_int_equal(chat_generation_prompt(&t, "Hi", &out), 0);
    assert_string_equal(out.data, "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. "
                                  "You are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi"
                                  "<|im_end|>\n<|im_start|>assistant\n");
    strbuf_free(&out);
    /* An explicit system prompt replaces the default. */
    chat_template_set_system(&t, "Be brief.");
    assert_int_equal(chat_generation_prompt(&t, "Hi", &out), 0);
    assert_string_equal(out.data, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi"
                                  "<|im_end|>\n<|im_start|>assistant\n");
    strbuf_free(&out);
    chat_template_free(&t);

    const char *qwen3_like = "{{- '<|im_start|>system\\n' + messages[0].content }}<think>";
    assert_int_equal(chat_template_from_jinja(&t, qwen3_like, "x"), 0);
    assert_int_equal(t.family, CHAT_QWEN3);
    assert_null(t.default_system);
    chat_template_free(&t);

    assert_int_equal(chat_template_from_jinja(&t, "{{ '[INST] ' }}", "x"), 0);
    assert_int_equal(t.family, CHAT_LLAMA2);
    chat_template_free(&t);

    assert_int_equal(chat_template_from_jinja(&t, "{{ message }}", "cfg.json"), -1);
    assert_non_null(strstr(pf_error(), "cfg.json"));
    assert_int_equal(chat_template_init(&t, "vicuna"), -1);
    assert_non_null(strstr(pf_error(), "vicuna"));
}

static void test_model_config_errors(void **state)
{
    (void)state;
    char *dir = tmpdir_make();
    char path[512];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    ChatTemplate t;
    const char *no_template = "{\"bos_token\": \"<s>\"}";
    assert_int_equal(write_file(path, no_template, strlen(no_template)), 0);
    assert_int_equal(chat_template_from_model(&t, dir), -1);
    assert_non_null(strstr(pf_error(), "no chat_template"));
    const char *broken = "{\"chat_template\": \"<|im_start|>";
    assert_int_equal(write_file(path, broken, strlen(broken)), 0);
    assert_int_equal(chat_template_from_model(&t, dir), -1);
    assert_non_null(strstr(pf_error(), "tokenizer_config.json"));
    const char *list = "{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"[INST]\"},"
                       " {\"name\": \"default\", \"template\": \"<|start_header_id|>\"}],"
                       " \"bos_token\": {\"content\": \"<|begin_of_text|>\"}}";
    assert_int_equal(write_file(path, list, strlen(list)), 0);
    assert_int_equal(chat_template_from_model(&t, dir), 0);
    assert_int_equal(t.family, CHAT_LLAMA3);
    assert_string_equal(t.bos_text, "<|begin_of_text|>");
    chat_template_free(&t);
    tmpdir_remove(dir);
}

static void test_render_errors(void **state)
{
    (void)state;
    ChatTemplate t;
    assert_int_equal(chat_template_init(&t, "llama2"), 0);
    ChatMessage bad[] = {{CHAT_USER, "a"}, {CHAT_USER, "b"}};
    ChatRendering r = {0};
    assert_int_equal(chat_render(&t, bad, 2, false, &r), -1);
    assert_non_null(strstr(pf_error(), "turn 2"));
    chat_rendering_free(&r);
    ChatMessage done[] = {{CHAT_USER, "a"}, {CHAT_ASSISTANT, "b"}};
    assert_int_equal(chat_render(&t, done, 2, true, &r), -1);
    assert_int_equal(chat_render(&t, done, 0, false, &r), -1);
    chat_rendering_free(&r);
    chat_template_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_apply_chat_template),
        cmocka_unit_test(test_prompt_prefix_and_assistant_side),
        cmocka_unit_test(test_detection),
        cmocka_unit_test(test_model_config_errors),
        cmocka_unit_test(test_render_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
