/* `priorft generate`: samples text from a model with the KV-cache inference path, streaming the
 * continuation of a prompt to stdout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "model/infer.h"
#include "model/load.h"
#include "tokenizer/tokenizer.h"
#include "train/bundle.h"
#include "util/error.h"
#include "util/log.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: priorft generate --model PATH [--tokenizer PATH] [--prompt TEXT]\n"
            "                        [--max-new-tokens N] [--temperature T] [--top-p P]\n"
            "                        [--seed S]\n"
            "Continues the prompt (after BOS) and prints the text. --temperature 0 is greedy\n"
            "(default 1.0); --top-p 1 disables nucleus sampling (default 0.9); default 256 new\n"
            "tokens. Without --tokenizer: the model folder or GGUF file itself, else\n"
            "tokenizer.bin or a single tok*.bin beside a llama2.c checkpoint.\n");
}

typedef struct GenArgs {
    const char *model, *tokenizer, *prompt;
    long max_new, seed;
    double temperature, top_p;
} GenArgs;

static int parse_args(int argc, char **argv, GenArgs *g)
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
        const char *val = argv[++i];
        int rc = 0;
        if (strcmp(opt, "--model") == 0) g->model = val;
        else if (strcmp(opt, "--tokenizer") == 0) g->tokenizer = val;
        else if (strcmp(opt, "--prompt") == 0) g->prompt = val;
        else if (strcmp(opt, "--max-new-tokens") == 0)
            rc = cli_parse_int(opt, val, 0, 1 << 20, &g->max_new);
        else if (strcmp(opt, "--seed") == 0) rc = cli_parse_int(opt, val, 0, 1L << 62, &g->seed);
        else if (strcmp(opt, "--temperature") == 0)
            rc = cli_parse_float(opt, val, 0.0, 100.0, &g->temperature);
        else if (strcmp(opt, "--top-p") == 0) rc = cli_parse_float(opt, val, 0.0, 1.0, &g->top_p);
        else {
            cli_error("unknown option '%s' (see --help)", opt);
            return -1;
        }
        if (rc != 0) return -1;
    }
    if (!g->model) {
        cli_error("--model is required (see --help)");
        return -1;
    }
    return 0;
}

/* Decodes ids and prints what was not printed yet (*printed bytes so far). */
static int print_new_text(const Tokenizer *tok, const IntVec *ids, size_t *printed)
{
    StrBuf text = {0};
    if (tokenizer_decode(tok, ids->data, ids->len, true, &text) != 0) return -1;
    if (text.len > *printed) {
        fwrite(text.data + *printed, 1, text.len - *printed, stdout);
        fflush(stdout);
        *printed = text.len;
    }
    strbuf_free(&text);
    return 0;
}

static int generate(const Model *m, const Tokenizer *tok, const GenArgs *g)
{
    const ModelConfig *c = &m->config;
    int bos = tokenizer_bos_id(tok) >= 0 ? tokenizer_bos_id(tok) : c->bos_token_id;
    int eos = tokenizer_eos_id(tok) >= 0 ? tokenizer_eos_id(tok) : c->eos_token_id;
    IntVec ids = {0};
    if (bos >= 0) intvec_push(&ids, bos);
    size_t n_fixed = ids.len;
    int bad = tokenizer_encode(tok, g->prompt, strlen(g->prompt), false, &ids);
    if (bad == 0 && ids.len == 0)
        bad = pf_fail("the prompt is empty and the tokenizer has no BOS token");
    long max_len = (long)ids.len + g->max_new;
    if (max_len > c->max_seq_len) max_len = c->max_seq_len;
    if (bad == 0 && (long)ids.len > max_len)
        bad = pf_fail("the prompt has %zu tokens, more than the model's %d positions", ids.len,
                      c->max_seq_len);
    KVCache *cache = NULL;
    if (bad == 0 && kv_cache_init(&cache, c, 1, (int)max_len) != 0) bad = -1;
    if (bad != 0) {
        intvec_free(&ids);
        return -1;
    }
    float *logits = xalloc_floats((size_t)c->vocab_size);
    Rng rng;
    rng_seed(&rng, (uint64_t)g->seed);
    IntVec shown = {0}; /* prompt + generated ids without BOS, for decoding */
    if (ids.len > n_fixed) intvec_append(&shown, ids.data + n_fixed, ids.len - n_fixed);
    size_t printed = 0;
    int rc = print_new_text(tok, &shown, &printed);
    double t0 = time_now();
    long generated = 0;
    for (int pos = 0; rc == 0 && pos < max_len; pos++) {
        int token = ids.data[pos];
        if (model_step(m, cache, &token, &pos, 1, logits) != 0) {
            rc = -1;
            break;
        }
        if (pos + 1 < (int)ids.len) continue; /* still reading the prompt */
        if (pos + 1 >= max_len) break;
        int next = sample_logits(logits, c->vocab_size, (float)g->temperature, (float)g->top_p,
                                 &rng);
        if (next == eos || next == bos) break;
        intvec_push(&ids, next);
        intvec_push(&shown, next);
        generated++;
        rc = print_new_text(tok, &shown, &printed);
    }
    printf("\n");
    double t = time_now() - t0;
    log_info("generated %ld tokens; %zu positions (prompt included) in %.2f s, %.1f per second",
             generated, ids.len, t, t > 0 ? (double)ids.len / t : 0.0);
    free(logits);
    kv_cache_free(cache);
    intvec_free(&ids);
    intvec_free(&shown);
    return rc;
}

int cmd_generate(int argc, char **argv)
{
    GenArgs g = {.prompt = "", .max_new = 256, .seed = 0, .temperature = 1.0, .top_p = 0.9};
    int prc = parse_args(argc, argv, &g);
    if (prc != 0) return prc > 0 ? 0 : 1;

    /* The tokenizer as given, else found from the model as train finds it (a folder's
     * tokenizer.json, the GGUF itself, tokenizer.bin or a single tok*.bin beside a .bin). */
    char *tok_path = g.tokenizer ? xstrdup(g.tokenizer) : bundle_find_tokenizer(g.model);
    if (!tok_path) return cli_error("%s", pf_error());
    Model m;
    Tokenizer *tok = NULL;
    if (model_load(g.model, &m) != 0) {
        free(tok_path);
        return cli_error("%s", pf_error());
    }
    if (tokenizer_load(tok_path, &tok) != 0) {
        free(tok_path);
        model_free(&m);
        return cli_error("%s", pf_error());
    }
    int rc = 0;
    if (tokenizer_vocab_size(tok) > m.config.vocab_size)
        rc = cli_error("%s has %d tokens but the model only %d", tok_path,
                       tokenizer_vocab_size(tok), m.config.vocab_size);
    else if (generate(&m, tok, &g) != 0)
        rc = cli_error("%s", pf_error());
    tokenizer_free(tok);
    model_free(&m);
    free(tok_path);
    return rc;
}
