/*
 * params.c - the parameter table, typed globals and conversions (see
 * params.h). Everything here comes from params.def; no default is written
 * in this file except the computed ones (PF_DYNAMIC).
 *
 * Errors: param_convert() returns -1 with a message; params_load() is
 * fatal, naming the file and line where the bad value was set.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "defaults.h"
#include "htable.h"
#include "mem.h"
#include "msg.h"
#include "mynetworks.h"
#include "params.h"

/* The typed globals, zero until params_load(). */
#define PARAM(name, type, def, min, max, flags, desc)                          \
    PARAM_CTYPE_##type var_##name;
#include "params.def"
#undef PARAM

const struct param_info param_table[] = {
#define PARAM(name, type, def, min, max, flags, desc)                          \
    {#name, PT_##type, def, min, max, flags, desc, (void *) &var_##name},
#include "params.def"
#undef PARAM
};

const size_t param_count = sizeof(param_table) / sizeof(param_table[0]);

static struct htable *param_index;

const struct param_info *param_find(const char *name)
{
    size_t i;

    if (param_index == NULL) {
        param_index = htable_new(param_count * 2);
        for (i = 0; i < param_count; i++)
            htable_put(param_index, param_table[i].name,
                       (void *) &param_table[i]);
    }
    return htable_get(param_index, name);
}

const char *param_type_name(enum param_type type)
{
    static const char *const names[] = {
        "string",  "raw string",   "list", "boolean",
        "integer", "long integer", "size", "time",
    };

    return names[type];
}

/*
 * Computed defaults. The host name comes from gethostname(); a name with
 * no dot gets ".$mydomain" appended, and mydomain is what follows the
 * first dot of myhostname, or "localdomain".
 */
static const char *param_hostname(void)
{
    static char host[256];

    if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == 0)
        strcpy(host, "localhost");
    host[sizeof(host) - 1] = 0;
    return host;
}

static void param_domain_of(struct buf *out, const char *hostname)
{
    const char *dot = strchr(hostname, '.');

    if (dot != NULL && dot[1] != 0)
        buf_set(out, dot + 1);
    else
        buf_set(out, "localdomain");
}

static const char *param_dynamic(const struct param_info *p)
{
    static struct buf *myhostname_buf;
    static struct buf *mydomain_buf;
    static struct buf *mynetworks_buf;

    if (strcmp(p->name, "myhostname") == 0) {
        const char *host = param_hostname();

        if (myhostname_buf == NULL)
            myhostname_buf = buf_new(64);
        buf_set(myhostname_buf, host);
        if (strchr(host, '.') == NULL) {
            const char *domain = config_get("mydomain");

            buf_printf(myhostname_buf, ".%s", domain ? domain : "localdomain");
        }
        return buf_str(myhostname_buf);
    }
    if (strcmp(p->name, "mydomain") == 0) {
        if (mydomain_buf == NULL)
            mydomain_buf = buf_new(64);
        if (config_lookup("myhostname") != NULL)
            param_domain_of(mydomain_buf, config_get("myhostname"));
        else
            param_domain_of(mydomain_buf, param_hostname());
        return buf_str(mydomain_buf);
    }
    if (strcmp(p->name, "mynetworks") == 0) {
        struct buf *err = buf_new(64);
        const char *style = config_get("mynetworks_style");
        const char *protocols = config_get("inet_protocols");

        if (mynetworks_buf == NULL)
            mynetworks_buf = buf_new(128);
        buf_reset(mynetworks_buf);
        if (mynetworks_compute(style ? style : "host",
                               protocols ? protocols : "all", mynetworks_buf,
                               err)
            < 0)
            msg_fatal("cannot compute the default mynetworks: %s",
                      buf_str(err));
        buf_free(err);
        return buf_str(mynetworks_buf);
    }
    msg_panic("no computed default for parameter %s", p->name);
}

const char *param_default(const struct param_info *p)
{
    if (p->flags & PF_DYNAMIC)
        return param_dynamic(p);
    return p->defval;
}

int conv_long(const char *str, long *val)
{
    char *end;
    long num;

    if (!isdigit((unsigned char) *str)
        && !(*str == '-' && isdigit((unsigned char) str[1])))
        return -1;
    errno = 0;
    num = strtol(str, &end, 10);
    if (errno != 0 || *end != 0)
        return -1;
    *val = num;
    return 0;
}

int conv_bool(const char *str, int *val)
{
    if (strcasecmp(str, "yes") == 0 || strcasecmp(str, "true") == 0) {
        *val = 1;
        return 0;
    }
    if (strcasecmp(str, "no") == 0 || strcasecmp(str, "false") == 0) {
        *val = 0;
        return 0;
    }
    return -1;
}

static long conv_unit(int unit)
{
    switch (unit) {
    case 's':
        return 1;
    case 'm':
        return 60;
    case 'h':
        return 3600;
    case 'd':
        return 86400;
    case 'w':
        return 7 * 86400;
    default:
        return 0;
    }
}

int conv_time(const char *str, int def_unit, long *secs)
{
    const char *cp = str;
    long num = 0;
    long mult;

    if (!isdigit((unsigned char) *cp))
        return -1;
    while (isdigit((unsigned char) *cp)) {
        if (num > (LONG_MAX - 9) / 10)
            return -1;
        num = num * 10 + (*cp++ - '0');
    }
    if (*cp == 0)
        mult = conv_unit(def_unit);
    else if (cp[1] == 0)
        mult = conv_unit(tolower((unsigned char) *cp));
    else
        return -1;
    if (mult == 0 || num > LONG_MAX / mult)
        return -1;
    *secs = num * mult;
    return 0;
}

static int param_check_range(const struct param_info *p, long num,
                             struct buf *err)
{
    if (num < p->min) {
        buf_setf(err, "invalid %s parameter value %ld < %ld", p->name, num,
                 p->min);
        return -1;
    }
    if (p->max != 0 && num > p->max) {
        buf_setf(err, "invalid %s parameter value %ld > %ld", p->name, num,
                 p->max);
        return -1;
    }
    return 0;
}

int param_convert(const struct param_info *p, const char *value, long *num,
                  struct buf *err)
{
    int flag;

    *num = 0;
    switch (p->type) {
    case PT_STR:
    case PT_RAW:
    case PT_LIST:
        return 0;
    case PT_BOOL:
        if (conv_bool(value, &flag) < 0) {
            buf_setf(err, "bad boolean configuration: %s = %s", p->name, value);
            return -1;
        }
        *num = flag;
        return 0;
    case PT_INT:
    case PT_LONG:
    case PT_SIZE:
        if (conv_long(value, num) < 0
            || (p->type == PT_INT && (*num > INT_MAX || *num < INT_MIN))) {
            buf_setf(err, "bad numerical configuration: %s = %s", p->name,
                     value);
            return -1;
        }
        return param_check_range(p, *num, err);
    case PT_TIME: {
        size_t len = strlen(p->defval);
        int def_unit = len > 0 ? p->defval[len - 1] : 's';

        if (!isalpha((unsigned char) def_unit))
            def_unit = 's';
        if (conv_time(value, def_unit, num) < 0) {
            buf_setf(err, "bad time value or unit: %s = %s", p->name, value);
            return -1;
        }
        return param_check_range(p, *num, err);
    }
    }
    msg_panic("parameter %s: unknown type %d", p->name, (int) p->type);
}

/* Store a converted value into the global that belongs to P. */
static void param_store(const struct param_info *p, const char *value, long num)
{
    switch (p->type) {
    case PT_STR:
    case PT_RAW:
    case PT_LIST: {
        const char **var = p->var;

        /* Globals may be read by code holding the old pointer: keep it. */
        *var = mem_strdup(value);
    } break;
    case PT_BOOL:
    case PT_INT:
        *(int *) p->var = (int) num;
        break;
    case PT_LONG:
    case PT_SIZE:
    case PT_TIME:
        *(long *) p->var = num;
        break;
    }
}

void params_load(void)
{
    struct buf *err = buf_new(128);
    size_t i;

    for (i = 0; i < param_count; i++) {
        const struct param_info *p = &param_table[i];
        const char *value;
        long num;

        value = p->type == PT_RAW ? config_raw(p->name) : config_get(p->name);
        if (value == NULL)
            value = "";
        if (param_convert(p, value, &num, err) < 0) {
            const char *file;
            int line;

            if (config_origin(p->name, &file, &line) == 0)
                msg_fatal("%s, line %d: %s", file, line, buf_str(err));
            msg_fatal("%s", buf_str(err));
        }
        param_store(p, value, num);
    }
    buf_free(err);
}
