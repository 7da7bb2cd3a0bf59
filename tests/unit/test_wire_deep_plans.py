"""Plans too deep for upb (a DataFrame of a few dozen chained steps): the proxy finds the messages its rules read by
walking the wire format (``wire.find``), entering only the fields whose type can hold one (``wire.reaching``).

The oracle here is a plain walk of every message field, written apart from ``wire.find``; the rule that must still
apply at any depth is the file-path rule (a non-admin's read outside the lake's roots is refused)."""

from __future__ import annotations

import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError

from odoolake.config import WorkspacePaths
from odoolake.testing.deep_plans import deep_request
from odoolake.workspace.catalog.store import CatalogStore
from odoolake.workspace.db import Database
from odoolake.workspace.engine import wire
from odoolake.workspace.engine.access import PATH_OUTSIDE_LAKE, AccessRules
from odoolake.workspace.engine.identity import CallRefused, Principal
from odoolake.workspace.engine.protos import base_pb2, commands_pb2, relations_pb2
from odoolake.workspace.engine.rewrite import _DEEP_TARGETS, MAX_DEEP_HITS, Call, PlanRewriter
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
    condition = _condition(20)
    return deep_request(paths, DEPTH, lambda _: condition)


def _plan_root(plan: bytes) -> tuple[wire.Field, wire.Field, bytes]:
    """A serialized request's ``plan`` field, the plan's root field, and the root relation's bytes."""
    fields = {f.number: f for f in wire.fields(plan, 0, len(plan))}
    plan_field = fields[base_pb2.ExecutePlanRequest.DESCRIPTOR.fields_by_name["plan"].number]
    plan_value = plan[plan_field.value_start:plan_field.value_end]
    root = next(wire.fields(plan_value, 0, len(plan_value)))
    return plan_field, root, plan_value[root.value_start:root.value_end]


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


def _holds(descriptor: Descriptor, targets: frozenset[str], seen: set[str]) -> bool:
    """Whether a message of ``descriptor`` can hold a target at some depth: a depth-first search of the schema."""
    if descriptor.full_name in targets:
        return True
    seen.add(descriptor.full_name)
    return any(_holds(fd.message_type, targets, seen) for fd in descriptor.fields
               if fd.message_type is not None and fd.message_type.full_name not in seen)


@pytest.mark.parametrize("root", [base_pb2.ExecutePlanRequest, base_pb2.AnalyzePlanRequest])
def test_reaching_is_every_message_type_that_can_hold_a_target(root):
    everything: dict[str, Descriptor] = {}
    todo = [root.DESCRIPTOR]
    while todo:
        descriptor = todo.pop()
        if descriptor.full_name not in everything:
            everything[descriptor.full_name] = descriptor
            todo.extend(fd.message_type for fd in descriptor.fields if fd.message_type is not None)
    expected = {name for name, d in everything.items() if _holds(d, _DEEP_TARGETS, set())}
    assert wire.reaching(root.DESCRIPTOR, _DEEP_TARGETS) == expected


def test_a_read_referenced_by_a_subquery_and_a_plan_analyzed_are_walked_too():
    """``WithRelations`` carries the relations a subquery expression names by id; AnalyzePlan has its own root."""
    request = base_pb2.AnalyzePlanRequest(session_id="s")
    with_relations = request.schema.plan.root.with_relations
    with_relations.root.filter.condition.CopyFrom(_condition(5))
    with_relations.root.filter.input.sql.query = "SELECT 1"
    with_relations.references.add().read.data_source.paths.append("/etc/hosts")
    buf = request.SerializeToString()
    everything: list[tuple[str, int]] = []
    _every_message(buf, base_pb2.AnalyzePlanRequest.DESCRIPTOR, 0, len(buf), everything)
    wanted = sorted(start for name, start in everything if name in _DEEP_TARGETS)
    assert len(wanted) == 2  # the SQL relation and the referenced read
    found = wire.find(buf, base_pb2.AnalyzePlanRequest.DESCRIPTOR, _DEEP_TARGETS)
    assert sorted(hit.field.tag_start for hit in found) == wanted


def test_the_deep_walk_does_not_enter_expressions():
    entered = wire.reaching(base_pb2.ExecutePlanRequest.DESCRIPTOR, frozenset({READ}))
    assert READ in entered and relations_pb2.Relation.DESCRIPTOR.full_name in entered
    assert relations_pb2.Filter.DESCRIPTOR.full_name in entered
    assert Expression.DESCRIPTOR.full_name not in entered
    assert Expression.DESCRIPTOR.nested_types_by_name["Literal"].full_name not in entered


@pytest.fixture
def rewriter(tmp_path) -> PlanRewriter:
    paths = WorkspacePaths.from_env(str(tmp_path)).ensure()
    raw = paths.dbfs_root / "raw"  # the files the plans read (a read of a missing path is refused)
    raw.mkdir()
    for name in ["a", "b", *map(str, range(MAX_DEEP_HITS + 1))]:
        (raw / f"{name}.csv").write_text("x\n1\n")
    for name in ("a", "b"):
        (paths.dbfs_root / f"{name}.csv").write_text("x\n1\n")
    roles = Roles(Database(paths.home / "workspace.db"), OWNER)
    return PlanRewriter(CatalogStore(paths, OWNER), _NoColumns(), AccessRules(paths, roles))  # type: ignore[arg-type]


class _NoColumns:
    """An engine that answers only a schema lookup, with no columns (a new table's input, ``_not_null_columns``)."""

    def schema(self, session_id: str, user_id: str, relation):
        return base_pb2.AnalyzePlanResponse.Schema(schema={"struct": {}}).schema


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


def _nested_expression(levels: int) -> bytes:
    """``NOT NOT … true``, ``levels`` functions deep, encoded by hand (upb will not encode past 100 levels)."""
    function = Expression.DESCRIPTOR.fields_by_name["unresolved_function"]
    name = function.message_type.fields_by_name["function_name"].number
    arguments = function.message_type.fields_by_name["arguments"].number
    literal = Expression()
    literal.literal.boolean = True
    encoded = literal.SerializeToString()
    for _ in range(levels):
        encoded = wire.length_delimited(function.number, wire.length_delimited(name, b"not")
                                        + wire.length_delimited(arguments, encoded))
    return encoded


def _with_condition(levels: int) -> bytes:
    """The deep request with one more Filter on top whose condition is ``levels`` functions deep."""
    plan = _deep_request(["dbfs:/raw/a.csv"])
    plan_field, root, relation = _plan_root(plan)
    filter_ = relations_pb2.Relation.DESCRIPTOR.fields_by_name["filter"].number
    top = wire.length_delimited(filter_, wire.length_delimited(1, relation) + wire.length_delimited(
        relations_pb2.Filter.DESCRIPTOR.fields_by_name["condition"].number, _nested_expression(levels)))
    return plan[:plan_field.tag_start] + wire.length_delimited(plan_field.number, wire.length_delimited(
        root.number, top)) + plan[plan_field.value_end:]


def test_an_expression_nested_past_the_limit_is_refused_though_the_walk_skips_expressions():
    """Sail's host dies on an expression 1,500 levels deep: the limit counts the levels the walk does not enter."""
    ok = _with_condition(500)  # two messages a function (Expression, UnresolvedFunction), under the top Filter's 4
    assert len(wire.find(ok, base_pb2.ExecutePlanRequest.DESCRIPTOR, frozenset({READ}))) == 1
    with pytest.raises(wire.WireError, match=f"nested more than {wire.MAX_DEPTH} levels deep"):
        wire.find(_with_condition(520), base_pb2.ExecutePlanRequest.DESCRIPTOR, frozenset({READ}))


def _deep_sql_command(text: str) -> bytes:
    """``spark.sql(text, args=[…])`` with an argument nested past upb's limit: the command itself is the deep part."""
    request = base_pb2.ExecutePlanRequest(session_id="s")
    request.plan.command.sql_command.sql = text
    request.plan.command.sql_command.pos_arguments.add().CopyFrom(_condition(120))
    return request.SerializeToString()


def test_a_sql_commands_text_is_checked_when_its_arguments_are_too_deep(rewriter):
    buf = _deep_sql_command("SELECT * FROM csv.`/etc/hostname` WHERE ?")
    with pytest.raises(DecodeError):
        base_pb2.ExecutePlanRequest.FromString(buf)  # the rewriter cannot decode it either: the wire walk runs
    with pytest.raises(CallRefused) as refused:
        rewriter.prepare_deep(buf, base_pb2.ExecutePlanRequest, Call(Principal("dev@localhost", DEVELOPER), "s"))
    assert PATH_OUTSIDE_LAKE in str(refused.value) and "/etc/hostname" in str(refused.value)


def test_a_deep_sql_commands_text_is_prepared_and_its_arguments_kept(rewriter, tmp_path):
    buf = _deep_sql_command("SELECT * FROM csv.`dbfs:/raw/a.csv` WHERE ?")
    out, _ = rewriter.prepare_deep(buf, base_pb2.ExecutePlanRequest, Call(Principal("dev@localhost", DEVELOPER), "s"))
    command = next(h for h in wire.find(out, base_pb2.ExecutePlanRequest.DESCRIPTOR,
                                        frozenset({commands_pb2.SqlCommand.DESCRIPTOR.full_name})))
    rest, text = wire.without(out, command.field.value_start, command.field.value_end, 1)
    assert str(tmp_path / "dbfs" / "raw" / "a.csv").encode() in text and b"dbfs:/" not in text
    assert rest == wire.without(buf, *_command_span(buf), 1)[0]  # the arguments, byte for byte


def _command_span(buf: bytes) -> tuple[int, int]:
    hit = wire.find(buf, base_pb2.ExecutePlanRequest.DESCRIPTOR,
                    frozenset({commands_pb2.SqlCommand.DESCRIPTOR.full_name}))[0]
    return hit.field.value_start, hit.field.value_end


def test_a_catalog_table_over_files_deep_in_a_plan_obeys_the_path_rule(rewriter):
    """``spark.catalog.createTable(name, path=…)`` returns a DataFrame: filtered often enough, it is deep."""
    relation = relations_pb2.Relation()
    relation.catalog.create_table.table_name = "default.etc"
    relation.catalog.create_table.path = "/etc"
    for _ in range(DEPTH):
        outer = relations_pb2.Relation()
        outer.filter.input.CopyFrom(relation)
        outer.filter.condition.CopyFrom(_condition(2))
        relation = outer
    request = base_pb2.ExecutePlanRequest(session_id="s")
    request.plan.root.CopyFrom(relation)
    with pytest.raises(CallRefused) as refused:
        rewriter.prepare_deep(request.SerializeToString(), base_pb2.ExecutePlanRequest,
                              Call(Principal("dev@localhost", DEVELOPER), "s"))
    assert PATH_OUTSIDE_LAKE in str(refused.value) and "'/etc'" in str(refused.value)


def test_a_read_only_principals_deep_plan_with_a_udf_is_refused(rewriter):
    """The code check looks inside expressions (where a UDF sits), also when the plan is too deep for upb."""
    from odoolake.workspace.engine.access import CODE_FROM_READ_ONLY
    from odoolake.workspace.identity.roles import READ_ONLY

    udf = Expression()
    udf.common_inline_user_defined_function.function_name = "peek"
    udf.common_inline_user_defined_function.python_udf.command = b"pickled code"
    relation = relations_pb2.Relation()
    relation.range.end = 1
    for level in range(DEPTH):
        outer = relations_pb2.Relation()
        outer.filter.input.CopyFrom(relation)
        outer.filter.condition.CopyFrom(udf if level == DEPTH // 2 else _condition(2))
        relation = outer
    request = base_pb2.ExecutePlanRequest(session_id="s")
    request.plan.root.CopyFrom(relation)
    buf = request.SerializeToString()
    with pytest.raises(CallRefused) as refused:
        rewriter.prepare_deep(buf, base_pb2.ExecutePlanRequest, Call(Principal("bi@localhost", READ_ONLY), "s"))
    assert CODE_FROM_READ_ONLY in str(refused.value)
    rewriter.prepare_deep(buf, base_pb2.ExecutePlanRequest, Call(Principal("dev@localhost", DEVELOPER), "s"))


def _deep_merge(target: str) -> bytes:
    """``df.mergeInto(target, …)`` whose source DataFrame is too deep for upb."""
    plan = _deep_request(["dbfs:/raw/a.csv"])
    source = wire.find(plan, base_pb2.ExecutePlanRequest.DESCRIPTOR,
                       frozenset({relations_pb2.Relation.DESCRIPTOR.full_name}))[0].field
    merge = commands_pb2.MergeIntoTableCommand.DESCRIPTOR.fields_by_name
    request = base_pb2.ExecutePlanRequest(session_id="s")
    request.plan.command.merge_into_table_command.target_table_name = target  # the source is spliced in below
    shallow = request.SerializeToString()
    hit = wire.find(shallow, base_pb2.ExecutePlanRequest.DESCRIPTOR,
                    frozenset({commands_pb2.MergeIntoTableCommand.DESCRIPTOR.full_name}))[0]
    command = shallow[hit.field.value_start:hit.field.value_end] + wire.length_delimited(
        merge["source_table_plan"].number, plan[source.value_start:source.value_end])
    return wire.replace(shallow, hit.path, command)  # every enclosing length recomputed


def test_a_deep_merge_writes_only_a_catalog_table_and_holds_its_lock(rewriter, tmp_path):
    from odoolake.workspace.catalog.store import FullName
    from odoolake.workspace.identity.roles import READ_ONLY

    info = rewriter.catalog.create_table(FullName("main", "default", "merged"), None,
                                         columns=[{"name": "id", "type_text": "bigint", "type_name": "LONG"}])
    developer = Call(Principal("dev@localhost", DEVELOPER), "s", current_schema="default")
    buf = _deep_merge("merged")
    with pytest.raises(DecodeError):
        base_pb2.ExecutePlanRequest.FromString(buf)
    out, prepared = rewriter.prepare_deep(buf, base_pb2.ExecutePlanRequest, developer)
    assert prepared.lock == info.storage_location  # held until Sail's answer ends, fenced on cancel
    hit = wire.find(out, base_pb2.ExecutePlanRequest.DESCRIPTOR,
                    frozenset({commands_pb2.MergeIntoTableCommand.DESCRIPTOR.full_name}))[0]
    _, target = wire.without(out, hit.field.value_start, hit.field.value_end, 1)
    assert target.endswith(b"main.default.merged")
    read = wire.find(out, base_pb2.ExecutePlanRequest.DESCRIPTOR, frozenset({READ}))[0].field
    assert str(tmp_path / "dbfs" / "raw" / "a.csv") in relations_pb2.Read.FromString(
        out[read.value_start:read.value_end]).data_source.paths[0]  # the source's rules applied too
    with pytest.raises(CallRefused, match="TABLE_OR_VIEW_NOT_FOUND"):
        rewriter.prepare_deep(_deep_merge(f"delta.`{tmp_path / 'elsewhere'}`"), base_pb2.ExecutePlanRequest, developer)
    with pytest.raises(CallRefused, match="READ_ONLY_PRINCIPAL"):
        rewriter.prepare_deep(buf, base_pb2.ExecutePlanRequest,
                              Call(Principal("reader@localhost", READ_ONLY), "s", current_schema="default"))


def test_an_expression_string_past_the_token_limit_is_refused_in_a_deep_plan(rewriter):
    """``filter("1 + 1 + …")`` on a plan too deep for upb: Sail parses the string as SQL, so its size is limited like
    a statement's (``MAX_SQL_TOKENS``), found by the wire walk."""
    from odoolake.workspace.engine.rewrite import MAX_SQL_TOKENS

    def with_string(terms: int) -> bytes:  # 2 * terms + 1 tokens: the terms, the pluses, ">" and "0"
        relation = relations_pb2.Relation()
        relation.read.data_source.format = "csv"
        relation.read.data_source.paths.append("dbfs:/raw/a.csv")
        for i in range(DEPTH):
            outer = relations_pb2.Relation()
            outer.filter.input.CopyFrom(relation)
            if i == DEPTH // 2:
                outer.filter.condition.expression_string.expression = " + ".join(["1"] * terms) + " > 0"
            else:
                outer.filter.condition.CopyFrom(_condition(2))
            relation = outer
        request = base_pb2.ExecutePlanRequest(session_id="s")
        request.plan.root.CopyFrom(relation)
        return request.SerializeToString()

    developer = Call(Principal("dev@localhost", DEVELOPER), "s")
    rewriter.prepare_deep(with_string(MAX_SQL_TOKENS // 2 - 1), base_pb2.ExecutePlanRequest, developer)  # at the limit
    with pytest.raises(CallRefused, match=f"ExpressionString text holds more than {MAX_SQL_TOKENS} tokens"):
        rewriter.prepare_deep(with_string(MAX_SQL_TOKENS // 2), base_pb2.ExecutePlanRequest, developer)


def test_type_strings_and_replace_where_past_the_token_limit_are_refused(rewriter, tmp_path):
    """Sail parses a cast's type string (``col.cast("array<…>")``) and a ``replaceWhere`` option too: the same limit
    applies to them, in a decoded request; other options are not SQL and are left alone."""
    from odoolake.workspace.engine.rewrite import MAX_SQL_TOKENS

    developer = Call(Principal("dev@localhost", DEVELOPER), "s")
    deep_type = "array<" * (MAX_SQL_TOKENS // 2) + "int" + ">" * (MAX_SQL_TOKENS // 2)
    cast = base_pb2.ExecutePlanRequest(session_id="s")
    project = cast.plan.root.project
    project.input.range.end = 1
    project.expressions.add().cast.type_str = deep_type
    project.expressions[0].cast.expr.literal.integer = 1
    with pytest.raises(CallRefused, match=f"The Cast text holds more than {MAX_SQL_TOKENS} tokens"):
        rewriter.prepare_execute(cast, developer)

    def write(options: dict[str, str]) -> base_pb2.ExecutePlanRequest:
        request = base_pb2.ExecutePlanRequest(session_id="s")
        operation = request.plan.command.write_operation
        operation.input.range.end = 1
        operation.source, operation.path = "delta", "dbfs:/tables/t"
        operation.mode = operation.SaveMode.SAVE_MODE_OVERWRITE
        operation.options.update(options)
        return request

    long_condition = " OR ".join(["id = 1"] * (MAX_SQL_TOKENS // 3))  # 4 tokens a term with its OR
    with pytest.raises(CallRefused, match=f"The WriteOperation text holds more than {MAX_SQL_TOKENS} tokens"):
        rewriter.prepare_execute(write({"replaceWhere": long_condition}), developer)
    rewriter.prepare_execute(write({"replaceWhere": "id = 1", "userMetadata": long_condition}), developer)


def test_a_deep_plan_naming_more_sources_than_the_limit_is_refused_by_name(rewriter):
    """Each source found in a deep plan costs a copy of the request: past ``MAX_DEEP_HITS`` the plan is refused before
    any of that work, naming the limit, and one source under it is still passed on."""
    call = Call(Principal("dev@localhost", DEVELOPER), "s")
    rewriter.prepare_deep(_deep_request([f"dbfs:/raw/{i}.csv" for i in range(MAX_DEEP_HITS)]),
                          base_pb2.ExecutePlanRequest, call)
    with pytest.raises(CallRefused) as refused:
        rewriter.prepare_deep(_deep_request([f"dbfs:/raw/{i}.csv" for i in range(MAX_DEEP_HITS + 1)]),
                              base_pb2.ExecutePlanRequest, call)
    assert refused.value.error_class == "PLAN_TOO_COMPLEX" and refused.value.code == "INVALID_ARGUMENT"
    assert f"names more than {MAX_DEEP_HITS} sources or statements" in refused.value.message


@pytest.mark.parametrize("grown", [0, 5, 300])  # the new path's length: some enclosing lengths need one more byte
def test_replace_gives_the_bytes_protobuf_itself_writes(grown):
    """The oracle is protobuf: the same change made on the decoded message, serialized again."""
    request = base_pb2.ExecutePlanRequest(session_id="s")
    union = request.plan.root.filter.input.set_op
    union.left_input.read.data_source.paths.append("dbfs:/a.csv")
    union.right_input.filter.input.read.data_source.paths.append("dbfs:/b.csv")
    union.right_input.filter.condition.CopyFrom(_condition(3))
    buf = request.SerializeToString()
    hits = sorted(wire.find(buf, base_pb2.ExecutePlanRequest.DESCRIPTOR, frozenset({READ})),
                  key=lambda hit: hit.field.tag_start)
    places = [wire.ordinals(buf, hit.path) for hit in hits]
    new_path = "x" * grown
    changed = relations_pb2.Read()
    changed.data_source.paths.append(new_path)
    out = wire.replace(buf, hits[1].path, changed.SerializeToString())
    union.right_input.filter.input.read.data_source.paths[0] = new_path
    assert out == request.SerializeToString()
    # the other read is found again by its place, though its offsets (or its parents' lengths) moved
    left = wire.locate(out, places[0])
    out = wire.replace(out, left, changed.SerializeToString())
    union.left_input.read.data_source.paths[0] = new_path
    assert out == request.SerializeToString()


def test_a_deep_write_whose_command_holds_more_than_the_write_is_refused(rewriter):
    """A command is one of its kinds; the deep path rewrites a write's command whole, so a command that also holds
    another kind (here a SQL command reading outside the lake) is refused rather than half read."""
    _, _, deep_input = _plan_root(_deep_request(["dbfs:/raw/a.csv"]))
    command = commands_pb2.Command.DESCRIPTOR.fields_by_name
    write = commands_pb2.WriteOperation.DESCRIPTOR.fields_by_name
    shallow_write = commands_pb2.WriteOperation(source="delta", table=commands_pb2.WriteOperation.SaveTable(
        table_name="default.t")).SerializeToString()
    sql = commands_pb2.SqlCommand()
    sql.input.read.data_source.paths.append("/etc/shadow")
    both = (wire.length_delimited(command["sql_command"].number, sql.SerializeToString())
            + wire.length_delimited(command["write_operation"].number,
                                    shallow_write + wire.length_delimited(write["input"].number, deep_input)))
    request = base_pb2.ExecutePlanRequest(session_id="s").SerializeToString() + wire.length_delimited(
        base_pb2.ExecutePlanRequest.DESCRIPTOR.fields_by_name["plan"].number,
        wire.length_delimited(base_pb2.Plan.DESCRIPTOR.fields_by_name["command"].number, both))
    with pytest.raises(CallRefused) as refused:
        rewriter.prepare_deep(request, base_pb2.ExecutePlanRequest,
                              Call(Principal("dev@localhost", DEVELOPER), "s", current_schema="default"))
    assert refused.value.error_class == "INVALID_PLAN_INPUT" and "holds more than the write" in refused.value.message
