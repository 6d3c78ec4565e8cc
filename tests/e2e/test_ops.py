"""Running Postern as a service (issue 10): the systemd unit and the
logrotate rules that conf/postern-install writes with the instance's
paths, log rotation through those rules, and "postern start-fg" as PID 1
of a container (a new PID namespace made with unshare): it delivers mail,
reaps orphans that the kernel hands to it, and stops cleanly on SIGTERM.

One installation serves the module. Its systemd_unit_dir and
logrotate_dir point into the test folder, so nothing is written into the
machine's /lib/systemd/system or /etc/logrotate.d. master.cf holds only
what the tests need (no inet service, so no port is taken): pickup,
cleanup, qmgr, the discard agent as default_transport, and a test service
"orphan" (a Python script) that leaves a grandchild behind when it exits.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import instance_pids, Instance, install_env, layout_args, open_path, run_install
from test_master import alive, wait_for

SERVICES = [
    "pickup unix n - n 60 1 pickup",
    "cleanup unix n - n - 0 cleanup",
    "qmgr unix n - n 300 1 qmgr",
    "bounce unix - - n - 0 bounce",
    "defer unix - - n - 0 bounce",
    "trace unix - - n - 0 bounce",
    "discard unix - - n - - discard",
    "orphan unix - - n - 2 orphan",
]

# A service for the PID-1 test: it takes one client, answers with the pid
# of a grandchild it leaves behind (running as "ops-orphan"), and exits.
# The grandchild outlives its parent, so the kernel re-parents it to the
# namespace's init, the master, which must reap it when it ends.
ORPHAN_PROGRAM = """#!/usr/bin/python3
import os, select, socket
lst = socket.socket(fileno=5)
select.select([lst], [], [], 10)
try:
    conn, _ = lst.accept()
except OSError:
    os._exit(0)
rd, wr = os.pipe()
pid = os.fork()
if pid == 0:
    grandchild = os.fork()
    if grandchild == 0:
        os.close(rd)
        os.write(wr, b"%d" % os.getpid())
        os.close(wr)
        os.execv("/bin/sleep", ["ops-orphan", "1.5"])
    os._exit(0)
os.close(wr)
os.waitpid(pid, 0)
conn.settimeout(10)
conn.sendall(os.read(rd, 32) + b"\\n")
conn.close()
os._exit(0)
"""


def run(argv, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 60)
    if "input" not in kw:
        kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run([str(a) for a in argv], **kw)


class Ops:
    def __init__(self, inst, pristine):
        self.inst = inst
        self.pristine = pristine
        self.units = inst.root / "units"
        self.logrotate = inst.root / "logrotate.d"
        self.logdir = inst.root / "log"
        self.maillog = self.logdir / "maillog"

    def install(self, check=True):
        return run_install(dict(self.inst.args, systemd_unit_dir=self.units,
                                logrotate_dir=self.logrotate),
                           env=install_env(), check=check)

    def configure(self, **params):
        settings = {"maillog_file": str(self.maillog),
                    "default_transport": "discard:dropped by test_ops",
                    "mydestination": "", "service_throttle_time": "1s",
                    "inet_interfaces": "127.0.0.1", "inet_protocols": "ipv4"}
        settings.update(params)
        text = self.pristine if self.pristine.endswith("\n") else self.pristine + "\n"
        text += "".join(f"{k} = {v}\n" for k, v in settings.items())
        self.inst.main_cf.write_text(text)
        self.inst.master_cf.write_text("".join(s + "\n" for s in SERVICES))

    def postern(self, *args, timeout=60):
        return run([self.inst.command("postern"), "-c", self.inst.config_dir,
                    *args], timeout=timeout)

    def sendmail(self, rcpt, subject):
        res = run([self.inst.command("sendmail"), "-f", "ops@example.com",
                   rcpt], input=f"Subject: {subject}\n\nhello\n")
        assert res.returncode == 0, res.stderr

    def processes(self):
        """Every process running a program of this instance."""
        return instance_pids(self.inst.root)

    def kill_all(self):
        for pid in self.processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_for(lambda: not self.processes(), 10)


def delivered(text, subject_rcpt):
    """The queue id of the delivery to SUBJECT_RCPT in log TEXT, or None."""
    m = re.search(r"(\w+): to=<" + re.escape(subject_rcpt) + r">, relay=none, "
                  r"delay=[\d.]+, delays=\S+, dsn=2\.0\.0, status=sent "
                  r"\(dropped by test_ops\)", text)
    return m.group(1) if m else None


def read(path):
    try:
        return Path(path).read_text(errors="replace")
    except FileNotFoundError:
        return ""


def sanitizer_reports(text):
    return [line for line in text.splitlines()
            if "Sanitizer" in line or "runtime error" in line]


@pytest.fixture(scope="module")
def ops(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the end-to-end tests install Postern and run as root")
    root = tmp_path_factory.mktemp("ops")
    open_path(root)
    args = layout_args(root)
    inst = Instance(root, args)
    o = Ops(inst, "")
    o.install()
    o.pristine = inst.main_cf.read_text()
    prog = inst.daemon_dir / "orphan"
    prog.write_text(ORPHAN_PROGRAM)
    os.chmod(prog, 0o755)
    o.logdir.mkdir()
    yield o
    o.kill_all()
    shutil.rmtree(root, ignore_errors=True)


# ---- the systemd unit and the logrotate rules ---------------------------------


def unit_settings(text):
    got = {}
    for line in text.splitlines():
        m = re.match(r"^(\w+)=(.*)$", line)
        if m:
            got.setdefault(m.group(1), m.group(2))
    return got


def test_unit_names_the_instance(ops):
    inst = ops.inst
    generated = (inst.config_dir / "postern.service").read_text()
    # systemd_unit_dir got the same unit.
    assert (ops.units / "postern.service").read_text() == generated
    assert "@" not in generated.replace("man:", "")
    s = unit_settings(generated)
    postern = f"{inst.command('postern')} -c {inst.config_dir}"
    assert s["Type"] == "forking"
    assert s["PIDFile"] == f"{inst.queue_dir}/pid/master.pid"
    assert s["ExecStart"] == f"{postern} start"
    assert s["ExecStop"] == f"{postern} stop"
    assert s["ExecReload"] == f"{postern} reload"
    assert s["ConditionPathExists"] == f"{inst.config_dir}/main.cf"
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    res = run(["systemd-analyze", "verify", ops.units / "postern.service"])
    assert res.returncode == 0, res.stdout + res.stderr
    assert "postern.service" not in res.stdout + res.stderr, res.stderr


def test_unit_pid_file_is_the_one_master_writes(ops):
    """PIDFile= is where the running master's pid is."""
    ops.configure()
    res = ops.postern("start")
    try:
        assert res.returncode == 0, res.stderr
        pidfile = unit_settings((ops.units / "postern.service").read_text())["PIDFile"]
        pid = int(Path(pidfile).read_text())
        assert os.readlink(f"/proc/{pid}/exe") == str(ops.inst.daemon_dir / "master")
    finally:
        assert ops.postern("stop").returncode == 0
        ops.kill_all()


def test_reinstall_writes_logrotate_rules_and_keeps_another_instance_unit(ops, tmp_path):
    """No maillog_file: no rules. With one, a re-install writes them; a
    unit another (existing) instance installed is left alone."""
    assert not (ops.inst.config_dir / "postern.logrotate").exists()
    assert not (ops.logrotate / "postern").exists()
    other = tmp_path / "other-etc"
    other.mkdir()
    (other / "main.cf").write_text("")
    foreign = f"# Instance: config_directory={other}\n[Service]\n"
    (ops.units / "postern.service").write_text(foreign)
    ops.configure()
    res = ops.install()
    try:
        assert (ops.units / "postern.service").read_text() == foreign
        assert f"kept {ops.units}/postern.service" in res.stderr
        rules = (ops.logrotate / "postern").read_text()
        assert rules == (ops.inst.config_dir / "postern.logrotate").read_text()
        assert re.search(r"^" + re.escape(str(ops.maillog)) + r" \{$", rules, re.M)
        postern = f"{ops.inst.command('postern')} -c {ops.inst.config_dir}"
        assert f"{postern} reload" in rules
        assert "@" not in rules
    finally:
        (ops.units / "postern.service").write_text(
            (ops.inst.config_dir / "postern.service").read_text())


def test_logrotate_rotates_and_the_log_goes_on_in_the_new_file(ops, tmp_path):
    if shutil.which("logrotate") is None:
        pytest.skip("logrotate is not installed (make deps installs it)")
    rules = ops.logrotate / "postern"
    if not rules.exists():
        pytest.skip("needs the rules of the re-install test")
    ops.configure()
    ops.maillog.unlink(missing_ok=True)
    res = ops.postern("start")
    assert res.returncode == 0, res.stderr
    try:
        ops.sendmail("before@example.com", "before")
        assert wait_for(lambda: delivered(read(ops.maillog), "before@example.com")), \
            read(ops.maillog)
        res = run(["logrotate", "-f", "-s", tmp_path / "state", rules])
        assert res.returncode == 0, res.stdout + res.stderr
        rotated = ops.logdir / "maillog.1"
        assert delivered(read(rotated), "before@example.com")
        # The postrotate reload made master open a new maillog_file.
        assert wait_for(lambda: "reload -- version" in read(ops.maillog)), \
            read(rotated)[-2000:]
        ops.sendmail("after@example.com", "after")
        assert wait_for(lambda: delivered(read(ops.maillog), "after@example.com"),
                        20), read(ops.maillog) + read(rotated)[-2000:]
        assert "after@example.com" not in read(rotated)
    finally:
        assert ops.postern("stop").returncode == 0
        ops.kill_all()


# ---- postern start-fg as PID 1 -------------------------------------------------


def children(pid):
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def stat_of(pid):
    """(state, ppid) of PID, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1])


def cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
    except OSError:
        return b""


def test_start_fg_as_pid1_reaps_orphans_and_stops_on_sigterm(ops, tmp_path):
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    probe = run(["unshare", "--pid", "--fork", "--mount-proc", "true"])
    if probe.returncode != 0:
        pytest.skip(f"cannot make a PID namespace here: {probe.stderr.strip()}")
    ops.configure(maillog_file="/dev/stdout")
    out_path = tmp_path / "container.out"
    with open(out_path, "w") as out:
        proc = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child",
             str(ops.inst.command("postern")), "-c", str(ops.inst.config_dir),
             "start-fg"], stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        assert wait_for(lambda: proc.poll() is not None
                        or "daemon started" in read(out_path), 30), read(out_path)
        assert proc.poll() is None, read(out_path)
        # The namespace's PID 1, seen from here: unshare's only child,
        # which became the master (postern execs it).
        kids = children(proc.pid)
        assert len(kids) == 1, kids
        init = kids[0]
        assert os.readlink(f"/proc/{init}/exe") == str(ops.inst.daemon_dir / "master")
        ns = Path(f"/proc/{init}/status").read_text()
        assert re.search(r"^NSpid:\s+\d+\s+1$", ns, re.M), ns
        assert re.search(r" postern/master\[1\]: daemon started", read(out_path))

        # Mail goes through.
        ops.sendmail("pid1@example.com", "pid1")
        assert wait_for(lambda: delivered(read(out_path), "pid1@example.com"), 20), \
            read(out_path)

        # Orphans: each client of "orphan" leaves a grandchild behind, which
        # the kernel hands to PID 1; it must be reaped when it ends.
        orphans = []
        for _ in range(3):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(15)
                s.connect(str(ops.inst.queue_dir / "private" / "orphan"))
                assert s.makefile("rb").readline().strip().isdigit()
            found = wait_for(lambda: [p for p in children(init)
                                      if cmdline(p) == b"ops-orphan"
                                      and p not in orphans], 10)
            assert found, f"no orphan re-parented to master {init}"
            orphans += found
        for pid in orphans:
            st = stat_of(pid)
            assert st is None or st[1] == init, (pid, st)
        # Each ends after 1.5 s; a zombie left unreaped stays "Z".
        assert wait_for(lambda: all(stat_of(p) is None for p in orphans), 10), \
            [(p, stat_of(p)) for p in orphans]
        zombies = [p for p in children(init) if (stat_of(p) or ("",))[0] == "Z"]
        assert zombies == [], zombies

        # docker stop: SIGTERM to PID 1; a graceful stop, exit status 0.
        started = time.monotonic()
        os.kill(init, signal.SIGTERM)
        rc = proc.wait(timeout=15)
        assert time.monotonic() - started < 10
        assert rc == 0, read(out_path)
        assert "terminating on signal 15" in read(out_path)
        assert wait_for(lambda: not alive(init), 5)
        assert ops.processes() == []
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        ops.kill_all()
    assert sanitizer_reports(read(out_path)) == []


def test_staged_install_writes_the_unit_only_into_the_stage(ops, tmp_path):
    """With install_root (a package build), the unit in meta_directory
    names the runtime paths, and no system folder gets anything."""
    stage = tmp_path / "stage"
    stage.mkdir()
    units = tmp_path / "units"
    res = run_install({"install_root": str(stage), "config_directory": "/etc/pops",
                       "queue_directory": "/srv/pops/queue",
                       "data_directory": "/srv/pops/data",
                       "command_directory": "/usr/sbin",
                       "html_directory": "no", "readme_directory": "no",
                       "systemd_unit_dir": str(units)})
    assert "systemd_unit_dir is ignored for a staged install" in res.stderr
    assert not units.exists()
    s = unit_settings((stage / "etc/pops/postern.service").read_text())
    assert s["ExecStart"] == "/usr/sbin/postern -c /etc/pops start"
    assert s["PIDFile"] == "/srv/pops/queue/pid/master.pid"
