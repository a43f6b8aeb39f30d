/* SFT examples from JSONL: tokens decode to the template's text, the loss mask covers exactly
 * each response plus its end-of-turn token, nested keys and messages lists, every kind of bad
 * row gives an error naming file and line (or is skipped and counted), truncation modes,
 * seeded shuffle and held-out split (real tokenizers and data: test_data_real.c). */
/* ctest-labels: sanitize */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/sft.h"
#include "testutil.h"
#include "util/error.h"
#include "util/rng.h"

/* A byte-level test encoder: byte b is id b; a few special tokens get ids from 256 when special
 * parsing is on; BOS 300, EOS 301. Decoding is the inverse, so expected text is easy to state. */
static const char *SPECIALS[] = {"<|im_start|>", "<|im_end|>", "<|eot_id|>",
                                 "<|begin_of_text|>", "<|start_header_id|>",
                                 "<|end_header_id|>"};
enum { N_SPECIALS = 6, BOS = 300, EOS = 301 };

static int byte_encode(void *ctx, const char *text, size_t len, bool special, IntVec *out)
{
    (void)ctx;
    for (size_t i = 0; i < len;) {
        int hit = -1;
        for (int s = 0; special && s < N_SPECIALS && hit < 0; s++) {
            size_t n = strlen(SPECIALS[s]);
            if (n <= len - i && memcmp(text + i, SPECIALS[s], n) == 0) hit = s;
        }
        if (hit >= 0) {
            intvec_push(out, 256 + hit);
            i += strlen(SPECIALS[hit]);
        } else {
            intvec_push(out, (unsigned char)text[i++]);
        }
    }
    return 0;
}

static int byte_token_id(void *ctx, const char *piece)
{
    (void)ctx;
    for (int s = 0; s < N_SPECIALS; s++)
        if (!strcmp(piece, SPECIALS[s])) return 256 + s;
    return -1;
}

static SftEncoder byte_encoder(void)
{
    return (SftEncoder){byte_encode, byte_token_id, BOS, EOS, NULL};
}

/* Text of ids (with or without the masked-out ones): bytes, specials by name, BOS/EOS as
 * [BOS]/[EOS]. */
static char *decode(const SftExample *e, bool only_masked)
{
    StrBuf b = {0};
    strbuf_append(&b, "", 0);
    for (int i = 0; i < e->len; i++) {
        if (only_masked && !e->loss_mask[i]) continue;
        int id = e->tokens[i];
        if (id < 256) {
            char c = (char)id;
            strbuf_append(&b, &c, 1);
        } else if (id < 256 + N_SPECIALS) {
            strbuf_puts(&b, SPECIALS[id - 256]);
        } else {
            strbuf_puts(&b, id == BOS ? "[BOS]" : "[EOS]");
        }
    }
    return b.data;
}

typedef struct Fixture {
    char *dir;
    char path[512];
} Fixture;

static int setup(void **state)
{
    Fixture *f = calloc(1, sizeof *f);
    f->dir = tmpdir_make();
    snprintf(f->path, sizeof f->path, "%s/data.jsonl", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;
    tmpdir_remove(f->dir);
    free(f);
    return 0;
}

static void put(Fixture *f, const char *text) { write_file(f->path, text, strlen(text)); }

static void test_prompt_response_mask(void **state)
{
    Fixture *f = *state;
    put(f, "{\"prompt\": \"What is 2+3?\", \"response\": \"5\", \"id\": 12345678901234567890}\n"
           "\n"
           "{\"prompt\": \"Say <|im_end|> please\", \"response\": \"<|im_end|> ok\"}\n");
    ChatTemplate t;
    assert_int_equal(chat_template_init(&t, "chatml"), 0);
    SftEncoder enc = byte_encoder();
    SftOptions o;
    sft_options_default(&o);
    SftDataset d = {0};
    SftStats st;
    assert_int_equal(sft_load_jsonl(f->path, &t, &enc, &o, &d, &st), 0);
    assert_int_equal(d.n, 2);
    assert_int_equal(st.rows, 2);
    assert_int_equal(st.blank_lines, 1);

    char *all = decode(&d.examples[0], false), *masked = decode(&d.examples[0], true);
    assert_string_equal(all, "<|im_start|>user\nWhat is 2+3?<|im_end|>\n<|im_start|>assistant\n"
                             "5<|im_end|>\n");
    assert_string_equal(masked, "5<|im_end|>");
    assert_int_equal(d.examples[0].line, 1);
    assert_int_equal(sft_example_kept(&d.examples[0]), 2);
    free(all);
    free(masked);

    /* Content is never parsed for special tokens: the user's "<|im_end|>" stays 10 bytes. */
    const SftExample *e = &d.examples[1];
    assert_int_equal(e->line, 3);
    int specials = 0;
    for (int i = 0; i < e->len; i++) specials += e->tokens[i] >= 256;
    assert_int_equal(specials, 4); /* im_start, im_end, im_start, im_end: none from content */
    masked = decode(e, true);
    assert_string_equal(masked, "<|im_end|> ok<|im_end|>");
    assert_int_equal(sft_example_kept(e), 10 + 3 + 1);
    free(masked);
    assert_int_equal(st.response_tokens, 2 + 14);
    sft_dataset_free(&d);
    chat_template_free(&t);
}

static void test_nested_keys_and_messages(void **state)
{
    Fixture *f = *state;
    put(f, "{\"extra_info\": {\"question\": \"Q?\", \"answer\": \"A.\"}}\n"
           "{\"messages\": [{\"role\": \"system\", \"content\": \"S\"}, {\"role\": \"user\", "
           "\"content\": \"u1\"}, {\"role\": \"assistant\", \"content\": \"a1\"}, {\"role\": "
           "\"user\", \"content\": \"u2\"}, {\"role\": \"assistant\", \"content\": \"a2\"}]}\n");
    ChatTemplate t;
    assert_int_equal(chat_template_init(&t, "llama3"), 0);
    chat_template_set_suffix(&t, "Think.", "\n");
    SftEncoder enc = byte_encoder();
    SftOptions o;
    sft_options_default(&o);
    o.prompt_key = "extra_info.question";
    o.response_key = "extra_info.answer";
    SftDataset d = {0};
    SftStats st;
    assert_int_equal(sft_load_jsonl(f->path, &t, &enc, &o, &d, &st), 0);
    assert_int_equal(d.n, 2);
    char *all = decode(&d.examples[0], false), *masked = decode(&d.examples[0], true);
    assert_string_equal(all, "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nQ?\n"
                             "Think.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
                             "A.<|eot_id|>");
    assert_string_equal(masked, "A.<|eot_id|>");
    free(all);
    free(masked);
    masked = decode(&d.examples[1], true);
    assert_string_equal(masked, "a1<|eot_id|>a2<|eot_id|>");
    free(masked);
    sft_dataset_free(&d);
    chat_template_free(&t);
}

/* One bad row: the error names the file and its line and says what was wrong; with skipping
 * it is counted under `reason`. */
static void expect_bad_row(Fixture *f, const char *content, int line, const char *words,
                           SftSkip reason, int max_length)
{
    char text[1024];
    snprintf(text, sizeof text, "{\"prompt\": \"fine\", \"response\": \"row\"}\n%s", content);
    put(f, text);
    ChatTemplate t;
    assert_int_equal(chat_template_init(&t, "chatml"), 0);
    SftEncoder enc = byte_encoder();
    SftOptions o;
    sft_options_default(&o);
    o.max_length = max_length;
    SftDataset d = {0};
    SftStats st;
    assert_int_equal(sft_load_jsonl(f->path, &t, &enc, &o, &d, &st), -1);
    char want[64];
    snprintf(want, sizeof want, "data.jsonl: line %d: ", line);
    if (!strstr(pf_error(), want) || !strstr(pf_error(), words))
        fprintf(stderr, "error was: %s (wanted '%s' and '%s')\n", pf_error(), want, words);
    assert_non_null(strstr(pf_error(), want));
    assert_non_null(strstr(pf_error(), words));
    sft_dataset_free(&d);

    o.skip_bad_rows = true;
    assert_int_equal(sft_load_jsonl(f->path, &t, &enc, &o, &d, &st), 0);
    assert_int_equal(d.n, 1);
    assert_int_equal(st.kept, 1);
    assert_int_equal(st.skipped[reason], 1);
    assert_int_equal(st.rows, 2);
    assert_non_null(strstr(st.first_skip, want));
    StrBuf sum = {0};
    sft_stats_summary(&st, &sum);
    assert_non_null(strstr(sum.data, "1 rows skipped"));
    strbuf_free(&sum);
    sft_dataset_free(&d);
    chat_template_free(&t);
}

static void test_bad_rows(void **state)
{
    Fixture *f = *state;
    expect_bad_row(f, "{\"prompt\": \"x\", \"response\": }\n", 2, "malformed JSON",
                   SFT_SKIP_JSON, 0);
    expect_bad_row(f, "{\"prompt\": \"x\"}\n", 2, "missing field 'response'", SFT_SKIP_FIELD, 0);
    expect_bad_row(f, "{\"prompt\": 7, \"response\": \"y\"}\n", 2, "'prompt' is a number",
                   SFT_SKIP_FIELD, 0);
    expect_bad_row(f, "{\"prompt\": \"x\", \"response\": \" \\n\"}\n", 2, "empty",
                   SFT_SKIP_EMPTY_RESPONSE, 0);
    expect_bad_row(f, "[1, 2]\n", 2, "a list, not an object", SFT_SKIP_JSON, 0);
    expect_bad_row(f, "{\"prompt\": \"\\u00ff\xff\", \"response\": \"y\"}\n", 2,
                   "malformed JSON", SFT_SKIP_JSON, 0);
    expect_bad_row(f, "{\"prompt\": \"a very long question indeed, much longer than this\", "
                      "\"response\": \"y\"}\n",
                   2, "prompt has", SFT_SKIP_PROMPT_TOO_LONG, 48);
    expect_bad_row(f, "{\"prompt\": \"q\", \"response\": \"a long long long long long answer "
                      "here\"}\n", 2,
                   "max length is 48", SFT_SKIP_TOO_LONG, 48);
    expect_bad_row(f, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}\n", 2,
                   "no assistant turn", SFT_SKIP_NO_LOSS, 0);
    expect_bad_row(f, "{\"messages\": [{\"role\": \"tool\", \"content\": \"x\"}]}\n", 2,
                   "unknown role 'tool'", SFT_SKIP_FIELD, 0);
    expect_bad_row(f, "{\"messages\": \"hi\"}\n", 2, "not a list", SFT_SKIP_FIELD, 0);
    /* NUL bytes (binary data) */
    char bin[] = "\x7f" "ELF\0\0\x01\x02{\n";
    Fixture *g = f;
    char text[128];
    const char *good = "{\"prompt\": \"fine\", \"response\": \"row\"}\n";
    memcpy(text, good, strlen(good));
    memcpy(text + strlen(good), bin, sizeof bin - 1);
    write_file(g->path, text, strlen(good) + sizeof bin - 1);
    ChatTemplate t;
    assert_int_equal(chat_template_init(&t, "chatml"), 0);
    SftEncoder enc = byte_encoder();
    SftOptions o;
    sft_options_default(&o);
    SftDataset d = {0};
    SftStats st;
    assert_int_equal(sft_load_jsonl(g->path, &t, &enc, &o, &d, &st), -1);
    assert_non_null(strstr(pf_error(), "line 2: contains a NUL byte"));
    sft_dataset_free(&d);
    chat_template_free(&t);
}

static void test_not_jsonl_files(void **state)
{
    Fixture *f = *state;
    ChatTemplate t;
    assert_int_equal(chat_template_init(&t, "chatml"), 0);
    SftEncoder enc = byte_encoder();
    SftOptions o;
    sft_options_default(&o);
    SftDataset d = {0};
    SftStats st;

    put(f, "");
    assert_int_equal(sft_load_jsonl(f->path, &t, &enc, &o, &d, &st), -1);
    assert_non_null(strstr(pf_error(), "empty file"));
    put(f, "\n  \n\n");
    assert_int_equal(sft_load_jsonl(f->path, &t, &enc, &o, &d, &st), -1);
    assert_non_null(strstr(pf_error(), "empty file"));

    /* A pretty-printed JSON array: line 1 is "[". Even with skipping nothing is usable. */
    put(f, "[\n  {\"prompt\": \"a\", \"response\": \"b\"},\n  {\"prompt\": \"c\", "
           "\"response\": \"d\"}\n]\n");
    assert_int_equal(sft_load_jsonl(f->path, &t, &enc, &o, &d, &st), -1);
    assert_non_null(strstr(pf_error(), "line 1: malformed JSON"));
    assert_non_null(strstr(pf_error(), "JSON array file"));
    /* With skipping, the one element line without a trailing comma parses as a row; the
     * other three lines are counted, not dropped silently. */
    o.skip_bad_rows = true;
    assert_int_equal(sft_load_jsonl(f->path, &t, &enc, &o, &d, &st), 0);
    assert_int_equal(d.n, 1);
    assert_int_equal(st.skipped[SFT_SKIP_JSON], 3);
    sft_dataset_free(&d);
    put(f, "[{\"prompt\": \"a\", \"response\": \"b\"}]\n");
    assert_int_equal(sft_load_jsonl(f->path, &t, &enc, &o, &d, &st), -1);
    assert_non_null(strstr(pf_error(), "no usable example: all 1 rows skipped"));
    assert_non_null(strstr(pf_error(), "a list, not an object"));
    assert_int_equal(d.n, 0);

    /* Missing file. */
    assert_int_equal(sft_load_jsonl("/nonexistent/x.jsonl", &t, &enc, &o, &d, &st), -1);
    assert_non_null(strstr(pf_error(), "/nonexistent/x.jsonl"));

    /* A long line without newline at the end of the file is still one row. */
    put(f, "{\"prompt\": \"a\", \"response\": \"b\"}");
    assert_int_equal(sft_load_jsonl(f->path, &t, &enc, &o, &d, &st), 0);
    assert_int_equal(d.n, 1);
    sft_dataset_free(&d);

    /* A UTF-8 byte order mark before the first row (Windows editors) is not part of the JSON:
     * the row reads as without it, both sides and line number intact. */
    o.skip_bad_rows = false;
    put(f, "\xef\xbb\xbf{\"prompt\": \"a\", \"response\": \"b\"}\n"
           "{\"prompt\": \"c\", \"response\": \"d\"}\n");
    assert_int_equal(sft_load_jsonl(f->path, &t, &enc, &o, &d, &st), 0);
    assert_int_equal(d.n, 2);
    assert_int_equal(d.examples[0].line, 1);
    SftDataset plain = {0};
    put(f, "{\"prompt\": \"a\", \"response\": \"b\"}\n");
    assert_int_equal(sft_load_jsonl(f->path, &t, &enc, &o, &plain, &st), 0);
    assert_int_equal(d.examples[0].len, plain.examples[0].len);
    assert_memory_equal(d.examples[0].tokens, plain.examples[0].tokens,
                        (size_t)plain.examples[0].len * sizeof *plain.examples[0].tokens);
    sft_dataset_free(&plain);
    sft_dataset_free(&d);

    /* A folder given as data is named as one, not "read error after line 0". */
    assert_int_equal(sft_load_jsonl(f->dir, &t, &enc, &o, &d, &st), -1);
    assert_non_null(strstr(pf_error(), "is a folder, not a JSONL file"));
    chat_template_free(&t);
}

static void test_truncation(void **state)
{
    Fixture *f = *state;
    /* raw template with this encoder: [BOS] "Q" "0123456789" [EOS] = 13 tokens, prompt 2. */
    put(f, "{\"prompt\": \"Q\", \"response\": \"0123456789\"}\n");
    ChatTemplate t;
    assert_int_equal(chat_template_init(&t, "raw"), 0);
    SftEncoder enc = byte_encoder();
    SftOptions o;
    sft_options_default(&o);
    SftDataset d = {0};
    SftStats st;
    o.max_length = 8;
    o.truncation = SFT_TRUNCATE_RIGHT;
    assert_int_equal(sft_load_jsonl(f->path, &t, &enc, &o, &d, &st), 0);
    char *all = decode(&d.examples[0], false);
    assert_string_equal(all, "[BOS]Q012345");
    assert_int_equal(st.truncated, 1);
    free(all);
    sft_dataset_free(&d);

    o.truncation = SFT_TRUNCATE_LEFT;
    assert_int_equal(sft_load_jsonl(f->path, &t, &enc, &o, &d, &st), 0);
    all = decode(&d.examples[0], false);
    assert_string_equal(all, "3456789[EOS]");
    assert_int_equal(sft_example_kept(&d.examples[0]), 7);
    free(all);
    sft_dataset_free(&d);

    /* Only one token survives: a response token at position 0 cannot be a target. */
    SftEncoder no_bos = enc;
    no_bos.bos_id = -1;
    put(f, "{\"prompt\": \"\", \"response\": \"xy\"}\n");
    o.max_length = 1;
    o.truncation = SFT_TRUNCATE_RIGHT;
    assert_int_equal(sft_load_jsonl(f->path, &t, &no_bos, &o, &d, &st), -1);
    assert_non_null(strstr(pf_error(), "line 1: no token left under the loss mask"));
    sft_dataset_free(&d);

    SftTruncation tr;
    assert_int_equal(sft_truncation_parse("left", &tr), 0);
    assert_int_equal(tr, SFT_TRUNCATE_LEFT);
    assert_int_equal(sft_truncation_parse("middle", &tr), -1);
    chat_template_free(&t);
}

static void test_shuffle_and_split(void **state)
{
    (void)state;
    SftDataset d = {0};
    for (int i = 0; i < 100; i++) {
        int tok[2] = {i, i};
        uint8_t mask[2] = {0, 1};
        sft_dataset_push(&d, tok, mask, 2, i + 1);
    }
    SftDataset a = {0}, b = {0};
    for (int i = 0; i < 100; i++) {
        sft_dataset_push(&a, d.examples[i].tokens, d.examples[i].loss_mask, 2, i + 1);
        sft_dataset_push(&b, d.examples[i].tokens, d.examples[i].loss_mask, 2, i + 1);
    }
    sft_dataset_shuffle(&a, 7);
    sft_dataset_shuffle(&b, 7);
    int moved = 0, seen[100] = {0};
    for (int i = 0; i < 100; i++) {
        assert_int_equal(a.examples[i].tokens[0], b.examples[i].tokens[0]);
        moved += a.examples[i].tokens[0] != i;
        seen[a.examples[i].tokens[0]]++;
    }
    for (int i = 0; i < 100; i++) assert_int_equal(seen[i], 1);
    assert_true(moved > 80); /* a permutation, far from the identity */

    SftDataset va = {0}, vb = {0};
    assert_int_equal(sft_dataset_split(&a, 0.1, 0, 3, &va), 0);
    assert_int_equal(sft_dataset_split(&b, 0.1, 0, 3, &vb), 0);
    assert_int_equal(a.n, 90);
    assert_int_equal(va.n, 10);
    memset(seen, 0, sizeof seen);
    for (size_t i = 0; i < va.n; i++) {
        assert_int_equal(va.examples[i].tokens[0], vb.examples[i].tokens[0]);
        seen[va.examples[i].tokens[0]]++;
    }
    for (size_t i = 0; i < a.n; i++) seen[a.examples[i].tokens[0]]++;
    for (int i = 0; i < 100; i++) assert_int_equal(seen[i], 1);

    SftDataset vc = {0};
    assert_int_equal(sft_dataset_split(&d, 0, 5, 11, &vc), 0);
    assert_int_equal(vc.n, 5);
    for (size_t i = 1; i < vc.n; i++) /* relative order kept */
        assert_true(vc.examples[i - 1].line < vc.examples[i].line);
    assert_int_equal(sft_dataset_split(&d, 0, 95, 11, &vc), -1);
    assert_int_equal(d.n, 95);
    sft_dataset_free(&a);
    sft_dataset_free(&b);
    sft_dataset_free(&va);
    sft_dataset_free(&vb);
    sft_dataset_free(&vc);
    sft_dataset_free(&d);
}

/* Hostile input: every truncation of a valid file and lines of random bytes give an error or a
 * counted skip, never a crash (this test also runs under ASan/UBSan). */
static void test_truncated_and_random(void **state)
{
    Fixture *f = *state;
    const char *row = "{\"messages\": [{\"role\": \"user\", \"content\": \"h\\u00e9 \\ud83d"
                      "\\ude00\"}, {\"role\": \"assistant\", \"content\": \"ok\"}], "
                      "\"x\": [1.5e3]}\n";
    ChatTemplate t;
    assert_int_equal(chat_template_init(&t, "chatml"), 0);
    SftEncoder enc = byte_encoder();
    SftOptions o;
    sft_options_default(&o);
    size_t n = strlen(row);
    int ok = 0;
    for (size_t cut = 0; cut <= n; cut++) {
        write_file(f->path, row, cut);
        SftDataset d = {0};
        SftStats st;
        int rc = sft_load_jsonl(f->path, &t, &enc, &o, &d, &st);
        if (rc == 0) ok++;
        else assert_non_null(strstr(pf_error(), "data.jsonl"));
        sft_dataset_free(&d);
    }
    assert_int_equal(ok, 2); /* the whole line, with and without its newline */

    Rng rng;
    rng_seed(&rng, 42);
    char buf[4096];
    size_t len = 0;
    for (int line = 0; line < 60; line++) {
        int k = (int)rng_below(&rng, 60);
        for (int i = 0; i < k; i++) buf[len++] = (char)rng_below(&rng, 256);
        buf[len++] = '\n';
    }
    memcpy(buf + len, row, n);
    write_file(f->path, buf, len + n);
    o.skip_bad_rows = true;
    SftDataset d = {0};
    SftStats st;
    assert_int_equal(sft_load_jsonl(f->path, &t, &enc, &o, &d, &st), 0);
    assert_int_equal(d.n, 1);
    long skipped = 0;
    for (int i = 0; i < SFT_SKIP_COUNT; i++) skipped += st.skipped[i];
    assert_int_equal(st.rows, st.kept + skipped);
    assert_true(skipped + st.blank_lines >= 55);
    sft_dataset_free(&d);
    chat_template_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_prompt_response_mask, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nested_keys_and_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_jsonl_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncation, setup, teardown),
        cmocka_unit_test(test_shuffle_and_split),
        cmocka_unit_test_setup_teardown(test_truncated_and_random, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
