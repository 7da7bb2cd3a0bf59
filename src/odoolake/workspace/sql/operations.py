"""Statements run in a client's SQL session and their results, read in pieces: what the SQL connector's Thrift
protocol calls an operation.

A statement runs in a worker thread, in its session's own engine session, tagged so that a cancel interrupts it
alone. Its result is kept as Arrow (the form the engine sends it in) and handed out ``take()`` by ``take()`` in
the sizes the client asks for. Results of metadata calls (catalogs, tables, columns) are answered at once from the
catalog. Operations end when the client closes them or its session, or ``KEEP_SECONDS`` after they ended or
the client last asked for them.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pyarrow as pa

from odoolake.workspace.engine.interrupts import CancellableRun
from odoolake.workspace.errors import ApiError
from odoolake.workspace.sql.results import arrow_and_schema, statement_frame
from odoolake.workspace.sql.sessions import SqlSession
from odoolake.workspace.sql.statements import KEEP_SECONDS, SqlFailure

FINISHED, ERROR, CANCELED, CLOSED = "FINISHED", "ERROR", "CANCELED", "CLOSED"
TERMINAL = frozenset({FINISHED, ERROR, CANCELED, CLOSED})
AFFECTED_ROWS = "num_affected_rows"  # the column Databricks answers DML statements with


class OperationNotFound(ApiError):
    status, error_code = 404, "RESOURCE_DOES_NOT_EXIST"


@dataclass
class SqlOperation(CancellableRun):
    TERMINAL: ClassVar[frozenset[str]] = TERMINAL
    op_id: str
    session: SqlSession
    kind: str  # EXECUTE_STATEMENT, GET_CATALOGS, …
    failure: SqlFailure | None = None
    table: pa.Table | None = None
    offset: int = 0
    modified_rows: int | None = None
    started: float = field(default_factory=time.time)
    completed: float | None = None
    done: threading.Event = field(default_factory=threading.Event)
    extra: dict[str, Any] = field(default_factory=dict)  # what the protocol layer keeps with the operation

    @property
    def tag(self) -> str:
        return f"odoolake-sql-{self.op_id}"

    def settle(self, state: str, **fields: Any) -> str:
        """End it in ``state`` (``table=``, ``failure=``) unless it has ended already, and wake those who wait."""
        before = super().settle(state, **fields)
        if before in TERMINAL:
            return before
        table = self.table
        if table is not None and table.num_rows == 1 and table.column_names[:1] == [AFFECTED_ROWS]:
            value = table.column(0)[0].as_py()
            self.modified_rows = int(value) if value is not None else None
        self.completed = time.time()
        self.done.set()
        return before

    def wait(self, timeout: float) -> bool:
        return self.done.wait(timeout)

    def take(self, max_rows: int, max_bytes: int | None = None) -> tuple[int, pa.Table, bool]:
        """The next rows: (their offset in the result, the rows, whether more remain)."""
        assert self.table is not None
        start = self.offset
        count = max(1, min(max_rows or self.table.num_rows, self.table.num_rows - start))
        piece = self.table.slice(start, count)
        while max_bytes and count > 1 and piece.nbytes > max_bytes:
            count //= 2
            piece = self.table.slice(start, count)
        self.offset = start + piece.num_rows
        return start, piece, self.offset < self.table.num_rows

    def rewind(self) -> None:
        self.offset = 0


class SqlOperations:
    def __init__(self, workers: int = 4) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="odoolake-sqlop")
        self._ops: dict[str, SqlOperation] = {}
        self._lock = threading.Lock()

    def close_all(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _register(self, session: SqlSession, kind: str) -> SqlOperation:
        self.expire()
        op = SqlOperation(str(uuid.uuid4()), session, kind)
        with self._lock:
            self._ops[op.op_id] = op
        return op

    def execute(self, session: SqlSession, sql: str, args: dict | list | None = None,
                row_limit: int | None = None) -> SqlOperation:
        op = self._register(session, "EXECUTE_STATEMENT")
        session.hold()  # from now: a statement waiting for a worker holds its session too
        try:
            self._executor.submit(self._run, op, sql, args, row_limit)
        except BaseException:
            session.release()
            raise
        return op

    def answered(self, session: SqlSession, kind: str, produce: Callable[[], pa.Table]) -> SqlOperation:
        """An operation whose result is computed here at once (metadata calls)."""
        op = self._register(session, kind)
        try:
            op.settle(FINISHED, table=produce())
        except Exception as exc:  # a bad pattern or an unknown catalog: the operation fails, naming it
            op.settle(ERROR, failure=SqlFailure.of(exc))
        return op

    def _run(self, op: SqlOperation, sql: str, args: dict | list | None, row_limit: int | None) -> None:
        if not op.begin():
            op.session.release()
            op.ran.set()
            return
        spark = op.session.spark
        spark.addTag(op.tag)  # tags are per thread: a cancel interrupts this statement only
        try:
            try:
                op.session.use_pending_schema()
                df = statement_frame(spark, sql, args)
                if row_limit:
                    df = df.limit(row_limit)
                table, _ = arrow_and_schema(df)
            finally:
                op.session.release()
            op.settle(FINISHED, table=table)
        except Exception as exc:
            op.session.note_failure(exc)
            op.settle(ERROR, failure=SqlFailure.of(exc))
        finally:
            spark.removeTag(op.tag)
            op.ran.set()

    def get(self, op_id: str, principal: str) -> SqlOperation:
        with self._lock:
            op = self._ops.get(op_id)
        if op is None or op.session.principal != principal:
            raise OperationNotFound(f"Operation {op_id} does not exist or was closed.")
        op.touch()
        return op

    def cancel(self, op_id: str, principal: str) -> SqlOperation:
        op = self.get(op_id, principal)
        op.cancel(CANCELED, lambda: op.session.spark.interruptTag(op.tag), op.tag)  # one PENDING never starts
        return op

    def close(self, op_id: str, principal: str) -> None:
        op = self.get(op_id, principal)
        if op.state not in TERMINAL:
            self.cancel(op_id, principal)
        with self._lock:
            self._ops.pop(op_id, None)
        op.state, op.table = CLOSED, None

    def close_session(self, session_id: str) -> None:
        with self._lock:
            ops = [op for op in self._ops.values() if op.session.session_id == session_id]
        for op in ops:
            self.close(op.op_id, op.session.principal)

    def expire(self) -> None:
        cutoff = time.monotonic() - KEEP_SECONDS
        with self._lock:
            for key in [k for k, op in self._ops.items() if op.unused_since(cutoff)]:
                del self._ops[key]
