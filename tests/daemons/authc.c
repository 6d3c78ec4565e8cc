/*
 * authc.c - test-only client of the auth service (lib/auth_client.h).
 *
 * Usage: authc SOCKET [TIMEOUT]. SOCKET is the path of private/auth.
 * Reads one request per line on stdin and prints one reply line per
 * request on stdout (flushed), so a test can run a multi-step exchange:
 *
 *   mechs OPTIONS TLS              start MECH INITIAL OPTIONS TLS
 *   step RESPONSE                  cancel
 *   creds SENDER HOST NEXTHOP
 *
 * Words are separated by one space; "-" stands for an empty word.
 * Replies: "STATUS data=DATA user=USER reason=REASON" (STATUS is OK,
 * CONTINUE, FAIL, TEMP or NONE). A malformed line prints "ERROR ...".
 * Exits 0 at the end of input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "argv.h"
#include "auth_client.h"
#include "buf.h"
#include "str.h"

static const char *word(char **cp)
{
    const char *w = str_token(cp, " ");

    if (w == NULL || strcmp(w, "-") == 0)
        return "";
    return w;
}

int main(int argc, char **argv)
{
    struct auth_client *ac;
    struct auth_reply r;
    char line[70000];

    if (argc < 2) {
        fprintf(stderr, "usage: authc SOCKET [TIMEOUT]\n");
        return 2;
    }
    ac = auth_client_create(argv[1], argc > 2 ? atoi(argv[2]) : 10);
    auth_reply_init(&r);
    while (fgets(line, sizeof(line), stdin) != NULL) {
        char *cp = line;
        const char *cmd;
        enum auth_status st;

        line[strcspn(line, "\r\n")] = 0;
        cmd = word(&cp);
        if (strcmp(cmd, "mechs") == 0) {
            const char *opts = word(&cp);

            st = auth_client_mechs(ac, opts, atoi(word(&cp)), &r);
        } else if (strcmp(cmd, "start") == 0) {
            const char *mech = word(&cp), *init = word(&cp), *opts = word(&cp);

            st = auth_client_start(ac, mech, init, opts, atoi(word(&cp)),
                                   "localhost[127.0.0.1]", &r);
        } else if (strcmp(cmd, "step") == 0) {
            st = auth_client_step(ac, word(&cp), &r);
        } else if (strcmp(cmd, "cancel") == 0) {
            st = auth_client_cancel(ac, &r);
        } else if (strcmp(cmd, "creds") == 0) {
            const char *sender = word(&cp), *host = word(&cp);

            st = auth_client_creds(ac, sender, host, word(&cp), &r);
        } else {
            printf("ERROR unknown command\n");
            fflush(stdout);
            continue;
        }
        printf("%s data=%s user=%s reason=%s\n", auth_status_name(st),
               buf_str(r.data), buf_str(r.user), buf_str(r.reason));
        fflush(stdout);
    }
    auth_reply_free(&r);
    auth_client_free(ac);
    return 0;
}
