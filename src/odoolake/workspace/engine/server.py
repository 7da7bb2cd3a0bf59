"""One Sail Spark Connect server per process, configured for the local workspace.

Sail reads its configuration from ``SAIL_*`` environment variables when the server starts, so the
server is shared by every engine in the process; what differs per workspace (the warehouse dir) is
session configuration.
"""

from __future__ import annotations

import logging
import os
import threading

import psutil

from odoolake.errors import EngineError

LOG = logging.getLogger(__name__)

CATALOG_ALIASES: tuple[str, ...] = ("spark_catalog", "hive_metastore", "main")
MEMORY_LIMIT_ENV = "ODOOLAKE_ENGINE_MEMORY_BYTES"

_lock = threading.Lock()
_server = None
_address: tuple[str, int] | None = None


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


def _configure_environment(spill_dir: str) -> None:
    catalogs = ", ".join(
        f'{{name="{name}", type="memory", initial_database=["default"]}}' for name in CATALOG_ALIASES
    )
    os.environ["SAIL_CATALOG__LIST"] = f"[{catalogs}]"
    os.environ["SAIL_CATALOG__DEFAULT_CATALOG"] = CATALOG_ALIASES[0]
    os.environ["SAIL_RUNTIME__MEMORY_POOL__TYPE"] = "fair"
    os.environ["SAIL_RUNTIME__MEMORY_POOL__FAIR__MAX_SIZE"] = str(default_memory_limit())
    os.environ["SAIL_RUNTIME__TEMPORARY_FILES__PATHS"] = f'["{spill_dir}"]'
    os.environ.setdefault("RUST_LOG", "error")
    workers = os.environ.get(WORKERS_ENV)
    if workers:
        # Sail's local cluster mode: a driver and N workers in this process, talking over RPC as a cluster does.
        if not workers.isdigit() or int(workers) < 1:
            raise EngineError(f"{WORKERS_ENV} must be a positive number of workers, got {workers!r}")
        os.environ["SAIL_MODE"] = "local-cluster"
        os.environ["SAIL_CLUSTER__WORKER_INITIAL_COUNT"] = workers
        os.environ["SAIL_CLUSTER__WORKER_MAX_COUNT"] = workers


def connect_address(spill_dir: str) -> tuple[str, int]:
    """Start the shared server if needed and return its ``(host, port)``."""
    global _server, _address
    with _lock:
        if _server is not None and _server.running and _address is not None:
            return _address
        _configure_environment(spill_dir)
        from pysail.spark import SparkConnectServer

        try:
            server = SparkConnectServer("127.0.0.1", 0)
            server.start(background=True)
        except Exception as exc:
            raise EngineError(f"Could not start the Sail Spark Connect server: {exc}") from exc
        address = server.listening_address
        if address is None:
            raise EngineError("The Sail Spark Connect server started but is not listening.")
        _server, _address = server, (address[0], address[1])
        LOG.info("Sail Spark Connect server listening on sc://%s:%s", *_address)
        return _address


def stop_server() -> None:
    global _server, _address
    with _lock:
        if _server is not None:
            _server.stop()
        _server, _address = None, None
