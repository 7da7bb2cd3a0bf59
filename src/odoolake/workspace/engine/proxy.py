"""The engine's Spark Connect service: every client's way in, in front of Sail.

For each call: find the principal (:mod:`.identity`), keep sessions apart (a session id belongs to the principal
who opened it; the user id Sail sees is the principal's), apply the plan rules (:mod:`.rewrite`), then forward to
Sail and relay its answer unchanged. Writes to a table hold its write lock until Sail's answer ends, and a table a
write created is recorded in the catalog only once that write succeeded.

Operations are tracked per session so that the workspace can stop a run's work: ``interrupt_token`` stops every
operation started with a run's token and waits until each has ended. Stopping a write fences its table first
(:mod:`.fence`), so the write cannot commit whenever Sail gets round to the interrupt, then interrupts it in Sail so
the work ends. A client that disconnects mid-call stops its operation too, and a client's own Interrupt is applied
here as well as in Sail: an operation is known here from its arrival, and one that Sail did not know yet when the
interrupt reached it is interrupted again until it ends (:mod:`.interrupts`).
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from odoolake.workspace.engine import errors, wire
from odoolake.workspace.engine.fence import fence_table
from odoolake.workspace.engine.identity import Authenticator, CallRefused, Principal
from odoolake.workspace.engine.interrupts import keep_interrupting
from odoolake.workspace.engine.locks import table_lock
from odoolake.workspace.engine.protos import base_pb2
from odoolake.workspace.engine.rewrite import Call, PlanRewriter, Prepared
from odoolake.workspace.engine.upstream import SERVICE, Upstream, UpstreamError

LOG = logging.getLogger(__name__)

# Spark exception classes the clients map to their own exception types.
_EXCEPTION_CLASS = {
    "NOT_FOUND": "org.apache.spark.sql.AnalysisException",
    "ALREADY_EXISTS": "org.apache.spark.sql.AnalysisException",
    "INVALID_ARGUMENT": "org.apache.spark.sql.AnalysisException",
    "UNIMPLEMENTED": "java.lang.UnsupportedOperationException",
    "PERMISSION_DENIED": "org.apache.spark.SparkSecurityException",
}
STOPPED_MESSAGE = "[OPERATION_CANCELED] The operation was stopped (cancelled, timed out or its client left); a table " \
                  "write it started does not commit."
# How a stopped operation ends for its client: Spark's error class and SQLSTATE for a cancelled operation.
STOPPED = CallRefused("CANCELLED", STOPPED_MESSAGE, "OPERATION_CANCELED", "HY008")
# Configuration keys Databricks clients read that Sail does not know.
CLIENT_DEFAULTS = {
    "spark.sql.execution.pandas.inferPandasDictAsMap": "false",
    "spark.databricks.clusterUsageTags.clusterId": "0101-000000-odoolake",
    "spark.databricks.clusterUsageTags.clusterName": "odoolake-local",
    "spark.databricks.workspaceUrl": "localhost",
}


def _with_operation_id(request: Any) -> Any:
    """An ExecutePlan request with an operation id (PySpark sends none without reattachable execution): the id Sail
    will know it by, so that the proxy can interrupt exactly it (``SparkConnectProxy._chase``)."""
    if isinstance(request, base_pb2.ExecutePlanRequest) and not request.operation_id:
        request.operation_id = str(uuid.uuid4())
    return request


def _analyze_kind(raw: bytes) -> str | None:
    """Which analysis an AnalyzePlanRequest asks for, read from its top-level fields without decoding it."""
    by_number = base_pb2.AnalyzePlanRequest.DESCRIPTOR.fields_by_number
    for item in wire.fields(raw, 0, len(raw)):
        descriptor = by_number.get(item.number)
        if descriptor is not None and descriptor.containing_oneof is not None and \
                descriptor.containing_oneof.name == "analyze":
            return descriptor.name
    return None


_INTERRUPT = base_pb2.InterruptRequest.InterruptType
# Sessions unused for this many idle limits are forgotten by the proxy (Sail closed them after one).
FORGET_AFTER_LIMITS = 2
# What a busy session is sent so that Sail counts it as used (``SparkConnectProxy.keep_busy_sessions``).
_KEEP_ALIVE = base_pb2.ConfigRequest.Operation(get=base_pb2.ConfigRequest.Get(keys=["spark.sql.session.timeZone"]))
_INTERRUPTED_IDS = base_pb2.InterruptResponse.DESCRIPTOR.fields_by_name["interrupted_ids"].number
_NEW_SERVER_SESSION = base_pb2.CloneSessionResponse.DESCRIPTOR.fields_by_name["new_server_side_session_id"].number


@functools.cache
def _session_field(name: str) -> int:
    """The number of ``server_side_session_id`` in the response of method ``name``."""
    response = "ArtifactStatusesResponse" if name == "ArtifactStatus" else f"{name}Response"
    return int(getattr(base_pb2, response).DESCRIPTOR.fields_by_name["server_side_session_id"].number)


class ServerSessions:
    """The server-side session ids this engine host answers with, new for every start of the host.

    Sail answers with the client's own session id, before and after a restart alike, and a restarted Sail makes a
    fresh session for an id it does not know: a client whose engine died went on in a session without its settings
    (a time zone, the current schema, temporary views), unaware. Spark's own server gives each session a server-side
    id that a restart changes, and PySpark 4 sends back the one it saw: a request naming an
    id this host never gave is refused with ``INVALID_HANDLE.SESSION_CHANGED`` before anything runs, and every
    answer carries this host's id (a field appended to Sail's bytes: protobuf keeps the last value of a field)."""

    def __init__(self) -> None:
        self.epoch = uuid.uuid4()

    def id_of(self, session_id: str) -> str:
        return str(uuid.uuid5(self.epoch, session_id))

    def check(self, request: Any) -> None:
        """Refuse a request that saw another start of the host; otherwise take the id out of it (it is the proxy's,
        not Sail's: a Sail that checked it would refuse every call)."""
        observed = getattr(request, "client_observed_server_side_session_id", "")  # ReleaseSession has none
        if not observed:
            return
        if observed != self.id_of(request.session_id):
            raise CallRefused("FAILED_PRECONDITION", errors.SESSION_CHANGED_MESSAGE, errors.SESSION_CHANGED, "HY000")
        request.ClearField("client_observed_server_side_session_id")

    def suffix(self, name: str, session_id: str) -> bytes:
        """What is appended to each answer of method ``name`` in ``session_id``."""
        return wire.length_delimited(_session_field(name), self.id_of(session_id).encode())


@functools.cache
def _no_columns_relation() -> bytes:
    """A result with no columns and no rows, as an Arrow stream (what Sail answers ``USE SCHEMA`` with)."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, pa.schema([])) as writer:
        writer.write_batch(pa.RecordBatch.from_pydict({}))
    return bytes(sink.getvalue().to_pybytes())


def _without_columns(raw: bytes) -> bytes:
    """An answer of a statement that has no result columns (``Prepared.no_columns``): Sail answers CREATE, DROP and
    the like with a ``value`` column holding true, and the rules' own answers with a ``result`` column; Spark and
    Databricks with no columns."""
    response = base_pb2.ExecutePlanResponse.FromString(raw)
    if not response.HasField("sql_command_result"):
        return raw
    relation = response.sql_command_result.relation
    relation.Clear()
    relation.local_relation.data = _no_columns_relation()
    return response.SerializeToString()


def _undo(prepared: Prepared | None) -> None:
    """Undo what a failed call left (``Prepared.after_failure``); a failure to undo is logged, not put in place of
    the call's own error."""
    if prepared is None or prepared.after_failure is None:
        return
    try:
        prepared.after_failure()
    except Exception:
        LOG.exception("could not undo what a failed call left")


def _status(refused: CallRefused) -> Any:
    code = getattr(grpc.StatusCode, refused.code)
    details = []
    if refused.error_class:
        classes = list(refused.classes) or [_EXCEPTION_CLASS.get(refused.code, "org.apache.spark.SparkException"),
                                            "org.apache.spark.SparkException"]
        exception = classes[0]
        metadata = {"classes": json.dumps(classes),
                    "errorClass": refused.error_class, "sqlState": refused.sql_state or ""}
        info = error_details_pb2.ErrorInfo(reason=exception, domain="org.apache.spark", metadata=metadata)
        packed = any_pb2.Any()
        packed.Pack(info)
        details.append(packed)
    return rpc_status.to_status(status_pb2.Status(code=code.value[0], message=refused.message, details=details))


@dataclass
class Operation:
    session_id: str
    principal: Principal
    writes: str | None = None  # the location of the table it writes, if it writes one
    label: str = ""  # the client's operation id, for the fence and the logs
    operation_id: str = ""  # the id Sail knows it by ("" for a plan too deep to decode that came without one)
    tags: frozenset[str] = frozenset()
    done: threading.Event = field(default_factory=threading.Event)
    answered: bool = False  # the client received Sail's whole answer
    stopped: bool = False  # interrupted: whatever Sail answers, it did not succeed
    chased: bool = False  # interrupts are being sent until it ends (``SparkConnectProxy._chase``)
    _stopping: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def begin_write(self, location: str) -> None:
        """A table write the rules do themselves for this operation starts (``Call.begin_write``): stopping the
        operation from now on fences ``location``; an operation stopped already starts no write."""
        with self._stopping:
            if self.stopped:
                raise CallRefused(STOPPED.code, STOPPED.message, STOPPED.error_class, STOPPED.sql_state)
            self.writes = location

    def stop(self) -> None:
        """Mark it stopped and, if it writes a table and is still running, fence that table (once)."""
        with self._stopping:
            if self.stopped:
                return
            self.stopped = True
            if self.writes is None or self.done.is_set() or self.answered:
                return
            try:
                fence_table(self.writes, self.label)
            except Exception:  # the interrupt still goes out; a failed fence must not keep the run from ending
                LOG.exception("could not fence %s against stopped operation %s", self.writes, self.label)


class Operations:
    """In-flight ExecutePlan calls, so a run's work can be interrupted and waited for."""

    def __init__(self) -> None:
        self._ops: dict[int, Operation] = {}
        self._lock = threading.Lock()
        self._next = 0

    def start(self, session_id: str, principal: Principal, writes: str | None = None, label: str = "",
              operation_id: str = "", tags: frozenset[str] = frozenset()) -> tuple[int, Operation]:
        with self._lock:
            self._next += 1
            op = Operation(session_id, principal, writes, label or f"odoolake-{self._next}", operation_id, tags)
            self._ops[self._next] = op
            return self._next, op

    def end(self, key: int) -> None:
        with self._lock:
            op = self._ops.pop(key, None)
        if op is not None:
            op.done.set()

    def matching(self, token: str | None = None) -> list[Operation]:
        with self._lock:
            return [op for op in self._ops.values() if token is None or op.principal.token == token]

    def named_by(self, request: base_pb2.InterruptRequest) -> list[Operation]:
        """The operations of the request's session that a client's Interrupt names (all, by tag or by id)."""
        kind = request.interrupt_type
        with self._lock:
            ops = [op for op in self._ops.values() if op.session_id == request.session_id]
        if kind == _INTERRUPT.INTERRUPT_TYPE_TAG:
            return [op for op in ops if request.operation_tag in op.tags]
        if kind == _INTERRUPT.INTERRUPT_TYPE_OPERATION_ID:
            return [op for op in ops if op.operation_id and op.operation_id == request.operation_id]
        return ops if kind == _INTERRUPT.INTERRUPT_TYPE_ALL else []


class Sessions:
    """A session id belongs to the principal who first used it: nobody else can attach to it. Ownership is dropped
    only once the engine no longer runs the session (``forget_released``): Sail finds a session by its id alone, so
    an id whose owner was forgotten while Sail still held its state would let the next claimant read it. Sessions
    nobody used for a while are released and forgotten (``SparkConnectProxy.forget_idle_sessions``), so that a
    host running for months does not keep every session a job or a client ever opened."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._owners: dict[str, str] = {}
        self._tokens: dict[str, set[str]] = {}  # token → the sessions claimed with it
        self._token_of: dict[str, set[str]] = {}  # session → the tokens it was claimed with (the same map, inverted)
        self._used: dict[str, float] = {}  # session id → when it was last used (``clock``)
        self._clock = clock
        self._lock = threading.Lock()

    def claim(self, session_id: str, principal: Principal) -> None:
        if not session_id:
            raise CallRefused("INVALID_ARGUMENT", "The request has no session_id.")
        with self._lock:
            owner = self._owners.setdefault(session_id, principal.name)
            if owner == principal.name:
                self._used[session_id] = self._clock()
                if principal.token:  # a refused claim must not make the session one of the caller's token's
                    self._tokens.setdefault(principal.token, set()).add(session_id)
                    self._token_of.setdefault(session_id, set()).add(principal.token)
        if owner != principal.name:
            raise CallRefused("PERMISSION_DENIED", f"Session {session_id} belongs to another principal; start a new "
                                                   "session.", "INSUFFICIENT_PERMISSIONS", "42501")

    def touch(self, session_ids: set[str]) -> None:
        """Count sessions as used now (an operation of theirs still runs in the engine)."""
        now = self._clock()
        with self._lock:
            for session_id in session_ids & self._used.keys():
                self._used[session_id] = now

    def idle(self, older_than: float, busy: set[str]) -> tuple[float, dict[str, str]]:
        """The sessions unused for ``older_than`` seconds, except ``busy`` ones: (the cutoff, session id → owner)."""
        cutoff = self._clock() - older_than
        with self._lock:
            return cutoff, {s: self._owners[s] for s, used in self._used.items() if used < cutoff and s not in busy}

    def forget_released(self, session_ids: set[str], unused_since: float | None = None) -> set[str]:
        """Forget sessions the engine no longer runs; with ``unused_since``, only those not used since then. A token
        left with no session is forgotten too. Returns the sessions forgotten."""
        with self._lock:
            gone = {s for s in session_ids if s in self._owners and (
                unused_since is None or self._used.get(s, unused_since) < unused_since)}
            for session_id in gone:
                del self._owners[session_id]
                self._used.pop(session_id, None)
                for token in self._token_of.pop(session_id, ()):
                    sessions = self._tokens.get(token)
                    if sessions is not None:
                        sessions.discard(session_id)
                        if not sessions:
                            del self._tokens[token]
            return gone

    def of_token(self, token: str) -> set[str]:
        with self._lock:
            return set(self._tokens.get(token, ()))

    def forget_token(self, token: str) -> dict[str, str]:
        """Drop a spent token's list of sessions; returns them (session id → owner) so the engine can release them
        (their owners stay until it has: ``forget_released``)."""
        with self._lock:
            sessions = self._tokens.pop(token, set())
            for session_id in sessions:
                tokens = self._token_of.get(session_id)
                if tokens is not None:
                    tokens.discard(token)
                    if not tokens:
                        del self._token_of[session_id]
            return {s: self._owners[s] for s in sessions if s in self._owners}

    def all(self) -> dict[str, str]:
        with self._lock:
            return dict(self._owners)


class SparkConnectProxy:
    def __init__(self, upstream: Upstream, rewriter: PlanRewriter) -> None:
        self.upstream = upstream
        self.rewriter = rewriter
        self.sessions = Sessions()
        self.server_sessions = ServerSessions()
        self.operations = Operations()
        self._pending: set[Any] = set()  # Interrupt calls waiting for Sail's answer
        self._pending_lock = threading.Lock()

    def keep_busy_sessions(self, stopping: threading.Event, idle_seconds: float) -> threading.Thread:
        """Sail closes a session that no request reached for its idle limit, also one whose query is still running
        (its clock counts requests, not work): every quarter of the limit each session with an operation in flight
        is sent a settings read, so only sessions nobody uses are closed. Sessions unused for
        ``FORGET_AFTER_LIMITS`` limits are then forgotten here and released in Sail (``forget_idle_sessions``).
        Runs until ``stopping`` is set."""
        every = idle_seconds / 4

        def loop() -> None:
            while not stopping.wait(every):
                busy = {(op.session_id, op.principal.name) for op in self.operations.matching()}
                self.sessions.touch({session_id for session_id, _ in busy})  # in use, though no request names it
                for session_id, user_id in busy:
                    try:
                        self.upstream.config(session_id, user_id, _KEEP_ALIVE, timeout=every)
                    except UpstreamError:  # the session ended meanwhile, or Sail is busy: the next round tries again
                        LOG.debug("keep-alive of session %s failed", session_id, exc_info=True)
                    except Exception:  # never ends the loop: without it long queries would be cut off again
                        LOG.warning("keep-alive of session %s failed", session_id, exc_info=True)
                try:
                    self.forget_idle_sessions(FORGET_AFTER_LIMITS * idle_seconds)
                except Exception:
                    LOG.warning("forgetting idle sessions failed", exc_info=True)

        thread = threading.Thread(target=loop, name="odoolake-keep-sessions", daemon=True)
        thread.start()
        return thread

    def handler(self, auth: Authenticator) -> grpc.GenericRpcHandler:
        """The service as one door sees it: ``auth`` decides who the caller is."""
        parse = {name: getattr(base_pb2, f"{name}Request").FromString
                 for name in ("ExecutePlan", "AnalyzePlan", "Config", "Interrupt", "ReattachExecute",
                              "ReleaseExecute", "ReleaseSession", "FetchErrorDetails", "CloneSession", "GetStatus")}
        parse["ArtifactStatus"] = base_pb2.ArtifactStatusesRequest.FromString

        def identity(data: bytes) -> bytes:
            return data

        def unary(name: str, fn):
            return grpc.unary_unary_rpc_method_handler(lambda req, ctx: fn(name, req, ctx, auth),
                                                       request_deserializer=parse.get(name, identity),
                                                       response_serializer=identity)

        parse["ExecutePlan"] = parse["AnalyzePlan"] = identity  # decoded in the handler: some plans are too deep
        handlers = {
            "ExecutePlan": grpc.unary_stream_rpc_method_handler(
                lambda req, ctx: self.execute_plan(req, ctx, auth), request_deserializer=identity,
                response_serializer=identity),
            "ReattachExecute": grpc.unary_stream_rpc_method_handler(
                lambda req, ctx: self.reattach(req, ctx, auth), request_deserializer=parse["ReattachExecute"],
                response_serializer=identity),
            "AddArtifacts": grpc.stream_unary_rpc_method_handler(
                lambda it, ctx: self.add_artifacts(it, ctx, auth), request_deserializer=identity,
                response_serializer=identity),
        }
        for name in ("AnalyzePlan", "Config", "ArtifactStatus", "Interrupt", "ReleaseExecute", "ReleaseSession",
                     "FetchErrorDetails", "CloneSession", "GetStatus"):
            handlers[name] = unary(name, self.unary)
        return grpc.method_handlers_generic_handler(SERVICE, handlers)

    # -- the common prologue ---------------------------------------------------------------------------------------

    def _call(self, request: Any, context: grpc.ServicerContext, auth: Authenticator) -> Call:
        principal = auth.principal({k: v for k, v in context.invocation_metadata() if isinstance(v, str)})
        self.sessions.claim(request.session_id, principal)
        self.server_sessions.check(request)
        request.user_context.user_id = principal.name
        return Call(principal, request.session_id)

    @staticmethod
    def _abort(context: grpc.ServicerContext, refused: CallRefused) -> None:
        context.abort_with_status(_status(refused))

    @staticmethod
    def _relay(context: grpc.ServicerContext, error: grpc.RpcError, request: Any = None,
               candidates: errors.Candidates | None = None) -> None:
        """Sail's error, with the Spark error class and SQLSTATE a Databricks user would see (:mod:`.errors`);
        ``request``, when given, names a missing table as it wrote it; ``candidates`` proposes the columns an
        unresolved one could have been."""
        details = error.details() or ""  # an upstream call's error is also a grpc.Call
        trailing = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
        pairs: list[tuple[str, Any]] = [tuple(item) for item in trailing or ()]  # type: ignore[misc, arg-type]
        kept = [pair for pair in pairs if pair[0].startswith(("grpc-status-details", "x-"))]
        status_bin = next((value for key, value in kept if key == errors.STATUS_DETAILS_KEY), None)
        translated = errors.translate(details, status_bin, error.code().value[0],
                                      errors.written_names(request) if request is not None else (), candidates)
        if translated is not None:
            details = translated[0]
            kept = [pair for pair in kept if pair[0] != errors.STATUS_DETAILS_KEY]
            kept.append((errors.STATUS_DETAILS_KEY, translated[1]))
        context.set_code(error.code())
        context.set_details(details)
        if kept:
            context.set_trailing_metadata(tuple(kept))

    # -- handlers ---------------------------------------------------------------------------------------------------

    def _decode(self, raw: bytes, kind: Any, plan_field: str, context: grpc.ServicerContext,
                auth: Authenticator) -> tuple[Any, Call, bytes | None]:
        """The request decoded, or — when its plan is too deep for upb — its envelope decoded and the rest kept raw
        (the third value: the whole request re-encoded with the envelope's changes)."""
        try:
            request = kind.FromString(raw)
            return request, self._call(_with_operation_id(request), context, auth), None
        except DecodeError:
            number = kind.DESCRIPTOR.fields_by_name[plan_field].number
            envelope, plan = wire.without(raw, 0, len(raw), number)
            request = kind.FromString(envelope)
            call = self._call(_with_operation_id(request), context, auth)
            return request, call, request.SerializeToString() + plan

    def execute_plan(self, raw: bytes, context: grpc.ServicerContext, auth: Authenticator) -> Iterator[bytes]:
        try:
            request, call, deep = self._decode(raw, base_pb2.ExecutePlanRequest, "plan", context, auth)
        except CallRefused as refused:
            self._abort(context, refused)
            return
        except (DecodeError, wire.WireError) as exc:
            self._abort(context, CallRefused("INVALID_ARGUMENT", f"The request could not be read: {exc}"))
            return
        # Registered on arrival, as Spark's server registers an operation: an interrupt from now on stops it, also
        # while the rules below run or the request is on its way to Sail.
        key, op = self.operations.start(call.session_id, call.principal, None, request.operation_id,
                                        request.operation_id, frozenset(request.tags))
        if not context.add_callback(lambda: self._client_gone(op)):  # the client has left already
            op.stop()
        call.operation_id, call.begin_write, call.stopped = request.operation_id, op.begin_write, lambda: op.stopped
        stack = ExitStack()
        stream: Any = None
        prepared: Prepared | None = None
        try:
            if deep is None:
                prepared = self.rewriter.prepare_execute(request, call)
            else:
                request, prepared = self.rewriter.prepare_deep(deep, base_pb2.ExecutePlanRequest, call)
            op.writes = prepared.lock
            if prepared.lock:
                stack.enter_context(table_lock(prepared.lock))
                if prepared.on_lock is not None:
                    prepared.on_lock()
            if op.stopped:  # interrupted before it reached Sail: it never will
                self._abort(context, STOPPED)
            stream = self.upstream.unary_stream["ExecutePlan"](request)
            suffix = self.server_sessions.suffix("ExecutePlan", call.session_id)
            if prepared.no_columns:
                stream = map(_without_columns, stream)
            if prepared.after_success is None:
                for raw in stream:
                    yield raw + suffix
            else:  # hold the last message until the catalog knows the table, so the client's next call does
                last = None
                for raw in stream:
                    if last is not None:
                        yield last + suffix
                    last = raw
                if not op.stopped:
                    prepared.after_success()
                if last is not None:
                    yield last + suffix
            if op.stopped:  # Sail ends an interrupted operation's stream without an error
                _undo(prepared)
                self._abort(context, STOPPED)
            op.answered = True
        except grpc.RpcError as error:  # Sail's, or of a write the rules did for a call stopped meanwhile
            _undo(prepared)
            if op.stopped:
                self._abort(context, STOPPED)
            else:
                self._relay(context, error, request, lambda: self.rewriter.column_candidates(request, call))
        except CallRefused as refused:  # a write the rules did for a stopped call failed because it was stopped
            _undo(prepared)
            self._abort(context, STOPPED if op.stopped else refused)
        except (DecodeError, wire.WireError) as exc:
            self._abort(context, CallRefused("INVALID_ARGUMENT", f"The request could not be read: {exc}"))
        except GeneratorExit:
            if stream is not None:  # the client left mid-answer
                self._follow_to_the_end(stream, stack, key)
                stack, key = ExitStack(), 0
            raise
        finally:
            stack.close()
            self.operations.end(key)

    def _follow_to_the_end(self, stream: Any, stack: ExitStack, key: int) -> None:
        """A client that leaves mid-answer (killed, say) drops its end of the stream. Dropping Sail's end too would
        cancel the call, and Sail then forgets the operation while its work goes on to commit, out of reach of the
        interrupt that ``_client_gone`` sends. So Sail's answer is read to its end in the background, the table lock
        and the operation record held until then, and the interrupt finds the operation."""
        held = stack.pop_all()

        def drain() -> None:
            try:
                for _ in stream:
                    pass
            except grpc.RpcError:
                pass  # the interrupt ended it, as it should
            finally:
                held.close()
                self.operations.end(key)

        threading.Thread(target=drain, name="odoolake-abandoned-answer", daemon=True).start()

    def _client_gone(self, op: Operation) -> None:
        """The RPC ended: if the client left before Sail's answer ended (or before the request reached Sail), stop
        what it started, by its id alone (the session may have other work). The upstream call is not cancelled —
        Sail would finish the work and commit anyway — but kept until Sail ends it, so its table lock is held until
        then, and the fence keeps it from committing."""
        if not op.answered and not op.done.is_set():
            op.stop()
            self._chase([op])

    def _chase(self, ops: list[Operation]) -> None:
        """Interrupt each stopped operation by its id until it has ended: the first interrupt may have reached Sail
        before the operation did (:mod:`.interrupts`)."""
        for op in ops:
            with op._stopping:
                if op.chased or not op.operation_id or op.done.is_set():
                    continue
                op.chased = True
            keep_interrupting(functools.partial(self.upstream.interrupt_operation, op.session_id, op.principal.name,
                                                op.operation_id), op.done, op.operation_id)

    def _interrupt_for_client(self, request: base_pb2.InterruptRequest) -> bytes:
        """A client's Interrupt: the session's operations it names are stopped here first — Sail closes an
        interrupted operation's stream before it answers, and the proxy must already know the stream ended by an
        interrupt — then Sail is asked. Those Sail did not know yet (still in the rules, or on their way to it) are
        interrupted again until they end and added to the answer's ``interrupted_ids``, as Spark's server, which
        knows an operation from its arrival, answers."""
        named = self.operations.named_by(request)  # named now: an operation arriving later is not this interrupt's
        for op in named:
            op.stop()
        try:
            answer = self.upstream.unary_unary["Interrupt"](request)
        except grpc.RpcError:
            self._chase(named)
            raise
        told = set(base_pb2.InterruptResponse.FromString(answer).interrupted_ids)
        for op in self.operations.named_by(request):  # one that arrived meanwhile and Sail stopped too
            if op.operation_id in told:
                op.stop()
        missed = [op for op in named if op.operation_id not in told and not op.done.is_set()]
        self._chase(missed)
        return answer + b"".join(wire.length_delimited(_INTERRUPTED_IDS, op.operation_id.encode())
                                 for op in missed if op.operation_id)

    def _interrupt(self, sessions: dict[str, str]) -> None:
        """Interrupt every operation of these sessions. Sail answers an Interrupt only once the operation's work
        has ended (a running Python batch cannot be cut short) and forgets it if the call is dropped, so each call
        is kept alive here until Sail answers."""
        for session_id, owner in sessions.items():
            future = self.upstream.interrupt_async(session_id, owner)
            with self._pending_lock:
                self._pending.add(future)
            future.add_done_callback(self._forget_pending)

    def _forget_pending(self, future: Any) -> None:
        with self._pending_lock:
            self._pending.discard(future)

    def reattach(self, request: base_pb2.ReattachExecuteRequest, context: grpc.ServicerContext,
                 auth: Authenticator) -> Iterator[bytes]:
        try:
            call = self._call(request, context, auth)
        except CallRefused as refused:
            self._abort(context, refused)
            return
        key, op = self.operations.start(call.session_id, call.principal, None, request.operation_id,
                                        request.operation_id)
        stream: Any = None
        try:
            stream = self.upstream.unary_stream["ReattachExecute"](request)
            context.add_callback(lambda: self._client_gone(op))
            suffix = self.server_sessions.suffix("ExecutePlan", call.session_id)  # its answers are ExecutePlan's
            for raw in stream:
                yield raw + suffix
            op.answered = True
        except grpc.RpcError as error:
            self._relay(context, error)
        except GeneratorExit:
            if stream is not None:
                self._follow_to_the_end(stream, ExitStack(), key)
                key = 0
            raise
        finally:
            self.operations.end(key)

    def unary(self, name: str, request: Any, context: grpc.ServicerContext, auth: Authenticator) -> bytes:
        try:
            if name == "AnalyzePlan":
                # The analysis's own oneof field holds the (possibly deep) plan; the envelope is the rest.
                request, call, deep = self._decode(request, base_pb2.AnalyzePlanRequest,
                                                   _analyze_kind(request) or "schema", context, auth)
                if deep is None:
                    self.rewriter.prepare_analyze(request, call)
                else:
                    request, _ = self.rewriter.prepare_deep(deep, base_pb2.AnalyzePlanRequest, call)
            else:
                call = self._call(request, context, auth)
                if name == "Config":
                    answered = self._config(request, call)
                    if answered is not None:
                        return answered + self.server_sessions.suffix(name, call.session_id)
                elif name == "CloneSession" and request.new_session_id:  # the copy is the caller's too
                    self.sessions.claim(request.new_session_id, call.principal)
        except CallRefused as refused:
            self._abort(context, refused)
            return b""
        except grpc.RpcError as error:  # the engine's answer to a call the rules made (a catalog listing)
            self._relay(context, error)
            return b""
        except (DecodeError, wire.WireError) as exc:
            LOG.warning("undecodable %s request", name, exc_info=True)
            self._abort(context, CallRefused("INVALID_ARGUMENT", f"The request could not be read: {exc}"))
            return b""
        try:
            answer = self._interrupt_for_client(request) if name == "Interrupt" else \
                self.upstream.unary_unary[name](request)
        except grpc.RpcError as error:
            if name == "AnalyzePlan":
                self._relay(context, error, request, lambda: self.rewriter.column_candidates(request, call))
            else:
                self._relay(context, error)
            return b""
        if name == "ReleaseSession":  # only once Sail has released it: until then its state is there to claim
            self._forget({request.session_id})
        answer += self.server_sessions.suffix(name, call.session_id)
        if name == "CloneSession" and request.new_session_id:
            self.rewriter.sessions_cloned(request.session_id, request.new_session_id)
            answer += wire.length_delimited(_NEW_SERVER_SESSION, self.server_sessions.id_of(request.new_session_id).encode())
        return answer

    def add_artifacts(self, requests: Iterator[bytes], context: grpc.ServicerContext, auth: Authenticator) -> bytes:
        try:
            principal = auth.principal({k: v for k, v in context.invocation_metadata() if isinstance(v, str)})
            if not self.rewriter.access.may_send_code(principal):  # artifacts are code and files for UDFs to use
                raise self.rewriter.access.refuse_code(principal)
        except CallRefused as refused:
            self._abort(context, refused)
            return b""

        session: list[str] = []  # the session the artifacts were sent in

        def checked(raw: bytes) -> bytes:
            request = base_pb2.AddArtifactsRequest.FromString(raw)
            self.sessions.claim(request.session_id, principal)
            self.server_sessions.check(request)
            request.user_context.user_id = principal.name
            session[:] = [request.session_id]
            return request.SerializeToString()

        # The first message is checked here, so that its refusal reaches the client by name; a refusal raised while
        # grpc reads the rest of the stream for Sail can only end the call ("Exception iterating requests").
        pending = iter(requests)
        try:
            first = next(pending, None)
            head = [] if first is None else [checked(first)]
        except CallRefused as refused:
            self._abort(context, refused)
            return b""
        except DecodeError as exc:
            self._abort(context, CallRefused("INVALID_ARGUMENT", f"The request could not be read: {exc}"))
            return b""
        try:
            answer = self.upstream.stream_unary["AddArtifacts"](itertools.chain(head, map(checked, pending)))
            return answer + (self.server_sessions.suffix("AddArtifacts", session[0]) if session else b"")
        except grpc.RpcError as error:
            self._relay(context, error)
            return b""
        except CallRefused as refused:
            self._abort(context, refused)
            return b""

    def _config(self, request: base_pb2.ConfigRequest, call: Call) -> bytes | None:
        """Answer reads of keys Databricks clients expect and Sail lacks, check what a ``set`` sets (the rewriter's
        ``set_checked``: a value the engine cannot plan with is refused, not kept) and put an ``unset`` session
        setting back to its start value (``unset_to_defaults``); everything else goes to Sail."""
        operation = request.operation
        kind = operation.WhichOneof("op_type")
        if kind in ("set", "unset"):
            try:
                done = self.rewriter.set_checked(operation, call) if kind == "set" else \
                    self.rewriter.unset_to_defaults(operation, call)
            except UpstreamError as exc:
                raise exc.error from None  # relayed as the engine's own answer
            return done.SerializeToString()
        if kind not in ("get", "get_with_default", "get_option"):
            return None
        keys = [p.key for p in operation.get_with_default.pairs] if kind == "get_with_default" else \
            list(getattr(operation, kind).keys)
        if not keys or not all(k in CLIENT_DEFAULTS for k in keys):
            return None
        response = base_pb2.ConfigResponse(session_id=request.session_id)
        for key in keys:
            response.pairs.add(key=key, value=CLIENT_DEFAULTS[key])
        return response.SerializeToString()

    # -- stopping work ----------------------------------------------------------------------------------------------

    def interrupt_token(self, token: str, timeout: float = 10.0) -> int:
        """Interrupt every operation started with ``token``; wait up to ``timeout`` for them to end. Returns how
        many were running. Whatever is still running then keeps its interrupt: it ends without committing."""
        ops = self.operations.matching(token)
        for op in ops:
            op.stop()
        owners = self.sessions.all()
        targets = {s: owners.get(s, "") for s in self.sessions.of_token(token)}
        targets.update({op.session_id: op.principal.name for op in ops})
        self._interrupt(targets)
        self._chase(ops)
        deadline = time.monotonic() + timeout
        ended = all(op.done.wait(max(0.0, deadline - time.monotonic())) for op in ops)
        spent = self.sessions.forget_token(token)  # the token is spent: nobody may use its sessions again
        if ended:  # free them in Sail too (not while an interrupted operation still runs there: the idle sweep will)
            self._forget(self._released(spent))
        return len(ops)

    def interrupt_all(self, timeout: float = 30.0) -> int:
        ops = self.operations.matching()
        for op in ops:
            op.stop()
        self._interrupt(self.sessions.all())
        self._chase(ops)
        deadline = time.monotonic() + timeout
        for op in ops:
            op.done.wait(max(0.0, deadline - time.monotonic()))
        return len(ops)

    def forget_idle_sessions(self, older_than: float) -> int:
        """Release in Sail the sessions unused for ``older_than`` seconds with no operation in flight (Sail closed
        them already, after one idle limit, unless its clock failed), then forget those Sail no longer runs. A
        released id stays closed in Sail: whoever claims it afresh gets ``SESSION_CLOSED``, never its state.
        Returns how many were forgotten."""
        cutoff, idle = self.sessions.idle(older_than, {op.session_id for op in self.operations.matching()})
        return len(self._forget(self._released(idle), unused_since=cutoff))

    def _forget(self, session_ids: set[str], unused_since: float | None = None) -> set[str]:
        """Forget sessions the engine no longer runs (``Sessions.forget_released``), here and in the rewriter."""
        gone = self.sessions.forget_released(session_ids, unused_since)
        self.rewriter.sessions_ended(gone)
        return gone

    def _released(self, sessions: dict[str, str]) -> set[str]:
        """The sessions Sail no longer runs after a release of each (released now, or closed before)."""
        outcomes = self._each(self.upstream.release_session, sessions)
        return {session_id for session_id, gone in zip(sessions, outcomes, strict=True) if gone}

    @staticmethod
    def _each(call: Any, sessions: dict[str, str]) -> list[Any]:
        """``call(session_id, owner)`` for every session at once, so slow answers do not add up; their answers, in
        the sessions' order."""
        if not sessions:
            return []
        with ThreadPoolExecutor(max_workers=min(8, len(sessions)), thread_name_prefix="interrupt") as pool:
            return list(pool.map(lambda item: call(*item), sessions.items()))
