/* Shared test helpers (see testutil.h). */
#include "testutil.h"

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *under(const char *env_name, const char *fallback, const char *relative)
{
    static _Thread_local char path[4096];
    const char *root = getenv(env_name);
    if (!root) root = fallback;
    snprintf(path, sizeof path, "%s/%s", root, relative);
    struct stat st;
    return stat(path, &st) == 0 ? path : NULL;
}

const char *shared_path(const char *relative)
{
    return under("PRIORFT_SHARED", "../shared", relative);
}

const char *fixture_path(const char *relative)
{
    return under("PRIORFT_FIXTURES", "tests/fixtures", relative);
}

char *tmpdir_make(void)
{
    char tmpl[] = "/tmp/priorft-test-XXXXXX";
    char *p = mkdtemp(tmpl);
    return p ? strdup(p) : NULL;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void tmpdir_remove(char *path)
{
    if (!path) return;
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(path);
}

int write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, n, f);
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

double compare_floats(const char *what, const float *a, const float *b, size_t n, double atol,
                      double rtol)
{
    double worst = 0.0;
    size_t worst_i = 0;
    for (size_t i = 0; i < n; i++) {
        double err = fabs((double)a[i] - (double)b[i]) / (atol + rtol * fabs((double)b[i]));
        if (isnan(err)) err = INFINITY;
        if (err > worst) {
            worst = err;
            worst_i = i;
        }
    }
    if (worst > 1.0)
        fprintf(stderr, "%s: worst at %zu: %.9g vs reference %.9g (ratio %.3g)\n", what,
                worst_i, a[worst_i], b[worst_i], worst);
    return worst;
}
