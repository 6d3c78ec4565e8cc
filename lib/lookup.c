/*
 * lookup.c - names of lookup results, for log lines and tests.
 */
#include "lookup.h"

const char *lookup_status_name(enum lookup_status st)
{
    switch (st) {
    case LOOKUP_FOUND:
        return "found";
    case LOOKUP_NOTFOUND:
        return "not found";
    case LOOKUP_ERR_TEMP:
        return "temporary error";
    case LOOKUP_ERR_CONFIG:
        return "configuration error";
    }
    return "unknown status";
}
