"""The bounce service (issue 5): non-delivery notices, delay warnings,
double bounces, postmaster copies, and no bounce loops, through a real
instance.

The full-flow tests run cleanup, qmgr, bounce, the error agent and the
test-only delivery agent tests/daemons/testagent as the local transport (it
appends every delivery to a file: "QUEUEID RCPT", then the content with a
TAB before each line). Mail for other domains goes to
"default_transport = error:5.1.1 test failure". Messages are written
straight into incoming/ with tests/daemons/qinject and qmgr is woken up.
The tests of the service alone run only cleanup and bounce, write the
status log with tests/daemons/qlog, speak qmgr's side of the protocol
(lib/deliver.h) themselves and read the notice from incoming/ (lib/
queue_file.h, via qfile.py). Python's email package reads every notice."""

import email
import os
import pwd
import re
import shutil
import socket
import tempfile
from pathlib import Path
from email import policy

import pytest

import qfile
from conftest import add_program, BUILD_DIR, Instance, layout_args, run_install
from test_master import Master, wait_for

HOST = "test.example"
TOOLS = ["qinject", "qlog", "testagent"]


@pytest.fixture(scope="module")
def bounce_installed():
    """One installation for the module, in a folder of its own under /tmp
    that mail_owner can walk through: qmgr is not chrooted and reaches
    the services by the absolute path of their sockets (pytest's own
    temporary folders are closed to other users)."""
    root = Path(tempfile.mkdtemp(prefix="postern-bounce-"))
    os.chmod(root, 0o711)
    try:
        args = layout_args(root)
        run_install(args)
        inst = Instance(root, args)
        yield inst, inst.main_cf.read_text()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def bounce_master(bounce_installed):
    inst, pristine = bounce_installed
    for name in ("master", "cleanup", "qmgr", "bounce", "error"):
        if not (inst.daemon_dir / name).is_file():
            pytest.skip(f"the install has no {name} daemon yet")
    for name in TOOLS:
        src = BUILD_DIR / "testbin" / name
        if not src.is_file():
            pytest.fail(f"{src} is missing: run make first")
        add_program(src, inst.daemon_dir / name)
    m = Master(inst, pristine)
    m.log.unlink(missing_ok=True)
    m.stderr_path.unlink(missing_ok=True)
    m.deliveries = inst.root / "deliveries"
    m.deliveries.unlink(missing_ok=True)
    m.deliveries.touch()
    pw = pwd.getpwnam(inst.mail_owner)
    os.chown(m.deliveries, pw.pw_uid, pw.pw_gid)
    for q in ("incoming", "active", "deferred", "bounce", "defer"):
        d = inst.queue_dir / q
        if d.is_dir():
            for p in d.rglob("*"):
                if p.is_file():
                    p.unlink()
    yield m
    reports = m.cleanup()
    assert not reports, f"sanitizer reports:\n{reports}"


def configure(m, **params):
    services = [
        "cleanup unix n - y - 0 cleanup",
        "qmgr unix n - n 300 1 qmgr",
        "bounce unix - - y - 0 bounce",
        "defer unix - - y - 0 bounce",
        "error unix - - y - - error",
        f"test unix - - n - - testagent {m.deliveries}",
    ]
    settings = {
        "myhostname": HOST,
        "mydomain": "example",
        "myorigin": "$myhostname",
        "mydestination": "$myhostname",
        "local_transport": "test",
        "default_transport": "error:5.1.1 test failure",
        "alias_maps": "",
        "queue_run_delay": "1s",
        "minimal_backoff_time": "1s",
        "maximal_backoff_time": "2s",
    }
    settings.update(params)
    m.configure(services, **settings)


def inject(m, sender, *rcpts, body=None, flags=None, warn=None,
           queue="incoming"):
    """Write a message into incoming/ with qinject; return its queue ID."""
    text = body or (f"From: {sender or 'MAILER-DAEMON'}\n"
                    f"To: {', '.join(rcpts)}\n"
                    "Subject: bounce test\n"
                    "Message-ID: <bt1@client.example>\n"
                    "\n"
                    "This message cannot be delivered.\n")
    argv = [m.inst.daemon_dir / "qinject", "-q", queue, "-f", sender]
    if flags is not None:
        argv += ["-F", str(flags)]
    if warn is not None:
        argv += ["-w", str(warn)]
    res = m.inst.run([*argv, m.inst.queue_dir, *rcpts], input=text,
                     stdin=None)
    assert res.returncode == 0, res.stderr
    qid = res.stdout.strip()
    assert re.fullmatch(r"[0-9A-Za-z]+", qid), res.stdout
    own_queue(m)
    return qid


def own_queue(m):
    """Give what the test tools wrote as root to mail_owner."""
    pw = pwd.getpwnam(m.inst.mail_owner)
    for q in ("incoming", "active", "deferred", "bounce", "defer"):
        for p in (m.inst.queue_dir / q).rglob("*"):
            os.chown(p, pw.pw_uid, pw.pw_gid)


def add_log(m, qid, rcpt, reason, log="bounce", action="B", dsn="5.1.1",
            relay="none"):
    """Append a delivery result to LOG/QID with qlog."""
    res = m.inst.run([m.inst.daemon_dir / "qlog", "-c", m.inst.config_dir,
                      "-l", log, "-a", action, "-d", dsn, "-R", relay,
                      m.inst.queue_dir, qid, rcpt, reason])
    assert res.returncode == 0, res.stderr
    own_queue(m)


def netstring(b):
    return str(len(b)).encode() + b":" + b + b","


def ask_bounce(m, request, qid, queue="active", raw=None):
    """Talk to private/bounce as qmgr does; return (status, reason), or
    None when the service closed the connection without an answer."""
    path = m.inst.queue_dir / "private" / "bounce"
    assert wait_for(path.exists, 10), "no private/bounce"
    if raw is None:
        raw = b"".join(netstring(x) for x in (
            b"request", request.encode(), b"queue_name", queue.encode(),
            b"queue_id", qid.encode())) + b"0:,"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    try:
        s.connect(str(path))
        s.sendall(raw)
        data = b""
        while not data.endswith(b"0:,"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    if not data:
        return None
    fields = []
    pos = 0
    while pos < len(data):
        colon = data.index(b":", pos)
        n = int(data[pos:colon])
        fields.append(data[colon + 1:colon + 1 + n].decode())
        pos = colon + 1 + n + 1
    assert fields[-1] == "", data
    attrs = dict(zip(fields[0:-1:2], fields[1:-1:2]))
    return int(attrs["status"]), attrs["reason"]


def configure_direct(m, with_cleanup=True, **params):
    """cleanup and bounce only: notices stay in incoming/ (no qmgr)."""
    services = ["bounce unix - - y - 0 bounce"]
    if with_cleanup:
        services.insert(0, "cleanup unix n - y - 0 cleanup")
    settings = {
        "myhostname": HOST,
        "mydomain": "example",
        "myorigin": "$myhostname",
        "mydestination": "$myhostname",
    }
    settings.update(params)
    m.configure(services, **settings)


def notice_file(m, new_id):
    paths = list((m.inst.queue_dir / "incoming").rglob(new_id))
    assert len(paths) == 1, f"notice {new_id} not in incoming/"
    return qfile.read(paths[0])


def start(m):
    """Start the instance and wake qmgr (master only starts it on demand)."""
    m.start()
    sock_path = m.inst.queue_dir / "public" / "qmgr"
    assert wait_for(sock_path.exists, 10), "no public/qmgr"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(10)
        s.connect(str(sock_path))
        s.sendall(b"I")
    finally:
        s.close()


def deliveries(m):
    """[(queue_id, rcpt, content)] from the test agent's file."""
    out = []
    for line in m.deliveries.read_text(errors="surrogateescape").splitlines(
            keepends=True):
        if line.startswith("\t"):
            out[-1][2].append(line[1:])
        elif line.strip():
            qid, rcpt = line.split(None, 1)
            out.append((qid, rcpt.strip(), []))
    return [(q, r, "".join(c)) for q, r, c in out]


def wait_log(m, pattern, timeout=30):
    got = wait_for(lambda: re.search(pattern, m.log_text()), timeout)
    assert got, f"no /{pattern}/ in the log:\n{m.log_text()}"
    return got


def parse_notice(content):
    msg = email.message_from_string(content, policy=policy.default)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    parts = msg.get_payload()
    assert len(parts) == 3, [p.get_content_type() for p in parts]
    assert parts[1].get_content_type() == "message/delivery-status"
    return msg, parts


def test_non_delivery_notice(bounce_master):
    m = bounce_master
    configure(m)
    qid = inject(m, f"alice@{HOST}", "bob@far.example")
    start(m)
    got = wait_log(m, rf"{qid}: sender non-delivery notification: (\w+)")
    notice_id = got.group(1)
    wait_for(lambda: any(d[0] == notice_id for d in deliveries(m)), 30)
    (d,) = [d for d in deliveries(m) if d[0] == notice_id]
    assert d[1] == f"alice@{HOST}"
    msg, parts = parse_notice(d[2])
    assert msg["Subject"] == "Undelivered Mail Returned to Sender"
    assert msg["To"] == f"alice@{HOST}"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert f"MAILER-DAEMON@{HOST}" in msg["From"]
    text = parts[0].get_content()
    assert HOST in text
    assert "<bob@far.example>: test failure" in text
    report = parts[1].get_payload()
    assert report[0]["Reporting-MTA"] == f"dns; {HOST}"
    assert report[0]["X-Postern-Queue-ID"] == qid
    assert report[0]["X-Postern-Sender"] == f"rfc822; alice@{HOST}"
    assert report[1]["Final-Recipient"] == "rfc822; bob@far.example"
    assert report[1]["Action"] == "failed"
    assert report[1]["Status"] == "5.1.1"
    assert parts[2].get_content_type() == "message/rfc822"
    orig = parts[2].get_payload()[0]
    assert orig["Subject"] == "bounce test"
    assert "This message cannot be delivered." in orig.get_content()
    # The notice went out with the null sender, and the original is gone.
    wait_log(m, rf"{notice_id}: from=<>")
    wait_log(m, rf"{qid}: removed")
    assert not list((m.inst.queue_dir / "bounce").rglob(qid))


def test_bounce_of_a_bounce_goes_to_postmaster_once(bounce_master):
    """Sender and recipient both fail: the notice bounces too and becomes
    a double bounce to the postmaster, which is the end of it."""
    m = bounce_master
    configure(m, notify_classes="resource, software, 2bounce")
    qid = inject(m, "alice@far.example", "bob@far.example")
    start(m)
    first = wait_log(m, rf"{qid}: sender non-delivery notification: (\w+)")
    n1 = first.group(1)
    second = wait_log(
        m, rf"{n1}: postmaster non-delivery notification: (\w+)")
    n2 = second.group(1)
    wait_for(lambda: any(d[0] == n2 for d in deliveries(m)), 30)
    (d,) = [d for d in deliveries(m) if d[0] == n2]
    assert d[1] == f"postmaster@{HOST}"
    msg, parts = parse_notice(d[2])
    assert msg["Subject"] == "Postmaster Copy: Undelivered Mail"
    assert parts[2].get_content_type() == "text/rfc822-headers"
    assert "alice@far.example" in parts[2].get_content()
    wait_log(m, rf"{n2}: from=<double-bounce@{HOST}>")
    wait_log(m, rf"{n1}: removed")
    # Nothing more: only the one delivery, and no third notice.
    wait_log(m, rf"{n2}: removed")
    assert [x[0] for x in deliveries(m)] == [n2]
    assert not re.search(rf"{n2}: \w+ non-delivery notification",
                         m.log_text())


def test_bounce_loop_ends(bounce_master):
    """Sender, recipient and postmaster all fail: the double bounce that
    cannot be delivered either is only logged, and everything is gone."""
    m = bounce_master
    configure(m, notify_classes="2bounce",
              **{"2bounce_notice_recipient": "pm@far.example"})
    qid = inject(m, "alice@far.example", "bob@far.example")
    start(m)
    n1 = wait_log(m, rf"{qid}: sender non-delivery notification: (\w+)")[1]
    n2 = wait_log(m, rf"{n1}: postmaster non-delivery notification: "
                     r"(\w+)")[1]
    wait_log(m, rf"{n2}: undeliverable postmaster notification discarded")
    for i in (qid, n1, n2):
        wait_log(m, rf"{i}: removed")
    assert m.log_text().count("notification:") == 2
    assert deliveries(m) == []
    left = [p for q in ("incoming", "active", "deferred", "bounce", "defer")
            for p in (m.inst.queue_dir / q).rglob("*") if p.is_file()]
    assert left == []


def test_double_bounce_is_discarded_by_default(bounce_master):
    m = bounce_master
    configure(m)
    qid = inject(m, "", "bob@far.example")
    start(m)
    wait_log(m, rf"{qid}: undeliverable notice discarded")
    wait_log(m, rf"{qid}: removed")
    assert deliveries(m) == []


def test_failed_postmaster_notice_is_only_logged(bounce_master):
    m = bounce_master
    configure(m, notify_classes="2bounce")
    qid = inject(m, f"double-bounce@{HOST}", "bob@far.example", flags=1)
    start(m)
    wait_log(m, rf"{qid}: undeliverable postmaster notification discarded")
    wait_log(m, rf"{qid}: removed")
    assert deliveries(m) == []


def test_postmaster_copy(bounce_master):
    m = bounce_master
    configure(m, notify_classes="bounce")
    qid = inject(m, f"alice@{HOST}", "bob@far.example")
    start(m)
    s = wait_log(m, rf"{qid}: sender non-delivery notification: (\w+)")
    p = wait_log(m, rf"{qid}: postmaster non-delivery notification: (\w+)")
    ids = {s.group(1), p.group(1)}
    wait_for(lambda: ids <= {d[0] for d in deliveries(m)}, 30)
    got = {d[1]: d for d in deliveries(m)}
    assert set(got) == {f"alice@{HOST}", f"postmaster@{HOST}"}
    _, parts = parse_notice(got[f"postmaster@{HOST}"][2])
    assert parts[2].get_content_type() == "text/rfc822-headers"
    assert "This message cannot be delivered." not in \
        got[f"postmaster@{HOST}"][2]
    _, parts = parse_notice(got[f"alice@{HOST}"][2])
    assert parts[2].get_content_type() == "message/rfc822"


def test_delay_warning(bounce_master):
    """A deferred message whose warning time has passed gets one delay
    warning, and stays queued."""
    m = bounce_master
    configure(m, default_transport="test")
    qid = inject(m, f"alice@{HOST}", "defer-me@far.example", warn=1)
    start(m)
    got = wait_log(m, rf"{qid}: sender delay notification: (\w+)")
    nid = got.group(1)
    wait_for(lambda: any(d[0] == nid for d in deliveries(m)), 30)
    (d,) = [d for d in deliveries(m) if d[0] == nid]
    assert d[1] == f"alice@{HOST}"
    msg, parts = parse_notice(d[2])
    assert msg["Subject"] == "Delayed Mail (still being retried)"
    report = parts[1].get_payload()
    assert report[1]["Final-Recipient"] == "rfc822; defer-me@far.example"
    assert report[1]["Action"] == "delayed"
    assert report[1]["Status"].startswith("4.")
    assert report[1]["Will-Retry-Until"]
    assert parts[2].get_content_type() == "text/rfc822-headers"
    # One warning only, and the message is still there.
    wait_log(m, rf"{qid}: .*status=deferred")
    assert m.log_text().count(f"{qid}: sender delay notification") == 1
    assert list((m.inst.queue_dir / "deferred").rglob(qid)) \
        or list((m.inst.queue_dir / "active").rglob(qid))


# ---- the bounce service alone (cleanup and bounce; qmgr's part by hand) ----


def test_flush_queues_a_notice(bounce_master):
    m = bounce_master
    configure_direct(m)
    qid = inject(m, f"alice@{HOST}", "bob@far.example", "carol@far.example",
                 queue="active")
    add_log(m, qid, "bob@far.example",
            "host mx.far.example[192.0.2.7] said: 550 5.1.1 <bob@far.example>:"
            " no such user (in reply to RCPT TO command)",
            relay="mx.far.example[192.0.2.7]:25")
    m.start()
    assert ask_bounce(m, "flush", qid) == (0, "")
    got = wait_log(m, rf"{qid}: sender non-delivery notification: (\w+)")
    q = notice_file(m, got.group(1))
    assert q.sender == ""
    assert q.flags & 1  # REC_FLAG_BOUNCE: never bounced itself
    assert q.rcpt_addrs() == [f"alice@{HOST}"]
    msg, parts = parse_notice(q.content)
    assert msg["To"] == f"alice@{HOST}"
    report = parts[1].get_payload()
    assert len(report) == 2  # carol has no result: not in the notice
    assert report[1]["Final-Recipient"] == "rfc822; bob@far.example"
    assert report[1]["Remote-MTA"] == "dns; mx.far.example"
    assert report[1]["Diagnostic-Code"] == \
        "smtp; 550 5.1.1 <bob@far.example>: no such user"
    # bounce never removes the log or the message: qmgr does.
    assert list((m.inst.queue_dir / "bounce").rglob(qid))
    assert list((m.inst.queue_dir / "active").rglob(qid))


def test_flush_without_log_sends_nothing(bounce_master):
    m = bounce_master
    configure_direct(m)
    qid = inject(m, f"alice@{HOST}", "bob@far.example", queue="active")
    m.start()
    status, reason = ask_bounce(m, "flush", qid)
    assert status == 0
    assert "no bounce log" in reason
    assert not list((m.inst.queue_dir / "incoming").rglob("*"))


def test_flush_retries_when_cleanup_is_down(bounce_master):
    m = bounce_master
    configure_direct(m, with_cleanup=False)
    qid = inject(m, f"alice@{HOST}", "bob@far.example", queue="active")
    add_log(m, qid, "bob@far.example", "test failure")
    m.start()
    status, reason = ask_bounce(m, "flush", qid)
    assert status == 1
    assert "cannot queue a notice" in reason
    wait_log(m, rf"warning: {qid}: sender non-delivery notification: "
                r"cannot queue a notice")


def test_null_sender_goes_to_postmaster(bounce_master):
    m = bounce_master
    configure_direct(m, notify_classes="2bounce")
    qid = inject(m, "", "bob@far.example", queue="active")
    add_log(m, qid, "bob@far.example", "test failure")
    m.start()
    assert ask_bounce(m, "flush", qid) == (0, "")
    got = wait_log(m, rf"{qid}: postmaster non-delivery notification: (\w+)")
    q = notice_file(m, got.group(1))
    assert q.sender == f"double-bounce@{HOST}"
    assert q.rcpt_addrs() == [f"postmaster@{HOST}"]
    msg, parts = parse_notice(q.content)
    assert parts[2].get_content_type() == "text/rfc822-headers"
    assert "This message cannot be delivered." not in str(msg)


def test_warn_request(bounce_master):
    m = bounce_master
    configure_direct(m)
    qid = inject(m, f"alice@{HOST}", "dave@far.example", queue="active")
    add_log(m, qid, "dave@far.example", "connection refused", log="defer",
            action="F", dsn="4.4.1")
    m.start()
    assert ask_bounce(m, "warn", qid) == (0, "")
    got = wait_log(m, rf"{qid}: sender delay notification: (\w+)")
    q = notice_file(m, got.group(1))
    msg, parts = parse_notice(q.content)
    assert msg["Subject"] == "Delayed Mail (still being retried)"
    assert parts[1].get_payload()[1]["Action"] == "delayed"


def test_bad_requests(bounce_master):
    m = bounce_master
    configure_direct(m)
    m.start()
    # Not an attribute list: closed without an answer, and logged.
    assert ask_bounce(m, "", "", raw=b"hello\r\n") is None
    wait_log(m, r"warning: bounce: bad request from client")
    # A queue ID that is not one.
    status, reason = ask_bounce(m, "flush", "../../etc/passwd")
    assert status == 1 and "bad queue file name" in reason
    status, reason = ask_bounce(m, "explode", "1xZDKn2K6j08Jt")
    assert status == 1 and "unknown request" in reason
    # The service is still there.
    assert ask_bounce(m, "flush", "1xZDKn2K6j08Jt")[0] == 0
