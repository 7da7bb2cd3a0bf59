"""A table write through the engine's proxy (``PlanRewriter._write``/``_write_v2``): where the table lives comes from
the registry; its Delta log is read only for the table's schema, which Delta's write rules need (``delta_writes``),
and only once until the table's next commit (every write of a month-end would read it again otherwise)."""

from __future__ import annotations

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from odoolake.config import WorkspacePaths
from odoolake.workspace.catalog import columns
from odoolake.workspace.catalog.store import CatalogStore, FullName
from odoolake.workspace.db import Database
from odoolake.workspace.engine.access import AccessRules
from odoolake.workspace.engine.identity import CallRefused, Principal
from odoolake.workspace.engine.protos import base_pb2, commands_pb2
from odoolake.workspace.engine.rewrite import Call, PlanRewriter
from odoolake.workspace.identity.roles import ADMIN, Roles

OWNER = "owner@localhost"
WriteOp = commands_pb2.WriteOperation
WriteV2 = commands_pb2.WriteOperationV2


class _SchemaOnly:
    """An engine that answers only the schema of a write's input (period string, amount double), and counts."""

    def __init__(self) -> None:
        self.asked = 0

    def schema(self, session_id: str, user_id: str, relation):
        self.asked += 1
        return base_pb2.AnalyzePlanResponse.Schema(schema={"struct": {"fields": [
            {"name": "period", "data_type": {"string": {}}, "nullable": True},
            {"name": "amount", "data_type": {"double": {}}, "nullable": True}]}}).schema

    def __getattr__(self, name: str):
        raise AssertionError(f"the rewriter called the engine ({name}) for a write that needs only its schema")


def _rewriter(tmp_path) -> tuple[PlanRewriter, CatalogStore]:
    paths = WorkspacePaths.from_env(str(tmp_path)).ensure()
    store = CatalogStore(paths, OWNER)
    store.create_schema("main", "silver")
    location = store.managed_location("silver", "moves")
    write_deltalake(str(location), pa.table({"period": ["2026-11"], "amount": [1.5]}), partition_by=["period"])
    store.create_table(FullName("main", "silver", "moves"), None)
    write_deltalake(str(location), pa.table({"period": ["2026-12"], "amount": [2.5]}), mode="append")  # log changed
    roles = Roles(Database(paths.home / "workspace.db"), OWNER)
    return PlanRewriter(store, _SchemaOnly(), AccessRules(paths, roles)), store  # type: ignore[arg-type]


@pytest.fixture
def rewriter(tmp_path, monkeypatch) -> tuple[PlanRewriter, CatalogStore]:
    """A rewriter whose catalog counts the Delta log reads (``log_reads``)."""
    made = _rewriter(tmp_path)
    load = columns._load
    reads: list[str] = []

    def counted(location: str):
        reads.append(location)
        return load(location)

    monkeypatch.setattr(columns, "_load", counted)
    made[0].log_reads = reads  # type: ignore[attr-defined]
    return made


def _call() -> Call:
    return Call(Principal(OWNER, ADMIN), "session-1")


def _save(table: str, mode: int) -> base_pb2.Plan:
    plan = base_pb2.Plan()
    write = plan.command.write_operation
    write.source = "delta"
    write.mode = mode
    write.table.table_name = table
    write.table.save_method = WriteOp.SaveTable.TableSaveMethod.TABLE_SAVE_METHOD_SAVE_AS_TABLE
    write.options["replaceWhere"] = "period = '2026-12'"
    write.input.sql.query = "SELECT '2026-12' AS period, 3.5 AS amount"
    return plan


def test_an_overwrite_of_an_existing_table_writes_to_its_location_reading_its_log_once(rewriter):
    rewriter_, store = rewriter
    location = str(store.managed_location("silver", "moves"))
    for _ in range(2):
        request = base_pb2.ExecutePlanRequest(session_id="session-1", plan=_save("silver.moves",
                                                                                 WriteOp.SaveMode.SAVE_MODE_OVERWRITE))
        prepared = rewriter_.prepare_execute(request, _call())
        assert request.plan.command.write_operation.path == location
        assert prepared.lock == location
        assert prepared.after_success is None  # already registered: nothing to record after the write
        # the replaceWhere check wraps the input: the first column is replaced by its guarded value
        assert request.plan.command.write_operation.input.with_columns.aliases[0].name == ["period"]
    assert rewriter_.log_reads == [location]  # type: ignore[attr-defined]
    assert rewriter_.upstream.asked == 2  # type: ignore[attr-defined]


def test_an_existing_table_is_still_refused_where_the_mode_says_so(rewriter):
    rewriter_, _ = rewriter
    request = base_pb2.ExecutePlanRequest(session_id="session-1", plan=_save("silver.moves",
                                                                             WriteOp.SaveMode.SAVE_MODE_ERROR_IF_EXISTS))
    with pytest.raises(CallRefused) as refused:
        rewriter_.prepare_execute(request, _call())
    assert refused.value.error_class == "TABLE_OR_VIEW_ALREADY_EXISTS"


def test_a_new_table_goes_to_its_managed_location_and_is_recorded_after_the_write(rewriter):
    rewriter_, store = rewriter
    request = base_pb2.ExecutePlanRequest(session_id="session-1", plan=_save("silver.lines",
                                                                             WriteOp.SaveMode.SAVE_MODE_OVERWRITE))
    prepared = rewriter_.prepare_execute(request, _call())
    assert request.plan.command.write_operation.path == str(store.managed_location("silver", "lines"))
    assert prepared.after_success is not None


def test_write_to_overwrite_and_replace_use_the_tables_location(rewriter):
    rewriter_, store = rewriter
    location = str(store.managed_location("silver", "moves"))
    for mode in (WriteV2.Mode.MODE_OVERWRITE, WriteV2.Mode.MODE_REPLACE):
        plan = base_pb2.Plan()
        v2 = plan.command.write_operation_v2
        v2.table_name = "silver.moves"
        v2.mode = mode
        v2.input.sql.query = "SELECT '2026-12' AS period, 3.5 AS amount"
        if mode == WriteV2.Mode.MODE_OVERWRITE:  # as PySpark's overwrite(condition) sends it
            v2.overwrite_condition.expression_string.expression = "period = '2026-12'"
        request = base_pb2.ExecutePlanRequest(session_id="session-1", plan=plan)
        prepared = rewriter_.prepare_execute(request, _call())
        assert request.plan.command.write_operation.path == location and prepared.lock == location
    missing = base_pb2.Plan()
    missing.command.write_operation_v2.table_name = "silver.nope"
    missing.command.write_operation_v2.mode = WriteV2.Mode.MODE_OVERWRITE
    with pytest.raises(CallRefused) as refused:
        rewriter_.prepare_execute(base_pb2.ExecutePlanRequest(session_id="session-1", plan=missing), _call())
    assert refused.value.error_class == "TABLE_OR_VIEW_NOT_FOUND"


def test_location_answers_from_the_registry_alone(rewriter):
    _, store = rewriter
    assert store.location(FullName("main", "silver", "moves")) == str(store.managed_location("silver", "moves"))
    assert store.location(FullName("main", "silver", "nope")) is None
    assert store.location(FullName("main", "gold", "moves")) is None


# -- the system schema is read-only, whichever way a write names it ---------------------------------------------------

def _v2(table: str, mode: int) -> base_pb2.Plan:
    plan = base_pb2.Plan()
    plan.command.write_operation_v2.table_name = table
    plan.command.write_operation_v2.mode = mode
    plan.command.write_operation_v2.input.sql.query = "SELECT 1 AS x"
    return plan


def _refused_as_read_only(rewriter_: PlanRewriter, plan: base_pb2.Plan) -> CallRefused:
    with pytest.raises(CallRefused) as refused:
        rewriter_.prepare_execute(base_pb2.ExecutePlanRequest(session_id="session-1", plan=plan), _call())
    assert refused.value.error_class == "INVALID_PARAMETER_VALUE"
    assert "information_schema' is read-only" in refused.value.message
    return refused.value


def test_dataframe_writes_into_information_schema_are_refused(rewriter):
    rewriter_, _ = rewriter
    refused = _refused_as_read_only(rewriter_, _save("information_schema.tables", WriteOp.SaveMode.SAVE_MODE_OVERWRITE))
    assert "main.information_schema.tables cannot be written" in refused.message
    _refused_as_read_only(rewriter_, _save("main.information_schema.columns", WriteOp.SaveMode.SAVE_MODE_APPEND))
    _refused_as_read_only(rewriter_, _v2("information_schema.schemata", WriteV2.Mode.MODE_APPEND))
    _refused_as_read_only(rewriter_, _v2("information_schema.new_one", WriteV2.Mode.MODE_CREATE))


@pytest.mark.parametrize("sql", [
    "INSERT INTO information_schema.tables SELECT * FROM information_schema.tables",
    "INSERT INTO main.information_schema.columns (table_name) VALUES ('x')",
    "INSERT OVERWRITE information_schema.catalogs SELECT * FROM information_schema.catalogs",
    "DELETE FROM information_schema.tables",
    "UPDATE information_schema.tables SET comment = 'x'",
    "TRUNCATE TABLE information_schema.schemata",
    "DROP TABLE information_schema.tables",
    "DROP TABLE IF EXISTS main.information_schema.columns",
    "ALTER TABLE information_schema.tables RENAME TO silver.mine",
    "ALTER TABLE silver.moves RENAME TO information_schema.moves",
    "ALTER TABLE information_schema.tables ADD COLUMNS (x INT)",
    "ALTER TABLE information_schema.tables SET TBLPROPERTIES ('a' = 'b')",
    "OPTIMIZE information_schema.tables",
    "VACUUM information_schema.tables RETAIN 168 HOURS",
    "RESTORE TABLE information_schema.tables TO VERSION AS OF 0",
])
def test_sql_writes_into_information_schema_are_refused(tmp_path, sql):
    rewriter_, _ = _rewriter(tmp_path)
    with pytest.raises(CallRefused) as refused:
        rewriter_.prepare_sql(sql, _call(), eager=True)
    assert refused.value.error_class == "INVALID_PARAMETER_VALUE"
    assert "information_schema' is read-only" in refused.value.message


def test_reading_information_schema_into_another_table_is_a_write_of_that_table_only(tmp_path):
    rewriter_, _ = _rewriter(tmp_path)
    sql = "INSERT INTO silver.moves SELECT table_name, 1.0 FROM information_schema.tables"
    assert "silver.moves" in rewriter_.prepare_sql(sql, _call(), eager=False)  # eager: run beside, needs an engine


class _CurrentSchema:
    """An engine that only answers which schema the session is in, and counts the questions."""

    def __init__(self, schema: str) -> None:
        self.schema, self.asked = schema, 0

    def current_schema(self, session_id: str, user_id: str) -> str:
        self.asked += 1
        return self.schema


@pytest.mark.parametrize("schema", ["information_schema", "INFORMATION_SCHEMA", "Information_Schema"])
@pytest.mark.parametrize("sql", ["INSERT INTO tables SELECT * FROM tables", "DELETE FROM columns",
                                 "DROP TABLE catalogs", "OPTIMIZE schemata"])
def test_a_one_part_target_in_the_system_schema_is_refused(tmp_path, sql, schema):
    """After ``USE INFORMATION_SCHEMA`` Sail keeps the case as typed, while the catalog lower-cases names."""
    rewriter_, _ = _rewriter(tmp_path)
    rewriter_.upstream = _CurrentSchema(schema)  # type: ignore[assignment]
    with pytest.raises(CallRefused) as refused:
        rewriter_.prepare_sql(sql, _call(), eager=True)
    assert refused.value.error_class == "INVALID_PARAMETER_VALUE"
    assert "main.information_schema" in refused.value.message and "cannot be written" in refused.value.message


def test_a_statement_asks_the_engine_for_the_current_schema_once(tmp_path):
    rewriter_, store = _rewriter(tmp_path)
    engine = _CurrentSchema("silver")
    rewriter_.upstream = engine  # type: ignore[assignment]
    rewriter_.prepare_sql("ALTER TABLE moves RENAME TO moved", _call(), eager=True)
    assert engine.asked == 1 and store.location(FullName("main", "silver", "moved")) is not None


def test_the_catalog_neither_drops_nor_renames_into_or_out_of_the_system_schema(tmp_path):
    from odoolake.workspace.errors import InvalidParameterValue

    _, store = _rewriter(tmp_path)
    moves, system = FullName("main", "silver", "moves"), FullName("main", "information_schema", "tables")
    for attempt in (lambda: store.delete_table(system), lambda: store.rename_table(system, FullName("main", "silver", "t")),
                    lambda: store.rename_table(moves, FullName("main", "information_schema", "moves")),
                    lambda: store.rename_table(moves, FullName("main", "INFORMATION_SCHEMA", "moves"))):
        with pytest.raises(InvalidParameterValue, match="information_schema' is read-only"):
            attempt()
    assert store.location(moves) == str(store.managed_location("silver", "moves"))  # still there, unmoved
    assert [t.name.table for t in store.tables("main", "silver")] == ["moves"]


def test_a_location_belongs_to_one_table(tmp_path):
    """An external table at another name's managed location: a new table of that name would overwrite its files,
    and as a managed table delete them when dropped."""
    from odoolake.workspace.errors import InvalidParameterValue

    rewriter_, store = _rewriter(tmp_path)
    taken = store.managed_location("silver", "lines")
    write_deltalake(str(taken), pa.table({"period": ["2026-11"], "amount": [9.5]}))
    store.create_table(FullName("main", "silver", "external_lines"), str(taken))
    for attempt in (lambda: store.create_table(FullName("main", "silver", "lines"), None),
                    lambda: store.create_table(FullName("main", "silver", "again"), str(taken))):
        with pytest.raises(InvalidParameterValue, match=r"\[LOCATION_OVERLAP\].*main.silver.external_lines"):
            attempt()
    for plan in (_save("silver.lines", WriteOp.SaveMode.SAVE_MODE_OVERWRITE),
                 _v2("silver.lines", WriteV2.Mode.MODE_CREATE)):
        with pytest.raises(CallRefused, match="LOCATION_OVERLAP"):
            rewriter_.prepare_execute(base_pb2.ExecutePlanRequest(session_id="session-1", plan=plan), _call())
    with pytest.raises(CallRefused, match="LOCATION_OVERLAP"):
        rewriter_.prepare_sql("CREATE TABLE silver.lines (period STRING, amount DOUBLE)", _call(), eager=True)
    assert store.location(FullName("main", "silver", "lines")) is None
    assert store.table(FullName("main", "silver", "external_lines")).delta_version == 0


def test_spark_ml_commands_and_relations_are_refused_by_name(rewriter):
    rewriter_, _ = rewriter
    command, relation = base_pb2.Plan(), base_pb2.Plan()
    command.command.ml_command.clean_cache.SetInParent()
    relation.root.ml_relation.SetInParent()
    for plan in (command, relation):
        with pytest.raises(CallRefused) as refused:
            rewriter_.prepare_execute(base_pb2.ExecutePlanRequest(session_id="session-1", plan=plan), _call())
        assert refused.value.error_class == "UNSUPPORTED_FEATURE"
        assert "Spark ML's estimators and models (pyspark.ml) are not supported" in refused.value.message
