"""make deb (issue 10): the package builds, installs, creates its
accounts, runs, delivers a message, stops and purges cleanly.

The package replaces the machine's MTA (Debian's Postfix, which make deps
installs as the test oracle), so the smoke test runs in a throw-away copy
of this machine: in a private mount namespace (unshare -m) an overlay
mounts "/" read-only as the lower layer with a scratch folder on top, and
the package is installed inside a chroot of that overlay. Every change
(Postfix purged, Postern installed, accounts made, mail delivered) lands
in the scratch folder and disappears with it; the real system is not
touched.
"""

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from conftest import REPO, install_env, free_port


def _overlay_works(tmp):
    for d in ("upper", "work", "merged"):
        (tmp / d).mkdir(parents=True)
    probe = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c",
         f"mount -t overlay overlay -o lowerdir=/,upperdir={tmp}/upper,"
         f"workdir={tmp}/work {tmp}/merged && test -x {tmp}/merged/bin/sh"],
        capture_output=True, text=True, timeout=30)
    shutil.rmtree(tmp)
    return probe.returncode == 0, probe.stderr.strip()


def test_deb_installs_runs_and_purges(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the end-to-end tests install Postern and run as root")
    for tool in ("unshare", "dpkg-deb", "chroot"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is missing")
    # The overlay's upper layer must not lie below its lower layer's
    # mount of /tmp when that is a separate file system: use /var/tmp.
    scratch = Path(
        subprocess.run(["mktemp", "-d", "/var/tmp/postern-deb.XXXXXX"],
                       capture_output=True, text=True,
                       check=True).stdout.strip())
    try:
        ok, why = _overlay_works(scratch / "probe")
        if not ok:
            pytest.skip(f"cannot mount an overlay of / here: {why}")

        out = scratch / "out"
        res = subprocess.run(["bash", str(REPO / "conf" / "make-deb"),
                              str(out)], cwd=REPO,
                             env=install_env(VERSION="0.0.1~test"),
                             capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stdout + res.stderr
        deb = Path(res.stdout.strip().splitlines()[-1])
        assert deb.is_file() and deb.name.startswith("postern_")
        info = subprocess.run(["dpkg-deb", "-f", str(deb), "Package",
                               "Provides", "Conflicts"], capture_output=True,
                              text=True, check=True).stdout
        assert "Provides: mail-transport-agent" in info

        port = free_port()
        root = scratch / "merged"
        for d in ("upper", "work", "merged"):
            (scratch / d).mkdir()
        # Runs inside the chroot; every step must succeed.
        inner = textwrap.dedent(f"""\
            set -eu
            export PATH=/usr/sbin:/usr/bin:/sbin:/bin
            cleanup() {{
                /usr/sbin/postern -c /etc/postern stop >/dev/null 2>&1 || true
            }}
            trap cleanup EXIT
            dpkg --purge --force-all postfix postfix-pcre >/dev/null 2>&1 || true
            # what a real install on this machine left (the copy only)
            rm -rf /etc/postern /var/spool/postern /var/lib/postern
            dpkg -i {deb} >/tmp/dpkg.log 2>&1 || {{ cat /tmp/dpkg.log; exit 1; }}
            getent passwd postern >/dev/null
            getent group posterndrop >/dev/null
            test "$(stat -c %G:%a /usr/sbin/postdrop)" = posterndrop:2755
            test "$(stat -c %U /var/spool/postern/incoming)" = postern
            postconf -e inet_interfaces=127.0.0.1 inet_protocols=ipv4 \\
                maillog_file=/var/log/postern-test.log
            sed -E -i 's/^smtp([[:space:]]+inet[[:space:]])/127.0.0.1:{port}\\1/' \\
                /etc/postern/master.cf
            postern start
            printf 'Subject: deb smoke test\\n\\nhello\\n' | sendmail root
            i=0
            until grep -q 'status=sent (delivered to' /var/log/postern-test.log; do
                i=$((i + 1))
                if [ $i -gt 300 ]; then
                    cat /var/log/postern-test.log; exit 1
                fi
                sleep 0.1
            done
            grep -rqs 'Subject: deb smoke test' /var/mail /root/Maildir 2>/dev/null
            postern stop
            trap - EXIT
            dpkg --purge postern >/tmp/dpkg.log 2>&1 || {{ cat /tmp/dpkg.log; exit 1; }}
            test ! -e /usr/sbin/postern && test ! -e /etc/postern
            ! getent passwd postern >/dev/null
            echo SMOKE-OK
            """)
        (scratch / "inner.sh").write_text(inner)
        outer = textwrap.dedent(f"""\
            set -eu
            mount -t overlay overlay -o lowerdir=/,upperdir={scratch}/upper,workdir={scratch}/work {root}
            mount --bind /proc {root}/proc
            mount --bind /dev {root}/dev
            mount -t tmpfs tmpfs {root}/run
            exec chroot {root} /bin/bash {scratch}/inner.sh
            """)
        res = subprocess.run(["unshare", "-m", "--propagation", "private",
                              "bash", "-c", outer], capture_output=True,
                             text=True, timeout=300)
        assert res.returncode == 0 and "SMOKE-OK" in res.stdout, \
            res.stdout + res.stderr
    finally:
        subprocess.run(["rm", "-rf", str(scratch)], timeout=120)
