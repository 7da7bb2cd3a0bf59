"""The engine's side of the proxy: a gRPC channel to Sail, and the few calls the proxy makes on its own.

Requests go up as serialized protobufs and responses come back as raw bytes, untouched: the proxy reads what
clients ask, never what Sail answers, so result streams cost one copy.
"""

from __future__ import annotations

import io
import uuid
from typing import Any

import grpc
from grpc.experimental import ChannelOptions

from odoolake.workspace.engine.protos import base_pb2, commands_pb2, relations_pb2

SERVICE = "spark.connect.SparkConnectService"
MAX_MESSAGE = 512 * 1024 * 1024
CONTROL_TIMEOUT = 5.0  # for ReleaseSession: a session that is gone needs no more waiting
# Statuses of a call Sail did not answer (as opposed to refused): what it was asked may not have happened.
NO_ANSWER = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                       grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN})
CHANNEL_OPTIONS = [("grpc.max_send_message_length", MAX_MESSAGE), ("grpc.max_receive_message_length", MAX_MESSAGE)]
# A result stream read on the thread that asked for it. By default grpc-python starts a "channel spin" thread for
# each stream when none is running, and it exits when the last stream ends: one new thread per query for a client
# that asks one query at a time (0.15-0.25 ms of each small query, on either side of the proxy).
SINGLE_THREADED_STREAMS = (ChannelOptions.SingleThreadedUnaryStream, 1)
# Answers sent as they are. Sail gzips every message for a client that accepts gzip, which grpc-python's channels
# announce by default: on loopback that is CPU spent on both sides for nothing, and twice in full test runs a client
# received a message the proxy had relayed still gzipped. A channel that accepts only identity gets none compressed.
UNCOMPRESSED_ANSWERS = ("grpc.compression_enabled_algorithms_bitset", 1 << grpc.Compression.NoCompression.value)


def _serialize(message: Any) -> bytes:
    return message if isinstance(message, bytes) else message.SerializeToString()


def _sql_command(sql: str) -> commands_pb2.Command:
    return commands_pb2.Command(sql_command=commands_pb2.SqlCommand(
        input=relations_pb2.Relation(sql=relations_pb2.SQL(query=sql))))


class UpstreamError(Exception):
    def __init__(self, error: grpc.RpcError) -> None:
        self.error = error
        super().__init__(error.details() if hasattr(error, "details") else str(error))


def _interrupt_request(session_id: str, user_id: str, operation_id: str | None = None) -> Any:
    """An InterruptRequest from the engine host: for ``operation_id`` alone, or for all of the session's work (the
    id is in a oneof: it is set only when there is one)."""
    kind = base_pb2.InterruptRequest.InterruptType
    request = base_pb2.InterruptRequest(session_id=session_id, user_context=base_pb2.UserContext(user_id=user_id),
                                        interrupt_type=kind.INTERRUPT_TYPE_ALL)
    if operation_id:
        request.operation_id, request.interrupt_type = operation_id, kind.INTERRUPT_TYPE_OPERATION_ID
    return request


class Upstream:
    def __init__(self, target: str) -> None:
        self.target = target
        self.channel = grpc.insecure_channel(target, options=[*CHANNEL_OPTIONS, SINGLE_THREADED_STREAMS,
                                                                    UNCOMPRESSED_ANSWERS])
        channel = self.channel
        self.unary_stream: dict[str, Any] = {
            name: channel.unary_stream(f"/{SERVICE}/{name}", request_serializer=_serialize)
            for name in ("ExecutePlan", "ReattachExecute")}
        self.unary_unary: dict[str, Any] = {
            name: channel.unary_unary(f"/{SERVICE}/{name}", request_serializer=_serialize)
            for name in ("AnalyzePlan", "Config", "ArtifactStatus", "Interrupt", "ReleaseExecute", "ReleaseSession",
                         "FetchErrorDetails", "CloneSession", "GetStatus")}
        self.stream_unary: dict[str, Any] = {
            "AddArtifacts": channel.stream_unary(f"/{SERVICE}/AddArtifacts", request_serializer=_serialize)}

    def close(self) -> None:
        self.channel.close()

    # -- calls the proxy makes itself, in a client's session ----------------------------------------------------

    def execute(self, session_id: str, user_id: str, plan: base_pb2.Plan, operation_id: str = "",
                timeout: float | None = None) -> list[base_pb2.ExecutePlanResponse]:
        """Run ``plan``; ``operation_id``, when given, is the client's operation this work is done for, so that an
        interrupt of that operation reaches it. ``timeout``: seconds before the call is given up (none by default)."""
        request = base_pb2.ExecutePlanRequest(session_id=session_id, operation_id=operation_id or str(uuid.uuid4()),
                                              user_context=base_pb2.UserContext(user_id=user_id),
                                              client_type="odoolake-engine")
        request.plan.CopyFrom(plan)
        try:
            return [base_pb2.ExecutePlanResponse.FromString(raw)
                    for raw in self.unary_stream["ExecutePlan"](request, timeout=timeout)]
        except grpc.RpcError as exc:
            raise UpstreamError(exc) from None

    def run_command(self, session_id: str, user_id: str, command: commands_pb2.Command,
                    operation_id: str = "") -> list[base_pb2.ExecutePlanResponse]:
        return self.execute(session_id, user_id, base_pb2.Plan(command=command), operation_id)

    def run_sql(self, session_id: str, user_id: str, sql: str, operation_id: str = "") -> None:
        self.run_command(session_id, user_id, _sql_command(sql), operation_id)

    def command_rows(self, session_id: str, user_id: str, sql: str, operation_id: str = "") -> list[dict]:
        """Run a SQL command; the rows of its result (Sail answers a command's result inline, as Arrow)."""
        import pyarrow.ipc

        rows: list[dict] = []
        for response in self.run_command(session_id, user_id, _sql_command(sql), operation_id):
            result = response.sql_command_result.relation if response.HasField("sql_command_result") else None
            if result is not None and result.HasField("local_relation") and result.local_relation.data:
                rows.extend(pyarrow.ipc.open_stream(io.BytesIO(result.local_relation.data)).read_all().to_pylist())
        return rows

    def query_rows(self, session_id: str, user_id: str, relation: relations_pb2.Relation,
                   timeout: float | None = None) -> list[dict]:
        import pyarrow.ipc

        rows: list[dict] = []
        for response in self.execute(session_id, user_id, base_pb2.Plan(root=relation), timeout=timeout):
            if response.HasField("arrow_batch"):
                reader = pyarrow.ipc.open_stream(io.BytesIO(response.arrow_batch.data))
                rows.extend(reader.read_all().to_pylist())
        return rows

    def schema(self, session_id: str, user_id: str, relation: relations_pb2.Relation | bytes) -> Any:
        """The output schema (a struct ``DataType``) of a relation (given decoded, or as raw bytes when too deep to
        decode)."""
        from odoolake.workspace.engine import wire

        request = base_pb2.AnalyzePlanRequest(session_id=session_id, user_context=base_pb2.UserContext(user_id=user_id),
                                              client_type="odoolake-engine")
        if isinstance(relation, bytes):
            plan = wire.length_delimited(base_pb2.Plan.DESCRIPTOR.fields_by_name["root"].number, relation)
            schema = wire.length_delimited(base_pb2.AnalyzePlanRequest.Schema.DESCRIPTOR.fields_by_name["plan"].number,
                                           plan)
            payload: bytes | base_pb2.AnalyzePlanRequest = request.SerializeToString() + wire.length_delimited(
                base_pb2.AnalyzePlanRequest.DESCRIPTOR.fields_by_name["schema"].number, schema)
        else:
            request.schema.plan.root.CopyFrom(relation)
            payload = request
        try:
            response = base_pb2.AnalyzePlanResponse.FromString(self.unary_unary["AnalyzePlan"](payload))
        except grpc.RpcError as exc:
            raise UpstreamError(exc) from None
        return response.schema.schema

    def current_schema(self, session_id: str, user_id: str) -> str:
        # Catalog messages live in catalog_pb2, which protos.py does not load by name: build the field from a dict.
        relation = relations_pb2.Relation(catalog={"current_database": {}})
        rows = self.query_rows(session_id, user_id, relation)
        value = next(iter(rows[0].values())) if rows else "default"
        return str(value).split(".")[-1]

    def config(self, session_id: str, user_id: str, operation: base_pb2.ConfigRequest.Operation,
               timeout: float | None = None) -> base_pb2.ConfigResponse:
        request = base_pb2.ConfigRequest(session_id=session_id, user_context=base_pb2.UserContext(user_id=user_id),
                                         operation=operation, client_type="odoolake-engine")
        try:
            return base_pb2.ConfigResponse.FromString(self.unary_unary["Config"](request, timeout=timeout))
        except grpc.RpcError as exc:
            raise UpstreamError(exc) from None

    def release_session(self, session_id: str, user_id: str) -> bool:
        """Release a session; whether Sail no longer runs it (released now, or closed or unknown before): False when
        Sail did not answer (busy, stopping), and the session may still be there."""
        request = base_pb2.ReleaseSessionRequest(session_id=session_id,
                                                 user_context=base_pb2.UserContext(user_id=user_id))
        try:
            self.unary_unary["ReleaseSession"](request, timeout=CONTROL_TIMEOUT)
        except grpc.RpcError as exc:
            return exc.code() not in NO_ANSWER
        return True

    def interrupt_operation(self, session_id: str, user_id: str, operation_id: str) -> None:
        """Interrupt one operation; returns once Sail has answered (when the operation's work has ended, or at once
        if Sail does not know it)."""
        self.unary_unary["Interrupt"](_interrupt_request(session_id, user_id, operation_id))

    def interrupt_async(self, session_id: str, user_id: str) -> Any:
        """Interrupt every operation of a session; the call's future, which must be kept until it is done."""
        return self.unary_unary["Interrupt"].future(_interrupt_request(session_id, user_id))
