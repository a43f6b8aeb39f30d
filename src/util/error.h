/* Error reporting for the library: functions return 0 on success or -1 after recording a
 * message (which names the file, line, field or token at fault) that the caller reads with
 * pf_error(). Only the CLI prints and exits. Also: allocation wrappers that fail loudly. */
#ifndef PRIORFT_UTIL_ERROR_H
#define PRIORFT_UTIL_ERROR_H

#include <stddef.h>

/* Records a printf-style message for this thread and returns -1, so callers can write
 * `return pf_fail("%s: header length %llu exceeds file size", path, n);`. */
int pf_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prepends context to the current message: "ctx: previous message". Returns -1. */
int pf_fail_context(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The last message recorded on this thread ("" if none). */
const char *pf_error(void);

/* Clears the message on this thread. */
void pf_error_clear(void);

/* Allocation that aborts with a message on failure: for sizes the program chose itself.
 * Sizes read from files must be checked before they reach these. */
void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);

/* 64-byte aligned, zeroed allocation for tensors; free with free(). Aborts on failure. */
float *xalloc_floats(size_t count);

#endif
