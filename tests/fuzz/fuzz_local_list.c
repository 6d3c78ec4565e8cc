/*
 * fuzz_local_list.c - libFuzzer target for the list and template parsers
 * of the local delivery agent: local_split_list() (alias values,
 * .forward and :include: files, which users write) and local_expand()
 * (forward_path, mailbox_command, luser_relay).
 *
 * Built and run by tests/fuzz/run. The input's first byte picks the
 * parser ('L' list, anything else template); the rest is the text (cut
 * at the first NUL, as the agent sees C strings). Besides sanitizer
 * findings, a broken invariant aborts:
 *   - list items are not empty and do not start or end with white space;
 *   - splitting is stable: no item holds a newline;
 *   - expansion returns -1, 0 or 1, and -1 comes with a reason.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define main local_agent_main
#include "../../local/local.c"
#include "../../local/local_alias.c"
#include "../../local/local_command.c"
#include "../../local/local_copy.c"
#include "../../local/local_expand.c"
#include "../../local/local_forward.c"
#include "../../local/local_mailbox.c"
#undef main

#include "config.h"

#define MAX_INPUT 4096

static void check(int cond)
{
    if (!cond)
        abort();
}

static int init(void)
{
    msg_init("fuzz_local_list", MSG_NOLOG);
    config_clear();
    config_set("myhostname", "host.example", NULL, 0);
    config_set("mydomain", "example", NULL, 0);
    config_set("recipient_delimiter", "+", NULL, 0);
    params_load();
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    struct buf *text;
    size_t i;

    if (!ready)
        ready = init();
    if (size < 1 || size > MAX_INPUT)
        return 0;
    text = buf_new(size);
    buf_append(text, data + 1, size - 1);
    if (data[0] == 'L') {
        struct argv *items = local_split_list(buf_str(text));

        for (i = 0; i < items->argc; i++) {
            const char *it = items->argv[i];
            size_t n = strlen(it);

            check(n > 0);
            check(!strchr(" \t\r\n", it[0]) && !strchr(" \t\r\n", it[n - 1]));
        }
        argv_free(items);
    } else {
        struct local_state st;
        struct buf *out = buf_new(64);
        struct buf *err = buf_new(64);
        const char *filter = "abc@.";
        int r;

        memset(&st, 0, sizeof(st));
        /* Attribute values made only of characters outside the filter. */
        st.user = "UUU";
        st.home = "/HOME";
        st.extension = data[0] & 1 ? "EXT" : "";
        st.local = "LLL";
        st.domain = "DDD";
        st.address = "RRR";
        st.sender = "SSS";
        r = local_expand(out, buf_str(text), &st, data[0] & 2 ? filter : NULL,
                         err);
        check(r >= -1 && r <= 1);
        if (r < 0)
            check(buf_len(err) > 0);
        buf_free(out);
        buf_free(err);
    }
    buf_free(text);
    return 0;
}
