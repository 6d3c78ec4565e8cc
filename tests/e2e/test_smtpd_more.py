"""smtpd's smaller Postfix features (issue 6): the FILTER access action
carried through cleanup into qmgr's routing, smtpd_reject_footer_maps,
smtpd_forbid_bare_newline in its three modes and its exclusions, and the
Received: header's TLS comment with the key exchange.

One installed instance runs cleanup, the real qmgr and the test delivery
agent tests/daemons/testagent (as the default transport "test" and as the
filter transport "filt"), and smtpd on several loopback ports.
"""

import os
import re
import shutil
import tempfile
from pathlib import Path
import subprocess
import time

import pytest

import qfile
from conftest import BUILD_DIR, Instance, add_program, free_ports, \
    layout_args, run_install
from test_master import Master, wait_for
from test_smtpd import MYHOST, LOCAL_DOMAIN, Raw, connect, queued_id, \
    tls_client_context

TESTBIN = BUILD_DIR / "testbin"


class Ports:
    pass


@pytest.fixture(scope="module")
def more(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the end-to-end tests install Postern and run as root")
    if not (TESTBIN / "testagent").is_file():
        pytest.fail(f"{TESTBIN / 'testagent'} is missing: run make first")
    root = tmp_path_factory.mktemp("smtpdmore")
    os.chmod(root, 0o755)
    args = layout_args(root)
    run_install(args)
    inst = Instance(root, args)
    add_program(TESTBIN / "testagent", inst.daemon_dir / "testagent")
    # The delivery agent runs as mail_owner, who cannot enter pytest's
    # private folders: its output goes to a folder of its own.
    out = Path(tempfile.mkdtemp(prefix="postern-smtpdmore-"))
    os.chmod(out, 0o777)
    cert = inst.config_dir / "cert.pem"
    key = inst.config_dir / "key.pem"
    res = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "2", "-subj", f"/CN={MYHOST}"],
        capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    os.chmod(key, 0o600)
    access = inst.config_dir / "sender_access"
    access.write_text(
        "filter@example.org FILTER filt:[127.0.0.1]:10025\n"
        "bare@example.org FILTER filt:\n"
        "reject@example.org REJECT go away\n")
    footers = inst.config_dir / "footers"
    footers.write_text(
        "/^5.. 5\\.7\\.1 <reject@example\\.org>/ see $$server_name\n")
    p = Ports()
    (p.access, p.reject, p.norm, p.excl, p.tls, p.deadline,
     p.perread) = free_ports(7)
    m = Master(inst, inst.main_cf.read_text())
    m.out = out
    m.configure(
        ["cleanup unix n - y - 0 cleanup",
         "qmgr unix n - n 300 1 qmgr",
         f"test unix - - n - - testagent {out / 'deliveries'}",
         f"filt unix - - n - - testagent {out / 'filtered'}",
         "error unix - - y - - error",
         "retry unix - - y - - error",
         f"127.0.0.1:{p.access} inet n - y - - smtpd"
         f" -o smtpd_sender_restrictions=check_sender_access,"
         f"texthash:{access}"
         f" -o smtpd_reject_footer_maps=regexp:{footers}"
         " -o smtpd_reject_footer=plain-footer",
         f"127.0.0.1:{p.reject} inet n - y - - smtpd"
         " -o smtpd_forbid_bare_newline=reject"
         " -o smtpd_forbid_bare_newline_exclusions=",
         f"127.0.0.1:{p.norm} inet n - y - - smtpd"
         " -o smtpd_forbid_bare_newline=yes"
         " -o smtpd_forbid_bare_newline_exclusions=",
         f"127.0.0.1:{p.excl} inet n - y - - smtpd"
         " -o smtpd_forbid_bare_newline=reject",
         f"127.0.0.1:{p.tls} inet n - y - - smtpd"
         f" -o smtpd_tls_cert_file={cert} -o smtpd_tls_key_file={key}"
         " -o smtpd_tls_security_level=may"
         " -o smtpd_tls_received_header=yes",
         f"127.0.0.1:{p.deadline} inet n - y - - smtpd -o smtpd_timeout=2s"
         " -o smtpd_per_request_deadline=yes -o smtpd_min_data_rate=1000",
         f"127.0.0.1:{p.perread} inet n - y - - smtpd -o smtpd_timeout=2s"],
        myhostname=MYHOST,
        mydomain=LOCAL_DOMAIN,
        mydestination=f"{LOCAL_DOMAIN}, $myhostname",
        mynetworks="127.0.0.1/32",
        local_recipient_maps="",
        default_transport="test",
        local_transport="test",
        relay_transport="test",
        smtpd_relay_restrictions="permit_mynetworks, reject_unauth_destination",
        smtpd_error_sleep_time="0s",
        smtpd_peername_lookup="no",
        ipc_timeout="10s",
    )
    m.start()
    m.ports = p
    yield m
    reports = m.cleanup()
    shutil.rmtree(out, ignore_errors=True)
    assert not reports, f"sanitizer reports:\n{reports}"


def records(path):
    try:
        return [l.split(" ", 1) for l in path.read_text().splitlines()
                if l and not l.startswith("\t")]
    except FileNotFoundError:
        return []


def send(port, sender, rcpt="user@example.test", body=b"Subject: t\r\n\r\nx\r\n"):
    c = connect(port)
    assert c.cmd(f"MAIL FROM:<{sender}>") == "250 2.1.0 Ok"
    assert c.cmd(f"RCPT TO:<{rcpt}>") == "250 2.1.5 Ok"
    assert c.cmd("DATA").startswith("354")
    c.send(body + b".\r\n")
    reply = c.reply()
    c.cmd("QUIT")
    c.close()
    return reply


# ---- FILTER -------------------------------------------------------------------


def test_filter_action_routes_to_the_filter_transport(more):
    qid = queued_id(send(more.ports.access, "filter@example.org"))
    filtered = more.out / "filtered"
    assert wait_for(lambda: [qid, "user@example.test"] in records(filtered),
                    20), more.log_text()[-3000:]
    assert [qid, "user@example.test"] not in records(more.out / "deliveries")
    log = more.log_text()
    assert re.search(re.escape(qid) + r": to=<user@example\.test>, "
                     r"relay=testagent", log), log[-3000:]
    assert f"testagent: nexthop=[127.0.0.1]:10025" in log
    assert "content filters are not supported" not in log


def test_filter_without_nexthop_uses_myhostname(more):
    qid = queued_id(send(more.ports.access, "bare@example.org"))
    assert wait_for(lambda: [qid, "user@example.test"]
                    in records(more.out / "filtered"), 20), \
        more.log_text()[-3000:]
    assert f"testagent: nexthop={MYHOST}" in more.log_text()


def test_unfiltered_mail_is_resolved_as_usual(more):
    qid = queued_id(send(more.ports.access, "plain@example.org"))
    assert wait_for(lambda: [qid, "user@example.test"]
                    in records(more.out / "deliveries"), 20), \
        more.log_text()[-3000:]
    assert [qid, "user@example.test"] not in records(more.out / "filtered")


# ---- smtpd_reject_footer_maps ---------------------------------------------------


def test_reject_footer_maps_then_footer(more):
    c = connect(more.ports.access)
    # The map's template matches this reply ($$ gives a literal name).
    assert c.cmd("MAIL FROM:<reject@example.org>") == "250 2.1.0 Ok"
    assert c.cmd("RCPT TO:<user@example.test>") == (
        "554-5.7.1 <reject@example.org>: Sender address rejected: go away\n"
        f"554 5.7.1 see {MYHOST}")
    # Not in the map: smtpd_reject_footer.
    assert c.cmd("FOO") == ("500-5.5.2 Error: command not recognized\n"
                            "500 5.5.2 plain-footer")
    assert c.cmd("NOOP") == "250 2.0.0 Ok"
    c.close()


# ---- smtpd_forbid_bare_newline ----------------------------------------------------


def test_bare_newline_reject_command_and_data(more):
    c = connect(more.ports.reject)
    assert c.cmd("MAIL FROM:<a@example.org>") == "250 2.1.0 Ok"
    assert c.cmd("RCPT TO:<user@example.test>") == "250 2.1.5 Ok"
    assert c.cmd("DATA").startswith("354")
    c.send(b"Subject: t\n\nbody\r\n.\r\n")
    assert c.reply() == f"550 5.5.2 {MYHOST} Error: bare <LF> received"
    # The session goes on; a bare LF in a command ends it.
    assert c.cmd("NOOP") == "250 2.0.0 Ok"
    c.send(b"NOOP\n")
    assert c.reply() == f"550 5.5.2 {MYHOST} Error: bare <LF> received"
    assert c.closed()
    log = more.log_text()
    assert re.search(r": reject: END-OF-MESSAGE from unknown\[127\.0\.0\.1\]: "
                     r"bare <LF> received; from=<a@example\.org> "
                     r"to=<user@example\.test> proto=ESMTP "
                     r"helo=<client\.example\.test>", log), log[-2000:]
    assert re.search(r"NOQUEUE: reject: NOOP from unknown\[127\.0\.0\.1\]: "
                     r"bare <LF> received; proto=ESMTP "
                     r"helo=<client\.example\.test>", log), log[-2000:]


def test_bare_newline_normalize_needs_crlf_dot_crlf(more):
    c = connect(more.ports.norm)
    c.send(b"MAIL FROM:<n@example.org>\n")
    assert c.reply() == "250 2.1.0 Ok"
    assert c.cmd("RCPT TO:<user@example.test>") == "250 2.1.5 Ok"
    assert c.cmd("DATA").startswith("354")
    # ".\n" and "\n.\r\n" do not end the data; "\r\n.\r\n" does.
    c.send(b"Subject: t\r\n\r\none\n.\nstill\n.\r\nmore\r\n.\r\n")
    qid = queued_id(c.reply())
    c.close()
    assert wait_for(lambda: [qid, "user@example.test"]
                    in records(more.out / "deliveries"), 20)
    text = (more.out / "deliveries").read_text()
    body = text.split(f"{qid} user@example.test\n", 1)[1]
    assert "\tstill\n" in body and "\tmore\n" in body


def test_bare_newline_exclusions(more):
    # The default exclusions are $mynetworks: 127.0.0.1 is exempt.
    c = connect(more.ports.excl)
    c.send(b"NOOP\n")
    assert c.reply() == "250 2.0.0 Ok"
    c.close()


# ---- the Received: header with TLS ------------------------------------------------


def test_received_header_tls_comment(more):
    import socket
    import ssl
    sock = socket.create_connection(("127.0.0.1", more.ports.tls), timeout=15)
    c = Raw(more.ports.tls, sock=sock)
    assert c.reply().startswith("220 ")
    assert "STARTTLS" in c.cmd("EHLO tls.example")
    assert c.cmd("STARTTLS").startswith("220 ")
    ctx = tls_client_context()
    tls = ctx.wrap_socket(sock, server_hostname=MYHOST)
    c = Raw(more.ports.tls, sock=tls)
    c.cmd("EHLO tls.example")
    assert c.cmd("MAIL FROM:<t@example.org>") == "250 2.1.0 Ok"
    assert c.cmd("RCPT TO:<user@example.test>") == "250 2.1.5 Ok"
    assert c.cmd("DATA").startswith("354")
    c.send(b"Subject: tls\r\n\r\nx\r\n.\r\n")
    qid = queued_id(c.reply())
    c.close()
    assert wait_for(lambda: [qid, "user@example.test"]
                    in records(more.out / "deliveries"), 20)
    text = (more.out / "deliveries").read_text()
    body = text.split(f"{qid} user@example.test\n", 1)[1]
    lines = [l[1:] for l in body.splitlines()[:6]]
    assert re.fullmatch(r"\t\(using TLSv1\.3 with cipher TLS_\w+ "
                        r"\(\d+/\d+ bits\)", lines[1]), lines
    assert re.fullmatch(r"\t key-exchange X25519 server-signature ECDSA "
                        r"\(prime256v1\) server-digest SHA256\)", lines[2]), lines
    assert lines[3] == "\t(No client certificate requested)", lines
    # The same text as Debian's Postfix 3.7 (OpenSSL 3) writes for this
    # certificate: "server-signature ECDSA (prime256v1)".
    assert lines[4].startswith(f"\tby {MYHOST} (Postern) with ESMTPS id "), \
        lines


# ---- smtpd_per_request_deadline and smtpd_min_data_rate -------------------------


def trickle(port, seconds):
    """DATA content one byte every 0.4 s for SECONDS, then the end."""
    c = connect(port)
    assert c.cmd("MAIL FROM:<slow@example.org>") == "250 2.1.0 Ok"
    assert c.cmd("RCPT TO:<user@example.test>") == "250 2.1.5 Ok"
    assert c.cmd("DATA").startswith("354")
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            c.send(b"x")
            time.sleep(0.4)
        c.send(b"\r\n.\r\n")
        return c.reply()
    except (BrokenPipeError, ConnectionResetError):
        try:
            return c.reply()  # the server's last words, if they arrived
        except (OSError, EOFError):
            return "<closed>"
    finally:
        c.close()


def test_per_read_timeout_lets_a_slow_client_finish(more):
    # smtpd_timeout applies to each read: 0.4 s gaps never reach 2 s.
    assert trickle(more.ports.perread, 3.5).startswith("250 2.0.0 Ok: queued")


def test_per_request_deadline_ends_a_slow_transfer(more):
    # 2 s for the whole DATA, moved 1 ms per byte (1000 bytes/s): a byte
    # every 0.4 s is far too slow.
    mark = len(more.log_text())
    reply = trickle(more.ports.deadline, 3.5)
    assert reply == f"421 4.4.2 {MYHOST} Error: timeout exceeded", reply
    assert wait_for(lambda: re.search(
        r"timeout after DATA \(\d+ bytes\) from unknown\[127\.0\.0\.1\]",
        more.log_text()[mark:]))
