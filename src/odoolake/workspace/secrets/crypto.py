"""Sealing secret values at rest: AES-256-GCM, a fresh 96-bit nonce per value, ``scope/key`` as associated data
(a sealed value copied to another name does not open).

The key is ``ODOOLAKE_SECRETS_KEY`` (urlsafe base64 of 32 bytes, for keeping it off the disk that holds the
database) or ``<home>/secrets.key``, created once with mode 0600. Task processes never receive it.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from odoolake.errors import OdoolakeError

KEY_ENV = "ODOOLAKE_SECRETS_KEY"
KEY_FILE = "secrets.key"
VERSION = b"\x01"


class SealError(OdoolakeError):
    pass


def load_key(home: Path, create: bool = True) -> bytes:
    configured = os.environ.get(KEY_ENV)
    if configured:
        try:
            key = base64.urlsafe_b64decode(configured.encode())
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != 32:
            raise SealError(f"{KEY_ENV} must be the urlsafe base64 of 32 random bytes; generate one with: python -c "
                            "\"import base64,os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())\"")
        return key
    path = home / KEY_FILE
    if path.exists():
        key = path.read_bytes()
        if len(key) != 32:
            raise SealError(f"{path} is not a 32-byte key; restore it from your backup (without it the stored "
                            "secrets cannot be read).")
        return key
    if not create:
        raise SealError(f"No secrets key at {path} and {KEY_ENV} is not set.")
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


def seal(key: bytes, name: str, value: bytes) -> bytes:
    nonce = secrets.token_bytes(12)
    return VERSION + nonce + AESGCM(key).encrypt(nonce, value, name.encode())


def unseal(key: bytes, name: str, sealed: bytes) -> bytes:
    if sealed[:1] != VERSION:
        raise SealError(f"Secret {name} is stored in an unknown format.")
    try:
        return AESGCM(key).decrypt(sealed[1:13], sealed[13:], name.encode())
    except InvalidTag:
        raise SealError(f"Secret {name} cannot be decrypted with this workspace's key (was {KEY_ENV} or "
                        f"{KEY_FILE} replaced?).") from None
