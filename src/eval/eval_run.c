/* Benchmark rows -> prompts -> generations -> predictions JSONL -> scores (see eval_run.h). */
#include "eval/eval_run.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "data/sft.h"
#include "util/error.h"

const char *eval_default_suffix(BenchTask task)
{
    switch (task) {
    case BENCH_MATH:
        return "Please reason step by step, and put your final answer within \\boxed{}.";
    case BENCH_CHOICE:
        return "Answer with the letter of the correct option.";
    case BENCH_FIGLET: return NULL;
    }
    return NULL;
}

char *eval_row_question(BenchTask task, const BenchRow *row)
{
    StrBuf q = {0};
    strbuf_puts(&q, row->prompt);
    if (task == BENCH_CHOICE)
        for (int k = 0; k < row->n_options && k < 26; k++)
            strbuf_printf(&q, "\n%c. %s", 'A' + k, row->options[k]);
    return q.data;
}

static void push_unique(IntVec *v, int id)
{
    if (id < 0) return;
    for (size_t i = 0; i < v->len; i++)
        if (v->data[i] == id) return;
    intvec_push(v, id);
}

int eval_stop_ids(const ModelBundle *b, IntVec *out)
{
    push_unique(out, tokenizer_eos_id(b->tokenizer));
    int V = b->model.config.vocab_size;
    if (b->model.config.eos_token_id < V || V == 0) push_unique(out, b->model.config.eos_token_id);

    /* What the template puts after an assistant reply's text, as single tokens. */
    ChatMessage turns[2] = {{CHAT_USER, "q"}, {CHAT_ASSISTANT, "a"}};
    ChatRendering r = {0};
    if (chat_render(&b->chat, turns, 2, false, &r) != 0) return -1;
    int rc = 0;
    for (size_t i = 0; i < r.n && rc == 0; i++) {
        const ChatSegment *g = &r.segments[i];
        if (!g->assistant) continue;
        if (g->kind == SEG_TOKEN) {
            int id = b->encoder.token_id(b->encoder.ctx, g->text);
            if (id < 0) rc = pf_fail("end-of-turn token '%s' of the %s template is not in the "
                                     "vocabulary", g->text, chat_family_name(b->chat.family));
            push_unique(out, id);
        } else if (g->kind == SEG_EOS) {
            push_unique(out, b->encoder.eos_id);
        }
    }
    chat_rendering_free(&r);
    return rc;
}

char *eval_utf8_clean(const char *text, size_t len)
{
    StrBuf out = {0};
    strbuf_append(&out, "", 0);
    size_t i = 0;
    while (i < len) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)text + i,
                                              (utf8proc_ssize_t)(len - i), &cp);
        if (n > 0 && cp != 0) {
            strbuf_append(&out, text + i, (size_t)n);
            i += (size_t)n;
        } else {
            strbuf_puts(&out, "\xEF\xBF\xBD"); /* U+FFFD; NUL bytes too (JSON text is C text) */
            i++;
        }
    }
    return out.data;
}

/* The prompts of one benchmark, tokenized as training tokenizes a prompt. */
typedef struct BenchPrompts {
    long n;
    int **ids;      /* (n) arrays */
    int *lens;      /* (n) */
    char **texts;   /* (n) the rendered prompt text */
} BenchPrompts;

static void bench_prompts_free(BenchPrompts *p)
{
    for (long i = 0; i < p->n; i++) {
        free(p->ids[i]);
        free(p->texts[i]);
    }
    free(p->ids);
    free(p->lens);
    free(p->texts);
    memset(p, 0, sizeof *p);
}

static int bench_prompts_build(const ModelBundle *b, const BenchFile *f, long n, BenchTask task,
                               BenchPrompts *p)
{
    p->n = 0;
    p->ids = xcalloc((size_t)n + 1, sizeof *p->ids);
    p->lens = xcalloc((size_t)n + 1, sizeof *p->lens);
    p->texts = xcalloc((size_t)n + 1, sizeof *p->texts);
    for (long i = 0; i < n; i++) {
        char *question = eval_row_question(task, &f->rows[i]);
        ChatMessage msg = {CHAT_USER, question};
        IntVec ids = {0}, mask = {0};
        StrBuf text = {0};
        int rc = sft_encode_messages(&b->chat, &b->encoder, &msg, 1, true, &ids, &mask);
        if (rc == 0) rc = chat_generation_prompt(&b->chat, question, &text);
        free(question);
        intvec_free(&mask);
        if (rc == 0 && ids.len == 0) rc = pf_fail("the prompt encodes to no tokens");
        if (rc != 0) {
            intvec_free(&ids);
            strbuf_free(&text);
            return pf_fail_context("%s:%ld", f->path, f->rows[i].line);
        }
        p->ids[i] = ids.data;
        p->lens[i] = (int)ids.len;
        p->texts[i] = text.data;
        p->n = i + 1;
    }
    return 0;
}

/* One predictions row for bench row `row` and its n_samples outputs. */
static json_t *prediction_row(const BenchFile *f, const BenchRow *row, const char *prompt,
                              const GenOutput *outs, int n_samples, BenchTask task)
{
    json_t *j = json_object();
    json_object_set_new(j, "benchmark", json_string(f->name));
    char line_id[64];
    snprintf(line_id, sizeof line_id, "line %ld", row->line);
    json_object_set_new(j, "id", json_string(row->id ? row->id : line_id));
    char *clean = eval_utf8_clean(prompt, strlen(prompt));
    json_object_set_new(j, "prompt", json_string(clean));
    free(clean);
    json_t *gens = json_array(), *stops = json_array(), *counts = json_array();
    for (int s = 0; s < n_samples; s++) {
        const char *t = outs[s].text ? outs[s].text : "";
        clean = eval_utf8_clean(t, strlen(t));
        json_array_append_new(gens, json_string(clean));
        free(clean);
        json_array_append_new(stops, json_string(gen_stop_name(outs[s].stop)));
        json_array_append_new(counts, json_integer(outs[s].n_tokens));
    }
    json_object_set_new(j, "generation", gens);
    json_object_set_new(j, "gold", json_string(row->gold));
    if (task == BENCH_CHOICE && row->n_options > 0) {
        json_t *opts = json_array();
        for (int k = 0; k < row->n_options; k++)
            json_array_append_new(opts, json_string(row->options[k]));
        json_object_set_new(j, "options", opts);
    }
    json_object_set_new(j, "stop", stops);
    json_object_set_new(j, "new_tokens", counts);
    return j;
}

/* Generates for one benchmark file and appends its rows to f_out. */
static int run_bench(ModelBundle *b, const BenchFile *f, const EvalOptions *o,
                     const GenOptions *gen, FILE *f_out, const char *out_path)
{
    long n = (long)f->n_rows;
    if (o->limit > 0 && o->limit < n) n = o->limit;
    BenchPrompts p = {0};
    if (bench_prompts_build(b, f, n, o->task, &p) != 0) {
        bench_prompts_free(&p);
        return -1;
    }
    if (o->on_bench) o->on_bench(o->on_bench_ctx, f->name, n, gen->n_samples);

    long total = n * gen->n_samples;
    GenOutput *outs = xcalloc((size_t)total + 1, sizeof *outs);
    int rc = generate_run(&b->model, (const int *const *)p.ids, p.lens, (int)n, gen, outs);
    if (rc != 0) pf_fail_context("%s", f->path);
    for (long i = 0; i < n && rc == 0; i++) {
        json_t *row = prediction_row(f, &f->rows[i], p.texts[i], outs + i * gen->n_samples,
                                     gen->n_samples, o->task);
        char *line = json_dumps(row, JSON_COMPACT);
        json_decref(row);
        if (!line || fputs(line, f_out) < 0 || fputc('\n', f_out) < 0)
            rc = pf_fail("%s: cannot write: %s", out_path, strerror(errno));
        free(line);
    }
    gen_outputs_free(outs, rc == 0 ? total : 0);
    free(outs);
    bench_prompts_free(&p);
    return rc;
}

int eval_run(ModelBundle *b, const char *const *bench_paths, int n_bench, const EvalOptions *o,
             const char *predictions_path, ScoredSet *set)
{
    if (n_bench <= 0) return pf_fail("eval: no benchmark file");
    IntVec stops = {0};
    if (eval_stop_ids(b, &stops) != 0) {
        intvec_free(&stops);
        return -1;
    }
    GenOptions gen = o->gen;
    gen.stop_ids = stops.data;
    gen.n_stop_ids = (int)stops.len;
    gen.tokenizer = b->tokenizer;

    FILE *f_out = fopen(predictions_path, "wb");
    if (!f_out) {
        intvec_free(&stops);
        return pf_fail("%s: cannot write: %s", predictions_path, strerror(errno));
    }
    int rc = 0;
    for (int i = 0; i < n_bench && rc == 0; i++) {
        BenchFile f = {0};
        rc = bench_file_read(bench_paths[i], &f);
        if (rc == 0 && f.n_rows == 0) rc = pf_fail("%s: no rows", bench_paths[i]);
        if (rc == 0) rc = run_bench(b, &f, o, &gen, f_out, predictions_path);
        bench_file_free(&f);
    }
    if (fclose(f_out) != 0 && rc == 0) rc = pf_fail("%s: write failed", predictions_path);
    intvec_free(&stops);
    if (rc != 0) return -1;

    set->task = o->task;
    return score_predictions_read(predictions_path, set);
}
