/*
 * htable.h - string-keyed hash table.
 *
 * Keys are copied; values are the caller's pointers. Used for the main.cf
 * store, parameter lookups, and any in-memory table.
 */
#ifndef POSTERN_HTABLE_H
#define POSTERN_HTABLE_H

#include <stddef.h>

struct htable_entry {
    char *key;
    void *value;
    struct htable_entry *next;
};

struct htable {
    struct htable_entry **slots;
    size_t size; /* number of slots, a power of two */
    size_t used; /* number of entries */
};

struct htable *htable_new(size_t hint);
/* Frees the table; FREE_FN (may be NULL) is called on every value. */
void htable_free(struct htable *ht, void (*free_fn)(void *));
/* Insert or replace; returns the old value (or NULL) for the caller. */
void *htable_put(struct htable *ht, const char *key, void *value);
void *htable_get(const struct htable *ht, const char *key);
struct htable_entry *htable_find(const struct htable *ht, const char *key);
/* Remove; returns the value that was stored (or NULL). */
void *htable_delete(struct htable *ht, const char *key);
/* All entries in no particular order; free the array with mem_free. */
struct htable_entry **htable_list(const struct htable *ht);

#endif
