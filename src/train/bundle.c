/* Finding and opening a model's tokenizer and chat template (see bundle.h). */
#include "train/bundle.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/gguf.h"
#include "model/load.h"
#include "util/error.h"
#include "util/fileio.h"

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return xstrdup(".");
    size_t n = (size_t)(slash - path);
    char *d = xmalloc(n + 1);
    memcpy(d, path, n);
    d[n] = '\0';
    return n ? d : (free(d), xstrdup("/"));
}

/* A llama2.c checkpoint's tokenizer: tokenizer.bin beside it, else the only tok*.bin there. */
static char *find_llama2c_tokenizer(const char *model_path)
{
    char *dir = dir_of(model_path);
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.bin", dir);
    if (access(path, R_OK) == 0) {
        free(dir);
        return xstrdup(path);
    }
    DIR *d = opendir(dir);
    int found = 0;
    while (d) {
        struct dirent *e = readdir(d);
        if (!e) break;
        if (strncmp(e->d_name, "tok", 3) == 0 && ends_with(e->d_name, ".bin")) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            found++;
        }
    }
    if (d) closedir(d);
    free(dir);
    if (found == 1) return xstrdup(path);
    pf_fail("%s: no tokenizer found beside this llama2.c checkpoint (looked for tokenizer.bin "
            "and a single tok*.bin); pass --tokenizer FILE", model_path);
    return NULL;
}

char *bundle_find_tokenizer(const char *model_path)
{
    if (path_is_dir(model_path)) {
        char path[4096];
        snprintf(path, sizeof path, "%s/tokenizer.json", model_path);
        if (access(path, R_OK) == 0) return xstrdup(model_path);
        snprintf(path, sizeof path, "%s/tokenizer.bin", model_path);
        if (access(path, R_OK) == 0) return xstrdup(path);
        /* A checkpoint of a GGUF model names the file whose vocabulary it uses. */
        snprintf(path, sizeof path, "%s/tokenizer_source", model_path);
        FILE *f = fopen(path, "r");
        if (f) {
            char line[4096] = {0};
            bool ok = fgets(line, sizeof line, f) != NULL;
            fclose(f);
            line[strcspn(line, "\r\n")] = '\0';
            if (ok && line[0] && access(line, R_OK) == 0) return xstrdup(line);
            pf_fail("%s: names the tokenizer '%s', which cannot be read; pass --tokenizer PATH",
                    path, line);
            return NULL;
        }
        pf_fail("%s: the model folder has no tokenizer.json (nor tokenizer.bin or "
                "tokenizer_source); pass --tokenizer PATH", model_path);
        return NULL;
    }
    FILE *f = fopen(model_path, "rb");
    if (!f) {
        pf_fail("%s: cannot open", model_path);
        return NULL;
    }
    char magic[4] = {0};
    size_t got = fread(magic, 1, 4, f);
    fclose(f);
    if (got == 4 && memcmp(magic, "GGUF", 4) == 0) return xstrdup(model_path);
    return find_llama2c_tokenizer(model_path);
}

/* The chat template a model declares: tokenizer_config.json of a folder, or a GGUF's
 * tokenizer.chat_template; "raw" when it declares none. */
static int template_from_source(ChatTemplate *t, const char *tokenizer_path)
{
    char path[4096];
    const char *dir = path_is_dir(tokenizer_path) ? tokenizer_path : NULL;
    char *parent = dir ? NULL : dir_of(tokenizer_path);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir ? dir : parent);
    free(parent);
    if (access(path, R_OK) == 0) return chat_template_from_model(t, path);

    if (ends_with(tokenizer_path, ".gguf")) {
        GgufFile *g = NULL;
        if (gguf_open(tokenizer_path, &g) != 0) return -1;
        const char *jinja = NULL;
        size_t len = 0;
        int rc;
        if (gguf_get_string(g, "tokenizer.chat_template", &jinja, &len) == 0) {
            char *copy = xmalloc(len + 1);
            memcpy(copy, jinja, len);
            copy[len] = '\0';
            rc = chat_template_from_jinja(t, copy, tokenizer_path);
            free(copy);
        } else {
            rc = chat_template_init(t, "raw");
        }
        gguf_close(g);
        return rc;
    }
    return chat_template_init(t, "raw");
}

int bundle_open(const char *model_path, const BundleOptions *o, ModelBundle *out)
{
    memset(out, 0, sizeof *out);
    out->tokenizer_path = o->tokenizer_path ? xstrdup(o->tokenizer_path)
                                            : bundle_find_tokenizer(model_path);
    if (!out->tokenizer_path) return -1;

    if (tokenizer_load(out->tokenizer_path, &out->tokenizer) != 0) goto fail;
    int rc = o->chat_template ? chat_template_init(&out->chat, o->chat_template)
                              : template_from_source(&out->chat, out->tokenizer_path);
    if (rc != 0) goto fail;
    if (o->system_prompt) chat_template_set_system(&out->chat, o->system_prompt);
    if (o->prompt_suffix) chat_template_set_suffix(&out->chat, o->prompt_suffix, NULL);
    sft_encoder_from_tokenizer(out->tokenizer, &out->encoder);

    if (o->load_weights) {
        if (model_load(model_path, &out->model) != 0) goto fail;
        int vocab = tokenizer_vocab_size(out->tokenizer);
        if (vocab > out->model.config.vocab_size) {
            pf_fail("%s: tokenizer %s has %d tokens but the model only %d", model_path,
                    out->tokenizer_path, vocab, out->model.config.vocab_size);
            goto fail;
        }
    }
    return 0;

fail:
    bundle_close(out);
    return -1;
}

void bundle_close(ModelBundle *b)
{
    if (b->model.params_memory) model_free(&b->model);
    if (b->tokenizer) tokenizer_free(b->tokenizer);
    chat_template_free(&b->chat);
    free(b->tokenizer_path);
    memset(b, 0, sizeof *b);
}
