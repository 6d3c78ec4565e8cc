"""smtpd against Debian's Postfix as a test oracle (issue 6): the same SMTP
dialogues go to Postern's smtpd and to a private Postfix instance (its own
config, queue and data folders, postfix -c DIR start, a free 127.0.0.1
port), and their replies must have the same codes and, unless a dialogue
says otherwise, the same texts. Both use the same myhostname, so only
"Postfix"/"Postern" in the banner and queue IDs are normalised.

Skipped when Postfix (/usr/sbin/postfix) is not installed.
"""

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import BUILD_DIR, Instance, add_program, free_ports, \
    layout_args, run_install
from test_master import Master, wait_for
import qfile
from test_smtpd import MYHOST, LOCAL_DOMAIN, Raw, tls_client_context

POSTFIX = Path("/usr/sbin/postfix")
POSTCONF = Path("/usr/sbin/postconf")
TESTBIN = BUILD_DIR / "testbin"

pytestmark = pytest.mark.skipif(not POSTFIX.is_file(),
                                reason="Postfix is not installed")

# What both instances get in main.cf.
COMMON = {
    "myhostname": MYHOST,
    "mydomain": LOCAL_DOMAIN,
    "mydestination": f"{LOCAL_DOMAIN}, $myhostname",
    "mynetworks": "127.0.0.1/32",
    "local_recipient_maps": "",
    "smtpd_relay_restrictions":
        "permit_mynetworks, reject_unauth_destination",
    "message_size_limit": "200000",
    "smtpd_error_sleep_time": "0s",
    "smtpd_peername_lookup": "no",
    "smtpd_client_connection_count_limit": "0",
    "smtpd_client_connection_rate_limit": "0",
}

# Per-port settings: the same -o overrides on both sides.
VARIANTS = {
    "main": "",
    "footer": " -o { smtpd_reject_footer = Contact postmaster@$mydomain"
              " (\\c$client_address) } -o smtpd_sender_restrictions="
              "reject_non_fqdn_sender",
    "footer2": " -o { smtpd_reject_footer = \\c - ask ${server_name}\\n"
               "client=$client_address $$x } -o smtpd_hard_error_limit=3",
    "bare": " -o smtpd_forbid_bare_newline=reject"
            " -o smtpd_forbid_bare_newline_exclusions=",
    "norm": " -o smtpd_forbid_bare_newline=normalize"
            " -o smtpd_forbid_bare_newline_exclusions=",
    "errors": " -o smtpd_hard_error_limit=3",
    "pipe": " -o smtpd_data_restrictions=reject_unauth_pipelining",
    # {cert}, {key}, {hold}: files made by the fixture.
    "tls": " -o smtpd_tls_cert_file={cert} -o smtpd_tls_key_file={key}"
           " -o smtpd_tls_security_level=may -o smtpd_tls_received_header=yes"
           " -o smtpd_data_restrictions=check_client_access,texthash:{hold}",
    "deny": " -o smtpd_delay_reject=no -o smtpd_client_restrictions=reject",
    "strict": " -o smtpd_discard_ehlo_keywords=chunking,etrn,vrfy"
              " -o smtpd_helo_required=yes -o disable_vrfy_command=yes",
}


def _run(argv, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 120)
    kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run([str(a) for a in argv], **kw)


class PostfixOracle:
    def __init__(self, root, ports):
        self.root = root
        self.etc = root / "etc"
        self.spool = root / "spool"
        self.data = root / "data"
        self.log = root / "maillog"
        self.ports = ports
        self.started = False

    def start(self):
        owner = pwd.getpwnam(_run([POSTCONF, "-dh", "mail_owner"])
                             .stdout.strip())
        for d in (self.etc, self.spool, self.data):
            d.mkdir(parents=True)
        os.chown(self.data, owner.pw_uid, owner.pw_gid)
        settings = dict(COMMON)
        settings.update({
            "compatibility_level": "3.6",
            "queue_directory": self.spool,
            "data_directory": self.data,
            "maillog_file": self.log,
            "maillog_file_prefixes": self.root,
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "alias_maps": "",
            "alias_database": "",
            "default_transport": "discard",
            "local_transport": "discard",
        })
        services = [f"127.0.0.1:{self.ports[k]} inet n - n - - smtpd{v}"
                    for k, v in self.variants.items()] + [
            "pickup unix n - n 60 1 pickup",
            "cleanup unix n - n - 0 cleanup",
            "qmgr unix n - n 300 1 qmgr",
            "bounce unix - - n - 0 bounce",
            "defer unix - - n - 0 bounce",
            "trace unix - - n - 0 bounce",
            "rewrite unix - - n - - trivial-rewrite",
            "showq unix n - n - - showq",
            "error unix - - n - - error",
            "retry unix - - n - - error",
            "discard unix - - n - - discard",
            "postlog unix-dgram n - n - 1 postlogd",
            "tlsmgr unix - - n 1000? 1 tlsmgr",
        ]
        (self.etc / "main.cf").write_text(
            "".join(f"{k} = {v}\n" for k, v in settings.items()))
        (self.etc / "master.cf").write_text("\n".join(services) + "\n")
        res = _run([POSTFIX, "-c", self.etc, "start"])
        self.started = True
        assert res.returncode == 0, res.stdout + res.stderr
        assert wait_for(lambda: _listening(self.ports["main"]), 20)

    def stop(self):
        if self.started:
            _run([POSTFIX, "-c", self.etc, "stop"])

    def log_text(self):
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""


def _listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the end-to-end tests install Postern and run as root")
    root = tmp_path_factory.mktemp("oracle")
    # Postfix's master opens data_directory as mail_owner, who cannot enter
    # pytest's private temporary folders: Postfix gets its own.
    pf_root = Path(tempfile.mkdtemp(prefix="postern-oracle-"))
    pf_root.chmod(0o755)
    files = {"cert": pf_root / "cert.pem", "key": pf_root / "key.pem",
             "hold": pf_root / "hold"}
    res = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(files["key"]),
         "-out", str(files["cert"]), "-days", "2", "-subj", f"/CN={MYHOST}"],
        capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    files["key"].chmod(0o600)
    files["hold"].write_text("127.0.0.1 HOLD\n")
    variants = dict(VARIANTS)
    for name, path in files.items():
        variants = {k: v.replace("{%s}" % name, str(path))
                    for k, v in variants.items()}
    names = list(VARIANTS)
    free = free_ports(2 * len(names))
    pf_ports = dict(zip(names, free[:len(names)]))
    pt_ports = dict(zip(names, free[len(names):]))
    args = layout_args(root / "postern")
    run_install(args)
    inst = Instance(root / "postern", args)
    add_program(TESTBIN / "triggerd", inst.daemon_dir / "triggerd")
    m = Master(inst, inst.main_cf.read_text())
    m.configure(
        ["cleanup unix n - y - 0 cleanup",
         "qmgr unix n - y 3600 1 triggerd"]
        + [f"127.0.0.1:{pt_ports[k]} inet n - y - - smtpd{v}"
           for k, v in variants.items()],
        **COMMON)
    pf = PostfixOracle(pf_root / "postfix", pf_ports)
    pf.variants = variants
    try:
        pf.start()
        m.start()
        assert wait_for(lambda: _listening(pt_ports["main"]), 20)
        m.ports = pt_ports
        yield m, pf
    finally:
        pf.stop()
        reports = m.cleanup()
        shutil.rmtree(pf_root, ignore_errors=True)
    assert not reports, f"sanitizer reports:\n{reports}"


# ---- dialogues ----------------------------------------------------------------
#
# A step is a str (a command: sent with CRLF, one reply read), ("raw", bytes)
# (sent, one reply read), ("send", bytes) (sent, no reply read) or
# ("read",) (one reply read). A closed connection reads as "<closed>".


def run_dialogue(port, steps, timeout=10):
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    buf = b""
    closed = False

    def line():
        nonlocal buf, closed
        while b"\r\n" not in buf:
            try:
                data = sock.recv(65536)
            except (ConnectionResetError, socket.timeout):
                data = b""
            if not data:
                closed = True
                return None
            buf += data
        text, buf = buf.split(b"\r\n", 1)
        return text.decode("utf-8", "replace")

    def reply():
        lines = []
        while True:
            ln = line()
            if ln is None:
                return "\n".join(lines + ["<closed>"])
            lines.append(ln)
            if len(ln) < 4 or ln[3] != "-":
                return "\n".join(lines)

    replies = [reply()]
    for step in steps:
        if isinstance(step, str):
            data, want = step.encode() + b"\r\n", True
        elif step[0] == "read":
            data, want = b"", True
        else:
            data, want = step[1], step[0] == "raw"
        if closed:
            replies.append("<closed>")
            continue
        try:
            if data:
                sock.sendall(data)
        except OSError:
            closed = True
        if want:
            replies.append(reply())
    sock.close()
    return replies


def normalise(text):
    text = re.sub(r"ESMTP Post(fix|ern)", "ESMTP MTA", text)
    text = re.sub(r"queued as [0-9A-Za-z]+", "queued as ID", text)
    return text


def codes(replies):
    return [r[:3] for r in replies]


RCPT = "RCPT TO:<user@example.test>"

# (name, variant, steps, compare): compare is "text" (whole replies) or
# "code" (reply codes only, the texts differ on purpose: see the comment).
DIALOGUES = [
    ("noop_rset_quit", "main",
     ["NOOP", "NOOP with arguments", "RSET", "RSET x", "QUIT"], "text"),
    ("helo_ehlo_syntax", "main",
     ["HELO", "EHLO", "HELO a b", "EHLO client.example.test", "QUIT"],
     "text"),
    ("unknown_and_help", "main",
     ["FOO", "HELP", "HELP MAIL", "AUTH PLAIN", "EHLO x", "FOO bar",
      "QUIT"], "text"),
    ("bad_syntax", "main",
     ["", " ", "EHLO x", "MAIL", "MAIL FROM", "MAIL TO:<a@b>", "MAIL FROM:",
      "MAIL FROM:<a@b", "MAIL FROM:<a@b> FOO=bar", "MAIL FROM:<a@b> SIZE=x",
      "MAIL FROM:<a@b> SIZE=999999999", "MAIL FROM:<a@b> BODY=x",
      "MAIL FROM:<a@b> RET=x",
      "MAIL FROM:<a@b> SMTPUTF8=x", "MAIL FROM:<a b@c>", "QUIT"], "text"),
    ("rcpt_syntax", "main",
     ["EHLO x", "RCPT TO:<a@example.test>", "MAIL FROM:<a@example.org>",
      "RCPT", "RCPT TO", "RCPT FROM:<a@b>", "RCPT TO:",
      "RCPT TO:<a@example.test", "RCPT TO:<a@example.test> FOO=1",
      "RCPT TO:<a@example.test> NOTIFY=bad",
      "RCPT TO:<a@example.test> ORCPT=bad", "RCPT TO:<>",
      "RCPT TO:<a@elsewhere.test>", "QUIT"], "text"),
    ("mail_params_more", "main",
     ["EHLO x", "MAIL FROM:<a@b> SIZE=1 SIZE=2", "RSET",
      "MAIL FROM:<a@b> RET=FULL RET=HDRS", "RSET",
      "MAIL FROM:<a@b> ENVID=x ENVID=y", "RSET",
      "MAIL FROM:<a@b> BODY=8BITMIME BODY=7BIT", "RSET",
      "MAIL FROM:<a@b> SMTPUTF8 SMTPUTF8", "RSET",
      "MAIL FROM: <a@b>", "RSET", "MAIL FROM:a@b", "RSET",
      "mail from:<a@b>", "rcpt to:<a@example.test> notify=never", "RSET",
      "MAIL FROM:<>", "RCPT TO:<postmaster>", "RCPT TO:<a@example.test> "
      "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@example.test", "QUIT"], "text"),
    ("vrfy_more", "main",
     # Not compared: "VRFY <a" (Postfix's sloppy parser gives 252 <a).
     ["EHLO x", "VRFY <a@example.test> SMTPUTF8", "VRFY a@b c",
      "QUIT"], "text"),
    ("helo_more", "main",
     ["HELO x", "HELO y", "EHLO [127.0.0.1]", "EHLO a..b", "QUIT"], "text"),
    ("misc_more", "main",
     ["QUIT x"], "text"),
    ("empty_and_big_messages", "main",
     ["EHLO x", "MAIL FROM:<a@example.org>", RCPT, "DATA", ("raw", b".\r\n"),
      "MAIL FROM:<a@example.org> SIZE=100", RCPT, "DATA",
      ("raw", (b"x" * 998 + b"\r\n") * 250 + b".\r\n"),
      "MAIL FROM:<a@example.org>", RCPT, ("raw", b"BDAT 0 LAST\r\n"),
      "MAIL FROM:<a@example.org>", RCPT, ("raw", b"BDAT 3\r\nabc"), "RSET",
      ("raw", b"BDAT 3 LAST\r\nabc"), "QUIT"], "text"),
    ("bdat_too_big", "main",
     ["EHLO x", "MAIL FROM:<a@example.org>", RCPT,
      ("raw", b"BDAT 250000\r\n" + b"y" * 250000),
      ("raw", b"BDAT 3 LAST\r\nabc"), "NOOP", "QUIT"], "text"),
    ("long_address", "main",
     ["EHLO x", "MAIL FROM:<" + "a" * 3000 + "@example.org>", "QUIT"],
     "text"),
    ("rejected_at_connect", "deny",
     ["EHLO x", "MAIL FROM:<a@example.org>", "NOOP", "RSET", "QUIT"],
     "text"),
    ("starttls_states", "tls",
     ["EHLO x", "STARTTLS x", "MAIL FROM:<a@example.org>", "STARTTLS",
      "RSET", "QUIT"], "text"),
    ("mail_twice", "main",
     ["EHLO x", "MAIL FROM:<a@example.org>", "MAIL FROM:<b@example.org>",
      "RSET", "MAIL FROM:<b@example.org>", "QUIT"], "text"),
    ("data_before_rcpt", "main",
     ["EHLO x", "DATA", "DATA x", "MAIL FROM:<a@example.org>", "DATA",
      "DATA x", "RCPT TO:<x@elsewhere.test>", "DATA", "QUIT"], "text"),
    ("data_syntax_after_rcpt", "main",
     ["EHLO x", "MAIL FROM:<a@example.org>", RCPT, "DATA x", "QUIT"],
     "text"),
    ("full_data", "main",
     ["EHLO x", "MAIL FROM:<a@example.org>", RCPT, "DATA",
      ("raw", b"Subject: t\r\n\r\nbody\r\n.\r\n"), "QUIT"], "text"),
    ("bdat", "main",
     ["EHLO x", "MAIL FROM:<a@example.org>", RCPT,
      ("raw", b"BDAT 6\r\nline\r\n"), ("raw", b"BDAT 6 LAST\r\nmore\r\n"),
      "QUIT"], "text"),
    ("bdat_then_data", "main",
     ["EHLO x", "MAIL FROM:<a@example.org>", RCPT,
      ("raw", b"BDAT 6\r\nline\r\n"), "DATA", ("raw", b"BDAT 0 LAST\r\n"),
      "QUIT"], "text"),
    ("bdat_without_rcpt", "main",
     ["EHLO x", ("raw", b"BDAT 3 LAST\r\nabc"), "QUIT"], "text"),
    ("bdat_bad_syntax_hangs_up", "main",
     ["EHLO x", "MAIL FROM:<a@example.org>", RCPT, "BDAT", "NOOP"], "text"),
    ("bdat_bad_number", "main",
     ["EHLO x", "BDAT x", "NOOP"], "text"),
    ("vrfy", "main",
     ["VRFY", "VRFY user", "VRFY <user@example.test>", "VRFY a b",
      "EHLO x", "VRFY user@example.test", "QUIT"], "text"),
    # ETRN: Postfix asks its flush service, Postern asks qmgr (no flush
    # server): "250 Queuing started" vs Postfix's refusal for a domain
    # that is not in fast_flush_domains. Only the syntax errors compare.
    ("etrn_syntax", "main",
     ["ETRN", "ETRN @@@", "ETRN ex<ample", "EHLO x", "ETRN", "ETRN a b",
      "MAIL FROM:<a@example.org>", "ETRN example.test", "RSET", "QUIT"],
     "text"),
    ("helo_required_chunking_discarded", "strict",
     ["ETRN x", "MAIL FROM:<a@b.c>", "VRFY a", "EHLO x", "VRFY a",
      "BDAT 0 LAST", "QUIT"], "text"),
    ("starttls_not_offered", "main",
     ["EHLO x", "STARTTLS", "STARTTLS x", "QUIT"], "text"),
    ("too_many_errors", "errors",
     ["FOO", "BAR", "BAZ", "NOOP"], "text"),
    ("long_command_line", "main",
     ["EHLO x", "NOOP " + "x" * 5000, "NOOP", "QUIT"], "code"),
    ("bare_lf_command", "main",
     [("raw", b"EHLO x\n"), ("raw", b"NOOP\n"), "QUIT"], "text"),
    ("bare_lf_data_accepted", "main",
     ["EHLO x", "MAIL FROM:<a@example.org>", RCPT, "DATA",
      ("raw", b"Subject: t\n\nbody\n.\r\n"), "QUIT"], "text"),
    ("nul_in_command", "main",
     ["EHLO x", ("raw", b"NOOP \x00x\r\n"),
      ("raw", b"MAIL FROM:<a\x00@example.org>\r\n"), "QUIT"], "text"),
    ("reject_footer", "footer",
     ["EHLO x", "FOO", "MAIL FROM:<a>", "MAIL FROM:<a@example.org>",
      "RCPT TO:<a@elsewhere.test>", "QUIT"], "text"),
    # "\c" at the start, "\n", ${name}, $$, and the 421 it applies to.
    ("reject_footer_c_n", "footer2",
     ["EHLO x", "MAIL FROM:<a@example.org>", "RCPT TO:<a@elsewhere.test>",
      "FOO", "BAR"], "text"),
    ("forbid_bare_newline_command", "bare",
     ["EHLO x", ("raw", b"NOOP\n"), "QUIT"], "text"),
    ("forbid_bare_newline_data", "bare",
     ["EHLO x", "MAIL FROM:<a@example.org>", RCPT, "DATA",
      ("raw", b"Subject: t\n\nbody\r\n.\r\n"), "QUIT"], "text"),
    ("normalize_bare_newline_dot", "norm",
     ["EHLO x", "MAIL FROM:<a@example.org>", RCPT, "DATA",
      ("send", b"Subject: t\r\n\r\nbody\n.\n"),
      ("raw", b"more\r\n.\r\n"), "QUIT"], "text"),
    ("unauth_pipelining_helo", "pipe",
     [("raw", b"HELO x\r\nMAIL FROM:<a@example.org>\r\n"), ("read",),
      RCPT, "DATA", "QUIT"], "text"),
]


@pytest.mark.parametrize("name,variant,steps,compare", DIALOGUES,
                         ids=[d[0] for d in DIALOGUES])
def test_same_replies_as_postfix(pair, name, variant, steps, compare):
    m, pf = pair
    pf_mark = _disconnects(pf.log_text)
    pt_mark = _disconnects(m.log_text)
    want = [normalise(r) for r in run_dialogue(pf.ports[variant], steps)]
    got = [normalise(r) for r in run_dialogue(m.ports[variant], steps)]
    # The "disconnect from ... commands=N/M" lines count the same.
    assert wait_for(lambda: len(_disconnects(pf.log_text)) > len(pf_mark), 10)
    assert wait_for(lambda: len(_disconnects(m.log_text)) > len(pt_mark), 10)
    if compare == "code":
        assert codes(got) == codes(want), (got, want)
    else:
        assert got == want, "Postern | Postfix\n" + "\n".join(
            f"{g!r} | {w!r}" for g, w in zip(got, want) if g != w)
    assert _disconnects(m.log_text)[-1] == _disconnects(pf.log_text)[-1]


def _disconnects(log):
    # "commands=0": the fixture's probes for a listening port.
    return [d for d in re.findall(r"disconnect from (.*)$", log(), re.M)
            if not d.endswith(" commands=0")]


def _last_line(log, pattern, timeout=5):
    found = []

    def look():
        found[:] = re.findall(pattern, log(), re.M)
        return found
    wait_for(look, timeout)
    return found


def test_improper_pipelining_log_line(pair):
    m, pf = pair
    steps = [("raw", b"HELO x\r\nNOOP\r\n"), ("read",), "QUIT"]
    for port, log in ((pf.ports["main"], pf.log_text),
                      (m.ports["main"], m.log_text)):
        run_dialogue(port, steps)
    pat = (r"improper command pipelining after HELO from "
           r"unknown\[127\.0\.0\.1\]: NOOP\\r\\n$")
    assert _last_line(pf.log_text, pat), pf.log_text()[-2000:]
    assert _last_line(m.log_text, pat), m.log_text()[-2000:]


def test_bare_newline_log_line(pair):
    m, pf = pair
    steps = ["EHLO x", ("raw", b"NOOP\n"), "QUIT"]
    for port in (pf.ports["bare"], m.ports["bare"]):
        run_dialogue(port, steps)
    pat = (r"NOQUEUE: reject: EHLO from unknown\[127\.0\.0\.1\]: bare <LF> "
           r"received; proto=ESMTP helo=<x>$")
    assert _last_line(pf.log_text, pat), pf.log_text()[-2000:]
    assert _last_line(m.log_text, pat), m.log_text()[-2000:]


def _tls_message(port):
    """Send one message over STARTTLS; its queue ID."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
    c = Raw(port, sock=sock)
    assert c.reply().startswith("220 ")
    assert "STARTTLS" in c.cmd("EHLO tls.example")
    assert c.cmd("STARTTLS").startswith("220 ")
    c = Raw(port, sock=tls_client_context().wrap_socket(
        sock, server_hostname=MYHOST))
    c.cmd("EHLO tls.example")
    assert c.cmd("MAIL FROM:<t@example.org>") == "250 2.1.0 Ok"
    assert c.cmd("RCPT TO:<user@example.test>") == "250 2.1.5 Ok"
    assert c.cmd("DATA").startswith("354")
    c.send(b"Subject: tls\r\n\r\nx\r\n.\r\n")
    reply = c.reply()
    c.close()
    return re.search(r"queued as (\S+)$", reply).group(1)


def test_received_header_with_tls_as_postfix(pair):
    m, pf = pair
    pf_id = _tls_message(pf.ports["tls"])
    pt_id = _tls_message(m.ports["tls"])
    res = _run(["/usr/sbin/postcat", "-c", pf.etc, "-hq", pf_id])
    assert res.returncode == 0, res.stderr
    want = res.stdout.splitlines()[:6]
    assert wait_for(lambda: qfile.find(m.inst.queue_dir, pt_id), 10)
    got = qfile.read(qfile.find(m.inst.queue_dir, pt_id)[1]).header_lines[:6]

    def norm(lines):
        out = "\n".join(lines).replace(pf_id, "ID").replace(pt_id, "ID")
        out = out.replace("(Postfix)", "(MTA)").replace("(Postern)", "(MTA)")
        return re.sub(r"; \w\w\w, .*", "; DATE", out).split("\n")
    assert norm(got[:6]) == norm(want[:6])
    assert want[2].startswith("\t key-exchange X25519 server-signature ECDSA")


# ---- log lines ----------------------------------------------------------------

LOGGED = re.compile(r"(?:reject:|lost connection|too many errors|improper "
                    r"command pipelining|warning:|timeout after)")


def _smtpd_lines(text):
    """smtpd's log lines of interest: program prefix and queue IDs gone."""
    out = []
    for line in text.splitlines():
        m = re.search(r"/smtpd\[\d+\]: (.*)$", line)
        # (Not the fixture's probes for a listening port.)
        if m and LOGGED.search(m.group(1)) \
                and "lost connection after CONNECT" not in line:
            out.append(re.sub(r"^[0-9A-Za-z]{10,}: ", "ID: ", m.group(1)))
    return out


LOG_DIALOGUES = [
    # The footer is not logged.
    ("sender_rejected", "footer",
     ["EHLO x", "MAIL FROM:<a>", RCPT, "QUIT"]),
    ("lost_in_data", "main",
     ["EHLO x", "MAIL FROM:<a@example.org>", RCPT, "DATA",
      ("send", b"Subject: x\r\n\r\nabc\r\n")]),
    ("lost_after_rcpt", "main",
     ["EHLO x", "MAIL FROM:<a@example.org>", RCPT]),
    ("too_many_errors", "errors", ["FOO", "BAR", "BAZ"]),
    ("unauth_pipelining", "pipe",
     [("raw", b"HELO x\r\nMAIL FROM:<a@example.org>\r\n"), ("read",),
      RCPT, "DATA", "QUIT"]),
    ("bdat_syntax", "main", ["EHLO x", "BDAT"]),
]


@pytest.mark.parametrize("name,variant,steps", LOG_DIALOGUES,
                         ids=[d[0] for d in LOG_DIALOGUES])
def test_same_log_lines_as_postfix(pair, name, variant, steps):
    m, pf = pair
    result = []
    for port, log in ((pf.ports[variant], pf.log_text),
                      (m.ports[variant], m.log_text)):
        mark = len(_disconnects(log))
        before = len(log())
        run_dialogue(port, steps)
        assert wait_for(lambda: len(_disconnects(log)) > mark, 10)
        result.append(_smtpd_lines(log()[before:]))
    want, got = result
    assert want, "the dialogue logged nothing of interest"
    assert got == want
