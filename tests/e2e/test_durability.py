"""Queue durability (issue 5, DESIGN.md section 4): what sendmail said it
accepted is delivered exactly once, whatever happens to the daemons.

- 500 messages go in through sendmail (postdrop, pickup, cleanup, qmgr, the
  test delivery agent) while cleanup, qmgr and master itself are
  killed with SIGKILL at random moments (a fixed seed, so a failure can be
  replayed); afterwards every accepted message reached its recipient
  exactly once and the queue is empty.
- A queue on a small tmpfs that fills up: sendmail fails with a temporary
  error (EX_TEMPFAIL) and leaves no partial file; every message it had
  accepted is still delivered once space comes back.
- A corrupt file in incoming/ goes to corrupt/ and the rest flows.

The delivery agent is tests/daemons/testagent (one "QUEUEID RCPT" line per
delivered recipient in a file), standing in for smtp and local.
"""

import os
import random
import re
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from conftest import add_program, install_into
from test_master import TESTBIN, Master, alive, wait_for

MESSAGE = "Subject: durability {i}\nFrom: sender@example.com\n\n{body}\n"
QUEUES = ("maildrop", "incoming", "active", "deferred", "hold")
# master.cf: the queue services as conf/master.cf has them (no inet ones).
QUEUE_SERVICES = [
    "pickup unix n - y 60 1 pickup",
    "cleanup unix n - y - 0 cleanup",
    "qmgr unix n - n 300 1 qmgr",
    "bounce unix - - y - 0 bounce",
    "showq unix n - y - - showq",
]


def queue_names(inst):
    """Queue files in the queues, without the ID.tmp files a killed
    writer leaves (no scan sees them; postsuper -p removes them)."""
    found = []
    for q in QUEUES:
        for d, _, files in os.walk(inst.queue_dir / q):
            found += [os.path.join(d, f) for f in files
                      if not f.endswith(".tmp")]
    return found


def queue_files(inst):
    return len(queue_names(inst))


def delivered(path):
    """Counter of recipients in the test agent's file."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return Counter()
    return Counter(m.group(1) for m in
                   re.finditer(r"^\S+ (\S+)$", text, re.M))


def setup_instance(root, deliveries, **params):
    inst = install_into(root)
    args = inst.args
    assert Path(args["sendmail_path"]).is_file(), "no sendmail"
    assert inst.command("postdrop").is_file(), "no postdrop"
    for prog in ("cleanup", "pickup", "qmgr"):
        if not (inst.daemon_dir / prog).is_file():
            pytest.fail(f"the install has no {prog} daemon")
    add_program(TESTBIN / "testagent", inst.daemon_dir / "testagent")
    m = Master(inst, inst.main_cf.read_text())
    services = QUEUE_SERVICES + [
        f"test unix - - n - - testagent {deliveries}"]
    settings = dict(mydestination="", default_transport="test",
                    local_transport="test", relay_transport="test",
                    myhostname="durable.example",
                    minimal_backoff_time="1s", maximal_backoff_time="2s",
                    queue_run_delay="1s", ipc_timeout="20s")
    settings.update(params)
    m.configure(services, **settings)
    return inst, m


def sendmail(inst, i, size=0, timeout=60):
    body = ("x" * 70 + "\n") * max(1, size // 71) if size else f"body {i}"
    return subprocess.run([str(inst.args["sendmail_path"]), "-C",
                           str(inst.config_dir), "-f", "sender@example.com",
                           f"rcpt{i}@dest.example"],
                          input=MESSAGE.format(i=i, body=body), text=True,
                          capture_output=True, timeout=timeout)


def daemon_pids(m, name):
    """PIDs of the instance's processes running daemon NAME."""
    exe = str(m.inst.daemon_dir / name)
    found = []
    for pid in m.instance_processes():
        try:
            if os.readlink(f"/proc/{pid}/exe") == exe:
                found.append(pid)
        except OSError:
            pass
    return found


def deliveries_file(tmp_path):
    """A file the test agent (running as mail_owner) can create."""
    out = tmp_path / "out"
    out.mkdir()
    os.chmod(out, 0o1777)
    return out / "deliveries"


@pytest.fixture
def durable(tmp_path):
    deliveries = deliveries_file(tmp_path)
    inst, m = setup_instance(tmp_path / "inst", deliveries)
    yield inst, m, deliveries
    reports = m.cleanup()
    assert not reports, f"sanitizer reports:\n{reports}"


def restart_master(m):
    """After master was killed: wait until its children are gone (they
    notice and exit), then start it again."""
    gone = wait_for(lambda: not m.instance_processes(), 30)
    assert gone, f"processes left after master died: " \
        f"{m.instance_processes()}"
    if m.stderr is not None:
        m.stderr.close()
    before = m.log_count("daemon started")
    m.stderr = open(m.stderr_path, "a")
    m.fg = subprocess.Popen([str(m.program), "-c", str(m.inst.config_dir),
                             "-d"], stdin=subprocess.DEVNULL,
                            stdout=m.stderr, stderr=m.stderr,
                            start_new_session=True)
    assert wait_for(lambda: m.fg.poll() is not None
                    or m.log_count("daemon started") > before, 30), \
        "master did not start again"
    assert m.fg.poll() is None, m.stderr_path.read_text()
    assert wait_for(lambda: m.pid() == m.fg.pid, 10)


def test_kill9_during_a_500_message_run(durable):
    inst, m, deliveries = durable
    m.start()
    total = 500
    rng = random.Random(20261203)
    accepted = set()
    failed = []
    lock = threading.Lock()
    counter = iter(range(total))
    stop = threading.Event()

    def submitter():
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            res = sendmail(inst, i)
            with lock:
                if res.returncode == 0:
                    accepted.add(f"rcpt{i}@dest.example")
                else:
                    failed.append((i, res.returncode, res.stderr))

    kills = Counter()

    def killer():
        while not stop.wait(rng.uniform(0.2, 0.8)):
            # Not pickup: a pickup killed between cleanup's OK and the
            # removal of its maildrop file sends that file again (as
            # Postfix's does); the issue asks for cleanup, qmgr, master.
            victim = rng.choice(["cleanup", "cleanup", "qmgr", "qmgr",
                                 "master"])
            if victim == "master":
                if m.fg is None or m.fg.poll() is not None:
                    continue
                os.kill(m.fg.pid, signal.SIGKILL)
                m.fg.wait(timeout=10)
                kills["master"] += 1
                restart_master(m)
                continue
            for pid in daemon_pids(m, victim):
                try:
                    os.kill(pid, signal.SIGKILL)
                    kills[victim] += 1
                except ProcessLookupError:
                    pass

    threads = [threading.Thread(target=submitter) for _ in range(4)]
    k = threading.Thread(target=killer)
    k.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    k.join()
    assert sum(kills.values()) >= 3, f"too few kills: {kills}"
    # postdrop needs no daemon: every submission must have been accepted.
    assert not failed, f"sendmail failed: {failed[:3]}"
    if m.fg is None or m.fg.poll() is not None:
        restart_master(m)
    flush = subprocess.run([str(inst.command("postern")), "-c",
                            str(inst.config_dir), "flush"],
                           capture_output=True, text=True, timeout=60)
    assert flush.returncode == 0, flush.stderr

    def all_done():
        got = delivered(deliveries)
        return set(got) >= accepted and queue_files(inst) == 0

    assert wait_for(all_done, 240, 0.5), \
        (f"kills {kills}; delivered {len(delivered(deliveries))} of "
         f"{len(accepted)}; left in the queue: {queue_names(inst)}")
    got = delivered(deliveries)
    twice = {r: n for r, n in got.items() if n != 1}
    assert not twice, f"delivered more than once: {list(twice.items())[:5]}"
    assert set(got) == accepted
    assert not any((inst.queue_dir / "corrupt").iterdir()), \
        "a file went to corrupt/"
    assert "panic" not in m.log_text()


@pytest.fixture
def small_queue(tmp_path):
    root = tmp_path / "inst"
    spool = root / "spool"
    spool.mkdir(parents=True)
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m,mode=0755",
                          "tmpfs", str(spool)], capture_output=True,
                         text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    m = None
    try:
        deliveries = deliveries_file(tmp_path)
        inst, m = setup_instance(root, deliveries)
        yield inst, m, deliveries
    finally:
        reports = m.cleanup() if m else ""
        subprocess.run(["umount", "-l", str(spool)], capture_output=True)
    assert not reports, f"sanitizer reports:\n{reports}"


def test_full_disk_is_a_temporary_error(small_queue):
    inst, m, deliveries = small_queue
    # No qmgr: nothing leaves the queue until the disk has filled.
    services = [line for line in inst.master_cf.read_text().splitlines()
                if not line.startswith("qmgr")]
    m.write_master_cf(services)
    m.start()
    accepted = set()
    tempfail = None
    for i in range(40):
        res = sendmail(inst, i, size=200_000)
        if res.returncode == 0:
            accepted.add(f"rcpt{i}@dest.example")
            continue
        tempfail = res
        break
    assert tempfail is not None, "the 3 MB queue never filled up"
    assert tempfail.returncode == 75, \
        f"exit {tempfail.returncode}: {tempfail.stderr}"
    assert re.search(r"space|storage", tempfail.stderr, re.I), \
        tempfail.stderr
    assert accepted, "nothing was accepted before the disk filled"
    # No partial file is visible: only complete files (no ID.tmp left).
    leftovers = [p for p in inst.queue_dir.rglob("*.tmp")]
    assert not leftovers, leftovers
    # Space comes back as the queue drains: start qmgr.
    m.write_master_cf(services + ["qmgr unix n - n 300 1 qmgr"])
    m.reload()
    subprocess.run([str(inst.command("postern")), "-c",
                    str(inst.config_dir), "flush"], capture_output=True,
                   timeout=60)
    assert wait_for(lambda: set(delivered(deliveries)) >= accepted
                    and queue_files(inst) == 0, 120, 0.5), \
        (f"delivered {len(delivered(deliveries))} of {len(accepted)}; "
         f"queue files {queue_files(inst)}\n{m.log_text()[-3000:]}")
    got = delivered(deliveries)
    assert all(n == 1 for n in got.values()), got
    # The one sendmail refused can be sent again now.
    assert sendmail(inst, 99).returncode == 0


def test_corrupt_file_goes_to_corrupt_and_the_rest_flows(durable):
    inst, m, deliveries = durable
    m.start()
    qinject = TESTBIN / "qinject"
    good = []
    for i in range(3):
        res = subprocess.run([str(qinject), str(inst.queue_dir),
                              f"good{i}@dest.example"], input="Subject: x\n\n"
                             "body\n", capture_output=True, text=True,
                             timeout=30)
        assert res.returncode == 0, res.stderr
        good.append(res.stdout.strip())
        os.chown(inst.queue_dir / "incoming" / good[-1], inst.uid, -1)
    bad_id = good[0][:-1] + ("A" if good[0][-1] != "A" else "B")
    bad = inst.queue_dir / "incoming" / bad_id
    bad.write_bytes(b"V\x09postern 1Zgarbage that is not a record file")
    os.chown(bad, inst.uid, -1)
    subprocess.run([str(inst.command("postern")), "-c",
                    str(inst.config_dir), "flush"], capture_output=True,
                   timeout=60)
    assert wait_for(lambda: {f"good{i}@dest.example" for i in range(3)}
                    <= set(delivered(deliveries)), 60, 0.2), m.log_text()
    assert wait_for(lambda: (inst.queue_dir / "corrupt" / bad_id).exists(),
                    30), m.log_text()
    assert re.search(rf"{bad_id}: .*corrupt", m.log_text())
