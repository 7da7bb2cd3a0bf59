"""The local engine, as the project's own code uses it: genuine PySpark (Spark Connect) sessions.

``LocalEngine(paths).session()`` connects to the workspace root's engine host over its owner socket (starting the
host if nobody runs it), so the CLI, tests and the workspace server all see one catalog and one set of rules.
With ``ODOOLAKE_SPARK_REMOTE`` (or ``remote=``) sessions go to that Spark Connect server instead — JVM Spark, or a
real Databricks cluster — and nothing here touches them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from odoolake.config import WorkspacePaths, local_user
from odoolake.errors import EngineError
from odoolake.workspace.engine.memory import workers_from_env

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from odoolake.workspace.engine.launcher import EngineLease

LOG = logging.getLogger(__name__)
REMOTE_ENV = "ODOOLAKE_SPARK_REMOTE"
# How long an engine session may go unused before the engine closes it (with its settings, temporary views and
# current schema). Sail closes sessions idle for 15 minutes unless told otherwise, which broke a Databricks Connect
# session left open over a break, a SQL connection held in a pool, and a principal's Statement API session; this one
# limit is Sail's and the SQL sessions' alike. ``ODOOLAKE_SESSION_IDLE_SECONDS`` overrides it.
SESSION_IDLE_SECONDS = 4 * 3600
SESSION_IDLE_ENV = "ODOOLAKE_SESSION_IDLE_SECONDS"
SESSION_CONF = {"spark.sql.session.timeZone": "UTC"}  # every odoolake engine session's settings (also the thin client)



def session_idle_seconds() -> int:
    """The idle limit of engine sessions: ``SESSION_IDLE_SECONDS`` unless ``ODOOLAKE_SESSION_IDLE_SECONDS`` says."""
    value = os.environ.get(SESSION_IDLE_ENV)
    if value is None or value == "":
        return SESSION_IDLE_SECONDS
    if not value.isdigit() or int(value) < 1:
        raise EngineError(f"{SESSION_IDLE_ENV} must be a positive number of seconds, got {value!r}")
    return int(value)


def idle_limit_words(seconds: int) -> str:
    """``4 h``, ``90 min``, ``2 s``: the idle limit as an error message says it."""
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


DEBUGGING_CONF = "spark.python.sql.dataFrameDebugging.enabled"


def import_client_in_background() -> None:
    """Import PySpark's Connect client in a thread of its own. A workspace server calls this once it listens: its
    first SQL statement, which usually comes some time later, then finds the client imported instead of importing
    it (a statement that comes at once waits for the same import, no longer). The client imports pandas: about
    0.5 s."""

    def load() -> None:
        try:
            from pyspark.sql.connect.session import SparkSession  # noqa: F401  (what ``LocalEngine.session`` imports)
        except Exception:  # the first statement imports it again and answers with the error
            LOG.exception("importing PySpark's client in the background failed")

    threading.Thread(target=load, name="import-client", daemon=True).start()


def _set_all(spark: SparkSession, settings: dict[str, str]) -> None:
    """``spark.conf.set`` of every setting at once: one Config call instead of one a setting."""
    from pyspark.sql.connect.proto import base_pb2 as connect_pb2

    spark.client.config(connect_pb2.ConfigRequest.Operation(set=connect_pb2.ConfigRequest.Set(
        pairs=[connect_pb2.KeyValue(key=k, value=v) for k, v in settings.items()])))


def _channel_builder(socket_path: str, principal: str | None) -> Any:
    from pyspark.sql.connect.client import ChannelBuilder

    from odoolake.workspace.engine.identity import PRINCIPAL_HEADER
    from odoolake.workspace.engine.upstream import SINGLE_THREADED_STREAMS

    class EngineSocket(ChannelBuilder):
        """A Spark Connect channel over the engine's owner socket (a Unix socket only the owner can open)."""

        def __init__(self) -> None:
            super().__init__(channelOptions=[SINGLE_THREADED_STREAMS],
                             params={PRINCIPAL_HEADER: principal} if principal else None)

        def toChannel(self):
            return self._insecure_channel(f"unix:{socket_path}")

        @property
        def host(self) -> str:
            return "odoolake-engine"

        @property
        def endpoint(self) -> str:
            return f"unix:{socket_path}"

    return EngineSocket()


class LocalEngine:
    """Hands out Spark sessions on the engine of one workspace root."""

    def __init__(self, paths: WorkspacePaths, remote: str | None = None, catalog_at_start: bool = False) -> None:
        self.paths = paths.ensure()
        self._remote = remote
        self._catalog_at_start = catalog_at_start  # a host it starts serves the catalog API at once (see EngineLease)
        self._lease: EngineLease | None = None
        self._leasing = threading.Lock()  # the server's threads and its front door may find a dead host at once
        self._sessions: list[SparkSession] = []

    @classmethod
    def start(cls, home: str | os.PathLike[str] | None = None, catalog_at_start: bool = False) -> LocalEngine:
        return cls(WorkspacePaths.from_env(home), remote=os.environ.get(REMOTE_ENV), catalog_at_start=catalog_at_start)

    @property
    def remote(self) -> str | None:
        return self._remote

    def lease(self, wait: bool = True) -> EngineLease:
        """Hold the engine host (starting it if needed) until ``close()``; with ``wait=False`` a host being started
        may not answer yet (``lease.ready()`` waits for it), so the caller's own start-up overlaps the host's."""
        from odoolake.workspace.engine.launcher import EngineLease, host_gone

        with self._leasing:
            if self._lease is not None and self._lease.is_ready and host_gone(self._lease.status):
                stale, self._lease = self._lease, None
                stale.close()  # the host died: start a new one
            if self._lease is None:
                self._lease = EngineLease(self.paths, local_user(), workers_from_env(), wait=False,
                                          catalog_at_start=self._catalog_at_start)
            lease = self._lease
        if wait:
            lease.ready()
        return lease

    @property
    def isolation(self) -> str:
        return str(self.lease().status.get("isolation", "unknown"))

    def session(self, principal: str | None = None) -> SparkSession:
        """A new Spark session; ``principal`` runs it as that workspace user (the owner by default)."""
        lease = None if self._remote else self.lease(wait=False)  # the host starts while PySpark is imported
        from pyspark.sql import SparkSession
        from pyspark.sql.connect.session import SparkSession as ConnectSession

        if self._remote:
            spark = SparkSession.builder.remote(self._remote).create()
        else:
            assert lease is not None
            lease.ready()
            spark = ConnectSession.builder.channelBuilder(  # type: ignore[assignment]  # the Connect session class
                _channel_builder(str(lease.socket), principal)).create()
        # Reattachable execution buys nothing on a local socket and costs ReleaseExecute calls per query; worse, when
        # Sail ends a stream before its ResultComplete (seen under load, on the owner socket and through the front
        # door alike) the client reattaches and Sail answers "operation not found", failing a query that had
        # succeeded. Clients of the front door keep their own setting.
        spark.client.disable_reattachable_execute()
        # PySpark records the caller of each DataFrame and Column call for error context, trying `import IPython` on
        # every call (a search of sys.path when it is not installed): 0.2-0.3 s of client time per month-end run.
        # Sail makes no use of that context. One Config call sets both: the engine checks each set it is sent.
        _set_all(spark, {**SESSION_CONF, DEBUGGING_CONF: "false"})
        spark._odoolake_engine = self  # type: ignore[attr-defined]
        spark._odoolake_owner_session = principal is None and not self._remote  # type: ignore[attr-defined]
        spark._odoolake_host = None if lease is None else lease.status  # type: ignore[attr-defined]
        self._sessions.append(spark)
        return spark

    @contextmanager
    def spark(self, principal: str | None = None) -> Iterator[SparkSession]:
        spark = self.session(principal)
        try:
            yield spark
        finally:
            self.stop_session(spark)

    def stop_session(self, spark: SparkSession) -> None:
        from odoolake.workspace.engine.launcher import host_gone

        if spark in self._sessions:
            self._sessions.remove(spark)
        host = getattr(spark, "_odoolake_host", None)
        if host is not None and host_gone(host):
            # Nothing left to release the session in: PySpark would retry its ReleaseSession call for minutes (a
            # server shutting down after its engine host died, or a session evicted after a restart, hung there).
            spark.release_session_on_close = False  # type: ignore[attr-defined]  # the Connect session's setting
        with contextlib.suppress(Exception):  # the engine may already be gone; the session is over either way
            spark.stop()

    def close(self) -> None:
        for spark in list(self._sessions):
            self.stop_session(spark)
        with self._leasing:  # a lease being taken (the front door's, say) finishes first
            lease, self._lease = self._lease, None
        if lease is not None:
            lease.close()

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["REMOTE_ENV", "LocalEngine"]
