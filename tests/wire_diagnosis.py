"""A diagnosis for Spark Connect answers a client cannot decode (see ``explain_undecodable_responses``)."""

from __future__ import annotations

import logging


def describe_undecodable(data: bytes) -> str:
    """Where an ExecutePlanResponse's wire format breaks: each top-level field up to there (which of them decode
    alone), the bytes around the break, and whether the message decodes without the proxy's appended session id."""
    from google.protobuf.message import DecodeError
    from pyspark.sql.connect.proto import base_pb2

    from odoolake.workspace.engine import wire

    descriptor = base_pb2.ExecutePlanResponse.DESCRIPTOR
    seen, broke_at, why, end = [], None, "", 0
    try:
        for field in wire.fields(data, 0, len(data)):
            end = field.value_end
            known = descriptor.fields_by_number.get(field.number)
            ok = "?"
            if known is not None and known.message_type is not None:
                try:
                    base_pb2.ExecutePlanResponse.FromString(data[field.tag_start:field.value_end])
                    ok = "ok"
                except DecodeError as exc:
                    ok = f"BAD ({exc})"
            seen.append(f"{field.number}:{known.name if known else '?'}@{field.tag_start}+"
                        f"{field.value_end - field.value_start} {ok}")
    except wire.WireError as exc:
        broke_at, why = end, str(exc)
    suffix_field = descriptor.fields_by_name["server_side_session_id"].number
    stripped = "n/a"
    for field in (list(wire.fields(data, 0, len(data))) if broke_at is None else []):
        if field.number == suffix_field and field.value_end == len(data):
            try:
                base_pb2.ExecutePlanResponse.FromString(data[:field.tag_start])
                stripped = "decodes"
            except DecodeError:
                stripped = "still undecodable"
    around = data[max(0, (broke_at or 0) - 16):(broke_at or 0) + 48].hex()
    return (f"{len(data)} bytes; top-level fields: {', '.join(seen) or 'none'}; wire walk: "
            f"{why or 'whole'}{f' in the field at offset {broke_at}' if broke_at is not None else ''}; without the appended "
            f"session id: {stripped}; bytes there: {around}; head: {data[:64].hex()}; tail: {data[-64:].hex()}")


def explain_undecodable_responses() -> None:
    """One full run failed with "Exception deserializing response!" ("Wire format was corrupt") on a table read, and
    gRPC keeps no trace of the bytes. Every Spark Connect client of the suite decodes its answers through this, which
    logs where such a message breaks (shown with the failing test) before gRPC fails the call as it did."""
    import types

    from google.protobuf.message import DecodeError
    from pyspark.sql.connect.proto import base_pb2, base_pb2_grpc

    real = base_pb2.ExecutePlanResponse

    def from_string(data: bytes) -> object:
        try:
            return real.FromString(data)
        except DecodeError:
            logging.getLogger("tests.wire").error("undecodable ExecutePlanResponse: %s", describe_undecodable(data))
            raise

    module = types.SimpleNamespace(**{name: getattr(base_pb2, name) for name in dir(base_pb2)
                                      if not name.startswith("__")})
    module.ExecutePlanResponse = types.SimpleNamespace(FromString=from_string, SerializeToString=real.SerializeToString,
                                                       DESCRIPTOR=real.DESCRIPTOR)
    base_pb2_grpc.spark_dot_connect_dot_base__pb2 = module  # the stubs read their (de)serializers from it when made

