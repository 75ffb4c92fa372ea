"""A real OpenLDAP `slapd` (Debian's package, scripts/install-ldap.sh) for the LDAP sign-in tests.

Each server has its own configuration, data and certificates under a temporary directory and
listens on 127.0.0.1 only, on two free ports: ldap:// (StartTLS) and ldaps://. It never touches
the system's slapd. It refuses any operation without TLS (`security ssf=128`), so a test that
signs in proves the console spoke TLS, and it trusts only its own CA (made here with `cryptography`).
The directory is tests/sso/ldap/directory.ldif, loaded with slapadd before slapd starts.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from backbone_admin.embedded import free_port, wait_for_port
from tests.plugin import OUTPUT

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
LDAPMODIFY = "/usr/bin/ldapmodify"
DIRECTORY_LDIF = Path(__file__).parent / "ldap" / "directory.ldif"
SUFFIX = "dc=example,dc=org"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "admin-Ldap-root-1"
BIND_DN = f"cn=console,ou=services,{SUFFIX}"
BIND_PASSWORD = "console-Bind-pw-1"
PASSWORDS = {"alice": "alice-Ldap-pw-1", "bob": "bob-Ldap-pw-1", "carol": "carol-Ldap-pw-1", "dave": "dave-Ldap-pw-1"}

SLAPD_CONF = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile {dir}/slapd.pid
argsfile {dir}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCACertificateFile {dir}/ca.pem
TLSCertificateFile {dir}/server.pem
TLSCertificateKeyFile {dir}/server.key
# Every operation (binds and searches) needs TLS: a console that forgot it is refused.
security ssf=128

database mdb
suffix "{suffix}"
rootdn "{root_dn}"
rootpw {root_password}
directory {dir}/data
maxsize 16777216
access to attrs=userPassword
  by anonymous auth
  by * none
access to *
  by dn.exact="{bind_dn}" read
  by self read
  by * none
"""


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca(directory: Path, name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A self-signed CA, written to DIRECTORY/NAME.pem."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    (directory / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def _make_server_cert(directory: Path, ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    (directory / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file = directory / "server.key"
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_file.chmod(0o600)


@dataclass
class LdapServer:
    """One slapd of a test's own: start, stop, freeze (a directory that accepts and never answers), modify."""

    directory: Path
    port: int
    tls_port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def ca_file(self) -> str:
        return str(self.directory / "ca.pem")

    @property
    def uri(self) -> str:
        """Plain ldap:// (the console must use StartTLS on it)."""
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def tls_uri(self) -> str:
        return f"ldaps://127.0.0.1:{self.tls_port}"

    def environment(self, *, start_tls: bool = False, timeout: float = 3.0) -> dict[str, str]:
        """The console's LDAP_* variables for this directory (ldaps:// unless start_tls)."""
        return {
            "LDAP_SERVER_URI": self.uri if start_tls else self.tls_uri,
            "LDAP_START_TLS": "1" if start_tls else "0",
            "LDAP_CA_FILE": self.ca_file,
            "LDAP_BIND_DN": BIND_DN,
            "LDAP_BIND_PASSWORD": BIND_PASSWORD,
            "LDAP_USER_SEARCH_BASE": f"ou=people,{SUFFIX}",
            "LDAP_USER_FILTER": "(uid=%(user)s)",
            "LDAP_GROUP_SEARCH_BASE": f"ou=groups,{SUFFIX}",
            "LDAP_GROUP_TYPE": "groupOfNames",
            "LDAP_TIMEOUT": str(timeout),
        }

    def settings(self, *, start_tls: bool = False, timeout: float = 3.0) -> dict[str, Any]:
        """The same, typed as the console's settings module makes them (for the test's own process)."""
        values: dict[str, Any] = self.environment(start_tls=start_tls, timeout=timeout)
        values.update(LDAP_START_TLS=start_tls, LDAP_TIMEOUT=timeout)
        return values

    @classmethod
    def create(cls, directory: Path) -> LdapServer:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "data").mkdir()
        ca_key, ca = make_ca(directory, "ca")
        _make_server_cert(directory, ca_key, ca)
        conf = SLAPD_CONF.format(
            dir=directory, suffix=SUFFIX, root_dn=ROOT_DN, root_password=ROOT_PASSWORD, bind_dn=BIND_DN
        )
        (directory / "slapd.conf").write_text(conf)
        subprocess.run(
            [SLAPADD, "-q", "-f", str(directory / "slapd.conf"), "-l", str(DIRECTORY_LDIF)],
            check=True,
            capture_output=True,
        )
        return cls(directory=directory, port=free_port(), tls_port=free_port())

    def start(self) -> LdapServer:
        OUTPUT.mkdir(exist_ok=True)
        log = (OUTPUT / "slapd.log").open("ab")
        listen = f"{self.uri}/ {self.tls_uri}/"
        # -d keeps slapd in the foreground (a child the test can stop); "stats" logs each operation.
        self.proc = subprocess.Popen(
            [SLAPD, "-f", str(self.directory / "slapd.conf"), "-h", listen, "-d", "stats"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_for_port(self.port, proc=self.proc, timeout=20)
        wait_for_port(self.tls_port, proc=self.proc, timeout=20)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a frozen slapd must be able to act on SIGTERM
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def freeze(self) -> None:
        """Stop answering while the ports stay open: the kernel still accepts connections."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def modify(self, ldif: str) -> None:
        """Change the directory as its administrator would (ldapmodify over ldaps://)."""
        env = {**os.environ, "LDAPTLS_CACERT": self.ca_file, "LDAPTLS_REQCERT": "demand"}
        subprocess.run(
            [LDAPMODIFY, "-x", "-H", self.tls_uri, "-D", ROOT_DN, "-w", ROOT_PASSWORD],
            input=ldif.encode(),
            env=env,
            check=True,
            capture_output=True,
        )
