/*
 * afile.h - replace a file atomically.
 *
 * afile_open() creates a temporary file beside PATH; the caller writes the
 * new content to afile_stream(); afile_commit() flushes, fsyncs, renames it
 * over PATH (keeping PATH's owner and mode when it existed) and fsyncs the
 * directory. afile_abort() removes the temporary file. Readers see either
 * the old or the new file, never a mix.
 *
 * Callers: postconf -e/-X/-#, postconf -M/-F/-P edits, postmap, install.
 * Errors: NULL or -1 with errno set; the caller reports.
 */
#ifndef POSTERN_AFILE_H
#define POSTERN_AFILE_H

#include <stdio.h>

struct afile;

struct afile *afile_open(const char *path);
FILE *afile_stream(struct afile *af);
int afile_commit(struct afile *af);
void afile_abort(struct afile *af);

#endif
