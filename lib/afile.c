/*
 * afile.c - atomic file replacement (see afile.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "afile.h"
#include "buf.h"
#include "mem.h"

struct afile {
    char *path;
    char *tmp;
    FILE *fp;
};

struct afile *afile_open(const char *path)
{
    struct afile *af = mem_calloc(1, sizeof(*af));
    struct buf *tmp = buf_new(strlen(path) + 16);
    struct stat st;
    int fd;

    buf_printf(tmp, "%s.tmpXXXXXX", path);
    fd = mkstemp(buf_str(tmp));
    if (fd < 0) {
        int saved = errno;

        buf_free(tmp);
        mem_free(af);
        errno = saved;
        return NULL;
    }
    if (stat(path, &st) == 0) {
        if (fchmod(fd, st.st_mode & 07777) < 0
            || (geteuid() == 0 && fchown(fd, st.st_uid, st.st_gid) < 0)) {
            int saved = errno;

            close(fd);
            unlink(buf_str(tmp));
            buf_free(tmp);
            mem_free(af);
            errno = saved;
            return NULL;
        }
    } else {
        mode_t mask = umask(0);

        umask(mask);
        (void) fchmod(fd, 0666 & ~mask);
    }
    af->fp = fdopen(fd, "w");
    if (af->fp == NULL) {
        int saved = errno;

        close(fd);
        unlink(buf_str(tmp));
        buf_free(tmp);
        mem_free(af);
        errno = saved;
        return NULL;
    }
    af->path = mem_strdup(path);
    af->tmp = buf_steal(tmp);
    return af;
}

FILE *afile_stream(struct afile *af)
{
    return af->fp;
}

static void afile_release(struct afile *af)
{
    mem_free(af->path);
    mem_free(af->tmp);
    mem_free(af);
}

int afile_commit(struct afile *af)
{
    char *dircopy;
    int dfd;
    int saved;

    if (fflush(af->fp) != 0 || fsync(fileno(af->fp)) != 0 || ferror(af->fp)) {
        saved = errno;
        afile_abort(af);
        errno = saved;
        return -1;
    }
    if (fclose(af->fp) != 0) {
        saved = errno;
        af->fp = NULL;
        unlink(af->tmp);
        afile_release(af);
        errno = saved;
        return -1;
    }
    af->fp = NULL;
    if (rename(af->tmp, af->path) != 0) {
        saved = errno;
        unlink(af->tmp);
        afile_release(af);
        errno = saved;
        return -1;
    }
    dircopy = mem_strdup(af->path);
    dfd = open(dirname(dircopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void) fsync(dfd);
        close(dfd);
    }
    mem_free(dircopy);
    afile_release(af);
    return 0;
}

void afile_abort(struct afile *af)
{
    if (af->fp)
        fclose(af->fp);
    unlink(af->tmp);
    afile_release(af);
}
