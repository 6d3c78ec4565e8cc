"""The auth service (issue 7): mechanisms end to end through
lib/auth_client (the test program tests/daemons/authc), the secret maps
opened as root (root:root 0600) by a process that then runs as
mail_owner, client credentials in Postfix's lookup order, a temporary
failure (not a hang) while auth is down after SIGKILL and its respawn,
and reload re-reading the maps.

master runs only the auth service here (master.cf written by the test);
the clients are authc processes driven line by line, and the SASL client
side of each mechanism (CRAM-MD5, DIGEST-MD5, SCRAM) is computed here
with Python's hashlib/hmac, independently of the C code.
"""

import base64
import hashlib
import hmac
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import add_program, BUILD_DIR, Instance, layout_args, \
    run_install
from test_master import Master, alive, wait_for

TESTBIN = BUILD_DIR / "testbin"
AUTH_LINE = "auth unix - n n - 1 auth"


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode() or "-"


def unb64(text):
    return base64.b64decode(text)


def scram_value(mech, password, salt, iters=4096):
    md = "sha256" if mech == "SCRAM-SHA-256" else "sha1"
    sp = hashlib.pbkdf2_hmac(md, password.encode(), salt, iters)
    ck = hmac.new(sp, b"Client Key", md).digest()
    stored = hashlib.new(md, ck).digest()
    server = hmac.new(sp, b"Server Key", md).digest()
    return "{%s}%d,%s,%s,%s" % (mech, iters, b64(salt), b64(stored),
                                b64(server))


def digest_value(user, realm, password):
    return "{DIGEST-MD5}" + hashlib.md5(
        f"{user}:{realm}:{password}".encode()).hexdigest()


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the end-to-end tests install Postern and run as root")
    if not (TESTBIN / "authc").is_file():
        pytest.fail(f"{TESTBIN / 'authc'} is missing: run make first")
    root = tmp_path_factory.mktemp("auth")
    args = layout_args(root)
    run_install(args)
    inst = Instance(root, args)
    if not (inst.daemon_dir / "auth").is_file():
        pytest.fail("the install has no auth daemon")
    add_program(TESTBIN / "authc", inst.root / "authc")
    return inst, inst.main_cf.read_text()


@pytest.fixture
def master(installed):
    inst, pristine = installed
    m = Master(inst, pristine)
    m.log.unlink(missing_ok=True)
    m.stderr_path.unlink(missing_ok=True)
    yield m
    reports = m.cleanup()
    assert not reports, f"sanitizer reports:\n{reports}"


class Authc:
    """One authc process: one connection to private/auth."""

    def __init__(self, inst, timeout=5):
        self.p = subprocess.Popen(
            [str(inst.root / "authc"), str(inst.queue_dir / "private/auth"),
             str(timeout)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, bufsize=1)

    def ask(self, *words):
        self.p.stdin.write(" ".join(w if w else "-" for w in words) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline().rstrip("\n")
        m = re.fullmatch(r"(\w+) data=(.*) user=(.*) reason=(.*)", line)
        assert m, f"authc said {line!r}"
        return m.groups()

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=10)


def write_map(path, entries):
    path.write_text("".join(f"{k} {v}\n" for k, v in entries.items()))
    os.chown(path, 0, 0)
    os.chmod(path, 0o600)


def start_auth(master, users, creds=None, **params):
    umap = master.inst.config_dir / "sasl_users"
    write_map(umap, users)
    settings = {"auth_user_maps": f"texthash:{umap}",
                "smtpd_sasl_local_domain": "example.org",
                "myhostname": "mx.example.org"}
    if creds is not None:
        pmap = master.inst.config_dir / "sasl_passwd"
        write_map(pmap, creds)
        settings["smtp_sasl_password_maps"] = f"texthash:{pmap}"
    settings.update(params)
    master.configure([AUTH_LINE], **settings)
    master.start()
    return umap


USERS = {
    "bob@example.org": "{PLAIN}s3cret-bob",
    "carol@example.org": " ".join([
        scram_value("SCRAM-SHA-256", "carol-pw", b"0123456789abcdef"),
        scram_value("SCRAM-SHA-1", "carol-pw", b"fedcba9876543210"),
        digest_value("carol", "example.org", "carol-pw")]),
    "dave@example.org": "{SHA512-CRYPT}"
    "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI"
    "68u4OTLiBFdcbYEdFCoEOfaS35inz1",
}


def scram_login(c, mech, user, password):
    md = "sha256" if mech == "SCRAM-SHA-256" else "sha1"
    cnonce = "rOprNGfwEbeRWgbNEkqO"
    bare = f"n={user},r={cnonce}"
    st, data, _, reason = c.ask("start", mech, b64("n,," + bare), "", "0")
    if st != "CONTINUE":
        return st, reason
    sfirst = unb64(data).decode()
    attrs = dict(kv.split("=", 1) for kv in sfirst.split(","))
    assert attrs["r"].startswith(cnonce)
    sp = hashlib.pbkdf2_hmac(md, password.encode(), unb64(attrs["s"]),
                             int(attrs["i"]))
    ck = hmac.new(sp, b"Client Key", md).digest()
    sk = hashlib.new(md, ck).digest()
    final = f"c=biws,r={attrs['r']}"
    am = f"{bare},{sfirst},{final}".encode()
    sig = hmac.new(sk, am, md).digest()
    proof = bytes(a ^ b for a, b in zip(ck, sig))
    st, data, _, reason = c.ask("step", b64(final + ",p=" + b64(proof)))
    if st != "CONTINUE":
        return st, reason
    server_key = hmac.new(sp, b"Server Key", md).digest()
    want = "v=" + b64(hmac.new(server_key, am, md).digest())
    assert unb64(data).decode() == want, "wrong server signature"
    st, _, user_out, reason = c.ask("step", "")
    return st, user_out if st == "OK" else reason


def test_mechanisms_end_to_end(master):
    start_auth(master, USERS)
    c = Authc(master.inst)
    try:
        st, data, _, _ = c.ask("mechs", "noanonymous", "0")
        assert (st, data) == ("OK", "SCRAM-SHA-256 SCRAM-SHA-1 DIGEST-MD5 "
                              "CRAM-MD5 PLAIN LOGIN")
        st, data, _, _ = c.ask("mechs", "noplaintext,noanonymous", "1")
        assert data == "SCRAM-SHA-256 SCRAM-SHA-1 DIGEST-MD5 CRAM-MD5"

        # PLAIN: good, wrong password, unknown user, authzid rules.
        assert c.ask("start", "PLAIN", b64("\0bob\0s3cret-bob"), "", "0") == \
            ("OK", "", "bob@example.org", "PLAIN")
        assert c.ask("start", "PLAIN", b64("\0bob\0nope"), "", "0")[0] == \
            "FAIL"
        assert c.ask("start", "PLAIN", b64("\0zed\0x"), "", "0")[0] == "FAIL"
        assert c.ask("start", "PLAIN", b64("eve\0bob\0s3cret-bob"), "",
                     "0")[3] == "authorization identity not allowed"
        # crypt(3) values serve PLAIN and LOGIN.
        assert c.ask("start", "PLAIN", b64("\0dave\0Hello world!"), "",
                     "0")[:3] == ("OK", "", "dave@example.org")
        # LOGIN step by step.
        assert c.ask("start", "LOGIN", "", "", "0")[:2] == \
            ("CONTINUE", b64("Username:"))
        assert c.ask("step", b64("bob"))[:2] == \
            ("CONTINUE", b64("Password:"))
        assert c.ask("step", b64("s3cret-bob"))[:3] == \
            ("OK", "", "bob@example.org")
        # "*" cancels, bad base64 fails.
        c.ask("start", "LOGIN", "", "", "0")
        assert c.ask("step", "*") == \
            ("FAIL", "", "", "authentication aborted")
        assert c.ask("start", "PLAIN", "@@@", "", "0")[3] == \
            "invalid base64 data"
        # PLAIN not allowed with noplaintext.
        assert c.ask("start", "PLAIN", b64("\0bob\0s3cret-bob"),
                     "noplaintext", "0")[3] == "mechanism not available"

        # CRAM-MD5 from a clear value, and from a crypt value: cannot.
        st, data, _, _ = c.ask("start", "CRAM-MD5", "", "", "0")
        assert st == "CONTINUE"
        chal = unb64(data)
        assert re.fullmatch(rb"<\d+\.\d+@mx\.example\.org>", chal)
        digest = hmac.new(b"s3cret-bob", chal, "md5").hexdigest()
        assert c.ask("step", b64(f"bob {digest}"))[:3] == \
            ("OK", "", "bob@example.org")
        c.ask("start", "CRAM-MD5", "", "", "0")
        assert c.ask("step", b64("dave " + "0" * 32))[3] == \
            "stored value cannot serve this mechanism"

        # DIGEST-MD5 from the {DIGEST-MD5} part of a combined value.
        st, data, _, _ = c.ask("start", "DIGEST-MD5", "", "", "0")
        ch = dict(re.findall(r'(\w+)="?([^",]*)"?', unb64(data).decode()))
        assert ch["realm"] == "example.org" and ch["qop"] == "auth"
        cnonce, uri = "OA6MHXh6VqTrRk", "smtp/mx.example.org"
        urp = hashlib.md5(b"carol:example.org:carol-pw").digest()
        a1 = urp + f":{ch['nonce']}:{cnonce}".encode()
        ha1 = hashlib.md5(a1).hexdigest()

        def kd(a2):
            ha2 = hashlib.md5(a2.encode()).hexdigest()
            return hashlib.md5(
                f"{ha1}:{ch['nonce']}:00000001:{cnonce}:auth:{ha2}".encode()
            ).hexdigest()

        resp = (f'username="carol",realm="example.org",nonce="{ch["nonce"]}",'
                f'cnonce="{cnonce}",nc=00000001,qop=auth,digest-uri="{uri}",'
                f'response={kd("AUTHENTICATE:" + uri)},charset=utf-8')
        st, data, _, _ = c.ask("step", b64(resp))
        assert st == "CONTINUE"
        assert unb64(data).decode() == "rspauth=" + kd(":" + uri)
        assert c.ask("step", "")[:3] == ("OK", "", "carol@example.org")

        # SCRAM from stored keys (carol) and from a clear value (bob).
        assert scram_login(c, "SCRAM-SHA-256", "carol", "carol-pw") == \
            ("OK", "carol@example.org")
        assert scram_login(c, "SCRAM-SHA-1", "carol", "carol-pw") == \
            ("OK", "carol@example.org")
        assert scram_login(c, "SCRAM-SHA-1", "bob", "s3cret-bob") == \
            ("OK", "bob@example.org")
        assert scram_login(c, "SCRAM-SHA-256", "carol", "wrong") == \
            ("FAIL", "authentication failure")
        assert scram_login(c, "SCRAM-SHA-256", "nobody", "x") == \
            ("FAIL", "authentication failure")
    finally:
        c.close()
    log = master.log_text()
    assert "client=localhost[127.0.0.1], sasl_method=PLAIN, " \
        "sasl_username=bob@example.org" in log
    assert "wrong password for bob@example.org" in log
    assert "the stored value cannot serve CRAM-MD5" in log
    for secret in ("s3cret-bob", "carol-pw", "Hello world", "svn8Uo"):
        assert secret not in log, f"{secret} in the log"


def auth_pid(master):
    pids = master.children("auth")
    return pids[0] if pids else None


def proc_ids(pid):
    ids = {}
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(("Uid:", "Gid:")):
            ids[line[:3]] = [int(x) for x in line.split()[1:]]
    return ids


def test_root_only_maps_and_privileges(master):
    umap = start_auth(master, USERS)
    st = umap.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, 0, 0o600)
    c = Authc(master.inst)
    try:
        assert c.ask("start", "PLAIN", b64("\0bob\0s3cret-bob"), "",
                     "0")[0] == "OK"
        pid = auth_pid(master)
        assert pid is not None
        ids = proc_ids(pid)
        uid = master.inst.uid
        assert set(ids["Uid"]) == {uid}, ids
        assert 0 not in ids["Gid"], ids
        # As mail_owner the map cannot be opened (auth opened it as root).
        child = os.fork()
        if child == 0:
            try:
                os.setgid(ids["Gid"][0])
                os.setuid(uid)
                open(umap).close()
                os._exit(0)
            except PermissionError:
                os._exit(13)
            except BaseException:
                os._exit(1)
        assert os.waitpid(child, 0)[1] >> 8 == 13
    finally:
        c.close()


def test_no_user_maps_is_temporary(master):
    master.configure([AUTH_LINE], auth_user_maps="")
    master.start()
    c = Authc(master.inst)
    try:
        st, _, _, reason = c.ask("start", "PLAIN", b64("\0bob\0x"), "", "0")
        assert (st, reason) == ("TEMP", "user lookup failed")
    finally:
        c.close()
    assert "user lookup failed" in master.log_text() or \
        "auth_user_maps is empty" in master.log_text()


def test_sigkill_gives_temp_then_respawn(master):
    start_auth(master, USERS)
    c = Authc(master.inst, timeout=5)
    try:
        assert c.ask("start", "LOGIN", "", "", "0")[0] == "CONTINUE"
        pid = auth_pid(master)
        os.kill(pid, signal.SIGKILL)
        assert wait_for(lambda: not alive(pid))
        t0 = time.monotonic()
        assert c.ask("step", b64("bob"))[0] == "TEMP"
        assert time.monotonic() - t0 < 8
        # A new exchange makes master start auth again (on demand).
        assert c.ask("start", "PLAIN", b64("\0bob\0s3cret-bob"), "",
                     "0")[0] == "OK"
        assert auth_pid(master) not in (None, pid)
        assert f"pid {pid} killed by signal 9" in master.log_text()
    finally:
        c.close()


def test_half_sent_request_times_out(master):
    """A client that sends part of a request and then nothing is cut off
    after ipc_timeout (it never holds its connection forever), while a
    complete request on another connection is answered meanwhile."""
    import socket
    start_auth(master, USERS, ipc_timeout="2s")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(str(master.inst.queue_dir / "private/auth"))
    try:
        s.sendall(b"7:request,5:start,4:mech")
        c = Authc(master.inst)
        try:
            assert c.ask("start", "PLAIN", b64("\0bob\0s3cret-bob"), "",
                         "0")[0] == "OK"
        finally:
            c.close()
        t0 = time.monotonic()
        assert s.recv(100) == b""
        assert time.monotonic() - t0 < 10
    finally:
        s.close()
    assert wait_for(lambda: "timeout on an auth request" in
                    master.log_text())


def test_client_credentials_order(master):
    creds = {
        "[mail.isp.example]:587": "port-user:port-pw",
        "mail.isp.example": "host-user:pw:with:colons",
        "bob@example.com": "bob-user:bob-pw",
        "@example.com": "dom-user:dom-pw",
    }
    start_auth(master, USERS, creds,
               smtp_sender_dependent_authentication="yes")
    c = Authc(master.inst)
    try:
        assert c.ask("creds", "bob@example.com", "mail.isp.example",
                     "[mail.isp.example]:587") == \
            ("OK", "bob-pw", "bob-user", "")
        assert c.ask("creds", "amy@example.com", "x.example",
                     "[mail.isp.example]:587")[:3] == \
            ("OK", "dom-pw", "dom-user")
        assert c.ask("creds", "", "mail.isp.example",
                     "[mail.isp.example]:587")[:3] == \
            ("OK", "pw:with:colons", "host-user")
        assert c.ask("creds", "x@other.example", "relay.example",
                     "[mail.isp.example]:587")[:3] == \
            ("OK", "port-pw", "port-user")
        assert c.ask("creds", "x@other.example", "relay.example",
                     "[other]:25")[0] == "NONE"
    finally:
        c.close()
    assert "bob-pw" not in master.log_text()


def test_reload_rereads_maps(master):
    umap = start_auth(master, USERS)
    c = Authc(master.inst)
    assert c.ask("start", "PLAIN", b64("\0bob\0s3cret-bob"), "", "0")[0] == \
        "OK"
    c.close()
    old = auth_pid(master)
    write_map(umap, dict(USERS, **{"bob@example.org": "{PLAIN}new-pw"}))
    master.reload()
    assert wait_for(lambda: not alive(old), 15)
    c = Authc(master.inst)
    try:
        assert c.ask("start", "PLAIN", b64("\0bob\0new-pw"), "", "0")[0] == \
            "OK"
    finally:
        c.close()


def postauth(master, *args, stdin=""):
    return subprocess.run([str(master.inst.command("postauth")), "-c",
                           str(master.inst.config_dir), *args], input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_postauth_add_list_test_delete(master):
    umap = start_auth(master, {"bob@example.org": "{PLAIN}s3cret-bob"})
    res = postauth(master, "add", "erin", stdin="erin pass\n")
    assert res.returncode == 0, res.stderr
    st = umap.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, 0, 0o600)
    text = umap.read_text()
    assert "erin pass" not in text
    assert re.search(r"^erin@example\.org \{SCRAM-SHA-256\}\S+ "
                     r"\{SCRAM-SHA-1\}\S+ \{CRAM-MD5\}[0-9a-f]{64} "
                     r"\{DIGEST-MD5\}[0-9a-f]{32} \{SHA512-CRYPT\}\$6\$\S+$",
                     text, re.M), text
    res = postauth(master, "list")
    assert res.returncode == 0, res.stderr
    assert "bob@example.org: {PLAIN}" in res.stdout
    assert "erin@example.org: {SCRAM-SHA-256} {SCRAM-SHA-1} {CRAM-MD5} " \
        "{DIGEST-MD5} {SHA512-CRYPT}" in res.stdout
    assert "pass" not in res.stdout
    # master was told to reload: the new auth knows erin, every mechanism.
    assert wait_for(lambda: postauth(master, "test", "erin",
                                     stdin="erin pass\n").returncode == 0, 20)
    res = postauth(master, "test", "erin", stdin="erin pass\n")
    for mech in ("SCRAM-SHA-256", "SCRAM-SHA-1", "DIGEST-MD5", "CRAM-MD5",
                 "PLAIN", "LOGIN"):
        assert f"{mech}: ok (erin@example.org)" in res.stdout, res.stdout
    res = postauth(master, "test", "erin", stdin="wrong\n")
    assert res.returncode == 1 and "PLAIN: failed" in res.stdout
    # hash prints a value; -s picks the scheme.
    res = postauth(master, "hash", "-s", "SHA512-CRYPT", stdin="x\n")
    assert re.fullmatch(r"\{SHA512-CRYPT\}\$6\$\S+\n", res.stdout), res.stdout
    res = postauth(master, "hash", "-s", "NOPE", stdin="x\n")
    assert res.returncode == 1 and "unknown password scheme" in res.stderr
    # delete
    res = postauth(master, "delete", "erin@example.org")
    assert res.returncode == 0, res.stderr
    assert "erin" not in umap.read_text()
    assert "bob@example.org" in umap.read_text()
    res = postauth(master, "delete", "erin@example.org")
    assert res.returncode == 1 and "no such user" in res.stderr
