"""The SMTP server (issue 6, protocol part): one installed instance whose
master.cf runs cleanup, smtpd on several loopback ports with different
-o settings, and the test daemon triggerd standing in for qmgr (so ETRN's
wake-up shows in the log and accepted files stay in incoming/).

Real clients: Python smtplib, raw sockets (exact reply texts, pipelining,
bad input), the ssl module and swaks (STARTTLS with a certificate made
here with the openssl command). Queue files are read back with qfile.py.
"""

import os
import re
import shutil
import socket
import ssl
import subprocess
import time

import pytest

import qfile
from conftest import BUILD_DIR, Instance, add_program, free_ports, \
    layout_args, run_install
from test_master import Master, wait_for

TESTBIN = BUILD_DIR / "testbin"
MYHOST = "mail.example.test"
LOCAL_DOMAIN = "example.test"


class Ports:
    pass


@pytest.fixture(scope="module")
def smtpd(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the end-to-end tests install Postern and run as root")
    if not (TESTBIN / "triggerd").is_file():
        pytest.fail(f"{TESTBIN / 'triggerd'} is missing: run make first")
    root = tmp_path_factory.mktemp("smtpd")
    args = layout_args(root)
    run_install(args)
    inst = Instance(root, args)
    if not (inst.daemon_dir / "smtpd").is_file():
        pytest.fail("the install has no smtpd")
    add_program(TESTBIN / "triggerd", inst.daemon_dir / "triggerd")
    # A self-signed test certificate.
    cert = inst.config_dir / "cert.pem"
    key = inst.config_dir / "key.pem"
    res = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", f"/CN={MYHOST}"], capture_output=True, text=True,
        timeout=120)
    assert res.returncode == 0, res.stderr
    os.chmod(key, 0o600)
    access = inst.config_dir / "sender_access"
    access.write_text(
        "hold@example.org HOLD held by the test\n"
        "discard@example.org DISCARD dropped by the test\n"
        "redirect@example.org REDIRECT other@example.test\n"
        "prepend@example.org PREPEND X-Test: prepended\n")
    p = Ports()
    (p.main, p.strict, p.tls, p.encrypt, p.wrapper, p.notls,
     p.access, p.pipe, p.deny, p.names, p.slow, p.legacy) = free_ports(12)
    m = Master(inst, inst.main_cf.read_text())
    m.log.unlink(missing_ok=True)
    tls = f"-o smtpd_tls_cert_file={cert} -o smtpd_tls_key_file={key}"
    m.configure(
        ["cleanup unix n - y - 0 cleanup",
         "qmgr unix n - y 3600 1 triggerd",
         f"127.0.0.1:{p.main} inet n - y - - smtpd",
         f"127.0.0.1:{p.strict} inet n - y - - smtpd"
         " -o smtpd_helo_required=yes -o smtpd_recipient_limit=5"
         " -o smtpd_timeout=2s -o smtpd_hard_error_limit=4"
         " -o disable_vrfy_command=yes"
         " -o smtpd_discard_ehlo_keywords=dsn,chunking,etrn",
         f"127.0.0.1:{p.tls} inet n - y - - smtpd {tls}"
         " -o smtpd_tls_security_level=may"
         " -o smtpd_tls_received_header=yes",
         f"127.0.0.1:{p.encrypt} inet n - y - - smtpd {tls}"
         " -o smtpd_tls_security_level=encrypt",
         f"127.0.0.1:{p.wrapper} inet n - y - - smtpd {tls}"
         " -o smtpd_tls_wrappermode=yes",
         f"127.0.0.1:{p.notls} inet n - y - - smtpd"
         " -o smtpd_tls_security_level=may"
         " -o smtpd_discard_ehlo_keywords=enhancedstatuscodes",
         f"127.0.0.1:{p.access} inet n - y - - smtpd"
         f" -o smtpd_sender_restrictions=check_sender_access,"
         f"texthash:{access}",
         f"127.0.0.1:{p.pipe} inet n - y - - smtpd"
         " -o smtpd_data_restrictions=reject_unauth_pipelining",
         f"127.0.0.1:{p.deny} inet n - y - - smtpd"
         " -o smtpd_delay_reject=no -o smtpd_client_restrictions=reject",
         f"127.0.0.1:{p.names} inet n - n - - smtpd"
         " -o smtpd_peername_lookup=yes",
         f"127.0.0.1:{p.slow} inet n - y - - smtpd"
         " -o smtpd_soft_error_limit=2 -o smtpd_error_sleep_time=1s"
         " -o smtpd_junk_command_limit=3",
         f"127.0.0.1:{p.legacy} inet n - y - - smtpd {tls}"
         " -o smtpd_enforce_tls=yes"],
        myhostname=MYHOST,
        mydomain=LOCAL_DOMAIN,
        mydestination=f"{LOCAL_DOMAIN}, $myhostname",
        mynetworks="127.0.0.1/32",
        local_recipient_maps="",
        smtpd_relay_restrictions="permit_mynetworks, reject_unauth_destination",
        message_size_limit="200000",
        smtpd_error_sleep_time="0s",
        smtpd_peername_lookup="no",
        ipc_timeout="10s",
    )
    m.start()
    m.ports = p
    yield m
    reports = m.cleanup()
    assert not reports, f"sanitizer reports:\n{reports}"


# ---- helpers --------------------------------------------------------------


class Raw:
    """A raw SMTP client: send bytes, read whole replies."""

    def __init__(self, port, source="127.0.0.1", timeout=15, sock=None):
        if sock is None:
            sock = socket.create_connection(("127.0.0.1", port),
                                            timeout=timeout,
                                            source_address=(source, 0))
        self.sock = sock
        self.sock.settimeout(timeout)
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError(f"connection closed; have {self.buf!r}")
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def reply(self):
        """One reply; several lines are joined with "\\n"."""
        lines = [self.line()]
        while len(lines[-1]) > 3 and lines[-1][3] == "-":
            lines.append(self.line())
        return "\n".join(lines)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def cmd(self, text):
        self.send(text + "\r\n")
        return self.reply()

    def closed(self, timeout=5):
        """Does the server close the connection (after any pending data)?"""
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
                self.buf += data
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True

    def close(self):
        self.sock.close()


def connect(port, source="127.0.0.1", ehlo="client.example.test"):
    c = Raw(port, source)
    greeting = c.reply()
    assert greeting == f"220 {MYHOST} ESMTP Postern", greeting
    if ehlo:
        assert c.cmd(f"EHLO {ehlo}").startswith(f"250-{MYHOST}")
    return c


def queued_id(reply):
    m = re.match(r"^250 2\.0\.0 Ok: (?:\d+ bytes )?queued as (\S+)$", reply)
    assert m, reply
    return m.group(1)


def incoming(m, qid):
    assert wait_for(lambda: [p for p in qfile.queue_files(m.inst.queue_dir)
                             if p.name == qid], 5), \
        f"{qid} not in incoming/:\n{m.log_text()[-3000:]}"
    path = [p for p in qfile.queue_files(m.inst.queue_dir)
            if p.name == qid][0]
    return qfile.read(path)


def queue_count(m):
    return len(qfile.queue_files(m.inst.queue_dir))


def no_temp_files(m):
    return not qfile.queue_files(m.inst.queue_dir, temp=True)


def log_after(m, mark):
    return m.log_text()[mark:]


MESSAGE = ("From: sender@example.org\r\nTo: rcpt@example.test\r\n"
           "Subject: hello\r\n\r\nline one\r\n..dotted\r\nline three\r\n")


# ---- full transaction --------------------------------------------------------


def test_full_transaction_queues_envelope_and_dsn(smtpd):
    import smtplib
    mark = len(smtpd.log_text())
    with smtplib.SMTP("127.0.0.1", smtpd.ports.main, timeout=15) as s:
        s.ehlo("client.example.test")
        code, _ = s.mail("sender@example.org",
                         ["SIZE=300", "BODY=8BITMIME", "RET=HDRS",
                          "ENVID=env+2Bid"])
        assert code == 250
        code, msg = s.rcpt("rcpt@example.test",
                           ["NOTIFY=SUCCESS,FAILURE",
                            "ORCPT=rfc822;orig+40x@example.test"])
        assert (code, msg) == (250, b"2.1.5 Ok")
        code, msg = s.data(MESSAGE.replace("..dotted", ".dotted"))
        assert code == 250
        qid = queued_id(f"{code} {msg.decode()}")
    qf = incoming(smtpd, qid)
    assert qf.sender == "sender@example.org"
    assert len(qf.recipients) == 1
    r = qf.recipients[0]
    assert r.addr == "rcpt@example.test"
    assert r.notify == 0x02 | 0x04
    assert r.orcpt == "rfc822;orig@x@example.test"
    assert qf.dsn_ret == 2
    assert qf.dsn_envid == "env+id"
    assert qf.flags & 0x02  # 8BITMIME
    assert qf.attrs.get("client_address") == "127.0.0.1"
    assert qf.attrs.get("helo_name") == "client.example.test"
    assert qf.attrs.get("protocol_name") == "ESMTP"
    received = qf.header_lines[:3]
    assert received[0] == ("Received: from client.example.test "
                           "(unknown [127.0.0.1])"), received
    assert received[1] == f"\tby {MYHOST} (Postern) with ESMTP id {qid}"
    assert re.match(r"^\tfor <rcpt@example\.test>; \w{3}, [ \d]\d \w{3} "
                    r"\d{4} \d\d:\d\d:\d\d [+-]\d{4} \(.+\)$", received[2]), \
        received[2]
    assert ".dotted" in qf.body_lines and "line three" in qf.body_lines
    log = log_after(smtpd, mark)
    assert "connect from unknown[127.0.0.1]" in log
    assert f"{qid}: client=unknown[127.0.0.1]" in log
    assert wait_for(lambda: "disconnect from unknown[127.0.0.1] ehlo=1 mail=1 "
                    "rcpt=1 data=1 quit=1 commands=5" in log_after(smtpd, mark))


def test_ehlo_keywords_in_postfix_order(smtpd):
    c = connect(smtpd.ports.main, ehlo=None)
    assert c.cmd("EHLO x.example").split("\n") == [
        f"250-{MYHOST}", "250-PIPELINING", "250-SIZE 200000", "250-VRFY",
        "250-ETRN", "250-ENHANCEDSTATUSCODES", "250-8BITMIME", "250-DSN",
        "250-SMTPUTF8", "250 CHUNKING"]
    assert c.cmd("HELO x.example") == f"250 {MYHOST}"
    c.close()
    # smtpd_discard_ehlo_keywords and disable_vrfy_command.
    c = connect(smtpd.ports.strict, ehlo=None)
    assert c.cmd("EHLO x.example").split("\n") == [
        f"250-{MYHOST}", "250-PIPELINING", "250-SIZE 200000",
        "250-ENHANCEDSTATUSCODES", "250-8BITMIME", "250 SMTPUTF8"]
    assert c.cmd("MAIL FROM:<a@example.org> RET=FULL") == \
        "555 5.5.4 Unsupported option: RET=FULL"
    # As Postfix: the chunk cannot be told from commands, so it hangs up.
    assert c.cmd("BDAT 0 LAST") == "521 5.5.1 Error: command not implemented"
    assert c.closed()
    c.close()
    # STARTTLS is offered only with a certificate.
    c = connect(smtpd.ports.tls, ehlo=None)
    assert "250-STARTTLS" in c.cmd("EHLO x.example").split("\n")
    c.close()
    c = connect(smtpd.ports.notls, ehlo=None)
    ehlo = c.cmd("EHLO x.example")
    assert "STARTTLS" not in ehlo and "ENHANCEDSTATUSCODES" not in ehlo
    # Without ENHANCEDSTATUSCODES the replies have no X.Y.Z.
    assert c.cmd("STARTTLS") == "502 Error: command not implemented"
    assert c.cmd("MAIL FROM:<a@example.org>") == "250 Ok"
    c.close()
    assert "no server certificate" in smtpd.log_text()
    assert "discarding EHLO keywords: ETRN DSN CHUNKING" in smtpd.log_text()


def test_reply_codes(smtpd):
    c = connect(smtpd.ports.main)
    assert c.cmd("NOOP") == "250 2.0.0 Ok"
    assert c.cmd("RSET") == "250 2.0.0 Ok"
    assert c.cmd("HELP") == "500 5.5.2 Error: command not recognized"
    assert c.cmd("FOOBAR x") == "500 5.5.2 Error: command not recognized"
    assert c.cmd("RCPT TO:<a@example.test>") == \
        "503 5.5.1 Error: need MAIL command"
    assert c.cmd("DATA") == "503 5.5.1 Error: need RCPT command"
    assert c.cmd("MAIL FROM:<bad") == "501 5.1.7 Bad sender address syntax"
    assert c.cmd("MAIL TO:<a@b>") == "501 5.5.4 Syntax: MAIL FROM:<address>"
    assert c.cmd("MAIL FROM:<a@example.org> SIZE=999999999") == \
        "552 5.3.4 Message size exceeds fixed limit"
    assert c.cmd("MAIL FROM:<a@example.org> XYZ=1") == \
        "555 5.5.4 Unsupported option: XYZ=1"
    assert c.cmd("MAIL FROM:<a@example.org>") == "250 2.1.0 Ok"
    assert c.cmd("MAIL FROM:<a@example.org>") == \
        "503 5.5.1 Error: nested MAIL command"
    assert c.cmd("DATA") == "554 5.5.1 Error: no valid recipients"
    assert c.cmd("RCPT TO:<>") == "501 5.1.3 Bad recipient address syntax"
    assert c.cmd("RCPT TO:<a@example.test> NOTIFY=BOGUS") == \
        "501 5.5.4 Error: Bad NOTIFY parameter syntax"
    assert c.cmd("RCPT TO:<a@example.test>") == "250 2.1.5 Ok"
    assert c.cmd("DATA x") == "501 5.5.4 Syntax: DATA"
    assert c.cmd("VRFY a@example.test") == "252 2.0.0 a@example.test"
    assert c.cmd("VRFY") == "501 5.5.4 Syntax: VRFY address [SMTPUTF8]"
    assert c.cmd("ETRN example.test") == \
        "503 Error: MAIL transaction in progress"
    assert c.cmd("RSET") == "250 2.0.0 Ok"
    assert c.cmd("ETRN") == "500 Syntax: ETRN domain"
    assert c.cmd("ETRN example.test") == "250 Queuing started"
    assert c.cmd("STARTTLS") == "502 5.5.1 Error: command not implemented"
    assert c.cmd("HELO") == "501 Syntax: HELO hostname"
    assert c.cmd("QUIT") == "221 2.0.0 Bye"
    assert c.closed()
    assert wait_for(lambda: re.search(r"postern/triggerd\[\d+\]: trigger "
                                      r"qmgr/unix: Sexample\.test",
                                      smtpd.log_text()))
    assert wait_for(lambda: re.search(
        r"disconnect from unknown\[127\.0\.0\.1\] helo=0/1 ehlo=1 "
        r"starttls=0/1 mail=1/6 rcpt=1/4 data=0/3 rset=2 noop=1 vrfy=1/2 "
        r"etrn=1/3 quit=1 unknown=0/2 commands=9/27", smtpd.log_text())), \
        smtpd.log_text()[-1500:]


def test_disconnect_counts_failed_commands(smtpd):
    mark = len(smtpd.log_text())
    c = connect(smtpd.ports.main)
    c.cmd("MAIL FROM:<bad")
    c.cmd("MAIL FROM:<a@example.org>")
    c.cmd("BOGUS")
    c.cmd("QUIT")
    c.closed()
    assert wait_for(lambda: "disconnect from unknown[127.0.0.1] ehlo=1 "
                    "mail=1/2 quit=1 unknown=0/1 commands=3/5"
                    in log_after(smtpd, mark)), log_after(smtpd, mark)


def test_helo_required_and_vrfy_disabled(smtpd):
    c = connect(smtpd.ports.strict, ehlo=None)
    assert c.cmd("MAIL FROM:<a@example.org>") == \
        "503 5.5.1 Error: send HELO/EHLO first"
    assert c.cmd("VRFY a@example.test") == "502 5.5.1 VRFY command is disabled"
    assert c.cmd("HELO client.example") == f"250 {MYHOST}"
    assert c.cmd("MAIL FROM:<a@example.org>") == "250 2.1.0 Ok"
    c.close()


def test_pipelining_one_packet(smtpd):
    c = connect(smtpd.ports.main)
    c.send("MAIL FROM:<p@example.org>\r\nRCPT TO:<a@example.test>\r\n"
           "RCPT TO:<b@example.test>\r\nDATA\r\n")
    assert c.reply() == "250 2.1.0 Ok"
    assert c.reply() == "250 2.1.5 Ok"
    assert c.reply() == "250 2.1.5 Ok"
    assert c.reply().startswith("354 End data with <CR><LF>.<CR><LF>")
    c.send("Subject: piped\r\n\r\nbody\r\n.\r\nMAIL FROM:<q@example.org>\r\n"
           "RCPT TO:<c@example.test>\r\nRSET\r\nQUIT\r\n")
    qid = queued_id(c.reply())
    assert c.reply() == "250 2.1.0 Ok"
    assert c.reply() == "250 2.1.5 Ok"
    assert c.reply() == "250 2.0.0 Ok"
    assert c.reply() == "221 2.0.0 Bye"
    qf = incoming(smtpd, qid)
    assert qf.rcpt_addrs() == ["a@example.test", "b@example.test"]
    # Two recipients: the date goes on its own line.
    assert qf.header_lines[1].endswith(f"id {qid};")


def test_relay_control_mynetworks_and_outside(smtpd):
    c = connect(smtpd.ports.main)
    c.cmd("MAIL FROM:<a@example.org>")
    assert c.cmd("RCPT TO:<x@elsewhere.example>") == "250 2.1.5 Ok"
    c.close()
    c = connect(smtpd.ports.main, source="127.0.0.2")
    c.cmd("MAIL FROM:<a@example.org>")
    assert c.cmd("RCPT TO:<x@elsewhere.example>") == \
        "554 5.7.1 <x@elsewhere.example>: Relay access denied"
    assert c.cmd("RCPT TO:<local@example.test>") == "250 2.1.5 Ok"
    assert c.cmd("DATA").startswith("354")
    c.send("Subject: in\r\n\r\nhi\r\n.\r\n")
    qid = queued_id(c.reply())
    c.close()
    assert incoming(smtpd, qid).rcpt_addrs() == ["local@example.test"]
    assert re.search(r"NOQUEUE: reject: RCPT from unknown\[127\.0\.0\.2\]: "
                     r"554 5\.7\.1 <x@elsewhere\.example>: Relay access denied",
                     smtpd.log_text())


def test_long_line_nul_bytes_and_bare_lf(smtpd):
    c = connect(smtpd.ports.main)
    # As Postfix: the first line_length_limit bytes are the command.
    assert c.cmd("NOOP " + "x" * 10240) == "250 2.0.0 Ok"
    assert c.cmd("NOOP") == "250 2.0.0 Ok"
    c.send(b"NO\0OP\r\n")
    assert c.reply() == "500 5.5.2 Error: bad syntax"
    c.send(b"MAIL FROM:<a\0b@example.org>\r\n")
    assert c.reply() == "501 5.1.7 Bad sender address syntax"
    # Bare LF ends commands and content lines; a long content line is kept.
    long_line = "y" * 5000
    c.send("MAIL FROM:<lf@example.org>\nRCPT TO:<a@example.test>\nDATA\n")
    assert c.reply() == "250 2.1.0 Ok"
    assert c.reply() == "250 2.1.5 Ok"
    assert c.reply().startswith("354")
    c.send(f"Subject: lf\n\nbare\n{long_line}\r\nnul\0byte\r\n.\n")
    qid = queued_id(c.reply())
    c.close()
    qf = incoming(smtpd, qid)
    assert qf.body_lines[:3] == ["bare", long_line, "nul\0byte"]


def test_thousand_recipients_and_limit(smtpd):
    c = connect(smtpd.ports.main)
    cmds = "MAIL FROM:<many@example.org>\r\n" + "".join(
        f"RCPT TO:<r{i}@example.test>\r\n" for i in range(1001))
    c.send(cmds)
    assert c.reply() == "250 2.1.0 Ok"
    replies = [c.reply() for _ in range(1001)]
    assert replies[:1000] == ["250 2.1.5 Ok"] * 1000
    assert replies[1000] == "452 4.5.3 Error: too many recipients"
    assert c.cmd("DATA").startswith("354")
    c.send("Subject: many\r\n\r\nx\r\n.\r\n")
    qid = queued_id(c.reply())
    c.close()
    qf = incoming(smtpd, qid)
    assert len(qf.recipients) == 1000
    # Many recipients: no "for <...>" in Received:.
    assert "for <" not in "\n".join(qf.header_lines[:3])


def test_client_gone_mid_data_leaves_nothing(smtpd):
    mark = len(smtpd.log_text())
    before = queue_count(smtpd)
    c = connect(smtpd.ports.main)
    c.cmd("MAIL FROM:<gone@example.org>")
    c.cmd("RCPT TO:<a@example.test>")
    assert c.cmd("DATA").startswith("354")
    c.send("Subject: half\r\n\r\nsome text\r\n")
    time.sleep(0.3)
    c.close()
    assert wait_for(lambda: re.search(
        r"lost connection after DATA \(\d+ bytes\) from unknown\[127\.0\.0\.1\]",
        log_after(smtpd, mark)))
    assert wait_for(lambda: no_temp_files(smtpd))
    assert queue_count(smtpd) == before
    # The next client is served normally.
    c = connect(smtpd.ports.main)
    c.cmd("MAIL FROM:<next@example.org>")
    c.cmd("RCPT TO:<a@example.test>")
    c.cmd("DATA")
    c.send("Subject: next\r\n\r\nok\r\n.\r\n")
    queued_id(c.reply())
    c.close()


def test_timeout(smtpd):
    mark = len(smtpd.log_text())
    c = Raw(smtpd.ports.strict)
    c.reply()
    assert c.reply() == f"421 4.4.2 {MYHOST} Error: timeout exceeded"
    assert c.closed()
    assert wait_for(lambda: "timeout after CONNECT from unknown[127.0.0.1]"
                    in log_after(smtpd, mark))


def test_hard_error_limit(smtpd):
    mark = len(smtpd.log_text())
    c = connect(smtpd.ports.strict, ehlo=None)
    for _ in range(3):
        assert c.cmd("BOGUS") == "500 5.5.2 Error: command not recognized"
    assert c.cmd("BOGUS") == "500 5.5.2 Error: command not recognized"
    assert c.reply() == f"421 4.7.0 {MYHOST} Error: too many errors"
    assert c.closed()
    assert wait_for(lambda: "too many errors after UNKNOWN from" in
                    log_after(smtpd, mark))


def test_recipient_limit_and_size_limit(smtpd):
    c = connect(smtpd.ports.strict)
    c.cmd("MAIL FROM:<a@example.org>")
    for i in range(5):
        assert c.cmd(f"RCPT TO:<r{i}@example.test>") == "250 2.1.5 Ok"
    assert c.cmd("RCPT TO:<r6@example.test>") == \
        "452 4.5.3 Error: too many recipients"
    c.close()
    before = queue_count(smtpd)
    c = connect(smtpd.ports.main)
    c.cmd("MAIL FROM:<big@example.org>")
    c.cmd("RCPT TO:<a@example.test>")
    assert c.cmd("DATA").startswith("354")
    c.send("Subject: big\r\n\r\n" + ("z" * 999 + "\r\n") * 300 + ".\r\n")
    assert c.reply() == "552 5.3.4 Error: message file too big"
    assert c.cmd("NOOP") == "250 2.0.0 Ok"
    c.close()
    assert wait_for(lambda: no_temp_files(smtpd))
    assert queue_count(smtpd) == before


def test_bdat_chunking(smtpd):
    c = connect(smtpd.ports.main)
    # BDAT outside a transaction: the chunk is read and refused.
    c.send("BDAT 5\r\nhello")
    assert c.reply() == "503 5.5.1 Error: need RCPT command"
    c.send("BDAT 3 LAST\r\nabc")
    assert c.reply() == "551 5.0.0 Discarded 3 bytes after earlier error"
    # A bad BDAT ends the session, as Postfix's does (see below).
    c.cmd("MAIL FROM:<chunk@example.org>")
    c.cmd("RCPT TO:<a@example.test>")
    part1 = b"Subject: chunks\r\n\r\nfirst "
    part2 = b"line\r\n.not stuffed\r\nlast"
    c.send(b"BDAT %d\r\n" % len(part1) + part1)
    assert c.reply() == f"250 2.0.0 Ok: {len(part1)} bytes"
    assert c.cmd("DATA") == "503 5.5.1 Error: DATA after BDAT"
    c.send(b"BDAT %d LAST\r\n" % len(part2) + part2)
    qid = queued_id(c.reply())
    c.close()
    qf = incoming(smtpd, qid)
    assert qf.body_lines == ["first line", ".not stuffed", "last"]
    c = connect(smtpd.ports.main)
    assert c.cmd("BDAT x") == "521 5.5.4 Syntax: BDAT count [LAST]"
    assert c.closed()


def test_starttls_with_swaks(smtpd):
    if subprocess.run(["perl", "-MNet::SSLeay", "-e", "1"],
                      capture_output=True).returncode != 0:
        pytest.fail("swaks --tls needs Net::SSLeay: "
                    "apt-get install libnet-ssleay-perl")
    res = subprocess.run(
        ["swaks", "--server", f"127.0.0.1:{smtpd.ports.tls}", "--tls",
         "--from", "tls@example.org", "--to", "a@example.test",
         "--helo", "tls.client.example", "--timeout", "20"],
        capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    m = re.search(r"<~\s+250 2\.0\.0 Ok: queued as (\S+)", res.stdout)
    assert m, res.stdout
    qf = incoming(smtpd, m.group(1))
    text = "\n".join(qf.header_lines[:5])
    assert re.search(r"^\t\(using TLSv1\.[23] with cipher \S+ \(\d+/\d+ bits\)"
                     r"\n\t key-exchange \S+ server-signature .*\)$",
                     text, re.M), text
    assert "with ESMTPS id" in text
    assert qf.attrs.get("protocol_name") == "ESMTPS"


def tls_client_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def test_plaintext_injected_after_starttls_is_ignored(smtpd):
    mark = len(smtpd.log_text())
    c = connect(smtpd.ports.tls)
    # The command and injected plain text in one packet.
    c.send("STARTTLS\r\nMAIL FROM:<evil@example.org>\r\n")
    assert c.reply() == "220 2.0.0 Ready to start TLS"
    assert c.buf == b""
    tls = tls_client_context().wrap_socket(c.sock, server_hostname=MYHOST)
    t = Raw(None, sock=tls)
    # HELO state is gone after TLS; the injected MAIL got no reply.
    assert t.cmd("MAIL FROM:<a@example.org>") == "250 2.1.0 Ok"
    assert t.cmd("MAIL FROM:<a@example.org>") == \
        "503 5.5.1 Error: nested MAIL command"
    assert t.cmd("STARTTLS") == "554 5.5.1 Error: TLS already active"
    assert t.cmd("QUIT") == "221 2.0.0 Bye"
    tls.close()
    assert wait_for(lambda: "bytes of plaintext sent after STARTTLS" in
                    log_after(smtpd, mark))


def test_encrypt_level_requires_starttls(smtpd):
    c = connect(smtpd.ports.encrypt)
    assert c.cmd("MAIL FROM:<a@example.org>") == \
        "530 5.7.0 Must issue a STARTTLS command first"
    assert c.cmd("NOOP") == "250 2.0.0 Ok"
    assert c.cmd("STARTTLS") == "220 2.0.0 Ready to start TLS"
    tls = tls_client_context().wrap_socket(c.sock, server_hostname=MYHOST)
    t = Raw(None, sock=tls)
    assert t.cmd("EHLO x.example").startswith(f"250-{MYHOST}")
    assert t.cmd("MAIL FROM:<a@example.org>") == "250 2.1.0 Ok"
    tls.close()


def test_wrappermode(smtpd):
    sock = socket.create_connection(("127.0.0.1", smtpd.ports.wrapper),
                                    timeout=15)
    tls = tls_client_context().wrap_socket(sock, server_hostname=MYHOST)
    t = Raw(None, sock=tls)
    assert t.reply() == f"220 {MYHOST} ESMTP Postern"
    assert t.cmd("EHLO x.example").startswith(f"250-{MYHOST}")
    assert t.cmd("QUIT") == "221 2.0.0 Bye"
    tls.close()


def test_tls_garbage_then_next_client(smtpd):
    mark = len(smtpd.log_text())
    c = connect(smtpd.ports.tls)
    assert c.cmd("STARTTLS") == "220 2.0.0 Ready to start TLS"
    c.send(b"\x16\x03\x01\x00\x05garbage-not-tls\r\n")
    assert c.closed(10)
    assert wait_for(lambda: "lost connection after STARTTLS from "
                    "unknown[127.0.0.1]" in log_after(smtpd, mark))
    assert "SSL_accept error from unknown[127.0.0.1]" in log_after(smtpd, mark)
    c = connect(smtpd.ports.tls)
    assert c.cmd("NOOP") == "250 2.0.0 Ok"
    c.close()


def send_one(port, sender, rcpt="a@example.test"):
    c = connect(port)
    assert c.cmd(f"MAIL FROM:<{sender}>") == "250 2.1.0 Ok"
    assert c.cmd(f"RCPT TO:<{rcpt}>") == "250 2.1.5 Ok"
    assert c.cmd("DATA").startswith("354")
    c.send("Subject: action\r\n\r\nbody\r\n.\r\n")
    qid = queued_id(c.reply())
    c.close()
    return qid


def test_access_actions_reach_the_queue_file(smtpd):
    port = smtpd.ports.access
    qf = incoming(smtpd, send_one(port, "hold@example.org"))
    assert qf.flags & 0x08  # REC_FLAG_HOLD
    qf = incoming(smtpd, send_one(port, "redirect@example.org"))
    assert qf.rcpt_addrs() == ["other@example.test"]
    qf = incoming(smtpd, send_one(port, "prepend@example.org"))
    assert qf.header_lines[0] == "X-Test: prepended"
    assert qf.header_lines[1].startswith("Received: from ")
    before = queue_count(smtpd)
    qid = send_one(port, "discard@example.org")
    assert wait_for(lambda: no_temp_files(smtpd))
    assert qfile.find(smtpd.inst.queue_dir, qid) is None
    assert queue_count(smtpd) == before
    qf = incoming(smtpd, send_one(port, "plain@example.org"))
    assert qf.flags & 0x08 == 0 and qf.rcpt_addrs() == ["a@example.test"]


def test_reject_unauth_pipelining(smtpd):
    rejected = ("503 5.5.0 <DATA>: Data command rejected: Improper use of "
                "SMTP command pipelining")
    # HELO (no PIPELINING offered) and more commands in one packet.
    c = Raw(smtpd.ports.pipe)
    c.reply()
    c.send("HELO x.example\r\nMAIL FROM:<a@example.org>\r\n"
           "RCPT TO:<b@example.test>\r\nDATA\r\n")
    assert [c.reply() for _ in range(4)] == [
        f"250 {MYHOST}", "250 2.1.0 Ok", "250 2.1.5 Ok", rejected]
    c.close()
    # After EHLO, MAIL/RCPT/DATA may go in one packet.
    c = connect(smtpd.ports.pipe)
    c.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\n"
           "DATA\r\n")
    assert [c.reply() for _ in range(3)][2].startswith("354")
    c.send("Subject: ok\r\n\r\nfine\r\n.\r\n")
    queued_id(c.reply())
    c.close()
    # Content sent before the 354 counts as improper pipelining.
    c = connect(smtpd.ports.pipe)
    c.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\n"
           "DATA\r\nSubject: early\r\n\r\n.\r\n")
    assert [c.reply() for _ in range(3)][2] == rejected
    c.close()


def test_client_rejected_at_connect_without_delay_reject(smtpd):
    c = Raw(smtpd.ports.deny)
    greeting = c.reply()
    assert greeting.startswith("554 5.7.1 "), greeting
    assert c.cmd("EHLO x.example") == \
        "503 5.7.0 Error: access denied for unknown[127.0.0.1]"
    assert c.cmd("MAIL FROM:<a@example.org>") == \
        "503 5.7.0 Error: access denied for unknown[127.0.0.1]"
    assert c.cmd("QUIT") == "221 2.0.0 Bye"
    assert c.closed()


def expected_name(addr):
    """The verified name Postfix would give ADDR: reverse, then forward."""
    try:
        name = socket.gethostbyaddr(addr)[0].lower()
        infos = socket.getaddrinfo(name, None)
    except OSError:
        return "unknown"
    return name if addr in {i[4][0] for i in infos} else "unknown"


def test_client_name_is_verified(smtpd):
    mark = len(smtpd.log_text())
    c = connect(smtpd.ports.names)
    c.cmd("MAIL FROM:<a@example.org>")
    c.cmd("RCPT TO:<b@example.test>")
    c.cmd("DATA")
    c.send("Subject: names\r\n\r\nx\r\n.\r\n")
    qid = queued_id(c.reply())
    c.close()
    name = expected_name("127.0.0.1")
    assert wait_for(lambda: f"connect from {name}[127.0.0.1]"
                    in log_after(smtpd, mark)), log_after(smtpd, mark)
    qf = incoming(smtpd, qid)
    assert qf.attrs.get("client_name") == name
    assert qf.header_lines[0] == \
        f"Received: from client.example.test ({name} [127.0.0.1])"


def test_smtputf8_flag_and_utf8_addresses(smtpd):
    c = connect(smtpd.ports.main)
    c.send("MAIL FROM:<j\u00f6rg@example.org> SMTPUTF8\r\n".encode())
    assert c.reply() == "250 2.1.0 Ok"
    c.send("RCPT TO:<\u00fcser@example.test>\r\n".encode())
    assert c.reply() == "250 2.1.5 Ok"
    assert c.cmd("DATA").startswith("354")
    c.send("Subject: utf8\r\n\r\nx\r\n.\r\n")
    qid = queued_id(c.reply())
    c.close()
    qf = incoming(smtpd, qid)
    assert qf.flags & 0x04  # REC_FLAG_SMTPUTF8
    assert qf.sender == "j\u00f6rg@example.org"
    assert qf.rcpt_addrs() == ["\u00fcser@example.test"]


def test_soft_error_limit_and_junk_commands(smtpd):
    def timed(c, text):
        start = time.monotonic()
        reply = c.cmd(text)
        return reply, time.monotonic() - start

    c = connect(smtpd.ports.slow)
    for _ in range(4):
        # The fourth NOOP is past smtpd_junk_command_limit: one error.
        reply, took = timed(c, "NOOP")
        assert reply == "250 2.0.0 Ok" and took < 0.8, (reply, took)
    reply, took = timed(c, "BOGUS")
    assert reply == "500 5.5.2 Error: command not recognized"
    assert took >= 0.9, took
    reply, took = timed(c, "NOOP")
    assert reply == "250 2.0.0 Ok" and took >= 0.9, took
    c.close()


def test_timeout_mid_data_leaves_nothing(smtpd):
    mark = len(smtpd.log_text())
    before = queue_count(smtpd)
    c = connect(smtpd.ports.strict)
    c.cmd("MAIL FROM:<slow@example.org>")
    c.cmd("RCPT TO:<a@example.test>")
    assert c.cmd("DATA").startswith("354")
    c.send("Subject: slow\r\n\r\npartial")
    assert c.reply() == f"421 4.4.2 {MYHOST} Error: timeout exceeded"
    assert c.closed()
    assert wait_for(lambda: re.search(
        r"timeout after DATA \(\d+ bytes\) from unknown\[127\.0\.0\.1\]",
        log_after(smtpd, mark)))
    assert wait_for(lambda: no_temp_files(smtpd))
    assert queue_count(smtpd) == before


def test_obsolete_enforce_tls(smtpd):
    c = connect(smtpd.ports.legacy, ehlo=None)
    assert "250-STARTTLS" in c.cmd("EHLO x.example").split("\n")
    assert c.cmd("MAIL FROM:<a@example.org>") == \
        "530 5.7.0 Must issue a STARTTLS command first"
    c.close()
