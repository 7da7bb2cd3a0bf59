"""Stopping a cancelled statement's engine work: interrupt its tag until its run has ended.

One interrupt is not enough. A cancel can arrive while the statement's query is still on its way to the engine —
after the worker's last look at the statement's state, before the engine has registered the query — and an
interrupt that finds nothing running is forgotten: the query then runs to its end (minutes, for a large one). So the
interrupt is sent again every ``RETRY_SECONDS`` until the worker says its run ended. The engine answers an interrupt
that found the query only once that query's work has stopped, so the loop costs one call per retry at most.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

LOG = logging.getLogger(__name__)

RETRY_SECONDS = 0.25
GIVE_UP_SECONDS = 600.0  # a run still going this long after its cancel is left to end on its own (and logged)


def interrupt_until_ended(spark: Any, tag: str, ended: threading.Event) -> threading.Thread:
    """Interrupt the operations tagged ``tag`` in ``spark``'s session, again and again, until ``ended`` is set.

    Runs in a daemon thread (returned), so that a cancel answers at once, as Databricks' cancel does."""

    def keep_interrupting() -> None:
        deadline = time.monotonic() + GIVE_UP_SECONDS
        while not ended.is_set():
            try:
                spark.interruptTag(tag)
            except Exception:  # a session the engine restarted under: the run fails on its own
                LOG.debug("interrupt of %s failed", tag, exc_info=True)
            if ended.wait(RETRY_SECONDS):
                return
            if time.monotonic() > deadline:
                LOG.warning("%s still runs %.0f s after it was cancelled; no more interrupts are sent", tag,
                            GIVE_UP_SECONDS)
                return

    thread = threading.Thread(target=keep_interrupting, name=f"odoolake-cancel-{tag}", daemon=True)
    thread.start()
    return thread
