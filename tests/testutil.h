/* Helpers shared by the tests: locating ../shared and the fixtures, temporary folders, and
 * comparing float arrays with a stated tolerance. Included after cmocka's headers. */
#ifndef PRIORFT_TESTS_TESTUTIL_H
#define PRIORFT_TESTS_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>

/* Path of a file under ../shared (e.g. "models/stories260K/stories260K.bin") or NULL when the
 * folder is absent; the string is static and overwritten by the next call. */
const char *shared_path(const char *relative);

/* Path of a file under tests/fixtures, same conventions. */
const char *fixture_path(const char *relative);

/* A new empty temporary folder (malloc'ed path), removed with its files by tmpdir_remove. */
char *tmpdir_make(void);
void tmpdir_remove(char *path);

/* Writes `n` bytes to a file, returns 0 or -1. */
int write_file(const char *path, const void *data, size_t n);

/* Max |a - b| / (atol + rtol * |b|) over the arrays; <= 1 means "close". Prints the worst index
 * when it is above 1, with `what`. */
double compare_floats(const char *what, const float *a, const float *b, size_t n, double atol,
                      double rtol);

#endif
