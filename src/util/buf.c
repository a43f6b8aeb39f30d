/* IntVec and StrBuf (see buf.h). */
#include "util/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

static size_t grown(size_t cap, size_t need)
{
    size_t c = cap ? cap : 16;
    while (c < need) c *= 2;
    return c;
}

void intvec_push(IntVec *v, int x) { intvec_append(v, &x, 1); }

void intvec_append(IntVec *v, const int *xs, size_t n)
{
    if (n == 0) return;
    if (v->len + n > v->cap) {
        v->cap = grown(v->cap, v->len + n);
        v->data = xrealloc(v->data, v->cap * sizeof *v->data);
    }
    memcpy(v->data + v->len, xs, n * sizeof *xs);
    v->len += n;
}

void intvec_free(IntVec *v)
{
    free(v->data);
    v->data = NULL;
    v->len = v->cap = 0;
}

void strbuf_append(StrBuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = grown(b->cap, b->len + n + 1);
        b->data = xrealloc(b->data, b->cap);
    }
    if (n) memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void strbuf_puts(StrBuf *b, const char *s) { strbuf_append(b, s, strlen(s)); }

void strbuf_printf(StrBuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;

    if (b->len + (size_t)n + 1 > b->cap) {
        b->cap = grown(b->cap, b->len + (size_t)n + 1);
        b->data = xrealloc(b->data, b->cap);
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void strbuf_free(StrBuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
