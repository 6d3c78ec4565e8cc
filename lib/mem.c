/*
 * mem.c - allocation wrappers that never return NULL.
 *
 * Called by everything. Out-of-memory is not recoverable for a mail
 * daemon in the middle of a transaction, so it is logged and the process
 * exits; master restarts the service.
 */
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "msg.h"

static void mem_fail(size_t len)
{
    msg_fatal("out of memory allocating %zu bytes", len);
}

void *mem_alloc(size_t len)
{
    void *ptr = malloc(len ? len : 1);

    if (ptr == NULL)
        mem_fail(len);
    return ptr;
}

void *mem_calloc(size_t count, size_t size)
{
    void *ptr = calloc(count ? count : 1, size ? size : 1);

    if (ptr == NULL)
        mem_fail(count * size);
    return ptr;
}

void *mem_realloc(void *ptr, size_t len)
{
    void *res = realloc(ptr, len ? len : 1);

    if (res == NULL)
        mem_fail(len);
    return res;
}

char *mem_strdup(const char *str)
{
    return mem_memdup(str, strlen(str) + 1);
}

char *mem_strndup(const char *str, size_t len)
{
    size_t n = strnlen(str, len);
    char *res = mem_alloc(n + 1);

    memcpy(res, str, n);
    res[n] = 0;
    return res;
}

void *mem_memdup(const void *ptr, size_t len)
{
    void *res = mem_alloc(len);

    memcpy(res, ptr, len);
    return res;
}

void mem_free(void *ptr)
{
    free(ptr);
}
