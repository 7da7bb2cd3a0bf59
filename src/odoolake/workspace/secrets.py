"""Secrets for notebooks and tasks, and their redaction.

Locally a secret ``scope/key`` is the environment variable ``ODOOLAKE_SECRET_<SCOPE>_<KEY>`` of the workspace
server (tasks inherit it). ``{{secrets/scope/key}}`` in task parameters is resolved inside the task process,
so the value is never stored with the run. Every value read in a task process is replaced by ``[REDACTED]``
in what the task prints, its exit value, its error and its traceback, as Databricks does.
"""

from __future__ import annotations

import os
import re
from typing import Any, TextIO

from odoolake.errors import OdoolakeError

REDACTED = "[REDACTED]"
SECRET_REF = re.compile(r"\{\{\s*secrets/([\w.-]+)/([\w.-]+)\s*\}\}")
_values: set[str] = set()


class SecretNotFound(OdoolakeError):
    pass


def env_name(scope: str, key: str) -> str:
    return f"ODOOLAKE_SECRET_{scope}_{key}".upper().replace("-", "_").replace(".", "_")


def get_secret(scope: str, key: str) -> str:
    name = env_name(scope, key)
    value = os.environ.get(name)
    if value is None:
        raise SecretNotFound(f"Secret {scope}/{key} is not set (expected environment variable {name}).")
    if value:
        _values.add(value)
    return value


def list_keys(scope: str) -> list[str]:
    prefix = env_name(scope, "")
    return [name[len(prefix):].lower() for name in os.environ if name.startswith(prefix)]


def resolve_refs(text: str) -> str:
    return SECRET_REF.sub(lambda m: get_secret(m.group(1), m.group(2)), text)


def redact(value: Any) -> Any:
    """``value`` (a string, or lists/dicts of them) with every secret read so far replaced."""
    if isinstance(value, str):
        for secret in sorted(_values, key=len, reverse=True):
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


class RedactingStream:
    """A text stream that redacts secrets before writing to the stream it wraps."""

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        self._inner.write(redact(text))
        return len(text)

    def flush(self) -> None:
        self._inner.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
