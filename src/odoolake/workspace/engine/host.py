"""The engine host: one process per workspace root that runs Sail, the catalog Sail reads, and the Spark Connect
service every client goes through (``python -m odoolake.workspace.engine.host --home …``; started by
:mod:`.launcher`, never by hand).

Inside the process (its own network namespace where the kernel allows, see :mod:`.isolation`):
- Sail's Spark Connect server on the private ``127.0.0.1``;
- the Unity Catalog API over ``catalog.db`` on the private ``127.0.0.1``, which Sail's ``unity`` provider reads;
- the engine's service (:mod:`.proxy`) on two Unix sockets in ``<home>/run`` (owner-only): ``engine.sock`` for the
  owner's own programs, ``front.sock`` (TLS, tokens) behind the workspace's front door;
- an admin service on ``engine.sock``: status, interrupt a token's work, shut down.
It exits on SIGTERM, on an admin shutdown, or when no client has held its lease for a while.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import logging
import os
import secrets
import select
import shutil
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from odoolake.workspace.engine.isolation import isolate_network
from odoolake.workspace.engine.session import session_idle_seconds

if TYPE_CHECKING:
    from odoolake.config import WorkspacePaths
    from odoolake.workspace.catalog.store import CatalogStore
    from odoolake.workspace.engine.upstream import Upstream
    from odoolake.workspace.frontdoor.tls import TlsFiles

LOG = logging.getLogger("odoolake.engine")

ADMIN_SERVICE = "odoolake.EngineAdmin"
IDLE_EXIT_SECONDS = 5.0
# Each of Sail's threads gets this much stack (Sail's default is 8 MiB). Sail's parser and planner recurse once per
# level of a plan or expression, and a thread that runs out of stack ends the whole host, every session with it: on
# 8 MiB it died on 300 chained DataFrame filters, 200 nested subqueries, 550 terms of `1 + 1 + …` or 600 brackets of
# `FROM ((((t))))`; on 256 MiB on 8,000 subqueries and 40,000 terms, on 512 MiB on 60,000 `.a` field accesses
# (measured with pysail 0.7.2). Stacks are reserved, not used: a thread's memory grows only as deep as a request makes
# it recurse. ``rewrite.MAX_SQL_TOKENS`` keeps every text the engine parses well inside this.
ENGINE_STACK_BYTES = 1024 * 1024 * 1024
CATALOG_ALIASES = ("main", "spark_catalog", "hive_metastore")


def run_dir(home: Path) -> Path:
    return home / "run"


def engine_socket(home: Path) -> Path:
    return run_dir(home) / "engine.sock"


def front_socket(home: Path) -> Path:
    return run_dir(home) / "front.sock"


def status_file(home: Path) -> Path:
    return run_dir(home) / "engine.json"


def log_file(home: Path) -> Path:
    """The engine host's stdout and stderr (Sail's own lines among them)."""
    return run_dir(home) / "engine.log"


def lease_file(home: Path) -> Path:
    return run_dir(home) / "engine.lease"


def _renewable_credentials(tls: TlsFiles) -> Any:
    """TLS credentials for the front socket that follow the certificate files: a certificate renewed while the host
    runs is served to the next connection (grpc asks the fetcher at each handshake; a stat when nothing changed)."""
    import grpc

    from odoolake.workspace.frontdoor.tls import ServedPair

    served = ServedPair(tls)
    pair = served.take()
    if pair is None:
        raise RuntimeError(f"the workspace's TLS key and certificate do not match: {tls.server_key}, {tls.server_cert}")

    def fetch() -> Any:
        taken = served.renewed()
        if taken is None:
            return None
        LOG.info("serving the renewed TLS certificate on the front socket")
        return grpc.ssl_server_certificate_configuration([taken])

    return grpc.dynamic_ssl_server_credentials(grpc.ssl_server_certificate_configuration([pair]), fetch)


def _fresh_spill_dir(paths: WorkspacePaths) -> Path:
    """A spill folder of this host's own (``tmp/engine/<pid>``), after removing those of hosts no longer running:
    Sail deletes its spill files when a query ends, but a host killed mid-query leaves them (gigabytes, after a
    large sort). A host still winding down while this one starts keeps its folder; the native steps spill beside
    it, in ``spill_dir``, and are never touched."""
    import psutil

    root = paths.spill_dir / "engine"
    root.mkdir(parents=True, exist_ok=True)
    for folder in root.iterdir():
        if folder.name.isdigit() and psutil.pid_exists(int(folder.name)):
            continue
        left = 0
        for dirpath, _, files in os.walk(folder, onerror=lambda _: None):
            for name in files:
                with contextlib.suppress(OSError):  # a file its query deletes meanwhile
                    left += os.lstat(os.path.join(dirpath, name)).st_size
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder, ignore_errors=True)
        else:
            folder.unlink(missing_ok=True)
        if left:
            LOG.warning("removed %d bytes of spill files a stopped engine host left in %s", left, folder)
    own = root / str(os.getpid())
    own.mkdir(exist_ok=True)
    return own


def _configure_sail(catalog_uri: str, token: str, spill_dir: Path, memory_bytes: int, workers: int | None) -> None:
    providers = ", ".join(f'{{name="{name}", type="unity", uri="{catalog_uri}", default_catalog="main", '
                          f'token="{token}"}}' for name in CATALOG_ALIASES)
    os.environ["SAIL_CATALOG__LIST"] = f"[{providers}]"
    os.environ["SAIL_CATALOG__DEFAULT_CATALOG"] = CATALOG_ALIASES[0]
    os.environ["UNITY_ALLOW_HTTP_URL"] = "true"  # the catalog is on the engine's private loopback
    os.environ["SAIL_RUNTIME__STACK_SIZE"] = str(ENGINE_STACK_BYTES)
    os.environ["SAIL_RUNTIME__MEMORY_POOL__TYPE"] = "fair"
    os.environ["SAIL_RUNTIME__MEMORY_POOL__FAIR__MAX_SIZE"] = str(memory_bytes)
    os.environ["SAIL_RUNTIME__TEMPORARY_FILES__PATHS"] = json.dumps([str(spill_dir)])  # quoted: a path may hold `"`
    # `df.checkpoint()` and `df.localCheckpoint()` keep their rows in the engine, in the host's spill folder (released
    # with the session; a stopped host's folder is removed at the next start)
    os.environ["SAIL_EXECUTION__CHECKPOINT__PATH"] = str(spill_dir / "checkpoints")
    os.environ["SAIL_SPARK__SESSION_TIMEOUT_SECS"] = str(session_idle_seconds())
    os.environ.setdefault("RUST_LOG", "error")
    if workers:
        os.environ["SAIL_MODE"] = "local-cluster"
        os.environ["SAIL_CLUSTER__WORKER_INITIAL_COUNT"] = str(workers)
        os.environ["SAIL_CLUSTER__WORKER_MAX_COUNT"] = str(workers)


class _CatalogServer:
    """The Unity Catalog API Sail reads, on the private loopback. Its port listens at once, and the server (FastAPI,
    about half the host's imports) is imported and started in a thread when the first call arrives: that call waits
    in the listen backlog until it answers, and a host whose statements read no table (``lake sql "SELECT 1"``)
    never pays for it. Imported at start-up instead, it held the GIL while the host answered its first statement.
    A host started for the workspace server is told to serve it as soon as the host answers (``serve_now``): the
    server's first SQL statement sets its session's schema, a catalog call, and arrives only after the server's own
    start-up, which the import overlaps."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port: int = self.sock.getsockname()[1]
        self._server: object | None = None
        self.waiting = threading.Event()  # set while the thread waits for a first call or ``serve_now``

    def start(self, store: CatalogStore, secret: str, on_failure: Callable[[], None]) -> None:
        threading.Thread(target=self._run, args=(store, secret, on_failure), name="catalog", daemon=True).start()

    def serve_now(self) -> None:
        """Import and start the server without waiting for Sail's first call: a connection of its own wakes the
        thread as Sail's first would (closed at once, the server drops it)."""
        socket.create_connection(("127.0.0.1", self.port)).close()

    @property
    def serving(self) -> bool:
        return bool(getattr(self._server, "started", False))

    def _run(self, store: CatalogStore, secret: str, on_failure: Callable[[], None]) -> None:
        try:
            self.waiting.set()
            select.select([self.sock], [], [])  # until a connection waits to be accepted (or the socket closes)
            self.waiting.clear()
            import uvicorn

            from odoolake.workspace.catalog.app import catalog_app

            self._server = uvicorn.Server(uvicorn.Config(catalog_app(store, secret), log_level="warning",
                                                         lifespan="off", access_log=False))
            self._server.run(sockets=[self.sock])
        except BaseException:
            LOG.exception("the engine's catalog server failed: the engine stops")
            on_failure()

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True  # type: ignore[attr-defined]


WARM_UP_TIMEOUT = 30.0  # seconds the warm-up session's query may take before it is given up
WARM_UP_JOIN = 5.0  # seconds a stopping host waits for a warm-up still running (it takes a tenth of one)


def warm_up(upstream: Upstream, user: str, stopping: threading.Event | None = None) -> str:
    """Make and release one session on Sail; the session's id. Sail builds its first session's state the first time
    (a new host's first session cost it 90 ms of CPU, a later one 30 ms: ``bench/first_session.py``); made here, after
    the host answers, that overlaps the start-up of the client that started the host (still importing PySpark, or the
    workspace server its modules) instead of lengthening the client's first statement. Nothing depends on it: a
    failure is logged (not when the host is ``stopping``, which closes the channel under it) and a client's first
    session then pays as it would have."""
    from odoolake.workspace.engine.protos import relations_pb2
    from odoolake.workspace.engine.upstream import UpstreamError

    def warn(message: str, *args: object) -> None:
        if stopping is None or not stopping.is_set():
            LOG.warning(message, *args)

    session = f"warm-up-{uuid.uuid4()}"
    try:
        upstream.query_rows(session, user, relations_pb2.Relation(sql=relations_pb2.SQL(query="SELECT 1")),
                            timeout=WARM_UP_TIMEOUT)
        LOG.info("engine warm-up session made")
    except (UpstreamError, ValueError) as exc:  # ValueError: the channel was closed (the host is stopping)
        warn("the engine's warm-up session failed: %s", exc)
    finally:
        released = False
        with contextlib.suppress(ValueError):
            released = upstream.release_session(session, user)
        if not released:
            warn("the engine's warm-up session %s was not released: Sail did not answer", session)
    return session


def _stop_on_signal(stopping: threading.Event) -> Callable[..., None]:
    """A signal handler that sets ``stopping`` from a thread of its own. Python runs handlers in the main thread,
    which waits on ``stopping`` itself: set there, the handler could wait for the lock the interrupted wait holds,
    and the host hung instead of stopping (seen when SIGTERM came as the host had just answered)."""

    def handler(*_: object) -> None:
        threading.Thread(target=stopping.set, name="stop-signal", daemon=True).start()

    return handler


def _claim_idle(home: Path) -> IO[str] | None:
    """The lease file locked exclusively when no client holds a lease (each holds a shared lock for as long as it uses
    the engine), else None. While the lock is held no client can
    take a lease (a new one waits), so a host that exits withdraws under it and the next client starts a new host.
    A home removed under a running host counts as idle (an unlocked handle stands in for the claim)."""
    try:
        handle = lease_file(home).open("a")
    except FileNotFoundError:
        return open(os.devnull)  # closed by the caller, like a claim
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


class _Phases:
    """Seconds spent in each start-up phase, from the process's start (reported in ``engine.json``)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {"python": round(_since_process_start(), 3)}
        self._last = time.monotonic()

    def mark(self, name: str) -> None:
        now = time.monotonic()
        self.seconds[name] = round(now - self._last, 3)
        self._last = now


def _since_process_start() -> float:
    """Seconds since this process started (from /proc; 0 where /proc is not there)."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        return time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="odoolake-engine")
    parser.add_argument("--home", required=True)
    parser.add_argument("--owner", required=True)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--catalog-at-start", action="store_true",
                        help="serve the catalog API as soon as the host answers, not at its first call")
    args = parser.parse_args(argv)
    phases = _Phases()
    isolation, why_not = isolate_network()  # before any thread exists

    logging.basicConfig(level=os.environ.get("ODOOLAKE_ENGINE_LOG", "WARNING"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import grpc

    from odoolake.config import WorkspacePaths
    from odoolake.logfiles import keep_rotating
    from odoolake.workspace.catalog.store import CatalogStore
    from odoolake.workspace.engine.access import AccessRules
    from odoolake.workspace.engine.identity import Authenticator
    from odoolake.workspace.engine.legacy import import_legacy_tables
    from odoolake.workspace.engine.memory import default_memory_limit
    from odoolake.workspace.engine.proxy import SparkConnectProxy
    from odoolake.workspace.engine.rewrite import PlanRewriter
    from odoolake.workspace.engine.upstream import CHANNEL_OPTIONS, Upstream
    from odoolake.workspace.frontdoor.tls import ensure_certificates

    phases.mark("imports")
    paths = WorkspacePaths.from_env(args.home).ensure()
    home = paths.home
    store = CatalogStore(paths, args.owner)
    imported = import_legacy_tables(store)
    if imported:
        LOG.warning("imported %d table(s) from the previous table registry into the catalog", imported)
    secret = secrets.token_urlsafe(32)
    phases.mark("catalog store")
    stopping = threading.Event()
    keep_rotating(log_file(home), stopping)
    catalog_server = _CatalogServer()
    catalog_server.start(store, secret, on_failure=stopping.set)
    phases.mark("catalog server")
    _configure_sail(f"http://127.0.0.1:{catalog_server.port}/api/2.1/unity-catalog", secret, _fresh_spill_dir(paths),
                    default_memory_limit(), args.workers)
    from pysail.spark import SparkConnectServer

    sail = SparkConnectServer("127.0.0.1", 0)
    sail.start(background=True)
    phases.mark("sail")
    address = sail.listening_address
    if address is None:
        raise RuntimeError("Sail started but is not listening")
    upstream = Upstream(f"{address[0]}:{address[1]}")
    owner_door = Authenticator(home, args.owner, trust_owner_socket=True)
    proxy = SparkConnectProxy(upstream, PlanRewriter(store, upstream, AccessRules(paths, owner_door.roles)))
    proxy.keep_busy_sessions(stopping, session_idle_seconds())
    tls = ensure_certificates(home)
    phases.mark("tls")

    options = [*CHANNEL_OPTIONS, ("grpc.so_reuseport", 0)]
    owner_server = grpc.server(ThreadPoolExecutor(max_workers=64, thread_name_prefix="engine"), options=options)
    withdraw = _Withdraw(home)
    owner_server.add_generic_rpc_handlers((proxy.handler(owner_door),
                                           _admin_handler(proxy, stopping, withdraw, isolation, why_not, address)))
    front_server = grpc.server(ThreadPoolExecutor(max_workers=64, thread_name_prefix="front"), options=options)
    front_server.add_generic_rpc_handlers((proxy.handler(Authenticator(home, args.owner, trust_owner_socket=False)),))
    for sock in (engine_socket(home), front_socket(home)):
        sock.unlink(missing_ok=True)
    owner_server.add_insecure_port(f"unix:{engine_socket(home)}")
    credentials = _renewable_credentials(tls)
    front_server.add_secure_port(f"unix:{front_socket(home)}", credentials)
    owner_server.start()
    front_server.start()
    for sock in (engine_socket(home), front_socket(home)):
        os.chmod(sock, 0o600)
    phases.mark("services")
    if args.catalog_at_start:
        catalog_server.serve_now()
    status = {"pid": os.getpid(), "isolation": isolation, "isolation_unavailable": why_not,
              "started": time.time(), "engine_socket": str(engine_socket(home)),
              "front_socket": str(front_socket(home)), "startup_seconds": phases.seconds}
    # before the host is seen: a client may stop it as soon as it finds it, and is then answered with a clean stop
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, _stop_on_signal(stopping))
    tmp = status_file(home).with_suffix(".tmp")
    tmp.write_text(json.dumps(status))
    os.replace(tmp, status_file(home))
    LOG.info("engine ready (%s)", isolation)
    warming = threading.Thread(target=warm_up, args=(upstream, args.owner, stopping), name="warm-up", daemon=True)
    warming.start()

    idle_since: float | None = None
    claim: IO[str] | None = None  # held from the decision to exit until the host has withdrawn
    while not stopping.wait(1.0):
        held = _claim_idle(home)
        if held is None:
            idle_since = None
            continue
        idle_since = idle_since or time.monotonic()
        if time.monotonic() - idle_since > IDLE_EXIT_SECONDS:
            LOG.info("no client holds the engine lease: exiting")
            claim = held
            break
        held.close()

    withdraw.once()
    if claim is not None:
        claim.close()
    proxy.interrupt_all(timeout=10)  # nothing a client started may commit after the engine said it stopped
    front_server.stop(grace=2).wait()
    owner_server.stop(grace=2).wait()
    warming.join(timeout=WARM_UP_JOIN)  # its session released before the channel closes under it
    upstream.close()
    sail.stop()
    catalog_server.stop()
    return 0


class _Withdraw:
    """Takes the host out of sight (its status file and socket paths; open connections stay) exactly once, so a
    new host may start in this root while this one winds down, and is never unlinked by it."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self._lock = threading.Lock()
        self._done = False

    def once(self) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
            for path in (status_file(self.home), engine_socket(self.home), front_socket(self.home)):
                path.unlink(missing_ok=True)


def _admin_handler(proxy, stopping: threading.Event, withdraw: _Withdraw, isolation: str, why_not: str | None,
                   sail: tuple[str, int]):
    import grpc

    def status(request: bytes, context) -> bytes:
        # Sail's address is told only on the owner's socket (for diagnostics and bench/api.py); inside the network
        # namespace nobody outside the engine can reach it anyway.
        return json.dumps({"pid": os.getpid(), "isolation": isolation, "isolation_unavailable": why_not,
                           "sail_address": f"{sail[0]}:{sail[1]}",
                           "mode": os.environ.get("SAIL_MODE", "local"),
                           "sessions": len(proxy.sessions.all()),
                           "operations": len(proxy.operations.matching())}).encode()

    def interrupt(request: bytes, context) -> bytes:
        body = json.loads(request or b"{}")
        count = proxy.interrupt_token(body["token"], float(body.get("timeout", 30)))
        return json.dumps({"interrupted": count}).encode()

    def shutdown(request: bytes, context) -> bytes:
        """Stop. With no operation running the host withdraws before answering, so the caller need not wait for it
        to exit; otherwise the caller waits, since an interrupted write holds its table until it ends."""
        withdrawn = not proxy.operations.matching()
        if withdrawn:
            withdraw.once()
        stopping.set()
        return json.dumps({"withdrawn": withdrawn}).encode()

    def identity(data: bytes) -> bytes:
        return data

    handlers = {name: grpc.unary_unary_rpc_method_handler(fn, request_deserializer=identity,
                                                          response_serializer=identity)
                for name, fn in (("Status", status), ("InterruptToken", interrupt), ("Shutdown", shutdown))}
    return grpc.method_handlers_generic_handler(ADMIN_SERVICE, handlers)


if __name__ == "__main__":
    sys.exit(main())
