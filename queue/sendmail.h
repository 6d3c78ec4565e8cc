/*
 * sendmail.h - what the files of the sendmail command share:
 *   sendmail.c       main: modes (-bm, -bp, -bs, -bi, -q), stdin copy
 *   sendmail_args.c  the command line: options, recipients, -N, -R
 *   sendmail_drop.c  one message into postdrop (a record stream on a pipe)
 *   sendmail_smtp.c  -bs: an SMTP dialogue on stdin/stdout
 * and the unit tests and the fuzz target, which include the .c files of
 * the parsers directly (they link only lib/ and maps/).
 *
 * Errors: parsers return -1 with a message in a buf; the drop and the
 * dialogue return sysexits.h codes. Only sendmail.c exits.
 */
#ifndef POSTERN_SENDMAIL_H
#define POSTERN_SENDMAIL_H

#include <stddef.h>

struct argv;
struct buf;
struct stream;

/* What sendmail was asked to do. */
enum sm_mode {
    SM_MODE_ENQUEUE = 0, /* -bm (default): a message from stdin */
    SM_MODE_SMTP,        /* -bs */
    SM_MODE_MAILQ,       /* -bp, or run as mailq */
    SM_MODE_NEWALIASES,  /* -bi, -I, or run as newaliases */
    SM_MODE_FLUSH,       /* -q, -qRsite, -qSsite */
};

/* The parsed command line. */
struct sm_opts {
    enum sm_mode mode;
    int extract;           /* -t */
    int ignore_dots;       /* -i, -oi */
    int verbose;           /* -v (count) */
    int have_sender;       /* -f or -r given */
    char *sender;          /* -f: as given (may be "" or "<>") */
    char *full_name;       /* -F, NULL when not given */
    int notify;            /* -N: REC_NOTIFY_* bits, 0 = not given */
    int dsn_ret;           /* -R: REC_DSN_RET_*, 0 = not given */
    char *envid;           /* -V, NULL when not given */
    int body_8bit;         /* -B 8BITMIME */
    char *config_dir;      /* -C (a main.cf or its folder), NULL = default */
    char *flush_site;      /* -qRsite / -qSsite, NULL for a plain -q */
    struct argv *rcpts;    /* the recipient arguments, as given */
    struct argv *warnings; /* options ignored, for -v */
};

void sm_opts_init(struct sm_opts *o);
void sm_opts_free(struct sm_opts *o);
/*
 * Parse ARGV (ARGV[0] picks the mode: mailq, newaliases) into O. 0, or
 * -1 with ERR (the caller exits EX_USAGE): "-bd is not supported",
 * "option -x requires an argument", "invalid option -- 'k'" ...
 */
int sm_args_parse(int argc, char **argv, struct sm_opts *o, struct buf *err);
/* -N: "never", or a list of success, failure, delay. 0 / -1. */
int sm_parse_notify(const char *text, int *notify);
/* -R: "full" or "hdrs" (any case). 0 / -1. */
int sm_parse_ret(const char *text, int *ret);
/*
 * Split one recipient argument ("a@b, Name <c@d>, e") into internal-form
 * addresses (ADDRS) and the original recipients for the queue file
 * (ORIGS: the same addresses, kept as given while cleanup rewrites
 * ADDRS). Returns how many were added, or -1 with ERR for a malformed
 * one.
 */
int sm_split_rcpts(const char *arg, struct argv *addrs, struct argv *origs,
                   struct buf *err);
/* The sender in internal form: "<>" and "" become "", <x> becomes x. */
void sm_sender_internal(struct buf *out, const char *given);

/* ---- one message into postdrop (sendmail_drop.c) -------------------- */

/* The envelope of one message. */
struct sm_env {
    const char *sender; /* internal form; "" = null sender */
    int flags;          /* REC_FLAG_* */
    int dsn_ret;        /* 0 = none */
    const char *envid;  /* NULL = none */
    const char *full_name;
    size_t nrcpt;
    const char **rcpt_addr;  /* internal form */
    const char **rcpt_orig;  /* as given, or NULL */
    const char **rcpt_orcpt; /* DSN ORCPT "type;addr", or NULL */
    const int *rcpt_notify;  /* REC_NOTIFY_* bits, or NULL */
};

/*
 * The message sink: sendmail_drop.c gives the real one (postdrop); the
 * unit tests and the fuzz target give fakes.
 *   open     start a message with ENV; a handle, or NULL (ERR says why,
 *            *STATUS the exit code)
 *   text     one content line (without its line ending), or with
 *            PARTIAL the first part of a longer one: 0 / -1
 *   finish   end the message and wait for the queue ID: an exit code
 *            (0 = queued; ID gets it, ERR the reason otherwise); frees H
 *   abort    give up on the message; frees H
 */
struct sm_sink {
    void *(*open)(void *ctx, const struct sm_env *env, struct buf *err,
                  int *status);
    int (*text)(void *h, const char *data, size_t len, int partial);
    int (*finish)(void *h, struct buf *id, struct buf *err);
    void (*abort)(void *h);
    void *ctx;
};

/* The postdrop sink: runs POSTDROP (with "-c CONFIG_DIR" unless NULL). */
void sm_drop_sink(struct sm_sink *sink, const char *postdrop,
                  const char *config_dir, int verbose);

/*
 * Copy a message from IN into the sink handle H: CR before LF dropped,
 * lines over LINE_LIMIT bytes passed on in pieces, a "From " line at the
 * very top dropped. DOT_MODE: 0 = read to the end of input; 1 = a line
 * with a single "." ends the message (sendmail without -i); 2 = SMTP
 * DATA: "." ends it and a leading "." of other lines is removed.
 * SIZE_LIMIT (0 = none) bounds the content (line bytes plus one per line).
 * Returns 0, SM_COPY_TOOBIG (the rest up to the end was read and thrown
 * away), SM_COPY_EOF (DOT_MODE 2: input ended before "."), SM_COPY_SINK
 * (the sink failed), or SM_COPY_IO (reading IN failed: timeout, error).
 */
#define SM_COPY_OK     0
#define SM_COPY_TOOBIG 1
#define SM_COPY_EOF    2
#define SM_COPY_SINK   3
#define SM_COPY_IO     4
int sm_copy_message(struct stream *in, const struct sm_sink *sink, void *h,
                    int dot_mode, long size_limit, size_t line_limit);

/* ---- -bs (sendmail_smtp.c) ----------------------------------------- */

/* The settings of one dialogue. */
struct sm_smtp_conf {
    const char *hostname; /* myhostname */
    const char *banner;   /* smtpd_banner */
    long size_limit;      /* message_size_limit */
    size_t line_limit;    /* line_length_limit */
    int rcpt_limit;       /* smtpd_recipient_limit */
    int helo_required;    /* smtpd_helo_required */
};

/*
 * Run an SMTP dialogue: commands from IN, replies to OUT, each accepted
 * message handed to SINK. Ends at QUIT, at the end of input, or after a
 * timeout (a 421 reply). Returns the exit code: 0 after QUIT or when the
 * input ends between commands; EX_TEMPFAIL after a timeout or when the
 * input ends inside DATA (that message is dropped); EX_IOERR when
 * reading fails.
 */
int sm_smtp_run(struct stream *in, struct stream *out,
                const struct sm_smtp_conf *conf, const struct sm_sink *sink);

#endif
