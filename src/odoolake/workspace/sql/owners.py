"""Who started each SQL statement, so a statement can be cancelled by its owner (or an admin) and nobody else.

Kept beside the statement service rather than in it: the owner is a fact of the request, known to the route.
Bounded like the statements themselves (an hour, or the newest ``MAX_KEPT``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

MAX_KEPT = 100_000


class StatementOwners:
    def __init__(self, max_kept: int = MAX_KEPT) -> None:
        self._owners: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_kept

    def record(self, statement_id: str, user: str) -> None:
        with self._lock:
            self._owners[statement_id] = user
            while len(self._owners) > self._max:
                self._owners.popitem(last=False)

    def owner(self, statement_id: str) -> str | None:
        with self._lock:
            return self._owners.get(statement_id)
