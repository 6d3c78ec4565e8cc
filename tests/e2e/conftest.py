"""Shared fixtures for Postern's end-to-end tests.

Run from the repository root as ``make check`` does:

    POSTERN_BUILD=build/san /usr/bin/python3 -m pytest -q tests/e2e

Each test that asks for ``instance`` gets a fresh installation in its own
temporary folder: conf/postern-install runs non-interactively with every
path an absolute path under that folder (as DESIGN.md section 8 says), with
the environment "make install" would give it. The default mail_owner and
setgid_group accounts are used; the install script creates them when they
are missing, so the tests run as root (as CI does).
"""

import os
import pwd
import grp
import shlex
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = os.environ.get("POSTERN_BUILD", "build/san")
BUILD_DIR = (REPO / BUILD).resolve()
# Whether POSTERN_BUILD holds a sanitizer build (make check says so; a build
# folder named "san" is one too).
SANITIZE = os.environ.get("POSTERN_SANITIZE",
                          "1" if BUILD_DIR.name == "san" else "")
INSTALL_SCRIPT = REPO / "conf" / "postern-install"

# The folder layout of a test installation, relative to its root.
LAYOUT = {
    "config_directory": "etc",
    "meta_directory": "etc",
    "data_directory": "lib",
    "daemon_directory": "libexec",
    "command_directory": "sbin",
    "queue_directory": "spool",
    "sendmail_path": "sbin/sendmail",
    "newaliases_path": "bin/newaliases",
    "mailq_path": "bin/mailq",
    "manpage_directory": "man",
    "html_directory": "no",
    "readme_directory": "doc",
}


def install_env(**extra):
    """The environment "make install" gives conf/postern-install."""
    env = dict(os.environ)
    # A test must never be asked anything, even from a terminal.
    env.update(BUILD=str(BUILD_DIR), SANITIZE=SANITIZE, MAKE="make",
               VERSION="test", NONINTERACTIVE="1")
    # "make" run by the script must not inherit a parent make's variables.
    for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        env.pop(name, None)
    # A test instance never installs a systemd unit or logrotate rules into
    # the machine's own folders (test_ops.py points them at its own).
    env.setdefault("systemd_unit_dir", "no")
    env.setdefault("logrotate_dir", "no")
    env.update(extra)
    return env


def run_install(args, env=None, check=True, stdin=subprocess.DEVNULL):
    """Run the install script with ARGS (a dict or a list of name=value)."""
    if isinstance(args, dict):
        args = [f"{k}={v}" for k, v in args.items()]
    proc = subprocess.run(["bash", str(INSTALL_SCRIPT), *args], cwd=REPO,
                          env=env or install_env(), stdin=stdin,
                          capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        pytest.fail(f"postern-install {shlex.join(args)} failed "
                    f"(exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc


def layout_args(root):
    """name=value install answers putting everything under ROOT."""
    args = {}
    for name, rel in LAYOUT.items():
        args[name] = rel if rel == "no" else str(Path(root) / rel)
    return args


class Instance:
    """An installed Postern tree and helpers to drive it."""

    def __init__(self, root, args):
        self.root = Path(root)
        self.args = dict(args)
        self.config_dir = Path(args["config_directory"])
        self.queue_dir = Path(args["queue_directory"])
        self.data_dir = Path(args["data_directory"])
        self.daemon_dir = Path(args["daemon_directory"])
        self.command_dir = Path(args["command_directory"])
        self.manpage_dir = Path(args["manpage_directory"])
        self.main_cf = self.config_dir / "main.cf"
        self.master_cf = self.config_dir / "master.cf"
        self.aliases = self.config_dir / "aliases"
        self.mail_owner = args.get("mail_owner", "postern")
        self.setgid_group = args.get("setgid_group", "posterndrop")
        # Every answer the install wrote into main.cf.
        self.answers = dict(args, mail_owner=self.mail_owner,
                            setgid_group=self.setgid_group)
        self.answers.pop("config_directory")

    def command(self, name):
        return self.command_dir / name

    def run(self, argv, **kw):
        """Run ARGV (a list) and return the CompletedProcess (text)."""
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        kw.setdefault("timeout", 60)
        kw.setdefault("stdin", subprocess.DEVNULL)
        return subprocess.run([str(a) for a in argv], **kw)

    def postconf(self, *args, **kw):
        """Run the installed postconf with -c CONFIG_DIR and ARGS."""
        return self.run([self.command("postconf"), "-c", self.config_dir,
                         *args], **kw)

    def reinstall(self, extra=None, check=True, **env):
        """Run the install script again over this tree."""
        args = dict(self.args)
        args.update(extra or {})
        return run_install(args, env=install_env(**env), check=check)

    @property
    def uid(self):
        return pwd.getpwnam(self.mail_owner).pw_uid

    @property
    def gid(self):
        return grp.getgrnam(self.setgid_group).gr_gid


@pytest.fixture(scope="session", autouse=True)
def _need_root_and_build():
    if os.geteuid() != 0:
        pytest.skip("the end-to-end tests install Postern and run as root")
    if not INSTALL_SCRIPT.is_file():
        pytest.fail(f"{INSTALL_SCRIPT} is missing")


def open_path(path):
    """Let every user through the folders above PATH (o+x), as a real
    install under /usr or /var allows: daemons that run as mail_owner
    without chroot (qmgr, delivery agents) open tables, sockets and files
    by their absolute names, and pytest's temporary folders are 0700."""
    for p in [Path(path), *Path(path).parents]:
        if p == Path("/"):
            break
        mode = p.stat().st_mode & 0o7777
        if mode & 0o011 != 0o011:
            os.chmod(p, mode | 0o011)


def instance_pids(root):
    """Every process running a program installed under ROOT."""
    prefix = str(root) + "/"
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            exe = os.readlink(d / "exe")
        except OSError:
            continue
        if exe.startswith(prefix):
            found.append(int(d.name))
    return found


def add_program(src, dest):
    """Put the test program SRC at DEST (mode 0755) by copy and rename,
    so that a copy of an older one still running (a child a stopped
    master left behind) never makes the write fail with "Text file
    busy"."""
    dest = Path(dest)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}")
    shutil.copyfile(src, tmp)
    os.chmod(tmp, 0o755)
    os.replace(tmp, dest)


def install_into(root, **overrides):
    """Install a tree under ROOT (created if missing) and return its
    Instance; OVERRIDES replace the layout's answers."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    open_path(root)
    args = layout_args(root)
    args.update(overrides)
    run_install(args)
    return Instance(root, args)


@pytest.fixture
def make_instance(tmp_path):
    """A factory: make_instance(name="inst", **overrides) installs a tree
    under tmp_path/name and returns its Instance."""

    def make(name="inst", **overrides):
        root = tmp_path / name
        root.mkdir()
        return install_into(root, **overrides)

    return make


@pytest.fixture
def instance(make_instance):
    """A fresh installation in this test's temporary folder."""
    return make_instance()


def free_ports(count=1, host="127.0.0.1"):
    """COUNT distinct TCP ports on HOST that are free right now.

    The sockets stay open until all are chosen so the kernel cannot hand out
    the same port twice; another process may still take one before the test
    binds it, which is rare enough on loopback for tests.
    """
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                              socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port(host="127.0.0.1"):
    """One free TCP port on HOST."""
    return free_ports(1, host)[0]


@pytest.fixture
def ports():
    """The free_ports helper, as a fixture: ports(3) -> [p1, p2, p3]."""
    return free_ports
