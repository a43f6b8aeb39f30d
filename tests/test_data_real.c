/* SFT examples from real data with the real tokenizers (../shared; skipped when absent): a few
 * rows of GSM8K (Llama-3), PubMedQA and MATH-500 (Qwen3, with the step-by-step suffix). The
 * tokens decode to the template's rendering of the row, and the loss mask is one contiguous run
 * that decodes to exactly the answer text plus the end-of-turn token. Whole conversations get
 * the ids Hugging Face (Llama-3) and sentencepiece (Llama-2) give the rendered text
 * (tests/fixtures/data/sft_token_ids.json, from tools/make_chat_fixtures.py), and the
 * generation prompt's ids are a prefix of them ending where the loss mask starts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "data/sft.h"
#include "testutil.h"
#include "util/error.h"

/* Real tokenizer, real rows: the masked tokens decode to exactly the answer plus the
 * end-of-turn token, and all tokens decode to the template's rendering. */
static void check_real(const Tokenizer *tok, const char *tok_rel, const char *data_rel,
                       const char *prompt_key, const char *response_key, const char *eot,
                       const char *tail, const char *suffix)
{
    const char *tp = shared_path(tok_rel);
    if (!tp) {
        fprintf(stderr, "skipping %s: ../shared/%s absent\n", data_rel, tok_rel);
        return;
    }
    char tok_path[512], cfg_path[512];
    snprintf(tok_path, sizeof tok_path, "%s", tp);
    snprintf(cfg_path, sizeof cfg_path, "%s", tok_path);
    strcpy(strrchr(cfg_path, '/'), "/tokenizer_config.json");
    const char *dp = shared_path(data_rel);
    if (!dp) {
        fprintf(stderr, "skipping: ../shared/%s absent\n", data_rel);
        return;
    }
    char data_path[512];
    snprintf(data_path, sizeof data_path, "%s", dp);

    ChatTemplate t;
    assert_int_equal(chat_template_from_model(&t, cfg_path), 0);
    if (suffix) chat_template_set_suffix(&t, suffix, "\n");
    SftEncoder enc;
    sft_encoder_from_tokenizer(tok, &enc);
    SftOptions o;
    sft_options_default(&o);
    o.prompt_key = prompt_key;
    o.response_key = response_key;
    o.max_rows = 3;
    SftDataset d = {0};
    SftStats st;
    if (sft_load_jsonl(data_path, &t, &enc, &o, &d, &st) != 0) fail_msg("%s", pf_error());
    assert_int_equal(d.n, 3);

    FILE *f = fopen(data_path, "r");
    char *line = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < d.n; i++) {
        assert_true(getline(&line, &cap, f) > 0);
        json_t *row = json_loads(line, JSON_DECODE_INT_AS_REAL, NULL);
        const char *q = json_string_value(json_object_get(row, prompt_key));
        const char *a = json_string_value(json_object_get(row, response_key));
        const SftExample *e = &d.examples[i];

        IntVec masked = {0};
        int first = -1, last = -1;
        for (int k = 0; k < e->len; k++) {
            if (!e->loss_mask[k]) continue;
            intvec_push(&masked, e->tokens[k]);
            if (first < 0) first = k;
            last = k;
        }
        assert_int_equal(last - first + 1, (int)masked.len); /* one contiguous run */
        assert_int_equal(e->tokens[last], tokenizer_token_id(tok, eot));
        StrBuf after = {0}; /* the template's text after the end-of-turn token */
        tokenizer_decode(tok, e->tokens + last + 1, (size_t)(e->len - 1 - last), false, &after);
        assert_string_equal(after.data ? after.data : "", tail);
        strbuf_free(&after);
        StrBuf got = {0}, want = {0};
        assert_int_equal(tokenizer_decode(tok, masked.data, masked.len, false, &got), 0);
        strbuf_printf(&want, "%s%s", a, eot);
        assert_string_equal(got.data, want.data);

        /* The whole example decodes to the rendering of (question, answer). */
        ChatMessage conv[2] = {{CHAT_USER, q}, {CHAT_ASSISTANT, a}};
        ChatRendering r = {0};
        assert_int_equal(chat_render(&t, conv, 2, false, &r), 0);
        StrBuf rendered = {0}, all = {0};
        chat_rendering_text(&r, &rendered);
        assert_int_equal(tokenizer_decode(tok, e->tokens, (size_t)e->len, false, &all), 0);
        assert_string_equal(all.data, rendered.data);
        if (suffix) assert_non_null(strstr(all.data, suffix));

        strbuf_free(&got);
        strbuf_free(&want);
        strbuf_free(&rendered);
        strbuf_free(&all);
        chat_rendering_free(&r);
        intvec_free(&masked);
        json_decref(row);
    }
    free(line);
    fclose(f);
    sft_dataset_free(&d);
    chat_template_free(&t);
}

static void test_real_data(void **state)
{
    (void)state;
    if (!shared_path("data/gsm8k/train.jsonl") ||
        !shared_path("tokenizers/llama3/tokenizer.json")) {
        fprintf(stderr, "skipping: ../shared/tokenizers or ../shared/data absent\n");
        skip();
    }
    Tokenizer *llama3 = NULL, *qwen3 = NULL; /* shared_path's buffer is reused: load at once */
    if (tokenizer_load(shared_path("tokenizers/llama3/tokenizer.json"), &llama3) != 0)
        fail_msg("llama3 tokenizer: %s", pf_error());
    const char *p = shared_path("tokenizers/qwen3/tokenizer.json");
    if (!p || tokenizer_load(p, &qwen3) != 0) fail_msg("qwen3 tokenizer: %s", pf_error());
    check_real(llama3, "tokenizers/llama3/tokenizer.json", "data/gsm8k/train.jsonl", "question",
               "answer", "<|eot_id|>", "", NULL);
    check_real(qwen3, "tokenizers/qwen3/tokenizer.json", "data/medical/pubmedqa_train.jsonl",
               "question", "answer_rationale", "<|im_end|>", "\n", NULL);
    check_real(qwen3, "tokenizers/qwen3/tokenizer.json", "data/math/math500.jsonl", "problem",
               "solution", "<|im_end|>", "\n",
               "Please reason step by step, and put your final answer within \\boxed{}.");
    tokenizer_free(llama3);
    tokenizer_free(qwen3);
}

static void test_whole_conversation_ids(void **state)
{
    (void)state;
    const char *fp = fixture_path("data/sft_token_ids.json");
    assert_non_null(fp);
    json_t *cases = json_load_file(fp, 0, NULL);
    assert_non_null(cases);
    if (!shared_path("tokenizers/llama2/tokenizer.bin")) {
        json_decref(cases);
        fprintf(stderr, "skipping: ../shared/tokenizers absent\n");
        skip();
    }
    Tokenizer *toks[2] = {NULL, NULL};
    if (tokenizer_load(shared_path("tokenizers/llama3/tokenizer.json"), &toks[0]) ||
        tokenizer_load(shared_path("tokenizers/llama2/tokenizer.bin"), &toks[1]))
        fail_msg("tokenizer: %s", pf_error());
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        bool l2 = !strcmp(json_string_value(json_object_get(c, "tokenizer")), "llama2");
        ChatTemplate t;
        assert_int_equal(chat_template_init(&t, l2 ? "llama2" : "llama3"), 0);
        SftEncoder enc;
        sft_encoder_from_tokenizer(toks[l2], &enc);
        json_t *conv = json_object_get(c, "conversation");
        size_t n = json_array_size(conv);
        ChatMessage msgs[8];
        for (size_t k = 0; k < n && k < 8; k++) {
            json_t *m = json_array_get(conv, k);
            const char *role = json_string_value(json_object_get(m, "role"));
            msgs[k].role = !strcmp(role, "system") ? CHAT_SYSTEM
                           : !strcmp(role, "user") ? CHAT_USER : CHAT_ASSISTANT;
            msgs[k].content = json_string_value(json_object_get(m, "content"));
        }
        IntVec ids = {0}, mask = {0}, gen = {0}, gmask = {0};
        assert_int_equal(sft_encode_messages(&t, &enc, msgs, n, false, &ids, &mask), 0);
        assert_int_equal(sft_encode_messages(&t, &enc, msgs, n - 1, true, &gen, &gmask), 0);
        json_t *want = json_object_get(c, "ids");
        if (ids.len != json_array_size(want))
            fprintf(stderr, "%s %s: %zu ids, want %zu\n", l2 ? "llama2" : "llama3",
                    json_string_value(json_object_get(c, "name")), ids.len,
                    json_array_size(want));
        assert_int_equal(ids.len, json_array_size(want));
        for (size_t k = 0; k < ids.len; k++)
            assert_int_equal(ids.data[k], json_integer_value(json_array_get(want, k)));
        /* the generation prompt is a prefix, and the last response's mask starts right after */
        assert_true(gen.len < ids.len);
        assert_memory_equal(gen.data, ids.data, gen.len * sizeof *gen.data);
        assert_int_equal(mask.data[gen.len], 1);
        assert_int_equal(mask.data[gen.len - 1], 0);
        intvec_free(&ids);
        intvec_free(&mask);
        intvec_free(&gen);
        intvec_free(&gmask);
        chat_template_free(&t);
    }
    tokenizer_free(toks[0]);
    tokenizer_free(toks[1]);
    json_decref(cases);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_data),
        cmocka_unit_test(test_whole_conversation_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
