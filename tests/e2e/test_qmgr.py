"""The queue manager (issue 5) with real delivery agents: exactly-once
delivery, the "(queue active)" and "removed" log lines, deferral into
deferred/ with the next retry time as the file's mtime, a transport whose
program is missing (deferred with a clear reason, delivered once it exists
and the queue is flushed), a transport with no service at all, corrupt
files moved aside while the rest flows, a qmgr killed with SIGKILL in the
middle of deliveries (each recipient still delivered exactly once), the
discard, error and retry agents, fail_reason messages, hold, expiry, and the
bounce service protocol (a stand-in bounce server on private/bounce).

The delivery agent is tests/daemons/testagent: it appends "QUEUEID RCPT"
(and the content, TAB-indented) to a file per delivered recipient, defers
"defer*" addresses (4.4.1), bounces "bounce*" ones (5.1.1), pauses for
"slow*" ones and dies on "crash*" ones. Messages are written straight into
incoming/ by tests/daemons/qinject, then qmgr is woken through public/qmgr.

One installation serves the module; master is driven with test_master's
Master helper. The installation lives in a world-searchable folder so that
qmgr (mail_owner, not chrooted) can reach its absolute socket paths.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

import qfile
from conftest import add_program, BUILD_DIR, REPO, SANITIZE, Instance, layout_args, \
    run_install
from test_master import Master, alive, wait_for

TESTBIN = BUILD_DIR / "testbin"
TOOLS = ["testagent", "qinject"]
QUEUES = ["maildrop", "incoming", "active", "deferred", "hold", "corrupt",
          "bounce", "defer", "trace"]


@pytest.fixture(scope="module")
def installed():
    if os.geteuid() != 0:
        pytest.skip("the end-to-end tests install Postern and run as root")
    missing = [str(TESTBIN / n) for n in TOOLS if not (TESTBIN / n).is_file()]
    if missing:
        env = {k: v for k, v in os.environ.items()
               if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
        subprocess.run(["make", "-C", str(REPO), "-s", f"SANITIZE={SANITIZE}",
                        f"BUILD={BUILD_DIR}", *missing], env=env,
                       stdin=subprocess.DEVNULL, timeout=600)
    root = Path(tempfile.mkdtemp(prefix="postern-qmgr-"))
    os.chmod(root, 0o755)
    try:
        args = layout_args(root)
        run_install(args)
        inst = Instance(root, args)
        for name in ("qmgr", "discard", "error"):
            if not (inst.daemon_dir / name).is_file():
                pytest.fail(f"the install has no {name}")
        for name in TOOLS:
            add_program(TESTBIN / name, inst.daemon_dir / name)
        yield inst, inst.main_cf.read_text()
    finally:
        shutil.rmtree(root, ignore_errors=True)


class Queue:
    """One test's view of the instance: configure, inject, wake, observe."""

    def __init__(self, master):
        self.m = master
        self.inst = master.inst
        self.qdir = self.inst.queue_dir
        self.out = self.inst.root / "out"
        self.deliveries_file = self.out / "deliveries"

    def services(self, agent_args="", maxproc="-"):
        return [
            "qmgr unix n - n 300 1 qmgr",
            f"test unix - - n - {maxproc} testagent {self.deliveries_file} "
            f"{agent_args}",
            "discard unix - - y - - discard",
            "error unix - - y - - error",
            "retry unix - - y - - error",
        ]

    def start(self, extra_services=(), agent_args="", maxproc="-",
              **params):
        settings = {
            "default_transport": "test",
            "local_transport": "test",
            "relay_transport": "test",
            "qmgr_ipc_timeout": "3s",
            "service_throttle_time": "1s",
            "minimal_backoff_time": "100s",
            "maximal_backoff_time": "1000s",
            "queue_run_delay": "300s",
        }
        settings.update(params)
        self.m.configure(self.services(agent_args, maxproc)
                         + list(extra_services),
                         **settings)
        self.m.start()

    def inject(self, *rcpts, sender="sender@example.com", body=None,
               opts=()):
        text = body if body is not None else \
            "Subject: test\nFrom: sender@example.com\n\nhello\n"
        res = subprocess.run([str(self.inst.daemon_dir / "qinject"), *opts,
                              "-f", sender, str(self.qdir), *rcpts],
                             input=text, capture_output=True, text=True,
                             user=self.inst.mail_owner, timeout=30)
        assert res.returncode == 0, res.stderr
        return res.stdout.strip()

    def trigger(self, data=b"I"):
        """Wake qmgr through public/qmgr (master starts it on demand)."""
        path = str(self.qdir / "public" / "qmgr")

        def send():
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.settimeout(5)
                s.connect(path)
                s.sendall(data)
                return True
            except OSError:
                return False
            finally:
                s.close()
        assert wait_for(send, 10), "cannot reach public/qmgr"

    def flush(self):
        """postern flush: what an administrator runs (it sends "FAD")."""
        res = subprocess.run([str(self.inst.command("postern")), "-c",
                              str(self.inst.config_dir), "flush"],
                             capture_output=True, text=True, timeout=30,
                             stdin=subprocess.DEVNULL)
        assert res.returncode == 0, res.stderr

    def log(self):
        return self.m.log_text()

    def wait_log(self, text, count=1, timeout=20):
        ok = wait_for(lambda: self.log().count(text) >= count, timeout)
        assert ok, f"no {count}x {text!r} in the log:\n{self.log()}"

    def deliveries(self):
        try:
            lines = self.deliveries_file.read_text().splitlines()
        except FileNotFoundError:
            return []
        return [tuple(l.split(" ", 1)) for l in lines
                if l and not l.startswith("\t")]

    def where(self, qid):
        found = qfile.find(self.qdir, qid)
        return found[0] if found else None

    def path(self, qid):
        found = qfile.find(self.qdir, qid)
        return found[1] if found else None

    def log_records(self, log, qid):
        paths = [p for p in qfile.queue_files(self.qdir, log)
                 if p.name == qid]
        if not paths:
            return []
        return qfile.parse_log(paths[0].read_bytes())

    def qmgr_pid(self):
        pids = self.m.children("qmgr")
        return pids[0] if pids else None


@pytest.fixture
def q(installed):
    inst, pristine = installed
    m = Master(inst, pristine)
    m.log.unlink(missing_ok=True)
    m.stderr_path.unlink(missing_ok=True)
    for name in QUEUES:
        d = inst.queue_dir / name
        if d.is_dir():
            for p in sorted(d.rglob("*"), reverse=True):
                if p.is_file():
                    p.unlink()
    for name in ("lateagent",):
        (inst.daemon_dir / name).unlink(missing_ok=True)
    out = inst.root / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    os.chmod(out, 0o777)
    queue = Queue(m)
    yield queue
    reports = m.cleanup()
    assert not reports, f"sanitizer reports:\n{reports}"


def active_line(qid, nrcpt, sender="sender@example.com"):
    return re.compile(re.escape(f"{qid}: from=<{sender}>, size=") + r"\d+"
                      + re.escape(f", nrcpt={nrcpt} (queue active)"))


# ---- delivery ---------------------------------------------------------------


def test_delivers_each_recipient_once_and_removes(q):
    q.start()
    a = q.inject("one@example.com", "two@example.com", "three@other.example")
    b = q.inject("four@example.com")
    q.trigger()
    q.wait_log(f"{a}: removed")
    q.wait_log(f"{b}: removed")
    got = sorted(q.deliveries())
    assert got == sorted([(a, "one@example.com"), (a, "two@example.com"),
                          (a, "three@other.example"), (b, "four@example.com")])
    log = q.log()
    assert active_line(a, 3).search(log), log
    assert active_line(b, 1).search(log), log
    assert re.search(re.escape(a) + r": to=<one@example.com>, relay=testagent, "
                     r"delay=[\d.]+, delays=[\d.]+/[\d.]+/[\d.]+/[\d.]+, "
                     r"dsn=2\.0\.0, status=sent \(delivered to file\)", log)
    # The content went through, and nothing is left in any queue.
    text = q.deliveries_file.read_text()
    assert "\tSubject: test\n" in text and "\thello\n" in text
    assert q.where(a) is None and q.where(b) is None
    # Another wake-up delivers nothing again.
    q.trigger(b"FAD")
    time.sleep(1)
    assert len(q.deliveries()) == 4
    # A clean stop (the fixture checks for sanitizer reports).
    pid = q.qmgr_pid()
    q.m.stop()
    assert wait_for(lambda: not alive(pid), 10)


def test_deferral_backoff_and_retry(q):
    q.start()
    qid = q.inject("ok@example.com", "defer1@example.com")
    q.trigger()
    q.wait_log(f"{qid}: to=<defer1@example.com>")
    assert wait_for(lambda: q.where(qid) == "deferred", 10), q.log()
    now = time.time()
    mtime = q.path(qid).stat().st_mtime
    # minimal_backoff_time is 100s: the next retry is about that far out.
    assert now + 80 < mtime < now + 110, (now, mtime)
    assert q.deliveries() == [(qid, "ok@example.com")]
    states = {r.addr: r.status for r in qfile.read(q.path(qid)).recipients}
    assert states == {"ok@example.com": "D", "defer1@example.com": "P"}
    recs = q.log_records("defer", qid)
    assert [(r.addr, r.dsn, r.reason) for r in recs] == \
        [("defer1@example.com", "4.4.1", "test deferral")]
    assert "status=deferred (test deferral)" in q.log()
    assert f"{qid}: removed" not in q.log()

    # A flush retries it now; the delivered recipient is not sent again.
    q.flush()
    q.wait_log("status=deferred (test deferral)", 2)
    assert wait_for(lambda: q.where(qid) == "deferred", 10)
    assert q.deliveries() == [(qid, "ok@example.com")]
    assert q.log().count(f"{qid}: to=<ok@example.com>") == 1


def test_missing_program_then_present(q):
    q.start(extra_services=["late unix - - n - - lateagent "
                            f"{q.deliveries_file}"],
            default_transport="late")
    qid = q.inject("user@example.com")
    q.trigger()
    q.wait_log("delivery agent late: no response", timeout=30)
    q.wait_log(f"{qid}: to=<user@example.com>, relay=none")
    assert wait_for(lambda: q.where(qid) == "deferred", 10), q.log()
    assert "status=deferred (delivery agent late: no response: request not " \
           "taken within 3s" in q.log()
    assert q.deliveries() == []
    assert len(q.log_records("defer", qid)) == 1

    shutil.copy(q.inst.daemon_dir / "testagent",
                q.inst.daemon_dir / "lateagent")
    os.chmod(q.inst.daemon_dir / "lateagent", 0o755)
    time.sleep(1.5)  # master's service_throttle_time
    q.flush()
    q.wait_log(f"{qid}: removed", timeout=30)
    assert q.deliveries() == [(qid, "user@example.com")]


def test_transport_without_service(q):
    q.start(default_transport="nosuch")
    qid = q.inject("user@example.com")
    q.trigger()
    q.wait_log(f"{qid}: to=<user@example.com>")
    assert wait_for(lambda: q.where(qid) == "deferred", 10), q.log()
    assert re.search(r"status=deferred \(delivery agent nosuch is not "
                     r"available: connect to \S*private/nosuch: ", q.log())


def test_corrupt_file_moves_aside_and_the_rest_flows(q):
    q.start()
    bad = q.inject("bad@example.com")
    path = q.path(bad)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    good = q.inject("good@example.com")
    q.trigger()
    q.wait_log(f"{good}: removed")
    assert wait_for(lambda: q.where(bad) == "corrupt", 10), q.log()
    assert f"{bad}: corrupt queue file" in q.log()
    assert q.deliveries() == [(good, "good@example.com")]


def test_kill9_mid_delivery_delivers_exactly_once(q):
    q.start(agent_args="slow=3", queue_run_delay="2s")
    rcpts = ["slow1@a.example", "slow2@b.example", "fast1@c.example",
             "fast2@d.example"]
    qid = q.inject(*rcpts)
    other = q.inject("fast3@e.example")
    q.trigger()
    q.wait_log(f"{qid}: to=<fast1@c.example>")
    pid = q.qmgr_pid()
    assert pid, "no qmgr process"
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: not alive(pid), 10)
    # Wake a new qmgr at once, while the slow deliveries still run.
    q.trigger()
    q.wait_log(f"{qid}: removed", timeout=40)
    q.wait_log(f"{other}: removed", timeout=20)
    got = q.deliveries()
    assert sorted(got) == sorted([(qid, r) for r in rcpts]
                                 + [(other, "fast3@e.example")]), got
    for r in rcpts:
        assert q.log().count(f"{qid}: to=<{r}>") == 1, q.log()


def test_agent_crash_defers_with_a_reason(q):
    q.start()
    qid = q.inject("crash@example.com")
    q.trigger()
    q.wait_log(f"{qid}: to=<crash@example.com>")
    assert "status=deferred (delivery agent test: connection closed)" \
        in q.log()
    assert wait_for(lambda: q.where(qid) == "deferred", 10)


# ---- discard, error, retry ----------------------------------------------------


def test_discard_agent(q):
    q.start(default_transport="discard:dropped by test")
    qid = q.inject("a@example.com", "b@example.com")
    q.trigger()
    q.wait_log(f"{qid}: removed")
    log = q.log()
    assert re.search(re.escape(qid) + r": to=<a@example.com>, relay=none, "
                     r"delay=[\d.]+, delays=\S+, dsn=2\.0\.0, status=sent "
                     r"\(dropped by test\)", log), log
    assert f"{qid}: to=<b@example.com>" in log


def test_retry_agent_defers(q):
    q.start(default_transport="retry:5.2.0 come back later")
    qid = q.inject("a@example.com")
    q.trigger()
    q.wait_log(f"{qid}: to=<a@example.com>")
    assert "dsn=4.2.0, status=deferred (come back later)" in q.log()
    assert wait_for(lambda: q.where(qid) == "deferred", 10)


class BounceServer:
    """A stand-in bounce service on private/bounce: records each request
    and answers STATUS."""

    def __init__(self, qdir, status=0):
        self.path = qdir / "private" / "bounce"
        self.path.unlink(missing_ok=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(self.path))
        os.chmod(self.path, 0o666)
        self.sock.listen(5)
        self.sock.settimeout(0.2)
        self.status = status
        self.requests = []
        self.stop = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    @staticmethod
    def parse(data):
        """One attribute list: dict, or None when incomplete."""
        pos, fields = 0, []
        while True:
            colon = data.find(b":", pos)
            if colon < 0:
                return None
            n = int(data[pos:colon])
            if len(data) < colon + 1 + n + 1:
                return None
            fields.append(data[colon + 1:colon + 1 + n].decode())
            pos = colon + 1 + n + 1
            if len(fields) % 2 == 1 and fields[-1] == "":
                return dict(zip(fields[0:-1:2], fields[1:-1:2]))

    def serve(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(5)
            data = b""
            req = None
            while req is None:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
                req = self.parse(data)
            if req is not None:
                self.requests.append(req)
                conn.sendall(b"6:status,1:%d,6:reason,0:,0:," % self.status)
            conn.close()

    def close(self):
        self.stop = True
        self.thread.join(5)
        self.sock.close()
        self.path.unlink(missing_ok=True)


def test_error_agent_bounce_kept_until_bounce_service_answers(q):
    q.start(default_transport="error:5.7.1 no mail for you")
    qid = q.inject("a@example.com")
    q.trigger()
    q.wait_log(f"{qid}: to=<a@example.com>")
    assert "dsn=5.7.1, status=bounced (no mail for you)" in q.log()
    # No bounce service: the message is kept (never lost), with its log.
    assert wait_for(lambda: q.where(qid) == "deferred", 10), q.log()
    recs = q.log_records("bounce", qid)
    assert [(r.addr, r.dsn, r.reason) for r in recs] == \
        [("a@example.com", "5.7.1", "no mail for you")]
    assert [r.status for r in qfile.read(q.path(qid)).recipients] == ["B"]

    srv = BounceServer(q.qdir, status=0)
    try:
        q.flush()
        q.wait_log(f"{qid}: removed")
        assert srv.requests == [{"request": "flush", "queue_name": "active",
                                 "queue_id": qid}]
        assert q.log_records("bounce", qid) == []
    finally:
        srv.close()
    # The error agent ran once: the recipient was not bounced twice.
    assert q.log().count(f"{qid}: to=<a@example.com>") == 1


def test_fail_reason_bounces_every_recipient(q):
    srv = BounceServer(q.qdir, status=0)
    try:
        q.start()
        qid = q.inject("a@example.com", "b@example.com",
                       opts=["-a", "fail_reason=5.7.1 message content "
                                   "rejected"])
        q.trigger()
        q.wait_log(f"{qid}: removed")
        log = q.log()
        for r in ("a@example.com", "b@example.com"):
            assert re.search(re.escape(f"{qid}: to=<{r}>") + r".*dsn=5\.7\.1, "
                             r"status=bounced \(message content rejected\)",
                             log), log
        assert q.deliveries() == []
        assert srv.requests and srv.requests[0]["queue_id"] == qid
    finally:
        srv.close()


def test_bounce_service_retry_keeps_the_message(q):
    srv = BounceServer(q.qdir, status=1)
    try:
        q.start()
        qid = q.inject("bounce1@example.com", "ok@example.com")
        q.trigger()
        assert wait_for(lambda: srv.requests, 15), q.log()
        assert wait_for(lambda: q.where(qid) == "deferred", 10), q.log()
        assert f"{qid}: removed" not in q.log()
        assert len(q.log_records("bounce", qid)) == 1
        assert q.deliveries() == [(qid, "ok@example.com")]
        srv.status = 0
        q.flush()
        q.wait_log(f"{qid}: removed")
        assert q.deliveries() == [(qid, "ok@example.com")]
    finally:
        srv.close()


def test_expired_message_is_returned(q):
    srv = BounceServer(q.qdir, status=0)
    try:
        q.start(maximal_queue_lifetime="0")
        qid = q.inject("defer9@example.com")
        q.trigger()
        q.wait_log(f"{qid}: removed")
        assert f"{qid}: from=<sender@example.com>, status=expired, returned " \
               "to sender" in q.log()
        assert [r["request"] for r in srv.requests] == ["flush"]
    finally:
        srv.close()


def test_expired_bounce_log_carries_the_last_reason(q):
    q.start(maximal_queue_lifetime="0")
    qid = q.inject("defer9@example.com")
    q.trigger()
    q.wait_log("status=expired, returned to sender")
    # No bounce service: kept, with the bounce record made from the defer.
    assert wait_for(lambda: q.where(qid) == "deferred", 10), q.log()
    recs = q.log_records("bounce", qid)
    assert [(r.addr, r.dsn, r.reason) for r in recs] == \
        [("defer9@example.com", "4.4.7",
          "message delivery timed out (last error: test deferral)")]


def test_hold_flag_moves_to_hold(q):
    q.start()
    qid = q.inject("a@example.com", opts=["-F", "8"])
    q.trigger()
    q.wait_log(f"{qid}: placed on hold")
    assert q.where(qid) == "hold"
    assert q.deliveries() == []


def test_startup_recovers_active(q):
    qid = q.inject("a@example.com")
    src = q.path(qid)
    dst = q.qdir / "active" / qid
    os.rename(src, dst)
    q.start()
    q.trigger()
    q.wait_log(f"{qid}: removed")
    assert q.deliveries() == [(qid, "a@example.com")]


def test_delay_warning_is_requested_once(q):
    srv = BounceServer(q.qdir, status=0)
    try:
        q.start()
        past = int(time.time()) - 10
        qid = q.inject("defer2@example.com", opts=["-w", str(past)])
        q.trigger()
        assert wait_for(lambda: srv.requests, 15), q.log()
        assert srv.requests == [{"request": "warn", "queue_name": "active",
                                 "queue_id": qid}]
        assert wait_for(lambda: q.where(qid) == "deferred", 10), q.log()
        assert qfile.read(q.path(qid)).warn == 0
        # The next attempt sends no second warning.
        q.flush()
        q.wait_log("status=deferred (test deferral)", 2)
        time.sleep(0.5)
        assert len(srv.requests) == 1
    finally:
        srv.close()


def test_removed_behind_its_back(q):
    """postsuper -d while qmgr works on a message: no error, no orphan
    logs."""
    q.start(agent_args="slow=2")
    qid = q.inject("slow1@example.com")
    q.trigger()
    q.wait_log(f"{qid}: from=<sender@example.com>")
    assert wait_for(lambda: q.where(qid) == "active", 5)
    q.path(qid).unlink()
    time.sleep(3)
    q.trigger()
    time.sleep(0.5)
    assert q.where(qid) is None
    assert q.log_records("defer", qid) == []
    assert "panic" not in q.log() and "fatal" not in q.log()


def test_process_limit_of_the_service_bounds_deliveries(q):
    """With maxproc 1, deliveries wait for the one agent process instead of
    looking like a missing agent (qmgr_ipc_timeout is 3s, each delivery
    takes 2s)."""
    q.start(agent_args="slow=2", maxproc="1")
    ids = [q.inject(f"slow{i}@d{i}.example") for i in range(3)]
    q.trigger()
    for qid in ids:
        q.wait_log(f"{qid}: removed", timeout=30)
    assert "no response" not in q.log()
    assert sorted(q.deliveries()) == sorted(
        (qid, f"slow{i}@d{i}.example") for i, qid in enumerate(ids))


def test_with_the_real_bounce_and_cleanup_services(q):
    """A bounced recipient: the bounce service writes the notice through
    cleanup, qmgr delivers the notice to the sender, and removes both."""
    for name in ("bounce", "cleanup"):
        if not (q.inst.daemon_dir / name).is_file():
            pytest.skip(f"{name} is not built yet")
    q.start(extra_services=["cleanup unix n - y - 0 cleanup",
                            "bounce unix - - y - 0 bounce"])
    qid = q.inject("bounce3@example.com", "ok@example.com")
    q.trigger()
    q.wait_log(f"{qid}: removed", timeout=30)
    # The notice is a new message to the sender, delivered by testagent.
    assert wait_for(lambda: any(r == "sender@example.com"
                                for _, r in q.deliveries()), 20), q.log()
    notice = [i for i, r in q.deliveries() if r == "sender@example.com"][0]
    q.wait_log(f"{notice}: removed")
    assert (qid, "ok@example.com") in q.deliveries()
    assert active_line(notice, 1, sender="").search(q.log()), q.log()


def test_defer_transports_wait_for_a_flush(q):
    q.start(defer_transports="test")
    qid = q.inject("a@example.com")
    q.trigger()
    q.wait_log(f"{qid}: to=<a@example.com>")
    assert "status=deferred (deferred transport)" in q.log()
    assert wait_for(lambda: q.where(qid) == "deferred", 10)
    assert q.deliveries() == []
    q.flush()
    q.wait_log(f"{qid}: removed")
    assert q.deliveries() == [(qid, "a@example.com")]


def test_retry_one_message_by_id(q):
    q.start()
    qid = q.inject("ok@example.com", "defer5@example.com")
    other = q.inject("defer6@example.com")
    q.trigger()
    assert wait_for(lambda: q.where(qid) == "deferred"
                    and q.where(other) == "deferred", 15), q.log()
    q.trigger(b"Q" + qid.encode())
    q.wait_log("to=<defer5@example.com>", 2)
    time.sleep(0.5)
    assert q.log().count("to=<defer6@example.com>") == 1


def test_moved_to_hold_while_delivering_keeps_its_logs(q):
    """postsuper -h while qmgr works on a message: the message and its
    bounce log stay in hold/."""
    q.start(agent_args="slow=2")
    qid = q.inject("slow1@example.com", "bounce4@other.example")
    q.trigger()
    q.wait_log(f"{qid}: to=<bounce4@other.example>")
    assert q.where(qid) == "active"
    hold = q.qdir / "hold" / qid
    os.rename(q.path(qid), hold)
    q.wait_log(f"{qid}: to=<slow1@example.com>")
    time.sleep(1)
    assert q.where(qid) == "hold"
    assert len(q.log_records("bounce", qid)) == 1
    assert f"{qid}: removed" not in q.log()
