"""smtpd and the DNS (issue 6, "DNS" and "Tests": the client's name is
verified, RBL against a test DNS zone): chrooted smtpd services resolve
through the test DNS server of testdns.py (dnsmasq on 127.0.0.153:53,
answering for the zone below and NXDOMAIN for everything else), reached
through queue_directory/etc/resolv.conf.

The first test starts an instance with "postern start", which copies
/etc's resolver files into queue_directory/etc (postern(1)), points the
copy at the test server and checks that a chrooted smtpd then verifies a
client's name, and that "postern reload" copies the files again. The
other tests share one instance started by "master -d" (test_master.Master,
which collects sanitizer reports), one smtpd service per restriction.
Clients connect from 127.0.0.x source addresses.
"""

import os
import stat
import subprocess
from pathlib import Path

import pytest

import testdns
from conftest import BUILD_DIR, Instance, add_program, free_ports, \
    layout_args, run_install
from test_master import Master, wait_for
from test_smtpd import LOCAL_DOMAIN, MYHOST, Raw, incoming, log_after, \
    queued_id

TESTBIN = BUILD_DIR / "testbin"
CHROOT_FILES = ["resolv.conf", "hosts", "nsswitch.conf", "host.conf",
                "services", "localtime"]

# The test zone.
HOSTS = {
    "client.test": "127.0.0.2",      # verified: PTR and A agree
    "liar.test": "127.0.0.99",       # PTR of 127.0.0.3 points here
    "mail.mx.test": "127.0.0.9",
    "a-only.test": "127.0.0.10",
    "2.0.0.127.rbl.test": "127.0.0.2",
    "6.0.0.127.rbl.test": "127.0.0.10",
    "2.0.0.127.wl.test": "127.0.0.2",
    "bad.test.rhsbl.test": "127.0.0.2",
    "primary.backup.test": "127.0.0.20",
    "ours.test": "127.0.0.1",        # this machine (inet_interfaces)
    "ns1.nsprov.test": "127.0.0.30",
}
PTRS = {
    "127.0.0.2": "client.test",
    "127.0.0.3": "liar.test",
    "127.0.0.4": "nowhere.test",     # no address at all
    # 127.0.0.5, 127.0.0.6: no PTR
}
TXTS = {
    "2.0.0.127.rbl.test": "listed by the test",
    "bad.test.rhsbl.test": "bad sender domain",
}
MXS = {
    "mx.test": "mail.mx.test",      # an MX and no address of its own
    # permit_mx_backup: we are a backup by name, by address, not at all,
    # or the primary.
    "backup.test": [(10, "primary.backup.test"), (20, MYHOST)],
    "backup2.test": [(10, "primary.backup.test"), (20, "ours.test")],
    "notus.test": "primary.backup.test",
    "weprimary.test": [(10, "ours.test"), (20, "primary.backup.test")],
}
NS = {"nszone.test": "ns1.nsprov.test"}

RBL_REPLY = "550 Go away, $rbl_what is listed at $rbl_domain"


@pytest.fixture(scope="module")
def dns():
    if os.geteuid() != 0:
        pytest.skip("the end-to-end tests install Postern and run as root")
    if not testdns.available():
        pytest.fail(f"{testdns.DNSMASQ} is missing: make deps (Debian "
                    "package dnsmasq-base)")
    server = testdns.TestDNS(hosts=HOSTS, ptrs=PTRS, txts=TXTS, mxs=MXS,
                             ns=NS)
    with server:
        yield server


def test_zone(dns):
    """The test server answers as the tests below expect."""
    assert dns.query("client.test") == (0, ["127.0.0.2"])
    assert dns.query(testdns.ptr_name("127.0.0.2"), testdns.T_PTR) == \
        (0, ["client.test"])
    assert dns.query("mx.test", testdns.T_MX) == (0, [(10, "mail.mx.test")])
    assert dns.query("2.0.0.127.rbl.test", testdns.T_TXT) == \
        (0, ["listed by the test"])
    assert dns.query("nszone.test", testdns.T_NS) == \
        (0, ["ns1.nsprov.test"])
    assert dns.query("missing.test")[0] == 3
    assert dns.query(testdns.ptr_name("127.0.0.5"), testdns.T_PTR)[0] == 3


def session(port, source, helo="client.test", greeting=True):
    c = Raw(port, source)
    if greeting:
        reply = c.reply()
        assert reply.startswith("220 "), reply
    if helo:
        reply = c.cmd(f"EHLO {helo}")
        assert reply.startswith("250-"), reply
    return c


def send_message(c, sender="s@a-only.test", rcpt=f"r@{LOCAL_DOMAIN}"):
    assert c.cmd(f"MAIL FROM:<{sender}>") == "250 2.1.0 Ok"
    assert c.cmd(f"RCPT TO:<{rcpt}>") == "250 2.1.5 Ok"
    assert c.cmd("DATA").startswith("354 ")
    c.send("Subject: dns\r\n\r\nbody\r\n.\r\n")
    return queued_id(c.reply())


def rcpt_reply(port, source, sender="s@a-only.test",
               rcpt=f"r@{LOCAL_DOMAIN}", helo="client.test"):
    """The reply to RCPT TO (the restrictions run there by default)."""
    c = session(port, source, helo)
    try:
        reply = c.cmd(f"MAIL FROM:<{sender}>")
        if not reply.startswith("250 "):
            return reply
        return c.cmd(f"RCPT TO:<{rcpt}>")
    finally:
        c.close()


def base_main_cf(**extra):
    settings = dict(
        myhostname=MYHOST,
        mydomain=LOCAL_DOMAIN,
        mydestination=f"{LOCAL_DOMAIN}, $myhostname",
        mynetworks="127.0.0.1/32",
        local_recipient_maps="",
        smtpd_relay_restrictions="permit_mynetworks, reject_unauth_destination",
        smtpd_error_sleep_time="0s",
        smtpd_peername_lookup="yes",
        ipc_timeout="10s",
    )
    settings.update(extra)
    return settings


def new_instance(root):
    args = layout_args(root)
    run_install(args)
    inst = Instance(root, args)
    if not (inst.daemon_dir / "smtpd").is_file():
        pytest.fail("the install has no smtpd")
    if not (TESTBIN / "triggerd").is_file():
        pytest.fail(f"{TESTBIN / 'triggerd'} is missing: run make first")
    add_program(TESTBIN / "triggerd", inst.daemon_dir / "triggerd")
    return inst


def postern(inst, *args):
    return subprocess.run([str(inst.command("postern")), "-c",
                           str(inst.config_dir), *args],
                          stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=60)


# ---- postern start / reload: the chroot's resolver files ---------------------


def test_postern_start_and_reload_give_the_chroot_its_resolver(
        dns, tmp_path):
    inst = new_instance(tmp_path / "inst")
    port, = free_ports(1)
    m = Master(inst, inst.main_cf.read_text())
    m.configure(["cleanup unix n - y - 0 cleanup",
                 "qmgr unix n - y 3600 1 triggerd",
                 f"127.0.0.1:{port} inet n - y - - smtpd"],
                **base_main_cf())
    etc = inst.queue_dir / "etc"
    try:
        res = postern(inst, "-v", "start")
        assert res.returncode == 0, res.stderr
        copied = 0
        for name in CHROOT_FILES:
            host = Path("/etc") / name
            copy = etc / name
            if not host.is_file():
                assert not copy.exists(), copy
                continue
            assert copy.read_bytes() == host.read_bytes(), copy
            st = copy.lstat()
            assert stat.S_ISREG(st.st_mode)
            assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o644, 0), copy
            assert f"copied {host} to {copy}" in res.stderr, res.stderr
            copied += 1
        assert (etc / "resolv.conf").is_file(), "no /etc/resolv.conf here?"
        assert copied >= 2
        assert wait_for(lambda: "daemon started" in m.log_text())

        # The chrooted smtpd reads the copy: point it at the test server.
        dns.point(inst)
        mark = len(m.log_text())
        c = session(port, "127.0.0.2")
        c.cmd("QUIT")
        c.close()
        assert wait_for(lambda: "connect from client.test[127.0.0.2]"
                        in log_after(m, mark)), log_after(m, mark)

        # Files that are already the same are left alone.
        before = {n: (etc / n).stat().st_mtime_ns for n in CHROOT_FILES
                  if (etc / n).exists() and n not in
                  ("resolv.conf", "hosts", "nsswitch.conf")}
        # reload copies /etc's files again (ours were different) ...
        res = postern(inst, "-v", "reload")
        assert res.returncode == 0, res.stderr
        assert (etc / "resolv.conf").read_bytes() == \
            Path("/etc/resolv.conf").read_bytes()
        assert "copied /etc/resolv.conf" in res.stderr, res.stderr
        for n, mtime in before.items():
            assert (etc / n).stat().st_mtime_ns == mtime, n
            assert f"copied /etc/{n} " not in res.stderr, res.stderr
        # ... so a test that reloads points the copy at its server again.
        dns.point(inst)
        mark = len(m.log_text())
        c = session(port, "127.0.0.2")
        c.cmd("QUIT")
        c.close()
        assert wait_for(lambda: "connect from client.test[127.0.0.2]"
                        in log_after(m, mark)), log_after(m, mark)
        res = postern(inst, "stop")
        assert res.returncode == 0, res.stderr
    finally:
        if postern(inst, "status").returncode == 0:
            postern(inst, "abort")
        m.cleanup()


def test_postern_start_copies_nothing_without_a_chrooted_service(tmp_path):
    inst = new_instance(tmp_path / "inst")
    port, = free_ports(1)
    m = Master(inst, inst.main_cf.read_text())
    m.configure(["cleanup unix n - n - 0 cleanup",
                 f"127.0.0.1:{port} inet n - n - - smtpd"],
                **base_main_cf())
    try:
        res = postern(inst, "start")
        assert res.returncode == 0, res.stderr
        assert not (inst.queue_dir / "etc" / "resolv.conf").exists()
        assert postern(inst, "stop").returncode == 0
    finally:
        if postern(inst, "status").returncode == 0:
            postern(inst, "abort")
        m.cleanup()


# ---- one instance, one smtpd per restriction ---------------------------------


class Ports:
    pass


SERVICES = {
    "names": "",
    "unknown_client":
        "-o smtpd_client_restrictions=reject_unknown_client_hostname",
    "unknown_reverse":
        "-o smtpd_client_restrictions="
        "reject_unknown_reverse_client_hostname",
    "unknown_helo": "-o smtpd_helo_restrictions=reject_unknown_helo_hostname",
    "unknown_domain":
        "-o smtpd_sender_restrictions=reject_unknown_sender_domain"
        " -o smtpd_recipient_restrictions=reject_unknown_recipient_domain",
    "rbl": "-o smtpd_client_restrictions=reject_rbl_client,rbl.test",
    "rbl_filter":
        "-o smtpd_client_restrictions=reject_rbl_client,rbl.test=127.0.0.2",
    "rbl_reply": "-o smtpd_client_restrictions=reject_rbl_client,rbl.test"
                 " -o rbl_reply_maps=texthash:{config}/rbl_reply",
    "rhsbl_sender":
        "-o smtpd_sender_restrictions=reject_rhsbl_sender,rhsbl.test",
    "dnswl": "-o { smtpd_client_restrictions = permit_dnswl_client wl.test,"
             " reject_rbl_client rbl.test }",
    "sender_mx":
        "-o smtpd_sender_restrictions="
        "check_sender_mx_access,texthash:{config}/mx_access",
    "helo_a":
        "-o smtpd_helo_restrictions="
        "check_helo_a_access,texthash:{config}/mx_access",
    "sender_ns":
        "-o smtpd_sender_restrictions="
        "check_sender_ns_access,texthash:{config}/mx_access",
    "mx_backup":
        "-o smtpd_relay_restrictions="
        "permit_mx_backup,reject_unauth_destination",
    "mx_backup_in":
        "-o smtpd_relay_restrictions="
        "permit_mx_backup,reject_unauth_destination"
        " -o permit_mx_backup_networks=127.0.0.16/28",
    "mx_backup_out":
        "-o smtpd_relay_restrictions="
        "permit_mx_backup,reject_unauth_destination"
        " -o permit_mx_backup_networks=10.0.0.0/8",
    "no_delay":
        "-o smtpd_delay_reject=no"
        " -o smtpd_client_restrictions=reject_rbl_client,rbl.test",
}


@pytest.fixture(scope="module")
def smtpd(dns, tmp_path_factory):
    inst = new_instance(tmp_path_factory.mktemp("smtpd_dns"))
    (inst.config_dir / "rbl_reply").write_text(f"rbl.test {RBL_REPLY}\n")
    (inst.config_dir / "mx_access").write_text(
        "mail.mx.test REJECT listed MX host\n"
        "127.0.0.10 REJECT listed address\n"
        "127.0.0.30 REJECT listed name server address\n")
    p = Ports()
    lines = ["cleanup unix n - y - 0 cleanup",
             "qmgr unix n - y 3600 1 triggerd"]
    for name, port in zip(SERVICES, free_ports(len(SERVICES))):
        setattr(p, name, port)
        opts = SERVICES[name].replace("{config}", str(inst.config_dir))
        lines.append(f"127.0.0.1:{port} inet n - y - - smtpd {opts}")
    m = Master(inst, inst.main_cf.read_text())
    m.log.unlink(missing_ok=True)
    m.configure(lines, **base_main_cf())
    # master -d copies nothing: the test server's files are the only ones.
    dns.point(inst)
    m.start()
    m.ports = p
    yield m
    reports = m.cleanup()
    assert not reports, f"sanitizer reports:\n{reports}"


def test_verified_client_name_in_log_and_received_header(smtpd):
    mark = len(smtpd.log_text())
    c = session(smtpd.ports.names, "127.0.0.2")
    qid = send_message(c)
    c.cmd("QUIT")
    c.close()
    log = log_after(smtpd, mark)
    assert "connect from client.test[127.0.0.2]" in log, log
    assert f"{qid}: client=client.test[127.0.0.2]" in log, log
    qf = incoming(smtpd, qid)
    assert qf.attrs.get("client_name") == "client.test"
    assert qf.attrs.get("reverse_client_name") == "client.test"
    assert qf.header_lines[0] == \
        "Received: from client.test (client.test [127.0.0.2])", \
        qf.header_lines[:3]


@pytest.mark.parametrize("source,reverse", [
    ("127.0.0.3", "liar.test"),      # forward lookup gives another address
    ("127.0.0.4", "nowhere.test"),   # forward lookup finds nothing
    ("127.0.0.5", "unknown"),        # no PTR
])
def test_unverified_client_is_unknown(smtpd, source, reverse):
    mark = len(smtpd.log_text())
    c = session(smtpd.ports.names, source, helo="helo.example")
    qid = send_message(c)
    c.close()
    log = log_after(smtpd, mark)
    assert f"connect from unknown[{source}]" in log, log
    assert f"{qid}: client=unknown[{source}]" in log, log
    if reverse != "unknown":
        assert f"hostname {reverse} does not resolve to address {source}" \
            in log, log
    qf = incoming(smtpd, qid)
    assert qf.attrs.get("client_name") == "unknown"
    assert qf.attrs.get("reverse_client_name") == reverse
    assert qf.header_lines[0] == \
        f"Received: from helo.example (unknown [{source}])", \
        qf.header_lines[:3]


def test_reject_unknown_client_hostname(smtpd):
    port = smtpd.ports.unknown_client
    assert rcpt_reply(port, "127.0.0.2") == "250 2.1.5 Ok"
    for source in ("127.0.0.3", "127.0.0.4", "127.0.0.5"):
        reply = rcpt_reply(port, source)
        assert reply == ("450 4.7.25 Client host rejected: cannot find your "
                         f"hostname, [{source}]"), reply
    assert wait_for(lambda: "NOQUEUE: reject: RCPT from unknown[127.0.0.3]: "
                    "450 4.7.25 Client host rejected: cannot find your "
                    "hostname, [127.0.0.3]; from=<s@a-only.test> "
                    f"to=<r@{LOCAL_DOMAIN}> proto=ESMTP helo=<client.test>"
                    in smtpd.log_text()), smtpd.log_text()[-2000:]


def test_reject_unknown_reverse_client_hostname(smtpd):
    port = smtpd.ports.unknown_reverse
    # A PTR is enough, whatever its forward lookup says.
    for source in ("127.0.0.2", "127.0.0.3", "127.0.0.4"):
        assert rcpt_reply(port, source) == "250 2.1.5 Ok", source
    reply = rcpt_reply(port, "127.0.0.5")
    assert reply == ("450 4.7.25 Client host rejected: cannot find your "
                     "reverse hostname, [127.0.0.5]"), reply


def test_reject_unknown_helo_hostname(smtpd):
    port = smtpd.ports.unknown_helo
    for helo in ("client.test", "mx.test", "a-only.test", "[127.0.0.5]"):
        assert rcpt_reply(port, "127.0.0.5", helo=helo) == "250 2.1.5 Ok", \
            helo
    reply = rcpt_reply(port, "127.0.0.5", helo="missing.test")
    assert reply == ("450 4.7.1 <missing.test>: Helo command rejected: "
                     "Host not found"), reply


def test_reject_unknown_sender_and_recipient_domain(smtpd):
    port = smtpd.ports.unknown_domain
    # An address record, or an MX record alone, is enough.
    for domain in ("a-only.test", "mx.test", "client.test"):
        assert rcpt_reply(port, "127.0.0.1", sender=f"s@{domain}",
                          rcpt=f"r@{domain}") == "250 2.1.5 Ok", domain
    # Neither.
    reply = rcpt_reply(port, "127.0.0.1", sender="s@missing.test")
    assert reply == ("450 4.1.8 <s@missing.test>: Sender address rejected: "
                     "Domain not found"), reply
    reply = rcpt_reply(port, "127.0.0.1", rcpt="r@missing.test")
    assert reply == ("450 4.1.2 <r@missing.test>: Recipient address "
                     "rejected: Domain not found"), reply
    # Our own domain is never looked up; the null sender has no domain.
    assert rcpt_reply(port, "127.0.0.1", sender=f"s@{LOCAL_DOMAIN}",
                      rcpt=f"r@{MYHOST}") == "250 2.1.5 Ok"
    assert rcpt_reply(port, "127.0.0.1", sender="") == "250 2.1.5 Ok"


def test_reject_rbl_client(smtpd):
    port = smtpd.ports.rbl
    reply = rcpt_reply(port, "127.0.0.2")
    assert reply == ("554 5.7.1 Service unavailable; Client host "
                     "[127.0.0.2] blocked using rbl.test; listed by the "
                     "test"), reply
    # Listed with another address and no TXT record.
    reply = rcpt_reply(port, "127.0.0.6")
    assert reply == ("554 5.7.1 Service unavailable; Client host "
                     "[127.0.0.6] blocked using rbl.test"), reply
    assert rcpt_reply(port, "127.0.0.5") == "250 2.1.5 Ok"
    assert wait_for(lambda: "NOQUEUE: reject: RCPT from client.test"
                    "[127.0.0.2]: 554 5.7.1 Service unavailable; Client host "
                    "[127.0.0.2] blocked using rbl.test; listed by the test; "
                    "from=<s@a-only.test> " in smtpd.log_text()), \
        smtpd.log_text()[-2000:]


def test_reject_rbl_client_with_a_filter(smtpd):
    port = smtpd.ports.rbl_filter
    reply = rcpt_reply(port, "127.0.0.2")
    assert reply.startswith("554 5.7.1 Service unavailable; Client host "
                            "[127.0.0.2] blocked using rbl.test"), reply
    # 6.0.0.127.rbl.test is 127.0.0.10: not what the filter asks for.
    assert rcpt_reply(port, "127.0.0.6") == "250 2.1.5 Ok"


def test_reject_rbl_client_with_rbl_reply_maps(smtpd):
    reply = rcpt_reply(smtpd.ports.rbl_reply, "127.0.0.2")
    assert reply == "550 5.7.1 Go away, 127.0.0.2 is listed at rbl.test", \
        reply


def test_reject_rbl_client_without_delay(smtpd):
    # smtpd_delay_reject=no: the client is refused in the greeting, then
    # every command but QUIT is refused.
    c = Raw(smtpd.ports.no_delay, "127.0.0.2")
    try:
        greeting = c.reply()
        assert greeting == ("554 5.7.1 Service unavailable; Client host "
                            "[127.0.0.2] blocked using rbl.test; listed by "
                            "the test"), greeting
        assert c.cmd("EHLO client.test") == \
            "503 5.7.0 Error: access denied for client.test[127.0.0.2]"
        assert c.cmd("QUIT") == "221 2.0.0 Bye"
    finally:
        c.close()
    c = Raw(smtpd.ports.no_delay, "127.0.0.5")
    try:
        assert c.reply().startswith("220 ")
    finally:
        c.close()


def test_reject_rhsbl_sender(smtpd):
    port = smtpd.ports.rhsbl_sender
    reply = rcpt_reply(port, "127.0.0.5", sender="s@bad.test")
    assert reply == ("554 5.7.1 Service unavailable; Sender address "
                     "[bad.test] blocked using rhsbl.test; bad sender "
                     "domain"), reply
    assert rcpt_reply(port, "127.0.0.5", sender="s@a-only.test") == \
        "250 2.1.5 Ok"
    assert rcpt_reply(port, "127.0.0.5", sender="") == "250 2.1.5 Ok"


def test_permit_dnswl_client(smtpd):
    port = smtpd.ports.dnswl
    # 127.0.0.2 is in both lists: the white list comes first.
    assert rcpt_reply(port, "127.0.0.2") == "250 2.1.5 Ok"
    reply = rcpt_reply(port, "127.0.0.6")
    assert reply.startswith("554 5.7.1 Service unavailable; Client host "
                            "[127.0.0.6] blocked using rbl.test"), reply
    assert rcpt_reply(port, "127.0.0.5") == "250 2.1.5 Ok"


def test_check_sender_mx_access(smtpd):
    port = smtpd.ports.sender_mx
    reply = rcpt_reply(port, "127.0.0.5", sender="s@mx.test")
    assert reply == ("554 5.7.1 <s@mx.test>: Sender address rejected: "
                     "listed MX host"), reply
    # No MX record: the domain is its own MX host, here by its address.
    reply = rcpt_reply(port, "127.0.0.5", sender="s@a-only.test")
    assert reply == ("554 5.7.1 <s@a-only.test>: Sender address rejected: "
                     "listed address"), reply
    assert rcpt_reply(port, "127.0.0.5", sender="s@client.test") == \
        "250 2.1.5 Ok"
    assert rcpt_reply(port, "127.0.0.5", sender="s@missing.test") == \
        "250 2.1.5 Ok"


def test_check_helo_a_access(smtpd):
    port = smtpd.ports.helo_a
    reply = rcpt_reply(port, "127.0.0.5", helo="a-only.test")
    assert reply == ("554 5.7.1 <a-only.test>: Helo command rejected: "
                     "listed address"), reply
    assert rcpt_reply(port, "127.0.0.5", helo="client.test") == \
        "250 2.1.5 Ok"


def test_check_sender_ns_access(smtpd):
    port = smtpd.ports.sender_ns
    # sub.nszone.test has no NS record: those of nszone.test count.
    for domain in ("nszone.test", "sub.nszone.test"):
        reply = rcpt_reply(port, "127.0.0.5", sender=f"s@{domain}")
        assert reply == (f"554 5.7.1 <s@{domain}>: Sender address rejected: "
                         "listed name server address"), reply
    assert rcpt_reply(port, "127.0.0.5", sender="s@client.test") == \
        "250 2.1.5 Ok"


def test_permit_mx_backup(smtpd):
    port = smtpd.ports.mx_backup
    for domain in ("backup.test", "backup2.test"):
        assert rcpt_reply(port, "127.0.0.5", rcpt=f"r@{domain}") == \
            "250 2.1.5 Ok", domain
    for domain in ("notus.test", "weprimary.test", "mx.test", "missing.test"):
        reply = rcpt_reply(port, "127.0.0.5", rcpt=f"r@{domain}")
        assert reply == f"554 5.7.1 <r@{domain}>: Relay access denied", reply
    reply = rcpt_reply(port, "127.0.0.5", rcpt="r%x.test@backup.test")
    assert reply == "554 5.7.1 <r%x.test@backup.test>: Relay access denied"
    # permit_mx_backup_networks: the primary MX host must be in them.
    assert rcpt_reply(smtpd.ports.mx_backup_in, "127.0.0.5",
                      rcpt="r@backup.test") == "250 2.1.5 Ok"
    reply = rcpt_reply(smtpd.ports.mx_backup_out, "127.0.0.5",
                       rcpt="r@backup.test")
    assert reply == "554 5.7.1 <r@backup.test>: Relay access denied", reply
