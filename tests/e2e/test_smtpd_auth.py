"""SMTP AUTH in smtpd (issue 7, smtpd side): one installed instance whose
master.cf runs auth, anvil, cleanup, triggerd standing in for qmgr, and
smtpd on several loopback ports with different -o settings.

Real clients: swaks (PLAIN, LOGIN, CRAM-MD5, DIGEST-MD5), msmtp through
GNU SASL (SCRAM-SHA-256, SCRAM-SHA-1), Python smtplib (PLAIN, LOGIN,
CRAM-MD5, STARTTLS) and raw sockets for exact replies. Users: one made
by "postauth add" (texthash:), one by Cyrus' saslpasswd2 (sasldb:).
Security: smtpd runs as mail_owner and cannot open the password files;
auth killed with SIGKILL gives 454 and comes back; fail2ban's postfix
filter counts our failure line.
"""

import base64
import os
import shutil
import signal
import smtplib
import ssl
import subprocess
import time

import pytest

import qfile
from conftest import BUILD_DIR, Instance, add_program, free_ports, \
    layout_args, run_install
from test_master import Master, alive, wait_for
from test_smtpd import Raw

TESTBIN = BUILD_DIR / "testbin"
MYHOST = "mail.example.test"
REALM = "example.org"
ALICE_PW = "alice pass 1"
DAVE_PW = "dave pass 4"
CAROL_PW = "carol-pw-2"
RELAYED = "someone@elsewhere.example"


class Ports:
    pass


def b64(text):
    return base64.b64encode(text.encode()).decode()


@pytest.fixture(scope="module")
def sub(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the end-to-end tests install Postern and run as root")
    for tool in ("swaks", "msmtp", "saslpasswd2"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: run make deps")
    root = tmp_path_factory.mktemp("sauth")
    args = layout_args(root)
    run_install(args)
    inst = Instance(root, args)
    add_program(TESTBIN / "triggerd", inst.daemon_dir / "triggerd")
    cert = inst.config_dir / "cert.pem"
    key = inst.config_dir / "key.pem"
    res = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", f"/CN={MYHOST}"], capture_output=True, text=True,
        timeout=120)
    assert res.returncode == 0, res.stderr
    os.chmod(key, 0o600)
    users = inst.config_dir / "sasl_users"
    sasldb = inst.config_dir / "sasldb2"
    p = Ports()
    (p.sub, p.tlsonly, p.noplain, p.filter, p.exc, p.login, p.off,
     p.rate, p.realm) = free_ports(9)
    m = Master(inst, inst.main_cf.read_text())
    m.log.unlink(missing_ok=True)
    tls = f"-o smtpd_tls_cert_file={cert} -o smtpd_tls_key_file={key}" \
        " -o smtpd_tls_security_level=may"
    on = "-o smtpd_sasl_auth_enable=yes"
    m.configure(
        ["auth unix - n n - 1 auth",
         "anvil unix - - y - 1 anvil",
         "cleanup unix n - y - 0 cleanup",
         "qmgr unix n - y 3600 1 triggerd",
         f"127.0.0.1:{p.sub} inet n - y - - smtpd {on} {tls}",
         f"127.0.0.1:{p.tlsonly} inet n - y - - smtpd {on} {tls}"
         " -o smtpd_tls_auth_only=yes",
         f"127.0.0.1:{p.noplain} inet n - y - - smtpd {on} {tls}"
         " -o smtpd_sasl_security_options=noanonymous,noplaintext"
         " -o smtpd_sasl_tls_security_options=noanonymous",
         f"127.0.0.1:{p.filter} inet n - y - - smtpd {on}"
         " -o smtpd_sasl_mechanism_filter=plain,login"
         " -o broken_sasl_auth_clients=yes"
         " -o smtpd_sasl_authenticated_header=yes",
         f"127.0.0.1:{p.exc} inet n - y - - smtpd {on}"
         " -o smtpd_sasl_exceptions_networks=127.0.0.0/8",
         f"127.0.0.1:{p.login} inet n - y - - smtpd {on}"
         " -o smtpd_sender_restrictions=reject_sender_login_mismatch"
         " -o smtpd_sender_login_maps=inline:{"
         "{alice@example.org=alice@example.org},"
         "{boss@example.org=carol@example.org}}",
         f"127.0.0.1:{p.off} inet n - y - - smtpd",
         f"127.0.0.1:{p.rate} inet n - y - - smtpd {on}"
         " -o smtpd_client_auth_rate_limit=2",
         f"127.0.0.1:{p.realm} inet n - y - - smtpd {on}"
         " -o smtpd_sasl_local_domain=other.example"],
        myhostname=MYHOST,
        mydomain="example.test",
        mydestination="example.test, $myhostname",
        mynetworks="192.0.2.0/24",
        local_recipient_maps="",
        smtpd_relay_restrictions="permit_mynetworks, "
        "permit_sasl_authenticated, reject_unauth_destination",
        smtpd_error_sleep_time="0s",
        smtpd_peername_lookup="no",
        smtpd_sasl_local_domain=REALM,
        auth_user_maps=f"texthash:{users}, sasldb:{sasldb}",
        auth_ipc_timeout="5s",
        syslog_name="postfix",
    )
    users.write_text("")
    os.chmod(users, 0o600)
    res = subprocess.run([str(inst.command("postauth")), "-c",
                          str(inst.config_dir), "add", "alice"],
                         input=ALICE_PW + "\n", capture_output=True,
                         text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    res = subprocess.run([str(inst.command("postauth")), "-c",
                          str(inst.config_dir), "add", "dave@other.example"],
                         input=DAVE_PW + "\n", capture_output=True,
                         text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    res = subprocess.run(["saslpasswd2", "-c", "-p", "-f", str(sasldb),
                          "-u", REALM, "carol"], input=CAROL_PW,
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    os.chmod(sasldb, 0o600)
    m.start()
    m.ports = p
    m.users = users
    m.sasldb = sasldb
    yield m
    reports = m.cleanup()
    assert not reports, f"sanitizer reports:\n{reports}"


def connect(port, ehlo=True):
    c = Raw(port)
    assert c.reply().startswith(f"220 {MYHOST}")
    if ehlo:
        c.ehlo = c.cmd("EHLO client.example.net")
        assert c.ehlo.startswith(f"250-{MYHOST}"), c.ehlo
    return c


def auth_lines(ehlo):
    return [line[4:] for line in ehlo.split("\n") if line[4:8] == "AUTH"]


def swaks(port, mech, user, password, extra=()):
    return subprocess.run(
        ["swaks", "--server", f"127.0.0.1:{port}", "--from",
         "alice@example.org", "--to", RELAYED, "--auth", mech,
         "--auth-user", user, "--auth-password", password,
         "--helo", "client.example.net", *extra],
        capture_output=True, text=True, timeout=60)


# ---- real clients ---------------------------------------------------------


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN", "CRAM-MD5",
                                  "DIGEST-MD5"])
def test_swaks_mechanisms_relay_after_auth(sub, mech):
    mark = len(sub.log_text())
    res = swaks(sub.ports.sub, mech, "alice", ALICE_PW)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "235 2.7.0 Authentication successful" in res.stdout
    assert wait_for(lambda: f"sasl_method={mech}, "
                    "sasl_username=alice@example.org" in sub.log_text()[mark:])
    assert wait_for(lambda: " auth=1 " in sub.log_text()[mark:])


def test_local_domain_override_reaches_auth(sub):
    # A bare name gets the realm of the smtpd service it logged in to: a
    # master.cf -o override counts, not only auth's main.cf value.
    plain = "AUTH PLAIN " + b64(f"\0dave\0{DAVE_PW}")
    c = connect(sub.ports.realm)
    assert c.cmd(plain) == "235 2.7.0 Authentication successful"
    c.close()
    c = connect(sub.ports.sub)
    assert c.cmd(plain).startswith("535 5.7.8 ")
    c.close()


def test_relay_denied_without_auth_and_auth_off(sub):
    c = connect(sub.ports.sub)
    assert c.cmd("MAIL FROM:<alice@example.org>").startswith("250")
    assert c.cmd(f"RCPT TO:<{RELAYED}>").startswith(
        "554 5.7.1 <someone@elsewhere.example>: Relay access denied")
    c.close()
    c = connect(sub.ports.off)
    assert not auth_lines(c.ehlo)
    assert c.cmd("AUTH PLAIN " + b64(f"\0alice\0{ALICE_PW}")) == \
        "503 5.5.1 Error: authentication not enabled"
    c.close()


@pytest.mark.parametrize("mech", ["SCRAM-SHA-256", "SCRAM-SHA-1"])
def test_msmtp_scram(sub, tmp_path, mech):
    cfg = tmp_path / "msmtprc"
    cfg.write_text(
        "account default\nhost 127.0.0.1\n"
        f"port {sub.ports.sub}\ntls off\nauth {mech.lower()}\n"
        f"user alice\npassword {ALICE_PW}\nfrom alice@example.org\n"
        "domain client.example.net\n")
    os.chmod(cfg, 0o600)
    mark = len(sub.log_text())
    res = subprocess.run(["msmtp", "-C", str(cfg), RELAYED],
                         input="Subject: scram\n\nhello\n",
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert wait_for(lambda: f"sasl_method={mech}, "
                    "sasl_username=alice@example.org" in sub.log_text()[mark:])


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_smtplib_sasldb_user(sub, mech):
    mark = len(sub.log_text())
    with smtplib.SMTP("127.0.0.1", sub.ports.sub, timeout=30) as s:
        s.ehlo("client.example.net")
        s.user, s.password = "carol", CAROL_PW
        code, text = s.auth(mech, getattr(s, "auth_" + mech.lower().replace(
            "-", "_")))
        assert (code, text) == (235, b"2.7.0 Authentication successful")
        s.sendmail("carol@example.org", [RELAYED], "Subject: x\r\n\r\nhi\r\n")
    assert wait_for(lambda: f"sasl_method={mech}, "
                    "sasl_username=carol@example.org" in sub.log_text()[mark:])


# ---- failures ---------------------------------------------------------------


def test_failures_replies_and_logs(sub):
    mark = len(sub.log_text())
    c = connect(sub.ports.sub)
    assert auth_lines(c.ehlo) == ["AUTH SCRAM-SHA-256 SCRAM-SHA-1 DIGEST-MD5 "
                                  "CRAM-MD5 PLAIN LOGIN"]
    assert c.cmd("AUTH PLAIN " + b64("\0alice\0wrong")) == \
        "535 5.7.8 Error: authentication failed: authentication failure"
    assert c.cmd("AUTH PLAIN " + b64("\0nobody\0x")) == \
        "535 5.7.8 Error: authentication failed: authentication failure"
    # "*" cancels; bad base64; over-long response; syntax; unknown mechanism.
    assert c.cmd("AUTH LOGIN") == "334 VXNlcm5hbWU6"
    assert c.cmd("*") == "501 5.7.0 Authentication aborted"
    assert c.cmd("AUTH LOGIN") == "334 VXNlcm5hbWU6"
    assert c.cmd("not base64!") == \
        "501 5.5.2 Error: invalid base64 data in authentication response"
    assert c.cmd("AUTH PLAIN") == "334 "
    assert c.cmd("A" * 13000) == "500 5.5.6 SASL response limit exceeded"
    assert c.cmd("AUTH") == "501 5.5.4 Syntax: AUTH mechanism"
    assert c.cmd("AUTH NOPE-MECH") == \
        "535 5.7.8 Error: authentication failed: Invalid authentication " \
        "mechanism"
    # The session still works, and a good login follows.
    assert c.cmd("AUTH PLAIN " + b64(f"\0alice\0{ALICE_PW}")) == \
        "235 2.7.0 Authentication successful"
    assert c.cmd("AUTH PLAIN " + b64(f"\0alice\0{ALICE_PW}")) == \
        "503 5.5.1 Error: already authenticated"
    assert c.cmd("QUIT").startswith("221")
    c.close()
    c = connect(sub.ports.sub)
    assert c.cmd("MAIL FROM:<a@example.org>").startswith("250")
    assert c.cmd("AUTH PLAIN " + b64(f"\0alice\0{ALICE_PW}")) == \
        "503 5.5.1 Error: MAIL transaction in progress"
    c.close()
    assert wait_for(lambda: sub.log_text()[mark:].count(
        "disconnect from") >= 2)
    log = sub.log_text()[mark:]
    assert "postfix/smtpd[" in log
    assert "warning: unknown[127.0.0.1]: SASL PLAIN authentication failed: " \
        "authentication failure" in log
    assert "warning: unknown[127.0.0.1]: SASL LOGIN authentication " \
        "aborted" in log
    assert "SASL NOPE-MECH authentication failed: Invalid authentication " \
        "mechanism" in log
    assert " auth=1/9 " in log


def test_slowdown_after_repeated_failures(sub):
    c = connect(sub.ports.sub)
    bad = "AUTH PLAIN " + b64("\0alice\0wrong")
    t0 = time.monotonic()
    assert c.cmd(bad).startswith("535")
    first = time.monotonic() - t0
    t0 = time.monotonic()
    assert c.cmd(bad).startswith("535")
    second = time.monotonic() - t0
    assert first < 0.9 and second >= 0.9, (first, second)
    c.close()


def test_fail2ban_postfix_filter_matches(sub, tmp_path):
    if shutil.which("fail2ban-regex") is None:
        pytest.fail("fail2ban-regex is missing: run make deps")
    c = connect(sub.ports.sub)
    mark = len(sub.log_text())
    assert c.cmd("AUTH LOGIN") == "334 VXNlcm5hbWU6"
    assert c.cmd(b64("alice")) == "334 UGFzc3dvcmQ6"
    assert c.cmd(b64("guess")).startswith("535 5.7.8")
    c.close()
    assert wait_for(lambda: "SASL LOGIN authentication failed" in
                    sub.log_text()[mark:])
    lines = [line for line in sub.log_text()[mark:].splitlines()
             if "/smtpd[" in line and "authentication failed" in line]
    assert len(lines) == 1, lines
    logf = tmp_path / "mail.log"
    logf.write_text(lines[0] + "\n")
    res = subprocess.run(
        ["fail2ban-regex", str(logf),
         "/etc/fail2ban/filter.d/postfix.conf[mode=auth]"],
        capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Failregex: 1 total" in res.stdout, res.stdout


# ---- settings ---------------------------------------------------------------


def test_tls_auth_only(sub):
    c = connect(sub.ports.tlsonly)
    assert not auth_lines(c.ehlo)
    assert c.cmd("AUTH PLAIN " + b64(f"\0alice\0{ALICE_PW}")) == \
        "538 5.7.11 Encryption required for requested authentication " \
        "mechanism"
    c.close()
    with smtplib.SMTP("127.0.0.1", sub.ports.tlsonly, timeout=30) as s:
        s.ehlo("client.example.net")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s.starttls(context=ctx)
        s.ehlo("client.example.net")
        assert "auth" in s.esmtp_features
        assert s.login("alice", ALICE_PW)[0] == 235


def test_noplaintext_changes_the_list(sub):
    c = connect(sub.ports.noplain)
    assert auth_lines(c.ehlo) == ["AUTH SCRAM-SHA-256 SCRAM-SHA-1 "
                                  "DIGEST-MD5 CRAM-MD5"]
    assert c.cmd("AUTH PLAIN " + b64(f"\0alice\0{ALICE_PW}")) == \
        "538 5.7.11 Encryption required for requested authentication " \
        "mechanism"
    c.close()
    with smtplib.SMTP("127.0.0.1", sub.ports.noplain, timeout=30) as s:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s.ehlo("client.example.net")
        s.starttls(context=ctx)
        s.ehlo("client.example.net")
        assert "PLAIN" in s.esmtp_features["auth"].split()
        s.user, s.password = "alice", ALICE_PW
        assert s.auth("PLAIN", s.auth_plain)[0] == 235


def test_filter_broken_clients_header_and_auth_param(sub):
    c = connect(sub.ports.filter)
    assert auth_lines(c.ehlo) == ["AUTH PLAIN LOGIN", "AUTH=PLAIN LOGIN"]
    assert c.cmd("AUTH CRAM-MD5").startswith("535 5.7.8")
    assert c.cmd("AUTH PLAIN " + b64(f"\0alice\0{ALICE_PW}")).startswith(
        "235")
    mark = len(sub.log_text())
    assert c.cmd("MAIL FROM:<alice@example.org> "
                 "AUTH=alice+2Bx@example.org").startswith("250")
    assert c.cmd(f"RCPT TO:<{RELAYED}>").startswith("250")
    assert c.cmd("DATA").startswith("354")
    reply = c.cmd("Subject: t\r\n\r\nbody\r\n.")
    assert reply.startswith("250 2.0.0 Ok: queued as "), reply
    qid = reply.split()[-1]
    c.close()
    assert wait_for(lambda: f"{qid}: client=unknown[127.0.0.1], "
                    "sasl_method=PLAIN, sasl_username=alice@example.org, "
                    "sasl_sender=alice+x@example.org" in sub.log_text()[mark:])
    assert wait_for(lambda: [f for f in qfile.queue_files(sub.inst.queue_dir)
                             if f.name == qid], 5)
    path = [f for f in qfile.queue_files(sub.inst.queue_dir)
            if f.name == qid][0]
    text = path.read_bytes()
    assert b"(Authenticated sender: alice@example.org)" in text
    assert b"with ESMTPA id " + qid.encode() in text
    assert b"sasl_method=PLAIN" in text
    assert b"sasl_username=alice@example.org" in text
    assert b"sasl_sender=alice+x@example.org" in text


def test_exceptions_networks_hide_auth(sub):
    c = connect(sub.ports.exc)
    assert not auth_lines(c.ehlo)
    c.close()


def test_sender_login_mismatch(sub):
    """smtpd_delay_reject = yes: the sender restrictions answer at RCPT."""
    c = connect(sub.ports.login)

    def sender(addr):
        assert c.cmd(f"MAIL FROM:<{addr}>").startswith("250")
        reply = c.cmd("RCPT TO:<postmaster@example.test>")
        assert c.cmd("RSET").startswith("250")
        return reply

    assert sender("alice@example.org") == "553 5.7.1 <alice@example.org>: " \
        "Sender address rejected: not logged in"
    assert sender("free@example.org").startswith("250")
    assert c.cmd("AUTH PLAIN " + b64(f"\0alice\0{ALICE_PW}")).startswith(
        "235")
    assert sender("boss@example.org") == "553 5.7.1 <boss@example.org>: " \
        "Sender address rejected: not owned by user alice@example.org"
    assert sender("alice@example.org").startswith("250")
    c.close()


def test_auth_rate_limit(sub):
    c = connect(sub.ports.rate)
    for _ in range(2):
        assert c.cmd("AUTH PLAIN " + b64("\0alice\0x")).startswith("535")
    assert c.cmd("AUTH PLAIN " + b64("\0alice\0x")) == \
        "450 4.7.1 Error: too many AUTH commands from 127.0.0.1"
    c.close()
    assert wait_for(lambda: "AUTH command rate limit exceeded: 3 from "
                    "unknown[127.0.0.1]" in sub.log_text())


# ---- security -----------------------------------------------------------------


def proc_uid(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("Uid:"):
            return [int(x) for x in line.split()[1:]]
    return None


def test_smtpd_runs_as_mail_owner_and_cannot_read_passwords(sub):
    c = connect(sub.ports.sub)
    pids = sub.children()
    uid = sub.inst.uid
    smtpd = [p for p in pids
             if os.readlink(f"/proc/{p}/exe").endswith("/smtpd")]
    assert smtpd
    for p in smtpd:
        assert proc_uid(p) == [uid] * 4
    c.close()
    for f in (sub.users, sub.sasldb):
        st = os.stat(f)
        assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, 0, 0o600)
        res = subprocess.run(["cat", str(f)], user=uid,
                             capture_output=True, timeout=10)
        assert res.returncode != 0 and b"Permission denied" in res.stderr


def test_auth_killed_gives_454_then_recovers(sub):
    c = connect(sub.ports.sub)
    assert c.cmd("AUTH LOGIN") == "334 VXNlcm5hbWU6"
    auth = [p for p in sub.children()
            if os.readlink(f"/proc/{p}/exe").endswith("/auth")]
    assert len(auth) == 1
    os.kill(auth[0], signal.SIGKILL)
    assert wait_for(lambda: not alive(auth[0]))
    assert c.cmd(b64("alice")) == "454 4.7.0 Temporary authentication failure"
    assert c.cmd("AUTH PLAIN " + b64(f"\0alice\0{ALICE_PW}")) == \
        "235 2.7.0 Authentication successful"
    c.close()
    assert "temporary authentication failure" in sub.log_text()
