"""Waiting on a condition instead of sleeping a fixed time: tests stay fast on an idle machine and correct on a
loaded one. The deadline only stops a test that would otherwise hang; it is generous on purpose."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
DEFAULT_TIMEOUT = 180.0


def wait_until(condition: Callable[[], T], *, what: str, timeout: float = DEFAULT_TIMEOUT,
               interval: float = 0.05) -> T:
    """Call ``condition`` until it returns something truthy, and return that; ``TimeoutError`` naming ``what``.

    Exceptions from ``condition`` count as "not yet" (a server still starting refuses connections) and the last
    one is chained to the TimeoutError.
    """
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            value = condition()
            if value:
                return value
        except Exception as exc:
            last = exc
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:.0f} s waiting for {what}") from last
        time.sleep(interval)
        interval = min(interval * 1.5, 1.0)
