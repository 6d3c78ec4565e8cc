/*
 * dict_types.h - the names of the lookup table types this build supports.
 *
 * postconf -m prints this list. Each map type, when it is added to maps/,
 * adds its name here, so the list always tells the truth about the build.
 */
#ifndef POSTERN_DICT_TYPES_H
#define POSTERN_DICT_TYPES_H

/* NULL-terminated, sorted. */
const char *const *dict_type_names(void);

#endif
