"""A test DNS server for the end-to-end tests: Debian's dnsmasq (package
dnsmasq-base) run as a child of the test, answering for the test's own
zone only, on 127.0.0.153 port 53.

    with TestDNS(hosts={"client.test": "127.0.0.2"},
                 ptrs={"127.0.0.2": "client.test"},
                 txts={"2.0.0.127.rbl.test": "listed"},
                 mxs={"mx.test": "mail.mx.test"}) as dns:
        dns.point(inst)      # queue_directory/etc/resolv.conf -> dnsmasq
        ...

dnsmasq reads no configuration file, no /etc/hosts and no resolv.conf
(--conf-file=/dev/null --no-hosts --no-resolv) and forwards nothing:
every name under a domain of LOCAL ("#", the default, is every domain)
that it does not know gets NXDOMAIN at once, so a lookup never waits for
a time-out and nothing leaves the machine.

The chrooted daemons of an instance use the copies of /etc's resolver
files that "postern start" and "postern reload" put into
queue_directory/etc (postern(1)); point() overwrites that copy of
resolv.conf (and gives hosts and nsswitch.conf a known content) after the
start. A later "postern reload" copies /etc/resolv.conf again, so a test
that reloads calls point() again afterwards. A test that starts the
master directly ("master -d", test_master.Master) gets no copy at all and
point() writes the whole set.

The server is always stopped: use it as a context manager (or call
stop() in a finally); stop() kills the child and waits for it.
"""

import ipaddress
import os
import random
import shutil
import socket
import struct
import subprocess
import time
from pathlib import Path

ADDRESS = "127.0.0.153"
PORT = 53
DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"

# Names the stub resolver and the name service switch read inside the
# chroot, with the content that sends every lookup to the test server.
RESOLV_CONF = (f"nameserver {ADDRESS}\n"
               "options timeout:2 attempts:1\n")
NSSWITCH_CONF = "hosts: files dns\n"
HOSTS = "127.0.0.1 localhost\n"

T_A, T_NS, T_PTR, T_MX, T_TXT, T_AAAA = 1, 2, 12, 15, 16, 28


def ptr_name(addr):
    """The in-addr.arpa / ip6.arpa name of ADDR."""
    return ipaddress.ip_address(addr).reverse_pointer


def available():
    return os.path.isfile(DNSMASQ) and os.access(DNSMASQ, os.X_OK)


class TestDNS:
    """dnsmasq serving HOSTS (name -> address or list of addresses), PTRS
    (address -> name), TXTS (name -> text), MXS (domain -> exchanger, or
    a list of (preference, exchanger)), CNAMES (alias -> target) and
    ADDRESSES (domain -> address for the domain and every name under it),
    NS (zone -> the one name server name used for every zone: dnsmasq
    then serves those zones authoritatively, with that NS record),
    authoritative (NXDOMAIN for the rest) for the domains in LOCAL."""

    __test__ = False  # not a pytest test class

    def __init__(self, hosts=None, ptrs=None, txts=None, mxs=None,
                 cnames=None, addresses=None, ns=None, local=("#",),
                 address=ADDRESS, port=PORT, log=None):
        self.address = address
        self.port = port
        self.proc = None
        self.log = log
        args = [DNSMASQ, "--keep-in-foreground", "--conf-file=/dev/null",
                "--no-resolv", "--no-hosts", "--no-poll", "--bind-interfaces",
                f"--listen-address={address}", f"--port={port}",
                "--user=root", "--group=root", "--pid-file=",
                "--cache-size=0", "--no-negcache", "--log-facility=-",
                "--log-queries"]
        for dom in local:
            args.append(f"--local=/{dom}/")
        for name, addrs in (hosts or {}).items():
            if isinstance(addrs, str):
                addrs = [addrs]
            args.append("--host-record=" + ",".join([name, *addrs]))
        for addr, name in (ptrs or {}).items():
            args.append(f"--ptr-record={ptr_name(addr)},{name}")
        for name, text in (txts or {}).items():
            args.append(f"--txt-record={name},{text}")
        for dom, mx in (mxs or {}).items():
            if isinstance(mx, str):
                mx = [(10, mx)]
            for pref, host in mx:
                args.append(f"--mx-host={dom},{host},{pref}")
        for alias, target in (cnames or {}).items():
            args.append(f"--cname={alias},{target}")
        for dom, addr in (addresses or {}).items():
            args.append(f"--address=/{dom}/{addr}")
        servers = set((ns or {}).values())
        if len(servers) > 1:
            raise ValueError("dnsmasq names one server for all its zones")
        for zone in (ns or {}):
            args.append(f"--auth-zone={zone}")
        for server in servers:
            args.append(f"--auth-server={server},{address}")
        self.args = args

    # -- running --
    def start(self):
        if not available():
            raise RuntimeError(f"{DNSMASQ} is missing: apt-get install "
                               "dnsmasq-base (make deps)")
        out = self.log.open("ab") if self.log else subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=out,
                                         start_new_session=True)
        finally:
            if self.log:
                out.close()
        # Ready when it answers; a bad option or a busy port ends it.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dnsmasq exited with status "
                                   f"{self.proc.returncode}: "
                                   f"{' '.join(self.args)}")
            try:
                self.query("ready.invalid", T_A, timeout=0.2)
                return self
            except (OSError, ValueError):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("dnsmasq did not answer within 10 seconds")

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- the instance's resolver --
    def point(self, inst):
        """Send the lookups of INST's chrooted daemons to this server:
        write queue_directory/etc/resolv.conf (and a known hosts and
        nsswitch.conf), root-owned and mode 0644 as postern writes them."""
        etc = Path(inst.queue_dir) / "etc"
        etc.mkdir(mode=0o755, exist_ok=True)
        resolv = RESOLV_CONF
        if (self.address, self.port) != (ADDRESS, PORT):
            raise ValueError("the stub resolver only talks to port 53")
        for name, text in (("resolv.conf", resolv), ("hosts", HOSTS),
                           ("nsswitch.conf", NSSWITCH_CONF)):
            path = etc / name
            tmp = etc / f".{name}.testdns"
            tmp.write_text(text)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)

    # -- a minimal client, to check the server and the zone --
    def query(self, name, qtype=T_A, timeout=2.0):
        """(rcode, [answer data]) for NAME: addresses as text for A/AAAA,
        names for PTR, (preference, name) for MX, text for TXT."""
        qid = random.randrange(1 << 16)
        packet = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
        packet += encode_name(name) + struct.pack(">HH", qtype, 1)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.sendto(packet, (self.address, self.port))
            while True:
                data, _ = s.recvfrom(65535)
                if len(data) >= 12 and struct.unpack(">H", data[:2])[0] == qid:
                    break
        return parse_reply(data, qtype)


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        raw = label.encode("idna") if label else b""
        if not raw or len(raw) > 63:
            raise ValueError(f"bad name {name!r}")
        out += bytes([len(raw)]) + raw
    return out + b"\0"


def read_name(msg, off):
    labels = []
    jumped = False
    end = off
    for _ in range(128):
        n = msg[off]
        if n == 0:
            if not jumped:
                end = off + 1
            return ".".join(labels), end
        if n & 0xC0 == 0xC0:
            if not jumped:
                end = off + 2
            off = ((n & 0x3F) << 8) | msg[off + 1]
            jumped = True
            continue
        labels.append(msg[off + 1:off + 1 + n].decode("ascii", "replace"))
        off += 1 + n
    raise ValueError("name loop")


def parse_reply(msg, qtype):
    _, flags, qd, an, _, _ = struct.unpack(">HHHHHH", msg[:12])
    off = 12
    for _ in range(qd):
        _, off = read_name(msg, off)
        off += 4
    answers = []
    for _ in range(an):
        _, off = read_name(msg, off)
        rtype, _, _, rdlen = struct.unpack(">HHIH", msg[off:off + 10])
        off += 10
        rd = msg[off:off + rdlen]
        if rtype == qtype == T_A:
            answers.append(socket.inet_ntop(socket.AF_INET, rd))
        elif rtype == qtype == T_AAAA:
            answers.append(socket.inet_ntop(socket.AF_INET6, rd))
        elif rtype == qtype and qtype in (T_PTR, T_NS):
            answers.append(read_name(msg, off)[0])
        elif rtype == qtype == T_MX:
            answers.append((struct.unpack(">H", rd[:2])[0],
                            read_name(msg, off + 2)[0]))
        elif rtype == qtype == T_TXT:
            text, i = b"", 0
            while i < len(rd):
                text += rd[i + 1:i + 1 + rd[i]]
                i += 1 + rd[i]
            answers.append(text.decode("utf-8", "replace"))
        off += rdlen
    return flags & 0xF, answers
