"""A job's notebook tasks from a bundle, in dependency order, for a local run (the demo's ``bir_etl``).

The bundle is loaded by ``odoolake.bundles.loader`` (includes, targets, variables, validation); this module
only turns one job into runnable steps: notebook files on disk, base parameters with ``{{job.parameters.x}}``
taken from the job's parameter defaults (or ``overrides``), ordered by ``depends_on``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from odoolake.bundles.loader import BundleError, Diagnostic, load_bundle

_JOB_PARAM = re.compile(r"\{\{\s*job\.parameters\.([\w-]+)\s*\}\}")

__all__ = ["BundleError", "NotebookTask", "notebook_tasks"]


@dataclass(frozen=True)
class NotebookTask:
    task_key: str
    notebook: Path
    parameters: dict[str, str] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()


def notebook_tasks(bundle_dir: Path, job_key: str, overrides: dict[str, str] | None = None,
                   target: str | None = None) -> list[NotebookTask]:
    bundle = load_bundle(bundle_dir, target, env={}, raise_errors=False)
    jobs = bundle.resources("jobs")
    if job_key not in jobs:
        raise BundleError([Diagnostic("error", f"Job {job_key!r} is not in the bundle; it has "
                                      f"{', '.join(sorted(jobs)) or 'none'}.")])
    if bundle.has_errors:
        raise BundleError(bundle.diagnostics)
    job = jobs[job_key]
    params = {p["name"]: str(p.get("default", "")) for p in job.get("parameters") or []}
    params.update(overrides or {})
    tasks: dict[str, NotebookTask] = {}
    for i, task in enumerate(job.get("tasks") or []):
        path = f"resources.jobs.{job_key}.tasks[{i}]"
        nb = (task.get("notebook_task") or {}).get("notebook_path")
        if not nb:
            raise BundleError([Diagnostic("error", "a local run needs notebook tasks", path, bundle.locations.get(path))])
        where = bundle.locations.get(f"{path}.notebook_task.notebook_path")
        folder = Path(where.file).parent if where else Path(bundle_dir)
        base = {k: _JOB_PARAM.sub(lambda m: params.get(m.group(1), ""), str(v))
                for k, v in (task["notebook_task"].get("base_parameters") or {}).items()}
        deps = tuple(d["task_key"] for d in task.get("depends_on") or [])
        tasks[task["task_key"]] = NotebookTask(task["task_key"], (folder / nb).resolve(), base, deps)
    order: list[NotebookTask] = []
    done: set[str] = set()
    while len(order) < len(tasks):  # the loader has already refused cycles and unknown dependencies
        for key, task in tasks.items():
            if key not in done and all(d in done for d in task.depends_on):
                order.append(task)
                done.add(key)
    return order
