"""The local delivery agent (issue 9) in a real instance: sendmail ->
pickup -> cleanup -> qmgr -> local, into mbox files, maildirs, commands,
.forward and :include: lists, with aliases built by postalias.

One installation for the module, under a folder of /tmp that every user
can walk through (the recipients write their own mailboxes). Three test
accounts are made with useradd and removed at the end. Extra local
services of master.cf, chosen by transport_maps for single addresses,
cover home_mailbox = Maildir/ and mailbox_command without a reload.
Mail for other domains is discarded (default_transport = discard), so
forwarded mail and bounce notices to the remote sender go nowhere."""

import fcntl
import mailbox
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from conftest import Instance, layout_args, run_install
from test_master import Master, wait_for

HOST = "local.test"
SENDER = "sender@remote.test"
TAG = uuid.uuid4().hex[:6]
ALICE, BOB, CAROL = (f"pl_{n}_{TAG}" for n in ("alice", "bob", "carol"))
DAEMONS = ("master", "pickup", "cleanup", "qmgr", "bounce", "local", "discard",
           "error")


def sh(*argv):
    res = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, f"{argv}: {res.stderr}"
    return res


@pytest.fixture(scope="module")
def loc():
    if os.geteuid() != 0:
        pytest.skip("the end-to-end tests install Postern and run as root")
    if shutil.which("useradd") is None:
        pytest.skip("useradd is missing")
    root = Path(tempfile.mkdtemp(prefix="postern-local-"))
    os.chmod(root, 0o755)
    users = []
    m = None
    try:
        args = layout_args(root)
        run_install(args)
        inst = Instance(root, args)
        for name in DAEMONS:
            if not (inst.daemon_dir / name).is_file():
                pytest.skip(f"the install has no {name} daemon yet")
        homes = root / "home"
        homes.mkdir(mode=0o755)
        for user in (ALICE, BOB, CAROL):
            home = homes / user
            sh("useradd", "-M", "-d", str(home), "-s", "/bin/sh", user)
            users.append(user)
            home.mkdir(mode=0o755)
            pw = pwd.getpwnam(user)
            os.chown(home, pw.pw_uid, pw.pw_gid)
        spool = root / "mail"
        spool.mkdir(mode=0o755)
        (root / "full").mkdir(mode=0o755)
        out = root / "out"
        out.mkdir()
        os.chmod(out, 0o777)
        m = Master(inst, inst.main_cf.read_text())
        m.spool, m.homes, m.out = spool, homes, out
        m.full = root / "full"
        (root / "cmdmap").write_text(
            f"{CAROL} /bin/sh -c 'cat > {out}/cmdmap.msg'\n")
        write_aliases(m, root)
        services = [
            "pickup unix n - y 60 1 pickup",
            "cleanup unix n - y - 0 cleanup",
            "qmgr unix n - n 300 1 qmgr",
            "bounce unix - - y - 0 bounce",
            "defer unix - - y - 0 bounce",
            "local unix - n n - - local",
            "localmd unix - n n - - local -o home_mailbox=Maildir/",
            "localcmd unix - n n - - local -o { mailbox_command = "
            f"/bin/sh -c 'echo \"$$USER $$EXTENSION $$RECIPIENT $$SENDER\" "
            f"> {out}/mbcmd; cat > {out}/mbcmd.msg' }}",
            "localsmall unix - n n - - local -o mailbox_size_limit=2000",
            f"localrelay unix - n n - - local -o luser_relay={ALICE}+$user",
            f"localfull unix - n n - - local -o mail_spool_directory={root}/full",
            "localcmap unix - n n - - local "
            f"-o mailbox_command_maps=texthash:{root}/cmdmap",
            "discard unix - - y - - discard",
            "error unix - - y - - error",
        ]
        m.configure(services, **{
            "myhostname": HOST,
            "mydomain": "test",
            "myorigin": "$myhostname",
            "mydestination": "$myhostname, localhost",
            "default_transport": "discard",
            "relayhost": "",
            "alias_maps": f"hash:{root}/aliases",
            "alias_database": f"hash:{root}/aliases",
            "mail_spool_directory": str(spool),
            "recipient_delimiter": "+",
            "transport_maps": f"inline:{{ {BOB}+md@{HOST}=localmd:, "
                              f"{CAROL}+cmd@{HOST}=localcmd:, "
                              f"{ALICE}+small@{HOST}=localsmall:, "
                              f"{BOB}+full@{HOST}=localfull:, "
                              f"{CAROL}+cmap@{HOST}=localcmap:, "
                              f"nobody_here@{HOST}=localrelay: }}",
            "deliver_lock_attempts": "2",
            "deliver_lock_delay": "1s",
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "command_time_limit": "20s",
        })
        m.start()
        yield m
    finally:
        reports = m.cleanup() if m is not None else ""
        for user in users:
            subprocess.run(["userdel", user], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
        assert not reports, f"sanitizer reports:\n{reports}"


def write_aliases(m, root):
    (root / "staff.list").write_text(f"# the staff\n{ALICE}\n{BOB}\n")
    os.chmod(root / "staff.list", 0o644)
    (root / "aliases").write_text(
        f"root: {ALICE}\n"
        f"staff: :include:{root}/staff.list\n"
        f"loopa: loopb\n"
        f"loopb: loopa\n"
        f"runid: \"|id -u > {m.out}/runid\"\n"
        f"tempfail: \"|test -e {m.out}/tf || {{ touch {m.out}/tf; exit 75; }}\"\n"
        f"failcmd: \"|echo oops; exit 1\"\n"
        f"remote: someone@remote.test\n"
        f"tofile: {m.out}/file.mbox\n"
        f"list: {BOB}, someone@remote.test\n"
        f"owner-list: {ALICE}\n"
        f"dups: {ALICE}, {ALICE.upper()}, \\{ALICE}, staff\n")
    res = m.inst.run([m.inst.command("postalias"), "-c", m.inst.config_dir,
                      f"hash:{root}/aliases"])
    assert res.returncode == 0, res.stderr


def send(m, rcpt, subject, body="hello\n", headers="", sender=SENDER):
    msg = (f"From: {sender}\nTo: {rcpt}\nSubject: {subject}\n{headers}\n"
           f"{body}")
    res = m.inst.run([m.inst.command("sendmail"), "-f", sender, "--", rcpt],
                     input=msg, stdin=None)
    assert res.returncode == 0, res.stderr


def wait_log(m, pattern, count=1, timeout=30):
    rx = re.compile(pattern)
    assert wait_for(lambda: len(rx.findall(m.log_text())) >= count, timeout), \
        f"no {pattern!r} in the log:\n{m.log_text()[-4000:]}"
    return rx.findall(m.log_text())


def mbox_messages(path, subject):
    box = mailbox.mbox(str(path), create=False)
    try:
        return [msg for msg in box if msg["Subject"] == subject]
    finally:
        box.close()


def test_alias_to_mbox_owner_mode_and_from_quoting(loc):
    subject = f"alias-{TAG}"
    body = "first line\nFrom here the body goes on\n>From stays\nlast\n"
    send(loc, "root", subject, body=body)
    wait_log(loc, rf"to=<{ALICE}@{HOST}>, orig_to=<root(?:@{HOST})?>, "
                  r"relay=local, delay=[\d.]+, delays=[\d./]+, dsn=2\.0\.0, "
                  r"status=sent \(delivered to mailbox\)")
    path = loc.spool / ALICE
    st = path.stat()
    assert st.st_uid == pwd.getpwnam(ALICE).pw_uid
    assert st.st_mode & 0o7777 == 0o600
    raw = path.read_text()
    assert raw.startswith(f"From {SENDER}  ")
    assert "\n>From here the body goes on\n" in raw
    got = mbox_messages(path, subject)
    assert len(got) == 1, raw
    msg = got[0]
    assert msg["Return-Path"] == f"<{SENDER}>"
    assert msg["Delivered-To"] == f"root@{HOST}"
    # Only "From " is quoted (">From " stays as it is), as Postfix does.
    assert msg.get_payload() == ("first line\n>From here the body goes on\n"
                                 ">From stays\nlast\n")
    # The mailbox is one message per delivery: nothing split on "From ".
    assert raw.count(f"\nSubject: {subject}\n") == 1


def test_unknown_user_bounces(loc):
    send(loc, "nosuchuser", f"unknown-{TAG}")
    wait_log(loc, rf"to=<nosuchuser@{HOST}>, (?:orig_to=<[^>]*>, )?relay=local, .*"
                  r"dsn=5\.1\.1, "
                  r'status=bounced \(unknown user: "nosuchuser"\)')


def test_maildir_via_home_mailbox(loc):
    subject = f"maildir-{TAG}"
    send(loc, f"{BOB}+md", subject)
    wait_log(loc, rf"to=<{BOB}\+md@{HOST}>, (?:orig_to=<[^>]*>, )?relay=localmd, .*dsn=2\.0\.0, "
                  r"status=sent \(delivered to maildir\)")
    md = loc.homes / BOB / "Maildir"
    assert not list((md / "tmp").iterdir())
    new = list((md / "new").iterdir())
    assert len(new) == 1
    assert re.fullmatch(r"\d+\.M\d+P\d+Q\d+\..+", new[0].name), new[0].name
    st = new[0].stat()
    assert st.st_uid == pwd.getpwnam(BOB).pw_uid
    assert st.st_mode & 0o777 == 0o600
    box = mailbox.Maildir(str(md), create=False)
    msgs = [box[k] for k in box.keys()]
    assert [x["Subject"] for x in msgs] == [subject]
    assert msgs[0]["Delivered-To"] == f"{BOB}+md@{HOST}"


def test_mailbox_command_environment(loc):
    subject = f"mbcmd-{TAG}"
    send(loc, f"{CAROL}+cmd", subject)
    wait_log(loc, rf"to=<{CAROL}\+cmd@{HOST}>, (?:orig_to=<[^>]*>, )?relay=localcmd, .*"
                  r"status=sent \(delivered to command: /bin/sh -c")
    assert (loc.out / "mbcmd").read_text().split() == \
        [CAROL, "cmd", f"{CAROL}+cmd@{HOST}", SENDER]
    msg = (loc.out / "mbcmd.msg").read_text()
    assert msg.startswith(f"From {SENDER}  ")
    assert f"\nSubject: {subject}\n" in msg
    assert (loc.out / "mbcmd.msg").stat().st_uid == pwd.getpwnam(CAROL).pw_uid


def test_mailbox_command_maps(loc):
    subject = f"cmdmap-{TAG}"
    send(loc, f"{CAROL}+cmap", subject)
    wait_log(loc, rf"to=<{CAROL}\+cmap@{HOST}>, (?:orig_to=<[^>]*>, )?"
                  r"relay=localcmap, .*status=sent \(delivered to command: "
                  r"/bin/sh -c 'cat > ")
    assert f"\nSubject: {subject}\n" in (loc.out / "cmdmap.msg").read_text()


def test_forward_to_user_and_command(loc):
    home = loc.homes / CAROL
    fwd = home / ".forward"
    fwd.write_text(f"{BOB}, \"|id -u > {loc.out}/carolcmd\"\n")
    pw = pwd.getpwnam(CAROL)
    os.chown(fwd, pw.pw_uid, pw.pw_gid)
    os.chmod(fwd, 0o644)
    subject = f"forward-{TAG}"
    try:
        send(loc, CAROL, subject)
        wait_log(loc, rf"to=<{BOB}@{HOST}>, orig_to=<{CAROL}(?:@{HOST})?>, "
                      r"relay=local, .*status=sent \(delivered to mailbox\)")
        wait_log(loc, rf"to=<{CAROL}@{HOST}>, (?:orig_to=<[^>]*>, )?relay=local, .*status=sent "
                      r"\(delivered to command: id -u > ")
        assert (loc.out / "carolcmd").read_text().strip() == str(pw.pw_uid)
        got = mbox_messages(loc.spool / BOB, subject)
        assert len(got) == 1
        assert got[0]["Delivered-To"] == f"{CAROL}@{HOST}"
        # A group-writable .forward is ignored: the mail stays with carol.
        os.chmod(fwd, 0o664)
        subject2 = f"badforward-{TAG}"
        send(loc, CAROL, subject2)
        wait_log(loc, rf"to=<{CAROL}@{HOST}>, (?:orig_to=<[^>]*>, )?relay=local, .*status=sent "
                      r"\(delivered to mailbox\)")
        assert "group or world writable" in loc.log_text()
        assert len(mbox_messages(loc.spool / CAROL, subject2)) == 1
    finally:
        fwd.unlink()


def test_include_list(loc):
    subject = f"include-{TAG}"
    send(loc, "staff", subject)
    for user in (ALICE, BOB):
        wait_log(loc, rf"to=<{user}@{HOST}>, orig_to=<staff(?:@{HOST})?>, "
                      r"relay=local, .*status=sent \(delivered to mailbox\)")
        assert len(mbox_messages(loc.spool / user, subject)) == 1


def test_duplicates_are_delivered_once(loc):
    subject = f"dups-{TAG}"
    send(loc, "dups", subject)
    wait_log(loc, rf"to=<{BOB}@{HOST}>, orig_to=<dups(?:@{HOST})?>, "
                  r"relay=local, .*status=sent \(delivered to mailbox\)")
    assert len(mbox_messages(loc.spool / ALICE, subject)) == 1
    assert len(mbox_messages(loc.spool / BOB, subject)) == 1
    assert loc.log_count(f"to=<{ALICE}@{HOST}>, orig_to=<dups") == 1


def test_alias_loop_and_delivered_to_loop_bounce(loc):
    send(loc, "loopa", f"loop-{TAG}")
    wait_log(loc, r"dsn=5\.4\.6, status=bounced \(alias database loop for "
                  r"loop[ab]\)")
    send(loc, ALICE, f"dtloop-{TAG}",
         headers=f"Delivered-To: {ALICE.upper()}@{HOST}\n")
    wait_log(loc, rf"to=<{ALICE}@{HOST}>, (?:orig_to=<[^>]*>, )?relay=local, .*dsn=5\.4\.6, "
                  rf"status=bounced \(mail forwarding loop for "
                  rf"{ALICE}@{HOST}\)")
    assert not mbox_messages(loc.spool / ALICE, f"dtloop-{TAG}")


def test_commands_run_with_default_privs_and_exit_codes(loc):
    send(loc, "runid", f"runid-{TAG}")
    wait_log(loc, rf"to=<runid@{HOST}>, (?:orig_to=<[^>]*>, )?relay=local, .*status=sent "
                  r"\(delivered to command: id -u > ")
    assert (loc.out / "runid").read_text().strip() == \
        str(pwd.getpwnam("nobody").pw_uid)
    send(loc, "failcmd", f"failcmd-{TAG}")
    wait_log(loc, rf"to=<failcmd@{HOST}>, (?:orig_to=<[^>]*>, )?relay=local, .*dsn=5\.3\.0, "
                  r'status=bounced \(Command died with status 1: "echo oops; '
                  r'exit 1"\. Command output: oops\)')
    send(loc, "tempfail", f"tempfail-{TAG}")
    # EX_TEMPFAIL defers; the retry runs the command again.
    wait_log(loc, rf"to=<tempfail@{HOST}>, (?:orig_to=<[^>]*>, )?relay=local, "
                  r'.*dsn=4\.3\.0, status=deferred \(Command died with status '
                  r'75: "test -e ')
    wait_log(loc, rf"to=<tempfail@{HOST}>, (?:orig_to=<[^>]*>, )?relay=local, "
                  r".*status=sent \(delivered to command: test -e ")


def test_file_and_remote_forward_with_owner(loc):
    send(loc, "tofile", f"tofile-{TAG}")
    wait_log(loc, rf"to=<tofile@{HOST}>, (?:orig_to=<[^>]*>, )?relay=local, .*status=sent "
                  rf"\(delivered to file: {loc.out}/file\.mbox\)")
    path = loc.out / "file.mbox"
    assert path.stat().st_uid == pwd.getpwnam("nobody").pw_uid
    assert len(mbox_messages(path, f"tofile-{TAG}")) == 1
    send(loc, "list", f"list-{TAG}")
    ids = wait_log(loc, r"to=<someone@remote\.test>, orig_to=<list(?:@"
                        + re.escape(HOST) + r")?>, relay=local, .*status=sent "
                        r"\(forwarded as ([0-9A-Za-z]+)\)")
    wait_log(loc, rf"{ids[-1]}: to=<someone@remote\.test>, relay=none, "
                  r".*status=sent")
    # owner-list is the sender of what the list expands to.
    wait_log(loc, rf"{ids[-1]}: from=<owner-list@{HOST}>")
    got = mbox_messages(loc.spool / BOB, f"list-{TAG}")
    assert len(got) == 1 and got[0]["Return-Path"] == f"<owner-list@{HOST}>"


def test_locked_mailbox_defers_then_delivers(loc):
    path = loc.spool / ALICE
    if not path.exists():
        path.touch(mode=0o600)
        pw = pwd.getpwnam(ALICE)
        os.chown(path, pw.pw_uid, pw.pw_gid)
    subject = f"locked-{TAG}"
    f = open(path, "r+")
    try:
        fcntl.lockf(f, fcntl.LOCK_EX)
        send(loc, ALICE, subject)
        wait_log(loc, rf"to=<{ALICE}@{HOST}>, (?:orig_to=<[^>]*>, )?relay=local, .*dsn=4\.2\.0, "
                      r"status=deferred \(cannot update mailbox .* unable to "
                      r"lock for exclusive access")
        assert not mbox_messages(path, subject)
    finally:
        fcntl.lockf(f, fcntl.LOCK_UN)
        f.close()
    res = loc.inst.run([loc.inst.command("postqueue"), "-c",
                        loc.inst.config_dir, "-f"])
    assert res.returncode == 0, res.stderr
    assert wait_for(lambda: len(mbox_messages(path, subject)) == 1, 30), \
        loc.log_text()[-3000:]
    # A dot-lock file held by another program defers too (local removes
    # its own lock just after the delivery shows).
    lock = loc.spool / f"{ALICE}.lock"
    assert wait_for(lambda: not lock.exists(), 10)
    open(lock, "x").close()
    subject2 = f"dotlocked-{TAG}"
    try:
        send(loc, ALICE, subject2)
        wait_log(loc, rf"to=<{ALICE}@{HOST}>, (?:orig_to=<[^>]*>, )?"
                      r"relay=local, .*dsn=4\.2\.0, status=deferred \(cannot "
                      r"update mailbox .* unable to create lock file .*File "
                      r"exists\)")
        assert not mbox_messages(path, subject2)
    finally:
        lock.unlink(missing_ok=True)
    res = loc.inst.run([loc.inst.command("postqueue"), "-c",
                        loc.inst.config_dir, "-f"])
    assert res.returncode == 0, res.stderr
    assert wait_for(lambda: len(mbox_messages(path, subject2)) == 1, 30), \
        loc.log_text()[-3000:]
    assert wait_for(lambda: not lock.exists(), 10)


def test_mailbox_size_limit_bounces_and_keeps_the_mailbox(loc):
    path = loc.spool / ALICE
    subject = f"small-{TAG}"
    os.truncate(path, 0)
    send(loc, f"{ALICE}+small", f"{subject}-fits", body="short\n")
    wait_log(loc, rf"to=<{ALICE}\+small@{HOST}>, (?:orig_to=<[^>]*>, )?"
                  r"relay=localsmall, .*status=sent \(delivered to mailbox\)")
    # Whatever the mailbox holds now, a big message must not fit.
    before = path.read_bytes()
    send(loc, f"{ALICE}+small", subject, body=("y" * 70 + "\n") * 40)
    wait_log(loc, rf"to=<{ALICE}\+small@{HOST}>, (?:orig_to=<[^>]*>, )?"
                  r"relay=localsmall, .*dsn=5\.2\.2, status=bounced \(cannot "
                  r"update mailbox .* File too large\)")
    assert path.read_bytes() == before


def test_luser_relay_takes_unknown_users(loc):
    subject = f"luser-{TAG}"
    send(loc, "nobody_here", subject)
    wait_log(loc, rf"to=<{ALICE}\+nobody_here@{HOST}>, orig_to=<nobody_here"
                  rf"(?:@{HOST})?>, relay=localrelay, .*status=sent "
                  r"\(delivered to mailbox\)")
    assert len(mbox_messages(loc.spool / ALICE, subject)) == 1


def test_full_filesystem_defers_then_delivers(loc):
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755",
                          "tmpfs", str(loc.full)], capture_output=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {res.stderr!r}")
    try:
        filler = loc.full / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"x" * 4096) > 0:
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        subject = f"full-{TAG}"
        send(loc, f"{BOB}+full", subject, body=("z" * 70 + "\n") * 20)
        wait_log(loc, rf"to=<{BOB}\+full@{HOST}>, (?:orig_to=<[^>]*>, )?"
                      r"relay=localfull, .*dsn=4\.3\.1, status=deferred "
                      r"\(cannot update mailbox .*No space left on device\)")
        box = loc.full / BOB
        assert not box.exists() or box.stat().st_size == 0
        filler.unlink()
        res = loc.inst.run([loc.inst.command("postqueue"), "-c",
                            loc.inst.config_dir, "-f"])
        assert res.returncode == 0, res.stderr
        wait_log(loc, rf"to=<{BOB}\+full@{HOST}>, (?:orig_to=<[^>]*>, )?"
                      r"relay=localfull, .*status=sent \(delivered to "
                      r"mailbox\)")
        assert len(mbox_messages(box, subject)) == 1
    finally:
        subprocess.run(["umount", str(loc.full)], capture_output=True)
