"""What a served model's logs hold locally, for ``w.serving_endpoints.logs()`` and ``build_logs()``.

On Databricks these are the model server's output and its container's build output. Here a served model runs in the
workspace's own process, so its logs are what the workspace did with it: the loads of the version it serves (with how
long each took, or why it failed: the build logs hold only these, as nothing else is built), the moves of the alias it
follows, and every request to it (route, status, milliseconds; a failed one with its message). The newest MAX_LINES
lines of each source are kept, in memory: they start empty when the workspace starts, as a restarted Databricks
endpoint's do.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime

MAX_LINES = 1000  # per source (a model version, an alias, an endpoint's served model), newest kept
REQUEST_PREFIX = "POST "  # a request's line: kept in the served model's logs, not written to the workspace's log


def version_source(name: str, version: str) -> str:
    """Where a model version's loads are kept."""
    return f"model {name} version {version}"


def alias_source(name: str, alias: str) -> str:
    """Where an alias's moves are kept."""
    return f"model {name} alias {alias}"


def served_source(endpoint: str, served: str) -> str:
    """Where an endpoint's served model keeps its requests."""
    return f"endpoint {endpoint} served model {served}"


class ModelLogs:
    """Lines kept per source; a served model's logs are its sources' lines merged in time order."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._lines: dict[str, deque[str]] = {}
        self._built: dict[str, deque[str]] = {}
        self._lock = threading.Lock()

    def note(self, source: str, level: int, message: str, *, build: bool = False) -> None:
        """Keep ``message`` in ``source``'s logs, and in its build logs too when ``build`` (a load); the workspace's
        own log gets it unless it is an answered request."""
        if level > logging.INFO or not message.startswith(REQUEST_PREFIX):
            self._logger.log(level, message)
        flat = " ".join(message.split())  # one line a record, whatever the message holds
        line = f"{datetime.now(UTC).isoformat(timespec='microseconds')} {logging.getLevelName(level)} {flat}"
        with self._lock:
            self._lines.setdefault(source, deque(maxlen=MAX_LINES)).append(line)
            if build:
                self._built.setdefault(source, deque(maxlen=MAX_LINES)).append(line)

    def text(self, sources: Iterable[str], *, build: bool = False) -> str:
        """The lines of ``sources``, oldest first (each begins with its time), the newest MAX_LINES of them."""
        with self._lock:
            kept = self._built if build else self._lines
            lines = sorted(line for source in dict.fromkeys(sources) for line in kept.get(source, ()))
        return "\n".join(lines[-MAX_LINES:])
