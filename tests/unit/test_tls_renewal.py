"""The workspace's certificates renewed before they end: the server certificate keeps every name it had whoever
renews it, an expiring CA is replaced and the server certificate re-issued by the new one, and ``ServedPair`` sees a
renewal and never hands out a key and certificate that do not belong together."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from odoolake.workspace.frontdoor import tls
from odoolake.workspace.frontdoor.tls import CA_YEARS, RENEW_BEFORE_DAYS, SERVER_DAYS, ServedPair, ensure_certificates


def cert(path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def names(path) -> set[str]:
    sans = cert(path).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(v) for v in sans.get_values_for_type(x509.DNSName)} | {
        str(v) for v in sans.get_values_for_type(x509.IPAddress)}


def days_later(monkeypatch, days: float) -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=days)
    monkeypatch.setattr(tls, "_now", lambda: later)


def test_a_server_certificate_is_renewed_when_due_and_keeps_every_name(tmp_path, monkeypatch):
    files = ensure_certificates(tmp_path, ("lake.example",))
    first = cert(files.server_cert).serial_number
    days_later(monkeypatch, SERVER_DAYS - RENEW_BEFORE_DAYS - 2)  # not yet due
    ensure_certificates(tmp_path)
    assert cert(files.server_cert).serial_number == first

    days_later(monkeypatch, SERVER_DAYS - RENEW_BEFORE_DAYS + 2)  # due: renewed by a process that named no host
    ensure_certificates(tmp_path)
    renewed = cert(files.server_cert)
    assert renewed.serial_number != first
    assert renewed.not_valid_after_utc > tls._now() + dt.timedelta(days=SERVER_DAYS - 1)
    assert {"lake.example", "localhost", "127.0.0.1", "::1"} <= names(files.server_cert)


def test_an_expiring_ca_is_replaced_and_the_server_certificate_reissued_by_it(tmp_path, monkeypatch):
    files = ensure_certificates(tmp_path, ("lake.example",))
    old_ca = cert(files.ca_cert)
    days_later(monkeypatch, 365 * CA_YEARS - RENEW_BEFORE_DAYS + 2)
    ensure_certificates(tmp_path)
    new_ca = cert(files.ca_cert)
    assert new_ca.serial_number != old_ca.serial_number
    server = cert(files.server_cert)
    server.verify_directly_issued_by(new_ca)  # raises unless the new CA signed it
    assert "lake.example" in names(files.server_cert)
    bundle = files.ca_bundle.read_bytes()
    assert new_ca.public_bytes(serialization.Encoding.PEM) in bundle
    assert old_ca.public_bytes(serialization.Encoding.PEM) in bundle  # trusted until it ends, for older clients


def test_the_served_pair_follows_a_renewal_and_refuses_a_half_written_one(tmp_path, monkeypatch):
    files = ensure_certificates(tmp_path)
    served = ServedPair(files)
    key, chain = served.take() or (b"", b"")
    assert chain == files.server_cert.read_bytes() and key == files.server_key.read_bytes()
    assert not served.changed() and served.renewed() is None

    days_later(monkeypatch, SERVER_DAYS)
    ensure_certificates(tmp_path)
    assert served.changed()
    renewed = served.renewed()
    assert renewed is not None and renewed[1] == files.server_cert.read_bytes() != chain
    assert not served.changed() and served.renewed() is None  # taken: served once

    # A renewal between its two writes: a new key beside the old certificate is not a pair.
    stray = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    files.server_key.write_bytes(stray)
    assert served.take() is None and served.changed()
