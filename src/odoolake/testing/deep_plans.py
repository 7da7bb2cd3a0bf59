"""Spark Connect requests too deep for upb, for the tests and benchmarks of the proxy's deep-plan rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def deep_request(paths: list[str], filters: int, condition: Callable[[int], Any], session_id: str = "session-1") -> bytes:
    """An ExecutePlanRequest, serialized (upb cannot decode it back): a union of path-based csv reads under
    ``filters`` stacked filters, the filter at level ``i`` holding ``condition(i)`` (an Expression)."""
    from odoolake.workspace.engine.protos import base_pb2, relations_pb2

    def read(path: str) -> relations_pb2.Relation:
        relation = relations_pb2.Relation()
        relation.read.data_source.format = "csv"
        relation.read.data_source.paths.append(path)
        return relation

    relation = read(paths[0])
    for path in paths[1:]:
        union = relations_pb2.Relation()
        union.set_op.set_op_type = relations_pb2.SetOperation.SetOpType.SET_OP_TYPE_UNION
        union.set_op.left_input.CopyFrom(relation)
        union.set_op.right_input.CopyFrom(read(path))
        relation = union
    for level in range(filters):
        outer = relations_pb2.Relation()
        outer.filter.input.CopyFrom(relation)
        outer.filter.condition.CopyFrom(condition(level))
        relation = outer
    request = base_pb2.ExecutePlanRequest(session_id=session_id)
    request.plan.root.CopyFrom(relation)
    return request.SerializeToString()
