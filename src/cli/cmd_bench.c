/* `priorft bench`: measures this machine's fp32 GEMM peak through oneDNN, then the training
 * throughput of a random-weight model of a chosen shape: one step is forward, the fused LM
 * head + NLL objective (lm_head_forward_backward, as `train` runs it), backward, gradient norm
 * and AdamW over all parameters. Prints tokens/s, achieved GFLOP/s, the share of the measured
 * peak, peak RSS and the split of a step by phase. `--all` runs the SmolLM2-135M and
 * Qwen2.5-0.5B shapes at T = 512 and 2048, each row in its own process (so each row's peak RSS
 * is its own), and prints one table. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "kernels/cpu.h"
#include "model/forward.h"
#include "objective/lm_head.h"
#include "optim/optim.h"
#include "util/error.h"
#include "util/log.h"
#include "util/rng.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: priorft bench [--shape smollm2-135m|qwen2.5-0.5b] [--all] [--recompute]\n"
            "                     [--dim C] [--layers L] [--heads NH] [--kv-heads NKV]\n"
            "                     [--hidden H] [--vocab V] [--qkv-bias] [--untied]\n"
            "                     [--batch B] [--seq T] [--steps S] [--warmup W] [--gemm-n N]\n"
            "Measures fp32 GEMM peak (dnnl_sgemm, n = 2048), then training tokens/s of a random\n"
            "model (default SmolLM2-135M shape: 576, 30, 9, 3, 1536, 49152, tied) at B x T\n"
            "(default 1 x 512): forward, fused LM head + NLL, backward, AdamW, after W (default\n"
            "1) warm-up steps. --all: both shapes at T = 512 and 2048 (B = 1 unless --batch), one\n"
            "process per row, one table. --recompute: activation recomputation in backward.\n");
}

/* CPU seconds this process has used (all threads). On a shared machine, rates per
 * (CPU seconds / threads) estimate what the work would reach with the cores to itself. */
static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A field of /proc/self/status in kB ("VmHWM" is the peak RSS), or -1. */
static long status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long kb = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            kb = atol(line + n + 1);
            break;
        }
    }
    fclose(f);
    return kb;
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

typedef struct BenchShape {
    long dim, layers, heads, kv_heads, hidden, vocab, batch, seq, steps, gemm_n, warmup;
    bool untied, qkv_bias, recompute, all, batch_set;
    const char *shape;          /* preset name, or NULL for a custom shape */
    double peak, cpu_peak;      /* given by --all to its rows (hidden --peak option) */
} BenchShape;

/* Sets the shape fields of a preset; returns -1 for an unknown name. */
static int apply_preset(BenchShape *s, const char *name)
{
    if (strcmp(name, "smollm2-135m") == 0) {
        s->dim = 576, s->layers = 30, s->heads = 9, s->kv_heads = 3, s->hidden = 1536;
        s->vocab = 49152, s->untied = false, s->qkv_bias = false;
    } else if (strcmp(name, "qwen2.5-0.5b") == 0) {
        s->dim = 896, s->layers = 24, s->heads = 14, s->kv_heads = 2, s->hidden = 4864;
        s->vocab = 151936, s->untied = false, s->qkv_bias = true;
    } else {
        return cli_error("--shape: unknown preset '%s' (smollm2-135m or qwen2.5-0.5b)", name)
                   ? -1 : -1;
    }
    s->shape = name;
    return 0;
}

static int parse_args(int argc, char **argv, BenchShape *s)
{
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
            usage(stdout);
            return 1;
        }
        struct { const char *name; bool *field; } flags[] = {
            {"--untied", &s->untied}, {"--qkv-bias", &s->qkv_bias},
            {"--recompute", &s->recompute}, {"--all", &s->all},
        };
        bool known = false;
        for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++) {
            if (strcmp(opt, flags[k].name) == 0) *flags[k].field = known = true;
        }
        if (known) continue;
        if (i + 1 >= argc) return cli_error("%s: missing value (see --help)", opt) ? -1 : -1;
        const char *val = argv[++i];
        if (strcmp(opt, "--shape") == 0) {
            if (apply_preset(s, val) != 0) return -1;
            continue;
        }
        if (strcmp(opt, "--peak") == 0) {
            if (sscanf(val, "%lf,%lf", &s->peak, &s->cpu_peak) != 2)
                return cli_error("--peak: expected GFLOPS,CPU_GFLOPS, got '%s'", val) ? -1 : -1;
            continue;
        }
        struct { const char *name; long *field; long max; } opts[] = {
            {"--dim", &s->dim, 1 << 16},      {"--layers", &s->layers, 1024},
            {"--heads", &s->heads, 1024},     {"--kv-heads", &s->kv_heads, 1024},
            {"--hidden", &s->hidden, 1 << 18}, {"--vocab", &s->vocab, 1 << 22},
            {"--batch", &s->batch, 1 << 12},  {"--seq", &s->seq, 1 << 16},
            {"--steps", &s->steps, 1000},     {"--gemm-n", &s->gemm_n, 8192},
        };
        if (strcmp(opt, "--warmup") == 0) {
            if (cli_parse_int(opt, val, 0, 100, &s->warmup) != 0) return -1;
            continue;
        }
        for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++) {
            if (strcmp(opt, opts[k].name) != 0) continue;
            known = true;
            if (cli_parse_int(opt, val, 1, opts[k].max, opts[k].field) != 0) return -1;
            if (opts[k].field == &s->batch) s->batch_set = true;
            if (k < 6) s->shape = NULL; /* a custom shape, no longer the preset */
        }
        if (!known) {
            cli_error("unknown option '%s' (see --help)", opt);
            return -1;
        }
    }
    return 0;
}

static int measure_peak(const BenchShape *s, double *peak, double *cpu_peak)
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
    return *peak > 0.0 ? 0 : -1;
}

/* Seconds of one step by phase. */
typedef struct Phases {
    double matmul, attention, other, head_gemm, head_softmax, optim, recompute;
} Phases;

/* One row: builds the model, runs warm-up + steps, prints the report and a "row:" line. */
static int bench_row(const BenchShape *s, double peak, double cpu_peak)
{
    ModelConfig cfg;
    config_defaults(&cfg);
    cfg.dim = (int)s->dim;
    cfg.n_layers = (int)s->layers;
    cfg.n_heads = (int)s->heads;
    cfg.n_kv_heads = (int)s->kv_heads;
    cfg.head_dim = (int)(s->dim / s->heads);
    cfg.hidden_dim = (int)s->hidden;
    cfg.vocab_size = (int)s->vocab;
    cfg.max_seq_len = (int)s->seq;
    cfg.tied_embeddings = !s->untied;
    cfg.qkv_bias = s->qkv_bias;
    if (s->dim % s->heads != 0)
        return cli_error("--dim %ld is not a multiple of --heads %ld", s->dim, s->heads);
    Model m;
    if (model_init(&m, &cfg) != 0) return cli_error("%s", pf_error());
    model_init_random(&m, 1);
    int B = (int)s->batch, T = (int)s->seq, N = B * T, C = cfg.dim, V = cfg.vocab_size;
    ModelActs *acts = NULL;
    if (model_acts_init_opt(&acts, &cfg, B, T, s->recompute) != 0)
        return cli_error("%s", pf_error());
    float *grad_memory = xalloc_floats(m.n_params);
    ModelParams grads;
    model_params_bind(&cfg, grad_memory, &grads);
    AdamWConfig ac = {.beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.01f};
    AdamW opt;
    adamw_init(&opt, &ac, m.n_params, NULL);
    float *d_hidden = xalloc_floats((size_t)N * C);
    int *tokens = xmalloc(sizeof(int) * N), *positions = xmalloc(sizeof(int) * N);
    int *targets = xmalloc(sizeof(int) * N);
    Rng r;
    rng_seed(&r, 2);
    for (int i = 0; i < N; i++) {
        tokens[i] = (int)rng_below(&r, (uint64_t)V);
        targets[i] = (int)rng_below(&r, (uint64_t)V);
        positions[i] = i % T;
    }
    Objective obj;
    if (objective_parse("nll", &obj) != 0) return cli_error("%s", pf_error());
    double acts_gb = model_acts_floats_opt(&cfg, B, T, s->recompute) * 4.0 / 1e9;
    printf("model: %s %.1fM parameters (dim %d, %d layers, %d/%d heads, hidden %d, vocab %d, %s%s);"
           " batch %d x %d; activations %.2f GB%s\n", s->shape ? s->shape : "",
           m.n_params / 1e6, C, cfg.n_layers, cfg.n_heads, cfg.n_kv_heads, cfg.hidden_dim, V,
           cfg.tied_embeddings ? "tied" : "untied", cfg.qkv_bias ? ", qkv bias" : "", B, T,
           acts_gb, s->recompute ? " (recompute)" : "");
    fflush(stdout);

    Phases ph = {0};
    double total = 0.0, cpu_total = 0.0, loss = 0.0;
    int threads = omp_get_max_threads();
    long warm = s->warmup;
    for (long step = 0; step < warm + s->steps; step++) {
        if (step == warm) model_acts_reset_times(acts); /* earlier steps warm up */
        double t0 = time_now(), c0 = cpu_seconds();
        float *hidden = NULL;
        memset(grad_memory, 0, sizeof(float) * m.n_params);
        double tz = time_now() - t0;
        if (model_forward(&m, acts, tokens, positions, NULL, B, T, &hidden) != 0)
            return cli_error("%s", pf_error());
        LmHeadStats hs;
        double th = time_now();
        if (lm_head_forward_backward(hidden, m.params.lm_head, targets, N, C, V, &obj,
                                     1.0f / (float)N, NULL, d_hidden, grads.lm_head, &hs) != 0)
            return cli_error("%s", pf_error());
        double th1 = time_now();
        if (model_backward(&m, acts, d_hidden, &grads) != 0) return cli_error("%s", pf_error());
        double to = time_now();
        double norm = grad_global_norm(grad_memory, m.n_params);
        grad_clip(grad_memory, m.n_params, norm, 1.0);
        adamw_step(&opt, m.params_memory, grad_memory, 1e-4f);
        double t1 = time_now(), t = t1 - t0;
        loss = hs.loss_sum / (double)N;
        if (step >= warm) {
            total += t;
            cpu_total += (cpu_seconds() - c0) / threads;
            ph.head_gemm += hs.seconds_logits + hs.seconds_backward;
            ph.head_softmax += (th1 - th) - hs.seconds_logits - hs.seconds_backward;
            ph.optim += t1 - to + tz;
        }
        fprintf(stderr, "step %ld: %.2f s, loss %.4f%s\n", step, t, loss,
                step < warm ? " (warm-up, not counted)" : "");
    }
    ModelTimes mt = model_acts_times(acts);
    ph.matmul = mt.matmul, ph.attention = mt.attention, ph.other = mt.other;
    ph.recompute = mt.recompute;

    /* 6 FLOPs per parameter used in a GEMM per token (the tied embedding counts once, as the
     * head), plus causal attention: forward QK^T and PV cost 2 * Q * T per token per layer on
     * average, backward twice that. Recomputation is not counted as useful work. */
    double gemm_params = (double)m.n_params - (cfg.tied_embeddings ? 0.0 : (double)V * C);
    double q_width = (double)cfg.n_heads * cfg.head_dim;
    double flop_token = 6.0 * gemm_params + 6.0 * cfg.n_layers * q_width * T;
    double tokens_s = (double)N * s->steps / total;
    double gflops = flop_token * tokens_s / 1e9;
    double cpu_tokens_s = (double)N * s->steps / cpu_total;
    double cpu_gflops = flop_token * cpu_tokens_s / 1e9;
    double rss_gb = status_kb("VmHWM") / 1048576.0;
    printf("train: %.1f tokens/s, %.1f GFLOP/s (%.2f GFLOP/token), %.0f%% of the measured "
           "peak; peak RSS %.2f GiB\n", tokens_s, gflops, flop_token / 1e9, 100.0 * gflops / peak,
           rss_gb);
    printf("per CPU-second of each thread (shared machines): %.1f tokens/s, %.1f GFLOP/s, "
           "%.0f%% of the GEMM rate measured the same way\n", cpu_tokens_s, cpu_gflops,
           100.0 * cpu_gflops / cpu_peak);
    double rest = total - ph.matmul - ph.attention - ph.other - ph.head_gemm - ph.head_softmax -
                  ph.optim;
    printf("phases (%.2f s per step): matmul %.1f%%, attention %.1f%%, LM head GEMMs %.1f%%, "
           "LM head softmax+objective %.1f%%, norms/element-wise %.1f%%, optimiser (zero, norm, "
           "AdamW) %.1f%%, unaccounted %.1f%%", total / s->steps, 100 * ph.matmul / total,
           100 * ph.attention / total, 100 * ph.head_gemm / total, 100 * ph.head_softmax / total,
           100 * ph.other / total, 100 * ph.optim / total, 100 * rest / total);
    if (s->recompute) printf("; recomputation %.1f%% (inside the above)", 100 * ph.recompute /
                             total);
    printf("\n");
    printf("row: %s|%d|%d|%.1f|%.1f|%.1f|%.1f|%.2f|%d|%.3f\n", s->shape ? s->shape : "custom", B,
           T, tokens_s, 100.0 * gflops / peak, cpu_tokens_s, 100.0 * cpu_gflops / cpu_peak,
           rss_gb, s->recompute, loss);
    fflush(stdout);

    free(tokens), free(positions), free(targets), free(d_hidden);
    adamw_free(&opt);
    free(grad_memory);
    model_acts_free(acts);
    model_free(&m);
    return 0;
}

/* --all: one child process per (shape, length), reading each child's "row:" line. */
static int bench_all(const BenchShape *s, double peak, double cpu_peak)
{
    const char *shapes[] = {"smollm2-135m", "qwen2.5-0.5b"};
    const int seqs[] = {512, 2048};
    char rows[4][1024] = {{0}};
    int n_rows = 0;
    for (int a = 0; a < 2; a++) {
        for (int b = 0; b < 2; b++) {
            char seq[16], batch[16], steps[16], warmup[16], peak_s[64];
            snprintf(seq, sizeof seq, "%d", seqs[b]);
            snprintf(batch, sizeof batch, "%ld", s->batch_set ? s->batch : 1L);
            snprintf(steps, sizeof steps, "%ld", s->steps);
            snprintf(warmup, sizeof warmup, "%ld", s->warmup);
            snprintf(peak_s, sizeof peak_s, "%.3f,%.3f", peak, cpu_peak);
            char *args[] = {"priorft", "bench", "--shape", (char *)shapes[a], "--seq", seq,
                            "--batch", batch, "--steps", steps, "--warmup", warmup,
                            "--peak", peak_s,
                            s->recompute ? "--recompute" : NULL, NULL};
            int fd[2];
            if (pipe(fd) != 0) return cli_error("bench --all: pipe failed");
            fflush(stdout);
            pid_t pid = fork();
            if (pid < 0) return cli_error("bench --all: fork failed");
            if (pid == 0) {
                dup2(fd[1], STDOUT_FILENO);
                close(fd[0]);
                close(fd[1]);
                execv("/proc/self/exe", args);
                _exit(127);
            }
            close(fd[1]);
            FILE *f = fdopen(fd[0], "r");
            char line[1024];
            while (f && fgets(line, sizeof line, f)) {
                fputs(line, stdout);
                fflush(stdout);
                if (strncmp(line, "row: ", 5) == 0 && n_rows < 4)
                    snprintf(rows[n_rows++], sizeof rows[0], "%s", line + 5);
            }
            if (f) fclose(f);
            int status = 0;
            waitpid(pid, &status, 0);
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                fprintf(stderr, "bench --all: row %s T=%d failed\n", shapes[a], seqs[b]);
        }
    }
    printf("\n| shape | B x T | tokens/s | %% of GEMM peak | tokens/s per CPU | "
           "%% of peak per CPU | peak RSS GiB |\n|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < n_rows; i++) {
        char name[64];
        int B = 0, T = 0, rec = 0;
        double tps, share, ctps, cshare, rss, loss;
        if (sscanf(rows[i], "%63[^|]|%d|%d|%lf|%lf|%lf|%lf|%lf|%d|%lf", name, &B, &T, &tps,
                   &share, &ctps, &cshare, &rss, &rec, &loss) != 10)
            continue;
        printf("| %s%s | %d x %d | %.1f | %.0f%% | %.1f | %.0f%% | %.2f |\n", name,
               rec ? " (recompute)" : "", B, T, tps, share, ctps, cshare, rss);
    }
    return n_rows == 4 ? 0 : 1;
}

int cmd_bench(int argc, char **argv)
{
    BenchShape s = {576, 30, 9, 3, 1536, 49152, 1, 512, 3, 2048, 1,
                    false, false, false, false, false, "smollm2-135m", 0.0, 0.0};
    int prc = parse_args(argc, argv, &s);
    if (prc != 0) return prc > 0 ? 0 : 1;
    if (s.all && !s.batch_set) s.batch = 1;

    double peak = s.peak, cpu_peak = s.cpu_peak;
    if (peak <= 0.0 || cpu_peak <= 0.0) {
        if (measure_peak(&s, &peak, &cpu_peak) != 0) return cli_error("%s", pf_error());
        fflush(stdout);
    } else {
        printf("gemm: peak given by the caller: %.1f GFLOP/s, %.1f per CPU-second\n", peak,
               cpu_peak);
    }
    if (s.all) return bench_all(&s, peak, cpu_peak);
    return bench_row(&s, peak, cpu_peak) != 0;
}
