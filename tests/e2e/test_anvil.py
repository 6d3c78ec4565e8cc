"""The anvil service and smtpd's per-client limits (issue 6): one installed
instance whose master.cf runs anvil, cleanup, a triggerd standing in for
qmgr, and smtpd on several loopback ports, each with one limit set by -o.

Clients connect from 127.0.0.2 (outside mynetworks = 127.0.0.1/32, so
subject to the limits) and from 127.0.0.1 (in mynetworks, which is the
default of smtpd_client_event_limit_exceptions: never limited). Each
smtpd port is its own master.cf service, so anvil counts each apart
("SERVICE:ADDRESS"). Checked: Postfix's replies and warnings, anvil's
"statistics:" lines, smtpd going on without limits (one warning) when
anvil is gone, and master restarting a killed anvil.
"""

import os
import re
import signal
import socket
import ssl
import time

import pytest

from conftest import BUILD_DIR, Instance, add_program, free_ports, \
    layout_args, run_install
from test_master import Master, wait_for
from test_smtpd import Raw
from tlscert import make_test_certs

TESTBIN = BUILD_DIR / "testbin"
MYHOST = "mail.example.test"
OUTSIDE = "127.0.0.2"
INSIDE = "127.0.0.1"


class Ports:
    pass


def services(p, with_anvil=True):
    tls = f"-o smtpd_tls_cert_file={p.cert} -o smtpd_tls_key_file={p.key}"
    lines = ["cleanup unix n - y - 0 cleanup",
             "qmgr unix n - y 3600 1 triggerd",
             f"127.0.0.1:{p.count} inet n - y - - smtpd"
             " -o smtpd_client_connection_count_limit=2",
             f"127.0.0.1:{p.rate} inet n - y - - smtpd"
             " -o smtpd_client_connection_count_limit=0"
             " -o smtpd_client_connection_rate_limit=3",
             f"127.0.0.1:{p.mail} inet n - y - - smtpd"
             " -o smtpd_client_message_rate_limit=2",
             f"127.0.0.1:{p.rcpt} inet n - y - - smtpd"
             " -o smtpd_client_recipient_rate_limit=3",
             f"127.0.0.1:{p.free} inet n - y - - smtpd"
             " -o smtpd_client_connection_count_limit=2"
             " -o smtpd_client_event_limit_exceptions=127.0.0.0/8",
             f"127.0.0.1:{p.tls} inet n - y - - smtpd {tls}"
             " -o smtpd_tls_security_level=may"
             " -o smtpd_tls_session_cache_timeout=0"
             " -o smtpd_client_new_tls_session_rate_limit=1"]
    if with_anvil:
        lines.append("anvil unix - - y - 1 anvil -o ipc_timeout=2s")
    return lines


@pytest.fixture(scope="module")
def anvil(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the end-to-end tests install Postern and run as root")
    if not (TESTBIN / "triggerd").is_file():
        pytest.fail(f"{TESTBIN / 'triggerd'} is missing: run make first")
    root = tmp_path_factory.mktemp("anvil")
    args = layout_args(root)
    run_install(args)
    inst = Instance(root, args)
    for prog in ("smtpd", "anvil"):
        if not (inst.daemon_dir / prog).is_file():
            pytest.fail(f"the install has no {prog}")
    add_program(TESTBIN / "triggerd", inst.daemon_dir / "triggerd")
    p = Ports()
    p.count, p.rate, p.mail, p.rcpt, p.free, p.tls = free_ports(6)
    certs = make_test_certs(root / "tls", names=[MYHOST])
    p.cert, p.key = certs.cert, certs.key
    m = Master(inst, inst.main_cf.read_text())
    m.log.unlink(missing_ok=True)
    m.configure(
        services(p),
        myhostname=MYHOST,
        mydomain="example.test",
        mydestination="example.test, $myhostname",
        mynetworks="127.0.0.1/32",
        local_recipient_maps="",
        smtpd_relay_restrictions="permit_mynetworks, "
                                 "reject_unauth_destination",
        smtpd_error_sleep_time="0s",
        smtpd_peername_lookup="no",
        anvil_status_update_time="2s",
        ipc_timeout="10s",
    )
    m.start()
    m.ports = p
    yield m
    reports = m.cleanup()
    assert not reports, f"sanitizer reports:\n{reports}"


def greet(port, source):
    """Connect from SOURCE; return the client and the greeting."""
    c = Raw(port, source)
    return c, c.reply()


def quit(c):
    assert c.cmd("QUIT").startswith("221 ")
    c.close()


def too_many(port_service_addr):
    return f"421 4.7.0 {MYHOST} Error: too many connections from " \
        f"{port_service_addr}"


def service(port):
    return f"127.0.0.1:{port}"


def test_connection_count_limit(anvil):
    port = anvil.ports.count
    before = anvil.log_count("Connection concurrency limit exceeded")
    a, ga = greet(port, OUTSIDE)
    b, gb = greet(port, OUTSIDE)
    assert ga.startswith("220 ") and gb.startswith("220 "), (ga, gb)
    c, gc = greet(port, OUTSIDE)
    assert gc == too_many(OUTSIDE)
    assert c.closed(), "the session did not end after the 421"
    c.close()
    assert wait_for(lambda: anvil.log_count(
        "warning: Connection concurrency limit exceeded: 3 from "
        f"unknown[{OUTSIDE}] for service {service(port)}") == before + 1), \
        anvil.log_text()[-3000:]
    # 127.0.0.1 is in mynetworks: the exceptions' default.
    inside = [greet(port, INSIDE) for _ in range(4)]
    for conn, g in inside:
        assert g.startswith("220 "), g
    for conn, g in inside:
        quit(conn)
    # A closed connection frees its place.
    done = anvil.log_count(f"disconnect from unknown[{OUTSIDE}]")
    quit(a)
    assert wait_for(lambda: anvil.log_count(
        f"disconnect from unknown[{OUTSIDE}]") > done)
    d, gd = greet(port, OUTSIDE)
    assert gd.startswith("220 "), gd
    quit(d)
    quit(b)


def test_exceptions_parameter(anvil):
    """smtpd_client_event_limit_exceptions = 127.0.0.0/8 on this port."""
    port = anvil.ports.free
    conns = [greet(port, OUTSIDE) for _ in range(4)]
    for conn, g in conns:
        assert g.startswith("220 "), g
    for conn, g in conns:
        quit(conn)


def test_connection_rate_limit(anvil):
    port = anvil.ports.rate
    for i in range(3):
        c, g = greet(port, OUTSIDE)
        assert g.startswith("220 "), (i, g)
        quit(c)
    c, g = greet(port, OUTSIDE)
    assert g == too_many(OUTSIDE)
    assert c.closed()
    c.close()
    assert wait_for(lambda: anvil.log_count(
        "warning: Connection rate limit exceeded: 4 from "
        f"unknown[{OUTSIDE}] for service {service(port)}") == 1), \
        anvil.log_text()[-3000:]
    # Other clients are counted apart, and exceptions not at all.
    for i in range(5):
        c, g = greet(port, INSIDE)
        assert g.startswith("220 "), (i, g)
        quit(c)


def test_message_rate_limit(anvil):
    port = anvil.ports.mail
    c, g = greet(port, OUTSIDE)
    assert g.startswith("220 ")
    assert c.cmd("EHLO client.example.test").startswith("250-")
    # A whole message counts as one.
    assert c.cmd("MAIL FROM:<a@example.org>") == "250 2.1.0 Ok"
    assert c.cmd("RCPT TO:<user@example.test>") == "250 2.1.5 Ok"
    assert c.cmd("DATA").startswith("354 ")
    assert c.cmd("Subject: t\r\n\r\nbody\r\n.").startswith(
        "250 2.0.0 Ok: queued as ")
    assert c.cmd("MAIL FROM:<a@example.org>") == "250 2.1.0 Ok"
    assert c.cmd("RSET") == "250 2.0.0 Ok"
    assert c.cmd("MAIL FROM:<a@example.org>") == \
        f"450 4.7.1 Error: too much mail from {OUTSIDE}"
    # The session goes on; the client may still quit politely.
    assert c.cmd("NOOP") == "250 2.0.0 Ok"
    quit(c)
    assert wait_for(lambda: anvil.log_count(
        "warning: Message delivery request rate limit exceeded: 3 from "
        f"unknown[{OUTSIDE}] for service {service(port)}") == 1), \
        anvil.log_text()[-3000:]
    # Not for an exception.
    c, g = greet(port, INSIDE)
    for _ in range(4):
        assert c.cmd("MAIL FROM:<a@example.org>") == "250 2.1.0 Ok"
        assert c.cmd("RSET") == "250 2.0.0 Ok"
    quit(c)


def test_recipient_rate_limit(anvil):
    port = anvil.ports.rcpt
    c, g = greet(port, OUTSIDE)
    assert c.cmd("EHLO client.example.test").startswith("250-")
    assert c.cmd("MAIL FROM:<a@example.org>") == "250 2.1.0 Ok"
    for i in range(3):
        assert c.cmd(f"RCPT TO:<u{i}@example.test>") == "250 2.1.5 Ok"
    assert c.cmd("RCPT TO:<u9@example.test>") == \
        f"450 4.7.1 Error: too many recipients from {OUTSIDE}"
    quit(c)
    assert wait_for(lambda: anvil.log_count(
        "warning: Recipient address rate limit exceeded: 4 from "
        f"unknown[{OUTSIDE}] for service {service(port)}") == 1)


def starttls(port, source):
    c, g = greet(port, source)
    assert g.startswith("220 "), g
    assert "STARTTLS" in c.cmd("EHLO client.example.test")
    return c, c.cmd("STARTTLS")


def test_new_tls_session_rate_limit(anvil):
    port = anvil.ports.tls
    c, r = starttls(port, OUTSIDE)
    assert r == "220 2.0.0 Ready to start TLS", r
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    tls = Raw(port, sock=ctx.wrap_socket(c.sock, server_hostname=MYHOST))
    assert tls.cmd("EHLO client.example.test").startswith("250-")
    assert tls.cmd("QUIT").startswith("221 ")
    tls.close()
    # The second new session in the time unit is refused; the session
    # goes on in plain text.
    c, r = starttls(port, OUTSIDE)
    assert r == f"454 4.7.0 Error: too many new TLS sessions from {OUTSIDE}"
    assert c.cmd("NOOP") == "250 2.0.0 Ok"
    quit(c)
    assert wait_for(lambda: anvil.log_count(
        "warning: New TLS session rate limit exceeded: 1 from "
        f"unknown[{OUTSIDE}] for service {service(port)}") == 1), \
        anvil.log_text()[-3000:]
    c, r = starttls(port, INSIDE)
    assert r == "220 2.0.0 Ready to start TLS", r
    c.close()


def anvil_socket(m):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(str(m.inst.queue_dir / "private" / "anvil"))
    return s


def netstrings(*pairs):
    out = b""
    for name, value in pairs:
        for x in (name, value):
            x = x.encode()
            out += str(len(x)).encode() + b":" + x + b","
    return out + b"0:,"


def read_closed(s):
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            return data
        data += chunk


def test_anvil_protocol_errors(anvil):
    """Bad requests get a warning and a closed connection; anvil lives on
    and answers the next client."""
    cases = [
        (b"garbage", "anvil client: malformed request"),
        (netstrings(("request", "explode"), ("ident", "smtp:1.2.3.4")),
         'anvil client: bad request: unknown request "explode"'),
        (netstrings(("request", "connect"), ("ident", "a b")),
         "anvil client: bad request: bad ident value"),
        (netstrings(("request", "connect")),
         'anvil client: bad request: attr_scan: missing attribute "ident"'),
        (b"9999999:", "anvil client: malformed request"),
    ]
    pids = anvil.children("anvil")
    for data, warning in cases:
        before = anvil.log_count(warning)
        s = anvil_socket(anvil)
        s.sendall(data)
        assert read_closed(s) == b"", data
        s.close()
        assert wait_for(lambda: anvil.log_count(warning) > before), \
            (warning, anvil.log_text()[-2000:])
    # Connections registered by a client are released when it goes away.
    s = anvil_socket(anvil)
    req = netstrings(("request", "connect"), ("ident", "test:192.0.2.1"))
    s.sendall(req + req)
    time.sleep(0.3)
    reply = s.recv(4096)
    assert b"5:count,1:2," in reply, reply
    s.close()
    time.sleep(0.3)
    s = anvil_socket(anvil)
    s.sendall(netstrings(("request", "lookup"), ("ident", "test:192.0.2.1")))
    reply = s.recv(4096)
    assert b"5:count,1:0," in reply and b"4:rate,1:2," in reply, reply
    s.close()
    assert anvil.children("anvil") == pids


def test_anvil_stalled_and_greedy_clients(anvil):
    """A request left unfinished for ipc_timeout (2s here), and a client
    that never reads its replies, are cut off; anvil lives on."""
    pids = anvil.children("anvil")
    s = anvil_socket(anvil)
    s.sendall(b"7:request,7:con")
    start = time.time()
    assert read_closed(s) == b""
    assert 1.5 < time.time() - start < 8
    s.close()
    assert wait_for(lambda: "warning: anvil client: timeout after 2s in the "
                    "middle of a request" in anvil.log_text())
    s = anvil_socket(anvil)
    req = netstrings(("request", "lookup"), ("ident", "greedy:192.0.2.1"))
    try:
        for _ in range(200):
            s.sendall(req * 100)
    except OSError:
        pass
    s.close()
    assert wait_for(lambda: "warning: anvil client: does not read its "
                    "replies" in anvil.log_text()), anvil.log_text()[-2000:]
    assert anvil.children("anvil") == pids
    s = anvil_socket(anvil)
    s.sendall(netstrings(("request", "lookup"), ("ident", "x:1")))
    assert s.recv(4096).startswith(b"6:status,1:0,")
    s.close()


def test_statistics_lines(anvil):
    """anvil_status_update_time = 2s: the maxima appear in the log."""
    pat = re.compile(
        r"postern/anvil\[\d+\]: statistics: max connection rate (\d+)/60s "
        r"for \(127\.0\.0\.1:\d+:127\.0\.0\.2\) at "
        r"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d$", re.M)
    assert wait_for(lambda: pat.search(anvil.log_text()), 10), \
        anvil.log_text()[-3000:]
    assert re.search(r"statistics: max connection count \d+ for "
                     r"\(127\.0\.0\.1:\d+:127\.0\.0\.\d\) at ",
                     anvil.log_text())
    assert re.search(r"statistics: max message rate \d+/60s for "
                     r"\(127\.0\.0\.1:\d+:127\.0\.0\.2\) at ",
                     anvil.log_text())
    assert re.search(r"statistics: max cache size \d+ at ",
                     anvil.log_text())


def test_killed_anvil_is_restarted(anvil):
    port = anvil.ports.count
    pids = anvil.children("anvil")
    assert len(pids) == 1, pids
    os.kill(pids[0], signal.SIGKILL)
    # smtpd keeps serving; its broken anvil connection is reopened and
    # master starts a new anvil, which enforces the limit again.
    a, ga = greet(port, OUTSIDE)
    b, gb = greet(port, OUTSIDE)
    assert ga.startswith("220 ") and gb.startswith("220 "), (ga, gb)
    assert wait_for(lambda: anvil.children("anvil")
                    and anvil.children("anvil") != pids, 10)
    c, gc = greet(port, OUTSIDE)
    assert gc == too_many(OUTSIDE)
    c.close()
    quit(a)
    quit(b)


def test_no_anvil_no_limits(anvil):
    """Without the anvil service smtpd serves everyone, with one warning
    per smtpd process."""
    p = anvil.ports
    anvil.write_master_cf(services(p, with_anvil=False))
    anvil.reload()
    assert wait_for(lambda: not anvil.children("anvil"), 10)
    time.sleep(0.5)
    conns = [greet(p.count, OUTSIDE) for _ in range(4)]
    for conn, g in conns:
        assert g.startswith("220 "), g
    for conn, g in conns:
        quit(conn)
    assert wait_for(lambda: "warning: anvil service unavailable: " in
                    anvil.log_text())
    line = [x for x in anvil.log_text().splitlines()
            if "anvil service unavailable" in x][0]
    assert "client limits are not enforced" in line, line
    # Back with anvil: limits again.
    anvil.write_master_cf(services(p))
    anvil.reload()
    time.sleep(0.5)
    a, ga = greet(p.count, OUTSIDE)
    b, gb = greet(p.count, OUTSIDE)
    assert ga.startswith("220 ") and gb.startswith("220 ")
    # smtpd processes that failed wait ANVIL_RETRY_DELAY (5s) before
    # asking again; new ones ask at once.
    deadline = time.time() + 15
    while True:
        c, gc = greet(p.count, OUTSIDE)
        c.close()
        if gc == too_many(OUTSIDE) or time.time() > deadline:
            break
        time.sleep(0.5)
    assert gc == too_many(OUTSIDE)
    quit(a)
    quit(b)
