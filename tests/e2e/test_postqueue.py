"""postqueue, showq, mailq, postsuper and postcat (issue 5) against an
installed instance.

The instance runs master with a showq service and, in place of the queue
manager, the test-only triggerd (it logs every wake-up it gets), so queue
files injected with tests/daemons/qinject stay where they are put, and
postqueue -f/-i/-s and postsuper -r can be seen arriving. Delay reasons
are written with tests/daemons/qlog. Both tools run as mail_owner, as the
real daemons would write the files.

Listings are compared byte for byte with Postfix's mailq format (the
columns are pinned against Postfix's own output in
tests/unit/test_showq_format.c); postqueue runs with TZ=UTC.
"""

import json
import os
import pwd
import re
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from conftest import add_program, BUILD_DIR, Instance, layout_args, run_install
from test_master import Master, wait_for

TESTBIN = BUILD_DIR / "testbin"
TOOLS = ["qinject", "qlog", "triggerd"]
# 2026-12-03 20:08:37 UTC, a Thursday.
T0 = 1796328517
T0_TEXT = "Thu Dec  3 20:08:37"
REFUSED = "connect to 127.0.0.1[127.0.0.1]:1: Connection refused"
MESSAGE = "Subject: test\nFrom: a@example.com\n\nhello\nworld\n"
# Content size of MESSAGE: bytes with LF line ends.
MESSAGE_SIZE = len(MESSAGE)


@pytest.fixture(scope="module")
def installed():
    if os.geteuid() != 0:
        pytest.skip("the end-to-end tests install Postern and run as root")
    for name in TOOLS:
        if not (TESTBIN / name).is_file():
            pytest.fail(f"{TESTBIN / name} is missing: run make first")
    # Not under pytest's folder: that one is root's alone (0700), and
    # postqueue must run as an ordinary user, qinject as mail_owner.
    root = Path(tempfile.mkdtemp(prefix="postqueue-"))
    os.chmod(root, 0o755)
    args = layout_args(root)
    run_install(args)
    inst = Instance(root, args)
    for name in ("master", "showq"):
        if not (inst.daemon_dir / name).is_file():
            pytest.fail(f"the install has no {name}")
    for name in TOOLS:
        add_program(TESTBIN / name, inst.daemon_dir / name)
    yield inst, inst.main_cf.read_text()
    shutil.rmtree(root, ignore_errors=True)


class Queue:
    """One running instance: master with showq and a stand-in qmgr."""

    def __init__(self, inst, master):
        self.inst = inst
        self.master = master
        self.qdir = inst.queue_dir
        pw = pwd.getpwnam(inst.mail_owner)
        self.owner = (pw.pw_uid, pw.pw_gid)

    # -- making queue files --
    def as_owner(self, argv, **kw):
        uid, gid = self.owner
        return self.inst.run(["setpriv", f"--reuid={uid}", f"--regid={gid}",
                              "--clear-groups", *argv], **kw)

    def inject(self, rcpts, queue="incoming", sender="sender@example.com",
               when=T0, message=MESSAGE, raw=False):
        argv = [self.inst.daemon_dir / "qinject", "-q", queue, "-f", sender,
                "-t", str(when * 1000000)]
        if raw:
            argv.append("-r")
        res = self.as_owner([*argv, self.qdir, *rcpts], input=message,
                            stdin=None)
        assert res.returncode == 0, res.stderr
        qid = res.stdout.strip()
        assert re.fullmatch(r"[0-9A-Za-z]{14}", qid), res.stdout
        if queue == "deferred":
            self.place()
        return qid

    def defer(self, qid, rcpt, reason):
        res = self.as_owner([self.inst.daemon_dir / "qlog", "-c",
                             self.inst.config_dir, self.qdir, qid, rcpt,
                             reason])
        assert res.returncode == 0, res.stderr

    def place(self):
        """qinject does not read main.cf, so it puts files at the top of
        a hashed queue (deferred); postsuper -s moves them where the
        instance looks."""
        res = self.postsuper("-s")
        assert res.returncode == 0, res
        assert "postsuper: Moved to the right folder: 1 file\n" \
            in res.stderr, res.stderr

    def find(self, qid):
        """The queue-relative paths of every file named QID or QID.tmp."""
        return sorted(str(p.relative_to(self.qdir))
                      for p in self.qdir.rglob(qid + "*"))

    # -- commands --
    def env(self, **extra):
        env = {k: v for k, v in os.environ.items() if k != "MAIL_CONFIG"}
        env["TZ"] = "UTC"
        env.update(extra)
        return env

    def postqueue(self, *args, user=None, config=True):
        argv = [self.inst.command("postqueue")]
        if config:
            argv += ["-c", self.inst.config_dir]
        argv += list(args)
        if user is not None:
            pw = pwd.getpwnam(user)
            argv = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}",
                    "--clear-groups", *argv]
        return self.inst.run(argv, env=self.env())

    def postsuper(self, *args, stdin=None, user=None):
        argv = [self.inst.command("postsuper"), "-c", self.inst.config_dir,
                *args]
        if user is not None:
            pw = pwd.getpwnam(user)
            argv = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}",
                    "--clear-groups", *argv]
        if stdin is not None:
            return self.inst.run(argv, env=self.env(), input=stdin,
                                 stdin=None)
        return self.inst.run(argv, env=self.env())

    def postcat(self, *args):
        return self.inst.run([self.inst.command("postcat"), "-c",
                              self.inst.config_dir, *args], env=self.env())


@pytest.fixture
def queue(installed):
    inst, pristine = installed
    m = Master(inst, pristine)
    m.log.unlink(missing_ok=True)
    # Every test starts from an empty queue.
    for sub in ("maildrop", "incoming", "active", "deferred", "hold",
                "corrupt", "bounce", "defer", "trace"):
        d = inst.queue_dir / sub
        for p in list(d.iterdir()):
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink()
    m.configure([
        "showq unix n - y - - showq",
        "qmgr unix n - n 300 1 triggerd",
    ])
    m.start_w()
    q = Queue(inst, m)
    yield q
    if m.running():
        m.stop()
    reports = m.cleanup()
    assert not reports, f"sanitizer reports:\n{reports}"


def head(qid, status, size, sender):
    return f"{qid + status:<11}{size:>8} {T0_TEXT}  {sender}\n"


def rcpt(addr):
    return " " * 41 + addr + "\n"


def reason(text):
    return " " * max(0, 76 - len(text)) + f"({text})\n"


HEADER = ("-Queue ID-  --Size-- ----Arrival Time---- "
          "-Sender/Recipient-------\n")


def footer(nbytes, count):
    return f"-- {nbytes // 1024} Kbytes in {count} Request" \
           f"{'' if count == 1 else 's'}.\n"


def sample(q):
    """Three messages in three queues; returns (ids, expected text)."""
    a = q.inject(["one@example.net", "two@example.net"])
    b = q.inject(["late@example.org", "later@example.org"], queue="deferred",
                 sender="")
    q.defer(b, "late@example.org", REFUSED)
    c = q.inject(["held@example.com"], queue="hold", when=T0)
    text = (HEADER
            + head(a, "", MESSAGE_SIZE, "sender@example.com")
            + rcpt("one@example.net") + rcpt("two@example.net") + "\n"
            + head(b, "", MESSAGE_SIZE, "MAILER-DAEMON")
            + rcpt("later@example.org") + reason(REFUSED)
            + rcpt("late@example.org") + "\n"
            + head(c, "!", MESSAGE_SIZE, "sender@example.com")
            + rcpt("held@example.com") + "\n"
            + footer(3 * MESSAGE_SIZE, 3))
    return (a, b, c), text


# ---- postqueue -p / -j, mailq ----------------------------------------------------


def test_empty_queue(queue):
    res = queue.postqueue("-p")
    assert res.returncode == 0, res
    assert res.stdout == "Mail queue is empty\n"
    res = queue.postqueue("-j")
    assert res.returncode == 0, res
    assert res.stdout == ""


def test_listing_as_root_and_as_a_user(queue):
    _, want = sample(queue)
    res = queue.postqueue("-p")
    assert res.returncode == 0, res
    assert res.stdout == want, queue.master.log_text()
    assert res.stderr == ""
    # An ordinary user, through the setgid bit: same listing.
    st = os.stat(queue.inst.command("postqueue"))
    assert st.st_mode & 0o2000, oct(st.st_mode)
    res = queue.postqueue("-p", user="nobody", config=False)
    assert res.returncode == 0, res
    assert res.stdout == want


def test_json_listing(queue):
    (a, b, c), _ = sample(queue)
    res = queue.postqueue("-j", user="nobody", config=False)
    assert res.returncode == 0, res
    lines = res.stdout.splitlines()
    assert len(lines) == 3
    objs = [json.loads(line) for line in lines]
    assert [o["queue_id"] for o in objs] == [a, b, c]
    assert [o["queue_name"] for o in objs] == ["incoming", "deferred", "hold"]
    for o in objs:
        assert o["arrival_time"] == T0
        assert o["message_size"] == MESSAGE_SIZE
        assert o["forced_expire"] is False
    assert objs[0]["sender"] == "sender@example.com"
    assert objs[1]["sender"] == "MAILER-DAEMON"
    assert objs[0]["recipients"] == [{"address": "one@example.net"},
                                     {"address": "two@example.net"}]
    assert objs[1]["recipients"] == [
        {"address": "late@example.org", "delay_reason": REFUSED},
        {"address": "later@example.org"}]


def test_mailq_link(queue):
    mailq = Path(queue.inst.args["mailq_path"])
    if not mailq.exists():
        pytest.skip("no mailq link (sendmail is not built)")
    _, want = sample(queue)
    res = queue.inst.run([mailq], env=queue.env(
        MAIL_CONFIG=str(queue.inst.config_dir)))
    assert res.returncode == 0, res
    assert res.stdout == want


def test_done_recipients_and_corrupt_files(queue):
    a = queue.inject(["x@example.com"])
    # A file that does not parse is skipped with a warning, not fatal.
    bad = queue.qdir / "incoming" / "0000000000000A"
    bad.write_bytes(b"garbage")
    uid, gid = queue.owner
    os.chown(bad, uid, gid)
    res = queue.postqueue("-p")
    assert res.returncode == 0, res
    assert a in res.stdout and "0000000000000A" not in res.stdout
    assert res.stdout.endswith(footer(MESSAGE_SIZE, 1))
    assert wait_for(lambda: "incoming/0000000000000A" in
                    queue.master.log_text()), queue.master.log_text()


def test_active_and_maildrop_messages(queue):
    act = queue.inject(["x@example.com"], queue="active")
    drop = queue.inject(["y@example.com"], queue="maildrop")
    res = queue.postqueue("-p")
    assert res.returncode == 0, res
    assert res.stdout == (HEADER
                          + head(act, "*", MESSAGE_SIZE, "sender@example.com")
                          + rcpt("x@example.com") + "\n"
                          + head(drop, "", MESSAGE_SIZE, "sender@example.com")
                          + rcpt("y@example.com") + "\n"
                          + footer(2 * MESSAGE_SIZE, 2))
    objs = [json.loads(x) for x in queue.postqueue("-j").stdout.splitlines()]
    assert [(o["queue_name"], o["queue_id"]) for o in objs] == \
        [("active", act), ("maildrop", drop)]


def test_recipients_in_file_order_with_reasons_grouped(queue):
    qid = queue.inject(["r1@x.example", "r2@x.example", "r3@x.example"],
                       queue="deferred")
    queue.defer(qid, "r1@x.example", "b: later")
    queue.defer(qid, "r3@x.example", "a: sooner")
    queue.defer(qid, "r1@x.example", "a: sooner")  # the newest wins
    res = queue.postqueue("-p")
    assert res.returncode == 0, res
    assert res.stdout == (HEADER + head(qid, "", MESSAGE_SIZE,
                                        "sender@example.com")
                          + rcpt("r2@x.example") + reason("a: sooner")
                          + rcpt("r1@x.example") + rcpt("r3@x.example")
                          + "\n" + footer(MESSAGE_SIZE, 1))


def test_mail_system_down(queue):
    _, want = sample(queue)
    queue.master.stop()
    res = queue.postqueue("-p", user="nobody", config=False)
    assert res.returncode == 69, res
    assert res.stdout == ""
    assert "postqueue: fatal: Queue report unavailable - mail system is " \
           "down" in res.stderr
    # Root reads the queue folders itself.
    res = queue.postqueue("-p")
    assert res.returncode == 0, res
    assert res.stdout == want
    assert "postqueue: warning: Mail system is down -- accessing queue " \
           "directly" in res.stderr
    res = queue.postqueue("-f")
    assert res.returncode == 69, res
    assert "postqueue: fatal: Cannot flush mail queue - mail system is " \
           "down" in res.stderr


def test_usage_and_privileges(queue):
    for args in ([], ["-p", "-f"], ["-x"], ["-p", "extra"]):
        res = queue.postqueue(*args)
        assert res.returncode == 69, (args, res)
        assert "postqueue: fatal: usage: postqueue -f" in res.stderr
    res = queue.postqueue("-v", "-p", user="nobody", config=False)
    assert res.returncode == 69, res
    assert "super-user only" in res.stderr
    # Another configuration only when the default one allows it.
    other = queue.inst.root / "other"
    other.mkdir(exist_ok=True)
    shutil.copy(queue.inst.main_cf, other / "main.cf")
    res = queue.postqueue("-c", other, "-p", user="nobody", config=False)
    assert res.returncode == 69, res
    assert "not listed in alternate_config_directories" in res.stderr
    res = queue.postqueue("-c", other, "-p", user="root", config=False)
    assert res.returncode == 0, res
    with open(queue.inst.main_cf, "a") as f:
        f.write(f"alternate_config_directories = {other}\n")
    res = queue.postqueue("-c", other, "-p", user="nobody", config=False)
    assert res.returncode == 0, res
    assert res.stdout == "Mail queue is empty\n"


def test_authorized_mailq_users(queue):
    queue.master.add_main_cf("authorized_mailq_users = root, daemon\n"
                             "authorized_flush_users = daemon\n")
    res = queue.postqueue("-p", user="nobody", config=False)
    assert res.returncode == 69, res
    assert "is not allowed to view the mail queue" in res.stderr
    res = queue.postqueue("-p", user="daemon", config=False)
    assert res.returncode == 0, res
    res = queue.postqueue("-f", user="nobody", config=False)
    assert res.returncode == 69, res
    assert "is not allowed to flush the mail queue" in res.stderr


# ---- postqueue -f / -i / -s --------------------------------------------------------


def test_flush_requests(queue):
    qid = queue.inject(["x@example.com"], queue="deferred")
    log = queue.master.log_text
    for args, want in ((["-f"], "FAD"), (["-i", qid], "Q" + qid),
                       (["-s", "example.com"], "Sexample.com"),
                       (["-s", "[192.0.2.1]"], "S[192.0.2.1]")):
        res = queue.postqueue(*args, user="nobody", config=False)
        assert res.returncode == 0, (args, res)
        assert res.stderr == ""
        assert wait_for(lambda: f"trigger qmgr/unix: {want}\n" in log()), \
            (args, log())
    for args in (["-i", "../etc/passwd"], ["-i", "short"],
                 ["-s", "bad site"], ["-s", ""]):
        res = queue.postqueue(*args)
        assert res.returncode == 69, (args, res)
        assert "postqueue: fatal: invalid" in res.stderr


# ---- postsuper --------------------------------------------------------------------


def test_postsuper_is_for_root(queue):
    a = queue.inject(["x@example.com"])
    res = queue.postsuper("-d", "ALL", user="nobody")
    assert res.returncode == 1, res
    assert "postsuper: fatal: use of this command is reserved for the " \
           "superuser" in res.stderr
    assert queue.find(a) == [f"incoming/{a}"]


def test_postsuper_delete(queue):
    (a, b, c), _ = sample(queue)
    d = queue.inject(["y@example.com"], queue="deferred")
    res = queue.postsuper("-d", b)
    assert res.returncode == 0, res
    assert f"postsuper: {b}: removed\n" in res.stderr
    assert "postsuper: Deleted: 1 message\n" in res.stderr
    assert queue.find(b) == []  # the defer log went too
    assert f"{b}: removed" in queue.master.log_text()
    # Bad and unknown IDs: a warning, nothing removed.
    res = queue.postsuper("-d", "bad/id", "-d", "0000000000000B")
    assert res.returncode == 0, res
    assert "postsuper: warning: invalid mail queue id: bad/id" in res.stderr
    assert "postsuper: Deleted: 0 messages" in res.stderr
    # ALL in one queue only; the word must be upper case.
    res = queue.postsuper("-d", "all", "deferred")
    assert "Deleted: 0 messages" in res.stderr
    res = queue.postsuper("-d", "ALL", "deferred")
    assert "postsuper: Deleted: 1 message\n" in res.stderr, res
    assert queue.find(d) == [] and queue.find(a) and queue.find(c)
    # IDs from stdin, with mailq's status marks.
    res = queue.postsuper("-d", "-", stdin=f"{a}\n{c}!\n\n")
    assert "postsuper: Deleted: 2 messages" in res.stderr, res
    assert queue.find(a) == [] and queue.find(c) == []
    assert queue.postqueue("-p").stdout == "Mail queue is empty\n"
    res = queue.postsuper("-d", "ALL", "nosuchqueue")
    assert res.returncode == 1
    assert "postsuper: fatal: invalid directory name: nosuchqueue" \
        in res.stderr


def test_postsuper_hold_release_requeue(queue):
    a = queue.inject(["x@example.com"])
    b = queue.inject(["y@example.com"], queue="deferred")
    res = queue.postsuper("-h", "ALL")
    assert res.returncode == 0, res
    assert "postsuper: Placed on hold: 2 messages" in res.stderr
    assert queue.find(a) == [f"hold/{a}"] and queue.find(b) == [f"hold/{b}"]
    listing = queue.postqueue("-p").stdout
    assert f"{a}!" in listing and f"{b}!" in listing
    res = queue.postsuper("-H", a)
    assert "postsuper: Released from hold: 1 message\n" in res.stderr, res
    [path] = queue.find(a)
    assert path.startswith("deferred/"), path
    # Released mail is due now, not at its old retry time.
    assert abs(os.stat(queue.qdir / path).st_mtime - time.time()) < 60
    res = queue.postsuper("-H", a)
    assert "Released from hold: 0 messages" in res.stderr
    res = queue.postsuper("-r", "ALL")
    assert "postsuper: Requeued: 2 messages" in res.stderr, res
    assert queue.find(a) == [f"incoming/{a}"]
    assert queue.find(b) == [f"incoming/{b}"]
    assert wait_for(lambda: "trigger qmgr/unix: I\n"
                    in queue.master.log_text()), queue.master.log_text()


def test_postsuper_purge_temporary_files(queue):
    old = queue.inject(["x@example.com"], raw=True)
    new = queue.inject(["y@example.com"], raw=True)
    keep = queue.inject(["z@example.com"])
    two_days_ago = time.time() - 2 * 86400
    os.utime(queue.qdir / "incoming" / f"{old}.tmp",
             (two_days_ago, two_days_ago))
    res = queue.postsuper("-p")
    assert res.returncode == 0, res
    assert "postsuper: Deleted: 1 temporary file\n" in res.stderr
    assert queue.find(old) == []
    assert queue.find(new) == [f"incoming/{new}.tmp"]
    assert queue.find(keep) == [f"incoming/{keep}"]


def test_postsuper_structure_repair(queue):
    a = queue.inject(["x@example.com"], queue="deferred")
    queue.defer(a, "x@example.com", REFUSED)
    paths = queue.find(a)
    assert len(paths) == 2 and all(p.count("/") == 2 for p in paths), paths
    stale = queue.inject(["y@example.com"], queue="deferred")
    queue.defer(stale, "y@example.com", REFUSED)
    assert len(queue.find(stale)) == 2
    qpath = next(p for p in paths if p.startswith("deferred/"))
    # Misplaced: at the top of the hashed queue; a log without its message.
    (queue.qdir / qpath).rename(queue.qdir / "deferred" / a)
    sp = next(p for p in queue.find(stale) if p.startswith("deferred/"))
    (queue.qdir / sp).unlink()
    # A hash folder of a queue that is not hashed is not needed.
    uid, gid = queue.owner
    extra = queue.qdir / "hold" / "Z"
    extra.mkdir()
    os.chown(extra, uid, gid)
    res = queue.postsuper("-s")
    assert res.returncode == 0, res
    assert "postsuper: Moved to the right folder: 1 file\n" in res.stderr
    assert "postsuper: Removed stale logs: 1 file\n" in res.stderr
    assert "postsuper: Removed unneeded folders: 1 folder\n" in res.stderr
    assert sorted(queue.find(a)) == sorted(paths)
    assert queue.find(stale) == []
    assert not extra.exists()
    # Nothing left to do the second time.
    res = queue.postsuper("-s")
    assert res.returncode == 0 and res.stderr == "", res
    # The listing sees the repaired message.
    assert a in queue.postqueue("-p").stdout


# ---- postcat --------------------------------------------------------------------------


def test_postcat(queue):
    qid = queue.inject(["one@example.net", "two@example.net"],
                       queue="deferred")
    res = queue.postcat("-q", qid)
    assert res.returncode == 0, res
    name = f"deferred/{qid}"
    out = res.stdout
    for line in (f"*** ENVELOPE RECORDS {name} ***",
                 f"message_arrival_time: {T0_TEXT} 2026",
                 "sender: sender@example.com",
                 "recipient: one@example.net",
                 "recipient: two@example.net",
                 f"*** MESSAGE CONTENTS {name} ***",
                 f"*** HEADER EXTRACTED {name} ***",
                 f"*** MESSAGE FILE END {name} ***"):
        assert line + "\n" in out, (line, out)
    assert f"*** MESSAGE CONTENTS {name} ***\n{MESSAGE}*** HEADER " in out
    res = queue.postcat("-bh", "-q", qid)
    assert res.stdout == MESSAGE, res
    res = queue.postcat("-h", "-q", qid)
    assert res.stdout == "Subject: test\nFrom: a@example.com\n", res
    res = queue.postcat("-b", "-q", qid)
    assert res.stdout == "hello\nworld\n", res
    res = queue.postcat("-e", "-q", qid)
    assert "sender: sender@example.com" in res.stdout
    assert "hello" not in res.stdout and "***" not in res.stdout
    res = queue.postcat("-o", "-e", "-q", qid)
    assert res.returncode == 0, res
    for line in res.stdout.splitlines():
        assert re.fullmatch(r" *\d+ [a-z_]+: .*", line), line
    [path] = [p for p in queue.find(qid)]
    res = queue.postcat(queue.qdir / path)
    assert f"*** ENVELOPE RECORDS {queue.qdir / path} ***" in res.stdout
    res = queue.postcat("-q", "0000000000000C")
    assert res.returncode == 1
    assert "postcat: fatal: open queue file 0000000000000C: No such file" \
        in res.stderr
    res = queue.postcat("/etc/hostname")
    assert res.returncode == 1 and "postcat: fatal: " in res.stderr
