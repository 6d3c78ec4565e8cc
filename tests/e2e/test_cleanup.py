"""The cleanup service (issue 5): one installed instance whose master.cf
runs cleanup and no queue manager, so accepted files stay in incoming/;
messages go in through tests/daemons/cleanupc (lib/cleanup_client.c) and
the files are read back with qfile.py.

Checked: the missing headers cleanup adds for local submissions (and not
for remote clients), @$myorigin and .$mydomain, canonical and virtual
alias maps (postmap'ed hash tables), masquerading, duplicate removal,
header_checks actions (REJECT gives the 5.7.1 reply and no file; HOLD,
IGNORE, PREPEND, REPLACE, DISCARD), message_size_limit, hopcount_limit,
sendmail -t extraction with Bcc: removed, no recipients, the bounce flag,
and a client that goes away mid-message leaving no file behind.
"""

import os
import re
import shutil
import signal
import subprocess
import time

import pytest

import qfile
from conftest import add_program, BUILD_DIR, Instance, layout_args, run_install
from test_master import Master, wait_for

TESTBIN = BUILD_DIR / "testbin"
MYHOST = "mail.example.test"

HEADER_CHECKS = r"""/^Subject:.*reject-me/     REJECT
/^Subject:.*custom-reject/ REJECT 5.7.9 go away
/^Subject:.*hold-me/       HOLD held for review
/^Subject:.*discard-me/    DISCARD
/^X-Warn:/                 WARN watch this
/^X-Drop:/                 IGNORE
/^X-Prepend:/              PREPEND X-Added: yes
/^X-Replace:/              REPLACE X-Replaced: done
"""

BODY_CHECKS = r"""/^spam spam spam/   REJECT 5.7.1 no spam
/^drop this line/   IGNORE
/^replace me/       REPLACE replaced line
/^warn body/        WARN body warning
"""

CANONICAL = """olduser@example.com newuser@example.com
"""

SENDER_CANONICAL = """oldsender@example.com newsender@example.com
"""

VIRTUAL = """list@example.com a@example.net, b@example.net
b@example.net c@example.net
loop1@example.com loop2@example.com
loop2@example.com loop1@example.com
self@example.com self@example.com, copy@example.net
"""


@pytest.fixture(scope="module")
def cleanup_master(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the end-to-end tests install Postern and run as root")
    if not (TESTBIN / "cleanupc").is_file():
        pytest.fail(f"{TESTBIN / 'cleanupc'} is missing: run make first")
    root = tmp_path_factory.mktemp("cleanup")
    args = layout_args(root)
    run_install(args)
    inst = Instance(root, args)
    if not (inst.daemon_dir / "cleanup").is_file():
        pytest.fail("the install has no cleanup daemon")
    add_program(TESTBIN / "cleanupc", inst.daemon_dir / "cleanupc")
    conf = inst.config_dir
    (conf / "header_checks").write_text(HEADER_CHECKS)
    (conf / "body_checks").write_text(BODY_CHECKS)
    for name, text in (("canonical", CANONICAL),
                       ("sender_canonical", SENDER_CANONICAL),
                       ("virtual", VIRTUAL)):
        (conf / name).write_text(text)
        res = inst.run([inst.command("postmap"), "-c", conf,
                        f"hash:{conf / name}"])
        assert res.returncode == 0, res.stderr
    m = Master(inst, inst.main_cf.read_text())
    m.log.unlink(missing_ok=True)
    m.configure(
        ["cleanup unix n - y - 0 cleanup"],
        myhostname=MYHOST,
        mydomain="example.test",
        myorigin="origin.example.test",
        append_dot_mydomain="yes",
        undisclosed_recipients_header="To: undisclosed-recipients:;",
        canonical_maps=f"hash:{conf / 'canonical'}",
        sender_canonical_maps=f"hash:{conf / 'sender_canonical'}",
        virtual_alias_maps=f"hash:{conf / 'virtual'}",
        header_checks=f"regexp:{conf / 'header_checks'}",
        body_checks=f"regexp:{conf / 'body_checks'}",
        masquerade_domains="example.org",
        message_size_limit="20000",
        hopcount_limit="5",
        ipc_timeout="3s",
    )
    m.start()
    yield m
    reports = m.cleanup()
    assert not reports, f"sanitizer reports:\n{reports}"


class Sent:
    def __init__(self, proc):
        self.proc = proc
        self.out = dict(re.findall(r"^(\w+): ?(.*)$", proc.stdout, re.M))
        self.qid = self.out.get("queue_id")
        self.status = int(self.out.get("status", "-1"))
        self.reply = self.out.get("reply", "")


def send(m, rcpts, content, sender="sender@example.com", opts=(),
         expect=0):
    inst = m.inst
    argv = [str(inst.daemon_dir / "cleanupc"), "-c", str(inst.config_dir),
            "-f", sender, *opts, *rcpts]
    proc = subprocess.run(argv, input=content, capture_output=True,
                          text=True, timeout=30)
    sent = Sent(proc)
    assert proc.returncode == expect, \
        f"cleanupc exit {proc.returncode}:\n{proc.stdout}{proc.stderr}\n" \
        f"{m.log_text()[-3000:]}"
    return sent


def incoming(m, qid):
    files = [p for p in qfile.queue_files(m.inst.queue_dir) if p.name == qid]
    assert files, f"{qid} not in incoming/:\n{m.log_text()[-2000:]}"
    return qfile.read(files[0])


def no_file(m, qid):
    assert qfile.find(m.inst.queue_dir, qid) is None
    assert not [p for p in qfile.queue_files(m.inst.queue_dir, temp=True)
                if p.name.startswith(qid)]


def test_local_submission_gets_missing_headers(cleanup_master):
    m = cleanup_master
    s = send(m, ["bob", "carol@host"], "Subject: hello\n\nbody line\n",
             sender="alice", opts=["-N", "Alice Example"])
    assert re.fullmatch(r"[0-9A-Za-z]{14}", s.qid)
    q = incoming(m, s.qid)
    assert q.sender == "alice@origin.example.test"
    assert [(r.addr, r.orig, r.status) for r in q.recipients] == [
        ("bob@origin.example.test", "bob", "P"),
        ("carol@host.example.test", "carol@host", "P")]
    assert q.header("Subject") == "hello"
    assert re.fullmatch(r"<\d{14}\.%s@%s>" % (s.qid, re.escape(MYHOST)),
                        q.header("Message-Id"))
    assert re.fullmatch(r"\w{3}, [ \d]\d \w{3} \d{4} \d\d:\d\d:\d\d "
                        r"[+-]\d{4}( \(.*\))?", q.header("Date"))
    assert q.header("From") == "Alice Example <alice@origin.example.test>"
    assert q.header("To") == "undisclosed-recipients:;"
    assert q.body_lines == ["body line"]
    assert q.time_us and q.warn == 0
    assert q.size["rcpt_count"] == 2
    assert f"{s.qid}: message-id={q.header('Message-Id')}" in m.log_text()


def test_remote_client_headers_are_left_alone(cleanup_master):
    m = cleanup_master
    s = send(m, ["bob@example.net"],
             "Subject: remote\nTo: bob, olduser@example.com\n"
             "Cc: u@h.example.org\n\nhi\n",
             opts=["-a", "client_address=192.0.2.1",
                   "-a", "client_name=client.example"])
    q = incoming(m, s.qid)
    assert q.header("Message-Id") is None and q.header("Date") is None
    assert q.header("From") is None
    # remote_header_rewrite_domain is empty: header addresses stay, even
    # for canonical_maps and masquerade_domains (canonical(5)).
    assert q.header("To") == "bob, olduser@example.com"
    assert q.header("Cc") == "u@h.example.org"
    assert q.attrs["client_address"] == "192.0.2.1"
    assert f"{s.qid}: message-id=<>" in m.log_text()


def test_canonical_virtual_masquerade_and_duplicates(cleanup_master):
    m = cleanup_master
    content = ("From: Sender <user@host.example.org>\n"
               "To: Old One <olduser@example.com> (comment), x@example.net\n"
               "Cc: list@example.com\n"
               "Subject: maps\n\nbody\n")
    s = send(m, ["olduser@example.com", "list@example.com", "c@example.net",
                 "C@example.net", "loop1@example.com", "self@example.com"],
             content, sender="oldsender@example.com")
    q = incoming(m, s.qid)
    assert q.sender == "newsender@example.com"
    got = [(r.addr, r.orig) for r in q.recipients]
    assert got == [("newuser@example.com", "olduser@example.com"),
                   ("a@example.net", "list@example.com"),
                   ("c@example.net", "list@example.com"),
                   ("loop1@example.com", "loop1@example.com"),
                   ("self@example.com", "self@example.com"),
                   ("copy@example.net", "self@example.com")], got
    assert q.header("To") == \
        "Old One <newuser@example.com> (comment), x@example.net"
    # Virtual aliases apply to the envelope only.
    assert q.header("Cc") == "list@example.com"
    assert q.header("From") == "Sender <user@example.org>"


def test_header_checks_reject(cleanup_master):
    m = cleanup_master
    before = set(p.name for p in qfile.queue_files(m.inst.queue_dir))
    s = send(m, ["bob@example.net"], "Subject: please reject-me now\n\nx\n",
             expect=1)
    assert s.reply == "550 5.7.1 message content rejected"
    no_file(m, s.qid)
    assert set(p.name for p in qfile.queue_files(m.inst.queue_dir)) == before
    assert (f"{s.qid}: reject: header Subject: please reject-me now; "
            f"from=<sender@example.com> to=<bob@example.net>: "
            f"5.7.1 message content rejected") in m.log_text()
    s = send(m, ["bob@example.net"], "Subject: custom-reject\n\nx\n",
             expect=1)
    assert s.reply == "550 5.7.9 go away"


def test_header_checks_edit_hold_warn(cleanup_master):
    m = cleanup_master
    content = ("Subject: hold-me\nX-Drop: gone\nX-Prepend: 1\n"
               "X-Replace: old\nX-Warn: warn-me\n\nbody\n")
    s = send(m, ["bob@example.net"], content)
    q = incoming(m, s.qid)
    assert q.flags & qfile.FLAG_HOLD
    names = [n for n, v in q.headers]
    assert "X-Drop" not in names
    assert names.index("X-Added") == names.index("X-Prepend") - 1
    assert q.header("X-Replaced") == "done" and q.header("X-Replace") is None
    log = m.log_text()
    assert (f"{s.qid}: hold: header Subject: hold-me; from=<sender@example.com>"
            f" to=<bob@example.net>: held for review") in log
    assert f"{s.qid}: warning: header X-Warn: warn-me; from=<" in log


def test_body_checks(cleanup_master):
    m = cleanup_master
    s = send(m, ["bob@example.net"], "Subject: b\n\nhello\ndrop this line\n"
             "replace me\nwarn body\nbye\n")
    q = incoming(m, s.qid)
    assert q.body_lines == ["hello", "replaced line", "warn body", "bye"]
    assert (f"{s.qid}: warning: body warn body; from=<sender@example.com> "
            f"to=<bob@example.net>: body warning") in m.log_text()
    s = send(m, ["bob@example.net"], "Subject: b\n\nspam spam spam\n",
             expect=1)
    assert s.reply == "550 5.7.1 no spam"
    no_file(m, s.qid)


def test_header_checks_discard(cleanup_master):
    m = cleanup_master
    s = send(m, ["bob@example.net"], "Subject: discard-me\n\nx\n")
    assert s.status == 0
    no_file(m, s.qid)
    assert f"{s.qid}: discard: header Subject: discard-me" in m.log_text()


def test_message_size_limit(cleanup_master):
    m = cleanup_master
    body = ("x" * 70 + "\n") * 400
    s = send(m, ["bob@example.net"], "Subject: big\n\n" + body, expect=1)
    assert s.reply == "552 5.3.4 Message size exceeds fixed limit"
    no_file(m, s.qid)


def test_hopcount_limit(cleanup_master):
    m = cleanup_master
    content = "".join(f"Received: from h{i}\n" for i in range(6)) + "\nx\n"
    s = send(m, ["bob@example.net"], content, expect=1)
    assert s.reply == "554 5.4.0 Error: too many hops"
    no_file(m, s.qid)


def test_extract_recipients_and_drop_bcc(cleanup_master):
    m = cleanup_master
    content = ("To: Tom <tom@example.net>, list@example.com\n"
               "Bcc: hidden@example.net\nSubject: -t\n\nbody\n")
    s = send(m, [], content, opts=["-F", "0x10"])
    q = incoming(m, s.qid)
    assert [(r.addr, r.late) for r in q.recipients] == [
        ("tom@example.net", True), ("a@example.net", True),
        ("c@example.net", True), ("hidden@example.net", True)]
    assert q.header("Bcc") is None
    assert not q.flags & qfile.FLAG_EXTRACT


def test_no_recipients_and_bounce_flag(cleanup_master):
    m = cleanup_master
    s = send(m, [], "Subject: nobody\n\nx\n", expect=1)
    assert s.reply == "554 5.5.1 Error: no valid recipients"
    no_file(m, s.qid)
    # With CLEANUP_FLAG_BOUNCE (pickup) a rejected message is kept, with
    # the reason for the queue manager's bounce.
    s = send(m, ["bob@example.net"], "Subject: reject-me\n\nx\n",
             opts=["-x", "1"])
    q = incoming(m, s.qid)
    assert q.attrs["fail_reason"] == "5.7.1 message content rejected"


def test_client_killed_mid_message_leaves_no_file(cleanup_master):
    m = cleanup_master
    inst = m.inst
    proc = subprocess.Popen(
        [str(inst.daemon_dir / "cleanupc"), "-c", str(inst.config_dir),
         "-k", "2", "bob@example.net"], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True)
    proc.stdin.write("Subject: a\n\nline\nline\nline\n")
    proc.stdin.close()
    qid = proc.stdout.readline().split(": ")[1].strip()
    assert proc.stdout.readline() == "stopped: 2\n"
    # cleanup holds ID.tmp while the client is connected.
    assert [p for p in qfile.queue_files(inst.queue_dir, temp=True)
            if p.name == qid + ".tmp"]
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert wait_for(lambda: f"{qid}: lost connection" in m.log_text(), 10), \
        m.log_text()[-2000:]
    no_file(m, qid)
    # The service still works.
    s = send(m, ["bob@example.net"], "Subject: after\n\nx\n")
    incoming(m, s.qid)


def test_stalled_client_times_out(cleanup_master):
    m = cleanup_master
    inst = m.inst
    proc = subprocess.Popen(
        [str(inst.daemon_dir / "cleanupc"), "-c", str(inst.config_dir),
         "-k", "1", "bob@example.net"], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True)
    try:
        proc.stdin.write("Subject: a\n\nline\n")
        proc.stdin.close()
        qid = proc.stdout.readline().split(": ")[1].strip()
        assert proc.stdout.readline() == "stopped: 1\n"
        # ipc_timeout is 3s here: cleanup gives up and removes its file.
        assert wait_for(lambda: f"{qid}: timeout while receiving"
                        in m.log_text(), 15), m.log_text()[-2000:]
        no_file(m, qid)
    finally:
        proc.kill()
        proc.wait(timeout=10)
