/*
 * attr.h - the IPC attribute protocol (DESIGN.md section 3).
 *
 * Every request and reply on a local socket between Postern processes is
 * one attribute list: smtpd <-> cleanup, smtpd/smtp <-> auth, qmgr and its
 * agents, master and its children. Callers print a list with attr_print and
 * read one with attr_scan over a stream (lib/stream.h), whose timeout
 * (ipc_timeout) bounds every read and write.
 *
 * Errors: attr_print and attr_scan return -1 and keep a one-line message
 * for the log in attr_error(), e.g.
 *     attr_scan: unexpected attribute "x"
 *     attr_scan: missing attribute "status"
 *     attr_scan: bad integer value for "size"
 *     attr_scan: read error: timeout
 * and a class in attr_error_code(). Peer data in a message is made
 * printable first. A malformed list is never fatal: the caller logs the
 * message (adding who the peer was) and closes the connection, which is
 * the only way to resynchronise. A programming error in the caller's own
 * list (an unknown type code, an invalid name given to attr_print) is a
 * msg_panic.
 *
 * ---- Wire format -----------------------------------------------------------
 *
 *   list       = *attribute end
 *   attribute  = name-field value-field
 *   end        = "0:,"                  ; a name field of length 0
 *   name-field = field                  ; content: 1 to 64 bytes of a-z 0-9 _
 *   value-field= field                  ; content: any bytes, NUL included
 *   field      = length ":" content "," ; content is exactly LENGTH bytes
 *   length     = "0" / %x31-39 *9DIGIT  ; decimal byte count, no sign, no
 *                                       ; leading zero, no white space
 *
 * that is, each name and each value is a netstring. Example, a request
 * with request=lookup and user=bob (16 bits of binary would do as well):
 *
 *   7:request,6:lookup,4:user,3:bob,0:,
 *
 * Types are not on the wire; the reader's list says what each value must
 * be, and it is checked strictly:
 *   STR   no NUL byte in the content (so the value is a safe C string);
 *   DATA  any bytes;
 *   INT   "-"? ("0" / %x31-39 *DIGIT), within the range of int: no "+",
 *   LONG  no "-0", no leading zeros, no white space; LONG: range of long.
 * Attributes may come in any order. By default (flags 0) every listed
 * attribute must be present exactly once, no other attribute may appear,
 * and no input may follow the end of the list. A name is at most
 * ATTR_NAME_MAX bytes, a value at most the value limit (attr_set_limits,
 * and the hard limit of the destination buffer when it has one), a whole
 * list at most the total limit; lengths are checked before any content is
 * read.
 */
#ifndef POSTERN_ATTR_H
#define POSTERN_ATTR_H

#include <stdarg.h>
#include <stddef.h>

struct buf;
struct stream;

/* Type codes in a list; use the ATTR_PUT_* and ATTR_GET_* macros. */
enum attr_type {
    ATTR_T_END = 0,
    ATTR_T_STR = 0x41545201,
    ATTR_T_INT,
    ATTR_T_LONG,
    ATTR_T_DATA,
};

/* Compile-time type checks for the variadic lists. */
static inline const char *attr_chk_name(const char *name)
{
    return name;
}
static inline const char *attr_chk_str(const char *str)
{
    return str;
}
static inline const void *attr_chk_ptr(const void *ptr)
{
    return ptr;
}
static inline size_t attr_chk_size(size_t len)
{
    return len;
}
static inline long attr_chk_long(long val)
{
    return val;
}
static inline struct buf *attr_chk_buf(struct buf *b)
{
    return b;
}
static inline int *attr_chk_intp(int *p)
{
    return p;
}
static inline long *attr_chk_longp(long *p)
{
    return p;
}

/* For attr_print and attr_build. */
#define ATTR_PUT_STR(name, str)                                                \
    ATTR_T_STR, attr_chk_name(name), attr_chk_str(str)
#define ATTR_PUT_INT(name, val) ATTR_T_INT, attr_chk_name(name), (int) (val)
#define ATTR_PUT_LONG(name, val)                                               \
    ATTR_T_LONG, attr_chk_name(name), attr_chk_long(val)
#define ATTR_PUT_DATA(name, ptr, len)                                          \
    ATTR_T_DATA, attr_chk_name(name), attr_chk_ptr(ptr), attr_chk_size(len)

/* For attr_scan and attr_parse; STR and DATA values replace BUF's content. */
#define ATTR_GET_STR(name, buf)                                                \
    ATTR_T_STR, attr_chk_name(name), attr_chk_buf(buf)
#define ATTR_GET_INT(name, ptr)                                                \
    ATTR_T_INT, attr_chk_name(name), attr_chk_intp(ptr)
#define ATTR_GET_LONG(name, ptr)                                               \
    ATTR_T_LONG, attr_chk_name(name), attr_chk_longp(ptr)
#define ATTR_GET_DATA(name, buf)                                               \
    ATTR_T_DATA, attr_chk_name(name), attr_chk_buf(buf)

/* Ends every list. */
#define ATTR_END ATTR_T_END

/* Flags. 0 is the strict default described above. */
#define ATTR_FLAG_MISSING 0x1 /* scan: listed attributes may be absent */
#define ATTR_FLAG_EXTRA   0x2 /* scan: unlisted attributes are skipped */
/*
 * print: write no end marker and do not flush (more attributes follow in
 * another call). scan: read exactly as many attributes as are listed (each
 * one of the list, in any order) and no end marker: for reading a
 * "request" attribute first and choosing the rest of the list by it.
 */
#define ATTR_FLAG_MORE 0x4
/* scan: the peer may already have sent what comes after the list. */
#define ATTR_FLAG_FOLLOW 0x8

/* Error classes (attr_error_code). */
enum attr_err {
    ATTR_ERR_NONE = 0,
    ATTR_ERR_CLOSED,   /* input ended before the first byte of the list */
    ATTR_ERR_IO,       /* read or write failed: see stream_reason() */
    ATTR_ERR_PROTOCOL, /* malformed, unexpected or missing attribute */
};

#define ATTR_NAME_MAX          64
#define ATTR_VALUE_MAX_DEFAULT (1024 * 1024)
#define ATTR_TOTAL_MAX_DEFAULT (4 * 1024 * 1024)

/*
 * Write the list (type, name, value ..., ATTR_END) and the end marker, then
 * flush. Returns 0, or -1 (attr_error; the stream has the reason).
 */
int attr_print(struct stream *s, int flags, ...);
int attr_vprint(struct stream *s, int flags, va_list ap);
/*
 * Read one list into the destinations given (type, name, destination ...,
 * ATTR_END). Returns how many listed attributes were stored, or -1
 * (attr_error). Destinations may have been changed when -1 is returned;
 * with ATTR_FLAG_MISSING, those of absent attributes are left alone.
 */
int attr_scan(struct stream *s, int flags, ...);
int attr_vscan(struct stream *s, int flags, va_list ap);

/* In-memory forms: append the encoding to OUT; parse one list from DATA. */
int attr_build(struct buf *out, int flags, ...);
int attr_parse(const void *data, size_t len, int flags, ...);

/*
 * Per-value and per-list byte limits for attr_scan/attr_parse in this
 * process; 0 restores the default.
 */
void attr_set_limits(size_t value_max, size_t total_max);

/*
 * Length of the first complete attribute list in DATA/LEN (through its
 * end marker), for event-driven readers: > 0; 0 when more bytes are
 * needed; -1 when DATA cannot be an attribute list (close the connection).
 */
long attr_frame_len(const void *data, size_t len);

/*
 * Message and class of the last failure, valid until the next attr call
 * (after a success: "" and ATTR_ERR_NONE).
 */
const char *attr_error(void);
int attr_error_code(void);

#endif
