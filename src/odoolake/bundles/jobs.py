"""The part of a bundle a local job run needs: a job's notebook tasks in dependency order.

It reads ``databricks.yml`` and its ``include`` globs, resolves ``${var.x}`` from variable defaults and
``{{job.parameters.x}}`` from the job's parameter defaults, and orders tasks by ``depends_on``.
Targets, overrides and validation with file/line diagnostics belong to the full bundle loader.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from odoolake.errors import OdoolakeError

_VAR = re.compile(r"\$\{var\.([A-Za-z_][\w-]*)\}")
_JOB_PARAM = re.compile(r"\{\{\s*job\.parameters\.([\w-]+)\s*\}\}")


class BundleError(OdoolakeError):
    pass


@dataclass(frozen=True)
class NotebookTask:
    task_key: str
    notebook: Path
    parameters: dict[str, str] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()


def _load_tree(bundle_dir: Path) -> dict[str, Any]:
    root_file = bundle_dir / "databricks.yml"
    if not root_file.is_file():
        raise BundleError(f"No databricks.yml in {bundle_dir}")
    root = yaml.safe_load(root_file.read_text()) or {}
    jobs: dict[str, Any] = dict((root.get("resources") or {}).get("jobs") or {})
    sources = {key: root_file for key in jobs}
    for pattern in root.get("include") or []:
        for path in sorted(bundle_dir.glob(pattern)):
            part = yaml.safe_load(path.read_text()) or {}
            for key, job in ((part.get("resources") or {}).get("jobs") or {}).items():
                if key in jobs:
                    raise BundleError(f"{path}: job {key!r} is already defined in {sources[key]}")
                jobs[key] = job
                sources[key] = path
    return {"variables": root.get("variables") or {}, "jobs": jobs, "sources": sources}


def notebook_tasks(bundle_dir: Path, job_key: str, overrides: dict[str, str] | None = None) -> list[NotebookTask]:
    tree = _load_tree(bundle_dir)
    if job_key not in tree["jobs"]:
        raise BundleError(f"Job {job_key!r} is not in the bundle; it has {', '.join(sorted(tree['jobs'])) or 'none'}.")
    job, source = tree["jobs"][job_key], tree["sources"][job_key]
    variables = {name: str(spec.get("default")) for name, spec in tree["variables"].items()
                 if isinstance(spec, dict) and spec.get("default") is not None}

    def var(text: str) -> str:
        def sub(m: re.Match[str]) -> str:
            if m.group(1) not in variables:
                raise BundleError(f"{source}: ${{var.{m.group(1)}}} has no value (no default in databricks.yml)")
            return variables[m.group(1)]

        return _VAR.sub(sub, text)

    job_params = {p["name"]: var(str(p.get("default", ""))) for p in job.get("parameters") or []}
    job_params.update(overrides or {})
    tasks: dict[str, NotebookTask] = {}
    for task in job.get("tasks") or []:
        key = task.get("task_key")
        nb = (task.get("notebook_task") or {}).get("notebook_path")
        if not key or not nb:
            raise BundleError(f"{source}: every task of {job_key} needs a task_key and a notebook_task.notebook_path")
        params = {k: _JOB_PARAM.sub(lambda m: job_params.get(m.group(1), ""), var(str(v)))
                  for k, v in ((task.get("notebook_task") or {}).get("base_parameters") or {}).items()}
        deps = tuple(d["task_key"] for d in task.get("depends_on") or [])
        tasks[key] = NotebookTask(key, (source.parent / nb).resolve(), params, deps)
    return _ordered(tasks, source)


def _ordered(tasks: dict[str, NotebookTask], source: Path) -> list[NotebookTask]:
    order: list[NotebookTask] = []
    state: dict[str, str] = {}

    def visit(key: str, path: list[str]) -> None:
        if state.get(key) == "done":
            return
        if state.get(key) == "visiting":
            raise BundleError(f"{source}: depends_on has a cycle: {' -> '.join([*path, key])}")
        if key not in tasks:
            raise BundleError(f"{source}: task {path[-1]!r} depends on unknown task {key!r}")
        state[key] = "visiting"
        for dep in tasks[key].depends_on:
            visit(dep, [*path, key])
        state[key] = "done"
        order.append(tasks[key])

    for key in tasks:
        visit(key, [])
    return order
