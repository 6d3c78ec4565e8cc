"""The smtp client delivery agent (issue 8) against scripted SMTP servers.

One instance serves the whole module (started once with "master -d",
test_master.Master, which collects sanitizer reports). Every scenario has
its own recipient domain, routed by transport_maps to its own fake server
(FakeSMTP below: a Python socket server in a thread, scripted per test:
EHLO keywords, replies per command and recipient, STARTTLS with the test
CA of tlscert.py, AUTH checks, a server that hangs) and, where the smtp
settings differ, to its own master.cf service with -o overrides, so the
module never reloads. Messages are written into incoming/ with qinject
(or sent with the instance's sendmail) and qmgr is woken; the tests wait
for the Postfix-shaped delivery line in maillog_file and check what the
server received. MX lookups use a dnsmasq of testdns.py on 127.0.0.155.
"""

import base64
import hashlib
import hmac
import os
import pwd
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

import testdns
from conftest import BUILD_DIR, Instance, add_program, free_ports, \
    layout_args, run_install
from test_master import Master, wait_for
from tlscert import make_test_certs

try:  # Debian's python3-aiosmtpd: a real SMTP server as the ISP relay
    from aiosmtpd.controller import Controller as AioController
    from aiosmtpd.smtp import AuthResult, LoginPassword
except ImportError:  # pragma: no cover - make deps installs it
    AioController = None

TESTBIN = BUILD_DIR / "testbin"
MYHOST = "client.test"
DNS_ADDR = "127.0.0.155"


# ---- the fake SMTP server ------------------------------------------------------


class Session:
    def __init__(self):
        self.commands = []
        self.helo = None
        self.mail = None
        self.rcpts = []
        self.data = None
        self.tls = False
        self.auth = None
        self.pipelined = None
        self.peer = None
        self.messages = []   # (mail, rcpts, data) per transaction


class FakeSMTP:
    """A scripted SMTP server on HOST:PORT. Attributes set the script:
    greeting, ehlo (keywords; None: EHLO gets 502), auth_mechs with
    creds {user: password}, tls (an ssl.SSLContext: STARTTLS offered),
    mail_reply, rcpt (address -> reply; a list is used up one reply per
    RCPT), data_reply, done_reply, hang ("done": never answer the final
    dot)."""

    def __init__(self, host="127.0.0.1", port=0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.host = host
        self.greeting = "220 fake.test ESMTP fake"
        self.ehlo = ["PIPELINING", "SIZE 10240000", "8BITMIME", "DSN",
                     "ENHANCEDSTATUSCODES"]
        self.auth_mechs = None
        self.creds = {}
        self.auth_reply = None
        self.tls = None
        self.mail_reply = "250 2.1.0 Ok"
        self.rcpt = {}
        self.data_reply = "354 End data with <CR><LF>.<CR><LF>"
        self.done_reply = "250 2.0.0 Ok: queued as FAKE{n}"
        self.hang = None
        self.tls_broken = False   # STARTTLS: 220, then garbage
        self.wrap = None          # an SSLContext: TLS from the first byte
        self.sessions = []
        self.count = 0
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def stop(self):
        self.stopping = True
        try:
            self.sock.close()
        except OSError:
            pass

    def serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(conn,),
                             daemon=True).start()

    def messages(self):
        with self.lock:
            return [m for s in self.sessions for m in s.messages]

    def handle(self, conn):
        s = Session()
        try:
            s.peer = conn.getpeername()[0]
        except OSError:
            pass
        with self.lock:
            self.sessions.append(s)
        conn.settimeout(30)
        if self.wrap is not None:
            try:
                conn = self.wrap.wrap_socket(conn, server_side=True)
            except (OSError, ssl.SSLError):
                conn.close()
                return
            s.tls = True
        state = {"conn": conn, "buf": b""}

        def say(line):
            state["conn"].sendall(line.encode() + b"\r\n")

        def read_raw():
            while b"\n" not in state["buf"]:
                chunk = state["conn"].recv(65536)
                if not chunk:
                    raise EOFError
                state["buf"] += chunk
            line, state["buf"] = state["buf"].split(b"\n", 1)
            return line + b"\n"

        def read():
            return read_raw().decode("utf-8", "replace").rstrip("\r\n")

        def pending():
            """Input that came before our reply: waits a moment for it."""
            end = time.monotonic() + 0.3
            while b"DATA" not in state["buf"] and time.monotonic() < end:
                state["conn"].settimeout(0.05)
                try:
                    chunk = state["conn"].recv(65536)
                    if not chunk:
                        break
                    state["buf"] += chunk
                except (socket.timeout, ssl.SSLError, BlockingIOError):
                    pass
                finally:
                    state["conn"].settimeout(30)
            return state["buf"]

        try:
            say(self.greeting)
            if not self.greeting.startswith("2"):
                # a refusing server still answers QUIT
                while True:
                    cmd = read()
                    s.commands.append(cmd)
                    if cmd.upper().startswith("QUIT"):
                        say("221 2.0.0 Bye")
                        return
                    say("503 5.5.1 Error: go away")
            while True:
                cmd = read()
                s.commands.append(cmd)
                verb = cmd.split(" ", 1)[0].upper()
                arg = cmd[len(verb) + 1:]
                if verb == "EHLO":
                    if self.ehlo is None:
                        say("502 5.5.2 Error: command not recognized")
                        continue
                    s.helo = arg
                    kw = list(self.ehlo)
                    if (self.tls is not None or self.tls_broken) \
                            and not s.tls:
                        kw.append("STARTTLS")
                    if self.auth_mechs:
                        kw.append("AUTH " + self.auth_mechs)
                    lines = ["fake.test"] + kw
                    for i, text in enumerate(lines):
                        sep = " " if i == len(lines) - 1 else "-"
                        say(f"250{sep}{text}")
                elif verb == "HELO":
                    s.helo = arg
                    say("250 fake.test")
                elif verb == "STARTTLS" and (self.tls is not None
                                             or self.tls_broken):
                    say("220 2.0.0 Ready to start TLS")
                    if self.tls_broken:
                        conn.sendall(b"this is not TLS\r\n" * 20)
                        return
                    state["buf"] = b""
                    conn = self.tls.wrap_socket(state["conn"],
                                                server_side=True)
                    state["conn"] = conn
                    s.tls = True
                elif verb == "AUTH":
                    self.do_auth(s, arg, say, read)
                elif verb == "MAIL":
                    s.mail = arg
                    s.rcpts = []
                    if "PIPELINING" in (self.ehlo or []):
                        s.pipelined = b"DATA\r\n" in pending()
                    say(self.mail_reply)
                elif verb == "RCPT":
                    m = re.match(r"TO:<([^>]*)>", arg, re.I)
                    addr = m.group(1) if m else arg
                    reply = self.rcpt.get(addr, "250 2.1.5 Ok")
                    if isinstance(reply, list):
                        reply = reply.pop(0) if len(reply) > 1 else reply[0]
                    if reply.startswith("2"):
                        s.rcpts.append(arg)
                    say(reply)
                elif verb == "DATA":
                    if not s.rcpts:
                        say("554 5.5.1 Error: no valid recipients")
                        continue
                    say(self.data_reply)
                    if not self.data_reply.startswith("3"):
                        continue
                    data = []
                    while True:
                        line = read_raw()
                        if line == b".\r\n":
                            break
                        data.append(line)
                    s.data = b"".join(data)
                    if self.hang == "done":
                        time.sleep(60)
                        return
                    with self.lock:
                        self.count += 1
                        n = self.count
                    s.messages.append((s.mail, list(s.rcpts), s.data))
                    say(self.done_reply.format(n=n))
                elif verb == "RSET":
                    s.mail, s.rcpts = None, []
                    say("250 2.0.0 Ok")
                elif verb == "QUIT":
                    say("221 2.0.0 Bye")
                    return
                else:
                    say("502 5.5.2 Error: command not recognized")
        except (EOFError, OSError, ssl.SSLError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def do_auth(self, s, arg, say, read):
        parts = arg.split()
        mech = parts[0].upper() if parts else ""
        user = password = None
        if mech == "PLAIN":
            resp = parts[1] if len(parts) > 1 else None
            if resp is None:
                say("334 ")
                resp = read()
            _, user, password = base64.b64decode(resp).split(b"\0")
            user, password = user.decode(), password.decode()
            ok = self.creds.get(user) == password
        elif mech == "LOGIN":
            say("334 " + base64.b64encode(b"Username:").decode())
            user = base64.b64decode(read()).decode()
            say("334 " + base64.b64encode(b"Password:").decode())
            password = base64.b64decode(read()).decode()
            ok = self.creds.get(user) == password
        elif mech == "CRAM-MD5":
            challenge = b"<12345.67@fake.test>"
            say("334 " + base64.b64encode(challenge).decode())
            user, digest = base64.b64decode(read()).decode().split(" ")
            want = hmac.new(self.creds.get(user, "").encode(), challenge,
                            hashlib.md5).hexdigest()
            ok = user in self.creds and digest == want
        elif mech == "SCRAM-SHA-256":
            ok = self.scram(parts[1] if len(parts) > 1 else None, say, read)
            if ok is None:
                return
            user = ok
            ok = bool(ok)
        else:
            say("504 5.5.4 Unrecognized authentication type")
            return
        if ok and self.auth_reply is None:
            s.auth = (mech, user)
            say("235 2.7.0 Authentication successful")
        else:
            say(self.auth_reply or "535 5.7.8 Error: authentication failed")


    def scram(self, initial, say, read):
        """The server side of SCRAM-SHA-256: the user name, or "" when the
        proof is wrong; None when the exchange broke off."""
        if initial is None:
            say("334 ")
            initial = read()
        first = base64.b64decode(initial).decode()
        if not first.startswith("n,,"):
            say("501 5.5.2 bad SCRAM message")
            return None
        bare = first[3:]
        attrs = dict(kv.split("=", 1) for kv in bare.split(","))
        user, cnonce = attrs["n"], attrs["r"]
        salt, iters = b"postern-salt", 4096
        snonce = cnonce + "srv0nce"
        server_first = (f"r={snonce},s={base64.b64encode(salt).decode()},"
                        f"i={iters}")
        say("334 " + base64.b64encode(server_first.encode()).decode())
        final = base64.b64decode(read()).decode()
        without_proof, proof = final.rsplit(",p=", 1)
        if not without_proof.startswith("c=biws,r=" + snonce):
            say("535 5.7.8 bad nonce")
            return None
        salted = hashlib.pbkdf2_hmac("sha256",
                                     self.creds.get(user, "").encode(),
                                     salt, iters)
        ckey = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored = hashlib.sha256(ckey).digest()
        authmsg = f"{bare},{server_first},{without_proof}".encode()
        csig = hmac.new(stored, authmsg, hashlib.sha256).digest()
        want = bytes(a ^ b for a, b in zip(ckey, csig))
        if user not in self.creds or base64.b64decode(proof) != want:
            return ""
        skey = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        ssig = hmac.new(skey, authmsg, hashlib.sha256).digest()
        say("334 " + base64.b64encode(
            b"v=" + base64.b64encode(ssig)).decode())
        read()
        return user


# ---- the instance ---------------------------------------------------------------


SCENARIOS = ["basic", "helo", "fallback_ok", "t421", "hang", "retry", "sink",
             "tls", "verify", "wrongca", "enc", "plain", "login", "cram",
             "authfail", "gen", "cache", "sink2", "tlsbad", "wrap",
             "scram", "badfp", "soho1", "soho2", "sohodefault", "small",
             "isp", "bind", "mime", "mimeoff"]


class Env:
    pass


class AioRelay:
    """The ISP relay of the Postfix guides played by aiosmtpd: STARTTLS
    required, AUTH PLAIN/LOGIN only over TLS, one account."""

    def __init__(self, port, ctx, user, password):
        self.user, self.password = user.encode(), password.encode()
        self.messages = []
        self.logins = []
        self.controller = AioController(
            self, hostname="127.0.0.1", port=port, tls_context=ctx,
            require_starttls=True, auth_require_tls=True, auth_required=True,
            authenticator=self.authenticate, ready_timeout=10)

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login == self.user
              and auth_data.password == self.password)
        self.logins.append((mechanism, ok, session.ssl is not None))
        return AuthResult(success=ok)

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                              envelope.original_content))
        return "250 2.0.0 Ok: queued by the ISP"


def write_etc(inst, dns_addr):
    """Resolver files for the chrooted smtp processes (master -d copies
    nothing into queue_directory/etc)."""
    etc = inst.queue_dir / "etc"
    etc.mkdir(mode=0o755, exist_ok=True)
    for name, text in (("resolv.conf", f"nameserver {dns_addr}\n"
                                       "options timeout:2 attempts:1\n"),
                       ("hosts", "127.0.0.1 localhost\n"),
                       ("nsswitch.conf", "hosts: files dns\n")):
        (etc / name).write_text(text)
        os.chmod(etc / name, 0o644)


@pytest.fixture(scope="module")
def env():
    if os.geteuid() != 0:
        pytest.skip("the end-to-end tests install Postern and run as root")
    if not testdns.available():
        pytest.fail(f"{testdns.DNSMASQ} is missing: make deps")
    root = Path(tempfile.mkdtemp(prefix="postern-smtp-"))
    os.chmod(root, 0o711)
    servers = {}
    e = None
    dns = None
    m = None
    sink_proc = None
    try:
        args = layout_args(root)
        run_install(args)
        inst = Instance(root, args)
        for name in ("master", "cleanup", "qmgr", "bounce", "smtp", "smtpd",
                     "auth"):
            if not (inst.daemon_dir / name).is_file():
                pytest.fail(f"the install has no {name} daemon")
        add_program(TESTBIN / "qinject", inst.daemon_dir / "qinject")
        e = Env()
        e.inst = inst
        for name in SCENARIOS:
            servers[name] = FakeSMTP()
        e.servers = servers
        e.dead, e.smtpd_port, e.mx_port, e.sink_port, e.aio_port = \
            free_ports(5)
        sink_proc = subprocess.Popen(
            ["/usr/sbin/smtp-sink", "-u", "nobody", "-c",
             f"127.0.0.1:{e.sink_port}", "64"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL) \
            if os.path.exists("/usr/sbin/smtp-sink") else None
        # MX: mx1 (preference 10) has no server, mx2 (20) has one.
        e.mx2 = FakeSMTP("127.0.0.3", e.mx_port)
        servers["mx2"] = e.mx2
        certs = make_test_certs(root / "tls", names=["localhost",
                                                     "127.0.0.1"])
        other = make_test_certs(root / "tls2", names=["localhost"],
                                ca_name="Other CA")
        e.certs = certs
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(certs.fullchain, certs.key)
        for name in ("tls", "verify", "wrongca"):
            servers[name].tls = ctx
        selfctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        selfctx.load_cert_chain(certs.self_cert, certs.self_key)
        servers["badfp"].tls = selfctx
        servers["tlsbad"].tls_broken = True
        # the ISP relay of the Postfix guides: AUTH PLAIN/LOGIN over TLS
        servers["isp"].tls = ctx
        servers["isp"].auth_mechs = "PLAIN LOGIN"
        servers["isp"].creds = {"ispuser": "isp secret"}
        servers["small"].ehlo = ["PIPELINING", "SIZE 100", "8BITMIME"]
        servers["wrap"].wrap = ctx
        for name in ("mime", "mimeoff"):
            servers[name].ehlo = ["PIPELINING", "SIZE 10240000", "DSN"]
        servers["wrap"].ehlo.append("AUTH PLAIN")
        conf = inst.config_dir
        p = {k: v.port for k, v in servers.items()}
        transport = {
            "basic.test": f"smtp:[127.0.0.1]:{p['basic']}",
            "helo.test": f"smtp:[127.0.0.1]:{p['helo']}",
            "dead.test": f"smtpfb:[127.0.0.1]:{e.dead}",
            "t421.test": f"smtpfb:[127.0.0.1]:{p['t421']}",
            "hang.test": f"smtpfast:[127.0.0.1]:{p['hang']}",
            "retry.test": f"smtp:[127.0.0.1]:{p['retry']}",
            "sink.test": f"smtp:[127.0.0.1]:{p['sink']}",
            "tls.test": f"smtptls:[127.0.0.1]:{p['tls']}",
            "verify.test": f"smtpverify:[127.0.0.1]:{p['verify']}",
            "wrongca.test": f"smtpwrongca:[127.0.0.1]:{p['wrongca']}",
            "enc.test": f"smtpenc:[127.0.0.1]:{p['enc']}",
            "plain.test": f"smtpauth:[127.0.0.1]:{p['plain']}",
            "login.test": f"smtpauth:[127.0.0.1]:{p['login']}",
            "cram.test": f"smtpauth:[127.0.0.1]:{p['cram']}",
            "authfail.test": f"smtpauth:[127.0.0.1]:{p['authfail']}",
            "gen.test": f"smtpgen:[127.0.0.1]:{p['gen']}",
            "cache.test": f"smtpcache:[127.0.0.1]:{p['cache']}",
            "mx.test": f"smtp:mx.test:{e.mx_port}",
            "nosuch.test": "smtp:nosuch.test",
            "loop.test": f"smtp:[127.0.0.1]:{e.smtpd_port}",
            "sink2.test": f"smtp:[127.0.0.1]:{p['sink2']}",
            "tlsbad.test": f"smtptls:[127.0.0.1]:{p['tlsbad']}",
            "fp.test": f"smtpfp:[127.0.0.1]:{p['verify']}",
            "badfp.test": f"smtpfp:[127.0.0.1]:{p['badfp']}",
            "wrap.test": f"smtpwrap:[127.0.0.1]:{p['wrap']}",
            "pol.test": f"smtp:[127.0.0.1]:{p['enc']}",
            "scram.test": f"smtpauth:[127.0.0.1]:{p['scram']}",
            "small.test": f"smtp:[127.0.0.1]:{p['small']}",
            "realsink.test": f"smtp:[127.0.0.1]:{e.sink_port}",
            "bind.test": f"smtpbind:[127.0.0.1]:{p['bind']}",
            "isp.test": f"smtpisp:[127.0.0.1]:{p['isp']}",
            "aio.test": f"smtpisp:[127.0.0.1]:{e.aio_port}",
            "secure.test": f"smtpsecure:[localhost]:{p['verify']}",
            "insecure.test": f"smtpsecure:[localhost]:{p['badfp']}",
            "mime.test": f"smtp:[127.0.0.1]:{p['mime']}",
            "mimeoff.test": f"smtpnomime:[127.0.0.1]:{p['mimeoff']}",
        }
        (conf / "tls_policy").write_text(
            f"[127.0.0.1]:{p['enc']} encrypt\n")
        (conf / "transport").write_text(
            "".join(f"{k} {v}\n" for k, v in transport.items()))
        (conf / "generic").write_text("alice@client.test alice@public.example\n"
                                      "@client.test nobody@public.example\n")
        (conf / "loop_virtual").write_text("user@loop.test user@sink2.test\n")
        passwd = conf / "sasl_passwd"
        passwd.write_text(
            f"[127.0.0.1]:{p['plain']} plainuser:plainpw\n"
            f"[127.0.0.1]:{p['login']} loginuser:loginpw\n"
            f"[127.0.0.1]:{p['cram']} cramuser:crampw\n"
            f"[127.0.0.1]:{p['authfail']} failuser:wrongpw\n"
            f"[127.0.0.1]:{p['scram']} scramuser:scram,pw=\n"
            "bob@sink.test bob:bobpw\n"
            f"[127.0.0.1]:{p['isp']} ispuser:isp secret\n"
            f"[127.0.0.1]:{e.aio_port} aiouser:aio secret\n"
            "dave@soho.test dave:davepw\n"
            "erin@soho.test erin:erinpw\n")
        (conf / "sender_relay").write_text(
            f"dave@soho.test [127.0.0.1]:{p['soho1']}\n"
            f"erin@soho.test [127.0.0.1]:{p['soho2']}\n")
        for name, user, pw in (("soho1", "dave", "davepw"),
                               ("soho2", "erin", "erinpw")):
            servers[name].auth_mechs = "PLAIN LOGIN"
            servers[name].creds = {user: pw}
        # offers AUTH, but the auth service has no credentials for it
        servers["sohodefault"].auth_mechs = "PLAIN"
        os.chmod(passwd, 0o600)
        res = inst.run([inst.command("postmap"), "-c", conf, f"hash:{passwd}"])
        assert res.returncode == 0, res.stderr
        os.chmod(str(passwd) + ".db", 0o600)
        servers["plain"].auth_mechs = "PLAIN LOGIN"
        servers["plain"].creds = {"plainuser": "plainpw", "bob": "bobpw"}
        servers["login"].auth_mechs = "LOGIN"
        servers["login"].creds = {"loginuser": "loginpw"}
        servers["cram"].auth_mechs = "CRAM-MD5 PLAIN"
        servers["cram"].creds = {"cramuser": "crampw"}
        servers["scram"].auth_mechs = "PLAIN SCRAM-SHA-256 CRAM-MD5"
        servers["scram"].creds = {"scramuser": "scram,pw="}
        servers["authfail"].auth_mechs = "PLAIN"
        servers["authfail"].creds = {"failuser": "rightpw"}
        servers["helo"].ehlo = None
        servers["helo"].greeting = "220 fake.test old-fashioned"
        servers["t421"].greeting = "421 4.3.2 fake.test busy, try later"
        servers["hang"].hang = "done"
        servers["retry"].rcpt = {"later@retry.test":
                                 ["451 4.3.0 Try again later",
                                  "250 2.1.5 Ok"]}
        servers["basic"].rcpt = {
            "reject@basic.test": "550 5.1.1 <reject@basic.test>: Recipient "
                                 "address rejected: User unknown",
            "later@basic.test": "450 4.2.0 <later@basic.test>: Recipient "
                                "address rejected: Greylisted"}

        m = Master(inst, inst.main_cf.read_text())
        m.log.unlink(missing_ok=True)
        tlsq = "-o smtp_tls_loglevel=1 -o max_use=1"
        fb = f"-o smtp_fallback_relay=[127.0.0.1]:{p['fallback_ok']}"
        services = [
            "pickup unix n - y 60 1 pickup",
            "cleanup unix n - y - 0 cleanup",
            "cleanup_in unix n - y - 0 cleanup -o virtual_alias_maps="
            f"texthash:{conf / 'loop_virtual'}",
            "qmgr unix n - n 300 1 qmgr",
            "bounce unix - - y - 0 bounce",
            "defer unix - - y - 0 bounce",
            "trace unix - - y - 0 bounce",
            "error unix - - y - - error",
            "retry unix - - y - - error",
            "auth unix - n n - 1 auth",
            # max_use=1: each process exits after one request, so the
            # sanitizer's leak check runs (reports fail the module)
            "smtp unix - - y - - smtp -o max_use=1",
            f"smtpfb unix - - y - - smtp {fb}",
            "smtpfast unix - - y - - smtp -o smtp_data_done_timeout=2s",
            "smtpnomime unix - - y - - smtp "
            "-o disable_mime_output_conversion=yes",
            f"smtptls unix - - y - - smtp -o smtp_tls_security_level=may "
            f"{tlsq}",
            f"smtpverify unix - - y - - smtp -o smtp_tls_security_level=verify"
            f" -o smtp_tls_CAfile={certs.ca_cert} "
            f"-o smtp_tls_verify_cert_match=localhost {tlsq}",
            f"smtpwrongca unix - - y - - smtp "
            f"-o smtp_tls_security_level=verify "
            f"-o smtp_tls_CAfile={other.ca_cert} {tlsq}",
            "smtpenc unix - - y - - smtp -o smtp_tls_security_level=encrypt",
            "smtpfp unix - - y - - smtp "
            "-o smtp_tls_security_level=fingerprint "
            f"-o smtp_tls_fingerprint_cert_match={certs.fingerprint} {tlsq}",
            "smtpsecure unix - - y - - smtp -o smtp_tls_security_level=secure"
            f" -o smtp_tls_CAfile={certs.ca_cert} -o smtp_host_lookup=native"
            f" {tlsq}",
            "smtpwrap unix - - y - - smtp -o smtp_tls_wrappermode=yes "
            f"-o smtp_tls_security_level=encrypt {tlsq}",
            "smtpauth unix - - y - - smtp -o smtp_sasl_auth_enable=yes "
            "-o smtp_sasl_security_options= -o max_use=1",
            "smtpbind unix - - y - - smtp -o smtp_bind_address=127.0.0.7 "
            "-o max_use=1",
            "smtpisp unix - - y - - smtp -o smtp_tls_security_level=encrypt "
            "-o smtp_sasl_auth_enable=yes "
            "-o smtp_sasl_tls_security_options=noanonymous -o max_use=1",
            "smtpgen unix - - y - - smtp -o max_use=1 "
            f"-o smtp_generic_maps=texthash:{conf / 'generic'}",
            "smtpcache unix - - y - 1 smtp "
            "-o smtp_connection_cache_time_limit=10s",
            f"127.0.0.1:{e.smtpd_port} inet n - y - - smtpd "
            "-o cleanup_service_name=cleanup_in",
        ]
        m.configure(
            services,
            myhostname=MYHOST,
            mydomain="test",
            myorigin=MYHOST,
            mydestination=MYHOST,
            local_transport="error:5.1.1 no local delivery in this test",
            relay_domains="loop.test",
            mynetworks="127.0.0.0/8",
            alias_maps="",
            transport_maps=f"texthash:{conf / 'transport'}",
            default_transport="smtpauth",
            relayhost=f"[127.0.0.1]:{p['sohodefault']}",
            sender_dependent_relayhost_maps=f"texthash:{conf / 'sender_relay'}",
            smtp_helo_name=MYHOST,
            smtp_tls_policy_maps=f"texthash:{conf / 'tls_policy'}",
            smtp_sasl_password_maps=f"hash:{passwd}",
            smtp_sender_dependent_authentication="yes",
            smtp_connect_timeout="5s",
            queue_run_delay="300s",
            minimal_backoff_time="300s",
            maximal_backoff_time="600s",
            ipc_timeout="10s",
        )
        dns = testdns.TestDNS(
            address=DNS_ADDR,
            hosts={"mx1.mx.test": "127.0.0.2", "mx2.mx.test": "127.0.0.3"},
            mxs={"mx.test": [(10, "mx1.mx.test"), (20, "mx2.mx.test")]},
            log=root / "dnsmasq.log")
        dns.start()
        write_etc(inst, DNS_ADDR)
        if AioController is not None:
            e.aio = AioRelay(e.aio_port, ctx, "aiouser", "aio secret")
            e.aio.controller.start()
        m.start()
        e.m = m
        yield e
    finally:
        if m is not None:
            reports = m.cleanup()
        else:
            reports = ""
        if dns is not None:
            dns.stop()
        for srv in servers.values():
            srv.stop()
        if getattr(e, "aio", None) is not None:
            e.aio.controller.stop()
        if sink_proc is not None:
            sink_proc.terminate()
            sink_proc.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)
    assert not reports, f"sanitizer reports:\n{reports}"


def own_queue(inst):
    pw = pwd.getpwnam(inst.mail_owner)
    for q in ("incoming",):
        for p in (inst.queue_dir / q).rglob("*"):
            os.chown(p, pw.pw_uid, pw.pw_gid)


def wake(inst):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(10)
        s.connect(str(inst.queue_dir / "public" / "qmgr"))
        s.sendall(b"I")
    finally:
        s.close()


def inject(e, sender, *rcpts, body=None, headers=None, wake_up=True):
    """Queue a message with qinject and wake qmgr; return its queue ID."""
    text = headers or (f"From: {sender}\nTo: {', '.join(rcpts)}\n"
                       "Subject: smtp test\n")
    text += "\n" + (body or "Hello.\n")
    inst = e.inst
    res = inst.run([inst.daemon_dir / "qinject", "-f", sender,
                    inst.queue_dir, *rcpts], input=text, stdin=None)
    assert res.returncode == 0, res.stderr
    qid = res.stdout.strip()
    own_queue(inst)
    if wake_up:
        wake(inst)
    return qid


def wait_log(e, pattern, timeout=30):
    got = wait_for(lambda: re.search(pattern, e.m.log_text(), re.M), timeout)
    assert got, f"no /{pattern}/ in the log:\n{e.m.log_text()[-4000:]}"
    return got


def line_for(e, qid, rcpt, timeout=30):
    return wait_log(e, rf"{qid}: to=<{re.escape(rcpt)}>.*$", timeout).group(0)


DELAYS = r"delay=[\d.]+, delays=[\d.]+/[\d.]+/[\d.]+/[\d.]+"


# ---- tests ----------------------------------------------------------------------


def test_pipelined_delivery_per_recipient_results(env):
    e = env
    srv = e.servers["basic"]
    port = srv.port
    body = "first line\n.starts with a dot\n..two dots\nlast\n"
    # through the instance's sendmail, pickup and cleanup
    msgid = "<basic.1@client.test>"
    text = (f"From: alice@sink.test\nTo: ok@basic.test\nSubject: basic\n"
            f"Message-ID: {msgid}\n\n{body}")
    res = subprocess.run([str(e.inst.command("sendmail")), "-C",
                          str(e.inst.config_dir), "-f", "alice@sink.test",
                          "ok@basic.test", "reject@basic.test",
                          "later@basic.test"],
                         input=text, capture_output=True, text=True,
                         timeout=30,
                         env=dict(os.environ, MAIL_CONFIG=str(
                             e.inst.config_dir)))
    assert res.returncode == 0, res.stderr
    qid = wait_log(e, rf"(\w+): message-id={re.escape(msgid)}").group(1)
    relay = rf"relay=127\.0\.0\.1\[127\.0\.0\.1\]:{port}"
    sent = line_for(e, qid, "ok@basic.test")
    assert re.search(rf"{relay}, {DELAYS}, dsn=2\.0\.0, status=sent "
                     r"\(250 2\.0\.0 Ok: queued as FAKE\d+\)$", sent), sent
    bounced = line_for(e, qid, "reject@basic.test")
    assert re.search(
        rf"{relay}, {DELAYS}, dsn=5\.1\.1, status=bounced \(host "
        rf"127\.0\.0\.1\[127\.0\.0\.1\] said: 550 5\.1\.1 "
        r"<reject@basic\.test>: Recipient address rejected: User unknown "
        r"\(in reply to RCPT TO command\)\)$", bounced), bounced
    deferred = line_for(e, qid, "later@basic.test")
    assert re.search(
        rf"{relay}, {DELAYS}, dsn=4\.2\.0, status=deferred \(host "
        rf"127\.0\.0\.1\[127\.0\.0\.1\] said: 450 4\.2\.0 "
        r"<later@basic\.test>: Recipient address rejected: Greylisted "
        r"\(in reply to RCPT TO command\)\)$", deferred), deferred
    msgs = srv.messages()
    assert len(msgs) == 1
    mail, rcpts, data = msgs[0]
    assert mail.startswith("FROM:<alice@sink.test> SIZE=")
    assert rcpts == ["TO:<ok@basic.test> ORCPT=rfc822;ok@basic.test"]
    assert b"\r\n..starts with a dot\r\n...two dots\r\nlast\r\n" in data
    s = [x for x in srv.sessions if x.messages][0]
    assert s.helo == MYHOST
    # pipelined: MAIL, the RCPTs and DATA came before the reply to MAIL
    assert s.pipelined is True
    assert s.commands[2:6] == ["RCPT TO:<ok@basic.test> ORCPT=rfc822;"
                               "ok@basic.test", s.commands[3], s.commands[4],
                               "DATA"]


def test_5xx_gives_one_bounce_to_the_sender(env):
    e = env
    qid = inject(e, "bounceme@sink.test", "reject@basic.test",
                 "ok2@basic.test")
    assert "status=bounced" in line_for(e, qid, "reject@basic.test")
    assert "status=sent" in line_for(e, qid, "ok2@basic.test")
    sink = e.servers["sink"]

    def notices():
        return [m for m in sink.messages()
                if m[1] and "bounceme@sink.test" in m[1][0]]

    assert wait_for(notices, 30), e.m.log_text()[-3000:]
    time.sleep(0.5)
    got = notices()
    assert len(got) == 1
    mail, rcpts, data = got[0]
    assert mail.startswith("FROM:<>")
    assert b"multipart/report" in data and b"reject@basic.test" in data
    assert b"550 5.1.1" in data


def test_helo_fallback_without_pipelining(env):
    e = env
    srv = e.servers["helo"]
    qid = inject(e, "alice@sink.test", "one@helo.test", "two@helo.test")
    for r in ("one@helo.test", "two@helo.test"):
        assert "status=sent (250 2.0.0 Ok: queued as FAKE" \
            in line_for(e, qid, r)
    s = [x for x in srv.sessions if x.messages][0]
    assert s.commands[0] == f"EHLO {MYHOST}"
    assert s.commands[1] == f"HELO {MYHOST}"
    # HELO: no ESMTP parameters
    assert s.commands[2] == "MAIL FROM:<alice@sink.test>"
    assert s.commands[3:5] == ["RCPT TO:<one@helo.test>",
                               "RCPT TO:<two@helo.test>"]


def test_refused_and_421_go_to_the_fallback_relay(env):
    e = env
    fb = e.servers["fallback_ok"]
    q1 = inject(e, "alice@sink.test", "x@dead.test")
    q2 = inject(e, "alice@sink.test", "y@t421.test")
    wait_log(e, rf"connect to 127\.0\.0\.1\[127\.0\.0\.1\]:{e.dead}: "
                "Connection refused")
    for qid, rcpt in ((q1, "x@dead.test"), (q2, "y@t421.test")):
        line = line_for(e, qid, rcpt)
        assert f"relay=127.0.0.1[127.0.0.1]:{fb.port}," in line, line
        assert "status=sent" in line, line
    assert not any(c.startswith("MAIL") for c in
                   e.servers["t421"].sessions[0].commands)


def test_hang_after_data_is_deferred_not_lost(env):
    e = env
    qid = inject(e, "alice@sink.test", "h@hang.test")
    line = line_for(e, qid, "h@hang.test", timeout=30)
    port = e.servers["hang"].port
    assert re.search(
        rf"relay=127\.0\.0\.1\[127\.0\.0\.1\]:{port}, {DELAYS}, dsn=4\.4\.2, "
        r"status=deferred \(conversation with 127\.0\.0\.1\[127\.0\.0\.1\] "
        r"timed out while sending end of data -- message may be sent more "
        r"than once\)$", line), line
    assert wait_for(lambda: list((e.inst.queue_dir / "deferred").rglob(qid)),
                    10), "the message is not in deferred/"


def test_4xx_then_success_after_postqueue_flush(env):
    e = env
    qid = inject(e, "alice@sink.test", "later@retry.test")
    line = line_for(e, qid, "later@retry.test")
    assert "status=deferred (host 127.0.0.1[127.0.0.1] said: 451 4.3.0 " \
        "Try again later (in reply to RCPT TO command))" in line
    res = e.inst.run([e.inst.command("postqueue"), "-c", e.inst.config_dir,
                      "-f"])
    assert res.returncode == 0, res.stderr
    wait_log(e, rf"{qid}: to=<later@retry\.test>.*status=sent")


def test_mx_preference_and_fallback_to_next_mx(env):
    e = env
    qid = inject(e, "alice@sink.test", "m@mx.test")
    line = line_for(e, qid, "m@mx.test")
    assert f"relay=mx2.mx.test[127.0.0.3]:{e.mx_port}," in line, line
    assert "status=sent" in line
    assert re.search(rf"connect to mx1\.mx\.test\[127\.0\.0\.2\]:{e.mx_port}:"
                     r" Connection refused", e.m.log_text())


def test_nonexistent_domain_bounces(env):
    e = env
    qid = inject(e, "alice@sink.test", "n@nosuch.test")
    line = line_for(e, qid, "n@nosuch.test")
    assert re.search(r"relay=none, .*dsn=5\.4\.4, status=bounced \(Host or "
                     r"domain name not found\. Name service error for "
                     r"name=nosuch\.test type=MX: Host not found\)$",
                     line), line


def test_starttls_may_logs_the_tls_line(env):
    e = env
    srv = e.servers["tls"]
    qid = inject(e, "alice@sink.test", "t@tls.test")
    assert "status=sent" in line_for(e, qid, "t@tls.test")
    assert re.search(rf"Untrusted TLS connection established to "
                     rf"127\.0\.0\.1\[127\.0\.0\.1\]:{srv.port}: TLSv1\.[23] "
                     r"with cipher \S+ \(\d+/\d+ bits\)", e.m.log_text())
    assert [s for s in srv.sessions if s.messages][0].tls


def test_starttls_verify_and_wrong_ca(env):
    e = env
    q1 = inject(e, "alice@sink.test", "v@verify.test")
    assert "status=sent" in line_for(e, q1, "v@verify.test")
    port = e.servers["verify"].port
    assert re.search(rf"Verified TLS connection established to "
                     rf"127\.0\.0\.1\[127\.0\.0\.1\]:{port}: TLSv1",
                     e.m.log_text())
    q2 = inject(e, "alice@sink.test", "w@wrongca.test")
    line = line_for(e, q2, "w@wrongca.test")
    assert "status=deferred (Server certificate not trusted)" in line, line
    assert not e.servers["wrongca"].messages()


def test_encrypt_without_starttls_defers(env):
    e = env
    qid = inject(e, "alice@sink.test", "x@enc.test")
    line = line_for(e, qid, "x@enc.test")
    assert "dsn=4.7.4, status=deferred (TLS is required, but was not " \
        "offered by host 127.0.0.1[127.0.0.1])" in line, line
    assert not e.servers["enc"].messages()


def test_sasl_plain_login_cram_and_sender_dependent(env):
    e = env
    q1 = inject(e, "alice@sink.test", "p@plain.test")
    q2 = inject(e, "alice@sink.test", "l@login.test")
    q3 = inject(e, "alice@sink.test", "c@cram.test")
    q4 = inject(e, "bob@sink.test", "b@plain.test")
    for qid, rcpt in ((q1, "p@plain.test"), (q2, "l@login.test"),
                      (q3, "c@cram.test"), (q4, "b@plain.test")):
        line = line_for(e, qid, rcpt)
        assert "status=sent" in line, line
    auths = sorted(s.auth for name in ("plain", "login", "cram")
                   for s in e.servers[name].sessions if s.auth)
    assert auths == [("CRAM-MD5", "cramuser"), ("LOGIN", "loginuser"),
                     ("PLAIN", "bob"), ("PLAIN", "plainuser")]


def test_sasl_failure_defers(env):
    e = env
    qid = inject(e, "alice@sink.test", "f@authfail.test")
    line = line_for(e, qid, "f@authfail.test")
    port = e.servers["authfail"].port
    assert re.search(rf"relay=127\.0\.0\.1\[127\.0\.0\.1\]:{port}, .*"
                     r"dsn=4\.7\.8, status=deferred \(SASL authentication failed; server "
                     r"127\.0\.0\.1\[127\.0\.0\.1\] said: 535 5\.7\.8 Error: "
                     r"authentication failed\)$", line), line
    assert not e.servers["authfail"].messages()


def test_generic_maps_envelope_and_headers(env):
    e = env
    headers = ("From: Alice <alice@client.test>\n"
               "To: g@gen.test\n"
               "Cc: carol@client.test (Carol),\n"
               "  other@elsewhere.test\n"
               "Subject: from alice@client.test\n")
    qid = inject(e, "alice@client.test", "g@gen.test", headers=headers)
    assert "status=sent" in line_for(e, qid, "g@gen.test")
    mail, rcpts, data = e.servers["gen"].messages()[0]
    assert mail.startswith("FROM:<alice@public.example>")
    text = data.decode()
    assert "From: Alice <alice@public.example>\r\n" in text
    assert "Cc: nobody@public.example (Carol),\r\n  other@elsewhere.test\r\n" \
        in text
    assert "Subject: from alice@client.test\r\n" in text


def test_connection_cache_reuses_the_session(env):
    e = env
    srv = e.servers["cache"]
    q1 = inject(e, "alice@sink.test", "c1@cache.test", wake_up=False)
    q2 = inject(e, "alice@sink.test", "c2@cache.test")
    l1 = line_for(e, q1, "c1@cache.test")
    l2 = line_for(e, q2, "c2@cache.test")
    assert "status=sent" in l1 and "status=sent" in l2
    assert sum(1 for s in srv.sessions if s.messages) == 1, \
        [s.commands for s in srv.sessions]
    assert re.search(rf"\[127\.0\.0\.1\]:{srv.port}, conn_use=2, delay=",
                     l1 + "\n" + l2), (l1, l2)


def test_smtp_runs_as_mail_owner_and_cannot_read_passwords(env):
    """The smtp processes never hold root nor the relay passwords: the
    credentials come from the auth service (issue 7's security check)."""
    e = env
    qid = inject(e, "alice@sink.test", "c3@cache.test")
    assert "status=sent" in line_for(e, qid, "c3@cache.test")
    # smtpcache keeps its process (and session) for the cache time limit.
    exe = str(e.inst.daemon_dir / "smtp")
    pids = [p for p in e.m.instance_processes()
            if os.readlink(f"/proc/{p}/exe") == exe]
    assert pids, "no smtp process alive after a cached delivery"
    uid = e.inst.uid
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            ids = [line.split()[1:] for line in f
                   if line.startswith(("Uid:", "Gid:"))]
        assert ids[0] == [str(uid)] * 4, ids
        assert "0" not in ids[1], ids
        # and nothing of it is open: no descriptor points at the file
        fds = os.listdir(f"/proc/{pid}/fd")
        targets = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in fds
                   if os.path.exists(f"/proc/{pid}/fd/{fd}")]
        assert not any("sasl_passwd" in t for t in targets), targets
    passwd = e.inst.config_dir / "sasl_passwd.db"
    st = os.stat(passwd)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, 0, 0o600)
    res = subprocess.run(["cat", str(passwd)], user=uid,
                         capture_output=True, timeout=10)
    assert res.returncode != 0 and b"Permission denied" in res.stderr


def test_delivery_into_our_own_smtpd(env):
    e = env
    qid = inject(e, "alice@sink.test", "user@loop.test")
    line = line_for(e, qid, "user@loop.test")
    assert re.search(r"status=sent \(250 2\.0\.0 Ok: queued as \w+\)", line), \
        line
    sink = e.servers["sink2"]
    assert wait_for(lambda: sink.messages(), 30), e.m.log_text()[-3000:]
    mail, rcpts, data = sink.messages()[0]
    assert rcpts[0].startswith("TO:<user@sink2.test>")
    assert b"Received: from client.test" in data
    assert b"Subject: smtp test" in data


def test_may_handshake_failure_retries_in_plain_text(env):
    e = env
    srv = e.servers["tlsbad"]
    qid = inject(e, "alice@sink.test", "r@tlsbad.test")
    line = line_for(e, qid, "r@tlsbad.test")
    assert "status=sent" in line, line
    assert re.search(rf"SSL_connect error to 127\.0\.0\.1\[127\.0\.0\.1\]:"
                     rf"{srv.port}: ", e.m.log_text())
    sessions = [x.commands for x in srv.sessions]
    assert len(sessions) == 2, sessions
    assert "STARTTLS" in sessions[0] and "STARTTLS" not in sessions[1]


def test_fingerprint_level(env):
    e = env
    q1 = inject(e, "alice@sink.test", "f@fp.test")
    assert "status=sent" in line_for(e, q1, "f@fp.test")
    q2 = inject(e, "alice@sink.test", "f@badfp.test")
    line = line_for(e, q2, "f@badfp.test")
    assert "status=deferred (Server certificate not verified)" in line, line


def test_wrapper_mode(env):
    e = env
    srv = e.servers["wrap"]
    qid = inject(e, "alice@sink.test", "w@wrap.test")
    assert "status=sent" in line_for(e, qid, "w@wrap.test")
    assert [x for x in srv.sessions if x.messages][0].tls
    assert re.search(rf"TLS connection established to 127\.0\.0\.1"
                     rf"\[127\.0\.0\.1\]:{srv.port}: TLSv1", e.m.log_text())


def test_tls_policy_map_requires_encryption(env):
    e = env
    qid = inject(e, "alice@sink.test", "p@pol.test")
    line = line_for(e, qid, "p@pol.test")
    assert "status=deferred (TLS is required, but was not offered by host " \
        "127.0.0.1[127.0.0.1])" in line, line


def test_sasl_scram_sha_256(env):
    e = env
    qid = inject(e, "alice@sink.test", "s@scram.test")
    line = line_for(e, qid, "s@scram.test")
    assert "status=sent" in line, line
    auths = [x.auth for x in e.servers["scram"].sessions if x.auth]
    assert auths == [("SCRAM-SHA-256", "scramuser")]


def test_soho_per_sender_relays_and_accounts(env):
    """The Postfix SOHO guide: two senders, two accounts, two relays
    (sender_dependent_relayhost_maps and sender-dependent credentials);
    anyone else goes through relayhost."""
    e = env
    q1 = inject(e, "dave@soho.test", "x@far.example")
    q2 = inject(e, "erin@soho.test", "y@far.example")
    q3 = inject(e, "frank@soho.test", "z@far.example")
    for qid, rcpt, name in ((q1, "x@far.example", "soho1"),
                            (q2, "y@far.example", "soho2"),
                            (q3, "z@far.example", "sohodefault")):
        line = line_for(e, qid, rcpt)
        port = e.servers[name].port
        assert f"relay=127.0.0.1[127.0.0.1]:{port}," in line, line
        assert "status=sent" in line, line
    assert [x.auth for x in e.servers["soho1"].sessions if x.auth] == \
        [("PLAIN", "dave")]
    assert [x.auth for x in e.servers["soho2"].sessions if x.auth] == \
        [("PLAIN", "erin")]
    assert e.servers["sohodefault"].messages()[0][0].startswith(
        "FROM:<frank@soho.test> SIZE=")
    assert not [x for x in e.servers["sohodefault"].sessions if x.auth]


def test_size_limit_and_8bitmime(env):
    e = env
    srv = e.servers["small"]
    q1 = inject(e, "alice@sink.test", "big@small.test", body="x" * 200 + "\n")
    line = line_for(e, q1, "big@small.test")
    assert re.search(r"dsn=5\.3\.4, status=bounced \(message size \d+ exceeds "
                     r"size limit 100 of server 127\.0\.0\.1\[127\.0\.0\.1\]\)$",
                     line), line
    inst = e.inst
    res = inst.run([inst.daemon_dir / "qinject", "-f", "alice@sink.test",
                    "-F", "2", inst.queue_dir, "b@small.test"],
                   input="Subject: 8\n\n\u00e9\n", stdin=None)
    assert res.returncode == 0, res.stderr
    q2 = res.stdout.strip()
    own_queue(inst)
    wake(inst)
    assert "status=sent" in line_for(e, q2, "b@small.test")
    mail = srv.messages()[0][0]
    assert re.fullmatch(r"FROM:<alice@sink\.test> SIZE=\d+ BODY=8BITMIME",
                        mail), mail


def test_secure_level_matches_the_nexthop(env):
    """[localhost] through the system resolver (smtp_host_lookup = native,
    the chroot's hosts file), and its certificate names "localhost"."""
    e = env
    q1 = inject(e, "alice@sink.test", "s@secure.test")
    line = line_for(e, q1, "s@secure.test")
    assert f"relay=localhost[127.0.0.1]:{e.servers['verify'].port}," in line
    assert "status=sent" in line, line
    q2 = inject(e, "alice@sink.test", "s@insecure.test")
    line = line_for(e, q2, "s@insecure.test")
    assert "status=deferred (Server certificate not trusted)" in line, line


def test_isp_relay_auth_plain_over_starttls(env):
    """As the Postfix SASL guide sets it up: TLS required, PLAIN allowed
    over TLS only (smtp_sasl_security_options keeps its default
    noplaintext; smtp_sasl_tls_security_options = noanonymous)."""
    e = env
    srv = e.servers["isp"]
    qid = inject(e, "alice@sink.test", "i@isp.test")
    assert "status=sent" in line_for(e, qid, "i@isp.test")
    s = [x for x in srv.sessions if x.messages][0]
    assert s.tls and s.auth == ("PLAIN", "ispuser")
    # AUTH came after STARTTLS and the second EHLO
    names = [c.split()[0].upper() for c in s.commands]
    assert names[:4] == ["EHLO", "STARTTLS", "EHLO", "AUTH"], names


def test_isp_relay_is_a_real_aiosmtpd_server(env):
    """The same set-up against aiosmtpd (another implementation than our
    fake server): TLS first, then AUTH with the account from
    smtp_sasl_password_maps, then the message."""
    e = env
    if AioController is None:
        pytest.fail("python3-aiosmtpd is missing: make deps")
    qid = inject(e, "alice@sink.test", "r@aio.test")
    line = line_for(e, qid, "r@aio.test")
    assert re.search(r"relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, .*"
                     r"dsn=2\.0\.0, status=sent \(250 2\.0\.0 Ok: queued by "
                     r"the ISP\)", line), line
    assert e.aio.logins == [("PLAIN", True, True)]
    assert len(e.aio.messages) == 1
    sender, rcpts, content = e.aio.messages[0]
    assert rcpts == ["r@aio.test"]
    assert b"\r\n\r\n" in content or b"\n\n" in content


def test_delivery_to_smtp_sink(env):
    e = env
    if not os.path.exists("/usr/sbin/smtp-sink"):
        pytest.skip("Debian's smtp-sink (package postfix) is not installed")
    qids = [inject(e, "alice@sink.test", f"r{i}@realsink.test")
            for i in range(3)]
    for i, qid in enumerate(qids):
        line = line_for(e, qid, f"r{i}@realsink.test")
        assert re.search(rf"relay=127\.0\.0\.1\[127\.0\.0\.1\]:"
                         rf"{e.sink_port}, .*dsn=2\.0\.0, status=sent \(250 ",
                         line), line


def test_bind_address(env):
    e = env
    srv = e.servers["bind"]
    qid = inject(e, "alice@sink.test", "b@bind.test")
    assert "status=sent" in line_for(e, qid, "b@bind.test")
    assert [x.peer for x in srv.sessions] == ["127.0.0.7"]


def _unstuff(data):
    return b"".join(line[1:] if line.startswith(b".") else line
                    for line in data.splitlines(keepends=True))


def test_8bit_mail_is_converted_for_a_server_without_8bitmime(env):
    """No 8BITMIME in the EHLO reply: the 8-bit parts go out as
    quoted-printable (headers as they are), and decode to the original;
    with disable_mime_output_conversion = yes the mail goes as it is."""
    import email
    import email.policy

    e = env
    inst = e.inst
    text = ("From: alice@sink.test\nTo: a@mime.test\nSubject: 8\u00e9\n"
            "MIME-Version: 1.0\n"
            "Content-Type: multipart/mixed; boundary=\"BB\"\n\n"
            "--BB\nContent-Type: text/plain; charset=utf-8\n"
            "Content-Transfer-Encoding: 8bit\n\n"
            "caf\u00e9 = 1 \n.\n" + "\u00fc" * 60 + "\n"
            "--BB\nContent-Type: application/octet-stream\n"
            "Content-Transfer-Encoding: base64\n\nAAEC\n--BB--\n")
    qids = []
    for rcpt in ("a@mime.test", "b@mimeoff.test"):
        res = inst.run([inst.daemon_dir / "qinject", "-f", "alice@sink.test",
                        "-F", "2", inst.queue_dir, rcpt],
                       input=text, stdin=None)
        assert res.returncode == 0, res.stderr
        qids.append(res.stdout.strip())
    # no BODY=8BITMIME flag and no MIME headers: the scan finds the 8 bits
    qids.append(inject(e, "alice@sink.test", "c@mime.test",
                       body="gr\u00fc\u00df dich\n", wake_up=False))
    own_queue(inst)
    wake(inst)
    for qid, rcpt in zip(qids, ("a@mime.test", "b@mimeoff.test",
                                "c@mime.test")):
        assert "status=sent" in line_for(e, qid, rcpt)

    msgs = {m[1][0].split()[0]: m for m in e.servers["mime"].messages()}
    mail, _, data = msgs["TO:<a@mime.test>"]
    assert "BODY=8BITMIME" not in mail
    raw = _unstuff(data)
    body = raw.split(b"\r\n\r\n", 1)[1]
    assert all(b < 128 for b in body), body
    assert all(len(line) <= 76 for line in body.split(b"\r\n")), body
    assert "Subject: 8\u00e9\r\n".encode() in raw  # headers as they are
    assert b"\r\n..\r\n" in data  # dot-stuffed after the conversion
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    text_part, bin_part = msg.get_payload()
    assert text_part["Content-Transfer-Encoding"] == "quoted-printable"
    # (the line end before a boundary belongs to the boundary)
    assert text_part.get_payload(decode=True) == (
        "caf\u00e9 = 1 \r\n.\r\n" + "\u00fc" * 60).encode()
    assert bin_part["Content-Transfer-Encoding"] == "base64"
    assert bin_part.get_payload(decode=True) == b"\x00\x01\x02"

    mail, _, data = msgs["TO:<c@mime.test>"]
    msg = email.message_from_bytes(_unstuff(data),
                                   policy=email.policy.compat32)
    assert msg["MIME-Version"] == "1.0"
    assert msg["Content-Transfer-Encoding"] == "quoted-printable"
    assert b"gr=C3=BC=C3=9F dich" in data
    assert msg.get_payload(decode=True) == "gr\u00fc\u00df dich\r\n".encode()

    # conversion off: the 8-bit body goes as it is
    mail, _, data = e.servers["mimeoff"].messages()[0]
    assert "BODY=8BITMIME" not in mail
    assert "caf\u00e9 = 1 \r\n..\r\n".encode() in data
    assert b"Content-Transfer-Encoding: 8bit\r\n" in data


def test_8bit_mail_nested_too_deep_bounces(env):
    """Deeper than mime_nesting_limit (100) it cannot be converted: a
    bounce, as Postfix, not a half-converted message."""
    e = env
    nest = "".join(f"--b{i - 1}\nContent-Type: multipart/mixed; "
                   f"boundary=b{i}\n\n" for i in range(1, 102))
    qid = inject(e, "alice@sink.test", "deep@mime.test",
                 headers="From: alice@sink.test\nTo: deep@mime.test\n"
                         "MIME-Version: 1.0\n"
                         "Content-Type: multipart/mixed; boundary=b0\n",
                 body=nest + "--b101\n\nd\u00e9j\u00e0\n")
    line = line_for(e, qid, "deep@mime.test")
    assert re.search(r"dsn=5\.6\.0, status=bounced \(MIME nesting exceeds "
                     r"safety limit\)$", line), line
    assert not [m for m in e.servers["mime"].messages()
                if m[1][0].startswith("TO:<deep@")]
