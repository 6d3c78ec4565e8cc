"""conf/postern-install: a fresh install, re-installs, owners and modes,
arguments, and the questions asked on a terminal (DESIGN.md section 7)."""

import os
import pty
import re
import select
import stat
import subprocess
import time
from pathlib import Path

import pytest

from conftest import (BUILD_DIR, INSTALL_SCRIPT, REPO, install_env,
                      layout_args, run_install)

# What install writes into main.cf (config_directory is where main.cf is).
MAINCF_VARS = ["data_directory", "daemon_directory", "command_directory",
               "queue_directory", "sendmail_path", "newaliases_path",
               "mailq_path", "mail_owner", "setgid_group", "html_directory",
               "manpage_directory", "readme_directory", "meta_directory"]

# The order of the questions (DESIGN.md section 7).
QUESTIONS = ["install_root", "tempdir", "config_directory", "data_directory",
             "daemon_directory", "command_directory", "queue_directory",
             "sendmail_path", "newaliases_path", "mailq_path", "mail_owner",
             "setgid_group", "html_directory", "manpage_directory",
             "readme_directory"]


def settings(path):
    """name -> value of the active "name = value" lines of a main.cf
    (continuation lines joined), without postconf."""
    out = {}
    name = None
    for line in Path(path).read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0].isspace() and name:
            out[name] += " " + line.strip()
            continue
        name, _, value = line.partition("=")
        name = name.strip()
        out[name] = value.strip()
    return out


def mode_of(path):
    st = os.lstat(path)
    return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid


# ---- a fresh install ------------------------------------------------------


def test_fresh_install_has_config_files(instance):
    for path in (instance.main_cf, instance.master_cf, instance.aliases):
        assert path.is_file(), path
        assert mode_of(path) == (0o644, 0, 0), path
    # The installed files are the defaults; main.cf has the answers appended.
    template = (REPO / "conf" / "main.cf").read_text()
    assert instance.main_cf.read_text().startswith(template)
    assert instance.master_cf.read_text() == \
        (REPO / "conf" / "master.cf").read_text()
    assert re.search(r"^postern:\s+root$", instance.aliases.read_text(), re.M)


def test_fresh_install_writes_answers_to_main_cf(instance):
    got = settings(instance.main_cf)
    for name in MAINCF_VARS:
        assert got.get(name) == instance.answers[name], name
    assert got["mail_owner"] == "postern"
    assert got["setgid_group"] == "posterndrop"
    # config_directory is where main.cf is; it is not written into it.
    assert "config_directory" not in got


def test_fresh_install_has_programs_and_docs(instance):
    built = sorted(p.name for p in (BUILD_DIR / "bin").iterdir())
    assert "postconf" in built
    postconf = instance.command("postconf")
    assert mode_of(postconf) == (0o755, 0, 0)
    # The installed programs have the install answers compiled in, and the
    # build folder keeps the Makefile's defaults.
    got = instance.run([str(postconf), "-d", "-h", "config_directory"])
    assert got.stdout.strip() == str(instance.config_dir)
    got = subprocess.run([str(BUILD_DIR / "bin" / "postconf"), "-d", "-h",
                          "config_directory"], capture_output=True, text=True)
    assert got.stdout.strip() != str(instance.config_dir)
    # Every program is installed: commands with the commands, the rest
    # with the daemons.
    commands = {"postconf", "postmap", "postalias", "postqueue", "postsuper",
                "postauth", "postern", "postdrop", "postcat", "postlog",
                "postkick"}
    for name in built:
        if name == "sendmail":
            where = Path(instance.args["sendmail_path"])
        elif name in commands:
            where = instance.command(name)
        else:
            where = instance.daemon_dir / name
        assert where.is_file(), name
    if "postalias" in built:
        # The aliases table is built for local delivery.
        assert (instance.config_dir / "aliases.db").is_file()
    for page in (REPO / "man").glob("man?/*.?"):
        section = page.suffix[1:]
        installed = instance.manpage_dir / f"man{section}" / page.name
        assert installed.read_bytes() == page.read_bytes()
    for doc in ("README.md", "INSTALL"):
        if (REPO / doc).exists():
            assert (Path(instance.args["readme_directory"]) / doc).is_file()


QUEUE_TREE = [
    # (folder, owner, group or None for "not checked", mode)
    ("", "root", "root", 0o755),
    ("pid", "root", "root", 0o755),
    ("maildrop", "postern", "posterndrop", 0o1730),
    ("public", "postern", "posterndrop", 0o710),
    ("private", "postern", None, 0o700),
    ("incoming", "postern", None, 0o700),
    ("active", "postern", None, 0o700),
    ("deferred", "postern", None, 0o700),
    ("hold", "postern", None, 0o700),
    ("corrupt", "postern", None, 0o700),
    ("bounce", "postern", None, 0o700),
    ("defer", "postern", None, 0o700),
    ("trace", "postern", None, 0o700),
]


def check_tree(inst):
    import grp
    import pwd
    for sub, owner, group, mode in QUEUE_TREE:
        path = inst.queue_dir / sub
        assert path.is_dir(), path
        got_mode, uid, gid = mode_of(path)
        assert (sub, got_mode) == (sub, mode), oct(got_mode)
        assert (sub, pwd.getpwuid(uid).pw_name) == (sub, owner)
        if group:
            assert (sub, grp.getgrgid(gid).gr_name) == (sub, group)
    got_mode, uid, _ = mode_of(inst.data_dir)
    assert got_mode == 0o700
    assert uid == inst.uid


def test_queue_tree_owners_and_modes(instance):
    check_tree(instance)


def test_accounts_are_system_accounts_without_login(instance):
    import grp
    import pwd
    pw = pwd.getpwnam("postern")
    assert 0 < pw.pw_uid < 1000
    assert pw.pw_shell in ("/usr/sbin/nologin", "/bin/false")
    assert pw.pw_dir == "/nonexistent"
    gr = grp.getgrnam("posterndrop")
    assert 0 < gr.gr_gid < 1000
    assert gr.gr_gid != pw.pw_gid  # mail_owner's own group is not the setgid group


def test_sendmail_links(instance):
    if not (BUILD_DIR / "bin" / "sendmail").exists():
        pytest.skip("no sendmail in this build yet")
    sendmail = instance.args["sendmail_path"]
    assert Path(sendmail).is_file()
    for name in ("mailq_path", "newaliases_path"):
        link = Path(instance.args[name])
        assert link.is_symlink() and os.readlink(link) == sendmail


def test_setgid_commands(instance):
    for name in ("postdrop", "postqueue"):
        if not (BUILD_DIR / "bin" / name).exists():
            continue
        mode, uid, gid = mode_of(instance.command(name))
        assert (name, mode, uid, gid) == (name, 0o2755, 0, instance.gid)


# ---- re-installing ----------------------------------------------------------


def test_reinstall_keeps_edited_config(instance):
    main = instance.main_cf.read_text()
    # An administrator's edits: a comment, a setting, a removed answer.
    main = main.replace("# LOGGING\n", "# LOGGING (edited)\n")
    main += "myhostname = mx.example.com\n"
    data_line = f"data_directory = {instance.args['data_directory']}\n"
    assert data_line in main
    main = main.replace(data_line, "")
    instance.main_cf.write_text(main)
    master = instance.master_cf.read_text() + \
        "2525 inet n - n - - smtpd\n  -o smtpd_banner=edited\n"
    instance.master_cf.write_text(master)
    aliases = instance.aliases.read_text() + "root: admin@example.com\n"
    instance.aliases.write_text(aliases)

    proc = instance.reinstall()
    assert "added data_directory" in proc.stdout

    # main.cf: the same bytes, plus the missing answer at the end.
    assert instance.main_cf.read_text() == main + data_line
    assert instance.master_cf.read_text() == master
    assert instance.aliases.read_text() == aliases
    check_tree(instance)


def test_reinstall_without_changes_changes_nothing(instance):
    before = {p: p.read_bytes() for p in
              (instance.main_cf, instance.master_cf, instance.aliases)}
    inode = instance.main_cf.stat().st_ino
    instance.reinstall()
    for path, data in before.items():
        assert path.read_bytes() == data, path
    # Not even rewritten with the same content.
    assert instance.main_cf.stat().st_ino == inode


def test_reinstall_repairs_modes(instance):
    (instance.queue_dir / "maildrop").chmod(0o777)
    os.chown(instance.queue_dir / "incoming", 0, 0)
    (instance.data_dir).chmod(0o755)
    instance.reinstall()
    check_tree(instance)


def test_argument_changes_an_existing_answer(instance, tmp_path):
    new_queue = str(tmp_path / "inst" / "spool2")
    proc = instance.reinstall({"queue_directory": new_queue})
    assert "changed in" in proc.stdout and "queue_directory" in proc.stdout
    assert settings(instance.main_cf)["queue_directory"] == new_queue
    assert Path(new_queue, "maildrop").is_dir()


def test_staged_reinstall_takes_defaults_from_main_cf(tmp_path):
    """With install_root, every path lands under it; a second install with
    no answers takes them from the installed main.cf."""
    stage = tmp_path / "stage"
    stage.mkdir()
    first = {"install_root": str(stage), "config_directory": "/etc/pstage",
             "queue_directory": "/srv/pstage/queue",
             "data_directory": "/srv/pstage/data",
             "html_directory": "no", "readme_directory": "no"}
    run_install(first)
    main_cf = stage / "etc/pstage/main.cf"
    before = main_cf.read_bytes()
    got = settings(main_cf)
    assert got["queue_directory"] == "/srv/pstage/queue"
    # Not given: meta_directory follows config_directory.
    assert got["meta_directory"] == "/etc/pstage"
    assert (stage / "srv/pstage/queue/maildrop").is_dir()

    run_install({"install_root": str(stage), "config_directory": "/etc/pstage"})
    assert main_cf.read_bytes() == before
    # Nothing went to the compiled-in default queue under the stage.
    assert not (stage / "var/spool/postern").exists()
    # Staged: no owners are set, nothing is setgid.
    for path in stage.rglob("*"):
        st = path.lstat()
        assert st.st_uid == os.geteuid(), path
        assert not (st.st_mode & stat.S_ISGID and path.is_file()), path


def test_no_terminal_asks_nothing(tmp_path):
    env = install_env()
    del env["NONINTERACTIVE"]
    args = layout_args(tmp_path)
    proc = run_install(args, env=env)
    assert "[" not in proc.stdout + proc.stderr
    assert (tmp_path / "etc" / "main.cf").is_file()


# ---- bad arguments ------------------------------------------------------------


@pytest.mark.parametrize("bad, message", [
    (["nosuch_thing=1"], "unknown install variable \"nosuch_thing\""),
    (["queue_directory=spool"], "queue_directory: \"spool\" is not an absolute path"),
    (["mail_owner=root"], "mail_owner: must not be root"),
    (["html_directory=maybe"], "html_directory: \"maybe\" is neither an absolute path nor \"no\""),
    (["config_directory"], "bad argument \"config_directory\": expected name=value"),
    (["mail_owner=pmail", "setgid_group=pmail"], "mail_owner and setgid_group must differ"),
])
def test_bad_arguments(tmp_path, bad, message):
    args = [f"{k}={v}" for k, v in layout_args(tmp_path).items()] + bad
    proc = run_install(args, check=False)
    assert proc.returncode != 0
    assert "postern-install: error: " + message in proc.stderr
    assert not (tmp_path / "etc").exists()


def test_system_directory_refused(tmp_path):
    args = layout_args(tmp_path)
    args["data_directory"] = "/var/tmp"
    proc = run_install(args, check=False)
    assert proc.returncode != 0
    assert "refusing to use the system directory /var/tmp" in proc.stderr
    assert stat.S_IMODE(os.stat("/var/tmp").st_mode) == 0o1777


# ---- questions on a terminal --------------------------------------------------


class Terminal:
    """The install script on a pseudo-terminal."""

    PROMPT = re.compile(r"(\w+) \[([^\]\r\n]*)\]: $")

    def __init__(self, args, env):
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            ["bash", str(INSTALL_SCRIPT), *args], cwd=REPO, env=env,
            stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)
        self.out = ""

    def read_until(self, pattern, timeout=300):
        """Read until PATTERN matches the output since the last answer."""
        deadline = time.monotonic() + timeout
        while True:
            m = pattern.search(self.out)
            if m:
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {pattern.pattern!r}; "
                                     f"got {self.out!r}")
            ready, _, _ = select.select([self.master], [], [], left)
            if not ready:
                continue
            try:
                data = os.read(self.master, 4096)
            except OSError:  # EIO: the script ended
                data = b""
            if not data:
                raise AssertionError(f"the script ended waiting for "
                                     f"{pattern.pattern!r}; got {self.out!r}")
            self.out += data.decode(errors="replace")

    def prompt(self):
        m = self.read_until(self.PROMPT)
        before = self.out[:m.start()]
        self.out = ""
        return m.group(1), m.group(2), before

    def answer(self, text):
        os.write(self.master, text.encode() + b"\n")

    def finish(self, timeout=300):
        rest = ""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 1)
            if ready:
                try:
                    data = os.read(self.master, 4096)
                except OSError:
                    data = b""
                if not data:
                    break
                rest += data.decode(errors="replace")
        code = self.proc.wait(timeout=30)
        os.close(self.master)
        return code, self.out + rest


def test_questions_on_a_terminal(tmp_path):
    stage = tmp_path / "stage"
    stage.mkdir()
    env = install_env(TMPDIR=str(tmp_path))
    del env["NONINTERACTIVE"]
    # Given as arguments, so not asked.
    given = {"install_root": str(stage), "daemon_directory": "/usr/lib/ptest"}
    term = Terminal([f"{k}={v}" for k, v in given.items()], env)

    answers = {
        "config_directory": "/etc/ptest",
        "queue_directory": "/var/spool/ptest/",  # trailing slash dropped
        "html_directory": "no",
        "readme_directory": "no",
        "command_directory": "/usr/local/sbin",
    }
    expect = [q for q in QUESTIONS if q not in given]
    shown = {}
    for i, name in enumerate(expect):
        got, default, _ = term.prompt()
        assert got == name, f"question {i}: asked {got}, want {name}"
        shown[name] = default
        if name == "data_directory":
            # A wrong answer is explained and asked again; "?" explains too.
            term.answer("relative/path")
            again, again_default, before = term.prompt()
            assert (again, again_default) == (name, default)
            assert "not an absolute path" in before
            term.answer("?")
            again, _, before = term.prompt()
            assert again == name and "data_directory: " in before
        term.answer(answers.get(name, ""))

    code, rest = term.finish()
    assert code == 0, rest
    assert shown["tempdir"] == str(tmp_path)
    assert shown["mail_owner"] == "postern"
    assert shown["setgid_group"] == "posterndrop"

    main_cf = stage / "etc/ptest/main.cf"
    got = settings(main_cf)
    assert got["queue_directory"] == "/var/spool/ptest"
    assert got["daemon_directory"] == "/usr/lib/ptest"
    assert got["command_directory"] == "/usr/local/sbin"
    assert got["html_directory"] == "no"
    # Accepted defaults are written too.
    for name in ("data_directory", "sendmail_path", "mailq_path",
                 "newaliases_path", "manpage_directory", "mail_owner",
                 "setgid_group"):
        assert got[name] == shown[name], name
    assert (stage / "var/spool/ptest/maildrop").is_dir()
    assert (stage / "usr/local/sbin/postconf").is_file()
    # The installed programs' compiled-in defaults match the answers.
    out = subprocess.run([str(stage / "usr/local/sbin/postconf"), "-c",
                          str(main_cf.parent), "-d", "-h", "queue_directory"],
                         capture_output=True, text=True)
    assert out.stdout.strip() == "/var/spool/ptest"


def test_terminal_with_noninteractive_asks_nothing(tmp_path):
    env = install_env(TMPDIR=str(tmp_path))  # NONINTERACTIVE=1
    args = [f"{k}={v}" for k, v in layout_args(tmp_path).items()]
    term = Terminal(args, env)
    code, out = term.finish()
    assert code == 0, out
    assert not Terminal.PROMPT.search(out)
    assert (tmp_path / "etc" / "main.cf").is_file()
