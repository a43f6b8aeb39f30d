/* A real pretrained model end to end: greedy decoding of stories260K (llama2.c checkpoint and
 * its tok512 tokenizer from ../shared) from BOS must begin with the text llama2.c's reference
 * implementation produces, through the library's KV-cache step and through `priorft generate`.
 * The training forward must give the same greedy continuation's logits as the step. */
/* ctest-labels: sanitize */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/forward.h"
#include "model/infer.h"
#include "model/load.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "testutil.h"

static const char *EXPECTED =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
    "park.";

enum { STEPS = 40 };

static void test_greedy_from_bos(void **state)
{
    (void)state;
    const char *mp = shared_path("models/stories260K/stories260K.bin");
    if (!mp) skip(); /* ../shared/models/stories260K is absent */
    char model_path[4096];
    snprintf(model_path, sizeof model_path, "%s", mp);
    const char *tp = shared_path("models/stories260K/tok512.bin");
    if (!tp) skip();

    Model m;
    Tokenizer *tok = NULL;
    assert_int_equal(model_load(model_path, &m), 0);
    assert_int_equal(tokenizer_load(tp, &tok), 0);
    int V = m.config.vocab_size;
    KVCache *cache = NULL;
    assert_int_equal(kv_cache_init(&cache, &m.config, 1, STEPS + 1), 0);
    float *logits = malloc(sizeof(float) * V), *all_logits = malloc(sizeof(float) * STEPS * V);
    int ids[STEPS + 1];
    ids[0] = 1; /* BOS */
    for (int pos = 0; pos < STEPS; pos++) {
        assert_int_equal(model_step(&m, cache, &ids[pos], &pos, 1, logits), 0);
        memcpy(all_logits + (size_t)pos * V, logits, sizeof(float) * V);
        ids[pos + 1] = sample_logits(logits, V, 0.0f, 1.0f, NULL);
    }
    StrBuf text = {0};
    assert_int_equal(tokenizer_decode(tok, ids + 1, STEPS, true, &text), 0);
    printf("greedy: %s\n", text.data);
    assert_int_equal(strncmp(text.data, EXPECTED, strlen(EXPECTED)), 0);

    /* The training forward over the same tokens gives the step's logits. */
    ModelActs *acts = NULL;
    int positions[STEPS];
    for (int i = 0; i < STEPS; i++) positions[i] = i;
    assert_int_equal(model_acts_init(&acts, &m.config, 1, STEPS), 0);
    float *hidden = NULL;
    assert_int_equal(model_forward(&m, acts, ids, positions, NULL, 1, STEPS, &hidden), 0);
    int C = m.config.dim;
    float *fwd_logits = malloc(sizeof(float) * STEPS * V);
    for (int i = 0; i < STEPS; i++)
        for (int v = 0; v < V; v++) {
            double z = 0.0;
            for (int c = 0; c < C; c++)
                z += (double)hidden[i * C + c] * m.params.lm_head[(size_t)v * C + c];
            fwd_logits[i * V + v] = (float)z;
        }
    assert_true(compare_floats("forward vs step logits", fwd_logits, all_logits,
                               (size_t)STEPS * V, 1e-4, 1e-4) <= 1.0);

    free(fwd_logits);
    model_acts_free(acts);
    strbuf_free(&text);
    free(logits);
    free(all_logits);
    kv_cache_free(cache);
    tokenizer_free(tok);
    model_free(&m);
}

static void test_generate_command(void **state)
{
    (void)state;
    const char *bin = getenv("PRIORFT_BIN");
    const char *mp = shared_path("models/stories260K/stories260K.bin");
    if (!bin || !mp) skip(); /* needs the built binary (CTest sets PRIORFT_BIN) and ../shared */
    char model_path[4096], cmd[9000];
    snprintf(model_path, sizeof model_path, "%s", mp);
    const char *tp = shared_path("models/stories260K/tok512.bin");
    if (!tp) skip();
    snprintf(cmd, sizeof cmd,
             "'%s' generate --model '%s' --tokenizer '%s' --prompt '' --max-new-tokens 45 "
             "--temperature 0 --seed 1",
             bin, model_path, tp);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[4096] = {0};
    size_t n = fread(out, 1, sizeof out - 1, p);
    assert_int_equal(pclose(p), 0);
    out[n] = '\0';
    printf("generate: %s", out);
    assert_int_equal(strncmp(out, EXPECTED, strlen(EXPECTED)), 0);

    /* Sampling with a seed is reproducible, and a bad option is refused. */
    snprintf(cmd, sizeof cmd,
             "'%s' generate --model '%s' --tokenizer '%s' --prompt 'Once' --max-new-tokens 20 "
             "--temperature 1 --top-p 0.9 --seed 7",
             bin, model_path, tp);
    char first[4096] = {0}, second[4096] = {0};
    for (int k = 0; k < 2; k++) {
        p = popen(cmd, "r");
        assert_non_null(p);
        size_t got = fread(k ? second : first, 1, 4095, p);
        assert_int_equal(pclose(p), 0);
        assert_true(got > 4);
    }
    assert_string_equal(first, second);
    snprintf(cmd, sizeof cmd, "'%s' generate --model '%s' --top-p 2 2>/dev/null", bin,
             model_path);
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_int_not_equal(pclose(p), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_from_bos),
        cmocka_unit_test(test_generate_command),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
