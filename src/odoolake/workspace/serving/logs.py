"""What a served model's logs hold locally, for ``w.serving_endpoints.logs()`` and ``build_logs()``.

On Databricks these are the model server's output and its container's build output. Here a served model runs in the
workspace's own process, so its logs are what the workspace did with it: each load (with how long it took, or why it
failed: the build logs hold only these, as nothing else is built), alias swaps, versions let go, and every request
(route, status, milliseconds; a failed one with its message). The newest MAX_LINES lines of each model are kept, in
memory: they start empty when the workspace starts, as a restarted Databricks endpoint's do.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from datetime import UTC, datetime

MAX_LINES = 1000  # per model, newest kept
REQUEST_PREFIX = "POST "  # a request's line: kept in the model's logs, not written to the workspace's log


class ModelLogs:
    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._lines: dict[str, deque[str]] = {}
        self._built: dict[str, deque[str]] = {}
        self._lock = threading.Lock()

    def note(self, model: str, level: int, message: str, *, build: bool = False) -> None:
        """Keep ``message`` about ``model`` (a registered model's name) in its logs, and in its build logs too when
        ``build`` (a load); the workspace's own log gets it unless it is an answered request (one a request)."""
        if level > logging.INFO or not message.startswith(REQUEST_PREFIX):
            self._logger.log(level, message)
        flat = " ".join(message.split())  # one line a record, whatever the message holds
        line = f"{datetime.now(UTC).isoformat(timespec='milliseconds')} {logging.getLevelName(level)} {flat}"
        with self._lock:
            self._lines.setdefault(model, deque(maxlen=MAX_LINES)).append(line)
            if build:
                self._built.setdefault(model, deque(maxlen=MAX_LINES)).append(line)

    def text(self, model: str, *, build: bool = False) -> str:
        with self._lock:
            return "\n".join((self._built if build else self._lines).get(model, ()))
