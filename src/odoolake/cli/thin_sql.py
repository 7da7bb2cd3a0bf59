"""One SQL statement on the embedded engine without PySpark's client, for ``odoolake lake sql``.

PySpark's Spark Connect client imports pandas and the whole DataFrame API: about 0.9 CPU-seconds of a cold
``lake sql`` that costs about 1.8 in all (the engine host's start-up is most of the rest). A command that runs one
statement and prints its rows needs only the Spark Connect protocol: gRPC, the generated protobuf messages
(:mod:`odoolake.workspace.engine.protos`) and Arrow. The statement goes to the same owner socket, through the same
engine proxy (Delta commands, rewrites, access rules), as a PySpark session's would; values come back as PySpark's
``collect()`` gives them (naive local timestamps, maps and structs as dicts).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from odoolake.config import WorkspacePaths, local_user
from odoolake.workspace.engine.session import SESSION_CONF

EXECUTE = "/spark.connect.SparkConnectService/ExecutePlan"
CONFIG = "/spark.connect.SparkConnectService/Config"


class EngineRefused(Exception):
    """The engine refused the statement; the message is the engine's, as PySpark would show it."""


def _value(value: Any, kind: Any) -> Any:
    import pyarrow as pa

    if value is None:
        return None
    if pa.types.is_timestamp(kind) and isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone().replace(tzinfo=None)  # PySpark: local wall-clock time, naive
    if pa.types.is_map(kind):
        return {_value(k, kind.key_type): _value(v, kind.item_type) for k, v in value}
    if pa.types.is_struct(kind):
        return {f.name: _value(value.get(f.name), f.type) for f in kind}
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return [_value(v, kind.value_type) for v in value]
    return value


@contextmanager
def _channel(paths: WorkspacePaths) -> Iterator[Any]:
    from odoolake.cli import entry
    from odoolake.workspace.engine.launcher import EngineLease

    # the host started as the process did (odoolake.cli.entry), or starts now, while gRPC and Arrow are imported
    lease = entry.take(paths) or EngineLease(paths, local_user(), wait=False)
    try:
        import grpc

        lease.ready()
        with grpc.insecure_channel(f"unix:{lease.socket}") as channel:
            yield channel
    except BaseException:
        lease.close()  # stops the host (and whatever it still runs for us) if nobody else uses it
        raise
    lease.close(linger=True)  # the next command within host.IDLE_EXIT_SECONDS finds the host running


def run(paths: WorkspacePaths, statement: str, limit: int) -> tuple[list[str], list[tuple]]:
    """Run ``statement``; its column names and at most ``limit`` + 1 rows (so the caller can say there were more)."""
    import grpc
    import pyarrow as pa

    from odoolake.workspace.engine.protos import base_pb2, commands_pb2, relations_pb2

    session, user = str(uuid.uuid4()), base_pb2.UserContext(user_id=local_user())
    with _channel(paths) as channel:
        execute = channel.unary_stream(EXECUTE, request_serializer=base_pb2.ExecutePlanRequest.SerializeToString,
                                       response_deserializer=base_pb2.ExecutePlanResponse.FromString)
        config = channel.unary_unary(CONFIG, request_serializer=base_pb2.ConfigRequest.SerializeToString,
                                     response_deserializer=base_pb2.ConfigResponse.FromString)

        def plan(p: Any) -> Iterator[Any]:
            try:
                yield from execute(base_pb2.ExecutePlanRequest(session_id=session, user_context=user, plan=p))
            except grpc.RpcError as exc:
                raise EngineRefused(exc.details() or str(exc.code())) from None

        pairs = [base_pb2.KeyValue(key=k, value=v) for k, v in SESSION_CONF.items()]
        config(base_pb2.ConfigRequest(session_id=session, user_context=user, operation=base_pb2.ConfigRequest.Operation(
            set=base_pb2.ConfigRequest.Set(pairs=pairs))))
        relation = None
        query = relations_pb2.Relation(common=relations_pb2.RelationCommon(plan_id=1),
                                       sql=relations_pb2.SQL(query=statement))  # as PySpark's spark.sql sends it
        for answer in plan(base_pb2.Plan(command=commands_pb2.Command(sql_command=commands_pb2.SqlCommand(
                input=query)))):
            if answer.HasField("sql_command_result"):
                relation = answer.sql_command_result.relation
        if relation is None:
            return [], []
        batches, names = [], []
        fetch = relations_pb2.Relation(common=relations_pb2.RelationCommon(plan_id=2),
                                       limit=relations_pb2.Limit(input=relation, limit=limit + 1))
        for answer in plan(base_pb2.Plan(root=fetch)):
            if answer.HasField("arrow_batch"):
                batches.extend(pa.ipc.open_stream(answer.arrow_batch.data))
            if answer.HasField("schema") and answer.schema.HasField("struct"):
                names = [f.name for f in answer.schema.struct.fields]
    if not batches:
        return names, []
    table = pa.Table.from_batches(batches)
    columns = [[_value(v, field.type) for v in table.column(i).to_pylist()] for i, field in enumerate(table.schema)]
    return table.column_names, list(zip(*columns, strict=True))[:limit + 1]
