"""Local submission (issue 5): sendmail (and mailq, newaliases), the setgid
postdrop, and the pickup daemon.

One installation serves the module, in a folder every user may traverse
(the tests submit as root and as "nobody", which must reach the installed
sendmail). Without a running mail system, sendmail leaves the message in
maildrop/ (the pickup wake-up fails with a warning only); the tests read
the maildrop files with tests/e2e/qfile.py. With master running pickup
and cleanup but no qmgr, messages stop in incoming/, where the tests look
at what cleanup received from pickup.
"""

import grp
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import qfile
from conftest import BUILD_DIR, Instance, layout_args, run_install
from test_master import Master, wait_for

NOBODY = "nobody"

# sysexits.h
EX_USAGE = 64
EX_DATAERR = 65
EX_NOPERM = 77
EX_TEMPFAIL = 75


def nogroup():
    """The group to run as NOBODY with (Debian: nogroup)."""
    for name in ("nogroup", "nobody"):
        try:
            grp.getgrnam(name)
            return name
        except KeyError:
            continue
    pytest.skip("no nogroup/nobody group")


@pytest.fixture(scope="module")
def installed():
    if os.geteuid() != 0:
        pytest.skip("the end-to-end tests install Postern and run as root")
    # tmp_path lives in a folder only root may enter; "nobody" must be
    # able to run the installed sendmail.
    root = Path(tempfile.mkdtemp(prefix="postern-sendmail-"))
    os.chmod(root, 0o755)
    args = layout_args(root)
    run_install(args)
    inst = Instance(root, args)
    for prog in ("sendmail", "postdrop"):
        if not (inst.command_dir / prog).is_file():
            pytest.fail(f"the install has no {prog}")
    yield inst, inst.main_cf.read_text()
    shutil.rmtree(root, ignore_errors=True)


def no_reports(res):
    """RES, after checking its stderr holds no sanitizer report."""
    assert b"Sanitizer" not in res.stderr and b"runtime error" \
        not in res.stderr, res.stderr.decode(errors="replace")
    return res


class Env:
    """One test's view of the instance: main.cf, the queue, submitting."""

    def __init__(self, inst, pristine):
        self.inst = inst
        self.pristine = pristine
        self.master = Master(inst, pristine)
        self.master.log.unlink(missing_ok=True)
        self.master.stderr_path.unlink(missing_ok=True)
        self.write_main_cf()
        inst.master_cf.write_text("")
        for sub in ("maildrop", "incoming", "corrupt"):
            for p in (inst.queue_dir / sub).iterdir():
                p.unlink()

    def write_main_cf(self, **params):
        settings = {"maillog_file": str(self.master.log),
                    "inet_interfaces": "127.0.0.1",
                    "inet_protocols": "ipv4"}
        settings.update(params)
        text = self.pristine
        if not text.endswith("\n"):
            text += "\n"
        text += "".join(f"{k} = {v}\n" for k, v in settings.items())
        self.inst.main_cf.write_text(text)

    def sendmail(self, *args, input=b"", user=None, prog=None, env=None):
        argv = [str(prog or self.inst.command("sendmail")), *args]
        kw = {}
        if user is not None:
            kw = {"user": user, "group": nogroup(), "extra_groups": []}
        return no_reports(subprocess.run(argv, input=input,
                                         capture_output=True, timeout=60,
                                         env=env, **kw))

    def postdrop(self, data, user=NOBODY, args=()):
        return no_reports(subprocess.run(
            [str(self.inst.command("postdrop")), *args], input=data,
            capture_output=True, timeout=60, user=user, group=nogroup(),
            extra_groups=[]))

    def files(self, queue="maildrop", temp=False):
        return qfile.queue_files(self.inst.queue_dir, queue, temp)

    def only(self, queue="maildrop"):
        found = self.files(queue)
        assert len(found) == 1, f"{queue}: {found}"
        return found[0], qfile.read(found[0])

    def start(self, services):
        self.inst.master_cf.write_text("".join(s + "\n" for s in services))
        self.master.start()


PICKUP = "pickup unix n - y 60 1 pickup"
CLEANUP = "cleanup unix n - y - 0 cleanup"


@pytest.fixture
def env(installed):
    inst, pristine = installed
    e = Env(inst, pristine)
    yield e
    reports = e.master.cleanup()
    assert not reports, f"sanitizer reports:\n{reports}"


def message(*lines):
    return "".join(line + "\n" for line in lines).encode()


# ---- submission into maildrop/ ------------------------------------------------


def test_root_submission_stays_in_maildrop_without_pickup(env):
    res = env.sendmail("-f", "sender@example.com", "rcpt@example.com",
                       input=message("Subject: one", "", "body"))
    assert res.returncode == 0, res.stderr
    assert b"pickup" in res.stderr  # the wake-up failed: only a warning
    path, q = env.only()
    st = path.stat()
    assert st.st_uid == 0
    assert stat.S_IMODE(st.st_mode) == 0o644
    assert q.sender == "sender@example.com"
    assert q.rcpt_addrs() == ["rcpt@example.com"]
    assert q.recipients[0].status == "P"
    assert q.lines == ["Subject: one", "", "body"]
    assert abs(q.time_us / 1e6 - time.time()) < 60
    assert not env.files(temp=True)


def test_user_submission_with_envelope_options(env):
    res = env.sendmail("-f", "<me@example.org>", "-F", "Joe User", "-N",
                       "success,delay", "-R", "hdrs", "-V", "envid-1",
                       "-B", "8BITMIME", "-v",
                       "a@example.com, Bee <b@example.com>", "c",
                       input=message("Subject: x", "", "hi"), user=NOBODY)
    assert res.returncode == 0, res.stderr
    path, q = env.only()
    qid = path.name
    assert f"queued as {qid}".encode() in res.stderr
    assert path.stat().st_uid == pwd.getpwnam(NOBODY).pw_uid
    assert q.sender == "me@example.org"
    assert q.rcpt_addrs() == ["a@example.com", "b@example.com", "c"]
    assert [r.orig for r in q.recipients] == ["a@example.com",
                                              "b@example.com", "c"]
    assert {r.notify for r in q.recipients} == {qfile.NOTIFY_SUCCESS
                                                | qfile.NOTIFY_DELAY}
    assert q.dsn_ret == 2
    assert q.dsn_envid == "envid-1"
    assert q.attrs == {"full_name": "Joe User"}
    assert q.flags == qfile.FLAG_8BITMIME


def test_default_sender_is_login_name_and_null_sender(env):
    res = env.sendmail("x@example.com", input=b"a\n", user=NOBODY)
    assert res.returncode == 0, res.stderr
    _, q = env.only()
    assert q.sender == NOBODY
    env.only()[0].unlink()
    res = env.sendmail("-f", "<>", "x@example.com", input=b"a\n")
    assert res.returncode == 0, res.stderr
    _, q = env.only()
    assert q.sender == ""


def test_extract_flag(env):
    res = env.sendmail("-t", input=message("To: t@example.com", "", "x"),
                       user=NOBODY)
    assert res.returncode == 0, res.stderr
    _, q = env.only()
    assert q.flags == qfile.FLAG_EXTRACT
    assert q.recipients == []


def test_dot_handling_crlf_and_from_line(env):
    text = b"From someone Thu Dec  3\r\nSubject: d\r\n\r\nline\r\n..two\r\n" \
           b".\r\nafter\r\n"
    res = env.sendmail("r@example.com", input=text)
    assert res.returncode == 0, res.stderr
    path, q = env.only()
    assert q.lines == ["Subject: d", "", "line", "..two"]
    path.unlink()
    for flag in ("-i", "-oi"):
        res = env.sendmail(flag, "r@example.com", input=text)
        assert res.returncode == 0, res.stderr
        path, q = env.only()
        assert q.lines == ["Subject: d", "", "line", "..two", ".", "after"]
        path.unlink()


def test_long_lines_are_kept_whole(env):
    long_line = "x" * 10000
    res = env.sendmail("r@example.com", input=message("", long_line, "end"))
    assert res.returncode == 0, res.stderr
    _, q = env.only()
    assert q.lines == ["", long_line, "end"]


def test_usage_errors_have_sysexits_codes(env):
    cases = [
        ((), EX_USAGE, b"no recipients specified"),
        (("-bd",), EX_USAGE, b"-bd is not supported"),
        (("-bD",), EX_USAGE, b"-bD is not supported"),
        (("-bv", "a"), EX_USAGE, b"-bv is not supported"),
        (("-k", "a"), EX_USAGE, b"invalid option"),
        (("-N", "bogus", "a"), EX_USAGE, b"bad notify list"),
        (("-R", "body", "a"), EX_USAGE, b"-R: bad value"),
        (("-V", "bad envid", "a"), EX_USAGE, b"bad envelope ID"),
        (("-f",), EX_USAGE, b"requires an argument"),
        (("<unclosed",), EX_DATAERR, b"bad recipient address"),
    ]
    for args, code, text in cases:
        res = env.sendmail(*args, input=b"x\n", user=NOBODY)
        assert res.returncode == code, (args, res.stderr)
        assert b"sendmail: fatal: " in res.stderr and text in res.stderr, \
            (args, res.stderr)
    assert not env.files() and not env.files(temp=True)


def test_message_size_limit(env):
    env.write_main_cf(maillog_file=str(env.master.log),
                      message_size_limit="1000")
    res = env.sendmail("r@example.com", input=b"x" * 2000 + b"\n",
                       user=NOBODY)
    assert res.returncode == EX_DATAERR, res.stderr
    assert b"message file too big" in res.stderr
    res = env.sendmail("r@example.com", input=b"y" * 500 + b"\n")
    assert res.returncode == 0, res.stderr
    assert len(env.files()) == 1
    assert not env.files(temp=True)


def test_disk_full_is_a_temporary_failure(env):
    maildrop = env.inst.queue_dir / "maildrop"
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k",
                              "tmpfs", str(maildrop)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs: {mounted.stderr!r}")
    try:
        os.chown(maildrop, env.inst.uid, env.inst.gid)
        os.chmod(maildrop, 0o1730)
        big = (b"x" * 999 + b"\n") * 300
        res = env.sendmail("r@example.com", input=big, user=NOBODY)
        assert res.returncode == EX_TEMPFAIL, res.stderr
        assert b"postdrop: fatal: uid=" in res.stderr
        assert b"not enough space to store the message" in res.stderr
        assert not list(maildrop.iterdir())
        # A message that fits still goes through.
        res = env.sendmail("r@example.com", input=b"small\n", user=NOBODY)
        assert res.returncode == 0, res.stderr
        assert len(env.files()) == 1
    finally:
        subprocess.run(["umount", str(maildrop)], check=True)


def test_authorized_submit_users(env):
    env.write_main_cf(authorized_submit_users="!nobody, static:anyone")
    res = env.sendmail("r@example.com", input=b"x\n", user=NOBODY)
    assert res.returncode == EX_NOPERM, res.stderr
    assert b"User nobody(" in res.stderr
    assert b"is not allowed to submit mail" in res.stderr
    assert not env.files() and not env.files(temp=True)
    res = env.sendmail("r@example.com", input=b"x\n")
    assert res.returncode == 0, res.stderr
    env.write_main_cf(authorized_submit_users="root")
    res = env.sendmail("r@example.com", input=b"x\n", user=NOBODY)
    assert res.returncode == EX_NOPERM, res.stderr


def test_user_cannot_choose_another_configuration(env):
    other = Path(tempfile.mkdtemp(prefix="postern-other-"))
    try:
        os.chmod(other, 0o755)
        (other / "main.cf").write_text(
            env.inst.main_cf.read_text()
            + "authorized_submit_users = static:anyone\n")
        res = env.sendmail("-C", str(other), "r@example.com", input=b"x\n",
                           user=NOBODY)
        assert res.returncode == EX_NOPERM, res.stderr
        assert b"alternate_config_directories" in res.stderr
        assert not env.files()
        env.write_main_cf(alternate_config_directories=str(other))
        res = env.sendmail("-C", str(other / "main.cf"), "r@example.com",
                           input=b"x\n", user=NOBODY)
        assert res.returncode == 0, res.stderr
        assert len(env.files()) == 1
    finally:
        shutil.rmtree(other)


# ---- postdrop on its own: input it must refuse --------------------------------


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def rec(t, data=b""):
    return t.encode() + varint(len(data)) + data


def rec_int(t, n):
    return rec(t, n.to_bytes(8, "big", signed=True))


def field(b):
    return varint(len(b)) + b


def rcpt(addr, status=b"P"):
    return rec("R", status + b"\0" + field(addr) + field(addr) + field(b""))


def stream(*middle, sender=b"s@example.com", rcpts=(b"r@example.com",)):
    out = rec("V", b"postern 1") + rec("S", sender)
    for r in rcpts:
        out += rcpt(r)
    return out + b"".join(middle)


GOOD_END = rec("M") + rec("L", b"hello") + rec("X") + rec("E")


def test_postdrop_accepts_a_valid_stream(env):
    res = env.postdrop(stream(GOOD_END))
    assert res.returncode == 0, res.stderr
    path, q = env.only()
    assert res.stdout.decode().strip() == path.name
    assert q.lines == ["hello"]
    assert q.time_us is not None  # postdrop adds the time when missing


@pytest.mark.parametrize("data, code, text", [
    (b"", EX_DATAERR, b"empty input"),
    (b"garbage that is not records", EX_DATAERR, b"malformed input"),
    (stream(rec_int("W", 5) + GOOD_END), EX_DATAERR,
     b"unexpected record type"),
    (stream(rec("Q", b"x") + GOOD_END), EX_DATAERR, b"bad status record"),
    (stream(rec("Z", b"\0" * 40) + GOOD_END), EX_DATAERR,
     b"unexpected record type"),
    (stream(rec("S", b"again") + GOOD_END), EX_DATAERR,
     b"unexpected record type: sender"),
    (stream(rec_int("F", 0x08) + GOOD_END), EX_DATAERR,
     b"flags 0x8 not allowed"),
    (stream(rec("A", b"client_address=1.2.3.4") + GOOD_END), EX_DATAERR,
     b"attribute not allowed"),
    (stream(rcpt(b"x@y", b"D") + GOOD_END), EX_DATAERR,
     b"recipient not pending"),
    (rec("V", b"postern 1") + rcpt(b"r@x") + GOOD_END, EX_DATAERR,
     b"no sender record"),
    (stream(rec("M") + rec("L", b"x") + rec("S", b"late") + rec("E")),
     EX_DATAERR, b"unexpected record type"),
    (stream(rec("M") + rec("L", b"x") + rec("X") + rcpt(b"late@x")
            + rec("E")), EX_DATAERR, b"unexpected record type"),
    (stream(rec("M") + rec("L", b"x")), EX_DATAERR, b"malformed input"),
    (stream(GOOD_END) + b"trailing", EX_DATAERR, b"malformed input"),
], ids=["empty", "garbage", "warn", "status", "size", "second-sender",
        "hold-flag", "attribute", "done-rcpt", "no-sender", "late-sender",
        "late-rcpt", "truncated", "trailing"])
def test_postdrop_refuses_bad_input(env, data, code, text):
    res = env.postdrop(data)
    assert res.returncode == code, res.stderr
    assert b"postdrop: fatal: " in res.stderr and text in res.stderr, \
        res.stderr
    assert not env.files() and not env.files(temp=True)


def test_signalled_postdrop_leaves_no_visible_file(env):
    for sig, temp_left in ((signal.SIGTERM, 0), (signal.SIGKILL, 1)):
        p = subprocess.Popen([str(env.inst.command("postdrop"))],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, user=NOBODY,
                             group=nogroup(), extra_groups=[])
        p.stdin.write(stream(rec("M"), rec("L", b"partial")))
        p.stdin.flush()
        assert wait_for(lambda: env.files(temp=True)), "no ID.tmp appeared"
        p.send_signal(sig)
        p.wait(timeout=30)
        p.stdin.close()
        p.stdout.close()
        p.stderr.close()
        assert not env.files()
        assert len(env.files(temp=True)) == temp_left
    for t in env.files(temp=True):
        t.unlink()


# ---- -bs --------------------------------------------------------------------


def test_bs_dialogue(env):
    script = (b"EHLO client.example\r\n"
              b"MAIL FROM:<bs@example.com> RET=FULL ENVID=e+2B1\r\n"
              b"RCPT TO:<r1@example.com> NOTIFY=NEVER\r\n"
              b"RCPT TO:<r2@example.com> ORCPT=rfc822;R2+40example.com\r\n"
              b"DATA\r\n"
              b"Subject: bs\r\n\r\n..leading dot\r\nend\r\n.\r\n"
              b"MAIL FROM:<>\r\nRCPT TO:<>\r\nRSET\r\nNOOP\r\nQUIT\r\n")
    res = env.sendmail("-bs", input=script, user=NOBODY)
    assert res.returncode == 0, res.stderr
    replies = res.stdout.decode().split("\r\n")
    assert replies[0].startswith("220 ")
    assert "250-PIPELINING" in replies and "250-DSN" in replies
    path, q = env.only()
    assert f"250 2.0.0 Ok: queued as {path.name}" in replies
    assert "501 5.1.3 Bad recipient address syntax" in replies
    assert replies[-2:] == ["221 2.0.0 Bye", ""]
    assert q.sender == "bs@example.com"
    assert q.rcpt_addrs() == ["r1@example.com", "r2@example.com"]
    assert q.recipients[0].notify == qfile.NOTIFY_NEVER
    assert q.recipients[1].orcpt == "rfc822;R2@example.com"
    assert q.dsn_ret == 1 and q.dsn_envid == "e+1"
    assert q.lines == ["Subject: bs", "", ".leading dot", "end"]
    assert path.stat().st_uid == pwd.getpwnam(NOBODY).pw_uid


def test_bs_message_too_big(env):
    env.write_main_cf(message_size_limit="100")
    script = (b"HELO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"
              + b"z" * 300 + b"\r\n.\r\nQUIT\r\n")
    res = env.sendmail("-bs", input=script)
    assert b"552 5.3.4 Message size exceeds fixed limit" in res.stdout
    assert b"221 2.0.0 Bye" in res.stdout
    assert not env.files() and not env.files(temp=True)


# ---- mailq, newaliases, -q ------------------------------------------------------


def test_newaliases_builds_alias_database(env):
    aliases = env.inst.config_dir / "aliases"
    aliases.write_text("postmaster: root\nsendmailtest: root\n")
    env.write_main_cf(alias_database=f"hash:{aliases}",
                      alias_maps=f"hash:{aliases}")
    db = Path(str(aliases) + ".db")
    db.unlink(missing_ok=True)
    link = Path(env.inst.args["newaliases_path"])
    assert link.is_symlink()
    res = env.sendmail(prog=link)
    assert res.returncode == 0, res.stderr
    assert db.is_file()
    q = env.inst.run([env.inst.command("postmap"), "-q", "sendmailtest",
                      f"hash:{aliases}"])
    assert q.stdout.strip() == "root"
    db.unlink()
    for args in (("-bi",), ("-I",)):
        res = env.sendmail(*args)
        assert res.returncode == 0, res.stderr
        assert db.is_file()
        db.unlink()


def test_mailq_and_flush_run_postqueue(env):
    if not (env.inst.command_dir / "postqueue").is_file():
        pytest.skip("postqueue is not built yet")
    link = Path(env.inst.args["mailq_path"])
    assert link.is_symlink()
    res = env.sendmail("r@example.com", input=b"x\n")
    assert res.returncode == 0, res.stderr
    qid = env.only()[0].name
    # postqueue -p lists the queue (root: even with the mail system down).
    for prog, args in ((link, ()), (None, ("-bp",))):
        res = env.sendmail(*args, prog=prog)
        assert res.returncode == 0, (args, res.stderr)
        assert qid.encode() in res.stdout, (args, res.stdout)
    # postqueue -f / -s need the queue manager: its refusal shows it ran.
    for args in (("-q",), ("-qRexample.com",), ("-qS", "example.com")):
        res = env.sendmail(*args)
        assert res.returncode != 0
        assert b"postqueue: fatal: " in res.stderr, (args, res.stderr)


# ---- pickup --------------------------------------------------------------------


def test_maildrop_files_flow_when_pickup_starts(env):
    uid = pwd.getpwnam(NOBODY).pw_uid
    res = env.sendmail("-F", "Pat Doe", "r1@example.com",
                       input=message("Subject: waiting", "", "body"),
                       user=NOBODY)
    assert res.returncode == 0, res.stderr
    res = env.sendmail("-t", input=message("To: x@example.com, Y <y@example.com>",
                                           "Bcc: z@example.com",
                                           "Subject: extract", "", "b"))
    assert res.returncode == 0, res.stderr
    assert len(env.files()) == 2
    time.sleep(1)
    assert len(env.files()) == 2  # nothing takes them
    env.start([PICKUP, CLEANUP])
    # A wake-up, as postdrop sends after each message.
    res = env.sendmail("r3@example.com", input=b"third\n", user=NOBODY)
    assert res.returncode == 0, res.stderr
    assert wait_for(lambda: not env.files() and len(env.files("incoming"))
                    == 3, 30), env.master.log_text()
    msgs = [qfile.read(p) for p in env.files("incoming")]
    by_subject = {m.header("Subject"): m for m in msgs}
    waiting = by_subject["waiting"]
    assert "Pat Doe" in waiting.header("From")
    assert waiting.lines[0].startswith("Received: by ")
    assert waiting.lines[0].endswith(f" (Postern, from userid {uid})")
    assert waiting.lines[1].startswith("\tid ")
    assert waiting.rcpt_addrs() == ["r1@example.com"]
    extract = by_subject["extract"]
    assert sorted(extract.rcpt_addrs()) == ["x@example.com", "y@example.com",
                                            "z@example.com"]
    assert extract.header("Bcc") is None
    assert "from userid 0)" in extract.lines[0]
    log = env.master.log_text()
    assert f"uid={uid} from=<{NOBODY}>" in log
    assert "uid=0 from=<root>" in log
    for m in msgs:
        qid = m.lines[1].split()[1].rstrip(";")
        assert f"{qid}: uid=" in log


def test_corrupt_maildrop_file_is_moved_aside(env):
    env.start([PICKUP, CLEANUP])
    qid = "1xZDGu2MQe05iM"
    bad = env.inst.queue_dir / "maildrop" / qid
    bad.write_bytes(b"this is not a queue file")
    os.chmod(bad, 0o644)
    res = env.sendmail("r@example.com", input=b"good\n")
    assert res.returncode == 0, res.stderr
    assert wait_for(lambda: (env.inst.queue_dir / "corrupt" / qid).exists()
                    and len(env.files("incoming")) == 1, 30), \
        env.master.log_text()
    assert not env.files()
    assert f"{qid}: corrupt queue file maildrop/{qid}" in env.master.log_text()


def test_file_stays_while_cleanup_is_unreachable(env):
    env.start([PICKUP])
    res = env.sendmail("r@example.com", input=b"first\n", user=NOBODY)
    assert res.returncode == 0, res.stderr
    qid = env.only()[0].name
    assert wait_for(lambda: f"{qid}: cannot hand the maildrop file to "
                    "cleanup" in env.master.log_text(), 30), \
        env.master.log_text()
    assert [p.name for p in env.files()] == [qid]
    env.master.write_master_cf([PICKUP, CLEANUP])
    env.master.reload()
    res = env.sendmail("r@example.com", input=b"second\n", user=NOBODY)
    assert res.returncode == 0, res.stderr
    assert wait_for(lambda: not env.files()
                    and len(env.files("incoming")) == 2, 30), \
        env.master.log_text()
    bodies = sorted(qfile.read(p).body_lines[-1]
                    for p in env.files("incoming"))
    assert bodies == ["first", "second"]


def test_pickup_drops_what_a_user_may_not_ask_for(env):
    qinject = BUILD_DIR / "testbin" / "qinject"
    if not qinject.is_file():
        pytest.skip("tests/daemons/qinject is not built")
    # A maildrop file made without postdrop: a hold flag, a client
    # address attribute and a WARN time, none of which a user may set.
    res = subprocess.run([str(qinject), "-q", "maildrop", "-f",
                          "forger@example.com", "-F", "0x18", "-w", "5",
                          "-a", "client_address=192.0.2.1", "-a",
                          "full_name=Ann", str(env.inst.queue_dir),
                          "r@example.com"], input=b"Subject: f\n\nbody\n",
                         capture_output=True, timeout=60)
    assert res.returncode == 0, res.stderr
    qid = res.stdout.decode().strip()
    os.chmod(env.inst.queue_dir / "maildrop" / qid, 0o644)
    env.start([PICKUP, CLEANUP])
    res = env.sendmail("r2@example.com", input=b"wake\n")
    assert res.returncode == 0, res.stderr
    assert wait_for(lambda: not env.files()
                    and len(env.files("incoming")) == 2, 30), \
        env.master.log_text()
    msgs = {qfile.read(p).header("Subject"): qfile.read(p)
            for p in env.files("incoming")}
    forged = msgs["f"]
    assert forged.sender == "forger@example.com"
    assert forged.flags & qfile.FLAG_HOLD == 0
    assert "client_address" not in forged.attrs
    assert forged.rcpt_addrs() == ["r@example.com"]
    log = env.master.log_text()
    assert f"{qid}: maildrop file: ignoring flags 0x8" in log
    assert f"{qid}: maildrop file: ignoring an attribute" in log
