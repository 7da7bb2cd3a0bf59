"""Bundle loading: the project's bundle across targets, and invalid bundles each with a precise error."""

from pathlib import Path

import pytest

from odoolake.bundles.loader import BundleError, load_bundle

REPO_BUNDLE = Path(__file__).resolve().parents[2] / "databricks"
USER = "jane.doe@example.com"


@pytest.mark.parametrize(("target", "prefix", "paused", "root"), [
    ("local", "", "PAUSED", f"/Workspace/Users/{USER}/.bundle/odoo-ce-databricks/local"),
    ("dev", "[dev jane_doe] ", "PAUSED", f"/Workspace/Users/{USER}/.bundle/odoo-ce-databricks/dev"),
    ("prod", "", None, "/Workspace/Shared/.bundle/odoo-ce-databricks/prod"),
])
def test_target_matrix(target, prefix, paused, root):
    bundle = load_bundle(REPO_BUNDLE, target, user=USER, env={})
    job = bundle.resources("jobs")["bir_etl"]
    assert job["name"] == prefix + "BIR Month-End ETL"
    assert job["schedule"].get("pause_status") == paused
    assert bundle.config["workspace"]["root_path"] == root
    assert bundle.config["workspace"]["file_path"] == root + "/files"
    assert [t["task_key"] for t in job["tasks"]] == ["odoo_extract", "bronze_ingestion", "silver_cleaning",
                                                     "gold_aggregation", "bir_forms", "features", "train_forecaster",
                                                     "score_forecast", "odoo_writeback", "publish_superset"]


def test_variable_precedence_var_then_env_then_default():
    default = load_bundle(REPO_BUNDLE, "prod", user=USER, env={})
    assert default.config["workspace"]["host"] == "https://adb-prod.azuredatabricks.net"
    from_env = load_bundle(REPO_BUNDLE, "prod", user=USER, env={"BUNDLE_VAR_prod_host": "https://env.example"})
    assert from_env.config["workspace"]["host"] == "https://env.example"
    from_var = load_bundle(REPO_BUNDLE, "prod", {"prod_host": "https://var.example"}, user=USER,
                           env={"BUNDLE_VAR_prod_host": "https://env.example"})
    assert from_var.config["workspace"]["host"] == "https://var.example"


def write(tmp_path: Path, text: str, extra: dict[str, str] | None = None) -> Path:
    (tmp_path / "databricks.yml").write_text(text)
    for name, body in (extra or {}).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(body)
    return tmp_path


BASE = """bundle:
  name: t
variables:
  region:
    description: needs a value
resources:
  jobs:
    j:
      name: job
      tasks:
        - task_key: a
          notebook_task: {notebook_path: /Shared/a}
"""


def test_missing_variable_lists_every_place_looked(tmp_path):
    with pytest.raises(BundleError, match=r"no value assigned to required variable 'region' \(looked in "
                                          r"--var region=…, BUNDLE_VAR_region, variables.region.default\)"):
        load_bundle(write(tmp_path, BASE), env={})


def test_unknown_key_is_a_warning_with_its_line(tmp_path):
    bundle = load_bundle(write(tmp_path, BASE.replace("      name: job\n", "      name: job\n      colour: red\n")),
                         variables={"region": "ph"}, env={})
    warning = next(d for d in bundle.diagnostics if "colour" in d.summary)
    assert warning.severity == "warning" and warning.location.line == 10
    assert warning.path == "resources.jobs.j.colour"


def test_bad_interpolation_names_file_line_and_path(tmp_path):
    text = BASE.replace("      name: job\n", "      name: ${var.nope}\n")
    with pytest.raises(BundleError) as err:
        load_bundle(write(tmp_path, text), variables={"region": "ph"}, env={})
    diag = next(d for d in err.value.diagnostics if d.severity == "error")
    assert "cannot resolve '${var.nope}'" in diag.summary and diag.path == "resources.jobs.j.name"
    assert diag.location.file.endswith("databricks.yml") and diag.location.line == 9


def test_cycle_and_unknown_task_key(tmp_path):
    text = BASE + """        - task_key: b
          depends_on: [{task_key: c}]
          notebook_task: {notebook_path: /Shared/b}
        - task_key: c
          depends_on: [{task_key: b}, {task_key: zz}]
          notebook_task: {notebook_path: /Shared/c}
"""
    with pytest.raises(BundleError) as err:
        load_bundle(write(tmp_path, text), variables={"region": "ph"}, env={})
    summaries = [d.summary for d in err.value.diagnostics if d.severity == "error"]
    assert any("cycle: b -> c -> b" in s or "cycle: c -> b -> c" in s for s in summaries)
    unknown = next(d for d in err.value.diagnostics if "unknown task 'zz'" in d.summary)
    assert unknown.path == "resources.jobs.j.tasks[2].depends_on[1].task_key"


def test_includes_relative_notebooks_and_production_rules(tmp_path):
    text = """bundle: {name: t}
include: ["resources/*.yml"]
targets:
  prod: {mode: production}
"""
    job = """resources:
  jobs:
    j:
      name: job
      tasks:
        - task_key: a
          notebook_task: {notebook_path: ../src/missing.py}
"""
    with pytest.raises(BundleError) as err:
        load_bundle(write(tmp_path, text, {"resources/jobs.yml": job}), env={})
    errors = {d.summary: d for d in err.value.diagnostics if d.severity == "error"}
    missing = next(d for s, d in errors.items() if "notebook '../src/missing.py' not found" in s)
    assert missing.location.file.endswith("resources/jobs.yml") and missing.location.line == 7
    assert any("set workspace.root_path explicitly" in s for s in errors)


def test_a_notebook_path_left_out_or_missing_is_an_error_at_validate_naming_file_and_line(tmp_path):
    """A typo'd key left a task's or a pipeline library's notebook path out: deploy failed with a bare KeyError; a
    pipeline's missing notebook passed validate and deploy, and only its update found it."""
    text = """bundle: {name: t}
resources:
  jobs:
    j:
      name: job
      tasks:
        - task_key: a
          notebook_task: {notebok_path: ../src/prepare.py}
  pipelines:
    p:
      name: pipe
      target: dlt_t
      libraries:
        - notebook: {paht: ./src/nb.py}
        - notebook: {path: ./src/missing_dlt.py}
"""
    with pytest.raises(BundleError) as err:
        load_bundle(write(tmp_path, text), env={})
    errors = {(d.path, d.summary): d.location for d in err.value.diagnostics if d.severity == "error"}
    assert ("resources.jobs.j.tasks[0].notebook_task.notebook_path", "notebook_path is required: the notebook to run") \
        in errors
    assert errors[("resources.pipelines.p.libraries[0].notebook.path", "path is required: the notebook to run")].line \
        == 14
    missing = next(location for (path, summary), location in errors.items()
                   if path == "resources.pipelines.p.libraries[1].notebook.path" and
                   "notebook './src/missing_dlt.py' not found" in summary)
    assert missing.file.endswith("databricks.yml") and missing.line == 15


def test_a_duplicate_task_key_is_an_error_also_when_a_target_overrides_the_tasks(tmp_path):
    """The target's override folded the two b tasks into one, without the depends_on of the first, and the
    validation passed: b would have run beside a."""
    text = """bundle: {name: t}
resources:
  jobs:
    j:
      name: job
      tasks:
        - task_key: a
          notebook_task: {notebook_path: /Shared/a}
        - task_key: b
          depends_on: [{task_key: a}]
          notebook_task: {notebook_path: /Shared/b}
        - task_key: b
          notebook_task: {notebook_path: /Shared/b2}
targets:
  local:
    resources:
      jobs:
        j:
          tasks:
            - task_key: a
              timeout_seconds: 60
"""
    with pytest.raises(BundleError) as err:
        load_bundle(write(tmp_path, text), target="local", env={})
    duplicate = [d for d in err.value.diagnostics if d.summary == "duplicate task_key 'b'"]
    assert not [d for d in err.value.diagnostics if "parameter" in d.summary]
    assert [d.path for d in duplicate] == ["resources.jobs.j.tasks[1].task_key", "resources.jobs.j.tasks[2].task_key"]
    assert [d.location.line for d in duplicate] == [9, 12]


def test_a_job_parameter_named_twice_is_an_error_at_validate(tmp_path):
    text = """bundle: {name: t}
resources:
  jobs:
    j:
      name: job
      parameters:
        - {name: run_date, default: ""}
        - {name: company, default: all}
        - {name: run_date, default: today}
      tasks:
        - task_key: a
          notebook_task: {notebook_path: /Shared/a}
"""
    with pytest.raises(BundleError) as err:
        load_bundle(write(tmp_path, text), env={})
    [duplicate] = [d for d in err.value.diagnostics if d.severity == "error"]
    assert (duplicate.summary, duplicate.path, duplicate.location.line) == (
        "duplicate job parameter 'run_date'", "resources.jobs.j.parameters[2].name", 9)


def test_resource_references_resolve_after_mode_prefixes_and_unknown_ones_fail(tmp_path):
    text = BASE.replace("      name: job\n", "      name: job\n      description: trains ${resources.models.m.name}\n")
    text += """  models:
    m:
      name: forecaster
targets:
  dev:
    mode: development
"""
    bundle = load_bundle(write(tmp_path, text), "dev", variables={"region": "ph"}, user="jane.doe@example.com", env={})
    assert bundle.resources("jobs")["j"]["description"] == "trains [dev jane_doe] forecaster"
    with pytest.raises(BundleError) as err:
        load_bundle(write(tmp_path, text.replace("models.m.name", "models.nope.name")), "dev",
                    variables={"region": "ph"}, env={})
    diag = next(d for d in err.value.diagnostics if d.severity == "error")
    assert "resources.models.nope" in diag.summary and diag.path == "resources.jobs.j.description"


def test_production_mode_needs_a_fixed_run_as_identity(tmp_path):
    text = BASE + """targets:
  prod:
    mode: production
    workspace:
      root_path: /Workspace/Shared/.bundle/t/prod
"""
    with pytest.raises(BundleError) as err:
        load_bundle(write(tmp_path, text), "prod", variables={"region": "ph"}, env={})
    diag = next(d for d in err.value.diagnostics if "run_as" in d.summary)
    assert diag.path == "targets.prod.run_as" and "whoever deployed" in diag.summary
    fixed = text + "    run_as:\n      service_principal_name: ci-sp\n"
    assert load_bundle(write(tmp_path, fixed), "prod", variables={"region": "ph"}, env={}).config["run_as"] == {
        "service_principal_name": "ci-sp"}


def _diagnostics(tmp_path, text: str) -> list:
    try:
        return load_bundle(write(tmp_path, text), variables={"region": "ph"}, env={}).diagnostics
    except BundleError as exc:
        return exc.diagnostics


SCHEDULED = BASE.replace("      name: job\n", """      name: job
      max_concurrent_runs: 1
      schedule:
        quartz_cron_expression: "0 0 2 1 * ?"
        timezone_id: Asia/Manila
""")


@pytest.mark.parametrize(("old", "new", "severity", "path", "line", "summary"), [
    ("          notebook_task: {notebook_path: /Shared/a}\n",
     "          notebook_task: {notebook_path: /Shared/a}\n          depends_onn: []\n", "warning",
     "resources.jobs.j.tasks[0].depends_onn", 17, "unknown field 'depends_onn' (kept; real Databricks may refuse "
     "it); did you mean 'depends_on'?"),
    ("max_concurrent_runs: 1", "max_concurrent_runs: one", "error", "resources.jobs.j.max_concurrent_runs", 10,
     "expected an integer, got str 'one'"),
    ("max_concurrent_runs: 1", "max_concurrent_runs: -2", "error", "resources.jobs.j.max_concurrent_runs", 10,
     "must be >= 0, got -2"),
    ('"0 0 2 1 * ?"', '"0 0 25 1 * ?"', "error", "resources.jobs.j.schedule.quartz_cron_expression", 12,
     "Invalid Quartz cron expression '0 0 25 1 * ?': a field is out of range"),
    ('"0 0 2 1 * ?"', '"0 0 0 30 2 ?"', "error", "resources.jobs.j.schedule.quartz_cron_expression", 12,
     "never fires"),
    ("Asia/Manila", "Asia/Manilla", "error", "resources.jobs.j.schedule.timezone_id", 13,
     "unknown timezone_id 'Asia/Manilla'; did you mean 'Asia/Manila'?"),
    ("timezone_id: Asia/Manila", "timezone_id: Asia/Manila\n        pause_status: STOPPED", "error",
     "resources.jobs.j.schedule.pause_status", 14, "'STOPPED' is not one of PAUSED, UNPAUSED"),
    ("{notebook_path: /Shared/a}", "{notebook_path: /Shared/a, base_parameters: [a]}", "error",
     "resources.jobs.j.tasks[0].notebook_task.base_parameters", 16, "expected a mapping, got list"),
])
def test_validate_reports_unknown_keys_and_forbidden_values_at_their_line(tmp_path, old, new, severity, path, line,
                                                                          summary):
    found = [d for d in _diagnostics(tmp_path, SCHEDULED.replace(old, new)) if d.path == path]
    assert len(found) == 1, [str(d) for d in _diagnostics(tmp_path, SCHEDULED.replace(old, new))]
    diagnostic = found[0]
    assert diagnostic.severity == severity and summary in diagnostic.summary
    assert diagnostic.location.file.endswith("databricks.yml") and diagnostic.location.line == line
    assert f"databricks.yml:{line}:" in str(diagnostic)


def test_the_project_bundle_has_no_diagnostics():
    for target in ("local", "dev", "prod"):
        assert load_bundle(REPO_BUNDLE, target, user=USER, env={}).diagnostics == []


def test_development_mode_prefixes_unity_catalog_models_with_an_identifier(tmp_path):
    text = """bundle:
  name: t
targets:
  dev:
    mode: development
    default: true
resources:
  registered_models:
    m:
      catalog_name: main
      schema_name: default
      name: forecaster
"""
    bundle = load_bundle(write(tmp_path, text), "dev", user=USER, env={})
    assert bundle.resources("registered_models")["m"]["name"] == "dev_jane_doe_forecaster"


def test_the_sync_mapping_is_checked_at_validate(tmp_path):
    """``sync.exclude: "*.log"`` (a string) was read a character at a time: ``*`` excluded every file and deploy deleted
    them all from the workspace, after a validate that said OK. ``sync.paths`` was ignored."""
    def found(sync: str) -> list[tuple[str, str, str]]:
        return [(d.severity, d.path, d.summary) for d in _diagnostics(tmp_path, BASE + sync) if d.path.startswith("sync")]

    assert found('sync:\n  exclude: "*.log"\n') == [
        ("error", "sync.exclude", 'sync.exclude must be a list of patterns, like ["*.log"]')]
    assert found("sync:\n  include: [1]\n")[0][:2] == ("error", "sync.include")
    assert found("sync:\n  paths: [., ../shared]\n") == [
        ("error", "sync.paths", "sync.paths (folders outside the bundle root) is not supported locally: move them under "
                                "the bundle root")]
    assert found("sync:\n  bogus: 1\n") == [("warning", "sync.bogus", "unknown key 'bogus' in sync (ignored)")]
    assert found('sync:\n  include: ["data/keep.csv"]\n  exclude: ["notes/**"]\n') == []
