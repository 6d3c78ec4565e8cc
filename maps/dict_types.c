/*
 * dict_types.c - the registry of lookup table types.
 *
 * One table, sorted by name, pairs every type this build supports with
 * its open function (dict_impl.h). dict_open() finds types here through
 * dict_find_type(); postconf -m prints dict_type_names(). A new type is
 * one line here plus its open function; nothing else lists types.
 *
 * Errors: none; an unknown name gives NULL and dict_open() reports it.
 */
#include <stddef.h>
#include <string.h>

#include "dict.h"
#include "dict_impl.h"
#include "dict_types.h"

struct dict_type {
    const char *name;
    dict_open_fn open;
};

/* Sorted by name: dict_type_names() hands the names out in this order. */
static const struct dict_type dict_type_table[] = {
    {"btree", dict_btree_open},       {"cidr", dict_cidr_open},
    {"dbm", dict_dbm_open},           {"fail", dict_fail_open},
    {"hash", dict_hash_open},         {"inline", dict_inline_open},
    {"pcre", dict_pcre_open},         {"pipemap", dict_pipemap_open},
    {"regexp", dict_regexp_open},     {"sasldb", dict_sasldb_open},
    {"static", dict_static_open},     {"texthash", dict_texthash_open},
    {"unionmap", dict_unionmap_open}, {"unix", dict_unix_open},
};

#define DICT_TYPE_COUNT (sizeof(dict_type_table) / sizeof(dict_type_table[0]))

dict_open_fn dict_find_type(const char *type)
{
    size_t lo = 0;
    size_t hi = DICT_TYPE_COUNT;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(type, dict_type_table[mid].name);

        if (cmp == 0)
            return dict_type_table[mid].open;
        if (cmp < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const char *const *dict_type_names(void)
{
    /* Filled from the table, so that no name is written twice. */
    static const char *names[DICT_TYPE_COUNT + 1];
    size_t i;

    if (names[0] == NULL)
        for (i = 0; i < DICT_TYPE_COUNT; i++)
            names[i] = dict_type_table[i].name;
    return names;
}
