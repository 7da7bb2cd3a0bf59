"""Replacing secret values by ``[REDACTED]``, as Databricks does in notebook and job output.

``Redactor`` holds the values one task has read (thread-safe: the server adds values while the runner's pipe
reader redacts). ``StreamRedactor`` redacts a byte stream chunk by chunk without missing a value split across two
chunks. ``remember``/``redact`` are the task process's own registry (its exit value, error and task values).
"""

from __future__ import annotations

import re
import threading
from typing import Any, TextIO

REDACTED = "[REDACTED]"


class Redactor:
    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()
        self._pattern: re.Pattern[bytes] | None = None
        self.longest = 0

    def add(self, value: str) -> None:
        if not value:
            return
        with self._lock:
            if value not in self._values:
                self._values.add(value)
                self._pattern = None
                self.longest = max(self.longest, len(value.encode()))

    def pattern(self) -> re.Pattern[bytes] | None:
        with self._lock:
            if self._pattern is None and self._values:
                ordered = sorted((v.encode() for v in self._values), key=len, reverse=True)  # longest wins
                self._pattern = re.compile(b"|".join(re.escape(v) for v in ordered))
            return self._pattern

    def partial_suffix(self, data: bytes) -> int:
        """The length of the longest end of ``data`` that is the start (not the whole) of a secret: only that much
        must wait for the next chunk, so a line of ordinary output is never held back."""
        with self._lock:
            values = [v.encode() for v in self._values]
        longest = 0
        for value in values:
            for size in range(min(len(value) - 1, len(data)), longest, -1):
                if data.endswith(value[:size]):
                    longest = size
                    break
        return longest

    def redact(self, value: Any) -> Any:
        """``value`` (a string, bytes, or lists/dicts of them) with every known secret replaced."""
        if isinstance(value, bytes):
            pattern = self.pattern()
            return pattern.sub(REDACTED.encode(), value) if pattern else value
        if isinstance(value, str):
            if self.pattern() is None:
                return value
            return self.redact(value.encode("utf-8", "surrogatepass")).decode("utf-8", "surrogatepass")
        if isinstance(value, dict):
            return {k: self.redact(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.redact(v) for v in value]
        return value


class StreamRedactor:
    """Redacts a byte stream: ``feed`` returns what may be written now, ``close`` the rest.

    After each chunk only the end that could be the start of a secret is held back (``Redactor.partial_suffix``),
    since a value may continue in the next chunk; everything else is written at once, so live logs stay live. Any
    occurrence that starts before the held-back tail lies wholly inside what has been seen, so it is caught.
    """

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self._held = b""

    def feed(self, chunk: bytes) -> bytes:
        data = self._held + chunk
        pattern = self.redactor.pattern()
        if pattern is None:
            self._held = b""
            return data
        safe = len(data) - self.redactor.partial_suffix(data)
        out, pos = [], 0
        for match in pattern.finditer(data):
            if match.start() >= safe:
                break
            out += [data[pos:match.start()], REDACTED.encode()]
            pos = match.end()
        cut = max(pos, safe)
        out.append(data[pos:cut])
        self._held = data[cut:]
        return b"".join(out)

    def close(self) -> bytes:
        rest, self._held = self._held, b""
        return self.redactor.redact(rest)


_LOCAL = Redactor()  # values this process has read (a task process, or a local notebook run)


def remember(value: str) -> str:
    _LOCAL.add(value)
    return value


def redact(value: Any) -> Any:
    return _LOCAL.redact(value)


class RedactingStream:
    """A text stream that redacts this process's secrets before writing to the stream it wraps."""

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        self._inner.write(redact(text))
        return len(text)

    def flush(self) -> None:
        self._inner.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
