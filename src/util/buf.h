/* Growable arrays used across the code: IntVec for token ids, StrBuf for text. Growth aborts
 * on out-of-memory (see xrealloc); all other misuse is the caller's bug. */
#ifndef PRIORFT_UTIL_BUF_H
#define PRIORFT_UTIL_BUF_H

#include <stddef.h>

typedef struct IntVec {
    int *data;
    size_t len, cap;
} IntVec;

void intvec_push(IntVec *v, int x);
void intvec_append(IntVec *v, const int *xs, size_t n);
void intvec_free(IntVec *v);

typedef struct StrBuf {
    char *data;   /* always NUL-terminated when non-NULL */
    size_t len, cap;
} StrBuf;

void strbuf_append(StrBuf *b, const char *s, size_t n);
void strbuf_puts(StrBuf *b, const char *s);
void strbuf_printf(StrBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_free(StrBuf *b);

#endif
