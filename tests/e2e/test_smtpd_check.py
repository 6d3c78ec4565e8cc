"""smtpd's restriction engine in the real daemon (issue 6, Restrictions):
one installed instance whose chrooted smtpd services use a policy server
written here (on private/policy inside the queue directory, reached after
chroot), a cidr: client table opened before chroot, and the unlisted
recipient check. Clients come from 127.0.0.x source addresses.
"""

import os
import socket
import threading

import pytest

from conftest import BUILD_DIR, Instance, add_program, free_ports, \
    layout_args, run_install
from test_master import Master, wait_for
from test_smtpd import MYHOST, LOCAL_DOMAIN, Raw

TESTBIN = BUILD_DIR / "testbin"


class PolicyServer:
    """Postfix policy delegation protocol: one thread per connection."""

    def __init__(self, path):
        self.path = str(path)
        self.requests = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if os.path.exists(self.path):
            os.unlink(self.path)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o666)
        self.sock.listen(5)
        self.stop = False
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.session, args=(conn,),
                             daemon=True).start()

    def session(self, conn):
        f = conn.makefile("rwb")
        attrs = {}
        for raw in f:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if line:
                name, _, value = line.partition("=")
                attrs[name] = value
                continue
            self.requests.append(attrs)
            rcpt = attrs.get("recipient", "")
            if rcpt.startswith("policy-no@"):
                action = "REJECT blocked by policy"
            elif rcpt.startswith("policy-defer@"):
                action = "DEFER_IF_PERMIT policy wants a retry"
            else:
                action = "DUNNO"
            f.write(f"action={action}\n\n".encode())
            f.flush()
            attrs = {}
        conn.close()

    def close(self):
        self.stop = True
        self.sock.close()


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the end-to-end tests install Postern and run as root")
    if not (TESTBIN / "triggerd").is_file():
        pytest.fail(f"{TESTBIN / 'triggerd'} is missing: run make first")
    root = tmp_path_factory.mktemp("smtpd_check")
    args = layout_args(root)
    run_install(args)
    inst = Instance(root, args)
    if not (inst.daemon_dir / "smtpd").is_file():
        pytest.fail("the install has no smtpd")
    add_program(TESTBIN / "triggerd", inst.daemon_dir / "triggerd")
    cidr = inst.config_dir / "client.cidr"
    cidr.write_text("127.0.0.2/32 REJECT go away, two\n"
                    "127.0.0.3/32 DEFER not now\n")
    policy_port, cidr_port, unlisted_port = free_ports(3)
    m = Master(inst, inst.main_cf.read_text())
    m.log.unlink(missing_ok=True)
    m.configure(
        ["cleanup unix n - y - 0 cleanup",
         "qmgr unix n - y 3600 1 triggerd",
         f"127.0.0.1:{policy_port} inet n - y - - smtpd"
         " -o smtpd_recipient_restrictions="
         "check_policy_service,unix:private/policy"
         " -o smtpd_policy_service_timeout=5s",
         f"127.0.0.1:{cidr_port} inet n - y - - smtpd"
         f" -o smtpd_client_restrictions=check_client_access,cidr:{cidr}",
         f"127.0.0.1:{unlisted_port} inet n - y - - smtpd"
         " -o local_recipient_maps=inline:{alice=1}"],
        myhostname=MYHOST,
        mydomain=LOCAL_DOMAIN,
        mydestination=f"{LOCAL_DOMAIN}, $myhostname",
        mynetworks="127.0.0.1/32",
        local_recipient_maps="",
        smtpd_relay_restrictions="permit_mynetworks, reject_unauth_destination",
        smtpd_error_sleep_time="0s",
        smtpd_peername_lookup="no",
        ipc_timeout="10s",
    )
    (inst.queue_dir / "private").mkdir(exist_ok=True)
    policy = PolicyServer(inst.queue_dir / "private" / "policy")
    m.start()
    m.policy = policy
    m.policy_port, m.cidr_port, m.unlisted_port = (policy_port, cidr_port,
                                                   unlisted_port)
    yield m
    policy.close()
    reports = m.cleanup()
    assert not reports, f"sanitizer reports:\n{reports}"


def session(port, source="127.0.0.1"):
    c = Raw(port, source)
    assert c.reply().startswith("220 ")
    assert c.cmd("EHLO client.example.test").startswith("250-")
    return c


def test_policy_service_after_chroot(checked):
    m = checked
    c = session(m.policy_port)
    assert c.cmd("MAIL FROM:<s@example.org> SIZE=123") == "250 2.1.0 Ok"
    reply = c.cmd(f"RCPT TO:<policy-no@{LOCAL_DOMAIN}>")
    assert reply == (f"554 5.7.1 <policy-no@{LOCAL_DOMAIN}>: Recipient "
                     "address rejected: blocked by policy"), reply
    reply = c.cmd(f"RCPT TO:<policy-defer@{LOCAL_DOMAIN}>")
    assert reply == (f"450 4.7.1 <policy-defer@{LOCAL_DOMAIN}>: Recipient "
                     "address rejected: policy wants a retry"), reply
    assert c.cmd(f"RCPT TO:<ok@{LOCAL_DOMAIN}>").startswith("250 ")
    c.cmd("QUIT")
    c.close()
    req = [r for r in m.policy.requests
           if r.get("recipient") == f"policy-no@{LOCAL_DOMAIN}"]
    assert req, m.policy.requests
    r = req[0]
    assert r["request"] == "smtpd_access_policy"
    assert r["protocol_state"] == "RCPT"
    assert r["protocol_name"] == "ESMTP"
    assert r["helo_name"] == "client.example.test"
    assert r["sender"] == "s@example.org"
    assert r["client_address"] == "127.0.0.1"
    assert r["size"] == "123"
    assert r["instance"]
    assert wait_for(lambda: "NOQUEUE: reject: RCPT from " in m.log_text(), 5)
    assert (f"554 5.7.1 <policy-no@{LOCAL_DOMAIN}>: Recipient address "
            "rejected: blocked by policy; from=<s@example.org> "
            f"to=<policy-no@{LOCAL_DOMAIN}> proto=ESMTP "
            "helo=<client.example.test>") in m.log_text()


def test_cidr_client_table_by_source_address(checked):
    m = checked
    c = session(m.cidr_port, "127.0.0.2")
    assert c.cmd("MAIL FROM:<s@example.org>") == "250 2.1.0 Ok"
    reply = c.cmd(f"RCPT TO:<a@{LOCAL_DOMAIN}>")
    assert reply == ("554 5.7.1 <unknown[127.0.0.2]>: Client host "
                     "rejected: go away, two"), reply
    c.close()
    c = session(m.cidr_port, "127.0.0.3")
    assert c.cmd("MAIL FROM:<s@example.org>") == "250 2.1.0 Ok"
    reply = c.cmd(f"RCPT TO:<a@{LOCAL_DOMAIN}>")
    assert reply == ("450 4.7.1 <unknown[127.0.0.3]>: Client host "
                     "rejected: not now"), reply
    c.close()
    c = session(m.cidr_port, "127.0.0.4")
    assert c.cmd("MAIL FROM:<s@example.org>") == "250 2.1.0 Ok"
    # Not in mynetworks: relaying is denied, local mail is fine.
    assert c.cmd(f"RCPT TO:<a@{LOCAL_DOMAIN}>").startswith("250 ")
    reply = c.cmd("RCPT TO:<x@elsewhere.test>")
    assert reply == "554 5.7.1 <x@elsewhere.test>: Relay access denied"
    c.close()


def test_unlisted_recipient(checked):
    m = checked
    c = session(m.unlisted_port)
    assert c.cmd("MAIL FROM:<s@example.org>") == "250 2.1.0 Ok"
    assert c.cmd(f"RCPT TO:<alice@{LOCAL_DOMAIN}>").startswith("250 ")
    reply = c.cmd(f"RCPT TO:<nobody@{LOCAL_DOMAIN}>")
    assert reply == (f"550 5.1.1 <nobody@{LOCAL_DOMAIN}>: Recipient address "
                     "rejected: User unknown in local recipient table"), reply
    c.close()
