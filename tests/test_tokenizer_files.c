/* Tokenizer loaders and coders on hostile or hand-made input: truncated and malformed files give
 * errors that name the file, invalid UTF-8 encodes without crashing and round-trips byte for
 * byte, the byte-level alphabet matches GPT-2's table, and a hand-built llama2.c vocabulary
 * encodes and decodes as worked out by hand. */
/* ctest-labels: sanitize */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"
#include "util/error.h"
#include "testutil.h"

static void expect_load_error(const char *dir, const char *name, const void *data, size_t n,
                              const char *needle)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(write_file(path, data, n), 0);
    Tokenizer *t = (Tokenizer *)1;
    assert_int_equal(tokenizer_load(path, &t), -1);
    assert_null(t);
    if (!strstr(pf_error(), path) || !strstr(pf_error(), needle)) {
        fprintf(stderr, "error was: %s (wanted %s)\n", pf_error(), needle);
        fail();
    }
}

/* A llama2.c tokenizer file from (score, piece) pairs. */
static size_t make_llama2c(unsigned char *buf, const float *scores, const char **pieces, int n)
{
    size_t pos = 0;
    int32_t max_len = 16;
    memcpy(buf, &max_len, 4);
    pos += 4;
    for (int i = 0; i < n; i++) {
        int32_t len = (int32_t)strlen(pieces[i]);
        memcpy(buf + pos, &scores[i], 4);
        memcpy(buf + pos + 4, &len, 4);
        memcpy(buf + pos + 8, pieces[i], (size_t)len);
        pos += 8 + (size_t)len;
    }
    return pos;
}

static void test_hostile_files(void **state)
{
    (void)state;
    char *dir = tmpdir_make();
    assert_non_null(dir);
    Tokenizer *t = NULL;
    assert_int_equal(tokenizer_load("/nonexistent/tokenizer.json", &t), -1);
    assert_non_null(strstr(pf_error(), "/nonexistent/tokenizer.json"));

    expect_load_error(dir, "a.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {", 36, "JSON");
    expect_load_error(dir, "b.json", "{\"model\": {\"type\": \"Unigram\"}}", 30, "BPE");
    const char *bad_id = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -4}, \"merges\": []}}";
    expect_load_error(dir, "c.json", bad_id, strlen(bad_id), "model.vocab");
    const char *bad_merge =
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a c\"]}}";
    expect_load_error(dir, "d.json", bad_merge, strlen(bad_merge), "merges[0]");
    const char *bad_regex = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, "
                            "\"merges\": []},"
                            "\"pre_tokenizer\": {\"type\": \"Split\", \"behavior\": \"Isolated\","
                            "\"pattern\": {\"Regex\": \"(unclosed\"}}}";
    expect_load_error(dir, "e.json", bad_regex, strlen(bad_regex), "regex");

    unsigned char buf[256];
    const float scores[4] = {0, 0, 0, -1};
    const char *pieces[4] = {"<unk>", "<s>", "</s>", "ab"};
    size_t n = make_llama2c(buf, scores, pieces, 4);
    expect_load_error(dir, "trunc.bin", buf, n - 1, "truncated");
    int32_t huge = 1 << 30;
    memcpy(buf + 4 + 8 + 5 + 4, &huge, 4); /* length field of token 1 */
    expect_load_error(dir, "huge.bin", buf, n, "truncated");
    expect_load_error(dir, "tiny.bin", buf, 3, "too short");
    int32_t neg = -1;
    memcpy(buf, &neg, 4);
    expect_load_error(dir, "neg.bin", buf, n, "max_token_length");
    tmpdir_remove(dir);
}

/* Scores chosen so the merge order is forced: "▁a" (-1) beats "ab" (-2), so "▁ab" must come
 * out as "▁a" + "b", and "xyz" is outside the vocabulary: three byte-fallback ids. */
static void test_spm_by_hand(void **state)
{
    (void)state;
    char *dir = tmpdir_make();
    const char *pieces[8] = {"<unk>", "<s>", "</s>", " a", "ab", "b", "a", " "};
    const float scores[8] = {0, 0, 0, -1, -2, -5, -5, -5};
    unsigned char buf[512];
    size_t n = make_llama2c(buf, scores, pieces, 8);
    char path[512];
    snprintf(path, sizeof path, "%s/tok.bin", dir);
    assert_int_equal(write_file(path, buf, n), 0);
    Tokenizer *t = NULL;
    assert_int_equal(tokenizer_load(path, &t), 0);
    assert_int_equal(tokenizer_vocab_size(t), 8);
    assert_int_equal(tokenizer_bos_id(t), 1);
    assert_int_equal(tokenizer_eos_id(t), 2);
    assert_int_equal(tokenizer_token_id(t, "<s>"), 1);

    IntVec ids = {0};
    assert_int_equal(tokenizer_encode(t, "ab", 2, false, &ids), 0);
    assert_int_equal(ids.len, 2);
    assert_int_equal(ids.data[0], 3); /* " a" */
    assert_int_equal(ids.data[1], 5); /* "b" */
    ids.len = 0;
    /* no byte pieces: an unknown character is one <unk> */
    assert_int_equal(tokenizer_encode(t, "bx", 2, false, &ids), 0);
    assert_int_equal(ids.len, 3);
    assert_int_equal(ids.data[0], 7);
    assert_int_equal(ids.data[1], 5);
    assert_int_equal(ids.data[2], 0);
    ids.len = 0;
    assert_int_equal(tokenizer_encode(t, "a<s>b", 5, true, &ids), 0);
    assert_int_equal(ids.len, 3);
    assert_int_equal(ids.data[0], 3);
    assert_int_equal(ids.data[1], 1);
    assert_int_equal(ids.data[2], 5); /* no dummy prefix after the start of the text */

    /* decode drops the dummy-prefix space of the first piece, keeps later spaces */
    int seq[4] = {1, 3, 3, 5};
    StrBuf s = {0};
    assert_int_equal(tokenizer_decode(t, seq, 4, true, &s), 0);
    assert_string_equal(s.data, "a ab");
    s.len = 0;
    assert_int_equal(tokenizer_decode(t, seq, 4, false, &s), 0);
    assert_string_equal(s.data, "<s>a ab");
    int bad = 8;
    assert_int_equal(tokenizer_decode(t, &bad, 1, false, &s), -1);
    strbuf_free(&s);
    intvec_free(&ids);
    tokenizer_free(t);
    tmpdir_remove(dir);
}

static void test_bytelevel_alphabet(void **state)
{
    (void)state;
    /* GPT-2's bytes_to_unicode by hand: ' ' -> U+0120 'Ġ', '\n' -> U+010A 'Ċ', 0x7F -> U+0121,
     * 0xAD -> U+0143, printable bytes map to themselves. */
    assert_int_equal(bytelevel_char(' '), 0x120);
    assert_int_equal(bytelevel_char('\n'), 0x10A);
    assert_int_equal(bytelevel_char(0x7F), 0x121);
    assert_int_equal(bytelevel_char(0xAD), 0x143);
    assert_int_equal(bytelevel_char('A'), 'A');
    assert_int_equal(bytelevel_char(0xE9), 0xE9);
    for (int b = 0; b < 256; b++) assert_int_equal(bytelevel_byte(bytelevel_char((uint8_t)b)), b);
    assert_int_equal(bytelevel_byte(0x144), -1);
    assert_int_equal(bytelevel_byte(0xAD), -1);
}

/* Invalid UTF-8 of every kind: no crash, and exact byte round trips (byte-level BPE and
 * SentencePiece with byte fallback both promise them). */
static void test_invalid_utf8(void **state)
{
    (void)state;
    const char *files[3] = {"tokenizers/llama3/tokenizer.json", "tokenizers/qwen3/tokenizer.json",
                            "tokenizers/llama2/tokenizer.bin"};
    const char *cases[] = {"\xff", "\xc3", "abc\xe2\x82", "\xed\xa0\x80 surrogate",
                           "\xf4\x90\x80\x80 too big", "\xc0\xaf overlong", "ok \x80\x80\x80 ok",
                           "caf\xc3 x\xe9 ", "\xf0\x9f\x98", "<|im_start\xff|>", "\xfe\xfe  \xfe"};
    int loaded = 0;
    for (int f = 0; f < 3; f++) {
        const char *p = shared_path(files[f]);
        if (!p) continue;
        Tokenizer *t = NULL;
        assert_int_equal(tokenizer_load(p, &t), 0);
        loaded++;
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            IntVec ids = {0};
            StrBuf s = {0};
            size_t len = strlen(cases[c]);
            assert_int_equal(tokenizer_encode(t, cases[c], len, true, &ids), 0);
            assert_true(ids.len > 0);
            assert_int_equal(tokenizer_decode(t, ids.data, ids.len, false, &s), 0);
            assert_int_equal(s.len, len);
            assert_memory_equal(s.data, cases[c], len);
            intvec_free(&ids);
            strbuf_free(&s);
        }
        tokenizer_free(t);
    }
    if (!loaded) skip();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile_files),
        cmocka_unit_test(test_spm_by_hand),
        cmocka_unit_test(test_bytelevel_alphabet),
        cmocka_unit_test(test_invalid_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
