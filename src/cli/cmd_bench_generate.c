/* `priorft bench-generate`: generation tokens/s of a randomly initialised model of a chosen
 * shape (default SmolLM2-135M) through eval/generate, at several batch sizes: each batch of B
 * random prompts is prefilled into the KV cache, then decoded greedily. Prefill and decoding
 * are timed apart (a run with one new token is all prefill), in wall and process CPU seconds:
 * on a shared machine tokens per CPU-second are the steadier number. */
#include <omp.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "eval/generate.h"
#include "model/model.h"
#include "util/error.h"
#include "util/log.h"
#include "util/rng.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: priorft bench-generate [--prompt-tokens N] [--new-tokens N]\n"
            "                              [--batches B1,B2,...] [--dim C] [--layers L]\n"
            "                              [--heads NH] [--kv-heads NKV] [--hidden H]\n"
            "                              [--vocab V] [--seed S]\n"
            "Times greedy generation for a random model (default the SmolLM2-135M shape: dim\n"
            "576, 30 layers, 9 heads, 3 kv heads, hidden 1536, vocab 49152, tied) with\n"
            "B prompts of 64 random tokens and 128 new tokens each (no early stop), at\n"
            "batch 1 and 16. Prints prefill (prompt) tokens/s, decoding tokens/s (new tokens\n"
            "after the first), each also per CPU-second of the process (all threads).\n");
}

typedef struct BenchArgs {
    long prompt_tokens, new_tokens, dim, layers, heads, kv_heads, hidden, vocab, seed;
    char batches[256];
} BenchArgs;

static int parse_args(int argc, char **argv, BenchArgs *a)
{
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
            usage(stdout);
            return 1;
        }
        if (i + 1 >= argc) {
            cli_error("%s: missing value (see --help)", opt);
            return -1;
        }
        const char *v = argv[++i];
        int rc = 0;
        if (strcmp(opt, "--prompt-tokens") == 0)
            rc = cli_parse_int(opt, v, 1, 1 << 20, &a->prompt_tokens);
        else if (strcmp(opt, "--new-tokens") == 0)
            rc = cli_parse_int(opt, v, 1, 1 << 20, &a->new_tokens);
        else if (strcmp(opt, "--dim") == 0) rc = cli_parse_int(opt, v, 2, 1 << 16, &a->dim);
        else if (strcmp(opt, "--layers") == 0) rc = cli_parse_int(opt, v, 1, 1024, &a->layers);
        else if (strcmp(opt, "--heads") == 0) rc = cli_parse_int(opt, v, 1, 1024, &a->heads);
        else if (strcmp(opt, "--kv-heads") == 0)
            rc = cli_parse_int(opt, v, 1, 1024, &a->kv_heads);
        else if (strcmp(opt, "--hidden") == 0)
            rc = cli_parse_int(opt, v, 1, 1 << 18, &a->hidden);
        else if (strcmp(opt, "--vocab") == 0) rc = cli_parse_int(opt, v, 2, 1 << 22, &a->vocab);
        else if (strcmp(opt, "--seed") == 0) rc = cli_parse_int(opt, v, 0, 1L << 62, &a->seed);
        else if (strcmp(opt, "--batches") == 0) snprintf(a->batches, sizeof a->batches, "%s", v);
        else {
            cli_error("unknown option '%s' (see --help)", opt);
            return -1;
        }
        if (rc != 0) return -1;
    }
    return 0;
}

/* CPU seconds of the process, all threads. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Generates new_tokens greedy tokens for each prompt; wall and CPU seconds into *wall, *cpu. */
static int timed_run(const Model *m, int **prompts, int *lens, int batch, int new_tokens,
                     double *wall, double *cpu, long *produced)
{
    GenOptions o;
    gen_options_default(&o);
    o.batch = batch;
    o.max_new_tokens = new_tokens;
    o.max_context = lens[0] + new_tokens;
    GenOutput *out = xcalloc((size_t)batch, sizeof *out);
    double t0 = time_now(), c0 = cpu_now();
    int rc = generate_run(m, (const int *const *)prompts, lens, batch, &o, out);
    *wall = time_now() - t0;
    *cpu = cpu_now() - c0;
    *produced = 0;
    if (rc == 0) {
        for (int i = 0; i < batch; i++) *produced += out[i].n_tokens;
        gen_outputs_free(out, batch);
    }
    free(out);
    return rc;
}

/* Times one batch size; prints a table row. */
static int bench_batch(const Model *m, const BenchArgs *a, int batch)
{
    int P = (int)a->prompt_tokens;
    int **prompts = xmalloc(sizeof(int *) * (size_t)batch);
    int *lens = xmalloc(sizeof(int) * (size_t)batch);
    Rng r;
    rng_seed(&r, (uint64_t)a->seed + (uint64_t)batch);
    for (int i = 0; i < batch; i++) {
        lens[i] = P;
        prompts[i] = xmalloc(sizeof(int) * (size_t)P);
        for (int t = 0; t < P; t++) prompts[i][t] = (int)rng_below(&r, (uint64_t)a->vocab);
    }
    double pw, pc, w, c;
    long first, produced;
    int rc = timed_run(m, prompts, lens, batch, 1, &pw, &pc, &first);
    if (rc == 0) rc = timed_run(m, prompts, lens, batch, (int)a->new_tokens, &w, &c, &produced);
    if (rc == 0) {
        long prompt_tokens = (long)batch * P, decoded = produced - first;
        double dw = w - pw, dc = c - pc;
        printf("| %d | %d | %ld | %.2f | %.2f | %.0f | %.0f | %.1f | %.1f | %.1f |\n", batch, P,
               produced / batch, w, c, prompt_tokens / pw, prompt_tokens / pc, decoded / dw,
               decoded / dc, (produced + prompt_tokens) / w);
        fflush(stdout);
    }
    for (int i = 0; i < batch; i++) free(prompts[i]);
    free(prompts);
    free(lens);
    return rc;
}

int cmd_bench_generate(int argc, char **argv)
{
    BenchArgs a = {.prompt_tokens = 64, .new_tokens = 128, .dim = 576, .layers = 30,
                   .heads = 9, .kv_heads = 3, .hidden = 1536, .vocab = 49152, .seed = 1,
                   .batches = "1,16"};
    int prc = parse_args(argc, argv, &a);
    if (prc != 0) return prc > 0 ? 0 : 1;

    ModelConfig c;
    config_defaults(&c);
    snprintf(c.arch, sizeof c.arch, "llama");
    c.dim = (int)a.dim;
    c.n_layers = (int)a.layers;
    c.n_heads = (int)a.heads;
    c.n_kv_heads = (int)a.kv_heads;
    c.head_dim = c.n_heads > 0 ? c.dim / c.n_heads : 0;
    c.hidden_dim = (int)a.hidden;
    c.vocab_size = (int)a.vocab;
    c.max_seq_len = (int)(a.prompt_tokens + a.new_tokens);
    c.tied_embeddings = true;
    Model m;
    if (model_init(&m, &c) != 0) return cli_error("%s", pf_error());
    model_init_random(&m, (uint64_t)a.seed);
    printf("model: dim %d, %d layers, %d/%d heads, hidden %d, vocab %d, %.1fM parameters\n",
           c.dim, c.n_layers, c.n_heads, c.n_kv_heads, c.hidden_dim, c.vocab_size,
           (double)m.n_params / 1e6);
    /* Decoding waits at a barrier per projection group: whether waiting threads spin (the
     * libgomp default) or sleep decides the speed on a machine shared with other jobs. */
    const char *policy = getenv("OMP_WAIT_POLICY");
    double load[3] = {0};
    int nload = getloadavg(load, 3);
    printf("threads: %d, OMP_WAIT_POLICY=%s, load average %.2f\n\n", omp_get_max_threads(),
           policy ? policy : "(unset)", nload > 0 ? load[0] : -1.0);
    printf("| batch | prompt tokens | new tokens | seconds | CPU s | prefill tok/s "
           "| prefill tok/CPU-s | decode tok/s | decode tok/CPU-s | all tok/s |\n");
    printf("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");

    int rc = 0;
    char *list = xstrdup(a.batches), *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok && rc == 0;
         tok = strtok_r(NULL, ",", &save)) {
        long batch;
        if (cli_parse_int("--batches", tok, 1, 4096, &batch) != 0) rc = 1;
        else if (bench_batch(&m, &a, (int)batch) != 0) rc = cli_error("%s", pf_error());
    }
    free(list);
    model_free(&m);
    return rc;
}
