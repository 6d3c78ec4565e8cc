"""Test certificates for the TLS end-to-end tests (smtpd STARTTLS, wrapper
mode, the smtp client's security levels).

    from tlscert import make_test_certs
    certs = make_test_certs(tmp_path / "tls", names=["localhost"])
    main_cf["smtpd_tls_cert_file"] = certs.cert
    main_cf["smtpd_tls_key_file"] = certs.key
    swaks ... --tls --tls-verify --tls-ca-path certs.ca_cert

Everything is made with the openssl command line in FOLDER: a test CA
(ca.pem, ca.key), a server certificate signed by it for NAMES (server.pem,
server.key; the first name is also the subject CN; IP addresses among the
names go into the subjectAltName as IP entries), a chain file in the
*_tls_chain_files layout (chain.pem: key, certificate, CA), the certificate
followed by the CA (fullchain.pem) and, for "untrusted" cases, a self-signed
certificate for the same names (self.pem, self.key). Keys are unencrypted,
mode 0644 by default so an unprivileged daemon can read them in a test
installation (never do that with a real key).
"""

import ipaddress
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass
class CertSet:
    folder: Path
    ca_cert: str
    ca_key: str
    cert: str
    key: str
    chain: str       # key + certificate + CA, for *_tls_chain_files
    fullchain: str   # certificate + CA, for *_tls_cert_file
    self_cert: str   # self-signed, same names (not signed by the CA)
    self_key: str
    fingerprint: str       # SHA256 of cert, "AB:CD:..." (smtp_tls_fingerprint)
    self_fingerprint: str  # the same for self_cert


def _openssl(*args, cwd):
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" %
                           (" ".join(args), proc.stderr.strip()))
    return proc.stdout


def _keyopts(key_type):
    if key_type == "ec":
        return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    if key_type == "rsa":
        return ["-newkey", "rsa:2048"]
    raise ValueError("key_type must be 'ec' or 'rsa', not %r" % key_type)


def _san(names):
    parts = []
    for name in names:
        try:
            ipaddress.ip_address(name)
            parts.append("IP:" + name)
        except ValueError:
            parts.append("DNS:" + name)
    return "subjectAltName=" + ",".join(parts)


def cert_fingerprint(path, digest="sha256"):
    """The certificate's fingerprint as Postfix shows it: "AB:CD:..."."""
    out = _openssl("x509", "-noout", "-fingerprint", "-" + digest, "-in",
                   str(path), cwd=os.path.dirname(str(path)) or ".")
    return out.strip().split("=", 1)[1]


def make_test_certs(folder, names=("localhost", "127.0.0.1"), key_type="ec",
                    days=7, key_mode=0o644, ca_name="Postern Test CA"):
    """Write a test CA and a server certificate for NAMES into FOLDER
    (created if needed) and return a CertSet with the file paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = list(names)
    if not names:
        raise ValueError("make_test_certs needs at least one name")
    cn = names[0]
    cwd = str(folder)
    keyopts = _keyopts(key_type)
    ext = folder / "server.ext"
    ext.write_text("basicConstraints=CA:FALSE\n"
                   "keyUsage=digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=serverAuth,clientAuth\n"
                   + _san(names) + "\n")

    _openssl("req", "-x509", *keyopts, "-nodes", "-keyout", "ca.key",
             "-out", "ca.pem", "-days", str(days), "-subj", "/CN=" + ca_name,
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=cwd)
    _openssl("req", "-new", *keyopts, "-nodes", "-keyout", "server.key",
             "-out", "server.csr", "-subj", "/CN=" + cn, cwd=cwd)
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem",
             "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem",
             "-days", str(days), "-extfile", "server.ext", cwd=cwd)
    _openssl("req", "-x509", *keyopts, "-nodes", "-keyout", "self.key",
             "-out", "self.pem", "-days", str(days), "-subj", "/CN=" + cn,
             "-addext", _san(names), cwd=cwd)

    def read(name):
        return (folder / name).read_text()

    (folder / "chain.pem").write_text(read("server.key") + read("server.pem")
                                      + read("ca.pem"))
    (folder / "fullchain.pem").write_text(read("server.pem") + read("ca.pem"))
    for name in ("ca.key", "server.key", "self.key", "chain.pem"):
        os.chmod(folder / name, key_mode)
    for name in ("ca.pem", "server.pem", "self.pem", "fullchain.pem"):
        os.chmod(folder / name, 0o644)

    return CertSet(
        folder=folder,
        ca_cert=str(folder / "ca.pem"),
        ca_key=str(folder / "ca.key"),
        cert=str(folder / "server.pem"),
        key=str(folder / "server.key"),
        chain=str(folder / "chain.pem"),
        fullchain=str(folder / "fullchain.pem"),
        self_cert=str(folder / "self.pem"),
        self_key=str(folder / "self.key"),
        fingerprint=cert_fingerprint(folder / "server.pem"),
        self_fingerprint=cert_fingerprint(folder / "self.pem"),
    )
