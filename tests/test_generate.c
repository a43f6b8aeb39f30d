/* Batched generation (eval/generate): greedy decoding with the KV cache equals recomputing the
 * whole sequence with the training forward each step; batch 16 with prompts of different
 * lengths equals one by one, greedy and seeded sampling; stop ids, stop strings, max new tokens
 * and max context stop exactly; samples differ with temperature and agree without; top-k keeps
 * the k most likely ids with their renormalised probabilities; stories260K decodes the llama2.c
 * reference story from BOS through generate_run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/generate.h"
#include "model/forward.h"
#include "model/load.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/rng.h"
#include "testutil.h"

static ModelConfig tiny_config(void)
{
    ModelConfig c;
    config_defaults(&c);
    c.dim = 32;
    c.hidden_dim = 48;
    c.n_layers = 2;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.head_dim = 8;
    c.vocab_size = 41;
    c.max_seq_len = 64;
    c.tied_embeddings = true;
    return c;
}

/* Weights large enough (std 0.2) that logits are decisive: greedy ties would need exact
 * equality, and fp32 summation order cannot flip an argmax margin of this size in practice. */
static void tiny_model(Model *m, uint64_t seed)
{
    ModelConfig c = tiny_config();
    assert_int_equal(model_init(m, &c), 0);
    model_init_random(m, seed);
    Rng r;
    rng_seed(&r, seed + 1);
    for (size_t i = 0; i < m->n_params; i++) m->params_memory[i] += 0.2f * rng_normal(&r);
}

/* n prompts of lengths 1, 2, ... (cycling to max_len) with ids from seed. */
static void make_prompts(int n, int max_len, int V, uint64_t seed, int ***prompts, int **lens)
{
    Rng r;
    rng_seed(&r, seed);
    *prompts = malloc(sizeof(int *) * n);
    *lens = malloc(sizeof(int) * n);
    for (int i = 0; i < n; i++) {
        int len = 1 + (i * 7) % max_len;
        (*lens)[i] = len;
        (*prompts)[i] = malloc(sizeof(int) * len);
        for (int t = 0; t < len; t++) (*prompts)[i][t] = (int)rng_below(&r, (uint64_t)V);
    }
}

static void free_prompts(int n, int **prompts, int *lens)
{
    for (int i = 0; i < n; i++) free(prompts[i]);
    free(prompts);
    free(lens);
}

/* Greedy continuation by the training forward over the whole sequence at every step, logits of
 * the last position computed in double from hidden x lm_head^T. */
static void reference_greedy(const Model *m, const int *prompt, int len, int n_new, int *out)
{
    const ModelConfig *c = &m->config;
    int T = len + n_new;
    int *seq = malloc(sizeof(int) * T), *pos = malloc(sizeof(int) * T);
    memcpy(seq, prompt, sizeof(int) * len);
    for (int t = 0; t < T; t++) pos[t] = t;
    ModelActs *a = NULL;
    assert_int_equal(model_acts_init(&a, c, 1, T), 0);
    for (int k = 0; k < n_new; k++) {
        int cur = len + k;
        float *hidden = NULL;
        assert_int_equal(model_forward(m, a, seq, pos, NULL, 1, cur, &hidden), 0);
        const float *h = hidden + (size_t)(cur - 1) * c->dim;
        int best = 0;
        double best_z = -INFINITY;
        for (int v = 0; v < c->vocab_size; v++) {
            double z = 0.0;
            for (int d = 0; d < c->dim; d++) z += (double)h[d] * m->params.lm_head[v * c->dim + d];
            if (z > best_z) best_z = z, best = v;
        }
        seq[cur] = best;
        out[k] = best;
    }
    model_acts_free(a);
    free(seq);
    free(pos);
}

static void test_cache_equals_full_forward(void **state)
{
    (void)state;
    enum { N = 5, NEW = 12 };
    Model m;
    tiny_model(&m, 3);
    int **prompts, *lens;
    make_prompts(N, 9, m.config.vocab_size, 5, &prompts, &lens);
    GenOptions o;
    gen_options_default(&o);
    o.batch = 3;
    o.max_new_tokens = NEW;
    GenOutput out[N];
    assert_int_equal(generate_run(&m, (const int *const *)prompts, lens, N, &o, out), 0);
    for (int i = 0; i < N; i++) {
        int expected[NEW];
        reference_greedy(&m, prompts[i], lens[i], NEW, expected);
        assert_int_equal(out[i].n_tokens, NEW);
        assert_int_equal(out[i].stop, GEN_STOP_LENGTH);
        assert_memory_equal(out[i].tokens, expected, sizeof expected);
        assert_null(out[i].text);
    }
    gen_outputs_free(out, N);
    free_prompts(N, prompts, lens);
    model_free(&m);
}

static void expect_same_outputs(const GenOutput *a, const GenOutput *b, long n)
{
    for (long i = 0; i < n; i++) {
        assert_int_equal(a[i].n_tokens, b[i].n_tokens);
        assert_int_equal(a[i].stop, b[i].stop);
        if (a[i].n_tokens)
            assert_memory_equal(a[i].tokens, b[i].tokens, sizeof(int) * a[i].n_tokens);
    }
}

/* batch 16 over 23 prompts (slots refill mid-run, sequences end at different steps through a
 * stop id) equals batch 1, for greedy and for seeded sampling with 2 samples per prompt. */
static void test_batched_equals_single(void **state)
{
    (void)state;
    enum { N = 23, NEW = 10, SAMPLES = 2 };
    Model m;
    tiny_model(&m, 11);
    int **prompts, *lens;
    make_prompts(N, 15, m.config.vocab_size, 9, &prompts, &lens);
    int stop_ids[] = {7};
    for (int mode = 0; mode < 2; mode++) {
        GenOptions o;
        gen_options_default(&o);
        o.max_new_tokens = NEW;
        o.stop_ids = stop_ids;
        o.n_stop_ids = 1;
        if (mode == 1) {
            o.n_samples = SAMPLES;
            o.temperature = 0.9f;
            o.top_p = 0.95f;
            o.top_k = 20;
            o.seed = 1234;
        }
        long total = (long)N * o.n_samples;
        GenOutput *one = calloc(total, sizeof *one), *many = calloc(total, sizeof *many);
        o.batch = 1;
        assert_int_equal(generate_run(&m, (const int *const *)prompts, lens, N, &o, one), 0);
        o.batch = 16;
        assert_int_equal(generate_run(&m, (const int *const *)prompts, lens, N, &o, many), 0);
        expect_same_outputs(one, many, total);
        int stopped = 0;
        for (long i = 0; i < total; i++) stopped += one[i].stop == GEN_STOP_TOKEN;
        printf("mode %d: %d of %ld sequences ended on the stop id\n", mode, stopped, total);
        gen_outputs_free(one, total);
        gen_outputs_free(many, total);
        free(one);
        free(many);
    }
    free_prompts(N, prompts, lens);
    model_free(&m);
}

/* A stop id ends the sample right before it; max new tokens and max context cut exactly. */
static void test_stop_id_and_lengths(void **state)
{
    (void)state;
    Model m;
    tiny_model(&m, 21);
    int prompt[] = {1, 2, 3, 4}, len = 4;
    const int *prompts[] = {prompt};
    GenOptions o;
    gen_options_default(&o);
    o.max_new_tokens = 20;
    GenOutput full;
    assert_int_equal(generate_run(&m, prompts, &len, 1, &o, &full), 0);
    assert_int_equal(full.n_tokens, 20);

    /* The token at index 6 as a stop id: output is everything before its first occurrence. */
    int stop = full.tokens[6], first = 6;
    for (int i = 0; i < 6; i++)
        if (full.tokens[i] == stop) {
            first = i;
            break;
        }
    o.stop_ids = &stop;
    o.n_stop_ids = 1;
    GenOutput cut;
    assert_int_equal(generate_run(&m, prompts, &len, 1, &o, &cut), 0);
    assert_int_equal(cut.stop, GEN_STOP_TOKEN);
    assert_int_equal(cut.n_tokens, first);
    if (first) assert_memory_equal(cut.tokens, full.tokens, sizeof(int) * first);
    gen_outputs_free(&cut, 1);

    o.n_stop_ids = 0;
    o.max_new_tokens = 5;
    assert_int_equal(generate_run(&m, prompts, &len, 1, &o, &cut), 0);
    assert_int_equal(cut.stop, GEN_STOP_LENGTH);
    assert_int_equal(cut.n_tokens, 5);
    assert_memory_equal(cut.tokens, full.tokens, sizeof(int) * 5);
    gen_outputs_free(&cut, 1);

    /* max_context 11: 4 prompt + 7 new. A prompt that fills the context gets nothing. */
    o.max_new_tokens = 20;
    o.max_context = 11;
    assert_int_equal(generate_run(&m, prompts, &len, 1, &o, &cut), 0);
    assert_int_equal(cut.stop, GEN_STOP_CONTEXT);
    assert_int_equal(cut.n_tokens, 7);
    assert_memory_equal(cut.tokens, full.tokens, sizeof(int) * 7);
    gen_outputs_free(&cut, 1);
    o.max_context = 4;
    assert_int_equal(generate_run(&m, prompts, &len, 1, &o, &cut), 0);
    assert_int_equal(cut.stop, GEN_STOP_CONTEXT);
    assert_int_equal(cut.n_tokens, 0);
    gen_outputs_free(&cut, 1);

    /* An id outside the vocabulary is refused with the prompt and position named. */
    int bad[] = {1, 99};
    int bad_len = 2;
    const int *bad_prompts[] = {bad};
    assert_int_equal(generate_run(&m, bad_prompts, &bad_len, 1, &o, &cut), -1);
    assert_non_null(strstr(pf_error(), "position 1"));

    gen_outputs_free(&full, 1);
    model_free(&m);
}

/* Several samples of one prompt: identical when greedy, different when sampled. */
static void test_samples(void **state)
{
    (void)state;
    enum { S = 4 };
    Model m;
    tiny_model(&m, 31);
    int prompt[] = {5, 6}, len = 2;
    const int *prompts[] = {prompt};
    GenOptions o;
    gen_options_default(&o);
    o.n_samples = S;
    o.batch = 4;
    o.max_new_tokens = 16;
    GenOutput out[S];
    assert_int_equal(generate_run(&m, prompts, &len, 1, &o, out), 0);
    for (int s = 1; s < S; s++) expect_same_outputs(out, out + s, 1);
    gen_outputs_free(out, S);

    o.temperature = 1.0f;
    o.seed = 77;
    assert_int_equal(generate_run(&m, prompts, &len, 1, &o, out), 0);
    int differing = 0;
    for (int s = 1; s < S; s++)
        differing += memcmp(out[0].tokens, out[s].tokens, sizeof(int) * 16) != 0;
    assert_int_equal(differing, S - 1);
    GenOutput again[S];
    assert_int_equal(generate_run(&m, prompts, &len, 1, &o, again), 0);
    expect_same_outputs(out, again, S); /* same seed, same samples */
    gen_outputs_free(out, S);
    gen_outputs_free(again, S);
    model_free(&m);
}

/* top-k: only the k most likely ids come out, at their renormalised probabilities (by hand:
 * logits {0, 2, 1, 2, -1} at temperature 1 keep ids 1 and 3 (equal) and 2 for k = 3:
 * e^2 / (2 e^2 + e) = 0.4223 for ids 1 and 3, e / (2 e^2 + e) = 0.1554 for id 2). Ties at the
 * k-th place go to the lower id. */
static void test_top_k(void **state)
{
    (void)state;
    enum { DRAWS = 40000 };
    Rng r;
    rng_seed(&r, 5);
    int counts[5] = {0};
    for (int i = 0; i < DRAWS; i++) {
        float z[5] = {0, 2, 1, 2, -1};
        counts[gen_sample_token(z, 5, 1.0f, 1.0f, 3, &r)]++;
    }
    double e = exp(1.0), denom = 2 * e * e + e;
    assert_int_equal(counts[0] + counts[4], 0);
    assert_true(fabs(counts[1] / (double)DRAWS - e * e / denom) < 0.01);
    assert_true(fabs(counts[3] / (double)DRAWS - e * e / denom) < 0.01);
    assert_true(fabs(counts[2] / (double)DRAWS - e / denom) < 0.01);

    /* k = 1 keeps the lower of the two tied best ids; greedy also picks the lowest id. */
    for (int i = 0; i < 100; i++) {
        float z[5] = {0, 2, 1, 2, -1};
        assert_int_equal(gen_sample_token(z, 5, 1.0f, 1.0f, 1, &r), 1);
    }
    float z[5] = {0, 2, 1, 2, -1};
    assert_int_equal(gen_sample_token(z, 5, 0.0f, 1.0f, 0, &r), 1);

    /* top-p 0.5 over {1, 3, 2}: the two best already reach the mass, id 2 never comes out. */
    int seen2 = 0;
    for (int i = 0; i < 2000; i++) {
        float w[5] = {0, 2, 1, 2, -1};
        seen2 += gen_sample_token(w, 5, 1.0f, 0.5f, 3, &r) == 2;
    }
    assert_int_equal(seen2, 0);
}

/* stories260K from BOS through generate_run: the llama2.c reference story; a stop string cuts
 * the text right before its first occurrence. */
static void test_stories_text_and_stop_string(void **state)
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

    int bos = 1, len = 1;
    const int *prompts[] = {&bos};
    GenOptions o;
    gen_options_default(&o);
    o.max_new_tokens = 40;
    o.tokenizer = tok;
    GenOutput full;
    assert_int_equal(generate_run(&m, prompts, &len, 1, &o, &full), 0);
    printf("greedy: %s\n", full.text);
    const char *expected = "Once upon a time, there was a little girl named Lily. She loved to "
                           "play outside in the park.";
    assert_int_equal(strncmp(full.text, expected, strlen(expected)), 0);

    const char *stops[] = {"zzz", " named"};
    o.stop_strings = stops;
    o.n_stop_strings = 2;
    GenOutput cut;
    assert_int_equal(generate_run(&m, prompts, &len, 1, &o, &cut), 0);
    assert_int_equal(cut.stop, GEN_STOP_STRING);
    assert_string_equal(cut.text, "Once upon a time, there was a little girl");
    /* It stopped at the token that completed " named": one token less does not hold it. */
    StrBuf text = {0};
    assert_int_equal(tokenizer_decode(tok, cut.tokens, cut.n_tokens - 1, true, &text), 0);
    assert_null(strstr(text.data, " named"));
    assert_memory_equal(cut.tokens, full.tokens, sizeof(int) * cut.n_tokens);
    strbuf_free(&text);

    gen_outputs_free(&full, 1);
    gen_outputs_free(&cut, 1);
    tokenizer_free(tok);
    model_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache_equals_full_forward),
        cmocka_unit_test(test_batched_equals_single),
        cmocka_unit_test(test_stop_id_and_lengths),
        cmocka_unit_test(test_samples),
        cmocka_unit_test(test_top_k),
        cmocka_unit_test(test_stories_text_and_stop_string),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
