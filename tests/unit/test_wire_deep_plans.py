"""Plans too deep for upb (a DataFrame of a few dozen chained steps): the proxy finds the messages its rules read by
walking the wire format (``wire.find``), entering only the fields whose type can hold one (``wire.reaching``).

The oracle here is a plain walk of every message field, written apart from ``wire.find``; the rule that must still
apply at any depth is the file-path rule (a non-admin's read outside the lake's roots is refused)."""

from __future__ import annotations

import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from odoolake.config import WorkspacePaths
from odoolake.workspace.catalog.store import CatalogStore
from odoolake.workspace.db import Database
from odoolake.workspace.engine import wire
from odoolake.workspace.engine.access import PATH_OUTSIDE_LAKE, AccessRules
from odoolake.workspace.engine.identity import CallRefused, Principal
from odoolake.workspace.engine.protos import base_pb2, relations_pb2
from odoolake.workspace.engine.rewrite import Call, PlanRewriter
from odoolake.workspace.identity.roles import DEVELOPER, Roles

OWNER = "owner@localhost"
READ = relations_pb2.Read.DESCRIPTOR.full_name
DEPTH = 160  # Filters stacked on a read: past upb's limit of 100
Expression = type(relations_pb2.Filter().condition)


def _condition(depth: int) -> Expression:
    """``c = 0 OR (c = 1 OR (…))``: an expression tree as deep as the pipeline's CASE chains."""
    expr = Expression()
    expr.unresolved_attribute.unparsed_identifier = "c"
    for i in range(depth):
        outer = Expression()
        outer.unresolved_function.function_name = "or"
        equal = outer.unresolved_function.arguments.add().unresolved_function
        equal.function_name = "=="
        equal.arguments.add().unresolved_attribute.unparsed_identifier = "c"
        equal.arguments.add().literal.integer = i
        outer.unresolved_function.arguments.add().CopyFrom(expr)
        expr = outer
    return expr


def _deep_request(paths: list[str]) -> bytes:
    """Filters stacked on a union of path-based csv reads, serialized (upb cannot decode it back)."""
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
    condition = _condition(20)
    for _ in range(DEPTH):
        outer = relations_pb2.Relation()
        outer.filter.input.CopyFrom(relation)
        outer.filter.condition.CopyFrom(condition)
        relation = outer
    request = base_pb2.ExecutePlanRequest(session_id="session-1")
    request.plan.root.CopyFrom(relation)
    return request.SerializeToString()


def _every_message(buf: bytes, descriptor: Descriptor, start: int, end: int, out: list[tuple[str, int]]) -> None:
    """The oracle: every message field at any depth, entered whatever its type, as (type name, start of its tag)."""
    for field in wire.fields(buf, start, end):
        fd = descriptor.fields_by_number.get(field.number)
        if fd is None or fd.type != FieldDescriptor.TYPE_MESSAGE or field.wire_type != 2:
            continue
        out.append((fd.message_type.full_name, field.tag_start))
        _every_message(buf, fd.message_type, field.value_start, field.value_end, out)


def test_the_deep_walk_finds_every_read_the_full_walk_finds():
    buf = _deep_request(["/etc/passwd", "/etc/shadow", "/etc/hosts"])
    everything: list[tuple[str, int]] = []
    _every_message(buf, base_pb2.ExecutePlanRequest.DESCRIPTOR, 0, len(buf), everything)
    reads = sorted(start for name, start in everything if name == READ)
    assert len(reads) == 3
    found = wire.find(buf, base_pb2.ExecutePlanRequest.DESCRIPTOR, frozenset({READ}))
    assert sorted(hit.field.tag_start for hit in found) == reads
    for hit in found:  # each path leads from the outermost field to the read, as ``replace`` needs
        assert hit.path[-1] is hit.field and len(hit.path) > DEPTH
        assert relations_pb2.Read.FromString(buf[hit.field.value_start:hit.field.value_end]).data_source.format == "csv"


def test_the_deep_walk_does_not_enter_expressions():
    entered = wire.reaching(base_pb2.ExecutePlanRequest.DESCRIPTOR, frozenset({READ}))
    assert READ in entered and relations_pb2.Relation.DESCRIPTOR.full_name in entered
    assert relations_pb2.Filter.DESCRIPTOR.full_name in entered
    assert Expression.DESCRIPTOR.full_name not in entered
    assert Expression.DESCRIPTOR.nested_types_by_name["Literal"].full_name not in entered


@pytest.fixture
def rewriter(tmp_path) -> PlanRewriter:
    paths = WorkspacePaths.from_env(str(tmp_path)).ensure()
    roles = Roles(Database(paths.home / "workspace.db"), OWNER)
    return PlanRewriter(CatalogStore(paths, OWNER), None, AccessRules(paths, roles))  # type: ignore[arg-type]


def test_a_path_outside_the_lake_is_refused_however_deep_in_the_plan(rewriter, tmp_path):
    buf = _deep_request([str(tmp_path / "dbfs" / "raw.csv"), "/etc/shadow"])
    with pytest.raises(CallRefused) as refused:
        rewriter.prepare_deep(buf, base_pb2.ExecutePlanRequest, Call(Principal("dev@localhost", DEVELOPER), "s"))
    assert PATH_OUTSIDE_LAKE in str(refused.value) and "/etc/shadow" in str(refused.value)


def test_a_deep_plan_within_the_lake_is_passed_on_with_its_paths_mapped(rewriter):
    buf = _deep_request(["dbfs:/raw/a.csv", "dbfs:/raw/b.csv"])
    out, _ = rewriter.prepare_deep(buf, base_pb2.ExecutePlanRequest, Call(Principal("dev@localhost", DEVELOPER), "s"))
    found = wire.find(out, base_pb2.ExecutePlanRequest.DESCRIPTOR, frozenset({READ}))
    read_paths = sorted(relations_pb2.Read.FromString(out[h.field.value_start:h.field.value_end]).data_source.paths[0]
                        for h in found)
    assert [p.rsplit("/", 2)[-2:] for p in read_paths] == [["raw", "a.csv"], ["raw", "b.csv"]]
    assert all(p.startswith("/") for p in read_paths)  # dbfs:/ mapped to the local root
    everything: list[tuple[str, int]] = []  # the rewritten bytes still parse as a whole, at every depth
    _every_message(out, base_pb2.ExecutePlanRequest.DESCRIPTOR, 0, len(out), everything)
    assert sum(name == relations_pb2.Filter.DESCRIPTOR.full_name for name, _ in everything) == DEPTH
