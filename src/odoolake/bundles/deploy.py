"""Deploy, run and destroy a bundle through the workspace API with the official SDK — one code path for the
local workspace and for a real Databricks workspace.

Deploy is a plan, then actions: sync the bundle's source files to ``workspace.file_path`` (notebooks become
notebooks, other files stay files), create or reset each job with its notebook paths rewritten to workspace
paths, and record what the bundle owns in ``state_path/resources.json``. Re-deploying updates in place
(``jobs/reset``); destroy deletes only the resources recorded there, then the bundle's root folder.
Experiments, workspace-registry models, Unity Catalog ``registered_models`` and serving endpoints are deployed too.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from odoolake.bundles import sync
from odoolake.bundles.loader import Bundle, BundleError, Diagnostic
from odoolake.bundles.schema import PRINCIPAL_FIELDS, RESOURCE_LEVELS

LOG = logging.getLogger(__name__)
SYNC_SNAPSHOT = "sync-snapshot.json"  # the files the last deploy uploaded, beside resources.json
NOTEBOOK_HEADERS = ("# Databricks notebook source", "-- Databricks notebook source")


@dataclass
class Action:
    kind: str  # create | update | unchanged | skip | delete
    resource: str  # jobs.bir_etl
    detail: str = ""


@dataclass
class DeployResult:
    actions: list[Action] = field(default_factory=list)
    files: int = 0  # uploaded: new or changed since the last deploy
    unchanged_files: int = 0
    ids: dict[str, str] = field(default_factory=dict)
    artifacts: list[str] = field(default_factory=list)


def _state_path(bundle: Bundle) -> str:
    return f"{bundle.config['workspace']['state_path']}/resources.json"


def read_state(w: Any, bundle: Bundle) -> dict[str, str]:
    return _read_json(w, _state_path(bundle))


def _write_state(w: Any, bundle: Bundle, state: dict[str, str]) -> None:
    _write_json(w, bundle, _state_path(bundle), state)


def _read_json(w: Any, path: str) -> dict:
    """A JSON file the deploy keeps in the workspace ({} when there is none yet)."""
    from databricks.sdk.errors import NotFound

    try:
        raw = w.workspace.download(path).read()
    except NotFound:
        return {}
    return json.loads(raw or b"{}")


def _write_json(w: Any, bundle: Bundle, path: str, data: Any) -> None:
    import io

    from databricks.sdk.service.workspace import ImportFormat

    w.workspace.mkdirs(bundle.config["workspace"]["state_path"])
    w.workspace.upload(path, io.BytesIO(json.dumps(data, indent=2).encode()), format=ImportFormat.AUTO,
                       overwrite=True)


def _sync_files(w: Any, bundle: Bundle) -> tuple[int, int]:
    """Upload the bundle's files (``sync.selected_files``: its .gitignore, ``sync.include`` and ``sync.exclude``) to
    ``workspace.file_path`` (via workspace-files import-file), only those whose content changed since the last
    deploy to that path, and delete there what it uploaded that is gone or now lands under another name (a file
    that became a notebook, or the reverse), as the Databricks CLI's sync does. What it uploaded is kept beside the
    state (``SYNC_SNAPSHOT``: the file path, and each file's SHA-256 and the name it has there). Two files that
    would land under one name (``a.py`` and ``a.sql`` notebooks) are an error naming both. Returns (files uploaded,
    files unchanged)."""
    from databricks.sdk.errors import DatabricksError, NotFound

    root = bundle.root.resolve()
    file_path = bundle.config["workspace"]["file_path"]
    snapshot_path = f"{bundle.config['workspace']['state_path']}/{SYNC_SNAPSHOT}"
    snapshot = _read_json(w, snapshot_path)
    # another file path (workspace.file_path changed) starts afresh: everything is uploaded there
    known = (snapshot.get("files") or {}) if snapshot.get("file_path") == file_path else {}
    if not isinstance(known, dict) or any(not isinstance(v, dict) for v in known.values()):
        known = {}  # written by an earlier version: every file is uploaded again, nothing known to delete
    current: dict[str, dict[str, str]] = {}
    landed: dict[str, str] = {}
    changed: dict[str, bytes] = {}  # each file read once: what is uploaded is what was compared
    for rel in sync.selected_files(root, bundle.config.get("sync")):
        content = (root / rel).read_bytes()
        remote = sync.remote_name(rel, content)
        if remote in landed:
            raise BundleError([Diagnostic("error", f"both {landed[remote]} and {rel} would be {file_path}/{remote} in "
                                                   "the workspace: remove one of them from the bundle", "sync")])
        landed[remote] = rel
        current[rel] = {"sha256": sync.digest(content), "remote": remote}
        if known.get(rel) != current[rel]:
            changed[rel] = content
    for rel, before in known.items():  # gone, or landing elsewhere now: its old object goes first
        if rel not in current or current[rel]["remote"] != before.get("remote"):
            with contextlib.suppress(NotFound):
                w.workspace.delete(f"{file_path}/{before['remote']}")
    for folder in sorted({str(PurePosixPath(f"{file_path}/{rel}").parent) for rel in changed}):
        w.workspace.mkdirs(folder)
    for rel, content in changed.items():
        try:
            w.api_client.do("POST", f"/api/2.0/workspace-files/import-file{quote(f'{file_path}/{rel}')}",
                            query={"overwrite": "true"}, data=content,
                            headers={"Content-Type": "application/octet-stream"})
        except DatabricksError as exc:
            raise BundleError([Diagnostic("error", f"{rel} could not be uploaded: {exc}", "sync")]) from None
    _write_json(w, bundle, snapshot_path, {"file_path": file_path, "files": current})
    return len(changed), len(current) - len(changed)


def _workspace_path(bundle: Bundle, source_file: str, relative: str, notebook: bool) -> str:
    """A path relative to the YAML file that declares it, as a workspace path (notebooks lose their extension)."""
    if relative.startswith(("/", "dbfs:", "${")):
        return relative
    local = (Path(source_file).parent / relative).resolve()
    rel = local.relative_to(bundle.root.resolve()).as_posix()
    if notebook and local.suffix in (".py", ".sql", ".scala", ".r", ".ipynb"):
        rel = rel[: -len(local.suffix)]
    return f"{bundle.config['workspace']['file_path']}/{rel}"


def build_artifacts(w: Any, bundle: Bundle) -> dict[str, str]:
    """Build each ``artifacts`` entry (``type: whl``) and upload the wheels to ``artifact_path/.internal``.

    Returns local wheel path → workspace path, for ``libraries: [{whl: ../dist/*.whl}]`` to be rewritten.
    """
    import os
    import shlex
    import shutil
    import subprocess
    import sys

    built: dict[str, str] = {}
    internal = f"{bundle.config['workspace']['artifact_path']}/.internal"
    for key, art in (bundle.config.get("artifacts") or {}).items():
        where = f"artifacts.{key}"
        if (art or {}).get("type", "whl") != "whl":
            raise BundleError([Diagnostic("error", f"artifact type {art.get('type')!r} is not supported; only whl",
                                          where, bundle.locations.get(where))])
        folder = (bundle.root / art.get("path", ".")).resolve()
        command = shlex.split(art.get("build") or "uv build --wheel")
        tool_dir = os.path.dirname(sys.executable)  # uv and python from the environment odoolake runs in
        exe = shutil.which(command[0], path=tool_dir + os.pathsep + os.environ.get("PATH", ""))
        if exe is None:
            raise BundleError([Diagnostic("error", f"cannot build {key}: {command[0]!r} is not on PATH", where,
                                          bundle.locations.get(where))])
        started = time.time()
        proc = subprocess.run([exe, *command[1:]], cwd=folder, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            raise BundleError([Diagnostic("error", f"building {key} failed ({' '.join(command)} in {folder}): "
                                          + " | ".join(tail), where, bundle.locations.get(where))])
        wheels = [p for p in (folder / "dist").glob("*.whl") if p.stat().st_mtime >= started - 1]
        if not wheels:
            raise BundleError([Diagnostic("error", f"building {key} produced no wheel in {folder / 'dist'}", where,
                                          bundle.locations.get(where))])
        w.workspace.mkdirs(internal)
        for wheel in wheels:
            target = f"{internal}/{wheel.name}"
            w.api_client.do("POST", f"/api/2.0/workspace-files/import-file{target}", query={"overwrite": "true"},
                            data=wheel.read_bytes(), headers={"Content-Type": "application/octet-stream"})
            built[str(wheel)] = target
    return built


def _library_path(bundle: Bundle, source_file: str, pattern: str, built: dict[str, str], where: str) -> str:
    """A ``whl`` library: a workspace/volume path stays; a local glob must match a wheel built by this deploy."""
    import fnmatch

    if pattern.startswith(("/", "dbfs:", "s3:", "abfss:", "gs:")):
        return pattern
    local_glob = str((Path(source_file).parent / pattern).resolve())
    matches = [target for local, target in built.items() if fnmatch.fnmatch(local, local_glob)]
    if not matches:
        raise BundleError([Diagnostic("error", f"library {pattern} matches no wheel built by the bundle's artifacts",
                                      where, bundle.locations.get(where))])
    return sorted(matches)[-1]


def job_settings(bundle: Bundle, key: str, built: dict[str, str] | None = None) -> dict[str, Any]:
    """The job as the Jobs API wants it: paths translated, bundle-only fields removed, deployment recorded."""
    spec = copy.deepcopy(bundle.resources("jobs")[key])
    spec.pop("permissions", None)
    spec.pop("lifecycle", None)
    for i, task in enumerate(spec.get("tasks") or []):
        where = bundle.locations.get(f"resources.jobs.{key}.tasks[{i}]")
        source = where.file if where else str(bundle.root / "databricks.yml")
        if "notebook_task" in task:
            task["notebook_task"]["notebook_path"] = _workspace_path(bundle, source, task["notebook_task"]["notebook_path"],
                                                                    True)
        if "spark_python_task" in task:
            task["spark_python_task"]["python_file"] = _workspace_path(bundle, source,
                                                                       task["spark_python_task"]["python_file"], False)
        if "sql_task" in task and "file" in task["sql_task"]:
            task["sql_task"]["file"]["path"] = _workspace_path(bundle, source, task["sql_task"]["file"]["path"], False)
        libraries = []
        for j, lib in enumerate(task.get("libraries") or []):
            if "whl" in lib:
                lib = {**lib, "whl": _library_path(bundle, source, lib["whl"], built or {},
                                                   f"resources.jobs.{key}.tasks[{i}].libraries[{j}].whl")}
            libraries.append(lib)
        if libraries:
            task["libraries"] = libraries
    run_as = bundle.config.get("run_as") or {}
    identity = {k: run_as[k] for k in ("service_principal_name", "user_name") if run_as.get(k)}
    if identity and "run_as" not in spec:
        spec["run_as"] = identity  # the bundle's run_as applies to every job that does not set its own
    metadata = f"{bundle.config['workspace']['state_path']}/metadata.json"
    spec["deployment"] = {"kind": "BUNDLE", "metadata_file_path": metadata}
    spec.setdefault("edit_mode", "UI_LOCKED")
    spec.setdefault("format", "MULTI_TASK")
    return spec


def pipeline_settings(bundle: Bundle, key: str) -> dict[str, Any]:
    """The pipeline as the Pipelines API wants it: library paths translated to workspace notebooks."""
    spec = copy.deepcopy(bundle.resources("pipelines")[key])
    spec.pop("permissions", None)
    for i, lib in enumerate(spec.get("libraries") or []):
        where = bundle.locations.get(f"resources.pipelines.{key}.libraries[{i}]")
        source = where.file if where else str(bundle.root / "databricks.yml")
        if "notebook" in lib:
            lib["notebook"]["path"] = _workspace_path(bundle, source, lib["notebook"]["path"], True)
        if "file" in lib:
            lib["file"]["path"] = _workspace_path(bundle, source, lib["file"]["path"], False)
    spec.setdefault("root_path", bundle.config["workspace"]["file_path"])
    return spec


# The order resources deploy in, each also after the resources whose ids it names (``_in_order``): a
# ``${resources.<kind>.<key>.id}`` is known once that resource is deployed (``with_ids``).
DEPLOY_ORDER = ("experiments", "models", "registered_models", "pipelines", "jobs", "model_serving_endpoints")
OTHER_KINDS = ("experiments", "models", "registered_models", "model_serving_endpoints")  # deleted by _delete_other
APPLIED_PERMISSIONS = ("jobs", "pipelines")  # kinds whose permissions a deploy sets (the Permissions API's types)
ADOPTED = "adopted."
DELETED = "deleted"  # an MLflow experiment's lifecycle_stage once deleted (restorable; its name stays taken)
ID_REFERENCE = re.compile(r"\$\{resources\.([\w-]+)\.([\w-]+)\.id\}")


def _id_references(value: Any) -> set[tuple[str, str]]:
    """The (kind, key) of every ``${resources.<kind>.<key>.id}`` in a resource's settings."""
    if isinstance(value, dict):
        return set().union(*(_id_references(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_id_references(v) for v in value)) if value else set()
    return {(m.group(1), m.group(2)) for m in ID_REFERENCE.finditer(value)} if isinstance(value, str) else set()


def _in_order(bundle: Bundle) -> list[str]:
    """The bundle's resources (``kind.key``) in ``DEPLOY_ORDER``, each moved after the resources whose ids its
    settings name; a resource naming its own id, or resources naming each other's in a cycle, is an error."""
    base = [f"{kind}.{key}" for kind in DEPLOY_ORDER for key in bundle.resources(kind)]
    needs: dict[str, set[str]] = {}
    for resource in base:
        kind, key = resource.split(".", 1)
        named = {f"{k}.{n}" for k, n in _id_references(bundle.resources(kind)[key])}
        if resource in named:
            where = f"resources.{resource}"
            raise BundleError([Diagnostic("error", f"{resource} names its own id (${{resources.{resource}.id}}), "
                                          "which exists only once it is deployed", where, bundle.locations.get(where))])
        needs[resource] = named & set(base)
    ordered: list[str] = []
    while len(ordered) < len(base):
        ready = next((r for r in base if r not in ordered and needs[r] <= set(ordered)), None)
        if ready is None:  # every one left waits for another: a cycle
            left = [r for r in base if r not in ordered]
            raise BundleError([Diagnostic("error", f"resources name each other's ids in a cycle ({', '.join(left)}): "
                                          "none can be deployed first", "resources", None)])
        ordered.append(ready)
    return ordered


def with_ids(settings: Any, state: dict[str, str], where: str) -> Any:
    """``settings`` with each ``${resources.<kind>.<key>.id}`` replaced by the deployed resource's id (a job's as an
    integer where the reference is the whole value, as ``run_job_task.job_id`` wants it)."""
    if isinstance(settings, dict):
        return {k: with_ids(v, state, f"{where}.{k}") for k, v in settings.items()}
    if isinstance(settings, list):
        return [with_ids(v, state, f"{where}[{i}]") for i, v in enumerate(settings)]
    if not isinstance(settings, str) or "${resources." not in settings:
        return settings

    def deployed(match: re.Match) -> str:
        resource = f"{match.group(1)}.{match.group(2)}"
        ident = state.get(resource) or state.get(ADOPTED + resource)
        if ident is None:
            raise BundleError([Diagnostic("error", f"{match.group(0)} names {resource}, which is not deployed: it "
                                          "has no id yet", where, None)])
        return ident

    whole = ID_REFERENCE.fullmatch(settings)
    if whole is not None and whole.group(1) == "jobs" and where.endswith(".job_id"):  # the API's only integer id
        return int(deployed(whole))
    return ID_REFERENCE.sub(deployed, settings)


def _spec(bundle: Bundle, resource: str, state: dict[str, str]) -> Any:
    """A resource's settings as the bundle gives them, with the ids of resources deployed before it."""
    kind, key = resource.split(".", 1)
    return with_ids(bundle.resources(kind)[key], state, f"resources.{resource}")


def _removal_order(resource: str) -> int:
    """Where a resource comes when resources are deleted: the reverse of DEPLOY_ORDER (endpoints before models, jobs
    before experiments)."""
    kinds = tuple(reversed(DEPLOY_ORDER))
    kind = resource.split(".", 1)[0]
    return kinds.index(kind) if kind in kinds else -1


def plan(w: Any, bundle: Bundle) -> list[Action]:
    """What a deploy does, in order: first it deletes what is no longer in the bundle (in destroy's order), then
    it creates or updates the rest. Deleted first, a resource whose key was renamed frees its name for the new one
    (a pipeline's name is unique: created first, the new one was refused 'already exists')."""
    state = read_state(w, bundle)
    removed = [resource for resource in state if not resource.startswith(ADOPTED) and
               resource.split(".", 1)[1] not in bundle.resources(resource.split(".", 1)[0])]
    actions = [Action("delete", resource, "no longer in the bundle") for resource in sorted(removed, key=_removal_order)]
    for resource in _in_order(bundle):
        owned = resource in state or f"{ADOPTED}{resource}" in state
        actions.append(Action("update" if owned else "create", resource))
    return actions


def _ident(state: dict[str, str], resource: str) -> str:
    return state.get(resource) or state[ADOPTED + resource]


def _deploy_experiment(w: Any, spec: dict, action: Action, state: dict[str, str]) -> None:
    from databricks.sdk.errors import NotFound
    from databricks.sdk.service.ml import ExperimentTag

    name = spec["name"]
    if action.kind == "update":
        ident = _ident(state, action.resource)
        found = w.experiments.get_experiment(ident).experiment
        if found.lifecycle_stage == DELETED:  # deleted outside the bundle: deployed again, it is there again
            w.experiments.restore_experiment(ident)
        # the workspace keeps /Workspace/Shared/x as /Shared/x: the same name, not a rename on every deploy
        same = name[len("/Workspace"):] if name.startswith("/Workspace/") else name
        if found.name != same:
            w.workspace.mkdirs(str(PurePosixPath(name).parent))
            w.experiments.update_experiment(ident, new_name=name)
        return
    try:
        existing = w.experiments.get_by_name(name).experiment
    except NotFound:
        existing = None
    if existing is not None and existing.lifecycle_stage == DELETED:
        # a deleted experiment keeps its name (a bundle destroy deletes its experiment): it is brought back, and is
        # the bundle's again, where a new one of that name cannot be made
        w.experiments.restore_experiment(existing.experiment_id)
        state[action.resource] = existing.experiment_id
        action.kind, action.detail = "update", f"restored the deleted experiment {name}"
        return
    if existing is not None:
        state[ADOPTED + action.resource] = existing.experiment_id
        action.kind, action.detail = "update", f"adopted the existing experiment {name} (destroy leaves it)"
        return
    tags = [ExperimentTag(key=t["key"], value=t.get("value", "")) for t in spec.get("tags") or []]
    w.workspace.mkdirs(str(PurePosixPath(name).parent))  # Databricks makes no folder for an experiment
    created = w.experiments.create_experiment(name, artifact_location=spec.get("artifact_location"), tags=tags or None)
    state[action.resource] = created.experiment_id


def _adopted_or_created(action: Action, state: dict[str, str], name: str, what: str, get: Callable[[], Any],
                        create: Callable[[], Any]) -> bool:
    """For a resource to create: adopt the one of this name that training (or anyone) made first (destroy leaves
    it), else create it. Whether it was created (an adopted one is then updated like a deployed one)."""
    from databricks.sdk.errors import NotFound

    try:
        get()
    except NotFound:
        create()
        state[action.resource] = name
        return True
    state[ADOPTED + action.resource] = name
    action.kind, action.detail = "update", f"adopted the existing {what} {name} (destroy leaves it)"
    return False


def _deploy_model(w: Any, spec: dict, action: Action, state: dict[str, str]) -> None:
    name, description = spec["name"], spec.get("description")
    if action.kind == "create" and _adopted_or_created(
            action, state, name, "registered model", lambda: w.model_registry.get_model(name),
            lambda: w.model_registry.create_model(name, description=description)):
        return
    w.model_registry.update_model(_ident(state, action.resource), description=description)


def _deploy_registered_model(w: Any, spec: dict, action: Action, state: dict[str, str]) -> None:
    """A Unity Catalog model (``catalog_name``, ``schema_name``, ``name``, ``comment``): made, or adopted when
    training registered it first, and its comment kept in step. A changed catalog, schema or name recreates it, as
    the Databricks CLI does: the new one is made, then the bundle's old one deleted (an adopted one is left)."""
    from databricks.sdk.errors import NotFound

    where = f"resources.{action.resource}"
    for needed in ("catalog_name", "schema_name", "name"):
        if not isinstance(spec.get(needed), str) or not spec[needed]:
            raise BundleError([Diagnostic("error", f"{action.resource} needs {needed} (a Unity Catalog model is "
                                          "catalog_name.schema_name.name)", f"{where}.{needed}", None)])
    full_name = f"{spec['catalog_name']}.{spec['schema_name']}.{spec['name']}"
    comment = spec.get("comment")
    if spec.get("grants"):
        action.detail = "grants not applied: the local workspace has roles, not Unity Catalog privileges"
    replaced: tuple[str, str] | None = None  # (state key, name) a changed name replaces, once the new one exists
    if action.kind == "update":
        key = action.resource if action.resource in state else ADOPTED + action.resource
        if state[key].lower() != full_name.lower():
            replaced = key, state[key]
            action.kind, action.detail = "create", f"recreated: {state[key]} became {full_name}"
    created = action.kind == "create" and _adopted_or_created(
        action, state, full_name, "model", lambda: w.registered_models.get(full_name),
        lambda: w.registered_models.create(catalog_name=spec["catalog_name"], schema_name=spec["schema_name"],
                                           name=spec["name"], comment=comment,
                                           storage_location=spec.get("storage_location")))
    if not created:
        w.registered_models.update(full_name, comment=comment)
    if replaced is not None:  # the new one exists: the old one goes (an adopted one is only forgotten)
        key, old = replaced
        if state.get(key) == old:
            del state[key]
        if key == action.resource:
            with contextlib.suppress(NotFound):
                w.registered_models.delete(old)


def _deploy_endpoint(w: Any, spec: dict, action: Action, state: dict[str, str]) -> None:
    from databricks.sdk.errors import NotFound

    name = spec["name"]
    try:
        if action.kind == "create":
            w.api_client.do("POST", "/api/2.0/serving-endpoints", body=spec)
            state[action.resource] = name
        else:
            w.api_client.do("PUT", f"/api/2.0/serving-endpoints/{_ident(state, action.resource)}/config",
                            body=spec.get("config") or {})
    except NotFound as exc:
        action.kind, action.detail = "skip", f"deferred: {exc} Run the job that registers it, then deploy again."


def deploy(w: Any, bundle: Bundle, on_step: Callable[[str], None] | None = None) -> DeployResult:
    """Deploy the bundle; ``on_step`` hears each step as it starts (progress)."""
    from databricks.sdk.service.jobs import JobSettings

    step = on_step or (lambda _: None)
    step("planning")
    result = DeployResult(actions=plan(w, bundle))
    state = read_state(w, bundle)
    step(f"uploading files to {bundle.config['workspace']['file_path']}")
    result.files, result.unchanged_files = _sync_files(w, bundle)
    step("building artifacts")
    built = build_artifacts(w, bundle)
    result.artifacts = sorted(built.values())
    current: str | None = None  # the resource being deployed
    try:  # what was made is recorded even when a later step fails: a second deploy updates it, destroy removes it
        for action in result.actions:
            kind, key = action.resource.split(".", 1)
            if action.kind == "skip":
                continue
            current = action.resource
            step(f"{action.kind} {action.resource}")
            if kind == "experiments" and action.kind != "delete":
                _deploy_experiment(w, _spec(bundle, action.resource, state), action, state)
            elif kind == "models" and action.kind != "delete":
                _deploy_model(w, _spec(bundle, action.resource, state), action, state)
            elif kind == "registered_models" and action.kind != "delete":
                _deploy_registered_model(w, _spec(bundle, action.resource, state), action, state)
            elif kind == "model_serving_endpoints" and action.kind != "delete":
                _deploy_endpoint(w, _spec(bundle, action.resource, state), action, state)
            elif action.kind == "delete" and kind in OTHER_KINDS:
                _delete_other(w, kind, state.pop(action.resource))
            elif action.kind == "create" and kind == "jobs":
                settings = JobSettings.from_dict(with_ids(job_settings(bundle, key, built), state,
                                                          f"resources.jobs.{key}")).as_dict()  # typed round trip
                created = w.api_client.do("POST", "/api/2.2/jobs/create", body=settings)
                state[action.resource] = str(created["job_id"])
                _apply_permissions(w, bundle, action, state[action.resource])
            elif action.kind == "update" and kind == "jobs":
                w.jobs.reset(int(state[action.resource]), JobSettings.from_dict(
                    with_ids(job_settings(bundle, key, built), state, f"resources.jobs.{key}")))
                _apply_permissions(w, bundle, action, state[action.resource])
            elif action.kind == "delete" and kind == "jobs":
                _delete_job(w, int(state.pop(action.resource)))
            elif action.kind == "create" and kind == "pipelines":
                created = w.api_client.do("POST", "/api/2.0/pipelines", body=with_ids(
                    pipeline_settings(bundle, key), state, f"resources.pipelines.{key}"))
                state[action.resource] = created["pipeline_id"]
                _apply_permissions(w, bundle, action, state[action.resource])
            elif action.kind == "update" and kind == "pipelines":
                w.api_client.do("PUT", f"/api/2.0/pipelines/{state[action.resource]}", body=with_ids(
                    pipeline_settings(bundle, key), state, f"resources.pipelines.{key}"))
                _apply_permissions(w, bundle, action, state[action.resource])
            elif action.kind == "delete" and kind == "pipelines":
                _delete_pipeline(w, state.pop(action.resource))
            if kind not in APPLIED_PERMISSIONS and action.kind not in ("delete", "skip") and resource_permissions(
                    bundle, kind, key):
                action.detail = ", ".join(filter(None, (action.detail, "permissions not applied: a deploy sets "
                                                        "those of jobs and pipelines only")))
    except BaseException as exc:
        if current is not None and isinstance(exc, Exception):
            exc.add_note(f"{RESOURCE_NOTE}{current}")  # which resource failed: the CLI's error line names it
        with contextlib.suppress(Exception):  # the step's own error is the one to report
            _write_state(w, bundle, state)
        raise
    result.ids = dict(state)
    _write_state(w, bundle, state)
    return result


def resource_permissions(bundle: Bundle, kind: str, key: str) -> list[dict[str, str]]:
    """The access control list a resource gets: its own ``permissions``, then each top-level one mapped to the
    resource's level, unless the resource already names that principal (as the Databricks CLI merges them)."""
    own = list(bundle.resources(kind)[key].get("permissions") or [])
    for grant in bundle.config.get("permissions") or []:  # levels checked when the bundle loaded (schema.py)
        level = RESOURCE_LEVELS.get(kind, {}).get(grant["level"])
        named = {(f, grant[f]) for f in PRINCIPAL_FIELDS if grant.get(f)}
        if level and not any((f, mine.get(f)) in named for mine in own for f in PRINCIPAL_FIELDS):
            own.append({**{f: v for f, v in named}, "level": level})
    return [{**{f: g[f] for f in PRINCIPAL_FIELDS if g.get(f)}, "permission_level": g.get("level", "")} for g in own]


def _apply_permissions(w: Any, bundle: Bundle, action: Action, ident: str) -> None:
    """Set a job's or pipeline's access control list (PUT: it becomes the object's list; its owner stays)."""
    kind, key = action.resource.split(".", 1)
    acl = resource_permissions(bundle, kind, key)
    if acl:
        w.api_client.do("PUT", f"/api/2.0/permissions/{kind}/{ident}", body={"access_control_list": acl})
        action.detail = ", ".join(filter(None, (action.detail, f"permissions set: {len(acl)} grant(s)")))


def _delete_job(w: Any, job_id: int) -> None:
    from databricks.sdk.errors import NotFound

    try:
        w.jobs.delete(job_id)
    except NotFound:
        LOG.info("job %s was already gone", job_id)


def _delete_other(w: Any, kind: str, ident: str) -> None:
    from databricks.sdk.errors import NotFound

    with contextlib.suppress(NotFound):
        if kind == "experiments":
            w.experiments.delete_experiment(ident)
        elif kind == "models":
            w.model_registry.delete_model(ident)
        elif kind == "registered_models":
            w.registered_models.delete(ident)
        elif kind == "model_serving_endpoints":
            w.serving_endpoints.delete(ident)


def _delete_pipeline(w: Any, pipeline_id: str) -> None:
    from databricks.sdk.errors import NotFound

    with contextlib.suppress(NotFound):
        w.pipelines.delete(pipeline_id)


@dataclass
class PipelineUpdate:
    state: str  # COMPLETED | FAILED | CANCELED
    update_id: str
    reason: str = ""  # why it did not complete, as the pipeline's events say


def run_pipeline_update(w: Any, bundle: Bundle, key: str, full_refresh: bool = False, timeout: float = 1800,
                        refresh: list[str] | None = None, reset: list[str] | None = None,
                        validate_only: bool = False) -> PipelineUpdate:
    """Start an update of a deployed pipeline (every dataset, or ``refresh`` and ``reset`` only) and wait."""

    state = read_state(w, bundle)
    if f"pipelines.{key}" not in state:
        raise BundleError([Diagnostic("error", f"pipeline {key!r} is not deployed for target {bundle.target!r}")])
    pipeline_id = state[f"pipelines.{key}"]
    update_id = w.pipelines.start_update(pipeline_id, full_refresh=full_refresh, refresh_selection=refresh or None,
                                         full_refresh_selection=reset or None,
                                         validate_only=validate_only or None).update_id
    deadline = time.time() + timeout
    while time.time() < deadline:
        current = w.pipelines.get_update(pipeline_id, update_id).update.state.value
        if current in ("COMPLETED", "FAILED", "CANCELED"):
            reason = "" if current == "COMPLETED" else next(
                (e.message for e in w.pipelines.list_pipeline_events(pipeline_id, filter="level='ERROR'")
                 if e.origin and e.origin.update_id == update_id), "")
            return PipelineUpdate(current, update_id, reason)
        time.sleep(1)
    raise BundleError([Diagnostic("error", f"pipeline {key} update {update_id} did not finish in {timeout:.0f} s")])


RUN_DONE = ("TERMINATED", "SKIPPED", "INTERNAL_ERROR")
RESOURCE_NOTE = "resource: "  # the note a deploy adds to the error of the resource it was deploying


def run(w: Any, bundle: Bundle, key: str, params: dict[str, str] | None = None,
        on_update: Callable[[Any], None] | None = None, poll_seconds: float = 1.0) -> Any:
    """Run a deployed job and wait for it; returns the SDK Run. ``on_update`` sees the run at every poll (progress)."""

    if key not in bundle.resources("jobs"):
        raise BundleError([Diagnostic("error", f"no job or pipeline {key!r} in the bundle (jobs: "
                                      f"{', '.join(bundle.resources('jobs')) or 'none'}; pipelines: "
                                      f"{', '.join(bundle.resources('pipelines')) or 'none'})")])
    state = read_state(w, bundle)
    if f"jobs.{key}" not in state:
        known = [r.split(".", 1)[1] for r in state if r.startswith("jobs.")]
        raise BundleError([Diagnostic("error", f"job {key!r} is not deployed for target {bundle.target!r}; "
                                      f"deployed: {', '.join(known) or 'none'} (run bundle deploy first)")])
    run_id = w.jobs.run_now(job_id=int(state[f"jobs.{key}"]), job_parameters=params or None).run_id
    while True:
        current = w.jobs.get_run(run_id)
        if on_update is not None:
            on_update(current)
        if current.state and current.state.life_cycle_state and current.state.life_cycle_state.value in RUN_DONE:
            return current
        time.sleep(poll_seconds)


def destroy(w: Any, bundle: Bundle) -> list[str]:
    """Delete what the bundle deployed (and only that), then its root folder; returns the resources removed."""
    state = read_state(w, bundle)
    removed = []
    for resource, ident in sorted(state.items(), key=lambda item: _removal_order(item[0])):
        kind = resource.split(".", 1)[0]
        if resource.startswith(ADOPTED):
            continue
        if kind == "jobs":
            _delete_job(w, int(ident))
        elif kind == "pipelines":
            _delete_pipeline(w, ident)
        else:
            _delete_other(w, kind, ident)
        removed.append(resource)
    from databricks.sdk.errors import NotFound

    with contextlib.suppress(NotFound):
        w.workspace.delete(bundle.config["workspace"]["root_path"], recursive=True)
    return removed
