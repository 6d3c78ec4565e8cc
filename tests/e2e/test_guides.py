"""The guides of docs/ (issue 10), executed: every command and configuration
snippet they show runs against one installed, running instance, and each
guide's stated result is checked.

How a guide marks its blocks: an HTML comment line right before a fenced
block says what to do with it (readers of the rendered Markdown never see
it). The words after "test:" are split like a shell command line:

    <!-- test: run -->                  run the ```sh block with bash -e;
    <!-- test: run expect=RE absent=RE status=N -->
                                        ... and check its output (stdout
                                        and stderr together) and exit status
                                        (expect2=, absent2=...: more REs;
                                        status=any: any exit status)
    <!-- test: main.cf -->              set each "name = value" of the
                                        ```conf block, as editing main.cf
                                        (postconf -e)
    <!-- test: master.cf -->            add the block to master.cf
    <!-- test: file PATH -->            write the block into PATH
    <!-- test: append PATH -->          add the block at the end of PATH
    <!-- test: log RE -->               the block shows a log line: wait
                                        until RE matches the instance's log
    <!-- test: skip REASON -->          not run (REASON says why)

Every ```sh and ```conf block must have one (test_every_block_is_marked),
so nothing runnable is left out by mistake. Blocks run in the order of the
guide.

Substitutions, applied to each block and to each directive's words, so
the guides can use the names a reader would:

    [mail.isp.example]:submission    -> [127.0.0.1]:PORT of a fake relay
                                        (FakeSMTP of test_smtp.py: STARTTLS,
                                        AUTH PLAIN LOGIN, one account)
    [smtp.other.example]:submission  -> [127.0.0.1]:PORT of a second one
    mail.isp.example, smtp.other.example -> 127.0.0.1
    "submission inet" (master.cf)    -> "127.0.0.1:PORT inet" (and
    submission/inet -> 127.0.0.1:PORT/inet, for postconf -M and -P)
    localhost:587                    -> 127.0.0.1:PORT of that service
    /etc/postern                     -> the instance's config_directory
    /etc/postfix                     -> a Postfix configuration made here
    /etc/sasldb2                     -> a sasldb2 made with saslpasswd2
    /var/log/mail.log                -> the instance's maillog_file

Commands run with the instance's command_directory first in PATH and
MAIL_CONFIG set, as on a machine where Postern is the installed mail
system. Before each guide, main.cf and master.cf get back the test's
baseline (loopback addresses, free ports, maillog_file, and a relayhost
that is a catch-all fake server so no message leaves the machine) and the
instance is reloaded.
"""

import os
import re
import shlex
import shutil
import ssl
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import REPO, Instance, free_ports, layout_args, run_install
from test_master import wait_for
from test_smtp import FakeSMTP
from tlscert import make_test_certs

DOCS = REPO / "docs"
GUIDES = ["smtp-auth.md", "relay-via-provider.md", "troubleshooting.md",
          "migrating-from-postfix.md"]
DIRECTIVE = re.compile(r"^<!--\s*test:\s*(.*?)\s*-->\s*$")
FENCE = re.compile(r"^```(\w*)\s*$")


# ---- reading a guide --------------------------------------------------------


class Block:
    def __init__(self, lang, text, directive, line):
        self.lang = lang
        self.text = text
        self.directive = directive   # None or the words after "test:"
        self.line = line


def blocks(path):
    """The fenced blocks of the Markdown file PATH, with their directives."""
    out = []
    lines = Path(path).read_text().splitlines()
    i = 0
    directive = None
    while i < len(lines):
        m = DIRECTIVE.match(lines[i])
        if m:
            directive = m.group(1)
            i += 1
            continue
        m = FENCE.match(lines[i])
        if m:
            start = i + 1
            j = start
            while j < len(lines) and lines[j].rstrip() != "```":
                j += 1
            assert j < len(lines), f"{path}:{start}: unclosed code block"
            out.append(Block(m.group(1), "\n".join(lines[start:j]) + "\n",
                             directive, start))
            directive = None
            i = j + 1
            continue
        if lines[i].strip():
            directive = None   # a directive belongs to the very next block
        i += 1
    return out


# ---- the instance -------------------------------------------------------------


class Guides:
    pass


def postern(g, *args):
    return g.inst.run([g.inst.command("postern"), "-c", g.inst.config_dir,
                       *args], timeout=120)


@pytest.fixture(scope="module")
def g():
    if os.geteuid() != 0:
        pytest.skip("the end-to-end tests install Postern and run as root")
    root = Path(tempfile.mkdtemp(prefix="postern-guides-"))
    os.chmod(root, 0o711)
    fakes = []
    inst = None
    try:
        args = layout_args(root)
        run_install(args)
        inst = Instance(root, args)
        e = Guides()
        e.inst = inst
        e.root = root
        e.log = root / "maillog"
        smtp_port, e.sub_port = free_ports(2)
        certs = make_test_certs(root / "tls", names=["localhost",
                                                     "127.0.0.1"])
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(certs.fullchain, certs.key)
        # the provider's relay and a second one, for per-sender accounts
        e.isp = FakeSMTP()
        e.other = FakeSMTP()
        e.catchall = FakeSMTP()
        fakes += [e.isp, e.other, e.catchall]
        for srv, user, pw in ((e.isp, "you@isp.example", "provider-password"),
                              (e.other, "work@other.example",
                               "work-password")):
            srv.tls = ctx
            srv.auth_mechs = "PLAIN LOGIN"
            srv.creds = {user: pw}
        # a Postfix configuration to migrate from
        e.postfix = root / "postfix"
        e.postfix.mkdir()
        (e.postfix / "main.cf").write_text(
            "# as Debian's postfix package writes it, plus a site's lines\n"
            "smtpd_banner = $myhostname ESMTP $mail_name (Debian/GNU)\n"
            "biff = no\n"
            "append_dot_mydomain = no\n"
            "readme_directory = no\n"
            "compatibility_level = 3.6\n"
            "smtpd_tls_security_level = may\n"
            "smtp_tls_CApath = /etc/ssl/certs\n"
            "smtp_tls_security_level = may\n"
            "smtp_tls_session_cache_database = "
            "btree:${data_directory}/smtp_scache\n"
            "smtpd_relay_restrictions = permit_mynetworks "
            "permit_sasl_authenticated defer_unauth_destination\n"
            "myhostname = mx.example.com\n"
            "mydestination = $myhostname, example.com, localhost\n"
            "relayhost =\n"
            "mynetworks = 127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128\n"
            "mailbox_size_limit = 0\n"
            "recipient_delimiter = +\n"
            "inet_interfaces = all\n"
            "inet_protocols = all\n"
            f"virtual_alias_maps = hash:{e.postfix}/virtual\n"
            "smtpd_milters = inet:localhost:8891\n"
            "queue_directory = /var/spool/postfix\n"
            "mail_owner = postfix\n"
            "setgid_group = postdrop\n")
        (e.postfix / "virtual").write_text(
            "sales@example.com  alice@example.com\n")
        (e.postfix / "master.cf").write_text(
            "smtp      inet  n       -       y       -       -       smtpd\n"
            # "submission inet", as the guide's substitution spells it
            f"127.0.0.1:{e.sub_port} inet n       -       y       -       -"
            "       smtpd\n"
            "  -o syslog_name=postfix/submission\n"
            "  -o smtpd_tls_security_level=encrypt\n"
            "  -o smtpd_sasl_auth_enable=yes\n"
            "pickup    unix  n       -       y       60      1       pickup\n"
            "tlsmgr    unix  -       -       y       1000?   1       tlsmgr\n")
        # an existing Cyrus user database
        e.sasldb = root / "sasldb2"
        if shutil.which("saslpasswd2"):
            subprocess.run(["saslpasswd2", "-p", "-c", "-f", str(e.sasldb),
                            "-u", "example.com", "bob"], input="bob's secret",
                           text=True, check=True, timeout=30)
        e.subst = [
            ("[mail.isp.example]:submission", f"[127.0.0.1]:{e.isp.port}"),
            ("[smtp.other.example]:submission",
             f"[127.0.0.1]:{e.other.port}"),
            ("mail.isp.example", "127.0.0.1"),
            ("smtp.other.example", "127.0.0.1"),
            ("submission inet", f"127.0.0.1:{e.sub_port} inet"),
            ("submission/inet", f"127.0.0.1:{e.sub_port}/inet"),
            ("localhost:587", f"127.0.0.1:{e.sub_port}"),
            ("/etc/postern", str(inst.config_dir)),
            ("/etc/postfix", str(e.postfix)),
            ("/etc/sasldb2", str(e.sasldb)),
            ("/var/log/mail.log", str(e.log)),
        ]
        e.env = dict(os.environ,
                     PATH=f"{inst.command_dir}:{os.environ.get('PATH', '')}",
                     MAIL_CONFIG=str(inst.config_dir), HOME=str(root))
        # the baseline every guide starts from
        text = inst.master_cf.read_text()
        text = re.sub(r"^smtp(\s+)inet ", f"127.0.0.1:{smtp_port}\\1inet ",
                      text, flags=re.M)
        inst.master_cf.write_text(text)
        with inst.main_cf.open("a") as f:
            f.write(f"maillog_file = {e.log}\n"
                    "inet_interfaces = 127.0.0.1\n"
                    "inet_protocols = ipv4\n"
                    "myhostname = mail.example.com\n"
                    "mydomain = example.com\n"
                    f"relayhost = [127.0.0.1]:{e.catchall.port}\n"
                    "smtp_connect_timeout = 5s\n"
                    "minimal_backoff_time = 300s\n")
        e.main_cf = inst.main_cf.read_text()
        e.master_cf = inst.master_cf.read_text()
        res = postern(e, "start")
        assert res.returncode == 0, res.stderr
        yield e
    finally:
        if inst is not None:
            inst.run([inst.command("postern"), "-c", inst.config_dir,
                      "stop"], timeout=60)
        for srv in fakes:
            srv.stop()
        if not os.environ.get("POSTERN_GUIDES_KEEP"):  # for debugging
            shutil.rmtree(root, ignore_errors=True)


def subst(g, text):
    for old, new in g.subst:
        text = text.replace(old, new)
    return text


def baseline(g):
    g.inst.main_cf.write_text(g.main_cf)
    g.inst.master_cf.write_text(g.master_cf)
    res = postern(g, "reload")
    assert res.returncode == 0, res.stderr


def run_sh(g, script):
    proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script],
                          cwd=g.root, env=g.env, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)
    return proc.returncode, proc.stdout + proc.stderr


def conf_settings(text):
    """The "name = value" settings of a main.cf snippet (continuation
    lines joined, comments left out)."""
    out = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0].isspace() and out:
            out[-1] += " " + line.strip()
        else:
            out.append(line.strip())
    return out


def execute(g, name):
    """Run every marked block of guide NAME; return the outputs of its
    run blocks, in order."""
    path = DOCS / name
    outputs = []
    for b in blocks(path):
        if b.directive is None:
            continue
        words = shlex.split(subst(g, b.directive))
        action, opts = words[0], words[1:]
        where = f"{name}:{b.line}"
        text = subst(g, b.text)
        if action == "skip":
            assert opts, f"{where}: skip needs a reason"
        elif action == "run":
            kv = [o.split("=", 1) for o in opts]
            rc, out = run_sh(g, text)
            want = dict(kv).get("status", "0")
            assert want == "any" or rc == int(want), \
                f"{where}: exit {rc}, not {want}:\n{text}\n{out}"
            for key, pattern in kv:
                if key.startswith("expect"):
                    assert re.search(pattern, out, re.M), \
                        f"{where}: no /{pattern}/ in:\n{out}"
                elif key.startswith("absent"):
                    assert not re.search(pattern, out, re.M), \
                        f"{where}: /{pattern}/ in:\n{out}"
                else:
                    assert key == "status", f"{where}: unknown {key}="
            outputs.append(out)
        elif action == "main.cf":
            settings = conf_settings(text)
            assert settings, f"{where}: no settings"
            res = g.inst.postconf("-e", *settings)
            assert res.returncode == 0, f"{where}: {res.stderr}"
        elif action == "master.cf":
            with g.inst.master_cf.open("a") as f:
                f.write(text)
        elif action in ("file", "append"):
            assert len(opts) == 1, f"{where}: {action} PATH"
            with open(opts[0], "w" if action == "file" else "a") as f:
                f.write(text)
        elif action == "log":
            assert len(opts) == 1, f"{where}: log RE"
            pattern = opts[0]
            found = wait_for(lambda: re.search(
                pattern, g.log.read_text(errors="replace")
                if g.log.exists() else "", re.M), 30)
            assert found, f"{where}: no /{pattern}/ in the log:\n" + \
                (g.log.read_text(errors="replace")[-3000:]
                 if g.log.exists() else "(no log)")
        else:
            pytest.fail(f"{where}: unknown directive {action!r}")
    return outputs


# ---- the tests --------------------------------------------------------------------


@pytest.mark.parametrize("name", GUIDES)
def test_every_block_is_marked(name):
    path = DOCS / name
    assert path.is_file(), f"{path} is missing"
    found = blocks(path)
    assert found, f"{path} has no code blocks"
    for b in found:
        if b.lang in ("sh", "conf"):
            assert b.directive is not None, \
                f"{name}:{b.line}: a ```{b.lang} block without a test: line"


def test_readme_links_the_guides():
    readme = (REPO / "README.md").read_text()
    for name in GUIDES:
        assert f"docs/{name}" in readme, f"README.md does not link {name}"


def test_smtp_auth_guide(g):
    baseline(g)
    execute(g, "smtp-auth.md")
    # the message the logged-in user sent went on to the relayhost
    assert wait_for(lambda: any("alice@example.com" in m[0]
                                for m in g.catchall.messages()), 30), \
        g.log.read_text()[-3000:]


def test_relay_guide(g):
    baseline(g)
    execute(g, "relay-via-provider.md")
    isp = [s for s in g.isp.sessions if s.messages]
    assert isp, g.log.read_text()[-3000:]
    assert all(s.tls and s.auth == ("PLAIN", "you@isp.example")
               for s in isp), [(s.tls, s.auth) for s in isp]
    senders = [m[0] for m in g.isp.messages()]
    # smtp_generic_maps: the host's own name never reaches the provider
    assert any(m.startswith("FROM:<you@isp.example>") for m in senders), \
        senders
    assert not [m for m in senders if "localdomain" in m], senders
    other = [s for s in g.other.sessions if s.messages]
    assert other and all(s.auth == ("PLAIN", "work@other.example")
                         for s in other), [(s.tls, s.auth) for s in other]


def test_troubleshooting_guide(g):
    baseline(g)
    execute(g, "troubleshooting.md")


def test_migrating_guide(g):
    baseline(g)
    execute(g, "migrating-from-postfix.md")
    # the site's settings came over, the paths stayed Postern's
    res = g.inst.postconf("-h", "myhostname", "queue_directory",
                          "virtual_alias_maps")
    assert res.returncode == 0, res.stderr
    host, queue, virtual = res.stdout.splitlines()
    assert host == "mx.example.com"
    assert queue == str(g.inst.queue_dir)
    assert virtual == f"hash:{g.inst.config_dir}/virtual"


def test_migrating_guide_table_is_current(g):
    """The table of what Postern lacks must say the truth: when a program
    or table type arrives, this fails until the guide is updated."""
    text = (DOCS / "migrating-from-postfix.md").read_text()
    row = re.search(r"^\| Programs (.*)\| not included \|$", text, re.M)
    assert row, "the programs row of the table is missing"
    for prog in re.findall(r"`([a-z]+)`", row.group(1)):
        assert not (g.inst.daemon_dir / prog).exists() and \
            not (g.inst.command_dir / prog).exists(), \
            f"Postern has {prog} now: update docs/migrating-from-postfix.md"
    row = re.search(r"^\| Table types (.*)\| not included;", text, re.M)
    assert row, "the table types row of the table is missing"
    res = g.inst.postconf("-m")
    assert res.returncode == 0, res.stderr
    have = set(res.stdout.split())
    for kind in re.findall(r"`([a-z]+)`", row.group(1)):
        assert kind not in have, \
            f"postconf -m lists {kind}: update docs/migrating-from-postfix.md"
