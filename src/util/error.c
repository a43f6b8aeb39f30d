/* Thread-local error messages and allocation wrappers (see error.h). */
#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char error_message[1024];

int pf_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_message, sizeof error_message, fmt, ap);
    va_end(ap);
    return -1;
}

int pf_fail_context(const char *fmt, ...)
{
    char context[512];
    char previous[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(context, sizeof context, fmt, ap);
    va_end(ap);

    memcpy(previous, error_message, sizeof previous);
    size_t n = strlen(context);
    memcpy(error_message, context, n + 1);
    if (n + 2 < sizeof error_message) {
        memcpy(error_message + n, ": ", 3);
        strncat(error_message, previous, sizeof error_message - n - 3);
    }
    return -1;
}

const char *pf_error(void) { return error_message; }

void pf_error_clear(void) { error_message[0] = '\0'; }

static void out_of_memory(size_t size)
{
    fprintf(stderr, "priorft: out of memory allocating %zu bytes\n", size);
    abort();
}

void *xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p) out_of_memory(size);
    return p;
}

void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) out_of_memory(count * size);
    return p;
}

void *xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (!p) out_of_memory(size);
    return p;
}

char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = xmalloc(n);
    memcpy(p, s, n);
    return p;
}

float *xalloc_floats(size_t count)
{
    size_t bytes = (count * sizeof(float) + 63) & ~(size_t)63;
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0) out_of_memory(bytes);
    memset(p, 0, bytes);
    return p;
}
