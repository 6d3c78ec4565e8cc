/*
 * mem.h - allocation wrappers.
 *
 * Every allocation in Postern goes through these. On out-of-memory they log
 * a fatal message and exit, so callers never test for NULL.
 */
#ifndef POSTERN_MEM_H
#define POSTERN_MEM_H

#include <stddef.h>

void *mem_alloc(size_t len);
void *mem_calloc(size_t count, size_t size);
void *mem_realloc(void *ptr, size_t len);
char *mem_strdup(const char *str);
char *mem_strndup(const char *str, size_t len);
void *mem_memdup(const void *ptr, size_t len);
void mem_free(void *ptr);

#endif
