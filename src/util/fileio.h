/* File helpers for the checkpoint loaders and writers: read-only memory maps of whole files and
 * atomic writes (temporary file in the same folder, fsync, rename, fsync of the folder), so a
 * crash or a full disk never leaves a half-written file under the final name. */
#ifndef PRIORFT_UTIL_FILEIO_H
#define PRIORFT_UTIL_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct MappedFile {
    const uint8_t *data; /* NULL for an empty file */
    size_t size;
} MappedFile;

/* Maps `path` read-only. 0, or -1 with a message naming the file. */
int file_map(const char *path, MappedFile *out);
void file_unmap(MappedFile *m);

/* True when `path` exists and is a directory. */
int path_is_dir(const char *path);

typedef struct AtomicFile {
    FILE *fp;
    char *tmp_path;
    char *final_path;
} AtomicFile;

/* Opens a temporary file next to `path` for writing. 0 or -1 with a message. */
int atomic_open(AtomicFile *a, const char *path);
/* Writes n bytes; -1 with a message on any error (e.g. a full disk). */
int atomic_write(AtomicFile *a, const void *data, size_t n);
/* Flushes, fsyncs, renames onto the final path and fsyncs the folder. On failure the temporary
 * file is removed and the final path is untouched. Always releases `a`. */
int atomic_commit(AtomicFile *a);
/* Removes the temporary file and releases `a` (after an error). */
void atomic_abort(AtomicFile *a);

#endif
