"""The workspace's certificate authority and server certificate, kept in ``<home>/tls``.

A Databricks workspace is reached over TLS, and Databricks Connect and the SQL connector speak nothing else. Each
local workspace therefore has its own CA (generated once, its key readable by the owner only) and a server
certificate for loopback names. Clients trust the CA through a bundle that also holds the usual public roots
(``ca-bundle.pem``: the bundle the environment already names, else certifi's), so pointing ``REQUESTS_CA_BUNDLE``
at it keeps real workspaces (and a corporate proxy's CA) reachable too.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

CA_YEARS = 10
SERVER_DAYS = 397
RENEW_BEFORE_DAYS = 30
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    ca_bundle: Path

    @classmethod
    def under(cls, home: Path) -> TlsFiles:
        d = home / "tls"
        return cls(d / "ca.pem", d / "ca.key", d / "server.pem", d / "server.key", d / "ca-bundle.pem")


def ensure_certificates(home: Path, extra_names: tuple[str, ...] = ()) -> TlsFiles:
    """Create the CA and the server certificate if missing, expiring, or lacking one of the names; idempotent."""
    files = TlsFiles.under(home)
    files.ca_cert.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(files.ca_cert.parent, 0o700)
    names = tuple(dict.fromkeys((*LOOPBACK_NAMES, *extra_names)))
    if not (files.ca_cert.exists() and files.ca_key.exists()):
        _write_ca(files, home)
    if _server_needs_renewal(files, names):
        _write_server(files, names)
    if not files.ca_bundle.exists() or files.ca_bundle.stat().st_mtime < files.ca_cert.stat().st_mtime:
        _write_bundle(files)
    return files


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _write_public(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _write_ca(files: TlsFiles, home: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "odoolake"),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"odoolake workspace CA ({home.name})")])
    now = _now()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=365 * CA_YEARS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    _write_private(files.ca_key, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
    _write_public(files.ca_cert, cert.public_bytes(serialization.Encoding.PEM))
    files.server_cert.unlink(missing_ok=True)  # signed by a CA that no longer exists


def _server_needs_renewal(files: TlsFiles, names: tuple[str, ...]) -> bool:
    from cryptography import x509

    if not (files.server_cert.exists() and files.server_key.exists()):
        return True
    cert = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    if cert.not_valid_after_utc - _now() < dt.timedelta(days=RENEW_BEFORE_DAYS):
        return True
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return True
    present = {str(v) for v in sans.get_values_for_type(x509.DNSName)}
    present |= {str(v) for v in sans.get_values_for_type(x509.IPAddress)}
    return not set(names) <= present


def _san(name: str):
    from cryptography import x509

    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _write_server(files: TlsFiles, names: tuple[str, ...]) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca_cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=SERVER_DAYS))
            .add_extension(x509.SubjectAlternativeName([_san(n) for n in names]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),  # type: ignore[arg-type]
                           critical=False)
            .sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
    _write_private(files.server_key, key.private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    _write_public(files.server_cert, cert.public_bytes(serialization.Encoding.PEM) + files.ca_cert.read_bytes())


def public_roots(exclude: Path) -> bytes:
    """The roots a client trusts today: the bundle the environment names (a corporate CA stays trusted), else
    certifi's public roots."""
    for variable in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        named = os.environ.get(variable)
        if named and Path(named).is_file() and Path(named).resolve() != exclude.resolve():
            return Path(named).read_bytes()
    try:
        import certifi

        return Path(certifi.where()).read_bytes()
    except ImportError:  # no public roots to add: the bundle then trusts only this workspace
        return b""


def _write_bundle(files: TlsFiles) -> None:
    public = public_roots(files.ca_bundle)
    _write_public(files.ca_bundle, public.rstrip(b"\n") + b"\n" + files.ca_cert.read_bytes())
