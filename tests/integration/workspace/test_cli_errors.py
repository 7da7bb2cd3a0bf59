"""The CLI answers every failure with one line on stderr (what failed, why, what to do) and exit code 1; --debug
shows the traceback. A dead workspace is reported in seconds; long work shows progress; a run's URL opens a page."""

from __future__ import annotations

import base64
import os
import socket
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from odoolake.cli.main import app

from .conftest import free_port


def odoolake(*args: str, home: Path, extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "ODOOLAKE_HOME": str(home), "COLUMNS": "200", **(extra or {})}
    for name in ("DATABRICKS_HOST", "DATABRICKS_TOKEN", "DATABRICKS_CONFIG_PROFILE"):
        env.pop(name, None)
    return subprocess.run([sys.executable, "-m", "odoolake.cli.main", *args], capture_output=True, text=True,
                          env=env, timeout=300, check=False)


def one_line_error(done: subprocess.CompletedProcess, *expected: str) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def test_a_dead_or_unknown_workspace_is_one_line_in_seconds(tmp_path):
    dead = free_port()
    config = tmp_path / "databrickscfg"
    config.write_text(f"[dead]\nhost = http://127.0.0.1:{dead}\ntoken = dapi0\n")
    extra = {"DATABRICKS_CONFIG_FILE": str(config)}
    one_line_error(odoolake("tokens", "list", "--profile", "dead", home=tmp_path, extra=extra),
                   f"workspace not reachable at http://127.0.0.1:{dead} (connection refused)", "odoolake up")
    one_line_error(odoolake("bundle", "deploy", "--profile", "dead", "--bundle-dir",
                            str(Path(__file__).resolve().parents[3] / "databricks"), home=tmp_path, extra=extra),
                   "workspace not reachable")
    one_line_error(odoolake("tokens", "list", "--profile", "nosuch", home=tmp_path, extra=extra),
                   "profile 'nosuch' is not in", "(profiles: dead)", "--write-profile nosuch")


def test_a_dead_spark_remote_is_one_line_in_seconds_not_a_silent_wait(tmp_path):
    """``notebook run --profile`` and ``ODOOLAKE_SPARK_REMOTE`` printed nothing for minutes on a dead workspace
    (PySpark's channel retries, and again when the session is released), and Ctrl-C did not end them."""
    dead = free_port()
    config = tmp_path / "databrickscfg"
    config.write_text(f"[dead]\nhost = https://127.0.0.1:{dead}\ntoken = dapi0\n")
    notebook = tmp_path / "hello.py"
    notebook.write_text("# Databricks notebook source\nprint('hello')\n")
    extra = {"DATABRICKS_CONFIG_FILE": str(config)}
    one_line_error(odoolake("notebook", "run", str(notebook), "--profile", "dead", home=tmp_path, extra=extra),
                   f"workspace not reachable at https://127.0.0.1:{dead} (connection refused)",
                   f"odoolake up --detach --port {dead}")  # the profile's port: the default would not match it
    remote = {"ODOOLAKE_SPARK_REMOTE": f"sc://127.0.0.1:{dead}/;use_ssl=true;token=abc"}
    one_line_error(odoolake("lake", "sql", "SELECT 1", home=tmp_path, extra=remote),
                   f"workspace not reachable at https://127.0.0.1:{dead}")


def test_a_profile_whose_workspace_certificate_is_not_trusted_is_named_in_seconds(server, tmp_path):
    """A local workspace's profile without ``odoolake_ca_bundle`` (written by hand, or by ``databricks configure``)
    made the SDK retry "cannot connect" for minutes."""
    config = tmp_path / "databrickscfg"
    config.write_text(f"[untrusted]\nhost = {server.https_url}\ntoken = {server.token}\n")
    extra = {"DATABRICKS_CONFIG_FILE": str(config), "REQUESTS_CA_BUNDLE": "", "SSL_CERT_FILE": "",
             "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": ""}
    line = one_line_error(odoolake("tokens", "list", "--profile", "untrusted", home=tmp_path, extra=extra),
                          f"the certificate of {server.https_url} is not trusted", "odoolake_ca_bundle")
    assert "odoolake env --profile" in line
    trusted = odoolake("tokens", "list", "--profile", "untrusted", home=tmp_path,
                       extra={**extra, "REQUESTS_CA_BUNDLE": server.ca_bundle})
    assert trusted.returncode == 0, trusted.stderr


def test_bad_arguments_and_an_empty_lake_are_one_line_each(tmp_path):
    home = tmp_path / "empty"
    bad_month = odoolake("lake", "generate", "--only", "2026-13", home=home)
    assert bad_month.returncode == 2 and "expected a month as YYYY-MM" in bad_month.stderr
    bad_quarter = odoolake("bir", "dat", "qap", "--quarter", "2026Q5", "--agency", "RIM", home=home)
    assert bad_quarter.returncode == 2 and "'--quarter'" in bad_quarter.stderr and "2026Q5" in bad_quarter.stderr
    for args, option in ((("bir", "calendar", "--efps-group", "Z"), "--efps-group"),  # these were exit 1, unnamed
                         (("bir", "calendar", "--year", "26"), "--year"),
                         (("bir", "dat", "qap", "--quarter", "2026Q3", "--agency", "RIM", "--form", "1601XX"), "--form"),
                         (("bir", "dat", "1604f", "--year", "2026", "--agency", "RIM", "--classification", "Z"),
                          "--classification"),
                         (("ml", "train", "--origins", "5"), "--origins")):
        usage = odoolake(*args, home=home)
        assert usage.returncode == 2 and option in usage.stderr and "Traceback" not in usage.stderr, usage.stderr
    one_line_error(odoolake("notebook", "run", "nope.py", home=home), "Notebook nope.py not found")
    done = odoolake("demo", "--bundle", str(tmp_path / "nowhere"), home=home)
    assert done.returncode == 1 and "No bundle found (looked for databricks.yml in" in done.stderr
    assert "Traceback" not in done.stderr and "AttributeError" not in done.stderr
    one_line_error(odoolake("lake", "run", home=home), "No raw drops in dbfs:/raw/odoo", "odoolake lake generate")
    one_line_error(odoolake("lake", "sql", "SELECT * FROM gold.bir_transactions", home=home),  # a typo'd --home
                   "TABLE_OR_VIEW_NOT_FOUND", f"the lake at {home.resolve()} has no tables at all: check --home",
                   "odoolake demo")
    one_line_error(odoolake("lake", "sql", "SELECT * FROM gold.bir_forecast", home=home),  # not the month-end's
                   "TABLE_OR_VIEW_NOT_FOUND", "`odoolake ml train` then `odoolake ml score`")
    debug = odoolake("--debug", "notebook", "run", "nope.py", home=home)
    assert debug.returncode == 1 and "Traceback" in debug.stderr  # --debug keeps the whole story
    from odoolake.workspace.engine import LocalEngine

    with LocalEngine.start(home) as engine, engine.spark() as spark:
        spark.sql("CREATE SCHEMA IF NOT EXISTS gold")
        spark.sql("CREATE TABLE gold.kept (x INT) USING DELTA")
    one_line_error(odoolake("lake", "sql", "SELECT * FROM gold.kep", home=home),  # a typo'd table in a built lake
                   "TABLE_OR_VIEW_NOT_FOUND", f"no such table in the lake at {home.resolve()}: check the name")


def test_env_down_and_remittances_name_what_is_wrong(tmp_path):
    """``odoolake env --profile typo`` printed nothing (so ``eval`` did nothing, quietly); ``down`` with nothing
    running had no ``error:`` line; ``bir remittances --agency XYZ`` blamed a missing month-end."""
    config = tmp_path / "databrickscfg"
    config.write_text("[odoolake]\nhost = https://127.0.0.1:8765\ntoken = dapi0\n")
    one_line_error(odoolake("env", "--profile", "typo", home=tmp_path, extra={"DATABRICKS_CONFIG_FILE": str(config)}),
                   "profile 'typo' is not in", "(profiles: odoolake)")
    bare = odoolake("env", home=tmp_path, extra={"DATABRICKS_CONFIG_FILE": str(config)})  # eval'd: exports nothing
    assert bare.returncode == 0 and bare.stdout == "" and "odoolake env --profile NAME" in bare.stderr and \
        f"(profiles in {config}: odoolake)" in bare.stderr
    one_line_error(odoolake("down", home=tmp_path / "nothing"), "no workspace is running for")
    from odoolake.workspace.engine import LocalEngine

    with LocalEngine.start(tmp_path / "lake") as engine, engine.spark() as spark:
        spark.sql("CREATE SCHEMA IF NOT EXISTS silver")
        spark.sql("CREATE TABLE silver.companies AS SELECT 'RIM' AS agency")
    one_line_error(odoolake("bir", "remittances", "--quarter", "2026Q3", "--agency", "XYZ", home=tmp_path / "lake"),
                   "Unknown agency 'XYZ'; the lake has RIM")


def test_up_detach_on_a_busy_port_fails_clearly(tmp_path):
    port = free_port()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        done = odoolake("up", "--detach", "--port", str(port), home=tmp_path / "ws")
    one_line_error(done, f"port {port} on 127.0.0.1 is not available", "--port")
    assert not (tmp_path / "ws" / "server.json").exists()


def test_up_detach_where_another_workspace_runs_names_it(server, tmp_path):
    port = int(server.url.rsplit(":", 1)[1])
    done = odoolake("up", "--detach", "--port", str(port), home=tmp_path / "second")
    one_line_error(done, f"port {port} on 127.0.0.1 is already used by another odoolake workspace "
                         f"(id {server.workspace.workspace_id})", f"--port {port + 1}")


BUNDLE = """bundle:
  name: cli_probe
targets:
  local:
    default: true
    mode: development
    workspace:
      host: {host}
resources:
  jobs:
    probe:
      name: CLI probe
      tasks:
        - task_key: first
          notebook_task:
            notebook_path: ./first.py
        - task_key: second
          depends_on:
            - task_key: first
          notebook_task:
            notebook_path: ./first.py
"""


def test_bundle_run_shows_each_task_as_it_changes_and_its_url_opens_a_page(server, tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "databricks.yml").write_text(BUNDLE.format(host=server.url))
    (tmp_path / "b" / "first.py").write_text("# Databricks notebook source\nprint('probe <ran> & done')\n")
    config = tmp_path / "databrickscfg"
    config.write_text(f"[probe]\nhost = {server.url}\ntoken = {server.token}\n")
    env = {"DATABRICKS_CONFIG_FILE": str(config), "COLUMNS": "200"}
    runner = CliRunner()
    deployed = runner.invoke(app, ["bundle", "deploy", "-p", "probe", "--bundle-dir", str(tmp_path / "b")], env=env)
    assert deployed.exit_code == 0, deployed.output
    ran = runner.invoke(app, ["bundle", "run", "probe", "-p", "probe", "--bundle-dir", str(tmp_path / "b")], env=env)
    assert ran.exit_code == 0, ran.output
    lines = ran.output.splitlines()
    url = lines[0].split(": ", 1)[1]
    assert lines[0].startswith("Run ") and url.startswith(f"{server.https_url}/jobs/")
    seen = [line.split() for line in lines[1:] if line.startswith("  ")]
    assert ["first", "SUCCESS"] in seen and ["second", "SUCCESS"] in seen
    assert seen.index(["first", "SUCCESS"]) < seen.index(["second", "SUCCESS"])  # in the order they happened
    assert lines[-1].startswith("Run ") and " SUCCESS " in lines[-1]

    browser = httpx.Client(verify=ssl.create_default_context(cafile=server.ca_bundle))  # trusts the workspace CA
    refused = browser.get(url)
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Basic")
    basic = base64.b64encode(f"me:{server.token}".encode()).decode()
    page = browser.get(url, headers={"Authorization": f"Basic {basic}"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "CLI probe" in page.text and page.text.count(">SUCCESS<") == 3  # the run and its two tasks
    assert "probe &lt;ran&gt; &amp; done" in page.text  # the task's output, escaped
    assert browser.get(url, headers={"Authorization": "Basic " + base64.b64encode(b"me:dapi-wrong").decode()}
                       ).status_code == 401
    gone = runner.invoke(app, ["bundle", "run", "probes", "-p", "probe", "--bundle-dir", str(tmp_path / "b")],
                         env=env)  # a key the bundle does not define was "not deployed (run bundle deploy first)"
    assert gone.exit_code == 1 and "no job or pipeline 'probes' in the bundle (jobs: probe; pipelines: none)" in \
        gone.output


@pytest.mark.parametrize(("args", "option"), [(["lake", "sql", "SELECT 1", "-p", "a=b"], "-p"),
                                              (["superset", "export", "-o", "x.zip"], "-o")])
def test_short_flags_mean_one_thing_everywhere(args, option):
    """-p is --profile and -o is --output wherever they exist; commands without them refuse them."""
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 2 and f"No such option: {option}" in done.output


ORCHESTRATED = """bundle:
  name: orchestrated
targets:
  local:
    default: true
    mode: development
    workspace:
      host: {host}
resources:
  jobs:
    orchestrator:
      name: Orchestrator
      parameters:
        - name: month
          default: "2026-05"
      tasks:
        - task_key: run_worker
          run_job_task:
            job_id: ${{resources.jobs.worker.id}}
            job_parameters:
              month: "{{{{job.parameters.month}}}}"
    worker:
      name: Worker
      parameters:
        - name: month
          default: none
      tasks:
        - task_key: work
          notebook_task:
            notebook_path: ./work.py
            base_parameters:
              month: "{{{{job.parameters.month}}}}"
"""


def test_a_bundle_job_runs_another_through_its_deployed_id(server, tmp_path):
    """``run_job_task.job_id: ${resources.jobs.worker.id}``: the worker is deployed first (it is declared after) and
    its id written into the orchestrator; running the orchestrator runs the worker with its parameters."""
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.service.jobs import RunResultState

    from odoolake.bundles.deploy import deploy, read_state
    from odoolake.bundles.loader import load_bundle

    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "databricks.yml").write_text(ORCHESTRATED.format(host=server.url))
    (tmp_path / "b" / "work.py").write_text("# Databricks notebook source\ndbutils.widgets.text('month', '')\n"
                                            "dbutils.notebook.exit(dbutils.widgets.get('month'))\n")
    w = WorkspaceClient(host=server.url, token=server.token)
    bundle = load_bundle(tmp_path / "b", "local", user=w.current_user.me().user_name, env={})
    result = deploy(w, bundle)
    assert [a.resource for a in result.actions][:2] == ["jobs.worker", "jobs.orchestrator"]
    state = read_state(w, bundle)
    orchestrator = w.jobs.get(int(state["jobs.orchestrator"]))
    assert orchestrator.settings.tasks[0].run_job_task.job_id == int(state["jobs.worker"])
    run = w.jobs.run_now(job_id=orchestrator.job_id, job_parameters={"month": "2026-08"}).result()
    assert run.state.result_state == RunResultState.SUCCESS, run.state.state_message
    child = w.jobs.get_run(w.jobs.get_run_output(run.tasks[0].run_id).run_job_output.run_id)
    assert child.job_id == int(state["jobs.worker"])
    assert w.jobs.get_run_output(child.tasks[0].run_id).notebook_output.result == "2026-08"
    assert deploy(w, bundle).actions[0].kind == "update"  # a second deploy resolves the id again
    assert w.jobs.get(orchestrator.job_id).settings.tasks[0].run_job_task.job_id == int(state["jobs.worker"])


def test_a_deploy_that_fails_midway_records_what_it_made(server, tmp_path):
    """A job the workspace refuses (an unknown cluster) after another job was made: that job is recorded, so the
    fixed bundle's deploy updates it rather than making a second (found by a review: nothing was recorded)."""
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.errors import DatabricksError

    from odoolake.bundles.deploy import deploy, read_state
    from odoolake.bundles.loader import load_bundle

    bundle_dir = tmp_path / "b"
    bundle_dir.mkdir()
    (bundle_dir / "work.py").write_text("# Databricks notebook source\nprint('work')\n")
    bundle = ORCHESTRATED.format(host=server.url).replace("name: orchestrated", "name: midway")  # its own state
    refused = bundle.replace("        - task_key: run_worker\n",
                             "        - task_key: run_worker\n          existing_cluster_id: no-such-cluster\n")
    (bundle_dir / "databricks.yml").write_text(refused)
    w = WorkspaceClient(host=server.url, token=server.token)
    user = w.current_user.me().user_name
    with pytest.raises(DatabricksError, match="no-such-cluster"):
        deploy(w, load_bundle(bundle_dir, "local", user=user, env={}))
    made = read_state(w, load_bundle(bundle_dir, "local", user=user, env={}))
    assert list(made) == ["jobs.worker"]
    (bundle_dir / "databricks.yml").write_text(bundle)
    fixed = deploy(w, load_bundle(bundle_dir, "local", user=user, env={}))
    assert [(a.resource, a.kind) for a in fixed.actions] == [("jobs.worker", "update"), ("jobs.orchestrator", "create")]
    assert fixed.ids["jobs.worker"] == made["jobs.worker"]


PIPELINE_BUNDLE = """
bundle:
  name: cli_pipeline
targets:
  local:
    default: true
    mode: development
    workspace:
      host: {host}
resources:
  pipelines:
    scout:
      name: cli scout
      target: cli_scout
      libraries:
        - notebook:
            path: ./scout.py
"""

SCOUT = """# Databricks notebook source
import dlt

@dlt.table
def rows():
    return spark.range(3)

@dlt.table
def doubled():
    return dlt.read("rows").selectExpr("{expression} AS id")
"""


def test_bundle_run_updates_a_pipeline_as_asked_and_says_why_it_failed(server, tmp_path):
    """`bundle run <pipeline>` printed only FAILED, and had no --refresh/--full-refresh/--validate-only."""
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "databricks.yml").write_text(PIPELINE_BUNDLE.format(host=server.url))
    config = tmp_path / "databrickscfg"
    config.write_text(f"[probe]\nhost = {server.url}\ntoken = {server.token}\n")
    env = {"DATABRICKS_CONFIG_FILE": str(config), "COLUMNS": "200"}
    runner = CliRunner()

    def invoke(*args: str, expression: str = "id * 2") -> Any:
        (folder / "scout.py").write_text(SCOUT.replace("{expression}", expression))
        deployed = runner.invoke(app, ["bundle", "deploy", "-p", "probe", "--bundle-dir", str(folder)], env=env)
        assert deployed.exit_code == 0, deployed.output
        return runner.invoke(app, ["bundle", "run", "scout", "-p", "probe", "--bundle-dir", str(folder), *args],
                             env=env)

    validated = invoke("--validate-only")
    assert validated.exit_code == 0 and "Pipeline scout: COMPLETED" in validated.output, validated.output
    assert invoke().exit_code == 0
    only = invoke("--refresh", "doubled", expression="id * 3")
    assert only.exit_code == 0, only.output
    failed = invoke("--refresh", "doubled", expression="no_such_column")
    assert failed.exit_code == 1
    assert "Pipeline scout: FAILED" in failed.output and "Dataset doubled" in failed.output
    assert "no_such_column" in failed.output
    spark = server.workspace.engine.session()
    try:
        assert sorted(r["id"] for r in spark.table("cli_scout.doubled").collect()) == [0, 3, 6]  # the last good one
    finally:
        server.workspace.engine.stop_session(spark)

    # a deploy the workspace refuses names the resource it was deploying
    (folder / "databricks.yml").write_text(PIPELINE_BUNDLE.format(host=server.url).replace(
        "        - notebook:\n            path: ./scout.py", "        - file:\n            path: ./scout.py"))
    refused = runner.invoke(app, ["bundle", "deploy", "-p", "probe", "--bundle-dir", str(folder)], env=env)
    assert refused.exit_code == 1
    assert "error: resources.pipelines.scout: Invalid libraries[0]: only notebook libraries" in refused.output


def test_bundle_commands_find_the_bundle_from_its_own_folder_or_say_where_they_looked(tmp_path):
    """Inside the bundle's folder ``bundle validate`` answered "no databricks.yml in databricks" (it looked only in
    ./databricks); the Databricks CLI looks in the current folder and those above it."""
    repo = Path(__file__).resolve().parents[3]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABRICKS_")}
    inside = subprocess.run([sys.executable, "-m", "odoolake.cli.main", "bundle", "validate"], capture_output=True,
                            text=True, env=env, cwd=repo / "databricks" / "resources", timeout=300, check=False)
    assert inside.returncode == 0 and "Validation OK!" in inside.stdout, inside.stderr
    outside = subprocess.run([sys.executable, "-m", "odoolake.cli.main", "bundle", "validate"], capture_output=True,
                             text=True, env=env, cwd=tmp_path, timeout=300, check=False)
    assert outside.returncode == 1 and f"no databricks.yml in {tmp_path}, the folders above it or ./databricks: " \
        "run this in the bundle's folder, or name it with --bundle-dir" in outside.stderr
