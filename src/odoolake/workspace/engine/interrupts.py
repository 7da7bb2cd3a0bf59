"""Interrupting engine work again and again until it has ended.

One interrupt is not enough. An interrupt can reach Sail while the operation it is meant for is still on its way
there (a statement's worker past its last look at the statement's state, a request still in the proxy's rules or in
flight to Sail), and an interrupt that finds nothing running is forgotten: the operation then runs to its end
(minutes, for a large query). So the interrupt is sent again every ``RETRY_SECONDS`` until whoever runs the
operation says it ended. Sail answers an interrupt that found the operation only once that operation's work has
stopped, so the loop costs one call per retry at most.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

LOG = logging.getLogger(__name__)

PENDING, RUNNING = "PENDING", "RUNNING"
RETRY_SECONDS = 0.25
GIVE_UP_SECONDS = 600.0  # work still going this long after its interrupt is left to end on its own (and logged)


def keep_interrupting(interrupt: Callable[[], object], ended: threading.Event, what: str) -> threading.Thread:
    """Call ``interrupt`` until ``ended`` is set, in a daemon thread (returned), so that whoever asked for the stop
    is answered at once, as Databricks answers a cancel."""

    def loop() -> None:
        deadline = time.monotonic() + GIVE_UP_SECONDS
        while not ended.is_set():
            try:
                interrupt()
            except Exception:  # a session the engine restarted under, a host shutting down: the work ends anyway
                LOG.debug("interrupt of %s failed", what, exc_info=True)
            if ended.wait(RETRY_SECONDS):
                return
            if time.monotonic() > deadline:
                LOG.warning("%s still runs %.0f s after it was interrupted; no more interrupts are sent", what,
                            GIVE_UP_SECONDS)
                return

    thread = threading.Thread(target=loop, name=f"odoolake-interrupt-{what}", daemon=True)
    thread.start()
    return thread


@dataclass(kw_only=True)
class CancellableRun:
    """A statement a worker thread runs in an engine session, which a cancel may stop at any moment (the Statement
    API's statements, the SQL connector's operations; each names its own terminal states in ``TERMINAL``).

    PENDING becomes RUNNING once and then one terminal state, each change under one lock: a worker never overwrites a
    cancel, and a run cancelled before it began never begins. ``ran`` is set when the worker is done with the
    engine, which ends a cancel's interrupts."""

    TERMINAL: ClassVar[frozenset[str]]
    state: str = PENDING
    ran: threading.Event = field(default_factory=threading.Event)
    # When it ended or its client last asked for it (``time.monotonic``): a result is kept for a while after that,
    # however long the statement ran.
    used: float = field(default_factory=time.monotonic)
    _changing: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def touch(self) -> None:
        self.used = time.monotonic()

    def unused_since(self, cutoff: float) -> bool:
        """Ended, and neither ended nor asked for since ``cutoff`` (a ``time.monotonic`` value)."""
        return self.state in self.TERMINAL and self.used < cutoff

    def begin(self) -> bool:
        """PENDING becomes RUNNING; False if it was cancelled first."""
        with self._changing:
            if self.state != PENDING:
                return False
            self.state = RUNNING
            return True

    def settle(self, state: str, **fields: Any) -> str:
        """End it in ``state`` (with ``fields`` set first) unless it has ended already; returns the state it had."""
        with self._changing:
            before = self.state
            if before not in self.TERMINAL:
                for name, value in fields.items():
                    setattr(self, name, value)
                self.state = state
                self.used = time.monotonic()
            return before

    def cancel(self, state: str, interrupt: Callable[[], object], what: str) -> str:
        """End it in ``state``; if its worker had begun, call ``interrupt`` until the worker is done with the engine
        (``keep_interrupting``). Returns the state it had."""
        before = self.settle(state)
        if before == RUNNING:
            keep_interrupting(interrupt, self.ran, what)
        return before
