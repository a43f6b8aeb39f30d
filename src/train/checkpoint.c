/* Atomic training checkpoints (see checkpoint.h). */
#include "train/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/load.h"
#include "model/safetensors.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fileio.h"

static const char *TOKENIZER_FILES[] = {"tokenizer.json", "tokenizer_config.json",
                                        "special_tokens_map.json", "generation_config.json"};

static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return pf_fail("%s: cannot open to sync: %s", path, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0 && e != EINVAL) return pf_fail("%s: fsync failed: %s", path, strerror(e));
    return 0;
}

static int copy_file_atomic(const char *from, const char *to)
{
    MappedFile src;
    if (file_map(from, &src) != 0) return -1;
    AtomicFile out;
    int rc = atomic_open(&out, to);
    if (rc == 0) rc = atomic_write(&out, src.data, src.size);
    if (rc == 0) rc = atomic_commit(&out);
    else if (out.fp) atomic_abort(&out);
    file_unmap(&src);
    return rc;
}

static int write_json_atomic(const char *path, json_t *value)
{
    char *text = json_dumps(value, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (!text) return pf_fail("%s: cannot serialise JSON", path);
    AtomicFile out;
    int rc = atomic_open(&out, path);
    if (rc == 0) rc = atomic_write(&out, text, strlen(text));
    if (rc == 0) rc = atomic_write(&out, "\n", 1);
    if (rc == 0) rc = atomic_commit(&out);
    else if (out.fp) atomic_abort(&out);
    free(text);
    return rc;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_tree(const char *path) { nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* Parses "checkpoint-NNN" into NNN; -1 for any other name (temporary folders included). */
static long checkpoint_step_of(const char *name)
{
    const char *prefix = "checkpoint-";
    size_t n = strlen(prefix);
    if (strncmp(name, prefix, n) != 0 || !name[n]) return -1;
    char *end = NULL;
    long step = strtol(name + n, &end, 10);
    return (*end == '\0' && step >= 0) ? step : -1;
}

static int write_optimizer(const char *path, const AdamW *opt)
{
    StWriteTensor t[2] = {
        {.name = "exp_avg", .ndim = 1, .shape = {(int64_t)opt->n, 0}, .data = opt->m},
        {.name = "exp_avg_sq", .ndim = 1, .shape = {(int64_t)opt->n, 0}, .data = opt->v},
    };
    return st_write_f32(path, t, 2);
}

/* Makes the checkpoint self-sufficient for the tokenizer: a Hugging Face folder's tokenizer
 * files are copied; a llama2.c tokenizer .bin is copied as tokenizer.bin; a GGUF vocabulary
 * (inside the source model file, too large to copy) is referred to by tokenizer_source. */
static int write_tokenizer(const char *dir, const char *tokenizer_path)
{
    StrBuf from = {0}, to = {0};
    int rc = 0;
    if (path_is_dir(tokenizer_path)) {
        for (size_t i = 0; rc == 0 && i < 4; i++) {
            from.len = to.len = 0;
            strbuf_printf(&from, "%s/%s", tokenizer_path, TOKENIZER_FILES[i]);
            strbuf_printf(&to, "%s/%s", dir, TOKENIZER_FILES[i]);
            if (access(from.data, R_OK) == 0) rc = copy_file_atomic(from.data, to.data);
        }
    } else {
        FILE *f = fopen(tokenizer_path, "rb");
        char magic[4] = {0};
        bool gguf = f && fread(magic, 1, 4, f) == 4 && memcmp(magic, "GGUF", 4) == 0;
        if (f) fclose(f);
        if (!gguf) {
            strbuf_printf(&to, "%s/tokenizer.bin", dir);
            rc = copy_file_atomic(tokenizer_path, to.data);
        } else {
            char *abs = realpath(tokenizer_path, NULL);
            strbuf_printf(&to, "%s/tokenizer_source", dir);
            AtomicFile a;
            rc = atomic_open(&a, to.data);
            const char *text = abs ? abs : tokenizer_path;
            if (rc == 0) rc = atomic_write(&a, text, strlen(text));
            if (rc == 0) rc = atomic_write(&a, "\n", 1);
            if (rc == 0) rc = atomic_commit(&a);
            else if (a.fp) atomic_abort(&a);
            free(abs);
        }
    }
    strbuf_free(&from);
    strbuf_free(&to);
    return rc;
}

static int write_contents(const char *dir, const Model *m, const AdamW *opt,
                          const char *tokenizer_path, json_t *state)
{
    StrBuf path = {0};
    int rc = model_save_hf(m, dir);
    if (rc == 0 && opt) {
        strbuf_printf(&path, "%s/optimizer.safetensors", dir);
        rc = write_optimizer(path.data, opt);
    }
    if (rc == 0 && tokenizer_path) rc = write_tokenizer(dir, tokenizer_path);
    if (rc == 0) {
        path.len = 0;
        strbuf_printf(&path, "%s/trainer_state.json", dir);
        rc = write_json_atomic(path.data, state);
    }
    strbuf_free(&path);
    return rc;
}

static void prune_old(const char *out_dir, long newest, int keep_last)
{
    if (keep_last <= 0) return;
    DIR *d = opendir(out_dir);
    if (!d) return;
    long steps[4096];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 4096) {
        long s = checkpoint_step_of(e->d_name);
        if (s >= 0 && s != newest) steps[n++] = s;
    }
    closedir(d);
    /* Keep the keep_last - 1 newest besides `newest`. */
    while (n > keep_last - 1) {
        int oldest = 0;
        for (int i = 1; i < n; i++) if (steps[i] < steps[oldest]) oldest = i;
        char path[4096];
        snprintf(path, sizeof path, "%s/checkpoint-%08ld", out_dir, steps[oldest]);
        remove_tree(path);
        steps[oldest] = steps[--n];
    }
}

int checkpoint_save(const char *out_dir, long step, const Model *m, const AdamW *opt,
                    const char *tokenizer_path, json_t *state, int keep_last, char **written)
{
    if (mkdir(out_dir, 0755) != 0 && errno != EEXIST)
        return pf_fail("%s: cannot create output folder: %s", out_dir, strerror(errno));

    StrBuf tmp = {0}, final = {0};
    strbuf_printf(&tmp, "%s/checkpoint-%08ld.tmp-%d", out_dir, step, (int)getpid());
    strbuf_printf(&final, "%s/checkpoint-%08ld", out_dir, step);
    remove_tree(tmp.data);
    int rc = 0;
    if (mkdir(tmp.data, 0755) != 0)
        rc = pf_fail("%s: cannot create checkpoint folder: %s", tmp.data, strerror(errno));
    if (rc == 0) rc = write_contents(tmp.data, m, opt, tokenizer_path, state);
    if (rc == 0) rc = fsync_path(tmp.data);

    /* A checkpoint of the same step (a resumed run reaching it again) is replaced whole. */
    if (rc == 0 && access(final.data, F_OK) == 0) remove_tree(final.data);
    if (rc == 0 && rename(tmp.data, final.data) != 0)
        rc = pf_fail("%s: cannot rename into place: %s", final.data, strerror(errno));
    if (rc == 0) rc = fsync_path(out_dir);
    if (rc != 0) {
        remove_tree(tmp.data);
        pf_fail_context("checkpoint %ld in %s", step, out_dir);
    }

    if (rc == 0) {
        StrBuf latest = {0}, line = {0};
        strbuf_printf(&latest, "%s/latest", out_dir);
        strbuf_printf(&line, "checkpoint-%08ld\n", step);
        AtomicFile f;
        rc = atomic_open(&f, latest.data);
        if (rc == 0) rc = atomic_write(&f, line.data, line.len);
        if (rc == 0) rc = atomic_commit(&f);
        else if (f.fp) atomic_abort(&f);
        strbuf_free(&latest);
        strbuf_free(&line);
    }
    if (rc == 0) prune_old(out_dir, step, keep_last);
    if (rc == 0 && written) *written = xstrdup(final.data);
    strbuf_free(&tmp);
    strbuf_free(&final);
    return rc;
}

char *checkpoint_find_latest(const char *out_dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/latest", out_dir);
    FILE *f = fopen(path, "r");
    if (f) {
        char name[256] = {0};
        bool ok = fgets(name, sizeof name, f) != NULL;
        fclose(f);
        name[strcspn(name, "\r\n")] = '\0';
        snprintf(path, sizeof path, "%s/%s/trainer_state.json", out_dir, name);
        if (ok && checkpoint_step_of(name) >= 0 && access(path, R_OK) == 0) {
            snprintf(path, sizeof path, "%s/%s", out_dir, name);
            return xstrdup(path);
        }
    }

    DIR *d = opendir(out_dir);
    if (!d) {
        pf_fail("%s: cannot open: %s", out_dir, strerror(errno));
        return NULL;
    }
    long best = -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        long s = checkpoint_step_of(e->d_name);
        snprintf(path, sizeof path, "%s/%s/trainer_state.json", out_dir, e->d_name);
        if (s > best && access(path, R_OK) == 0) best = s;
    }
    closedir(d);
    if (best < 0) {
        pf_fail("%s: no complete checkpoint (checkpoint-N folder with trainer_state.json)",
                out_dir);
        return NULL;
    }
    snprintf(path, sizeof path, "%s/checkpoint-%08ld", out_dir, best);
    return xstrdup(path);
}

static int read_optimizer(const char *dir, AdamW *opt)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/optimizer.safetensors", dir);
    SafetensorsFile f;
    if (st_open(path, &f) != 0) return -1;
    const StTensor *m = st_find(&f, "exp_avg"), *v = st_find(&f, "exp_avg_sq");
    int rc = 0;
    if (!m || !v || m->n_elements != opt->n || v->n_elements != opt->n)
        rc = pf_fail("%s: exp_avg/exp_avg_sq missing or not %zu values (another model?)",
                     path, opt->n);
    if (rc == 0) rc = st_tensor_to_f32(&f, m, opt->m);
    if (rc == 0) rc = st_tensor_to_f32(&f, v, opt->v);
    st_close(&f);
    return rc;
}

int checkpoint_load(const char *dir, Model *m, AdamW *opt, json_t **state)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/trainer_state.json", dir);
    json_error_t jerr;
    json_t *st = json_load_file(path, 0, &jerr);
    if (!st)
        return pf_fail("%s:%d: cannot read trainer state: %s", path, jerr.line, jerr.text);

    json_t *step = json_object_get(st, "step");
    if (!json_is_integer(step) || json_integer_value(step) < 0) {
        json_decref(st);
        return pf_fail("%s: field 'step' missing or not a non-negative integer", path);
    }
    /* The data loader's place: a wrong type would read as 0 and silently restart the data. */
    json_t *loader = json_object_get(st, "loader");
    const char *loader_keys[] = {"epoch", "position"};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(loader, loader_keys[i]);
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            json_decref(st);
            return pf_fail("%s: field 'loader.%s' missing or not a non-negative integer", path,
                           loader_keys[i]);
        }
    }
    if (m && model_load_hf(dir, m) != 0) {
        json_decref(st);
        return -1;
    }
    if (opt) {
        if (read_optimizer(dir, opt) != 0) {
            if (m) model_free(m);
            json_decref(st);
            return -1;
        }
        opt->step = (long)json_integer_value(step);
    }
    *state = st;
    return 0;
}

void checkpoint_clean_partial(const char *out_dir)
{
    DIR *d = opendir(out_dir);
    if (!d) return;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "checkpoint-", 11) == 0 && strstr(e->d_name, ".tmp-")) {
            snprintf(path, sizeof path, "%s/%s", out_dir, e->d_name);
            remove_tree(path);
        }
    }
    closedir(d);
}
