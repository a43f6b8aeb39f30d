/* `priorft bench`: measures this machine's fp32 GEMM peak through oneDNN, then the training
 * throughput (forward + LM head + backward) of a random-weight model of a chosen shape, and
 * prints tokens/s, achieved GFLOP/s, the share of the measured peak and a per-phase split. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "kernels/cpu.h"
#include "model/forward.h"
#include "util/error.h"
#include "util/log.h"
#include "util/rng.h"

/* Tokens per LM-head chunk: the full (tokens, V) logits never exist at once. */
#define HEAD_CHUNK 256

static void usage(FILE *f)
{
    fprintf(f,
            "usage: priorft bench [--dim C] [--layers L] [--heads NH] [--kv-heads NKV]\n"
            "                     [--hidden H] [--vocab V] [--batch B] [--seq T] [--steps S]\n"
            "                     [--untied] [--gemm-n N]\n"
            "Measures fp32 GEMM peak (dnnl_sgemm, n = 2048), then forward + backward tokens/s\n"
            "of a random model (default SmolLM2-135M shape: 576, 30, 9, 3, 1536, 49152, tied)\n"
            "at B x T (default 4 x 512), with the LM head as a chunked GEMM + softmax NLL.\n");
}

/* CPU seconds this process has used (all threads). On a shared machine, rates per
 * (CPU seconds / threads) estimate what the work would reach with the cores to itself. */
static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Best GFLOP/s of C = A B at n x n over a few repetitions, with `threads` OpenMP threads. */
static double gemm_gflops(int n, int threads, float *A, float *B, float *C, double *cpu_rate)
{
    int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    double best = 0.0, flop = 2.0 * n * n * (double)n;
    *cpu_rate = 0.0;
    for (int rep = 0; rep < 4; rep++) {
        double t0 = time_now(), c0 = cpu_seconds();
        if (matmul(false, false, n, n, n, 1.0f, A, n, B, n, 0.0f, C, n) != 0) best = -1.0;
        double t = time_now() - t0, c = (cpu_seconds() - c0) / threads;
        if (best >= 0.0 && flop / t / 1e9 > best) best = flop / t / 1e9;
        if (flop / c / 1e9 > *cpu_rate) *cpu_rate = flop / c / 1e9;
    }
    omp_set_num_threads(saved);
    return best;
}

/* The LM head + mean NLL for the bench: logits = hidden lm_head^T chunk by chunk, softmax
 * gradient in place, d_hidden and the head gradient by GEMM. Returns the loss. */
static double head_step(const float *hidden, const float *head, float *d_head, float *d_hidden,
                        const int *targets, int N, int C, int V, float *logits)
{
    double loss = 0.0;
    for (int t0 = 0; t0 < N; t0 += HEAD_CHUNK) {
        int n = N - t0 < HEAD_CHUNK ? N - t0 : HEAD_CHUNK;
        const float *h = hidden + (long)t0 * C;
        if (matmul(false, true, n, V, C, 1.0f, h, C, head, C, 0.0f, logits, V) != 0) return NAN;
        double chunk_loss = 0.0;
#pragma omp parallel for reduction(+ : chunk_loss)
        for (int i = 0; i < n; i++) {
            float *z = logits + (long)i * V, mx = -INFINITY, sum = 0.0f;
            for (int v = 0; v < V; v++) mx = z[v] > mx ? z[v] : mx;
            for (int v = 0; v < V; v++) {
                z[v] = expf(z[v] - mx);
                sum += z[v];
            }
            int y = targets[t0 + i];
            chunk_loss -= log(z[y] / sum);
            for (int v = 0; v < V; v++) z[v] = z[v] / sum / (float)N;
            z[y] -= 1.0f / (float)N;
        }
        loss += chunk_loss;
        if (matmul(false, false, n, C, V, 1.0f, logits, V, head, C, 0.0f, d_hidden + (long)t0 * C,
                   C) != 0 ||
            matmul(true, false, V, C, n, 1.0f, logits, V, h, C, 1.0f, d_head, C) != 0)
            return NAN;
    }
    return loss / N;
}

typedef struct BenchShape {
    long dim, layers, heads, kv_heads, hidden, vocab, batch, seq, steps, gemm_n;
    bool untied;
} BenchShape;

static int parse_args(int argc, char **argv, BenchShape *s)
{
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
            usage(stdout);
            return 1;
        }
        if (strcmp(opt, "--untied") == 0) {
            s->untied = true;
            continue;
        }
        if (i + 1 >= argc) return cli_error("%s: missing value (see --help)", opt) ? -1 : -1;
        const char *val = argv[++i];
        struct { const char *name; long *field; long max; } opts[] = {
            {"--dim", &s->dim, 1 << 16},      {"--layers", &s->layers, 1024},
            {"--heads", &s->heads, 1024},     {"--kv-heads", &s->kv_heads, 1024},
            {"--hidden", &s->hidden, 1 << 18}, {"--vocab", &s->vocab, 1 << 22},
            {"--batch", &s->batch, 1 << 12},  {"--seq", &s->seq, 1 << 16},
            {"--steps", &s->steps, 1000},     {"--gemm-n", &s->gemm_n, 8192},
        };
        bool known = false;
        for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++) {
            if (strcmp(opt, opts[k].name) != 0) continue;
            known = true;
            if (cli_parse_int(opt, val, 1, opts[k].max, opts[k].field) != 0) return -1;
        }
        if (!known) {
            cli_error("unknown option '%s' (see --help)", opt);
            return -1;
        }
    }
    return 0;
}

static void print_peak(const BenchShape *s, double *peak, double *cpu_peak)
{
    int n = (int)s->gemm_n;
    float *A = xalloc_floats((size_t)n * n), *B = xalloc_floats((size_t)n * n);
    float *C = xalloc_floats((size_t)n * n);
    Rng r;
    rng_seed(&r, 1);
    for (long i = 0; i < (long)n * n; i++) {
        A[i] = rng_uniform(&r) - 0.5f;
        B[i] = rng_uniform(&r) - 0.5f;
    }
    int threads = omp_get_max_threads();
    double one_cpu = 0.0;
    double one = gemm_gflops(n, 1, A, B, C, &one_cpu);
    *peak = gemm_gflops(n, threads, A, B, C, cpu_peak);
    printf("gemm: dnnl_sgemm fp32 n=%d: %.1f GFLOP/s on 1 thread, %.1f GFLOP/s on %d threads "
           "(x%.2f); per CPU-second of each thread: %.1f and %.1f\n", n, one, *peak, threads,
           *peak / one, one_cpu, *cpu_peak);
    free(A);
    free(B);
    free(C);
}

int cmd_bench(int argc, char **argv)
{
    BenchShape s = {576, 30, 9, 3, 1536, 49152, 4, 512, 3, 2048, false};
    int prc = parse_args(argc, argv, &s);
    if (prc != 0) return prc > 0 ? 0 : 1;

    double peak = 0.0, cpu_peak = 0.0;
    print_peak(&s, &peak, &cpu_peak);

    ModelConfig cfg;
    config_defaults(&cfg);
    cfg.dim = (int)s.dim;
    cfg.n_layers = (int)s.layers;
    cfg.n_heads = (int)s.heads;
    cfg.n_kv_heads = (int)s.kv_heads;
    cfg.head_dim = (int)(s.dim / s.heads);
    cfg.hidden_dim = (int)s.hidden;
    cfg.vocab_size = (int)s.vocab;
    cfg.max_seq_len = (int)s.seq;
    cfg.tied_embeddings = !s.untied;
    if (s.dim % s.heads != 0) return cli_error("--dim %ld is not a multiple of --heads %ld",
                                               s.dim, s.heads);
    Model m;
    if (model_init(&m, &cfg) != 0) return cli_error("%s", pf_error());
    model_init_random(&m, 1);
    int B = (int)s.batch, T = (int)s.seq, N = B * T, C = cfg.dim, V = cfg.vocab_size;
    ModelActs *acts = NULL;
    if (model_acts_init(&acts, &cfg, B, T) != 0) return cli_error("%s", pf_error());
    float *grad_memory = xalloc_floats(m.n_params);
    ModelParams grads;
    model_params_bind(&cfg, grad_memory, &grads);
    float *d_hidden = xalloc_floats((size_t)N * C);
    float *logits = xalloc_floats((size_t)HEAD_CHUNK * V);
    int *tokens = xmalloc(sizeof(int) * N), *positions = xmalloc(sizeof(int) * N);
    int *targets = xmalloc(sizeof(int) * N);
    Rng r;
    rng_seed(&r, 2);
    for (int i = 0; i < N; i++) {
        tokens[i] = (int)rng_below(&r, (uint64_t)V);
        targets[i] = (int)rng_below(&r, (uint64_t)V);
        positions[i] = i % T;
    }
    double acts_gb = model_acts_floats(&cfg, B, T) * 4.0 / 1e9;
    printf("model: %.1fM parameters (dim %d, %d layers, %d/%d heads, hidden %d, vocab %d, %s); "
           "batch %d x %d; activations %.2f GB\n", m.n_params / 1e6, C, cfg.n_layers,
           cfg.n_heads, cfg.n_kv_heads, cfg.hidden_dim, V, cfg.tied_embeddings ? "tied" :
           "untied", B, T, acts_gb);

    double total = 0.0, head_time = 0.0, loss = 0.0, cpu_total = 0.0;
    for (long step = 0; step <= s.steps; step++) {
        if (step == 1) model_acts_reset_times(acts); /* step 0 warms up */
        double t0 = time_now(), c0 = cpu_seconds();
        float *hidden = NULL;
        memset(grad_memory, 0, sizeof(float) * m.n_params);
        if (model_forward(&m, acts, tokens, positions, NULL, B, T, &hidden) != 0)
            return cli_error("%s", pf_error());
        double th = time_now();
        loss = head_step(hidden, m.params.lm_head, grads.lm_head, d_hidden, targets, N, C, V,
                         logits);
        double th1 = time_now();
        if (model_backward(&m, acts, d_hidden, &grads) != 0) return cli_error("%s", pf_error());
        double t = time_now() - t0;
        if (step > 0) {
            total += t;
            cpu_total += (cpu_seconds() - c0) / omp_get_max_threads();
            head_time += th1 - th;
        }
        fprintf(stderr, "step %ld: %.2f s, loss %.4f%s\n", step, t, loss,
                step == 0 ? " (warm-up, not counted)" : "");
    }

    /* 6 FLOPs per parameter used in a GEMM per token, plus causal attention: forward QK^T and
     * PV cost 2 * Q * T per token per layer on average, backward twice that. */
    double gemm_params = (double)m.n_params - (cfg.tied_embeddings ? 0.0 : (double)V * C);
    double q_width = (double)cfg.n_heads * cfg.head_dim;
    double flop_token = 6.0 * gemm_params + 6.0 * cfg.n_layers * q_width * T;
    double tokens_s = (double)N * s.steps / total;
    double gflops = flop_token * tokens_s / 1e9;
    ModelTimes times = model_acts_times(acts);
    double mm = times.matmul + head_time, att = times.attention;
    printf("train: %.1f tokens/s, %.1f GFLOP/s (%.2f GFLOP/token), %.0f%% of the measured "
           "peak\n", tokens_s, gflops, flop_token / 1e9, 100.0 * gflops / peak);
    double cpu_gflops = flop_token * (double)N * s.steps / cpu_total / 1e9;
    printf("per CPU-second of each thread (shared machines): %.1f tokens/s, %.1f GFLOP/s, "
           "%.0f%% of the GEMM rate measured the same way\n",
           (double)N * s.steps / cpu_total, cpu_gflops, 100.0 * cpu_gflops / cpu_peak);
    printf("phases: matmul %.1f%% (of which LM head %.1f%%), attention %.1f%%, other %.1f%% "
           "(%.2f s per step)\n", 100 * mm / total, 100 * head_time / total, 100 * att / total,
           100 * (total - mm - att) / total, total / s.steps);

    free(tokens), free(positions), free(targets), free(logits), free(d_hidden);
    free(grad_memory);
    model_acts_free(acts);
    model_free(&m);
    return 0;
}
