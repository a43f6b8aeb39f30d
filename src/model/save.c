/* Hugging Face checkpoint writing: config.json and one F32 model.safetensors (see load.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/hf_config.h"
#include "model/load.h"
#include "model/safetensors.h"
#include "util/error.h"

int model_save_hf(const Model *m, const char *dir)
{
    if (m->config.rope_interleaved)
        return pf_fail("%s: q/k weights use interleaved RoPE pairing; Hugging Face checkpoints "
                       "need rotate-half (permute first)", dir);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return pf_fail("%s: cannot create folder: %s", dir, strerror(errno));
    TensorRef *list = NULL;
    int n = model_tensor_list(&m->config, &list);
    StWriteTensor *ts = xcalloc((size_t)n, sizeof *ts);
    for (int i = 0; i < n; i++) {
        ts[i].name = list[i].name;
        ts[i].ndim = list[i].ndim;
        ts[i].shape[0] = list[i].shape[0];
        ts[i].shape[1] = list[i].shape[1];
        ts[i].data = m->params_memory + list[i].offset;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    int rc = st_write_f32(path, ts, n);
    free(ts);
    free(list);
    if (rc) return -1;
    snprintf(path, sizeof path, "%s/config.json", dir);
    return hf_config_write(&m->config, path);
}
