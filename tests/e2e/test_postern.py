"""The postern control command (postern(1)): status, start, stop, abort,
reload, flush, check and set-permissions against a fresh installed instance.

Tests that need a running mail system skip while $daemon_directory/master is
not installed (the master daemon is built separately); they pass as soon as
it is. Every command's output goes to files, not pipes: a master that keeps
an inherited descriptor open must not hang a test.
"""

import grp
import os
import pwd
import re
import signal
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import REPO, free_port

TAG = "postern/postern-script: "
NOT_RUNNING = TAG + "the Postern mail system is not running"
CHROOT_FILES = ["resolv.conf", "hosts", "services", "localtime",
                "nsswitch.conf"]


# ---- helpers ------------------------------------------------------------------


class Result:
    def __init__(self, rc, out, err):
        self.returncode = rc
        self.stdout = out
        self.stderr = err

    def __repr__(self):
        return (f"exit {self.returncode}\nstdout:\n{self.stdout}\n"
                f"stderr:\n{self.stderr}")


def postern(inst, *args, env=None, config=True, timeout=60):
    """Run the installed postern with -c CONFIG_DIR (unless config=False)."""
    argv = [str(inst.command("postern"))]
    if config:
        argv += ["-c", str(inst.config_dir)]
    argv += [str(a) for a in args]
    with tempfile.TemporaryFile("w+") as out, \
            tempfile.TemporaryFile("w+") as err:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out,
                              stderr=err, env=env, timeout=timeout)
        out.seek(0)
        err.seek(0)
        return Result(proc.returncode, out.read(), err.read())


def warnings(res):
    return [line for line in res.stderr.splitlines()
            if line.startswith(TAG + "warning: ")]


def errors(res):
    return [line for line in res.stderr.splitlines()
            if line.startswith(TAG + "error: ")]


def add_main_cf(inst, text):
    """Append TEXT to main.cf; return the line number of its first line."""
    old = inst.main_cf.read_text()
    if not old.endswith("\n"):
        old += "\n"
    inst.main_cf.write_text(old + text)
    return old.count("\n") + 1


def write_secret(path, text, mode=0o600):
    path.write_text(text)
    os.chown(path, 0, 0)
    os.chmod(path, mode)


def postmap(inst, path):
    res = inst.run([inst.command("postmap"), "-c", inst.config_dir, path])
    assert res.returncode == 0, res.stderr


def master_pid_file(inst):
    return inst.queue_dir / "pid" / "master.pid"


def need_master(inst):
    master = inst.daemon_dir / "master"
    if not os.access(master, os.X_OK):
        pytest.skip(f"needs the master daemon: {master} is not installed "
                    "(master/master.c is not built yet)")


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def inst(instance):
    """An installed instance whose master.cf listens on loopback only, on a
    free port instead of port 25; stopped at the end of the test."""
    port = free_port()
    text = instance.master_cf.read_text()
    text = re.sub(r"^smtp(\s+)inet ", f"127.0.0.1:{port}\\1inet ", text,
                  flags=re.M)
    instance.master_cf.write_text(text)
    instance.smtp_port = port
    yield instance
    if postern(instance, "status").returncode == 0:
        postern(instance, "abort")
    try:
        pid = int(master_pid_file(instance).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    if pid > 1 and pid != os.getpid() and alive(pid) and \
            postern(instance, "status").returncode == 0:
        os.kill(pid, signal.SIGKILL)


def started(inst):
    need_master(inst)
    res = postern(inst, "start")
    assert res.returncode == 0, res
    assert TAG + "starting the Postern mail system" in res.stderr
    return res


def running_pid(inst):
    res = postern(inst, "status")
    assert res.returncode == 0, res
    m = re.search(r"the Postern mail system is running: PID: (\d+)$",
                  res.stderr, re.M)
    assert m, res
    return int(m.group(1))


# ---- status, start, stop, reload, abort, flush -------------------------------


def test_status_when_stopped(inst):
    res = postern(inst, "status")
    assert res.returncode == 1, res
    assert res.stderr.strip() == NOT_RUNNING


def test_status_ignores_a_stale_pid_file(inst):
    """A pid file nobody holds a lock on is left over from a crash."""
    master_pid_file(inst).write_text("%10d\n" % os.getpid())
    res = postern(inst, "status")
    assert res.returncode == 1, res
    assert res.stderr.strip() == NOT_RUNNING
    res = postern(inst, "stop")
    assert res.returncode == 1, res
    master_pid_file(inst).unlink()


def test_stop_when_not_running(inst):
    res = postern(inst, "stop")
    assert res.returncode == 1, res
    assert res.stderr.strip() == TAG + \
        "fatal: the Postern mail system is not running"


@pytest.mark.parametrize("command", ["abort", "reload", "flush"])
def test_other_commands_when_not_running(inst, command):
    res = postern(inst, command)
    assert res.returncode == 1, res
    assert TAG + "fatal: the Postern mail system is not running" in res.stderr


def test_mail_config_chooses_the_instance(inst):
    env = dict(os.environ, MAIL_CONFIG=str(inst.config_dir))
    res = postern(inst, "status", env=env, config=False)
    assert res.returncode == 1, res
    assert res.stderr.strip() == NOT_RUNNING


def test_unknown_command_and_usage(inst):
    res = postern(inst, "bogus")
    assert res.returncode == 1
    assert TAG + 'fatal: unknown command: "bogus"' in res.stderr
    res = postern(inst)
    assert res.returncode == 1
    assert "usage: postern [-c config_dir] [-v] command" in res.stderr


def test_start_status_stop(inst):
    started(inst)
    pid = running_pid(inst)
    assert pid == int(master_pid_file(inst).read_text())
    assert re.fullmatch(r" *\d+\n", master_pid_file(inst).read_text())
    assert alive(pid)

    res = postern(inst, "start")
    assert res.returncode == 1, res
    assert TAG + "fatal: the Postern mail system is already running" \
        in res.stderr
    assert running_pid(inst) == pid

    res = postern(inst, "stop")
    assert res.returncode == 0, res
    assert TAG + "stopping the Postern mail system" in res.stderr
    res = postern(inst, "status")
    assert res.returncode == 1, res
    assert res.stderr.strip() == NOT_RUNNING
    for _ in range(50):
        if not alive(pid):
            break
        time.sleep(0.1)
    assert not alive(pid)

    res = postern(inst, "stop")
    assert res.returncode == 1, res
    assert "fatal: the Postern mail system is not running" in res.stderr


def test_reload_keeps_the_master(inst):
    started(inst)
    pid = running_pid(inst)
    res = postern(inst, "reload")
    assert res.returncode == 0, res
    assert TAG + "refreshing the Postern mail system" in res.stderr
    time.sleep(1)
    assert running_pid(inst) == pid
    assert alive(pid)


def test_abort(inst):
    started(inst)
    pid = running_pid(inst)
    res = postern(inst, "abort")
    assert res.returncode == 0, res
    assert TAG + "aborting the Postern mail system" in res.stderr
    assert postern(inst, "status").returncode == 1
    for _ in range(50):
        if not alive(pid):
            break
        time.sleep(0.1)
    assert not alive(pid)


def test_start_fg_runs_master_in_the_foreground(inst, tmp_path):
    """start-fg for containers: postern becomes the master, and with
    maillog_file = /dev/stdout the log is on the standard output."""
    need_master(inst)
    add_main_cf(inst, "maillog_file = /dev/stdout\n")
    with open(tmp_path / "fg.out", "w") as out, \
            open(tmp_path / "fg.err", "w") as err:
        proc = subprocess.Popen(
            [str(inst.command("postern")), "-c", str(inst.config_dir),
             "start-fg"], stdin=subprocess.DEVNULL, stdout=out, stderr=err)
    try:
        for _ in range(100):
            if postern(inst, "status").returncode == 0:
                break
            assert proc.poll() is None, (tmp_path / "fg.err").read_text()
            time.sleep(0.1)
        # postern became the master: same process.
        assert running_pid(inst) == proc.pid
        res = postern(inst, "stop")
        assert res.returncode == 0, res
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert TAG + "starting the Postern mail system" in \
        (tmp_path / "fg.err").read_text()
    log = (tmp_path / "fg.out").read_text()
    assert re.search(r"^\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ "
                     r"postern/postern-script\[%d\]: starting the Postern "
                     r"mail system$" % proc.pid, log, re.M), log
    assert re.search(r" postern/master\[%d\]: " % proc.pid, log), log


def test_start_reports_a_master_that_fails(inst):
    import socket
    need_master(inst)
    busy = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        text = re.sub(r"^127\.0\.0\.1:\d+(\s+)inet ",
                      f"127.0.0.1:{port}\\1inet ",
                      inst.master_cf.read_text(), flags=re.M)
        inst.master_cf.write_text(text)
        res = postern(inst, "start")
    finally:
        busy.close()
    assert res.returncode == 1, res
    assert TAG + "fatal: mail system startup failed" in res.stderr
    assert postern(inst, "status").returncode == 1


def test_start_copies_files_for_chrooted_daemons(inst):
    started(inst)
    copied = 0
    for name in CHROOT_FILES:
        host = Path("/etc") / name
        if not host.is_file():
            continue
        copy = inst.queue_dir / "etc" / name
        assert copy.is_file(), copy
        assert copy.read_bytes() == host.read_bytes(), copy
        st = copy.lstat()
        assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o644, 0), copy
        copied += 1
    assert copied > 0, "no host file to copy"


def test_start_refuses_a_broken_configuration(inst):
    need_master(inst)
    with inst.master_cf.open("a") as f:
        f.write("broken inet n - n - - \n")
    res = postern(inst, "start")
    assert res.returncode == 1, res
    assert TAG + "error: " in res.stderr
    assert TAG + "fatal: Postern integrity check failed!" in res.stderr
    assert postern(inst, "status").returncode == 1


def test_flush_without_qmgr(inst):
    started(inst)
    qmgr = inst.daemon_dir / "qmgr"
    if qmgr.exists():
        pytest.skip("qmgr is installed; this test is for its absence")
    res = postern(inst, "flush")
    assert res.returncode == 1, res
    assert (TAG + "fatal: cannot flush the mail queue: the queue manager "
            f"{qmgr} is not installed") in res.stderr, res


def test_flush_without_qmgr_service(inst):
    started(inst)
    text = re.sub(r"^qmgr .*$", "", inst.master_cf.read_text(), flags=re.M)
    inst.master_cf.write_text(text)
    res = postern(inst, "flush")
    assert res.returncode == 1, res
    assert (TAG + f"fatal: cannot flush the mail queue: {inst.master_cf} has "
            "no qmgr service") in res.stderr, res


def test_flush_sends_a_trigger(inst):
    """With a stand-in queue manager listening on public/qmgr, flush writes
    its request there."""
    import socket
    import threading
    started(inst)
    qmgr = inst.daemon_dir / "qmgr"
    if qmgr.exists():
        pytest.skip("qmgr is installed; test_flush covers the real one")
    # master.cf must name a program that exists; the stand-in never runs
    # because the test takes over the socket path.
    qmgr.write_text("#!/bin/sh\nexit 0\n")
    qmgr.chmod(0o755)
    sock_path = inst.queue_dir / "public" / "qmgr"
    if sock_path.exists() or sock_path.is_symlink():
        sock_path.unlink()
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(sock_path))
    srv.listen(1)
    got = []

    def serve():
        conn, _ = srv.accept()
        got.append(conn.recv(100))
        conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    res = postern(inst, "flush")
    t.join(10)
    srv.close()
    assert res.returncode == 0, res
    assert got == [b"FAD"]


# ---- check --------------------------------------------------------------------


def test_check_clean_install(inst):
    res = postern(inst, "check")
    assert res.returncode == 0, res
    assert res.stderr == "", res


def test_check_main_cf_syntax_error(inst):
    line = add_main_cf(inst, "this line has no equals sign\n")
    res = postern(inst, "check")
    assert res.returncode == 1, res
    assert errors(res) == [
        f"{TAG}error: {inst.main_cf}, line {line}: missing '=' after "
        'attribute name: "this line has no equals sign"']


def test_check_bad_parameter_value(inst):
    line = add_main_cf(inst, "message_size_limit = 10M\n")
    res = postern(inst, "check")
    assert res.returncode == 1, res
    assert errors(res) == [
        f"{TAG}error: {inst.main_cf}, line {line}: bad numerical "
        "configuration: message_size_limit = 10M"]


def test_check_master_cf_error(inst):
    text = inst.master_cf.read_text()
    line = text.count("\n") + 1
    inst.master_cf.write_text(text + "oops bogus n - n - - smtpd\n")
    res = postern(inst, "check")
    assert res.returncode == 1, res
    errs = errors(res)
    assert len(errs) == 1, res
    assert f"{inst.master_cf}" in errs[0] and f"line {line}" in errs[0], res
    assert 'invalid type field "bogus"' in errs[0], res


def test_check_password_file_mode(inst):
    passwd = inst.config_dir / "sasl_passwd"
    add_main_cf(inst, "relayhost = [mail.isp.example]:587\n"
                "smtp_sasl_auth_enable = yes\n"
                "smtp_sasl_security_options = noanonymous\n"
                f"smtp_sasl_password_maps = hash:{passwd}\n")
    write_secret(passwd, "[mail.isp.example]:587 user:secret\n")
    postmap(inst, passwd)
    os.chmod(f"{passwd}.db", 0o600)
    res = postern(inst, "check")
    assert res.returncode == 0 and warnings(res) == [], res

    os.chmod(passwd, 0o644)
    res = postern(inst, "check")
    assert res.returncode == 0, res
    assert warnings(res) == [
        f"{TAG}warning: smtp_sasl_password_maps: the password file {passwd} "
        "is mode 0644, should be 0600 owned by root"]

    os.chmod(passwd, 0o600)
    os.chown(f"{passwd}.db", inst.uid, -1)
    res = postern(inst, "check")
    # The configuration folder belongs to root, so that is said too.
    assert warnings(res) == [
        f"{TAG}warning: not owned by root: {passwd}.db",
        f"{TAG}warning: smtp_sasl_password_maps: the password file "
        f"{passwd}.db is owned by {inst.mail_owner}, should be 0600 owned by "
        "root"]


def test_check_auth_user_maps_mode(inst):
    users = inst.config_dir / "users"
    write_secret(users, "alice@example.com {PLAIN}secret\n", mode=0o640)
    add_main_cf(inst, f"auth_user_maps = texthash:{users}\n")
    res = postern(inst, "check")
    assert res.returncode == 0, res
    assert warnings(res) == [
        f"{TAG}warning: auth_user_maps: the password file {users} is mode "
        "0640, should be 0600 owned by root"]


def test_check_permit_sasl_authenticated_without_auth(inst):
    line = add_main_cf(inst, "smtpd_recipient_restrictions = "
                       "permit_sasl_authenticated, reject_unauth_destination\n")
    res = postern(inst, "check")
    assert res.returncode == 0, res
    assert warnings(res) == [
        f"{TAG}warning: {inst.main_cf}, line {line}: "
        "smtpd_recipient_restrictions uses permit_sasl_authenticated, but "
        "smtpd_sasl_auth_enable = no: no client can log in, so it never "
        "permits anything"]
    # With AUTH on for that service, all is well.
    add_main_cf(inst, "smtpd_sasl_auth_enable = yes\n"
                "auth_user_maps = inline:{ {alice = {PLAIN}x} }\n")
    res = postern(inst, "check")
    assert not [w for w in warnings(res)
                if "uses permit_sasl_authenticated" in w], res


def test_check_permit_sasl_authenticated_in_a_service(inst):
    text = inst.master_cf.read_text()
    line = text.count("\n") + 1
    inst.master_cf.write_text(
        text + "submission inet n       -       n       -       -       smtpd\n"
        "  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject\n")
    res = postern(inst, "check")
    assert res.returncode == 0, res
    assert warnings(res) == [
        f"{TAG}warning: {inst.master_cf}, line {line}: "
        "smtpd_relay_restrictions uses permit_sasl_authenticated, but "
        "smtpd_sasl_auth_enable = no for service submission/inet: no client "
        "can log in, so it never permits anything"]


def test_check_permit_sasl_authenticated_shared_with_submission(inst):
    """A main.cf relay list with permit_sasl_authenticated is fine on port
    25 when a submission service switches AUTH on with -o; the same list
    set with -o on a service without AUTH is still reported."""
    users = inst.config_dir / "users"
    write_secret(users, "alice@example.com {PLAIN}secret\n")
    add_main_cf(inst, "smtpd_relay_restrictions = permit_mynetworks, "
                "permit_sasl_authenticated, reject_unauth_destination\n"
                f"auth_user_maps = texthash:{users}\n")
    text = inst.master_cf.read_text()
    inst.master_cf.write_text(
        text + "submission inet n       -       n       -       -       smtpd\n"
        "  -o smtpd_sasl_auth_enable=yes\n")
    res = postern(inst, "check")
    assert res.returncode == 0 and warnings(res) == [], res
    line = text.count("\n") + 3
    inst.master_cf.write_text(
        inst.master_cf.read_text() +
        "2526      inet  n       -       n       -       -       smtpd\n"
        "  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject\n")
    res = postern(inst, "check")
    assert warnings(res) == [
        f"{TAG}warning: {inst.master_cf}, line {line}: "
        "smtpd_relay_restrictions uses permit_sasl_authenticated, but "
        "smtpd_sasl_auth_enable = no for service 2526/inet: no client "
        "can log in, so it never permits anything"], res


def test_check_unsupported_postfix_features(inst):
    """Settings Postern keeps but does not act on yet are reported, in
    main.cf and as -o overrides; empty ones (content_filter= in a
    re-injection service) are not."""
    line = add_main_cf(inst, "smtpd_milters = inet:localhost:8891\n"
                       "content_filter =\n")
    text = inst.master_cf.read_text()
    mline = text.count("\n") + 1
    inst.master_cf.write_text(
        text + "2526      inet  n       -       n       -       -       smtpd\n"
        "  -o content_filter=smtp-amavis:[127.0.0.1]:10024\n"
        "2527      inet  n       -       n       -       -       smtpd\n"
        "  -o content_filter=\n")
    res = postern(inst, "check")
    assert res.returncode == 0, res
    assert warnings(res) == [
        f"{TAG}warning: {inst.main_cf}, line {line}: smtpd_milters is set, "
        "but Postern does not support milters yet: the setting is ignored",
        f"{TAG}warning: {inst.master_cf}, line {mline}: content_filter is "
        "set for service 2526/inet, but Postern does not support after-queue"
        " content filters yet: the setting is ignored"], res


def test_check_smtp_sasl_without_password_maps(inst):
    line = add_main_cf(inst, "smtp_sasl_auth_enable = yes\n")
    res = postern(inst, "check")
    assert res.returncode == 0, res
    assert (f"{TAG}warning: {inst.main_cf}, line {line}: "
            "smtp_sasl_auth_enable = yes, but smtp_sasl_password_maps is "
            "empty: the SMTP client has no username and password to send") \
        in warnings(res), res


@pytest.mark.parametrize("key", ["mail.isp.example", "[mail.isp.example]",
                                 "[mail.isp.example]:submission"])
def test_check_relayhost_key_mismatch(inst, key):
    passwd = inst.config_dir / "sasl_passwd"
    add_main_cf(inst, "relayhost = [mail.isp.example]:587\n"
                "smtp_sasl_auth_enable = yes\n"
                "smtp_sasl_security_options = noanonymous\n"
                f"smtp_sasl_password_maps = hash:{passwd}\n")
    write_secret(passwd, "# provider account\n"
                 f"{key} user@isp.example:secret\n")
    postmap(inst, passwd)
    os.chmod(f"{passwd}.db", 0o600)
    res = postern(inst, "check")
    assert res.returncode == 0, res
    assert warnings(res) == [
        f'{TAG}warning: {passwd}, line 2: the key "{key}" does not match '
        "relayhost [mail.isp.example]:587 as written; credentials are looked "
        "up by the relayhost exactly as it is written in main.cf: use "
        '"[mail.isp.example]:587" as the key'], res


def test_check_relayhost_key_exact(inst):
    passwd = inst.config_dir / "sasl_passwd"
    add_main_cf(inst, "relayhost = [mail.isp.example]:587\n"
                "smtp_sasl_auth_enable = yes\n"
                "smtp_sasl_security_options = noanonymous\n"
                f"smtp_sasl_password_maps = hash:{passwd}\n")
    write_secret(passwd, "mail.isp.example other:x\n"
                 "[mail.isp.example]:587 user:secret\n")
    postmap(inst, passwd)
    os.chmod(f"{passwd}.db", 0o600)
    res = postern(inst, "check")
    assert res.returncode == 0 and warnings(res) == [], res


def test_check_smtp_sasl_plaintext_filtered_out(inst):
    """noplaintext, in smtp_sasl_security_options by default, leaves no
    PLAIN or LOGIN, often all a provider offers."""
    passwd = inst.config_dir / "sasl_passwd"
    write_secret(passwd, "[mail.isp.example]:587 user:secret\n")
    postmap(inst, passwd)
    os.chmod(f"{passwd}.db", 0o600)
    line = add_main_cf(inst, "smtp_sasl_auth_enable = yes\n"
                       "relayhost = [mail.isp.example]:587\n"
                       f"smtp_sasl_password_maps = hash:{passwd}\n")
    res = postern(inst, "check")
    assert res.returncode == 0, res
    assert warnings(res) == [
        f"{TAG}warning: {inst.main_cf}, line {line}: smtp_sasl_auth_enable "
        "= yes, but smtp_sasl_security_options has noplaintext and TLS is "
        "off: PLAIN and LOGIN, often the only mechanisms a provider offers, "
        "are never used (\"no mechanism available\"); set "
        "smtp_tls_security_level = encrypt and smtp_sasl_tls_security_options"
        " = noanonymous, or smtp_sasl_security_options = noanonymous"], res
    # TLS alone is not enough: the TLS options default to the same list.
    add_main_cf(inst, "smtp_tls_security_level = encrypt\n")
    res = postern(inst, "check")
    assert len(warnings(res)) == 1 and "with TLS and without it: PLAIN " \
        "and LOGIN" in warnings(res)[0], res
    add_main_cf(inst, "smtp_sasl_tls_security_options = noanonymous\n")
    res = postern(inst, "check")
    assert res.returncode == 0 and warnings(res) == [], res
    # A per-service override is looked at for that service.
    text = inst.master_cf.read_text()
    mline = text.count("\n") + 1
    inst.master_cf.write_text(
        text + "relay2     unix  -       -       n       -       -       smtp\n"
        "  -o smtp_tls_security_level=none\n")
    res = postern(inst, "check")
    assert warnings(res) == [
        f"{TAG}warning: {inst.main_cf}, line {line}: smtp_sasl_auth_enable "
        "= yes, but smtp_sasl_security_options has noplaintext and TLS is off"
        " for service relay2/unix: PLAIN and LOGIN, often the only mechanisms"
        " a provider offers, are never used (\"no mechanism available\"); "
        "set smtp_tls_security_level = encrypt and "
        "smtp_sasl_tls_security_options = noanonymous, or "
        "smtp_sasl_security_options = noanonymous"], res
    # A mechanism filter without PLAIN and LOGIN is a choice, not a mistake.
    add_main_cf(inst, "smtp_sasl_mechanism_filter = cram-md5\n")
    res = postern(inst, "check")
    assert res.returncode == 0 and warnings(res) == [], res


def test_check_relayhost_key_in_an_inline_table(inst):
    add_main_cf(inst, "relayhost = [mail.isp.example]:587\n"
                "smtp_sasl_password_maps = "
                "inline:{ {[mail.isp.example] = user:secret} }\n")
    res = postern(inst, "check")
    ws = warnings(res)
    assert any('the key "[mail.isp.example]" does not match relayhost '
               '[mail.isp.example]:587' in w and
               'use "[mail.isp.example]:587" as the key' in w
               for w in ws), res


def test_check_smtpd_prefix_mixup(inst):
    line = add_main_cf(inst, "smtpd_sasl_password_maps = "
                       f"hash:{inst.config_dir}/sasl_passwd\n")
    res = postern(inst, "check")
    assert res.returncode == 0, res
    assert warnings(res) == [
        f"{TAG}warning: {inst.main_cf}, line {line}: smtpd_sasl_password_maps"
        " is not a Postern parameter; did you mean smtp_sasl_password_maps? "
        "(smtp_ parameters configure the SMTP client, smtpd_ parameters the "
        "SMTP server)"]


def test_check_master_cf_prefix_mixup(inst):
    users = inst.config_dir / "users"
    write_secret(users, "alice@example.com {PLAIN}secret\n")
    text = inst.master_cf.read_text()
    line = text.count("\n") + 1
    inst.master_cf.write_text(
        text + "2526      inet  n       -       n       -       -       smtpd\n"
        "  -o smtp_sasl_auth_enable=yes\n"
        "  -o smtpd_sasl_auth_enable=yes\n"
        f"  -o auth_user_maps=texthash:{users}\n")
    res = postern(inst, "check")
    assert res.returncode == 0, res
    assert warnings(res) == [
        f"{TAG}warning: {inst.master_cf}, line {line}: service 2526/inet runs "
        "smtpd, but smtp_sasl_auth_enable is an SMTP client parameter; did "
        "you mean smtpd_sasl_auth_enable?"]


def test_check_map_newer_than_its_table(inst):
    access = inst.config_dir / "access"
    access.write_text("192.0.2.1 REJECT\n")
    add_main_cf(inst, "smtpd_client_restrictions = "
                f"check_client_access hash:{access}\n")
    postmap(inst, access)
    res = postern(inst, "check")
    assert res.returncode == 0 and warnings(res) == [], res
    later = time.time() + 10
    os.utime(access, (later, later))
    res = postern(inst, "check")
    assert res.returncode == 0, res
    assert warnings(res) == [
        f"{TAG}warning: database {access}.db is older than source file "
        f'{access} (forgot to run "postmap hash:{access}"?)']


def test_check_relay_restrictions_that_allow_nothing(inst):
    line = add_main_cf(inst, "smtpd_relay_restrictions = reject\n"
                       "smtpd_recipient_restrictions = "
                       "reject_non_fqdn_recipient\n")
    res = postern(inst, "check")
    assert res.returncode == 0, res
    assert warnings(res) == [
        f"{TAG}warning: {inst.main_cf}, line {line}: neither "
        "smtpd_relay_restrictions nor smtpd_recipient_restrictions has a "
        "permit_ restriction or reject_unauth_destination: the SMTP server "
        "accepts mail for no recipient at all"]


def test_check_relay_restrictions_that_allow_everything(inst):
    add_main_cf(inst, "smtpd_relay_restrictions =\n"
                "smtpd_recipient_restrictions = permit_mynetworks\n")
    res = postern(inst, "check")
    ws = warnings(res)
    assert len(ws) == 1 and "would be an open relay" in ws[0], res


def test_check_stale_copy_for_chrooted_daemons(inst):
    if not Path("/etc/hosts").is_file():
        pytest.skip("this host has no /etc/hosts")
    etc = inst.queue_dir / "etc"
    etc.mkdir()
    (etc / "hosts").write_text("192.0.2.9 stale.example\n")
    res = postern(inst, "check")
    assert res.returncode == 0, res
    assert warnings(res) == [
        f'{TAG}warning: {etc}/hosts and /etc/hosts differ ("postern start" '
        "copies it again)"]
    (etc / "hosts").write_bytes(Path("/etc/hosts").read_bytes())
    res = postern(inst, "check")
    assert res.returncode == 0 and res.stderr == "", res


# ---- owners and modes ------------------------------------------------------------


def test_check_and_set_permissions_repair_a_queue_folder(inst):
    active = inst.queue_dir / "active"
    maildrop = inst.queue_dir / "maildrop"
    os.chmod(active, 0o755)
    os.chown(maildrop, -1, 0)
    res = postern(inst, "check")
    assert res.returncode == 0, res
    assert warnings(res) == [
        f"{TAG}warning: not owned by group {inst.setgid_group}: {maildrop}",
        f"{TAG}warning: mode 0755 should be 0700: {active}"], res

    res = postern(inst, "set-permissions")
    assert res.returncode == 0, res
    assert stat.S_IMODE(active.stat().st_mode) == 0o700
    assert maildrop.stat().st_gid == inst.gid
    assert stat.S_IMODE(maildrop.stat().st_mode) == 0o1730
    res = postern(inst, "check")
    assert res.returncode == 0 and res.stderr == "", res


def test_set_permissions_fixes_queue_files_and_setgid_commands(inst):
    qfile = inst.queue_dir / "deferred" / "ABC123"
    qfile.write_text("queue file\n")
    os.chown(qfile, 0, 0)
    postdrop = inst.command("postdrop")
    if not postdrop.exists():
        postdrop.write_text("#!/bin/sh\n")
    os.chown(postdrop, 0, 0)
    os.chmod(postdrop, 0o755)

    res = postern(inst, "check")
    assert f"{TAG}warning: not owned by {inst.mail_owner}: {qfile}" \
        in warnings(res), res
    assert (f"{TAG}warning: not owned by group {inst.setgid_group}: "
            f"{postdrop}") in warnings(res), res

    res = postern(inst, "set-permissions")
    assert res.returncode == 0, res
    assert qfile.stat().st_uid == inst.uid
    st = postdrop.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == \
        (0o2755, 0, inst.gid)


def test_check_creates_missing_queue_folders(inst):
    hold = inst.queue_dir / "hold"
    hold.rmdir()
    res = postern(inst, "check")
    assert res.returncode == 0, res
    assert warnings(res) == [], res
    assert f"{TAG}created directory {hold}" in res.stderr
    st = hold.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o700, inst.uid)


def test_check_refuses_to_follow_a_link_in_the_queue(inst, tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir()
    trace = inst.queue_dir / "trace"
    trace.rmdir()
    trace.symlink_to(target)
    res = postern(inst, "set-permissions")
    assert f"{TAG}warning: not a directory: {trace}" in res.stderr, res
    st = target.stat()
    assert st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o755


def test_set_permissions_with_name_value(inst):
    res = postern(inst, "set-permissions", "data_directory="
                  f"{inst.root}/data2")
    assert res.returncode == 0, res
    st = (inst.root / "data2").stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o700, inst.uid)
    assert f"data_directory = {inst.root}/data2" in inst.main_cf.read_text()


# ---- the manual page --------------------------------------------------------------


def test_manual_page_renders_without_warnings():
    page = REPO / "man" / "man1" / "postern.1"
    res = subprocess.run(["groff", "-ww", "-man", "-Tutf8", str(page)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0
    assert res.stderr == ""
    text = re.sub(".\b", "", res.stdout)
    text = text.replace("\u2010", "-").replace("\u2212", "-")
    for command in ("check", "start", "start-fg", "stop", "abort", "reload",
                    "status", "flush", "set-permissions"):
        assert command in text, command
