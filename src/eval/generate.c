/* Batched, continuously refilled generation with the key/value cache (see generate.h). */
#include "eval/generate.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "model/infer.h"
#include "util/buf.h"
#include "util/error.h"

void gen_options_default(GenOptions *o)
{
    memset(o, 0, sizeof *o);
    o->batch = 1;
    o->n_samples = 1;
    o->max_new_tokens = 256;
}

const char *gen_stop_name(GenStop stop)
{
    switch (stop) {
    case GEN_STOP_TOKEN: return "token";
    case GEN_STOP_STRING: return "string";
    case GEN_STOP_LENGTH: return "length";
    case GEN_STOP_CONTEXT: return "context";
    }
    return "?";
}

static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void gen_sample_rng(Rng *r, uint64_t seed, long prompt, int sample)
{
    uint64_t s = mix64(seed);
    s = mix64(s ^ (uint64_t)prompt);
    s = mix64(s ^ ((uint64_t)(uint32_t)sample << 1));
    rng_seed(r, s);
}

/* ------------------------------------------------------------------------------------------ */
/* Sampling */

typedef struct ProbId {
    float p;
    int id;
} ProbId;

/* a ranks below b: less likely, or as likely with a higher id. */
static bool ranks_below(ProbId a, ProbId b) { return a.p < b.p || (a.p == b.p && a.id > b.id); }

static int rank_desc(const void *pa, const void *pb)
{
    ProbId a = *(const ProbId *)pa, b = *(const ProbId *)pb;
    return ranks_below(a, b) ? 1 : (ranks_below(b, a) ? -1 : 0);
}

/* Restores the min-heap (lowest-ranked at the root) from index i down. */
static void heap_sift_down(ProbId *h, int n, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, low = i;
        if (l < n && ranks_below(h[l], h[low])) low = l;
        if (r < n && ranks_below(h[r], h[low])) low = r;
        if (low == i) return;
        ProbId t = h[i];
        h[i] = h[low];
        h[low] = t;
        i = low;
    }
}

static void heap_sift_up(ProbId *h, int i)
{
    while (i > 0) {
        int parent = (i - 1) / 2;
        if (!ranks_below(h[i], h[parent])) return;
        ProbId t = h[i];
        h[i] = h[parent];
        h[parent] = t;
        i = parent;
    }
}

/* The k highest-ranked of probs (V) into cand (k), in O(V log k). */
static int top_k_candidates(const float *probs, int V, int k, ProbId *cand)
{
    int n = 0;
    for (int v = 0; v < V; v++) {
        ProbId x = {probs[v], v};
        if (n < k) {
            cand[n] = x;
            heap_sift_up(cand, n++);
        } else if (ranks_below(cand[0], x)) {
            cand[0] = x;
            heap_sift_down(cand, n, 0);
        }
    }
    return n;
}

/* gen_sample_token with caller-owned candidate scratch cand (V entries), so that the decoding
 * loop allocates nothing per token. */
static int sample_token(float *logits, int V, float temperature, float top_p, int top_k,
                        Rng *rng, ProbId *cand)
{
    int best = 0;
    for (int v = 1; v < V; v++)
        if (logits[v] > logits[best]) best = v;
    if (!(temperature > 0.0f)) return best;

    float mx = logits[best];
    double sum = 0.0;
    for (int v = 0; v < V; v++) {
        logits[v] = expf((logits[v] - mx) / temperature);
        sum += logits[v];
    }
    float inv = (float)(1.0 / sum);
    for (int v = 0; v < V; v++) logits[v] *= inv;
    float u = rng_uniform(rng);

    bool use_k = top_k > 0 && top_k < V, use_p = top_p > 0.0f && top_p < 1.0f;
    if (!use_k && !use_p) {
        double cum = 0.0;
        for (int v = 0; v < V; v++) {
            cum += logits[v];
            if (u < cum) return v;
        }
        return best; /* rounding left u above the total */
    }

    int n = 0;
    if (use_k) {
        n = top_k_candidates(logits, V, top_k, cand);
    } else {
        /* Outside the nucleus for sure: p below (1 - top_p) / (V - 1), since then the whole
         * tail from this token on weighs less than 1 - top_p. Sort only the rest. */
        float cutoff = (1.0f - top_p) / (float)(V > 1 ? V - 1 : 1);
        for (int v = 0; v < V; v++)
            if (logits[v] >= cutoff || v == best) cand[n++] = (ProbId){logits[v], v};
    }
    qsort(cand, (size_t)n, sizeof *cand, rank_desc);

    double total = 0.0;
    for (int i = 0; i < n; i++) total += cand[i].p;
    int last = n - 1;
    double kept = total;
    if (use_p) {
        double cum = 0.0;
        for (int i = 0; i < n; i++) {
            cum += cand[i].p;
            if (cum >= (double)top_p * total) {
                last = i;
                kept = cum;
                break;
            }
        }
    }
    double r = (double)u * kept, cum = 0.0;
    int chosen = cand[last].id;
    for (int i = 0; i <= last; i++) {
        cum += cand[i].p;
        if (r < cum) {
            chosen = cand[i].id;
            break;
        }
    }
    return chosen;
}

int gen_sample_token(float *logits, int V, float temperature, float top_p, int top_k, Rng *rng)
{
    if (!(temperature > 0.0f)) return sample_token(logits, V, temperature, top_p, top_k, rng,
                                                   NULL);
    ProbId *cand = xmalloc(sizeof(ProbId) * (size_t)V);
    int tok = sample_token(logits, V, temperature, top_p, top_k, rng, cand);
    free(cand);
    return tok;
}

/* ------------------------------------------------------------------------------------------ */
/* The decoding loop */

typedef struct Slot {
    long seq;        /* prompt * n_samples + sample; -1 when the slot is free */
    int prompt_len;
    const int *prompt;
    int pos;         /* position of the token fed at the next step */
    int token;       /* the token fed at the next step */
    Rng rng;
    IntVec gen;      /* generated ids so far */
} Slot;

typedef struct GenRun {
    const Model *m;
    const GenOptions *o;
    const int *const *prompts;
    const int *prompt_lens;
    long total;      /* n_prompts * n_samples */
    long next;       /* next sequence to start */
    long done;
    long tokens;
    int max_context;
    GenOutput *out;
    StrBuf text;     /* scratch for decoding */
    ProbId *cand;    /* (V) sampling scratch */
} GenRun;

/* Decodes ids (skipping special tokens) into run->text; returns 0 or -1. */
static int decode_into(GenRun *run, const int *ids, int n)
{
    run->text.len = 0;
    strbuf_append(&run->text, "", 0);
    return tokenizer_decode(run->o->tokenizer, ids, (size_t)n, true, &run->text);
}

/* Offset of the first stop string in text (len), or -1. */
static long first_stop(const GenOptions *o, const char *text, size_t len)
{
    long first = -1;
    for (int i = 0; i < o->n_stop_strings; i++) {
        size_t sl = strlen(o->stop_strings[i]);
        if (sl == 0) continue;
        const char *hit = memmem(text, len, o->stop_strings[i], sl);
        if (hit && (first < 0 || hit - text < first)) first = hit - text;
    }
    return first;
}

static int finish(GenRun *run, Slot *s, GenStop stop)
{
    GenOutput *g = &run->out[s->seq];
    g->stop = stop;
    g->n_tokens = (int)s->gen.len;
    g->tokens = xmalloc(sizeof(int) * (s->gen.len ? s->gen.len : 1));
    if (s->gen.len) memcpy(g->tokens, s->gen.data, sizeof(int) * s->gen.len);
    if (run->o->tokenizer) {
        if (decode_into(run, s->gen.data, (int)s->gen.len) != 0) return -1;
        long cut = first_stop(run->o, run->text.data, run->text.len);
        size_t len = cut >= 0 ? (size_t)cut : run->text.len;
        g->text = xmalloc(len + 1);
        memcpy(g->text, run->text.data, len);
        g->text[len] = '\0';
    }
    run->tokens += (long)s->gen.len;
    run->done++;
    s->seq = -1;
    s->gen.len = 0;
    if (run->o->progress) run->o->progress(run->o->progress_ctx, run->done, run->total,
                                           run->tokens);
    return 0;
}

/* Puts the next sequence that needs decoding into slot s; finishes the ones that need none.
 * Returns 1 when the slot was filled, 0 when nothing is left, -1 on error. */
static int slot_fill(GenRun *run, Slot *s)
{
    while (run->next < run->total) {
        long seq = run->next++;
        long prompt = seq / run->o->n_samples;
        s->seq = seq;
        s->prompt = run->prompts[prompt];
        s->prompt_len = run->prompt_lens[prompt];
        s->gen.len = 0;
        if (s->prompt_len >= run->max_context) {
            if (finish(run, s, GEN_STOP_CONTEXT) != 0) return -1;
            continue;
        }
        if (run->o->max_new_tokens == 0) {
            if (finish(run, s, GEN_STOP_LENGTH) != 0) return -1;
            continue;
        }
        gen_sample_rng(&s->rng, run->o->seed, prompt, (int)(seq % run->o->n_samples));
        s->pos = s->prompt_len - 1; /* the prompt goes in at once (slot_prefill) */
        s->token = -1;
        return 1;
    }
    s->seq = -1;
    return 0;
}

/* Takes the logits of the token just run at s->pos for slot s: samples, checks the stops and
 * finishes or queues the sampled token. */
static int slot_advance(GenRun *run, Slot *s, float *logits)
{
    const GenOptions *o = run->o;
    int tok = sample_token(logits, run->m->config.vocab_size, o->temperature, o->top_p,
                           o->top_k, &s->rng, run->cand);
    for (int i = 0; i < o->n_stop_ids; i++)
        if (tok == o->stop_ids[i]) return finish(run, s, GEN_STOP_TOKEN);
    intvec_push(&s->gen, tok);
    if (o->n_stop_strings > 0 && o->tokenizer) {
        if (decode_into(run, s->gen.data, (int)s->gen.len) != 0) return -1;
        if (first_stop(o, run->text.data, run->text.len) >= 0)
            return finish(run, s, GEN_STOP_STRING);
    }
    if ((int)s->gen.len >= o->max_new_tokens) return finish(run, s, GEN_STOP_LENGTH);
    if (s->prompt_len + (int)s->gen.len >= run->max_context)
        return finish(run, s, GEN_STOP_CONTEXT);
    s->pos++;
    s->token = tok;
    return 0;
}

static int check_inputs(const Model *m, const int *const *prompts, const int *prompt_lens,
                        int n_prompts, const GenOptions *o)
{
    if (n_prompts < 0) return pf_fail("generate: %d prompts", n_prompts);
    if (o->batch < 1 || o->batch > 4096) return pf_fail("generate: batch %d", o->batch);
    if (o->n_samples < 1) return pf_fail("generate: %d samples per prompt", o->n_samples);
    if (o->max_new_tokens < 0 || o->max_context < 0)
        return pf_fail("generate: negative max_new_tokens or max_context");
    if (o->n_stop_strings > 0 && !o->tokenizer)
        return pf_fail("generate: stop strings need a tokenizer");
    if (!(o->temperature >= 0.0f) || isinf(o->temperature) || o->top_k < 0 || !(o->top_p >= 0))
        return pf_fail("generate: bad temperature/top-p/top-k");
    int V = m->config.vocab_size;
    for (int i = 0; i < n_prompts; i++) {
        if (prompt_lens[i] < 1) return pf_fail("generate: prompt %d is empty", i);
        for (int t = 0; t < prompt_lens[i]; t++)
            if (prompts[i][t] < 0 || prompts[i][t] >= V)
                return pf_fail("generate: prompt %d, position %d: id %d is outside the "
                               "vocabulary (%d)", i, t, prompts[i][t], V);
    }
    return 0;
}

/* Cache positions needed: the longest prompt plus new tokens, within max_context. */
static int cache_positions(const int *prompt_lens, int n_prompts, int max_new, int max_context)
{
    long need = 1;
    for (int i = 0; i < n_prompts; i++) {
        long n = (long)prompt_lens[i] + max_new;
        if (prompt_lens[i] < max_context && n > need) need = n;
    }
    return need < max_context ? (int)need : max_context;
}

/* Reads the whole prompt of the slot just filled (cache sequence i) in one pass and samples its
 * first token from the last prompt position's logits (V). */
static int slot_prefill(GenRun *run, Slot *s, int i, KVCache *cache, float *logits)
{
    if (model_prefill(run->m, cache, i, s->prompt, 0, s->prompt_len, logits) != 0) return -1;
    return slot_advance(run, s, logits);
}

static int decode_loop(GenRun *run, Slot *slots, int batch, KVCache *cache, float *logits)
{
    int V = run->m->config.vocab_size;
    int *tokens = xmalloc(sizeof(int) * (size_t)batch);
    int *positions = xmalloc(sizeof(int) * (size_t)batch);
    int rc = 0;
    for (;;) {
        int n = 0;
        for (int i = 0; i < batch && rc == 0; i++) {
            /* A prompt whose first sampled token already ends it frees the slot again. */
            while (rc == 0 && slots[i].seq < 0 && run->next < run->total) {
                int filled = slot_fill(run, &slots[i]);
                if (filled < 0) rc = -1;
                else if (filled == 0) break;
                else rc = slot_prefill(run, &slots[i], i, cache, logits + (size_t)i * V);
            }
            if (slots[i].seq >= 0) n = i + 1;
        }
        if (rc != 0 || n == 0) break;
        /* Free slots below the highest busy one step a dummy token at position 0.
         * TODO: the cache has no way to move a sequence to another slot, so once the queue is
         * empty a free slot below a busy one still costs its row of every projection. */
        for (int i = 0; i < n; i++) {
            bool busy = slots[i].seq >= 0;
            tokens[i] = busy ? slots[i].token : 0;
            positions[i] = busy ? slots[i].pos : 0;
        }
        if (model_step(run->m, cache, tokens, positions, n, logits) != 0) {
            rc = -1;
            break;
        }
        for (int i = 0; i < n && rc == 0; i++)
            if (slots[i].seq >= 0) rc = slot_advance(run, &slots[i], logits + (size_t)i * V);
    }
    free(tokens);
    free(positions);
    return rc;
}

int generate_run(const Model *m, const int *const *prompts, const int *prompt_lens,
                 int n_prompts, const GenOptions *opts, GenOutput *out)
{
    if (check_inputs(m, prompts, prompt_lens, n_prompts, opts) != 0) return -1;
    long total = (long)n_prompts * opts->n_samples;
    memset(out, 0, sizeof *out * (size_t)total);
    if (total == 0) return 0;

    int max_context = m->config.max_seq_len;
    if (opts->max_context > 0 && (max_context <= 0 || opts->max_context < max_context))
        max_context = opts->max_context;
    if (max_context <= 0) return pf_fail("generate: the model declares no context length; set "
                                         "max_context");
    GenRun run = {.m = m, .o = opts, .prompts = prompts, .prompt_lens = prompt_lens,
                  .total = total, .max_context = max_context, .out = out};
    int batch = opts->batch < total ? opts->batch : (int)total;
    int positions = cache_positions(prompt_lens, n_prompts, opts->max_new_tokens, max_context);

    KVCache *cache = NULL;
    if (kv_cache_init(&cache, &m->config, batch, positions) != 0) return -1;
    float *logits = xalloc_floats((size_t)batch * m->config.vocab_size); // (batch, V)
    Slot *slots = xcalloc((size_t)batch, sizeof *slots);
    run.cand = xmalloc(sizeof(ProbId) * (size_t)m->config.vocab_size);
    for (int i = 0; i < batch; i++) slots[i].seq = -1;

    int rc = decode_loop(&run, slots, batch, cache, logits);

    for (int i = 0; i < batch; i++) intvec_free(&slots[i].gen);
    free(slots);
    free(run.cand);
    free(logits);
    kv_cache_free(cache);
    strbuf_free(&run.text);
    if (rc != 0) {
        gen_outputs_free(out, total);
        memset(out, 0, sizeof *out * (size_t)total);
    }
    return rc;
}

void gen_outputs_free(GenOutput *out, long n)
{
    for (long i = 0; i < n; i++) {
        free(out[i].tokens);
        free(out[i].text);
        out[i].tokens = NULL;
        out[i].text = NULL;
    }
}
