/* Prediction files, per-sample scoring and per-benchmark summaries (see score_report.h). */
#include "eval/score_report.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/bench_file.h"
#include "eval/score_choice.h"
#include "eval/score_figlet.h"
#include "eval/score_math.h"
#include "util/error.h"

#define MAX_OPTIONS 26


static json_t *first_field(json_t *row, const char *const *names)
{
    for (; *names; names++) {
        json_t *v = json_object_get(row, *names);
        if (v && !json_is_null(v)) return v;
    }
    return NULL;
}

/* Options of a choice row as an array of texts; returns the count, or -1 on a malformed
 * field (message set). */
static int row_options(json_t *row, char ***out)
{
    json_t *o = json_object_get(row, "options");
    *out = NULL;
    if (!o || json_is_null(o)) return 0;
    size_t n = json_is_object(o) ? json_object_size(o) : json_is_array(o) ? json_array_size(o) : 0;
    if (n == 0 || n > MAX_OPTIONS)
        return pf_fail("options: want an object {\"A\": ...} or a list of 1 to 26 texts");
    char **opts = xcalloc(n, sizeof *opts);
    for (size_t k = 0; k < n; k++) {
        char letter[2] = {(char)('A' + k), '\0'};
        json_t *v = json_is_object(o) ? json_object_get(o, letter) : json_array_get(o, k);
        opts[k] = v ? json_scalar_text(v) : NULL;
        if (!opts[k]) {
            for (size_t j = 0; j < k; j++) free(opts[j]);
            free(opts);
            return pf_fail("options: no text for %s", letter);
        }
    }
    *out = opts;
    return (int)n;
}

/* The gold answer as compared, for the task. */
static char *gold_for_task(BenchTask task, json_t *gold_value, char **options, int n_options)
{
    char *gold = json_scalar_text(gold_value);
    if (!gold) return NULL;
    if (task == BENCH_MATH && (strstr(gold, "####") || strstr(gold, "\\boxed"))) {
        char *final = math_extract_answer(gold);
        free(gold);
        return final;
    }
    if (task == BENCH_CHOICE) {
        int k = json_is_integer(gold_value) ? (int)json_integer_value(gold_value)
                                            : choice_gold_index(gold, (const char *const *)options,
                                                                n_options);
        free(gold);
        if (k < 0 || (n_options > 0 && k >= n_options) || k >= MAX_OPTIONS) return NULL;
        char letter[2] = {(char)('A' + k), '\0'};
        return xstrdup(letter);
    }
    return gold;
}

static void score_sample(BenchTask task, ScoredSample *s, char **options, int n_options)
{
    if (task == BENCH_MATH) {
        s->extracted = math_extract_answer(s->generation);
        s->correct = math_equal(s->extracted, s->gold);
        s->exact = s->correct;
    } else if (task == BENCH_CHOICE) {
        int k = choice_extract(s->generation, (const char *const *)options, n_options);
        if (k >= 0) {
            char letter[2] = {(char)('A' + k), '\0'};
            s->extracted = xstrdup(letter);
        }
        s->correct = s->extracted && strcmp(s->extracted, s->gold) == 0;
        s->exact = s->correct;
    } else {
        s->extracted = figlet_extract_answer(s->generation);
        FigletScore f = figlet_score(s->extracted, s->gold);
        s->correct = f.caseless;
        s->exact = f.exact;
        s->similarity = f.similarity;
    }
}

static char *file_stem(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 6 && strcmp(base + n - 6, ".jsonl") == 0) n -= 6;
    char *stem = xmalloc(n + 1);
    memcpy(stem, base, n);
    stem[n] = '\0';
    return stem;
}

static ScoredSample *push_sample(ScoredSet *set, size_t *cap)
{
    if (set->n_samples == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        set->samples = xrealloc(set->samples, *cap * sizeof *set->samples);
    }
    ScoredSample *s = &set->samples[set->n_samples++];
    memset(s, 0, sizeof *s);
    return s;
}

/* Scores the samples of one row; returns 0 or -1 with a message (no file/line). */
static int row_score(json_t *row, const char *stem, long line, ScoredSet *set, size_t *cap)
{
    static const char *const gen_names[] = {"generation", "output", "response", NULL};
    static const char *const gold_names[] = {"gold", "answer", NULL};
    static const char *const id_names[] = {"id", NULL};
    static const char *const prompt_names[] = {"prompt", NULL};
    static const char *const bench_names[] = {"benchmark", NULL};

    json_t *gen = first_field(row, gen_names);
    if (!json_is_string(gen) && !json_is_array(gen))
        return pf_fail("no generation (generation, output or response: text or list)");
    json_t *gold_value = first_field(row, gold_names);
    if (!gold_value) return pf_fail("no gold answer (gold or answer)");

    char **options = NULL;
    int n_options = row_options(row, &options);
    if (n_options < 0) return -1;
    char *gold = gold_for_task(set->task, gold_value, options, n_options);
    int rc = 0;
    if (!gold || !gold[0]) {
        rc = set->task == BENCH_CHOICE ? pf_fail("gold answer is not an option letter or text")
                                       : pf_fail("gold answer is empty or not text");
        goto done;
    }

    json_t *id = first_field(row, id_names), *prompt = first_field(row, prompt_names);
    json_t *bench = first_field(row, bench_names);
    char line_key[32];
    snprintf(line_key, sizeof line_key, "line %ld", line);
    char *group = id ? json_scalar_text(id) : prompt ? json_scalar_text(prompt) : NULL;
    if (!group) group = xstrdup(line_key);

    size_t n_gen = json_is_array(gen) ? json_array_size(gen) : 1;
    for (size_t g = 0; g < n_gen; g++) {
        json_t *text = json_is_array(gen) ? json_array_get(gen, g) : gen;
        if (!json_is_string(text)) {
            rc = pf_fail("generation[%zu] is not text", g);
            break;
        }
        ScoredSample *s = push_sample(set, cap);
        s->benchmark = bench && json_is_string(bench) ? xstrdup(json_string_value(bench))
                                                      : xstrdup(stem);
        s->group = xstrdup(group);
        s->prompt = prompt ? json_scalar_text(prompt) : NULL;
        s->generation = xstrdup(json_string_value(text));
        s->gold = xstrdup(gold);
        score_sample(set->task, s, options, n_options);
    }
    free(group);
done:
    free(gold);
    for (int k = 0; k < n_options; k++) free(options[k]);
    free(options);
    return rc;
}

int score_predictions_read(const char *path, ScoredSet *set)
{
    FILE *f = fopen(path, "rb");
    if (!f) return pf_fail("%s: cannot open", path);
    char *stem = file_stem(path), *line = NULL;
    size_t cap = set->n_samples, line_cap = 0;
    ssize_t len;
    long line_no = 0;
    int rc = 0;
    while ((len = getline(&line, &line_cap, f)) >= 0) {
        line_no++;
        if ((ssize_t)strspn(line, " \t\r\n") == len) continue;
        json_error_t err;
        json_t *row = json_loadb(line, (size_t)len, 0, &err);
        if (!json_is_object(row)) {
            rc = pf_fail("%s:%ld: %s", path, line_no, row ? "row is not a JSON object" : err.text);
            json_decref(row);
            break;
        }
        rc = row_score(row, stem, line_no, set, &cap);
        json_decref(row);
        if (rc != 0) {
            pf_fail_context("%s:%ld", path, line_no);
            break;
        }
    }
    free(line);
    free(stem);
    fclose(f);
    return rc;
}

void scored_set_free(ScoredSet *set)
{
    for (size_t i = 0; i < set->n_samples; i++) {
        ScoredSample *s = &set->samples[i];
        free(s->benchmark);
        free(s->group);
        free(s->prompt);
        free(s->generation);
        free(s->extracted);
        free(s->gold);
    }
    free(set->samples);
    set->samples = NULL;
    set->n_samples = 0;
}

double score_pass_at_k(int n, int c, int k)
{
    if (n - c < k) return 1.0;
    /* C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k / i) */
    double miss = 1.0;
    for (int i = n - c + 1; i <= n; i++) miss *= 1.0 - (double)k / (double)i;
    return 1.0 - miss;
}

/* ---- summaries ---- */

typedef struct Group {
    const char *key;
    int n, correct;
} Group;

typedef struct Summary {
    const char *name;
    size_t samples, correct, exact;
    double similarity_sum;
    Group *groups;
    size_t n_groups;
    int n_min, n_max; /* samples per prompt */
} Summary;

static void summarize(const ScoredSet *set, const char *name, Summary *sum)
{
    memset(sum, 0, sizeof *sum);
    sum->name = name;
    size_t cap = 0;
    for (size_t i = 0; i < set->n_samples; i++) {
        const ScoredSample *s = &set->samples[i];
        if (strcmp(s->benchmark, name) != 0) continue;
        sum->samples++;
        sum->correct += s->correct;
        sum->exact += s->exact;
        sum->similarity_sum += s->similarity;
        /* TODO: linear search per sample is O(samples x prompts); fine for benchmark sizes
         * (thousands) but a hash table is needed for million-sample files. */
        size_t g = 0;
        while (g < sum->n_groups && strcmp(sum->groups[g].key, s->group) != 0) g++;
        if (g == sum->n_groups) {
            if (sum->n_groups == cap) {
                cap = cap ? cap * 2 : 64;
                sum->groups = xrealloc(sum->groups, cap * sizeof *sum->groups);
            }
            sum->groups[sum->n_groups++] = (Group){s->group, 0, 0};
        }
        sum->groups[g].n++;
        sum->groups[g].correct += s->correct;
    }
    sum->n_min = sum->n_groups ? sum->groups[0].n : 0;
    for (size_t g = 0; g < sum->n_groups; g++) {
        if (sum->groups[g].n < sum->n_min) sum->n_min = sum->groups[g].n;
        if (sum->groups[g].n > sum->n_max) sum->n_max = sum->groups[g].n;
    }
}

/* Mean over prompts of the per-prompt pass@k (avg@n is k = 1). */
static double mean_pass_at_k(const Summary *sum, int k)
{
    double total = 0.0;
    for (size_t g = 0; g < sum->n_groups; g++)
        total += score_pass_at_k(sum->groups[g].n, sum->groups[g].correct, k);
    return sum->n_groups ? total / (double)sum->n_groups : 0.0;
}

/* The k reported: 1, 2, 4, ... up to and including the smallest samples-per-prompt count. */
static int next_k(int k, int n_min)
{
    if (k >= n_min) return 0;
    return k * 2 < n_min ? k * 2 : n_min;
}

static void write_summary(const Summary *sum, BenchTask task, StrBuf *md, json_t *list)
{
    double acc = sum->samples ? (double)sum->correct / (double)sum->samples : 0.0;
    json_t *b = json_pack("{s:s, s:s, s:I, s:I, s:f, s:i}", "name", sum->name, "task",
                          bench_task_name(task), "samples", (json_int_t)sum->samples, "prompts",
                          (json_int_t)sum->n_groups, "accuracy", acc, "samples_per_prompt",
                          sum->n_min);

    strbuf_printf(md, "\n### %s (%s)\n\n| samples | prompts | accuracy |", sum->name,
                  bench_task_name(task));
    StrBuf rule = {0}, values = {0};
    strbuf_printf(&rule, "| --- | --- | --- |");
    strbuf_printf(&values, "| %zu | %zu | %.4f |", sum->samples, sum->n_groups, acc);
    if (task == BENCH_FIGLET) {
        double exact = sum->samples ? (double)sum->exact / (double)sum->samples : 0.0;
        double sim = sum->samples ? sum->similarity_sum / (double)sum->samples : 0.0;
        strbuf_printf(md, " exact | mean Jaro-Winkler |");
        strbuf_printf(&rule, " --- | --- |");
        strbuf_printf(&values, " %.4f | %.4f |", exact, sim);
        json_object_set_new(b, "exact", json_real(exact));
        json_object_set_new(b, "mean_jaro_winkler", json_real(sim));
    }
    if (sum->n_min > 1) {
        double avg = mean_pass_at_k(sum, 1);
        strbuf_printf(md, " avg@%d |", sum->n_min);
        strbuf_printf(&rule, " --- |");
        strbuf_printf(&values, " %.4f |", avg);
        char key[32];
        snprintf(key, sizeof key, "avg@%d", sum->n_min);
        json_object_set_new(b, key, json_real(avg));
        json_t *pass = json_object();
        for (int k = 2; k > 0; k = next_k(k, sum->n_min)) {
            if (k > sum->n_min) break;
            double p = mean_pass_at_k(sum, k);
            strbuf_printf(md, " pass@%d |", k);
            strbuf_printf(&rule, " --- |");
            strbuf_printf(&values, " %.4f |", p);
            snprintf(key, sizeof key, "%d", k);
            json_object_set_new(pass, key, json_real(p));
        }
        json_object_set_new(b, "pass_at_k", pass);
    }
    strbuf_printf(md, "\n%s\n%s\n", rule.data, values.data);
    if (sum->n_min != sum->n_max)
        strbuf_printf(md, "\n(samples per prompt vary from %d to %d; avg and pass@k use each "
                          "prompt's own count)\n", sum->n_min, sum->n_max);
    strbuf_free(&rule);
    strbuf_free(&values);
    json_array_append_new(list, b);
}

void score_report_write(const ScoredSet *set, StrBuf *md, StrBuf *json)
{
    json_t *list = json_array();
    for (size_t i = 0; i < set->n_samples; i++) {
        const char *name = set->samples[i].benchmark;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++) seen = strcmp(set->samples[j].benchmark, name) == 0;
        if (seen) continue;
        Summary sum;
        summarize(set, name, &sum);
        write_summary(&sum, set->task, md, list);
        free(sum.groups);
    }
    json_t *doc = json_pack("{s:s, s:o}", "task", bench_task_name(set->task), "benchmarks", list);
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
    strbuf_puts(json, text);
    strbuf_puts(json, "\n");
    free(text);
    json_decref(doc);
}

void score_samples_write(const ScoredSet *set, StrBuf *out)
{
    for (size_t i = 0; i < set->n_samples; i++) {
        const ScoredSample *s = &set->samples[i];
        json_t *row = json_pack("{s:s, s:s?, s:s, s:s?, s:s, s:b}", "benchmark", s->benchmark,
                                "prompt", s->prompt, "generation", s->generation, "extracted",
                                s->extracted, "gold", s->gold, "verdict", s->correct);
        if (!row) continue; /* only when a text is not valid UTF-8, which jansson refuses */
        if (set->task == BENCH_FIGLET) {
            json_object_set_new(row, "exact", json_boolean(s->exact));
            json_object_set_new(row, "similarity", json_real(s->similarity));
        }
        char *text = json_dumps(row, JSON_COMPACT | JSON_REAL_PRECISION(6));
        strbuf_puts(out, text);
        strbuf_puts(out, "\n");
        free(text);
        json_decref(row);
    }
}
