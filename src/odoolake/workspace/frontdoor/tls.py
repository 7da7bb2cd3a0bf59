"""The workspace's certificate authority and server certificate, kept in ``<home>/tls``.

A Databricks workspace is reached over TLS, and Databricks Connect and the SQL connector speak nothing else. Each
local workspace therefore has its own CA (generated once, its key readable by the owner only) and a server
certificate for loopback names. Clients trust the CA through a bundle that also holds the usual public roots
(``ca-bundle.pem``: the bundle the environment already names, else certifi's), so pointing ``REQUESTS_CA_BUNDLE``
at it keeps real workspaces (and a corporate proxy's CA) reachable too.

Certificates are renewed ``RENEW_BEFORE_DAYS`` before they end, keeping every name the old one had (a workspace
started with ``--host NAME`` stays reachable as NAME whoever renews it), by whichever process checks first: the
server at start and every ``CHECK_SECONDS`` while up, the engine host at start. A running server and engine host
serve a renewed certificate to the next connection (``ServedPair``); nobody has to restart for it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import ipaddress
import os
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CA_YEARS = 10
SERVER_DAYS = 397
RENEW_BEFORE_DAYS = 30
CHECK_SECONDS = 3600  # how often a running server checks whether its certificate is due for renewal
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    ca_bundle: Path

    @property
    def previous_ca(self) -> Path:
        """The CA a renewal replaced, kept in the bundle until it ends: clients holding certificates or trust
        stores from before the renewal keep working meanwhile."""
        return self.ca_cert.with_name("ca-previous.pem")

    @classmethod
    def under(cls, home: Path) -> TlsFiles:
        d = home / "tls"
        return cls(d / "ca.pem", d / "ca.key", d / "server.pem", d / "server.key", d / "ca-bundle.pem")


COMMON_NAME_LIMIT = 64  # bytes of UTF-8 in an X.509 common name (RFC 5280's ub-common-name, as cryptography counts)


def ca_common_name(home: Path) -> str:
    """The workspace CA's common name: it names the root's folder, shortened to what X.509 allows."""
    name = f"odoolake workspace CA ({home.name})"
    if len(name.encode()) <= COMMON_NAME_LIMIT:
        return name
    return name.encode()[:COMMON_NAME_LIMIT - 4].decode(errors="ignore") + "...)"  # never half a character


def ensure_certificates(home: Path, extra_names: tuple[str, ...] = ()) -> TlsFiles:
    """Create the CA and the server certificate if missing, expiring, or lacking one of the names; idempotent.
    Processes sharing the home take turns (a lock file beside the certificates), so a key and a certificate
    written by two at once never end up mixed."""
    files = TlsFiles.under(home)
    files.ca_cert.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(files.ca_cert.parent, 0o700)
    with _exclusive(files.ca_cert.parent / ".lock"):
        names = tuple(dict.fromkeys((*LOOPBACK_NAMES, *extra_names)))
        kept = _names_of(files.server_cert)
        if not (files.ca_cert.exists() and files.ca_key.exists()) or _expiring(files.ca_cert):
            _write_ca(files, home)
        if _server_needs_renewal(files, names):
            _write_server(files, tuple(dict.fromkeys((*names, *kept))))
        if not files.ca_bundle.exists() or files.ca_bundle.stat().st_mtime < files.ca_cert.stat().st_mtime:
            _write_bundle(files)
    return files


@contextlib.contextmanager
def _exclusive(lock: Path) -> Iterator[None]:
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


class ServedPair:
    """The server's key and certificate as the files hold them now, for a server that keeps running across a
    renewal: ``changed()`` says whether the files differ from what was last taken, ``take()`` reads them, and
    ``renewed()`` reads them only if they changed."""

    def __init__(self, files: TlsFiles) -> None:
        self.files = files
        self._taken: tuple[int, ...] | None = None
        self._lock = threading.Lock()

    def _stamp(self) -> tuple[int, ...]:
        return tuple(v for p in (self.files.server_key, self.files.server_cert)
                     for v in (p.stat().st_mtime_ns, p.stat().st_size, p.stat().st_ino))

    def changed(self) -> bool:
        try:
            return self._stamp() != self._taken
        except FileNotFoundError:  # between a renewal's two writes: the next look finds both
            return False

    def forget(self) -> None:
        """Count the files as changed at the next look."""
        self._taken = None

    def renewed(self) -> tuple[bytes, bytes] | None:
        """The pair (as ``take``) if the files changed since it was last taken and make a pair now, else None."""
        return self.take() if self.changed() else None

    def take(self) -> tuple[bytes, bytes] | None:
        """(key, certificate chain) if the two files make a pair now, else None (a renewal is between its two
        writes; the next look gets both). Taking it marks it as served."""
        with self._lock, _exclusive(self.files.ca_cert.parent / ".lock"):  # never between a renewal's writes
            try:
                stamp = self._stamp()
                key, cert = self.files.server_key.read_bytes(), self.files.server_cert.read_bytes()
                server_context(self.files.server_cert, self.files.server_key)  # fails unless they match
            except (OSError, ssl.SSLError):
                return None
            if stamp != self._stamp():
                return None
            self._taken = stamp
            return key, cert


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A TLS server context holding the certificate and its key (ssl.SSLError if they do not match)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key))
    return context


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

    if files.ca_cert.exists() and not _ended(files.ca_cert):
        _write_public(files.previous_ca, files.ca_cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "odoolake"),
                      x509.NameAttribute(NameOID.COMMON_NAME, ca_common_name(home))])
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


def _ended(cert_path: Path) -> bool:
    from cryptography import x509

    try:
        return x509.load_pem_x509_certificate(cert_path.read_bytes()).not_valid_after_utc <= _now()
    except (OSError, ValueError):
        return True


def _expiring(cert_path: Path) -> bool:
    """Whether a certificate ends within ``RENEW_BEFORE_DAYS`` (or cannot be read as one)."""
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except ValueError:
        return True
    return cert.not_valid_after_utc - _now() < dt.timedelta(days=RENEW_BEFORE_DAYS)


def _names_of(cert_path: Path) -> tuple[str, ...]:
    """The DNS names and IP addresses a certificate is for (none if there is no certificate)."""
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError):
        return ()
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    return (*(str(v) for v in sans.get_values_for_type(x509.DNSName)),
            *(str(v) for v in sans.get_values_for_type(x509.IPAddress)))


def _server_needs_renewal(files: TlsFiles, names: tuple[str, ...]) -> bool:
    if not (files.server_cert.exists() and files.server_key.exists()) or _expiring(files.server_cert):
        return True
    return not set(names) <= set(_names_of(files.server_cert))


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
    previous = b"" if _ended(files.previous_ca) else files.previous_ca.read_bytes()
    _write_public(files.ca_bundle, public.rstrip(b"\n") + b"\n" + files.ca_cert.read_bytes() + previous)
