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


def _jobs_bundle(tmp_path, jobs: dict[str, int | str]):
    """A bundle whose jobs each have one run_job_task naming ``job_id``."""
    from odoolake.bundles.loader import load_bundle

    body = "".join(f"    {key}:\n      tasks:\n        - {{task_key: t, run_job_task: {{job_id: {target!r}}}}}\n"
                   for key, target in jobs.items())
    (tmp_path / "databricks.yml").write_text("bundle: {name: t}\nresources:\n  jobs:\n" + body)
    return load_bundle(tmp_path, None, user="me@example.com", env={})


def test_resources_deploy_after_those_whose_ids_they_name_and_a_cycle_is_named(tmp_path):
    from odoolake.bundles.deploy import _in_order

    ordered = _jobs_bundle(tmp_path, {"a": "${resources.jobs.b.id}", "b": "${resources.jobs.c.id}", "c": 7})
    assert _in_order(ordered) == ["jobs.c", "jobs.b", "jobs.a"]
    cyclic = _jobs_bundle(tmp_path, {"a": "${resources.jobs.b.id}", "b": "${resources.jobs.a.id}"})
    with pytest.raises(BundleError, match=r"resources name each other's ids in a cycle \(jobs.a, jobs.b\)"):
        _in_order(cyclic)
    itself = _jobs_bundle(tmp_path, {"a": "${resources.jobs.a.id}"})
    with pytest.raises(BundleError, match=r"jobs.a names its own id"):
        _in_order(itself)


def test_a_pipeline_naming_a_jobs_id_deploys_after_that_job(tmp_path):
    """Pipelines deploy before jobs, except after a job whose id they name (found by a review: never deployable)."""
    from odoolake.bundles.deploy import _in_order
    from odoolake.bundles.loader import load_bundle

    (tmp_path / "databricks.yml").write_text(
        "bundle: {name: t}\nresources:\n  pipelines:\n    p:\n      name: p\n"
        "      configuration: {worker_job: '${resources.jobs.worker.id}'}\n"
        "    q:\n      name: q\n"
        "  jobs:\n    worker:\n      tasks:\n        - {task_key: t, notebook_task: {notebook_path: a.py}}\n"
        "    runs_q:\n      tasks:\n        - {task_key: t, pipeline_task: {pipeline_id: '${resources.pipelines.q.id}'}}\n")
    (tmp_path / "a.py").write_text("# Databricks notebook source\n")
    bundle = load_bundle(tmp_path, None, user="me@example.com", env={})
    order = _in_order(bundle)
    assert order.index("jobs.worker") < order.index("pipelines.p") and order.index("pipelines.q") < \
        order.index("jobs.runs_q")


def test_deployed_ids_replace_id_references_a_jobs_id_as_an_integer(tmp_path):
    from odoolake.bundles.deploy import with_ids

    state = {"jobs.worker": "42", "pipelines.p": "abc-123", "adopted.experiments.e": "9"}
    settings = {"tasks": [{"run_job_task": {"job_id": "${resources.jobs.worker.id}"}},
                          {"pipeline_task": {"pipeline_id": "${resources.pipelines.p.id}"}},
                          {"notebook_task": {"base_parameters": {"x": "job ${resources.jobs.worker.id}, "
                                                                      "exp ${resources.experiments.e.id}"}}}]}
    assert with_ids(settings, state, "resources.jobs.o") == {"tasks": [
        {"run_job_task": {"job_id": 42}}, {"pipeline_task": {"pipeline_id": "abc-123"}},
        {"notebook_task": {"base_parameters": {"x": "job 42, exp 9"}}}]}
    # a string field holding only a job's id stays a string (the review found parameters made integers)
    assert with_ids({"parameters": [{"name": "child", "default": "${resources.jobs.worker.id}"}]}, state,
                    "resources.jobs.o") == {"parameters": [{"name": "child", "default": "42"}]}
    with pytest.raises(BundleError, match=r"\$\{resources.jobs.gone.id\} names jobs.gone, which is not deployed"):
        with_ids({"job_id": "${resources.jobs.gone.id}"}, state, "resources.jobs.o")
