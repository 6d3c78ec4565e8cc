"""Read Postern queue files and status logs (lib/record.h, lib/queue_file.h)
so end-to-end tests can look inside them.

    import qfile
    q = qfile.read(path)             # or qfile.parse(bytes)
    q.sender, q.recipients[0].addr, q.recipients[0].status, q.attrs,
    q.flags, q.headers (unfolded (name, value) pairs), q.header("Subject"),
    q.body_lines, q.lines (every content line), q.time_us, q.warn
    qfile.queue_files(queue_dir, "incoming")   # paths of complete files
    qfile.parse_log(bytes)           # status logs: bounce/, defer/, trace/

Everything is checked as the C reader checks it: a malformed file raises
QueueFileError naming the offset. Strings are decoded as UTF-8 with
surrogateescape, so any byte survives (encode back with the same).
"""

from dataclasses import dataclass, field
from pathlib import Path
import struct

VERSION_TEXT = b"postern 1"

REC_VERSION = "V"
REC_SIZE = "Z"
REC_TIME = "T"
REC_WARN = "W"
REC_FLAGS = "F"
REC_SENDER = "S"
REC_RCPT = "R"
REC_DSN_RET = "N"
REC_DSN_ENVID = "I"
REC_ATTR = "A"
REC_MESSAGE = "M"
REC_LINE = "L"
REC_PIECE = "P"
REC_XTRACTED = "X"
REC_STATUS = "Q"
REC_END = "E"
KNOWN = set("VZTWFSRNIAMLPXQE")

RCPT_PENDING = "P"
RCPT_DELIVERED = "D"
RCPT_BOUNCED = "B"
RCPT_DROPPED = "X"

FLAG_BOUNCE = 0x01
FLAG_8BITMIME = 0x02
FLAG_SMTPUTF8 = 0x04
FLAG_HOLD = 0x08
FLAG_EXTRACT = 0x10

NOTIFY_NEVER = 0x01
NOTIFY_SUCCESS = 0x02
NOTIFY_FAILURE = 0x04
NOTIFY_DELAY = 0x08


class QueueFileError(ValueError):
    pass


def _text(b):
    return b.decode("utf-8", "surrogateescape")


@dataclass
class Recipient:
    status: str
    notify: int
    addr: str
    orig: str
    orcpt: str
    offset: int  # file offset of the RCPT record
    late: bool   # written after XTRACTED


@dataclass
class Status:
    action: str
    notify: int
    rcpt_offset: int
    time_us: int
    addr: str
    orig: str
    orcpt: str
    dsn: str
    relay: str
    reason: str


@dataclass
class QueueFile:
    records: list = field(default_factory=list)  # (type, offset, bytes)
    size: dict = field(default_factory=dict)
    time_us: int = None
    warn: int = None
    flags: int = 0
    sender: str = None
    recipients: list = field(default_factory=list)
    attrs: dict = field(default_factory=dict)
    attr_list: list = field(default_factory=list)
    dsn_ret: int = None
    dsn_envid: str = None
    lines: list = field(default_factory=list)  # content lines, PIECEs joined

    @property
    def header_lines(self):
        """Content lines before the first empty line."""
        out = []
        for line in self.lines:
            if line == "":
                break
            out.append(line)
        return out

    @property
    def body_lines(self):
        """Content lines after the first empty line."""
        if "" not in self.lines:
            return []
        return self.lines[self.lines.index("") + 1:]

    @property
    def headers(self):
        """(name, value) for each header, continuation lines unfolded."""
        out = []
        for line in self.header_lines:
            if line[:1] in (" ", "\t") and out:
                name, value = out[-1]
                out[-1] = (name, value + line)
            elif ":" in line:
                name, value = line.split(":", 1)
                out.append((name.rstrip(" \t"), value.strip(" \t")))
        return [(n, v.strip(" \t")) for n, v in out]

    def header(self, name):
        """The value of the first header NAME (any case), or None."""
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None

    def header_all(self, name):
        return [v for n, v in self.headers if n.lower() == name.lower()]

    @property
    def content(self):
        return "\n".join(self.lines) + ("\n" if self.lines else "")

    def rcpt_addrs(self, status=None):
        return [r.addr for r in self.recipients
                if status is None or r.status == status]


def _varint(data, pos, end, what):
    value = 0
    shift = 0
    start = pos
    for i in range(5):
        if pos >= end:
            raise QueueFileError(f"truncated {what} at offset {start}")
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            if i > 0 and b == 0:
                raise QueueFileError(f"non-shortest length at offset {start}")
            if value > 0xFFFFFFFF:
                raise QueueFileError(f"length too large at offset {start}")
            return value, pos
    raise QueueFileError(f"length over 5 bytes at offset {start}")


def _int(data, what, offset):
    if len(data) != 8:
        raise QueueFileError(f"bad {what} INT length {len(data)} at offset "
                             f"{offset}")
    return struct.unpack(">q", data)[0]


def _fields(data, count, offset):
    out = []
    pos = 0
    for _ in range(count):
        n, pos = _varint(data, pos, len(data), "field")
        if pos + n > len(data):
            raise QueueFileError(f"field runs past its record at {offset}")
        f = data[pos:pos + n]
        if b"\0" in f:
            raise QueueFileError(f"NUL in a field at offset {offset}")
        out.append(_text(f))
        pos += n
    if pos != len(data):
        raise QueueFileError(f"trailing bytes in record at offset {offset}")
    return out


def records(data, log=False):
    """Yield (type, offset, data) for each record of DATA."""
    pos = 0
    first = True
    ended = False
    while pos < len(data):
        if ended:
            raise QueueFileError(f"bytes after the end record at {pos}")
        offset = pos
        t = chr(data[pos])
        if t not in KNOWN:
            raise QueueFileError(f"unknown record type {data[pos]:#x} at "
                                 f"offset {offset}")
        n, pos = _varint(data, pos + 1, len(data), "record length")
        if pos + n > len(data):
            raise QueueFileError(f"truncated record at offset {offset}")
        body = bytes(data[pos:pos + n])
        pos += n
        if first:
            if t != REC_VERSION or body != VERSION_TEXT:
                raise QueueFileError("missing or bad version record")
            first = False
        elif t == REC_VERSION:
            raise QueueFileError(f"misplaced version record at {offset}")
        if t == REC_END:
            ended = True
        yield t, offset, body
    if first:
        raise QueueFileError("empty file")
    if not log and not ended:
        raise QueueFileError("no end record")


def parse_rcpt(body, offset, late=False):
    if len(body) < 2:
        raise QueueFileError(f"short RCPT record at offset {offset}")
    addr, orig, orcpt = _fields(body[2:], 3, offset)
    return Recipient(chr(body[0]), body[1], addr, orig, orcpt, offset, late)


def parse_status(body, offset):
    if len(body) < 18:
        raise QueueFileError(f"short STATUS record at offset {offset}")
    rcpt_offset, time_us = struct.unpack(">qq", body[2:18])
    f = _fields(body[18:], 6, offset)
    return Status(chr(body[0]), body[1], rcpt_offset, time_us, *f)


def parse(data):
    """Parse a whole queue file (bytes) into a QueueFile."""
    q = QueueFile()
    section = "envelope"
    piece = b""
    for t, offset, body in records(data):
        q.records.append((t, offset, body))
        if t == REC_VERSION:
            continue
        if t == REC_SIZE:
            if len(body) != 40:
                raise QueueFileError("bad SIZE record")
            v = struct.unpack(">5q", body)
            q.size = dict(zip(("content_offset", "content_size",
                               "body_offset", "xtracted_offset",
                               "rcpt_count"), v))
        elif t in (REC_LINE, REC_PIECE):
            if section != "content":
                raise QueueFileError(f"content record outside the content "
                                     f"at offset {offset}")
            piece += body
            if t == REC_LINE:
                q.lines.append(_text(piece))
                piece = b""
        elif t == REC_MESSAGE:
            if section != "envelope":
                raise QueueFileError(f"second MESSAGE at offset {offset}")
            section = "content"
        elif t == REC_XTRACTED:
            if section != "content" or piece:
                raise QueueFileError(f"misplaced XTRACTED at offset {offset}")
            section = "extracted"
        elif t == REC_END:
            if section != "extracted":
                raise QueueFileError("END before XTRACTED")
        elif t == REC_RCPT:
            if section == "content":
                raise QueueFileError(f"RCPT in the content at {offset}")
            q.recipients.append(parse_rcpt(body, offset,
                                           section == "extracted"))
        elif t == REC_ATTR:
            if b"=" not in body:
                raise QueueFileError(f"bad ATTR at offset {offset}")
            name, value = body.split(b"=", 1)
            q.attrs[_text(name)] = _text(value)
            q.attr_list.append((_text(name), _text(value)))
        elif t == REC_FLAGS:
            q.flags |= _int(body, "FLAGS", offset)
        elif section != "envelope":
            raise QueueFileError(f"record {t} outside the envelope at "
                                 f"offset {offset}")
        elif t == REC_TIME:
            q.time_us = _int(body, "TIME", offset)
        elif t == REC_WARN:
            q.warn = _int(body, "WARN", offset)
        elif t == REC_SENDER:
            if q.sender is not None:
                raise QueueFileError("second SENDER")
            q.sender = _text(body)
        elif t == REC_DSN_RET:
            q.dsn_ret = _int(body, "DSN_RET", offset)
        elif t == REC_DSN_ENVID:
            q.dsn_envid = _text(body)
        else:
            raise QueueFileError(f"unexpected record {t} at offset {offset}")
    if q.sender is None:
        raise QueueFileError("no SENDER record")
    return q


def read(path):
    return parse(Path(path).read_bytes())


def parse_log(data):
    """The STATUS records of a status log (bounce/, defer/, trace/)."""
    out = []
    for t, offset, body in records(data, log=True):
        if t == REC_VERSION:
            continue
        if t != REC_STATUS:
            raise QueueFileError(f"record {t} in a status log at {offset}")
        out.append(parse_status(body, offset))
    return out


def queue_files(queue_dir, queue="incoming", temp=False):
    """Paths of the queue files in QUEUE (hashed subfolders included);
    with TEMP, the temporary ID.tmp files instead."""
    root = Path(queue_dir) / queue
    if not root.is_dir():
        return []
    found = []
    for p in sorted(root.rglob("*")):
        if not p.is_file():
            continue
        if p.name.endswith(".tmp") == bool(temp):
            found.append(p)
    return found


def find(queue_dir, qid):
    """(queue, path) of the queue file QID in any queue, or None."""
    for sub in ("incoming", "active", "deferred", "hold", "corrupt",
                "maildrop"):
        for p in queue_files(queue_dir, sub):
            if p.name == qid:
                return sub, p
    return None
