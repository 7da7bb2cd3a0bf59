"""One task, in its own process: ``python -m odoolake.workspace.jobs.task_process <spec.json>``.

A process per task means a timeout or a cancel can stop it for real, a crash or out-of-memory cannot take
the workspace server down, and stdout/stderr land in the task's log file. The task connects to the
workspace's Spark Connect endpoint through its front door, with the run's own token (see ``jobs.connections``).

The spec (written by the runner) holds ``kind``, ``spec`` (resolved task settings), ``remote``, ``home``,
``task_key``, ``task_values`` (values set by earlier tasks) and ``result_path``; the process writes
``{"exit_value", "task_values", "error", "error_trace"}`` to ``result_path``.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import runpy
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

CLUSTER_KEY = "_cluster"  # the task spec's copy of its cluster's spark_conf and spark_env_vars (the runner fills it)


def _session(spec: dict[str, Any]):
    from pyspark.sql.connect.session import SparkSession

    from odoolake.config import WorkspacePaths
    from odoolake.workspace.engine import LocalEngine

    # Scripts call SparkSession.builder.getOrCreate(); with SPARK_REMOTE set, PySpark hands back the default
    # Spark Connect session, which is the engine session made here.
    os.environ["SPARK_REMOTE"] = spec["remote"]
    paths = WorkspacePaths.from_env(spec["home"])
    engine = LocalEngine(paths, remote=spec["remote"])
    spark = engine.session()
    # so builder.getOrCreate() returns it (engine.session() is a Spark Connect session, typed as the classic one)
    SparkSession._set_default_and_active_session(spark)  # type: ignore[arg-type]
    return paths, spark


def _run_sql_file(spark: Any, path: Path, parameters: dict[str, str]) -> None:
    from odoolake.workspace.notebooks.runtime import _sql_statements, display

    for statement in _sql_statements(path.read_text()):
        result = spark.sql(statement, args=parameters or None)
        if result.columns:
            display(result)


def run(spec: dict[str, Any]) -> dict[str, Any]:
    kind, task = spec["kind"], spec["spec"]
    values: dict[str, dict[str, Any]] = dict(spec.get("task_values") or {})
    outcome: dict[str, Any] = {"exit_value": None, "task_values": {}, "error": None, "error_trace": None}
    try:
        paths, spark = _session(spec)
        _apply_cluster(task, spark)
        if kind == "notebook_task":
            from odoolake.workspace.notebooks import run_notebook

            result = run_notebook(task["local_path"], spark, paths, task.get("base_parameters") or {}, values,
                                  spec["task_key"], echo=True)
            outcome["exit_value"] = result.exit_value
        elif kind == "spark_python_task":
            sys.argv = [task["local_path"], *task.get("parameters", [])]
            runpy.run_path(task["local_path"], run_name="__main__")
        elif kind == "python_wheel_task":
            _run_entry_point(task)
        elif kind == "sql_task":
            _run_sql_file(spark, Path(task["local_path"]), task.get("parameters") or {})
        elif kind == "pipeline":
            from odoolake.dlt import LiveSession, UpdateScope, run_pipeline
            from odoolake.workspace.notebooks import run_notebook

            configuration = {str(k): str(v) for k, v in (task.get("configuration") or {}).items()}
            for key, value in configuration.items():  # pipeline code reads its parameters with spark.conf.get
                spark.conf.set(key, value)

            def definitions() -> None:  # the notebooks' spark reads LIVE.<dataset> as the pipeline's own
                for notebook in task["notebooks"]:
                    run_notebook(notebook, LiveSession(spark), paths, configuration, echo=True)

            scope = UpdateScope(full_refresh=bool(task.get("full_refresh")),
                                refresh=frozenset(task.get("refresh_selection") or ()),
                                reset=frozenset(task.get("full_refresh_selection") or ()),
                                validate_only=bool(task.get("validate_only")))
            for dataset in run_pipeline(spark, definitions, task["target"], pipeline_id=task["pipeline_id"],
                                        scope=scope, update_id=task.get("update_id")):
                if scope.validate_only:
                    print(f"{dataset.kind} {dataset.name}: analysed (validate only, nothing written)")
                else:
                    print(f"{dataset.kind} {dataset.name}: {dataset.rows} rows; expectations {dataset.expectations}")
        else:
            raise ValueError(f"task type {kind} cannot run in a task process")
        outcome["task_values"] = values.get(spec["task_key"], {})
    except SystemExit as done:
        if done.code not in (None, 0):
            outcome["error"] = f"SystemExit: {done.code}"
            outcome["error_trace"] = task_trace(done)
    except BaseException as exc:  # the task's own failure, reported to the runner
        outcome["error"] = f"{type(exc).__name__}: {exc}"
        outcome["error_trace"] = task_trace(exc)
        traceback.print_exc()
    return outcome


TRACEBACK_HEAD = "Traceback (most recent call last):\n"
# The packages whose frames lead to the task's own code (this runner, the notebook runtime, runpy), not the user's.
RUNNER_FILES = (str(Path(__file__).parent), str(Path(__file__).parents[1] / "notebooks"), runpy.__file__)


def task_trace(exc: BaseException) -> str:
    """The traceback of a task's failure from the task's own code on (the notebook's cell, the script), as
    Databricks shows a task's error: the runner's frames before it are the platform's. All of it when no frame is
    the task's (a failure of the runner itself)."""
    frames = traceback.extract_tb(exc.__traceback__)
    first = next((i for i, frame in enumerate(frames) if not frame.filename.startswith(RUNNER_FILES)), 0)
    lines = traceback.format_exception(exc)  # the exceptions it was raised from first, each with its traceback
    starts = [i for i, line in enumerate(lines) if line == TRACEBACK_HEAD]
    head = "".join(lines[:starts[-1]]) if starts else ""
    return head + TRACEBACK_HEAD + "".join(traceback.format_list(frames[first:])) + \
        "".join(traceback.format_exception_only(exc))


def _run_entry_point(task: dict[str, Any]) -> None:
    package, name = task["package_name"], task["entry_point"]
    wanted = package.replace("-", "_").lower()
    matches = [ep for ep in importlib.metadata.entry_points(name=name)
               if ep.dist is None or ep.dist.name.replace("-", "_").lower() == wanted]
    if not matches:
        raise LookupError(f"Entry point {name!r} of package {package!r} is not installed in the local workspace.")
    named = task.get("named_parameters") or {}
    sys.argv = [name, *task.get("parameters", []), *[f"--{k}={v}" for k, v in named.items()]]
    matches[0].load()()


def _resolve_secrets(task: dict[str, Any]) -> None:
    from odoolake.workspace.secrets.reader import resolve_refs

    cluster = task.get(CLUSTER_KEY) or {}
    for holder, key in [(task, k) for k in ("base_parameters", "named_parameters", "parameters", "configuration")] + [
            (cluster, k) for k in ("spark_conf", "spark_env_vars")]:
        value = holder.get(key)
        if isinstance(value, dict):
            holder[key] = {k: resolve_refs(v) if isinstance(v, str) else v for k, v in value.items()}
        elif isinstance(value, list):
            holder[key] = [resolve_refs(v) if isinstance(v, str) else v for v in value]


def _apply_cluster(task: dict[str, Any], spark: Any) -> None:
    """The task's cluster settings, as its Databricks cluster would have them: ``spark_env_vars`` in the process's
    environment (never over a variable the runner set: those carry the task's credentials), ``spark_conf`` on its
    Spark session."""
    cluster = task.get(CLUSTER_KEY) or {}
    for name, value in (cluster.get("spark_env_vars") or {}).items():
        os.environ.setdefault(str(name), str(value))
    for key, value in (cluster.get("spark_conf") or {}).items():
        spark.conf.set(str(key), str(value))


def _exit_with_parent() -> None:
    """A task must not outlive its workspace server: an orphan would keep running against a dead engine, holding
    its table locks. The server's pid is watched; when it changes (the server died, even by SIGKILL), the task's
    whole process group (its children too) is killed."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os.killpg(os.getpgid(0), signal.SIGKILL)
                os._exit(137)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


PR_SET_CHILD_SUBREAPER = 36


def _adopt_orphans() -> None:
    """Become the child subreaper of everything this task starts (Linux): a child that daemonizes is re-parented
    here, not to PID 1, so the runner still sees it in this process's tree, counts its memory and stops it."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the process group still reaches children that do not start their own session


def main() -> None:
    from odoolake.workspace.secrets.redaction import RedactingStream, redact

    _exit_with_parent()
    _adopt_orphans()
    sys.stdout = RedactingStream(sys.stdout)
    sys.stderr = RedactingStream(sys.stderr)
    spec = json.loads(Path(sys.argv[1]).read_text())
    outcome: dict[str, Any]
    try:
        _resolve_secrets(spec["spec"])
    except Exception as exc:
        outcome = {"exit_value": None, "task_values": {}, "error": f"{type(exc).__name__}: {exc}", "error_trace": None}
    else:
        outcome = run(spec)
    Path(spec["result_path"]).write_text(json.dumps(redact(outcome), default=str))
    sys.stdout.flush()
    sys.exit(1 if outcome["error"] else 0)


if __name__ == "__main__":
    main()
