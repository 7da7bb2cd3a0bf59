"""Databricks source notebooks run locally: cells, magics, dbutils, display."""

import os
import re
import traceback

import pytest

from odoolake.workspace.notebooks import parse_notebook, run_notebook
from odoolake.workspace.notebooks.source import NotebookFormatError

NB = """# Databricks notebook source
# MAGIC %md
# MAGIC # Title

# COMMAND ----------

dbutils.widgets.text("month", "2026-01")
month = dbutils.widgets.get("month")
print("month", month)

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT 1 AS one;
# MAGIC SELECT 2 AS two

# COMMAND ----------

dbutils.jobs.taskValues.set(key="month", value=month)
dbutils.notebook.exit(month)
print("not reached")
"""


def test_parse_cells_and_magics():
    cells = parse_notebook(NB)
    assert [c.kind for c in cells] == ["md", "python", "sql", "python"]
    assert cells[2].source.strip().startswith("SELECT 1 AS one;")
    assert cells[1].line == 7


def test_parse_rejects_plain_python_and_unknown_magic():
    with pytest.raises(NotebookFormatError, match="not a Databricks notebook"):
        parse_notebook("print(1)\n", "x.py")
    with pytest.raises(NotebookFormatError, match="unknown magic %foo"):
        parse_notebook("# Databricks notebook source\n# MAGIC %foo bar\n", "x.py")


def test_run_notebook_widgets_sql_task_values_and_exit(tmp_path, spark, lake_engine):
    nb = tmp_path / "nb.py"
    nb.write_text(NB)
    values: dict = {}
    result = run_notebook(nb, spark, lake_engine.paths, {"month": "2026-10"}, values, "t1")
    assert result.exit_value == "2026-10"
    assert "month 2026-10" in result.output and "two" in result.output and "not reached" not in result.output
    assert values == {"t1": {"month": "2026-10"}}
    default = run_notebook(nb, spark, lake_engine.paths)
    assert default.exit_value == "2026-01"


def test_run_shares_namespace_and_dbfs_ls(tmp_path, spark, lake_engine):
    (lake_engine.paths.dbfs_root / "raw" / "x").mkdir(parents=True, exist_ok=True)
    (lake_engine.paths.dbfs_root / "raw" / "x" / "a.jsonl").write_text("{}\n")
    (tmp_path / "helpers.py").write_text("# Databricks notebook source\nGREETING = 'hi'\n")
    (tmp_path / "main.py").write_text(
        "# Databricks notebook source\n# MAGIC %run ./helpers\n\n# COMMAND ----------\n\n"
        "print(GREETING, [f.path for f in dbutils.fs.ls('dbfs:/raw/x')])\n"
    )
    result = run_notebook(tmp_path / "main.py", spark, lake_engine.paths)
    assert "hi ['dbfs:/raw/x/a.jsonl']" in result.output


def test_errors_point_at_the_notebook_line(tmp_path, spark, lake_engine):
    nb = tmp_path / "bad.py"
    nb.write_text("# Databricks notebook source\nx = 1\n\n# COMMAND ----------\n\ny = 1 / 0\n")
    with pytest.raises(ZeroDivisionError) as err:
        run_notebook(nb, spark, lake_engine.paths)
    frame = traceback.extract_tb(err.value.__traceback__)[-1]
    assert (frame.filename, frame.lineno) == (str(nb), 6)


def test_pip_magic_is_refused_with_a_reason(tmp_path, spark, lake_engine):
    nb = tmp_path / "pip.py"
    nb.write_text("# Databricks notebook source\n# MAGIC %pip install requests\n")
    with pytest.raises(NotebookFormatError, match=r"add the package to pyproject\.toml"):
        run_notebook(nb, spark, lake_engine.paths)


def test_the_workspace_home_is_set_for_the_run_only(tmp_path, spark, lake_engine, monkeypatch):
    monkeypatch.setenv("ODOOLAKE_HOME", str(tmp_path / "callers-home"))
    nb = tmp_path / "home.py"
    nb.write_text("# Databricks notebook source\nimport os\nprint(os.environ['ODOOLAKE_HOME'])\n")
    result = run_notebook(nb, spark, lake_engine.paths)
    assert result.output.strip() == str(lake_engine.paths.home)
    assert os.environ["ODOOLAKE_HOME"] == str(tmp_path / "callers-home")
    with pytest.raises(ZeroDivisionError):
        run_notebook(_write(tmp_path / "fails.py", "1 / 0"), spark, lake_engine.paths)
    assert os.environ["ODOOLAKE_HOME"] == str(tmp_path / "callers-home")


def _write(path, code: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# Databricks notebook source\n{code}\n")
    return path


def test_run_and_notebook_run_resolve_workspace_paths_and_never_leave_the_tree(tmp_path, spark, lake_engine):
    from odoolake.workspace.notebooks.runtime import NotebookNotFound

    tree = lake_engine.paths.home / "workspace"
    _write(tree / "Shared" / "lib" / "helper", "HELPER = 'from /Shared/lib/helper'")
    _write(tree / "Shared" / "lib" / "child", "dbutils.notebook.exit('child ran')")
    main = _write(tree / "Users" / "me" / "main", "# MAGIC %run /Shared/lib/helper\n\n# COMMAND ----------\n\n"
                  "print(HELPER)\nprint(dbutils.notebook.run('/Workspace/Shared/lib/child', 60))\n"
                  "print(dbutils.notebook.run('../../Shared/lib/child', 60))\n")
    result = run_notebook(main, spark, lake_engine.paths)
    assert "from /Shared/lib/helper" in result.output and result.output.count("child ran") == 2

    outside = _write(tmp_path / "outside.py", "print('outside ran')")
    for target, problem in ((str(outside), "not found in the workspace tree"),
                            (str(outside.with_suffix("")), "not found in the workspace tree"),
                            ("../../../../" + outside.name, "leads outside the workspace tree")):
        sneaky = _write(tree / "Users" / "me" / "sneaky", f"# MAGIC %run {target}\n")
        with pytest.raises(NotebookNotFound, match=problem):
            run_notebook(sneaky, spark, lake_engine.paths)
        caller = _write(tree / "Users" / "me" / "caller", f"dbutils.notebook.run({target!r}, 60)\n")
        with pytest.raises(NotebookNotFound, match=problem):
            run_notebook(caller, spark, lake_engine.paths)


def test_dbutils_fs_put_cp_mv_head_rm_on_the_local_dbfs(tmp_path, spark, lake_engine):
    root = lake_engine.paths.dbfs_root
    nb = _write(tmp_path / "fs.py", "\n".join([
        "dbutils.fs.put('dbfs:/tmp/fs-test/a.txt', 'alpha')",
        "dbutils.fs.cp('dbfs:/tmp/fs-test/a.txt', 'dbfs:/tmp/fs-test/copy/b.txt')",
        "dbutils.fs.mv('/tmp/fs-test/copy/b.txt', 'dbfs:/tmp/fs-test/moved/c.txt')",
        "dbutils.fs.cp('dbfs:/tmp/fs-test/moved', 'dbfs:/tmp/fs-test/tree', recurse=True)",
        "print(sorted(f.name for f in dbutils.fs.ls('dbfs:/tmp/fs-test')))",
        "print(dbutils.fs.head('dbfs:/tmp/fs-test/tree/c.txt', 3))",
        "print(dbutils.fs.rm('dbfs:/tmp/fs-test/a.txt'), dbutils.fs.rm('dbfs:/tmp/fs-test/a.txt'))",
        "dbutils.fs.rm('dbfs:/tmp/fs-test/tree', recurse=True)",
    ]))
    result = run_notebook(nb, spark, lake_engine.paths)
    assert result.output.splitlines() == ["['a.txt', 'copy/', 'moved/', 'tree/']", "alp", "True False"]
    assert (root / "tmp/fs-test/moved/c.txt").read_text() == "alpha"
    assert not (root / "tmp/fs-test/copy/b.txt").exists() and not (root / "tmp/fs-test/tree").exists()


@pytest.mark.parametrize(("call", "error", "message"), [
    ("dbutils.fs.cp('dbfs:/tmp/fs-missing/x', 'dbfs:/tmp/fs-missing/y')", FileNotFoundError,
     "dbfs:/tmp/fs-missing/x does not exist"),
    ("dbutils.fs.mv('dbfs:/tmp/fs-missing/x', 'dbfs:/tmp/fs-missing/y')", FileNotFoundError,
     "dbfs:/tmp/fs-missing/x does not exist"),
    ("dbutils.fs.head('dbfs:/tmp/fs-missing/x')", FileNotFoundError, "dbfs:/tmp/fs-missing/x does not exist"),
    ("dbutils.fs.put('dbfs:/tmp/fs-dir/f', 'a'); dbutils.fs.rm('dbfs:/tmp/fs-dir')", IsADirectoryError,
     "dbfs:/tmp/fs-dir is a directory; pass recurse=True"),
    ("dbutils.fs.put('dbfs:/tmp/fs-d2/f', 'a'); dbutils.fs.cp('dbfs:/tmp/fs-d2', 'dbfs:/tmp/fs-d3')", IsADirectoryError,
     "dbfs:/tmp/fs-d2 is a directory; pass recurse=True"),
    ("dbutils.fs.put('dbfs:/tmp/fs-twice', 'a'); dbutils.fs.put('dbfs:/tmp/fs-twice', 'b')", FileExistsError,
     "dbfs:/tmp/fs-twice already exists; pass overwrite=True"),
    ("dbutils.fs.ls('dbfs:/../outside')", ValueError, "DBFS path escapes the DBFS root"),
])
def test_dbutils_fs_errors_name_the_path_and_keep_what_is_stored(tmp_path, spark, lake_engine, call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        run_notebook(_write(tmp_path / "bad_fs.py", call), spark, lake_engine.paths)
    assert not (lake_engine.paths.dbfs_root / "tmp/fs-missing").exists()  # a failed copy made no directories
    if "fs-twice" in call:
        assert (lake_engine.paths.dbfs_root / "tmp/fs-twice").read_text() == "a"


def test_sh_magic_is_refused_with_a_reason(tmp_path, spark, lake_engine):
    nb = tmp_path / "sh.py"
    nb.write_text("# Databricks notebook source\n# MAGIC %sh ls /\n")
    with pytest.raises(NotebookFormatError, match=r"%sh .*use a Python cell"):
        run_notebook(nb, spark, lake_engine.paths)


def test_run_passes_widget_values_and_notebook_run_stops_a_child_past_its_timeout(tmp_path, spark, lake_engine):
    """``%run ./child $color="red"`` fills the child's widget (the arguments were dropped); a child of
    ``dbutils.notebook.run(path, 1)`` that runs longer fails its parent (the timeout was ignored)."""
    from odoolake.workspace.notebooks.runtime import NotebookTimeout

    _write(tmp_path / "child.py", 'dbutils.widgets.text("color", "child-default")\nCOLOR = dbutils.widgets.get("color")\n')
    main = _write(tmp_path / "main.py",
                  '# MAGIC %run ./child $color="red"\n\n# COMMAND ----------\n\nprint("seen", COLOR)\n')
    assert "seen red" in run_notebook(main, spark, lake_engine.paths).output
    _write(tmp_path / "slow.py", "import time\ntime.sleep(30)\ndbutils.notebook.exit('slow finished')\n")
    caller = _write(tmp_path / "caller.py", "print(dbutils.notebook.run('./slow', 1))\n")
    with pytest.raises(NotebookTimeout, match=r"Notebook \./slow did not finish within its timeout of 1 s"):
        run_notebook(caller, spark, lake_engine.paths)
    quick = _write(tmp_path / "quick.py", "print(dbutils.notebook.run('./child', 30, {'color': 'blue'}))\n")
    run_notebook(quick, spark, lake_engine.paths)  # a child within its timeout: no alarm left behind


def test_sql_cells_bind_widgets_keep_their_result_and_ignore_quotes_in_comments(tmp_path, spark, lake_engine):
    nb = _write(tmp_path / "sql.py", 'dbutils.widgets.text("max_id", "3")\n\n# COMMAND ----------\n\n'
                "# MAGIC %sql\n# MAGIC -- don't forget: two statements\n"
                "# MAGIC CREATE OR REPLACE TEMP VIEW small AS SELECT id FROM range(10) WHERE id < :max_id;\n"
                "# MAGIC SELECT count(*) AS n FROM small -- it's the last one\n\n# COMMAND ----------\n\n"
                "print('rows', _sqldf.first().n)\n")
    assert "rows 3" in run_notebook(nb, spark, lake_engine.paths).output
    assert "rows 5" in run_notebook(nb, spark, lake_engine.paths, {"max_id": "5"}).output


def test_task_values_are_json_of_at_most_48_kib_and_answer_their_debug_value_outside_a_job(tmp_path, spark,
                                                                                           lake_engine):
    """A date, a Decimal or a set came back to the next task as a string; outside a job, get() answers its
    debugValue (the default was answered, or an error raised)."""
    for value, error in (("datetime.date(2024, 1, 31)", "only values that can be expressed as JSON"),
                         ("{1, 2}", "only values that can be expressed as JSON"),
                         ("'x' * 50000", "its JSON is 50,002 bytes; the limit is 49,152")):
        nb = _write(tmp_path / "setter.py", f"import datetime\ndbutils.jobs.taskValues.set('v', {value})\n")
        with pytest.raises((TypeError, ValueError), match=error):
            run_notebook(nb, spark, lake_engine.paths, {}, {}, "t1")
    values: dict = {}
    run_notebook(_write(tmp_path / "ok.py", "dbutils.jobs.taskValues.set('v', {'rows': 3, 'ok': True})\n"),
                 spark, lake_engine.paths, {}, values, "t1")
    assert values == {"t1": {"v": {"rows": 3, "ok": True}}}
    getter = _write(tmp_path / "getter.py", "print('got', dbutils.jobs.taskValues.get('upstream', 'rows', "
                                            "default=0, debugValue=123))\n")
    assert "got 123" in run_notebook(getter, spark, lake_engine.paths).output  # run by hand: debugValue
    assert "got 0" in run_notebook(getter, spark, lake_engine.paths, {}, {}, "t2").output  # in a job: default
    no_debug = _write(tmp_path / "nodebug.py", "dbutils.jobs.taskValues.get('upstream', 'rows', default=0)\n")
    with pytest.raises(TypeError, match="outside a job, get\\(\\) answers its debugValue"):
        run_notebook(no_debug, spark, lake_engine.paths)


def test_dbutils_answers_in_databricks_shapes(tmp_path, spark, lake_engine, monkeypatch):
    (lake_engine.paths.dbfs_root / "shapes").mkdir(parents=True, exist_ok=True)
    (lake_engine.paths.dbfs_root / "shapes" / "a.csv").write_text("x\n")
    monkeypatch.setenv("ODOOLAKE_SECRET_REPRO_TOKEN", "s3cret")
    nb = _write(tmp_path / "shapes.py", "\n".join([
        "path, name, size, mtime = dbutils.fs.ls('dbfs:/shapes')[0]",
        "print('ls', name, size, dbutils.fs.ls('dbfs:/shapes')[0][0])",
        "print('keys', [s.key for s in dbutils.secrets.list('repro')])",
        "print('scopes', type(dbutils.secrets.listScopes()).__name__)",
        "print('arg', dbutils.widgets.getArgument('nope', 'fallback'))",
        "dbutils.widgets.combobox('fruit', 'apple', ['apple', 'pear'], 'Fruit')",
        "print('fruit', dbutils.widgets.get('fruit'))", ""]))
    output = run_notebook(nb, spark, lake_engine.paths).output
    assert "ls a.csv 2 dbfs:/shapes/a.csv" in output and "keys ['token']" in output
    assert "scopes list" in output and "arg fallback" in output and "fruit apple" in output


@pytest.mark.parametrize(("text", "statements", "markers"), [
    ("-- don't split here\nSELECT 1 AS a; SELECT 2", ["-- don't split here\nSELECT 1 AS a", "SELECT 2"], set()),
    ("SELECT 'a;b', `c;d` /* e ; f's */ FROM t WHERE x::int > :low", ["SELECT 'a;b', `c;d` /* e ; f's */ FROM t "
                                                                      "WHERE x::int > :low"], {"low"}),
    ("SELECT 'it''s :not' AS q, raw:field FROM t;\n-- only a comment\n;", ["SELECT 'it''s :not' AS q, raw:field FROM t"],
     set()),
])
def test_sql_cells_are_split_and_their_markers_found_outside_strings_and_comments(text, statements, markers):
    from odoolake.workspace.notebooks.runtime import _named_markers, _sql_statements

    assert _sql_statements(text) == statements
    assert set().union(*(_named_markers(s) for s in statements)) == markers


def test_the_notebook_runtime_needs_neither_the_engine_nor_sqlglot():
    """The JVM parity run executes the notebooks where only PySpark is installed."""
    import subprocess
    import sys

    code = ("import sys, odoolake.workspace.notebooks.runtime; "
            "print(sorted(m for m in sys.modules if m.startswith(('odoolake.workspace.engine', 'sqlglot', 'psutil'))))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"
