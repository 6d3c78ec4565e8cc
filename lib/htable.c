/*
 * htable.c - string-keyed hash table with chaining (see htable.h).
 * No errors; memory exhaustion is fatal.
 */
#include <string.h>

#include "htable.h"
#include "mem.h"

static size_t htable_hash(const char *key)
{
    size_t h = 14695981039346656037ULL; /* FNV-1a */

    while (*key) {
        h ^= (unsigned char) *key++;
        h *= 1099511628211ULL;
    }
    return h;
}

struct htable *htable_new(size_t hint)
{
    struct htable *ht = mem_alloc(sizeof(*ht));

    ht->size = 16;
    while (ht->size < hint)
        ht->size <<= 1;
    ht->slots = mem_calloc(ht->size, sizeof(*ht->slots));
    ht->used = 0;
    return ht;
}

void htable_free(struct htable *ht, void (*free_fn)(void *))
{
    size_t i;

    if (ht == NULL)
        return;
    for (i = 0; i < ht->size; i++) {
        struct htable_entry *e = ht->slots[i];

        while (e) {
            struct htable_entry *next = e->next;

            if (free_fn)
                free_fn(e->value);
            mem_free(e->key);
            mem_free(e);
            e = next;
        }
    }
    mem_free(ht->slots);
    mem_free(ht);
}

static void htable_grow(struct htable *ht)
{
    size_t new_size = ht->size * 2;
    struct htable_entry **slots = mem_calloc(new_size, sizeof(*slots));
    size_t i;

    for (i = 0; i < ht->size; i++) {
        struct htable_entry *e = ht->slots[i];

        while (e) {
            struct htable_entry *next = e->next;
            size_t h = htable_hash(e->key) & (new_size - 1);

            e->next = slots[h];
            slots[h] = e;
            e = next;
        }
    }
    mem_free(ht->slots);
    ht->slots = slots;
    ht->size = new_size;
}

struct htable_entry *htable_find(const struct htable *ht, const char *key)
{
    struct htable_entry *e = ht->slots[htable_hash(key) & (ht->size - 1)];

    for (; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

void *htable_get(const struct htable *ht, const char *key)
{
    struct htable_entry *e = htable_find(ht, key);

    return e ? e->value : NULL;
}

void *htable_put(struct htable *ht, const char *key, void *value)
{
    struct htable_entry *e = htable_find(ht, key);
    size_t h;

    if (e) {
        void *old = e->value;

        e->value = value;
        return old;
    }
    if (ht->used >= ht->size)
        htable_grow(ht);
    h = htable_hash(key) & (ht->size - 1);
    e = mem_alloc(sizeof(*e));
    e->key = mem_strdup(key);
    e->value = value;
    e->next = ht->slots[h];
    ht->slots[h] = e;
    ht->used++;
    return NULL;
}

void *htable_delete(struct htable *ht, const char *key)
{
    struct htable_entry **ep = &ht->slots[htable_hash(key) & (ht->size - 1)];

    for (; *ep; ep = &(*ep)->next) {
        if (strcmp((*ep)->key, key) == 0) {
            struct htable_entry *e = *ep;
            void *value = e->value;

            *ep = e->next;
            mem_free(e->key);
            mem_free(e);
            ht->used--;
            return value;
        }
    }
    return NULL;
}

struct htable_entry **htable_list(const struct htable *ht)
{
    struct htable_entry **list = mem_alloc((ht->used + 1) * sizeof(*list));
    size_t i, n = 0;

    for (i = 0; i < ht->size; i++) {
        struct htable_entry *e;

        for (e = ht->slots[i]; e; e = e->next)
            list[n++] = e;
    }
    list[n] = NULL;
    return list;
}
