/* Memory maps and atomic writes (see fileio.h). */
#include "util/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"

int file_map(const char *path, MappedFile *out)
{
    out->data = NULL;
    out->size = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return pf_fail("%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return pf_fail("%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return pf_fail("%s: not a regular file", path);
    }
    if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return pf_fail("%s: cannot map: %s", path, strerror(e));
        }
        out->data = p;
        out->size = (size_t)st.st_size;
    }
    close(fd);
    return 0;
}

void file_unmap(MappedFile *m)
{
    if (m->data) munmap((void *)m->data, m->size);
    m->data = NULL;
    m->size = 0;
}

int path_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void atomic_release(AtomicFile *a)
{
    free(a->tmp_path);
    free(a->final_path);
    a->tmp_path = a->final_path = NULL;
    a->fp = NULL;
}

int atomic_open(AtomicFile *a, const char *path)
{
    memset(a, 0, sizeof *a);
    size_t n = strlen(path) + 16;
    a->tmp_path = xmalloc(n);
    snprintf(a->tmp_path, n, "%s.tmpXXXXXX", path);
    int fd = mkstemp(a->tmp_path);
    if (fd < 0) {
        int e = errno;
        atomic_release(a);
        return pf_fail("%s: cannot create temporary file: %s", path, strerror(e));
    }
    /* mkstemp creates 0600; checkpoints are meant to be read by others (umask still applies
     * to nothing here, so use the common 0644). */
    if (fchmod(fd, 0644) != 0) {
        int e = errno;
        close(fd);
        unlink(a->tmp_path);
        atomic_release(a);
        return pf_fail("%s: cannot set permissions: %s", path, strerror(e));
    }
    a->fp = fdopen(fd, "wb");
    if (!a->fp) {
        int e = errno;
        close(fd);
        unlink(a->tmp_path);
        atomic_release(a);
        return pf_fail("%s: cannot open temporary file: %s", path, strerror(e));
    }
    a->final_path = xstrdup(path);
    return 0;
}

int atomic_write(AtomicFile *a, const void *data, size_t n)
{
    if (n && fwrite(data, 1, n, a->fp) != n)
        return pf_fail("%s: write failed: %s", a->final_path, strerror(errno));
    return 0;
}

void atomic_abort(AtomicFile *a)
{
    if (a->fp) fclose(a->fp);
    if (a->tmp_path) unlink(a->tmp_path);
    atomic_release(a);
}

static int fsync_parent(const char *path)
{
    char *copy = xstrdup(path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    int rc = 0;
    if (fd >= 0) {
        if (fsync(fd) != 0 && errno != EINVAL) rc = -1;
        close(fd);
    }
    free(copy);
    return rc;
}

int atomic_commit(AtomicFile *a)
{
    const char *why = NULL;
    int e = 0;
    if (fflush(a->fp) != 0) why = "flush";
    else if (fsync(fileno(a->fp)) != 0) why = "fsync";
    e = errno;
    int closed = fclose(a->fp);
    a->fp = NULL;
    if (!why && closed != 0) {
        why = "close";
        e = errno;
    }
    if (!why && rename(a->tmp_path, a->final_path) != 0) {
        why = "rename";
        e = errno;
    }
    if (why) {
        pf_fail("%s: %s failed: %s", a->final_path, why, strerror(e));
        atomic_abort(a);
        return -1;
    }
    int rc = 0;
    if (fsync_parent(a->final_path) != 0)
        rc = pf_fail("%s: fsync of the folder failed: %s", a->final_path, strerror(errno));
    atomic_release(a);
    return rc;
}
