"""The master daemon and the daemon skeleton (issue 4): start, refusal of a
second master, respawn after SIGKILL, throttling of services that fail at
start-up, reload (new services, kept listening sockets, refused bad
configurations), -o overrides per service, the uid, gid and root directory
of children, maxproc, the three service models, wake-ups, stop and abort.

The services are the test-only daemons of tests/daemons (built into
$POSTERN_BUILD/testbin and copied into the instance's daemon_directory):
echod (one client at a time; greets "200 SERVICE BANNER uid=N gid=N root=DIR
pid=N"), multid (many clients per process), triggerd (logs each wake-up)
and failstart (dies at start-up). master is started directly
("master -c DIR -w") and stopped by signal, so these tests do not depend on
the postern command.

One installation serves the whole module (conftest's run_install; the
install links its programs into a stage folder and never changes the build
folder); every test writes its own main.cf additions and master.cf, and
kills every process running a program of the instance when it ends, pass
or fail.
"""

import os
import pwd
import re
import select
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import instance_pids, add_program, BUILD_DIR, REPO, SANITIZE, Instance, install_env, \
    layout_args, run_install

TESTBIN = BUILD_DIR / "testbin"
DAEMONS = ["echod", "multid", "triggerd", "failstart"]


# ---- helpers ------------------------------------------------------------------


def wait_for(cond, timeout=10.0, step=0.05):
    """Poll COND until it returns a true value (returned) or TIMEOUT."""
    end = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > end:
            return got
        time.sleep(step)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is not alive for our purposes.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def proc_ids(pid):
    """(uids, gids, groups) from /proc/PID/status."""
    uids = gids = groups = None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            uids = [int(x) for x in line.split()[1:]]
        elif line.startswith("Gid:"):
            gids = [int(x) for x in line.split()[1:]]
        elif line.startswith("Groups:"):
            groups = [int(x) for x in line.split()[1:]]
    return uids, gids, groups


def listen_inodes(port, host="127.0.0.1"):
    """Inodes of the listening TCP sockets on HOST:PORT (/proc/net/tcp)."""
    want = "%08X:%04X" % (int.from_bytes(socket.inet_aton(host), "little"),
                          port)
    found = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        if f[1] == want and f[3] == "0A":
            found.append(int(f[9]))
    return found


class Client:
    """A line-oriented TCP or UNIX client of a test service."""

    def __init__(self, sock, timeout=10):
        self.sock = sock
        self.sock.settimeout(timeout)
        self.file = sock.makefile("rwb")
        self.greeting = None

    @classmethod
    def tcp(cls, port, timeout=10):
        return cls(socket.create_connection(("127.0.0.1", port),
                                            timeout=timeout), timeout)

    def read(self):
        line = self.file.readline()
        if not line:
            raise EOFError("connection closed")
        return line.decode().rstrip("\r\n")

    def greet(self):
        self.greeting = self.read()
        return self.greeting

    def ready(self, timeout):
        """Does input arrive within TIMEOUT seconds (nothing read yet)?"""
        return bool(select.select([self.sock], [], [], timeout)[0])

    def say(self, text):
        self.file.write(text.encode() + b"\r\n")
        self.file.flush()
        return self.read()

    @property
    def pid(self):
        return int(re.search(r"pid=(\d+)", self.greeting).group(1))

    def close(self):
        try:
            self.file.close()
        finally:
            self.sock.close()


def greet(port, timeout=10):
    c = Client.tcp(port, timeout)
    c.greet()
    return c


class Master:
    """Drives the master daemon of one installed instance."""

    def __init__(self, inst, pristine_main_cf):
        self.inst = inst
        self.pristine = pristine_main_cf
        self.log = inst.root / "maillog"
        self.program = inst.daemon_dir / "master"
        self.clients = []
        self.fg = None
        self.stderr = None
        self.stderr_path = inst.root / "stderr"

    # -- configuration --
    def configure(self, services, **params):
        """Write master.cf (SERVICES, a list of lines) and main.cf (the
        installed one plus the test defaults and PARAMS)."""
        settings = {
            "maillog_file": str(self.log),
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "service_throttle_time": "60s",
        }
        settings.update(params)
        text = self.pristine
        if not text.endswith("\n"):
            text += "\n"
        text += "".join(f"{k} = {v}\n" for k, v in settings.items())
        self.inst.main_cf.write_text(text)
        self.write_master_cf(services)

    def write_master_cf(self, services):
        self.inst.master_cf.write_text("".join(s + "\n" for s in services))

    def add_main_cf(self, text):
        with self.inst.main_cf.open("a") as f:
            f.write(text)

    # -- running --
    def run(self, *args, timeout=60):
        return subprocess.run([str(self.program), "-c",
                               str(self.inst.config_dir), *args],
                              stdin=subprocess.DEVNULL,
                              capture_output=True, text=True,
                              timeout=timeout)

    def start(self):
        """Start master in the foreground (-d) as a background process, its
        and its children's stderr going to a file that cleanup() checks for
        sanitizer reports; return its pid once it is initialised."""
        self.stderr = open(self.stderr_path, "a")
        self.fg = subprocess.Popen([str(self.program), "-c",
                                    str(self.inst.config_dir), "-d"],
                                   stdin=subprocess.DEVNULL,
                                   stdout=self.stderr, stderr=self.stderr,
                                   start_new_session=True)
        assert wait_for(lambda: self.fg.poll() is not None
                        or "daemon started" in self.log_text()), \
            "master did not start"
        assert self.fg.poll() is None, self.stderr_path.read_text()
        assert self.pid() == self.fg.pid
        return self.fg.pid

    def start_w(self):
        """Start master with -w, as "postern start" does."""
        res = self.run("-w")
        assert res.returncode == 0, f"master -w: {res.stderr}"
        assert res.stderr == "", res.stderr
        return self.pid()

    def start_fg(self, out):
        self.fg = subprocess.Popen([str(self.program), "-c",
                                    str(self.inst.config_dir), "-d"],
                                   stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT,
                                   start_new_session=True)
        return self.fg

    def pid_file(self):
        return self.inst.queue_dir / "pid" / "master.pid"

    def pid(self):
        return int(self.pid_file().read_text())

    def running(self):
        return self.run("-t").returncode == 1

    def kill(self, sig):
        os.kill(self.pid(), sig)

    def stop(self, sig=signal.SIGTERM, timeout=15):
        pid = self.pid()
        os.kill(pid, sig)
        assert wait_for(lambda: not alive(pid), timeout), \
            f"master {pid} did not exit after signal {sig}"

    def reload(self, expect="reload -- "):
        before = self.log_text().count(expect)
        self.kill(signal.SIGHUP)
        assert wait_for(lambda: self.log_text().count(expect) > before), \
            f"no '{expect}' after SIGHUP:\n{self.log_text()}"

    # -- observing --
    def log_text(self):
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_count(self, text):
        return self.log_text().count(text)

    def children(self, service=None):
        """PIDs of master's children, optionally only those of SERVICE."""
        mpid = self.pid()
        found = []
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                stat = (d / "stat").read_text()
                cmd = (d / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] == "Z" or int(fields[1]) != mpid:
                continue
            args = [a.decode() for a in cmd if a]
            if service is not None and \
                    (("-S" not in args)
                     or args[args.index("-S") + 1] != service):
                continue
            found.append(int(d.name))
        return sorted(found)

    def instance_processes(self):
        """Every process running a program of this instance."""
        return instance_pids(self.inst.root)

    def cleanup(self):
        """Kill what is left; return the sanitizer reports found."""
        for c in self.clients:
            try:
                c.close()
            except OSError:
                pass
        for pid in self.instance_processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.fg is not None:
            try:
                self.fg.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        wait_for(lambda: not self.instance_processes(), 10)
        if self.stderr is not None:
            self.stderr.close()
        try:
            text = self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(line for line in text.splitlines()
                         if "Sanitizer" in line or "runtime error" in line)

    def client(self, port, timeout=10):
        c = Client.tcp(port, timeout)
        self.clients.append(c)
        return c


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the end-to-end tests install Postern and run as root")
    missing = [str(TESTBIN / n) for n in DAEMONS
               if not (TESTBIN / n).is_file()]
    if missing:
        # "make check" builds the programs, not always the test daemons.
        env = {k: v for k, v in os.environ.items()
               if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
        subprocess.run(["make", "-C", str(REPO), "-s", f"SANITIZE={SANITIZE}",
                        f"BUILD={BUILD_DIR}", *missing], env=env,
                       stdin=subprocess.DEVNULL, timeout=600)
    for name in DAEMONS:
        if not (TESTBIN / name).is_file():
            pytest.fail(f"{TESTBIN / name} is missing: run make first")
    root = tmp_path_factory.mktemp("master")
    args = layout_args(root)
    run_install(args)
    inst = Instance(root, args)
    if not (inst.daemon_dir / "master").is_file():
        pytest.fail("the install has no master daemon")
    for name in DAEMONS:
        add_program(TESTBIN / name, inst.daemon_dir / name)
    return inst, inst.main_cf.read_text()


@pytest.fixture
def master(installed):
    inst, pristine = installed
    m = Master(inst, pristine)
    m.log.unlink(missing_ok=True)
    m.stderr_path.unlink(missing_ok=True)
    yield m
    reports = m.cleanup()
    assert not reports, f"sanitizer reports:\n{reports}"


def echod(port, maxproc="-", unpriv="-", chroot="y", args=""):
    return f"127.0.0.1:{port} inet n {unpriv} {chroot} - {maxproc} echod {args}"


# ---- start, second start, stop ---------------------------------------------------


def test_start_second_start_and_stop(master, ports):
    (port,) = ports(1)
    master.configure([echod(port)])
    assert not master.running()
    pid = master.start_w()
    assert re.fullmatch(r" {0,9}\d{1,10}\n", master.pid_file().read_text())
    assert len(master.pid_file().read_text()) == 11
    assert alive(pid)
    assert master.running()
    assert "daemon started -- version" in master.log_text()
    c = greet(port)
    assert c.greeting.startswith(f"200 127.0.0.1:{port} ")
    assert c.say("hello") == "250 hello"
    assert c.say("QUIT") == "221 bye"
    c.close()

    # A second master is refused before it touches anything.
    res = master.run("-w")
    assert res.returncode == 1, res
    assert "fatal: the Postern mail system is already running" in res.stderr
    assert master.pid() == pid and alive(pid)
    assert greet(port).greeting.startswith("200 ")

    master.stop()
    assert "terminating on signal 15" in master.log_text()
    assert not master.running()
    assert master.run("-t").returncode == 0
    # Idle children went with it and the port is free again.
    assert wait_for(lambda: not master.instance_processes(), 5)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2)


def test_start_failure_is_reported_by_w(master, ports):
    (port,) = ports(1)
    master.configure([echod(port), "broken inet n - n"])
    res = master.run("-w")
    assert res.returncode == 1
    assert "fatal: " in res.stderr and "bad field count" in res.stderr
    assert not master.running()

    # A port that is taken: the bind error reaches stderr.
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind(("127.0.0.1", port))
    blocker.listen(1)
    try:
        master.configure([echod(port)])
        res = master.run("-w")
        assert res.returncode == 1
        assert re.search(r"fatal: service 127\.0\.0\.1:%d/inet: bind "
                         r"127\.0\.0\.1:%d: Address already in use" %
                         (port, port), res.stderr), res.stderr
        assert not master.running()
    finally:
        blocker.close()


def test_start_fg_logs_to_stdout(master, ports, tmp_path):
    (port,) = ports(1)
    master.configure([echod(port),
                      "tick unix n - y 1 1 triggerd"],
                     maillog_file="/dev/stdout")
    out_path = tmp_path / "stdout"
    with out_path.open("w") as out:
        proc = master.start_fg(out)
        assert wait_for(lambda: "trigger tick/unix: W" in out_path.read_text())
        assert proc.poll() is None
        c = greet(port)
        c.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    text = out_path.read_text()
    assert re.search(r"postern/master\[%d\]: daemon started" % proc.pid, text)
    # A chrooted, unprivileged child's lines reach stdout too.
    assert re.search(r"postern/triggerd\[\d+\]: trigger tick/unix: W", text)
    assert "terminating on signal 15" in text


# ---- children: respawn, throttling --------------------------------------------------


def test_killed_service_is_respawned(master, ports):
    (port,) = ports(1)
    master.configure([echod(port)])
    master.start()
    c = master.client(port)
    c.greet()
    victim = c.pid
    os.kill(victim, signal.SIGKILL)
    with pytest.raises((EOFError, OSError)):
        c.say("hello")
    assert wait_for(lambda: f"pid {victim} killed by signal 9"
                    in master.log_text())
    assert re.search(r"warning: process \S+/echod pid %d killed by signal 9"
                     % victim, master.log_text())
    c2 = greet(port)
    assert c2.pid != victim
    assert c2.say("again") == "250 again"
    c2.close()
    assert "throttling" not in master.log_text()


def test_exit_status_is_logged(master, ports):
    (port,) = ports(1)
    master.configure([echod(port)])
    master.start()
    c = master.client(port)
    c.greet()
    pid = c.pid
    c.file.write(b"EXIT 3\r\n")
    c.file.flush()
    assert wait_for(lambda: f"pid {pid} exit status 3" in master.log_text())
    # It had served a client, so this is not a start-up failure.
    assert "throttling" not in master.log_text()
    assert greet(port).say("QUIT") == "221 bye"


def test_failing_services_are_throttled(master, ports):
    fail_port, missing_port = ports(2)
    master.configure([
        f"127.0.0.1:{fail_port} inet n - y - - failstart",
        f"127.0.0.1:{missing_port} inet n - y - - nosuchprogram",
    ], service_throttle_time="60s")
    master.start()
    # A waiting client makes master start the program.
    c1 = master.client(fail_port)
    c2 = master.client(missing_port)
    fail_path = master.inst.daemon_dir / "failstart"
    missing_path = master.inst.daemon_dir / "nosuchprogram"
    assert wait_for(lambda: master.log_count(
        f"{missing_path}: bad command startup -- throttling") == 1)
    assert wait_for(lambda: master.log_count(
        f"{fail_path}: bad command startup -- throttling") == 1)
    time.sleep(3)
    text = master.log_text()
    # One try each, not a fork loop.
    assert len(re.findall(r"process %s pid \d+ exit status 1" % fail_path,
                          text)) == 1, text
    assert len(re.findall(r"process %s pid \d+ exit status 1" % missing_path,
                          text)) == 1, text
    assert text.count("fatal: failing at start-up") == 1
    assert re.search(r"fatal: exec %s: No such file or directory"
                     % missing_path, text)
    assert master.children() == []
    assert alive(master.pid())


def test_throttled_service_is_retried(master, ports):
    (port,) = ports(1)
    master.configure([f"127.0.0.1:{port} inet n - y - - failstart"],
                     service_throttle_time="1s")
    master.start()
    master.client(port)
    time.sleep(4.5)
    tries = master.log_count("bad command startup -- throttling")
    # About one try per second while the client waits; not hundreds.
    assert 2 <= tries <= 7, master.log_text()


# ---- reload -----------------------------------------------------------------------


def test_reload_adds_service_and_keeps_socket(master, ports):
    old_port, new_port = ports(2)
    master.configure([echod(old_port, args="-o smtpd_banner=old")])
    mpid = master.start()
    (inode,) = listen_inodes(old_port)
    busy = master.client(old_port)
    busy.greet()
    idle = greet(old_port)
    idle_pid = idle.pid
    idle.say("QUIT")
    idle.close()
    assert wait_for(lambda: idle_pid in master.children())

    master.write_master_cf([echod(old_port, args="-o smtpd_banner=old"),
                            echod(new_port, args="-o smtpd_banner=new")])
    master.reload()
    assert master.pid() == mpid
    # The new service answers; the old one keeps its listening socket.
    assert " new uid=" in greet(new_port).greeting
    assert listen_inodes(old_port) == [inode]
    c = greet(old_port)
    assert " old uid=" in c.greeting
    assert c.pid not in (busy.pid, idle_pid)
    c.close()
    # The old idle child exits; the busy one finishes its client first.
    assert wait_for(lambda: not alive(idle_pid), 5)
    assert alive(busy.pid)
    assert busy.say("still there") == "250 still there"
    assert busy.say("QUIT") == "221 bye"
    assert wait_for(lambda: not alive(busy.pid), 5)
    assert "warning" not in master.log_text()


def test_reload_removes_and_changes_services(master, ports):
    keep, gone, moved_from, moved_to = ports(4)
    master.configure([echod(keep), echod(gone), echod(moved_from)])
    master.start()
    gone_client = master.client(gone)
    gone_client.greet()
    master.write_master_cf([echod(keep), echod(moved_to)])
    master.reload()
    # A removed service closes its socket at once; its processes stop.
    assert listen_inodes(gone) == []
    assert listen_inodes(moved_from) == []
    assert wait_for(lambda: not alive(gone_client.pid), 5)
    assert greet(moved_to).greeting.startswith("200 ")
    assert greet(keep).greeting.startswith("200 ")
    # The removed port can be bound by someone else right away.
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", gone))
    s.close()


def test_bad_master_cf_at_reload_is_refused(master, ports):
    port, extra = ports(2)
    master.configure([echod(port, args="-o smtpd_banner=first")])
    mpid = master.start()
    (inode,) = listen_inodes(port)
    master.write_master_cf([echod(port, args="-o smtpd_banner=second"),
                            echod(extra),
                            "bogus inet n - n - - echod",
                            "x tcp n - n - - echod"])
    master.reload(expect="reload refused")
    text = master.log_text()
    assert re.search(r"error: file \S+/master\.cf: line 4: ", text), text
    assert "error: reload refused: master.cf has errors" in text
    assert master.pid() == mpid and alive(mpid)
    # The old table stays in force: same socket, old override, no new port.
    assert listen_inodes(port) == [inode]
    assert " first uid=" in greet(port).greeting
    assert listen_inodes(extra) == []


def test_bad_main_cf_at_reload_is_refused(master, ports):
    port, extra = ports(2)
    master.configure([echod(port)])
    mpid = master.start()
    (inode,) = listen_inodes(port)
    busy = master.client(port)
    busy.greet()
    good_main_cf = master.inst.main_cf.read_text()
    master.write_master_cf([echod(port), echod(extra)])
    master.add_main_cf("default_process_limit = lots\n")
    master.reload(expect="reload refused")
    text = master.log_text()
    assert re.search(r"fatal: \S+/main\.cf, line \d+: bad numerical "
                     r"configuration: default_process_limit = lots", text), text
    assert "error: reload refused: " in text
    # Master and its table are as they were; running children go on (new
    # ones would read the broken main.cf themselves).
    assert master.pid() == mpid and alive(mpid)
    assert listen_inodes(port) == [inode]
    assert listen_inodes(extra) == []
    assert busy.say("still here") == "250 still here"
    # Once main.cf is fixed, the same reload goes through.
    master.inst.main_cf.write_text(good_main_cf)
    master.reload()
    assert greet(extra).greeting.startswith("200 ")
    assert listen_inodes(port) == [inode]
    assert greet(port).greeting.startswith("200 ")


# ---- per-service settings ----------------------------------------------------------


def test_overrides_reach_only_their_service(master, ports):
    p1, p2, p3 = ports(3)
    master.configure([
        echod(p1, args="-o smtpd_banner=alpha"),
        echod(p2, args="-o { smtpd_banner = beta gamma }"),
        echod(p3),
    ], myhostname="mx.example.test")
    master.start()
    assert greet(p1).greeting.startswith(f"200 127.0.0.1:{p1} alpha uid=")
    assert greet(p2).greeting.startswith(f"200 127.0.0.1:{p2} beta gamma uid=")
    # Without an override: main.cf's value (the default banner).
    assert greet(p3).greeting.startswith(
        f"200 127.0.0.1:{p3} mx.example.test ESMTP Postern uid=")


def test_children_run_as_the_table_says(master, ports):
    jailed, rooted, unpriv_only = ports(3)
    master.configure([
        echod(jailed, unpriv="y", chroot="y"),
        echod(rooted, unpriv="n", chroot="n"),
        echod(unpriv_only, unpriv="-", chroot="n"),
    ])
    master.start()
    owner = pwd.getpwnam(master.inst.mail_owner)
    queue = str(master.inst.queue_dir)

    c = master.client(jailed)
    c.greet()
    assert f"uid={owner.pw_uid} gid={owner.pw_gid} root={queue} " in c.greeting
    uids, gids, groups = proc_ids(c.pid)
    assert uids == [owner.pw_uid] * 4
    assert gids == [owner.pw_gid] * 4
    assert groups in ([owner.pw_gid], [])
    assert os.readlink(f"/proc/{c.pid}/root") == queue

    c = master.client(rooted)
    c.greet()
    assert "uid=0 gid=0 root=/ " in c.greeting
    uids, gids, _ = proc_ids(c.pid)
    assert uids == [0] * 4 and gids == [0] * 4
    assert os.readlink(f"/proc/{c.pid}/root") == "/"

    c = master.client(unpriv_only)
    c.greet()
    uids, _, _ = proc_ids(c.pid)
    assert uids == [owner.pw_uid] * 4
    assert os.readlink(f"/proc/{c.pid}/root") == "/"

    # The argument vector says what master asked for.
    cmd = Path(f"/proc/{c.pid}/cmdline").read_bytes().decode().split("\0")
    assert cmd[:8] == ["echod", "-S", f"127.0.0.1:{unpriv_only}", "-t",
                       "inet", "-s", "1", "-u"], cmd
    assert "-j" not in cmd


def test_maxproc_is_respected(master, ports):
    limited, unlimited = ports(2)
    master.configure([echod(limited, maxproc="2"),
                      echod(unlimited, maxproc="0")])
    master.start()
    a = master.client(limited)
    b = master.client(limited)
    a.greet()
    b.greet()
    waiting = master.client(limited)
    assert not waiting.ready(1.5)
    assert len(master.children(f"127.0.0.1:{limited}")) == 2
    assert wait_for(lambda: 'has reached its process limit "2"'
                    in master.log_text())
    a.say("QUIT")
    waiting.greet()
    assert waiting.pid == a.pid   # the freed process took it
    assert len(master.children(f"127.0.0.1:{limited}")) <= 2

    # maxproc 0: no limit.
    many = [master.client(unlimited) for _ in range(6)]
    for c in many:
        c.greet()
    assert len({c.pid for c in many}) == 6
    assert len(master.children(f"127.0.0.1:{unlimited}")) == 6


def test_default_process_limit(master, ports):
    (port,) = ports(1)
    master.configure([echod(port, maxproc="-")], default_process_limit="1")
    master.start()
    a = master.client(port)
    a.greet()
    b = master.client(port)
    assert not b.ready(1.5)
    a.close()
    assert b.greet().startswith("200 ")


def test_max_use_and_max_idle(master, ports):
    used, idle = ports(2)
    master.configure([echod(used, maxproc="1", args="-o max_use=2"),
                      echod(idle, args="-o max_idle=1s")])
    master.start()
    pids = []
    for _ in range(3):
        c = greet(used)
        pids.append(c.pid)
        c.say("QUIT")
        c.close()
        wait_for(lambda: len(master.children(f"127.0.0.1:{used}")) <= 1)
    assert pids[0] == pids[1] and pids[2] != pids[0]
    assert wait_for(lambda: not alive(pids[0]), 5)

    c = greet(idle)
    pid = c.pid
    c.say("QUIT")
    c.close()
    assert wait_for(lambda: not alive(pid), 5)
    # Exits for max_use and max_idle are normal: nothing is logged.
    assert "warning" not in master.log_text()


# ---- service types and models --------------------------------------------------------


def test_master_service_disable(master, ports):
    on, off = ports(2)
    master.configure([echod(on), echod(off), "tick unix n - y 1 1 triggerd"],
                     master_service_disable=f"127.0.0.1:{off}/inet, unix")
    master.start()
    assert greet(on).greeting.startswith("200 ")
    assert listen_inodes(off) == []
    with pytest.raises(OSError), socket.socket(socket.AF_UNIX) as s:
        s.connect(str(master.inst.queue_dir / "public" / "tick"))
    time.sleep(1.5)
    assert "trigger tick" not in master.log_text()


def test_bare_port_listens_on_inet_interfaces(master, ports):
    (port,) = ports(1)
    master.configure([f"{port} inet n - y - - echod"],
                     inet_interfaces="127.0.0.1")
    master.start()
    assert len(listen_inodes(port)) == 1
    assert greet(port).greeting.startswith(f"200 {port} ")


def ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback")
def test_ipv6_address_and_port(master, ports):
    (port,) = ports(1, "::1")
    master.configure([f"[::1]:{port} inet n - y - - echod"],
                     inet_protocols="all")
    master.start()
    s = socket.create_connection(("::1", port), timeout=10)
    c = Client(s)
    master.clients.append(c)
    assert c.greet().startswith(f"200 [::1]:{port} ")


def test_unix_and_pass_services(master):
    master.configure([
        "echo unix - n n - - echod",
        "pub unix n n n - - echod",
        "passed pass - n n - - echod",
    ])
    master.start()
    q = master.inst.queue_dir
    for path, name in ((q / "private" / "echo", "echo"),
                       (q / "public" / "pub", "pub")):
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(path))
        c = Client(s)
        assert c.greet().startswith(f"200 {name} ")
        assert c.say("x") == "250 x"
        c.close()
    # pass: the client's descriptor arrives over the socket.
    ours, theirs = socket.socketpair()
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(q / "private" / "passed"))
    socket.send_fds(s, [b"x"], [theirs.fileno()])
    theirs.close()
    s.close()
    c = Client(ours)
    assert c.greet().startswith("200 passed ")
    assert c.say("through") == "250 through"
    c.close()


def test_multi_client_model(master, ports):
    (port,) = ports(1)
    master.configure([f"127.0.0.1:{port} inet n - y - 1 multid"])
    master.start()
    a = master.client(port)
    b = master.client(port)
    ga, gb = a.greet(), b.greet()
    assert ga.endswith(" clients=1") and gb.endswith(" clients=2"), (ga, gb)
    assert a.pid == b.pid
    assert a.say("one") == "250 one"
    assert b.say("two") == "250 two"
    assert a.say("QUIT") == "221 bye"
    assert b.say("three") == "250 three"
    assert len(master.children(f"127.0.0.1:{port}")) == 1


def test_wakeups(master):
    master.configure([
        "tick unix n - y 1 1 triggerd",
        "tock fifo n - y 1 1 triggerd",
        "dgram unix-dgram n - y 1 1 triggerd",
        "lazy unix n - y 1? 1 triggerd",
    ])
    master.start()
    assert wait_for(lambda: all(master.log_count(f"trigger {s}: W") >= 2
                                for s in ("tick/unix", "tock/fifo",
                                          "dgram/unix-dgram")), 10), \
        master.log_text()
    # "1?": no wake-up until the service was used.
    assert master.log_count("trigger lazy/unix") == 0
    assert master.children("lazy") == []
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(master.inst.queue_dir / "public" / "lazy"))
    s.sendall(b"hello")
    s.close()
    assert wait_for(lambda: "trigger lazy/unix: hello" in master.log_text())
    assert wait_for(lambda: master.log_count("trigger lazy/unix: W") >= 1)
    # The chrooted, unprivileged triggerd logs through master's descriptor.
    assert re.search(r"postern/triggerd\[\d+\]: trigger tick/unix: W",
                     master.log_text())


# ---- stop and abort -------------------------------------------------------------------


def test_stop_lets_busy_children_finish(master, ports):
    (port,) = ports(1)
    master.configure([echod(port), "tick unix n - y 1 1 triggerd"])
    mpid = master.start()
    busy = master.client(port)
    busy.greet()
    idle = greet(port)
    idle_pid = idle.pid
    idle.say("QUIT")
    idle.close()
    assert wait_for(lambda: master.children("tick"))
    tick = master.children("tick")[0]
    master.kill(signal.SIGTERM)
    assert wait_for(lambda: not alive(idle_pid) and not alive(tick), 5)
    # The port is free at once, even though the busy child lives on.
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.close()
    assert busy.say("finishing") == "250 finishing"
    assert wait_for(lambda: not alive(mpid), 10)
    assert not master.running()
    assert busy.say("QUIT") == "221 bye"
    assert wait_for(lambda: not alive(busy.pid), 5)


def test_children_exit_when_master_dies(master, ports):
    (port,) = ports(1)
    master.configure([echod(port), "tick unix n - y 1 1 triggerd"])
    mpid = master.start()
    busy = master.client(port)
    busy.greet()
    assert wait_for(lambda: master.children("tick"))
    tick = master.children("tick")[0]
    os.kill(mpid, signal.SIGKILL)
    assert wait_for(lambda: not alive(tick), 5)
    assert busy.say("alone") == "250 alone"
    busy.say("QUIT")
    assert wait_for(lambda: not alive(busy.pid), 5)


def test_abort_stops_children_at_once(master, ports):
    (port,) = ports(1)
    master.configure([echod(port)])
    mpid = master.start()
    busy = master.client(port)
    busy.greet()
    master.kill(signal.SIGQUIT)
    assert wait_for(lambda: not alive(busy.pid) and not alive(mpid), 5)
    assert "terminating on signal 3" in master.log_text()
    assert not master.running()
