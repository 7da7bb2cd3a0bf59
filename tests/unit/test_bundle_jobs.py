from pathlib import Path

import pytest

from odoolake.bundles.jobs import BundleError, notebook_tasks

REPO = Path(__file__).resolve().parents[2]


def test_bir_etl_tasks_in_dependency_order():
    tasks = notebook_tasks(REPO / "databricks", "bir_etl")
    assert [t.task_key for t in tasks] == ["odoo_extract", "bronze_ingestion", "silver_cleaning", "gold_aggregation",
                                         "bir_forms", "features", "train_forecaster", "score_forecast",
                                         "odoo_writeback", "publish_superset"]
    assert all(t.notebook.is_file() for t in tasks)
    assert tasks[0].parameters == {"raw_root": "dbfs:/raw/odoo"}
    assert notebook_tasks(REPO / "databricks", "bir_etl", {"raw_root": "dbfs:/x"})[0].parameters == {"raw_root": "dbfs:/x"}


def _bundle(tmp_path, tasks: str) -> Path:
    (tmp_path / "databricks.yml").write_text("bundle: {name: t}\nresources:\n  jobs:\n    j:\n      tasks:\n" + tasks)
    return tmp_path


def test_cycle_and_unknown_dependency_are_named(tmp_path):
    cyc = _bundle(tmp_path, "        - {task_key: a, depends_on: [{task_key: b}], notebook_task: {notebook_path: a.py}}\n"
                            "        - {task_key: b, depends_on: [{task_key: a}], notebook_task: {notebook_path: b.py}}\n")
    with pytest.raises(BundleError, match="cycle: a -> b -> a"):
        notebook_tasks(cyc, "j")
    unknown = _bundle(tmp_path,
                      "        - {task_key: a, depends_on: [{task_key: zz}], notebook_task: {notebook_path: a.py}}\n")
    with pytest.raises(BundleError, match="unknown task 'zz'"):
        notebook_tasks(unknown, "j")
    with pytest.raises(BundleError, match="Job 'nope' is not in the bundle"):
        notebook_tasks(unknown, "nope")
