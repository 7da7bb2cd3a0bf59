"""A bronze ingest stopped after its append commits (a cancelled or killed month-end) is finished by the next one.

The append is bronze's commit; the check that no file repeats a record version and the quarantine of rejected lines
come after it. A file in bronze is not ingested again, so without ``bronze.ingest_log`` a run stopped between the two
left its files unchecked for good: a repeated version stayed in bronze and a rejected line never reached the
quarantine. Both paths (PySpark, and the native one the owner's session can take) are run."""

from __future__ import annotations

import types

import pytest

from odoolake.bir import reasons
from odoolake.cli.common import dbfs_lister
from odoolake.config import WorkspacePaths
from odoolake.errors import RawDataError
from odoolake.pipeline import bronze, io, native
from odoolake.pipeline.schemas import RAW_BY_NAME
from odoolake.workspace.engine import LocalEngine

RAW = "dbfs:/raw/odoo"
LINES = RAW_BY_NAME["account_move_line"]
PARTNERS = RAW_BY_NAME["res_partner"]


def _line(record_id: int, balance: float) -> str:
    return (f'{{"id": {record_id}, "move_id": [1, "X"], "balance": {balance}, '
            f'"write_date": "2099-01-01 00:00:00"}}\n')


GOOD = _line(1, 1.0) + _line(2, 2.0)
NOT_JSON = '{"id": 3, "move_id": [1, "X"], "balance": \n'  # a truncated line: rejected, quarantined
REPEATED = _line(1, 1.0)  # record 1's version again in the same file: the file is refused


class Stopped(Exception):
    """Stands for the run being cancelled or killed at that point."""


@pytest.fixture(params=["pyspark", "native"])
def lake(request, tmp_path, monkeypatch):
    monkeypatch.setenv(native.NATIVE_ENV, "on" if request.param == "native" else "off")
    paths = WorkspacePaths.from_env(tmp_path)
    folder = paths.dbfs_to_local(RAW) / LINES.name
    folder.mkdir(parents=True)
    with LocalEngine(paths) as engine:
        spark = engine.session()
        assert (native.enabled(spark) is not None) == (request.param == "native")
        yield paths, folder, spark


def _ingest(paths, spark, models=(LINES,)) -> bronze.BronzeResult:
    return bronze.ingest(spark, RAW, dbfs_lister(paths), models=list(models))


def _stopped_after_the_append(paths, spark, monkeypatch) -> None:
    def stop(*_args, **_kwargs):
        raise Stopped
    with monkeypatch.context() as m:
        m.setattr(bronze, "_check_new_rows", stop)
        with pytest.raises(Stopped):
            _ingest(paths, spark)


def _stopped_at_append(paths, spark, monkeypatch, table: str, nth: int = 1, models=(LINES,)) -> None:
    """An ingest stopped as it makes its ``nth`` append to ``table``."""
    append = io.append
    calls = 0

    def stopping(rows, name):
        nonlocal calls
        if name == table:
            calls += 1
            if calls == nth:
                raise Stopped
        return append(rows, name)
    with monkeypatch.context() as m:
        m.setattr(io, "append", stopping)
        with pytest.raises(Stopped):
            _ingest(paths, spark, models)


def _a_partners_file_and_a_lines_file(paths, folder) -> None:
    partners = paths.dbfs_to_local(RAW) / PARTNERS.name
    partners.mkdir()
    (partners / "odoo-209901.jsonl").write_text('{"id": 1, "name": "A", "write_date": "2099-01-01 00:00:00"}\n')
    (folder / "odoo-209901.jsonl").write_text(GOOD)


def _quarantined(spark, source: str) -> list[tuple[int | None, str]]:
    return sorted(((r["record_id"], r["reason"]) for r in spark.table(io.QUARANTINE).where("stage = 'ingest'")
                   .collect() if r["_source_file"].endswith(f"/{source}")), key=str)


def _in_bronze(spark) -> list[str]:
    return sorted(r[0].rsplit("/", 1)[-1] for r in spark.table(LINES.bronze_table).select("_source_file").collect())


def _finished(spark) -> set[str]:
    return {f.rsplit("/", 1)[-1] for f in bronze.finished_files(spark)}


def test_a_file_left_unchecked_is_checked_and_quarantined_by_the_next_ingest(lake, monkeypatch):
    paths, folder, spark = lake
    (folder / "odoo-209901.jsonl").write_text(GOOD + NOT_JSON)
    _stopped_after_the_append(paths, spark, monkeypatch)
    assert spark.table(LINES.bronze_table).count() == 3, "the append committed"
    assert not any(f.endswith("odoo-209901.jsonl") for f in bronze.finished_files(spark))

    result = _ingest(paths, spark)
    assert result.new_batches == ["odoo-209901"]
    assert (result.rows[LINES.name], result.rejected[LINES.name], result.skipped_files) == (2, 1, 0)
    assert spark.table(LINES.bronze_table).count() == 3, "finished in place, not appended again"
    assert _quarantined(spark, "odoo-209901.jsonl") == [(None, reasons.MALFORMED_JSON.code)]
    assert any(f.endswith("odoo-209901.jsonl") for f in bronze.finished_files(spark))

    again = _ingest(paths, spark)
    assert (again.new_batches, again.skipped_files) == ([], 1)
    assert spark.table(LINES.bronze_table).count() == 3
    assert _quarantined(spark, "odoo-209901.jsonl") == [(None, reasons.MALFORMED_JSON.code)]


def test_a_file_left_unchecked_that_repeats_a_record_version_is_refused_by_the_next_ingest(lake, monkeypatch):
    paths, folder, spark = lake
    (folder / "odoo-209901.jsonl").write_text(GOOD)
    _ingest(paths, spark)
    (folder / "odoo-209902.jsonl").write_text(GOOD + REPEATED)
    _stopped_after_the_append(paths, spark, monkeypatch)
    assert spark.table(LINES.bronze_table).count() == 5

    with pytest.raises(RawDataError, match=r"odoo-209902\.jsonl: holds record id 1 twice with the same "
                                           r"write_date 2099-01-01 00:00:00"):
        _ingest(paths, spark)
    assert {r[0].rsplit("/", 1)[-1] for r in spark.table(LINES.bronze_table).select("_source_file").collect()} \
        == {"odoo-209901.jsonl"}, "the refused file's rows are taken back out; the earlier file's stay"
    assert {f.rsplit("/", 1)[-1] for f in bronze.finished_files(spark)} == {"odoo-209901.jsonl"}


def test_a_run_stopped_after_the_quarantine_but_before_the_log_quarantines_nothing_twice(lake, monkeypatch):
    paths, folder, spark = lake
    (folder / "odoo-209901.jsonl").write_text(GOOD + NOT_JSON)
    _stopped_at_append(paths, spark, monkeypatch, io.BRONZE_LOG)
    assert _quarantined(spark, "odoo-209901.jsonl") == [(None, reasons.MALFORMED_JSON.code)]

    _ingest(paths, spark)
    assert _quarantined(spark, "odoo-209901.jsonl") == [(None, reasons.MALFORMED_JSON.code)]
    assert spark.table(LINES.bronze_table).count() == 3


def test_a_lake_ingested_before_the_log_existed_counts_its_files_as_finished(lake, monkeypatch):
    """A lake an earlier version made has bronze tables and no log: its files are not checked again (at 30M lines
    that would be an aggregate over every line), and the log is made before anything new is appended."""
    paths, folder, spark = lake
    (folder / "odoo-209901.jsonl").write_text(GOOD)
    _ingest(paths, spark)
    spark.sql(f"DROP TABLE {io.BRONZE_LOG}")
    (folder / "odoo-209902.jsonl").write_text(_line(5, 5.0))
    checked: list[list[str]] = []
    check = bronze._check_new_rows

    def recording(spark_, model, files):
        checked.append([f.rsplit("/", 1)[-1] for f in files])
        return check(spark_, model, files)
    monkeypatch.setattr(bronze, "_check_new_rows", recording)
    result = _ingest(paths, spark)
    assert checked == [["odoo-209902.jsonl"]]
    assert (result.new_batches, result.skipped_files) == (["odoo-209902"], 1)
    assert {f.rsplit("/", 1)[-1] for f in bronze.finished_files(spark)} == {"odoo-209901.jsonl", "odoo-209902.jsonl"}


def test_an_unfinished_file_and_new_ones_are_counted_together_and_checked_apart(lake, monkeypatch):
    """The unfinished file is checked on its own, before the new ones are appended; a new file's refusal takes only
    that file back out of bronze, and the others are finished (the unfinished one's raw copy may be gone)."""
    paths, folder, spark = lake
    (folder / "odoo-209901.jsonl").write_text(GOOD + NOT_JSON)
    _stopped_after_the_append(paths, spark, monkeypatch)
    (folder / "odoo-209901.jsonl").unlink()  # moved away after the stop
    (folder / "odoo-209902.jsonl").write_text(_line(7, 7.0) + REPEATED + NOT_JSON)
    (folder / "odoo-209903.jsonl").write_text(_line(8, 8.0) + _line(8, 8.0))
    with pytest.raises(RawDataError, match=r"odoo-209903\.jsonl: holds record id 8 twice") as refused:
        _ingest(paths, spark)
    assert "refused too" not in str(refused.value)
    assert _in_bronze(spark) == ["odoo-209901.jsonl"] * 3 + ["odoo-209902.jsonl"] * 3
    assert _finished(spark) == {"odoo-209901.jsonl", "odoo-209902.jsonl"}
    assert _quarantined(spark, "odoo-209901.jsonl") == [(None, reasons.MALFORMED_JSON.code)]
    assert _quarantined(spark, "odoo-209902.jsonl") == [(None, reasons.MALFORMED_JSON.code)]

    (folder / "odoo-209903.jsonl").write_text(_line(8, 8.0))
    result = _ingest(paths, spark)
    assert (result.new_batches, result.skipped_files) == (["odoo-209903"], 1)
    assert (result.rows[LINES.name], result.rejected[LINES.name]) == (1, 0)

    (folder / "odoo-209904.jsonl").write_text(_line(9, 9.0) + _line(12, 12.0) + NOT_JSON)
    _stopped_after_the_append(paths, spark, monkeypatch)
    (folder / "odoo-209905.jsonl").write_text(_line(10, 10.0) + _line(11, 11.0) + NOT_JSON)
    result = _ingest(paths, spark)
    assert (result.new_batches, result.skipped_files) == (["odoo-209904", "odoo-209905"], 2)
    assert (result.rows[LINES.name], result.rejected[LINES.name]) == (4, 2), "the unfinished file's rows count too"
    assert spark.table(LINES.bronze_table).count() == 3 + 3 + 1 + 3 + 3


def test_a_bronze_table_dropped_and_ingested_again_is_unfinished_until_checked_again(lake, monkeypatch):
    """The log still lists the files whose rows the drop took away; once they are appended again they must count
    as unfinished, or a stop before their check left them unchecked for good."""
    paths, folder, spark = lake
    (folder / "odoo-209901.jsonl").write_text(GOOD + NOT_JSON)
    _ingest(paths, spark)
    io.drop_tables(spark, [io.QUARANTINE])
    spark.sql(f"DROP TABLE {LINES.bronze_table}")
    _stopped_after_the_append(paths, spark, monkeypatch)
    assert not any(f.endswith("odoo-209901.jsonl") for f in bronze.finished_files(spark))

    result = _ingest(paths, spark)
    assert result.new_batches == ["odoo-209901"]
    assert _quarantined(spark, "odoo-209901.jsonl") == [(None, reasons.MALFORMED_JSON.code)]
    assert spark.table(io.BRONZE_LOG).where("source_file LIKE '%odoo-209901.jsonl'").count() == 1


@pytest.mark.parametrize("lake", ["pyspark"], indirect=True)  # the native path streams every file in one commit
def test_a_first_load_appended_in_groups_of_files_and_stopped_between_two_is_finished_by_the_next(lake, monkeypatch):
    paths, folder, spark = lake
    for month in (1, 2, 3):
        (folder / f"odoo-20990{month}.jsonl").write_text(_line(10 * month, 1.0) + _line(10 * month + 1, 2.0) + NOT_JSON)
    one_file = (folder / "odoo-209901.jsonl").stat().st_size
    assert bronze.local_bytes(spark, [f"{RAW}/{LINES.name}/odoo-209901.jsonl"]) == [one_file]
    monkeypatch.setattr(bronze, "APPEND_BYTES_PER_GROUP", 2 * one_file)  # two files, then the third
    _stopped_at_append(paths, spark, monkeypatch, LINES.bronze_table, nth=2)
    assert sorted({r[0].rsplit("/", 1)[-1] for r in spark.table(LINES.bronze_table).select("_source_file").collect()}) \
        == ["odoo-209901.jsonl", "odoo-209902.jsonl"], "the first group committed on its own"

    result = _ingest(paths, spark)
    assert result.new_batches == ["odoo-209901", "odoo-209902", "odoo-209903"]
    assert (result.rows[LINES.name], result.rejected[LINES.name]) == (6, 3)
    assert spark.table(LINES.bronze_table).count() == 9
    assert {f.rsplit("/", 1)[-1] for f in bronze.finished_files(spark)} == {f"odoo-20990{m}.jsonl" for m in (1, 2, 3)}
    for month in (1, 2, 3):
        assert _quarantined(spark, f"odoo-20990{month}.jsonl") == [(None, reasons.MALFORMED_JSON.code)]


@pytest.mark.parametrize("lake", ["pyspark"], indirect=True)
def test_files_are_appended_in_groups_above_the_group_size_and_in_one_commit_below_it(lake, monkeypatch):
    paths, folder, spark = lake
    for month in (1, 2, 3, 4):
        (folder / f"odoo-20990{month}.jsonl").write_text(_line(month, 1.0))
    with monkeypatch.context() as m:
        m.setattr(bronze, "APPEND_BYTES_PER_GROUP", 3 * (folder / "odoo-209901.jsonl").stat().st_size)
        _ingest(paths, spark)
    for month in (5, 6):
        (folder / f"odoo-20990{month}.jsonl").write_text(_line(month, 1.0))
    _ingest(paths, spark)
    rows_by_commit = [int((r["operationMetrics"] or {}).get("numOutputRows") or 0)
                      for r in spark.sql(f"DESCRIBE HISTORY {LINES.bronze_table}").orderBy("version").collect()]
    assert [n for n in rows_by_commit if n] == [3, 1, 2]


def test_file_sizes_are_known_only_for_the_local_engine_and_its_workspace_paths(lake):
    paths, folder, spark = lake
    (folder / "odoo-209901.jsonl").write_text(GOOD)
    volume = paths.volume_to_local("/Volumes/main/raw/odoo/a.jsonl")
    volume.parent.mkdir(parents=True)
    volume.write_text(GOOD + GOOD)
    size = len(GOOD.encode())
    assert bronze.local_bytes(spark, [f"{RAW}/{LINES.name}/odoo-209901.jsonl", "/Volumes/main/raw/odoo/a.jsonl"]) \
        == [size, 2 * size]
    assert bronze.local_bytes(spark, [f"{RAW}/{LINES.name}/odoo-209999.jsonl"]) is None, "a file not there"
    assert bronze.local_bytes(spark, [(folder / "odoo-209901.jsonl").as_uri()]) is None, "not a workspace path"
    remote = types.SimpleNamespace(_odoolake_engine=types.SimpleNamespace(remote="sc://elsewhere:15002", paths=paths))
    assert bronze.local_bytes(remote, [f"{RAW}/{LINES.name}/odoo-209901.jsonl"]) is None, "another machine's engine"
    assert bronze.local_bytes(types.SimpleNamespace(), [f"{RAW}/{LINES.name}/odoo-209901.jsonl"]) is None


@pytest.mark.parametrize("lake", ["pyspark"], indirect=True)
def test_a_failure_in_a_later_model_keeps_the_earlier_models_finished(lake, monkeypatch):
    paths, folder, spark = lake
    _a_partners_file_and_a_lines_file(paths, folder)
    _stopped_at_append(paths, spark, monkeypatch, LINES.bronze_table, models=[PARTNERS, LINES])
    assert {f.rsplit("/", 1)[-1] for f in bronze.finished_files(spark)} == {"odoo-209901.jsonl"}
    assert all(f"/{PARTNERS.name}/" in f for f in bronze.finished_files(spark)), "the partners' file, finished"


def test_a_log_made_from_a_lake_ingested_before_it_covers_every_model_not_only_those_asked_for(lake, monkeypatch):
    paths, folder, spark = lake
    _a_partners_file_and_a_lines_file(paths, folder)
    bronze.ingest(spark, RAW, dbfs_lister(paths), models=[PARTNERS, LINES])
    spark.sql(f"DROP TABLE {io.BRONZE_LOG}")
    _ingest(paths, spark)  # the lines only: the log is made again, from every model's bronze
    checked: list[str] = []
    check = bronze._check_new_rows

    def recording(spark_, model, files):
        checked.append(model.name)
        return check(spark_, model, files)
    monkeypatch.setattr(bronze, "_check_new_rows", recording)
    result = bronze.ingest(spark, RAW, dbfs_lister(paths), models=[PARTNERS])
    assert (checked, result.new_batches, result.skipped_files) == ([], [], 1)


def test_a_refused_unfinished_file_takes_only_itself_out_of_bronze(lake, monkeypatch):
    """Two files a stopped run appended, one repeating a record version, whose raw copies are gone: the refusal takes
    the repeating file back out, and the other is finished, not lost."""
    paths, folder, spark = lake
    (folder / "odoo-209901.jsonl").write_text(GOOD + NOT_JSON)
    (folder / "odoo-209902.jsonl").write_text(_line(5, 5.0) + _line(5, 5.0))
    (folder / "odoo-209903.jsonl").write_text(_line(6, 6.0) + _line(6, 6.0) + _line(7, 7.0))
    _stopped_after_the_append(paths, spark, monkeypatch)
    (folder / "odoo-209901.jsonl").unlink()
    with pytest.raises(RawDataError, match=r"odoo-209902\.jsonl: holds record id 5 twice .*; refused too, for the "
                                           r"same reason: dbfs:/raw/odoo/account_move_line/odoo-209903\.jsonl$"):
        _ingest(paths, spark)
    assert _in_bronze(spark) == ["odoo-209901.jsonl"] * 3
    assert _finished(spark) == {"odoo-209901.jsonl"}
    assert _quarantined(spark, "odoo-209901.jsonl") == [(None, reasons.MALFORMED_JSON.code)]

    (folder / "odoo-209902.jsonl").write_text(_line(5, 5.0))  # delivered again, mended
    (folder / "odoo-209903.jsonl").write_text(_line(6, 6.0) + _line(7, 7.0))
    result = _ingest(paths, spark)
    assert (result.new_batches, result.rows[LINES.name], result.rejected[LINES.name]) == (
        ["odoo-209902", "odoo-209903"], 3, 0)
    assert _in_bronze(spark) == ["odoo-209901.jsonl"] * 3 + ["odoo-209902.jsonl"] + ["odoo-209903.jsonl"] * 2


@pytest.mark.parametrize("mended", [True, False], ids=["mended", "refused"])
def test_a_forgotten_file_delivered_again_leaves_no_quarantine_rows_of_its_old_copy(lake, mended):
    """A file whose bronze rows were dropped is ingested anew: its old copy's rejected lines leave the quarantine,
    whether the new copy has none or is refused."""
    paths, folder, spark = lake
    (folder / "odoo-209901.jsonl").write_text(GOOD + NOT_JSON)
    _ingest(paths, spark)
    assert _quarantined(spark, "odoo-209901.jsonl") == [(None, reasons.MALFORMED_JSON.code)]
    spark.sql(f"DROP TABLE {LINES.bronze_table}")
    (folder / "odoo-209901.jsonl").write_text(GOOD if mended else GOOD + REPEATED)
    if mended:
        _ingest(paths, spark)
        assert _in_bronze(spark) == ["odoo-209901.jsonl"] * 2
    else:
        with pytest.raises(RawDataError, match=r"odoo-209901\.jsonl: holds record id 1 twice"):
            _ingest(paths, spark)
        assert _in_bronze(spark) == []
    assert _quarantined(spark, "odoo-209901.jsonl") == []


QUOTED = "odoo-209901 o'neil\\x.jsonl"  # a quote and a backslash in a file name


def test_sql_strings_are_read_back_as_written(lake):
    _, _, spark = lake
    values = ["o'neil", "a\\b", "\\'", "''", "ñ ☃", QUOTED]
    for value in values:
        assert spark.sql(f"SELECT {io.sql_string(value)} AS v").first()["v"] == value, value
    rows = spark.createDataFrame([(v,) for v in [*values, "oneil", "ab", "x"]], "v string")
    assert sorted(r["v"] for r in rows.where(io.in_list("v", values)).collect()) == sorted(values)


def test_a_file_name_with_a_quote_or_a_backslash_is_ingested_refused_and_forgotten_as_any_other(lake, monkeypatch):
    paths, folder, spark = lake
    (folder / QUOTED).write_text(GOOD + REPEATED)
    with pytest.raises(RawDataError, match="holds record id 1 twice"):
        _ingest(paths, spark)
    assert _in_bronze(spark) == []

    (folder / QUOTED).write_text(GOOD + NOT_JSON)
    _ingest(paths, spark)
    assert _quarantined(spark, QUOTED) == [(None, reasons.MALFORMED_JSON.code)]
    assert _finished(spark) == {QUOTED}

    spark.sql(f"DROP TABLE {LINES.bronze_table}")
    (folder / QUOTED).write_text(GOOD + REPEATED)
    _stopped_after_the_append(paths, spark, monkeypatch)
    assert _finished(spark) == set(), "a forgotten file leaves the log before it is appended again"
    assert _quarantined(spark, QUOTED) == []
    with pytest.raises(RawDataError, match="holds record id 1 twice"):
        _ingest(paths, spark)
    assert _in_bronze(spark) == []


@pytest.mark.parametrize("where", ["precheck", "append"])
def test_a_file_that_is_not_utf8_is_named_and_nothing_of_its_model_is_appended(lake, monkeypatch, where):
    """A file saved as Windows-1252 (an accented payee name) stopped the ingest with Sail's "Encountered invalid
    UTF-8 data at line N", naming no file (and N counted from a part of the file). Now the file is named, by the
    precheck when its sample meets the bytes, by the append otherwise (the precheck left out here: it reads only a
    file's first lines, and Sail meets bytes far into a large file only there); the model's earlier files stay."""
    paths, folder, spark = lake
    (folder / "odoo-209901.jsonl").write_text(GOOD)
    _ingest(paths, spark)
    accented = '{"id": 7, "move_id": [1, "Jos\xe9 Pe\xf1a"], "balance": 1.0, "write_date": "2099-01-01 00:00:00"}\n'
    (folder / "odoo-209902.jsonl").write_text(_line(5, 5.0))  # a good new file of the same model
    (folder / "odoo-209903.jsonl").write_bytes(_line(6, 6.0).encode() + accented.encode("cp1252"))
    with monkeypatch.context() as m:
        if where == "append":
            m.setattr(bronze, "_precheck", lambda *_args: None)
        with pytest.raises(RawDataError) as refused:
            _ingest(paths, spark)
    assert refused.value.path.endswith("/odoo-209903.jsonl") and refused.value.problem == bronze.NOT_UTF8
    assert _in_bronze(spark) == ["odoo-209901.jsonl"] * 2 and _finished(spark) == {"odoo-209901.jsonl"}

    (folder / "odoo-209903.jsonl").write_text(_line(6, 6.0) + accented)  # converted to UTF-8
    _ingest(paths, spark)
    assert _in_bronze(spark) == ["odoo-209901.jsonl"] * 2 + ["odoo-209902.jsonl"] + ["odoo-209903.jsonl"] * 2
    assert _finished(spark) == {"odoo-209901.jsonl", "odoo-209902.jsonl", "odoo-209903.jsonl"}


@pytest.mark.parametrize("lake", ["native"], indirect=True)  # the native path's own rule: no PySpark run
def test_only_files_the_native_path_cannot_read_go_the_engines_way(lake, monkeypatch):
    """An interrupt (DuckDB raises Ctrl-C as RuntimeError "Query interrupted"), memory or a bug in the native path
    stop the ingest; a file it cannot read (``native.Unreadable``) is appended by the engine, and the result says so."""
    paths, folder, spark = lake
    assert native.enabled(spark) is not None
    (folder / "odoo-209901.jsonl").write_text(GOOD)

    def interrupted(*_args, **_kwargs):
        raise RuntimeError("Query interrupted")
    with monkeypatch.context() as m:
        m.setattr(native, "append", interrupted)
        with pytest.raises(RuntimeError, match="Query interrupted"):
            _ingest(paths, spark)
    assert not io.table_exists(spark, LINES.bronze_table) or _in_bronze(spark) == []

    (folder / "odoo-209902.jsonl").write_bytes(GOOD.encode() + _line(3, 3.0).replace("\n", "\r\n").encode())
    result = _ingest(paths, spark)
    assert "CSV" in result.engine_appended[LINES.name]
    assert _in_bronze(spark) == ["odoo-209901.jsonl"] * 2 + ["odoo-209902.jsonl"] * 3
