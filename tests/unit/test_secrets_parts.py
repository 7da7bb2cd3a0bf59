"""The parts of secrets/ that need no server: streaming redaction, sealing at rest, and the permission order."""

from __future__ import annotations

import pytest

from odoolake.workspace.db import Database
from odoolake.workspace.errors import PermissionDenied, ResourceAlreadyExists
from odoolake.workspace.secrets.crypto import SealError, seal, unseal
from odoolake.workspace.secrets.redaction import REDACTED, Redactor, StreamRedactor
from odoolake.workspace.secrets.store import MANAGE, READ, WRITE, Caller, SecretStore

SECRET = "p4ss-w0rd-xyz"


def _stream(chunks: list[bytes], *values: str) -> bytes:
    redactor = Redactor()
    for value in values:
        redactor.add(value)
    stream = StreamRedactor(redactor)
    return b"".join(stream.feed(c) for c in chunks) + stream.close()


@pytest.mark.parametrize("cut", range(1, len(SECRET)))
def test_a_value_split_across_chunks_is_still_redacted(cut):
    text = f"before {SECRET} after\n".encode()
    at = text.index(SECRET.encode()) + cut
    assert _stream([text[:at], text[at:]], SECRET) == f"before {REDACTED} after\n".encode()


def test_one_byte_at_a_time_several_values_and_the_longest_wins():
    text = f"a {SECRET} b {SECRET[:4]} c {SECRET}{SECRET}\n".encode()
    chunks = [text[i:i + 1] for i in range(len(text))]
    expected = f"a {REDACTED} b {REDACTED} c {REDACTED}{REDACTED}\n".encode()
    assert _stream(chunks, SECRET, SECRET[:4]) == expected
    assert _stream([b"nothing to hide\n"]) == b"nothing to hide\n"


def test_ordinary_output_is_written_at_once_and_only_a_possible_secret_start_waits():
    redactor = Redactor()
    redactor.add(SECRET)
    stream = StreamRedactor(redactor)
    assert stream.feed(b"appending\n") == b"appending\n"  # a live log line is not held back
    assert stream.feed(f"token {SECRET[:5]}".encode()) == b"token "  # this may be the start of the secret
    assert stream.feed(SECRET[5:].encode() + b"\n") == f"{REDACTED}\n".encode()


def test_redactor_covers_nested_values_and_unicode():
    redactor = Redactor()
    redactor.add("sécret")
    assert redactor.redact({"a": ["x sécret y", 3], "b": "sécret!", "c": "sécret".encode()}) == {
        "a": [f"x {REDACTED} y", 3], "b": f"{REDACTED}!", "c": REDACTED.encode()}


def test_sealed_values_open_only_under_their_own_name_and_key(tmp_path):
    key, other = b"k" * 32, b"o" * 32
    sealed = seal(key, "odoo/api_key", SECRET.encode())
    assert SECRET.encode() not in sealed and unseal(key, "odoo/api_key", sealed) == SECRET.encode()
    for name, k in (("odoo/other_key", key), ("odoo/api_key", other)):
        with pytest.raises(SealError, match="cannot be decrypted"):
            unseal(k, name, sealed)
    assert seal(key, "odoo/api_key", SECRET.encode()) != sealed  # a fresh nonce each time


def test_permissions_are_ordered_read_write_manage(tmp_path):
    store = SecretStore(Database(tmp_path / "w.db"), tmp_path)
    owner, reader, writer = Caller("owner@x"), Caller("reader@x"), Caller("writer@x")
    store.create_scope("s", owner)
    with pytest.raises(ResourceAlreadyExists):
        store.create_scope("s", writer)
    store.put_acl("s", "reader@x", READ, owner)
    store.put_acl("s", "writer@x", WRITE, owner)
    store.put("s", "k", SECRET.encode(), writer)
    assert store.get("s", "k", reader) == SECRET.encode()
    for caller, action in ((reader, lambda c: store.put("s", "k", b"x", c)),
                           (writer, lambda c: store.put_acl("s", "writer@x", MANAGE, c)),
                           (Caller("stranger@x"), lambda c: store.get("s", "k", c))):
        with pytest.raises(PermissionDenied):
            action(caller)
    assert store.get("s", "k", Caller("admin@x", is_admin=True)) == SECRET.encode()  # admins manage every scope
    assert store.get("s", "k", owner) == SECRET.encode()
    assert SECRET.encode() not in (tmp_path / "w.db").read_bytes()
