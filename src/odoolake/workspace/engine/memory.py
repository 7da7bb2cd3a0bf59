"""How much memory the engine may use."""

from __future__ import annotations

import os

import psutil

from odoolake.errors import EngineError

MEMORY_LIMIT_ENV = "ODOOLAKE_ENGINE_MEMORY_BYTES"
WORKERS_ENV = "ODOOLAKE_ENGINE_WORKERS"


def default_memory_limit() -> int:
    """Half the machine's RAM: Sail's default pool is unbounded and a large dedup can take it all."""
    configured = os.environ.get(MEMORY_LIMIT_ENV)
    if configured:
        try:
            return int(configured)
        except ValueError:
            raise EngineError(f"{MEMORY_LIMIT_ENV} must be a number of bytes, got {configured!r}") from None
    return psutil.virtual_memory().total // 2


def workers_from_env() -> int | None:
    """Sail's local cluster mode (a driver and N workers talking over RPC) when ``ODOOLAKE_ENGINE_WORKERS`` is set."""
    workers = os.environ.get(WORKERS_ENV)
    if not workers:
        return None
    if not workers.isdigit() or int(workers) < 1:
        raise EngineError(f"{WORKERS_ENV} must be a positive number of workers, got {workers!r}")
    return int(workers)
