/* Format detection and Hugging Face folder loading (see load.h). */
#include "model/load.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"
#include "model/hf_config.h"
#include "model/llama2c.h"
#include "model/safetensors.h"
#include "util/error.h"
#include "util/fileio.h"

/* A folder's safetensors files and, for sharded checkpoints, which file holds each tensor. */
typedef struct HfWeights {
    int n_files;
    SafetensorsFile *files;
    json_t *weight_map;  /* name -> file name, or NULL for a single file */
    char **file_names;   /* (n_files) base names, for weight_map lookups */
} HfWeights;

static void hf_weights_close(HfWeights *w)
{
    for (int i = 0; i < w->n_files; i++) {
        st_close(&w->files[i]);
        free(w->file_names[i]);
    }
    free(w->files);
    free(w->file_names);
    json_decref(w->weight_map);
    memset(w, 0, sizeof *w);
}

static int hf_weights_add(HfWeights *w, const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    w->files = xrealloc(w->files, (size_t)(w->n_files + 1) * sizeof *w->files);
    w->file_names = xrealloc(w->file_names, (size_t)(w->n_files + 1) * sizeof(char *));
    if (st_open(path, &w->files[w->n_files]) != 0) return -1;
    w->file_names[w->n_files++] = xstrdup(name);
    return 0;
}

static int hf_weights_open(HfWeights *w, const char *dir)
{
    memset(w, 0, sizeof *w);
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *probe = fopen(path, "rb");
    if (probe) {
        fclose(probe);
        return hf_weights_add(w, dir, "model.safetensors");
    }

    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    json_error_t err;
    json_t *index = json_load_file(path, 0, &err);
    if (!index)
        return pf_fail("%s: neither model.safetensors nor a readable "
                       "model.safetensors.index.json (%s)", dir, err.text);
    json_t *map = json_object_get(index, "weight_map");
    if (!json_is_object(map)) {
        json_decref(index);
        return pf_fail("%s: missing object 'weight_map'", path);
    }
    w->weight_map = json_incref(map);
    json_decref(index);

    const char *tensor;
    json_t *file;
    json_object_foreach(map, tensor, file) {
        if (!json_is_string(file))
            return pf_fail("%s: weight_map entry '%s' is not a file name", path, tensor);
        const char *fname = json_string_value(file);
        if (strchr(fname, '/') || fname[0] == '.' || fname[0] == '\0')
            return pf_fail("%s: weight_map file name '%s' is not a plain file name", path,
                           fname);
        int known = 0;
        for (int i = 0; i < w->n_files && !known; i++)
            known = strcmp(w->file_names[i], fname) == 0;
        if (!known && hf_weights_add(w, dir, fname) != 0) return -1;
    }
    if (w->n_files == 0) return pf_fail("%s: weight_map is empty", path);
    return 0;
}

/* The tensor `name` in the file the index names (or the single file); NULL if absent. */
static const StTensor *hf_weights_find(const HfWeights *w, const char *name,
                                       const SafetensorsFile **file)
{
    const char *want = NULL;
    if (w->weight_map) {
        json_t *f = json_object_get(w->weight_map, name);
        if (!f) return NULL;
        want = json_string_value(f);
    }
    for (int i = 0; i < w->n_files; i++) {
        if (want && strcmp(want, w->file_names[i]) != 0) continue;
        const StTensor *t = st_find(&w->files[i], name);
        if (t) {
            *file = &w->files[i];
            return t;
        }
    }
    return NULL;
}

static int shape_matches(const StTensor *t, const TensorRef *r)
{
    if (t->ndim != r->ndim) return 0;
    for (int d = 0; d < r->ndim; d++)
        if (t->shape[d] != r->shape[d]) return 0;
    return 1;
}

static void shape_text(char *buf, size_t n, int ndim, const int64_t *shape)
{
    size_t at = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < ndim && at < n; d++)
        at += (size_t)snprintf(buf + at, n - at, d ? ", %lld" : "%lld", (long long)shape[d]);
    if (at < n) snprintf(buf + at, n - at, "]");
}

/* Checks that every tensor in the files is expected or harmless. */
static int check_extras(const HfWeights *w, const TensorRef *list, int n, const Model *m)
{
    for (int f = 0; f < w->n_files; f++) {
        const SafetensorsFile *sf = &w->files[f];
        for (int i = 0; i < sf->n_tensors; i++) {
            const StTensor *t = &sf->tensors[i];
            int expected = 0;
            for (int j = 0; j < n && !expected; j++) expected = strcmp(list[j].name, t->name) == 0;
            if (expected || strstr(t->name, "rotary_emb.inv_freq")) continue;
            if (m->config.tied_embeddings && strcmp(t->name, "lm_head.weight") == 0) {
                int64_t want[2] = {m->config.vocab_size, m->config.dim};
                if (t->ndim == 2 && t->shape[0] == want[0] && t->shape[1] == want[1]) continue;
                return pf_fail("%s: tied model's lm_head.weight has the wrong shape", sf->path);
            }
            return pf_fail("%s: unexpected tensor '%s' (the model has no such parameter)",
                           sf->path, t->name);
        }
    }
    return 0;
}

int model_load_hf(const char *dir, Model *out)
{
    memset(out, 0, sizeof *out);
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    ModelConfig cfg;
    if (hf_config_parse(path, &cfg) != 0) return -1;

    HfWeights w;
    if (hf_weights_open(&w, dir) != 0) {
        hf_weights_close(&w);
        return -1;
    }
    if (model_init(out, &cfg) != 0) {
        hf_weights_close(&w);
        return -1;
    }
    TensorRef *list = NULL;
    int n = model_tensor_list(&cfg, &list);
    int rc = check_extras(&w, list, n, out);
    for (int i = 0; i < n && !rc; i++) {
        const SafetensorsFile *sf = NULL;
        const StTensor *t = hf_weights_find(&w, list[i].name, &sf);
        if (!t) {
            rc = pf_fail("%s: missing tensor '%s'", dir, list[i].name);
        } else if (!shape_matches(t, &list[i])) {
            char got[96], want[96];
            shape_text(got, sizeof got, t->ndim, t->shape);
            shape_text(want, sizeof want, list[i].ndim, list[i].shape);
            rc = pf_fail("%s: tensor '%s' has shape %s but the config needs %s", sf->path,
                         t->name, got, want);
        } else {
            rc = st_tensor_to_f32(sf, t, out->params_memory + list[i].offset);
        }
    }
    free(list);
    hf_weights_close(&w);
    if (rc) model_free(out);
    return rc;
}

int model_load(const char *path, Model *out)
{
    memset(out, 0, sizeof *out);
    if (path_is_dir(path)) return model_load_hf(path, out);

    unsigned char magic[4] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return pf_fail("%s: cannot open", path);
    size_t got = fread(magic, 1, 4, f);
    fclose(f);
    if (got == 4 && memcmp(magic, "GGUF", 4) == 0) {
        GgufFile *g;
        if (gguf_open(path, &g) != 0) return -1;
        int rc = gguf_load_model(g, out);
        gguf_close(g);
        return rc;
    }
    return llama2c_load(path, out);
}
