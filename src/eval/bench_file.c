/* Reader of benchmark JSONL files (see bench_file.h). Field names it knows, by benchmark:
 *   question: problem | question | Question, with body | Body | context put before it;
 *   gold (math, figlet): final_answer (list or text) | answer | Answer (gsm8k's "#### N" line
 *     is cut out; numbers are printed) | the last \boxed{} of solution (minerva_math);
 *   options (choice): options {"A": text, ...} | options or choices [text, ...], with the
 *     gold letter in answer_idx, or answer as an index, a letter or an option's text. */
#include "eval/bench_file.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/score_text.h"
#include "util/buf.h"
#include "util/error.h"

#define MAX_OPTIONS 26

const char *bench_task_name(BenchTask task)
{
    switch (task) {
    case BENCH_MATH: return "math";
    case BENCH_CHOICE: return "choice";
    case BENCH_FIGLET: return "figlet";
    }
    return "?";
}

int bench_task_parse(const char *name, BenchTask *task)
{
    for (int t = BENCH_MATH; t <= BENCH_FIGLET; t++) {
        if (strcmp(name, bench_task_name((BenchTask)t)) == 0) {
            *task = (BenchTask)t;
            return 0;
        }
    }
    return -1;
}

/* The first of `names` that the object has as a string, or NULL. */
static const char *string_field(json_t *obj, const char *const *names)
{
    for (; *names; names++) {
        json_t *v = json_object_get(obj, *names);
        if (json_is_string(v)) return json_string_value(v);
    }
    return NULL;
}

/* A JSON scalar as text: strings as they are, integers and reals printed ("27.0" -> "27"). */
char *json_scalar_text(json_t *v)
{
    char number[64];
    if (json_is_string(v)) return xstrdup(json_string_value(v));
    if (json_is_integer(v)) {
        snprintf(number, sizeof number, "%lld", (long long)json_integer_value(v));
        return xstrdup(number);
    }
    if (json_is_real(v)) {
        snprintf(number, sizeof number, "%.15g", json_real_value(v));
        return xstrdup(number);
    }
    return NULL;
}

/* "a, b, c" from a list of scalars; NULL if an element is not a scalar or the list is empty. */
static char *joined_list(json_t *list)
{
    StrBuf b = {0};
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) {
        char *t = json_scalar_text(v);
        if (!t) {
            strbuf_free(&b);
            return NULL;
        }
        strbuf_printf(&b, "%s%s", i ? ", " : "", t);
        free(t);
    }
    return b.data;
}

/* The keys of a row, for error messages: "{a, b, c}". */
static void describe_keys(json_t *obj, char *out, size_t size)
{
    const char *key;
    json_t *v;
    size_t used = (size_t)snprintf(out, size, "{");
    json_object_foreach(obj, key, v) {
        if (used >= size) break;
        used += (size_t)snprintf(out + used, size - used, "%s%s", used > 1 ? ", " : "", key);
    }
    if (used < size) snprintf(out + used, size - used, "}");
}

static char *row_prompt(json_t *obj)
{
    static const char *const question[] = {"problem", "question", "Question", NULL};
    static const char *const body[] = {"body", "Body", "context", NULL};
    const char *q = string_field(obj, question);
    if (!q) return NULL;
    const char *b = string_field(obj, body);
    StrBuf s = {0};
    if (b && b[0]) strbuf_printf(&s, "%s ", b);
    strbuf_puts(&s, q);
    return s.data;
}

static char *row_id(json_t *obj)
{
    static const char *const names[] = {"id", "idx", "realidx", "unique_id", "ID", NULL};
    for (const char *const *n = names; *n; n++) {
        json_t *v = json_object_get(obj, *n);
        char *t = v ? json_scalar_text(v) : NULL;
        if (t) return t;
    }
    return NULL;
}

/* Math or figlet gold answer. */
static char *row_gold_text(json_t *obj)
{
    json_t *final = json_object_get(obj, "final_answer");
    if (json_is_array(final) && json_array_size(final) > 0) return joined_list(final);
    if (json_is_string(final)) return xstrdup(json_string_value(final));

    json_t *answer = json_object_get(obj, "answer");
    if (!answer) answer = json_object_get(obj, "Answer");
    char *text = answer ? json_scalar_text(answer) : NULL;
    if (text) {
        const char *hashes = strstr(text, "####");
        while (hashes && strstr(hashes + 4, "####")) hashes = strstr(hashes + 4, "####");
        if (hashes) {
            char *cut = text_trimmed(hashes + 4, 0, strlen(hashes + 4));
            free(text);
            text = cut;
        }
        return text;
    }
    static const char *const solution[] = {"solution", NULL};
    const char *s = string_field(obj, solution);
    return s ? text_last_boxed(s) : NULL;
}

/* Fills row->options and row->gold for a multiple-choice row. Returns 0, or -1 with a message
 * (without file and line, which the caller adds). */
static int row_choice(json_t *obj, BenchRow *row)
{
    json_t *options = json_object_get(obj, "options");
    json_t *choices = json_object_get(obj, "choices");
    if (json_is_array(options)) choices = options;
    if (json_is_object(options)) {
        size_t n = json_object_size(options);
        if (n == 0 || n > MAX_OPTIONS) return pf_fail("options: %zu entries (want 1 to 26)", n);
        row->options = xcalloc(n, sizeof *row->options);
        row->n_options = (int)n;
        for (size_t k = 0; k < n; k++) {
            char letter[2] = {(char)('A' + k), '\0'};
            json_t *v = json_object_get(options, letter);
            if (!json_is_string(v))
                return pf_fail("options: no text for letter %s (keys must be A, B, ...)",
                               letter);
            row->options[k] = xstrdup(json_string_value(v));
        }
    } else if (json_is_array(choices)) {
        size_t n = json_array_size(choices);
        if (n == 0 || n > MAX_OPTIONS) return pf_fail("choices: %zu entries (want 1 to 26)", n);
        row->options = xcalloc(n, sizeof *row->options);
        row->n_options = (int)n;
        for (size_t k = 0; k < n; k++) {
            char *t = json_scalar_text(json_array_get(choices, k));
            if (!t) return pf_fail("choices[%zu]: not text", k);
            row->options[k] = t;
        }
    } else {
        return pf_fail("no options (object) or choices (list)");
    }

    json_t *idx = json_object_get(obj, "answer_idx");
    json_t *answer = json_object_get(obj, "answer");
    int letter = -1;
    if (json_is_string(idx) && strlen(json_string_value(idx)) == 1) {
        letter = toupper((unsigned char)json_string_value(idx)[0]) - 'A';
    } else if (json_is_integer(answer)) {
        long long v = json_integer_value(answer);
        letter = v >= 0 && v < row->n_options ? (int)v : -1;
    } else if (json_is_string(answer)) {
        const char *a = json_string_value(answer);
        if (strlen(a) == 1 && isalpha((unsigned char)a[0])) letter = toupper(a[0]) - 'A';
        if (letter >= row->n_options) letter = -1; /* "q" may be an option's text */
        for (int k = 0; k < row->n_options && letter < 0; k++)
            if (strcmp(a, row->options[k]) == 0) letter = k;
    }
    if (letter < 0 || letter >= row->n_options)
        return pf_fail("gold answer (answer_idx or answer) is not one of the %d options",
                       row->n_options);
    char gold[2] = {(char)('A' + letter), '\0'};
    row->gold = xstrdup(gold);
    return 0;
}

static void row_free(BenchRow *row)
{
    free(row->id);
    free(row->prompt);
    free(row->gold);
    for (int k = 0; k < row->n_options; k++) free(row->options[k]);
    free(row->options);
    memset(row, 0, sizeof *row);
}

/* Maps one parsed row; on failure the message names the file, line and keys. */
static int row_read(json_t *obj, BenchTask task, const char *path, long line, BenchRow *row)
{
    char keys[512];
    describe_keys(obj, keys, sizeof keys);
    row->line = line;
    row->id = row_id(obj);
    row->prompt = row_prompt(obj);
    if (!row->prompt)
        return pf_fail("%s:%ld: no question (problem, question or Question) among keys %s",
                       path, line, keys);
    if (task == BENCH_CHOICE) {
        if (row_choice(obj, row) != 0) return pf_fail_context("%s:%ld", path, line);
        return 0;
    }
    row->gold = row_gold_text(obj);
    if (!row->gold || !row->gold[0])
        return pf_fail("%s:%ld: no gold answer (final_answer, answer, Answer or a \\boxed{} "
                       "in solution) among keys %s",
                       path, line, keys);
    return 0;
}

static BenchTask guess_task(json_t *obj, const char *path)
{
    if (json_object_get(obj, "options") || json_object_get(obj, "choices")) return BENCH_CHOICE;
    if (strstr(path, "figlet")) return BENCH_FIGLET;
    return BENCH_MATH;
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

int bench_file_read(const char *path, BenchFile *out)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return pf_fail("%s: cannot open", path);
    out->path = xstrdup(path);
    out->name = file_stem(path);

    char *line = NULL;
    size_t cap = 0, rows_cap = 0;
    ssize_t len;
    long line_no = 0;
    int rc = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        line_no++;
        size_t blank = strspn(line, " \t\r\n");
        if ((ssize_t)blank == len) continue;

        json_error_t jerr;
        json_t *obj = json_loadb(line, (size_t)len, 0, &jerr);
        if (!obj || !json_is_object(obj)) {
            rc = pf_fail("%s:%ld: %s", path, line_no, obj ? "row is not a JSON object" : jerr.text);
            json_decref(obj);
            break;
        }
        if (out->n_rows == 0) out->task = guess_task(obj, path);
        if (out->n_rows == rows_cap) {
            rows_cap = rows_cap ? rows_cap * 2 : 64;
            out->rows = xrealloc(out->rows, rows_cap * sizeof *out->rows);
        }
        BenchRow *row = &out->rows[out->n_rows];
        memset(row, 0, sizeof *row);
        rc = row_read(obj, out->task, path, line_no, row);
        json_decref(obj);
        if (rc != 0) {
            row_free(row);
            break;
        }
        out->n_rows++;
    }
    free(line);
    if (rc == 0 && ferror(f)) rc = pf_fail("%s: read error after line %ld", path, line_no);
    fclose(f);
    if (rc == 0 && out->n_rows == 0) rc = pf_fail("%s: no rows", path);
    if (rc != 0) bench_file_free(out);
    return rc;
}

void bench_file_free(BenchFile *bench)
{
    for (size_t i = 0; i < bench->n_rows; i++) row_free(&bench->rows[i]);
    free(bench->rows);
    free(bench->path);
    free(bench->name);
    memset(bench, 0, sizeof *bench);
}
