"""Load a Databricks Asset Bundle: YAML with locations, includes, target selection and merge, variables,
interpolation, presets of the target mode — then validation that reports every problem with file, line and
key path (``resources.jobs.bir_etl.tasks[1].depends_on[0]``).

Phases, as the Databricks CLI names them: load → select target → merge → variables → interpolate →
mode presets → validate. Each step appends ``Diagnostic`` objects; ``load_bundle`` raises ``BundleError`` with
all of them when any is an error. Semantics follow shared/reference/databricks-api.md §8.
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from odoolake.bundles import schema
from odoolake.errors import OdoolakeError

TOP_LEVEL = {"bundle", "include", "variables", "workspace", "targets", "resources", "run_as", "presets",
             "permissions", "sync", "artifacts", "scripts", "python", "experimental"}
TARGET_KEYS = {"default", "mode", "workspace", "variables", "resources", "run_as", "presets", "permissions",
               "sync", "artifacts", "bundle", "git", "compute_id", "cluster_id"}
RESOURCE_TYPES = {"jobs", "pipelines", "experiments", "models", "registered_models", "model_serving_endpoints",
                  "schemas", "volumes", "clusters", "sql_warehouses", "dashboards", "apps", "secret_scopes",
                  "quality_monitors"}
TASK_TYPES = ("notebook_task", "spark_python_task", "python_wheel_task", "sql_task", "condition_task",
              "run_job_task", "pipeline_task", "spark_jar_task", "spark_submit_task", "dbt_task", "for_each_task")
_REF = re.compile(r"\$\{([A-Za-z_][\w\-]*(?:\.[\w\-]+|\[\d+\])*)\}")
MAX_ROUNDS = 11


@dataclass(frozen=True)
class Location:
    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Diagnostic:
    severity: str  # error | warning
    summary: str
    path: str = ""
    location: Location | None = None

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        at = f" (at {self.path})" if self.path else ""
        return f"{self.severity}: {where}{self.summary}{at}"


class BundleError(OdoolakeError):
    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        errors = [d for d in diagnostics if d.severity == "error"]
        warnings = [d for d in diagnostics if d.severity != "error"]
        also = f" and {len(warnings)} warning(s)" if warnings else ""
        super().__init__(f"The bundle has {len(errors)} error(s){also}:\n"
                         + "\n".join(f"  {d}" for d in errors + warnings))


@dataclass
class Bundle:
    root: Path
    target: str
    config: dict[str, Any]
    locations: dict[str, Location] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.config["bundle"]["name"]

    @property
    def has_errors(self) -> bool:
        return any(d.severity == "error" for d in self.diagnostics)

    def resources(self, kind: str) -> dict[str, dict]:
        return self.config.get("resources", {}).get(kind, {}) or {}


# -- YAML with locations -------------------------------------------------------------------------

def _path_str(parts: tuple) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _to_python(node: yaml.Node, file: str, parts: tuple, locations: dict[str, Location]) -> Any:
    locations.setdefault(_path_str(parts), Location(file, node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        out = {}
        for key_node, value_node in node.value:
            key = key_node.value
            locations[_path_str((*parts, key))] = Location(file, key_node.start_mark.line + 1,
                                                           key_node.start_mark.column + 1)
            out[key] = _to_python(value_node, file, (*parts, key), locations)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(item, file, (*parts, i), locations) for i, item in enumerate(node.value)]
    return yaml.safe_load(yaml.serialize(node))


def _read(path: Path, locations: dict[str, Location], diagnostics: list[Diagnostic]) -> dict[str, Any]:
    try:
        node = yaml.compose(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        loc = Location(str(path), mark.line + 1, mark.column + 1) if mark else Location(str(path), 1, 1)
        diagnostics.append(Diagnostic("error", f"not valid YAML: {getattr(exc, 'problem', exc)}", "", loc))
        return {}
    if node is None:
        return {}
    if not isinstance(node, yaml.MappingNode):
        diagnostics.append(Diagnostic("error", "the file must be a YAML mapping", "", Location(str(path), 1, 1)))
        return {}
    return _to_python(node, str(path), (), locations)


# -- merge ----------------------------------------------------------------------------------------

def _deep_merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for key, value in override.items():
            out[key] = _deep_merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    return copy.deepcopy(override)


def _merge_tasks_by_key(base: list, override: list) -> list:
    """Target overrides of job tasks merge by task_key (as Databricks merges them), other lists replace. The base's
    tasks keep their order and places, a duplicate task_key included (validation names it: folded into one, a
    task's depends_on was lost without a word)."""
    merged = list(base)
    for task in override:
        at = next((i for i, t in enumerate(merged) if t.get("task_key") == task.get("task_key")), None)
        if at is None:
            merged.append(task)
        else:
            merged[at] = _deep_merge(merged[at], task)
    return merged


def short_name(user: str) -> str:
    local = user.split("@")[0].lower()
    return re.sub(r"_+", "_", re.sub(r"[^a-z0-9]", "_", local)).strip("_")


# -- the phases -----------------------------------------------------------------------------------

def load_bundle(root: str | os.PathLike[str], target: str | None = None, variables: dict[str, str] | None = None,
                user: str = "local@localhost", env: dict[str, str] | None = None, raise_errors: bool = True) -> Bundle:
    """Load, resolve and validate; raises BundleError listing every error (warnings stay on ``diagnostics``).

    With ``raise_errors=False`` the bundle is returned with its error diagnostics, for callers that check
    something first (e.g. that a job exists) and then raise themselves.
    """
    root = Path(root)
    env = dict(os.environ) if env is None else env
    diags: list[Diagnostic] = []
    locations: dict[str, Location] = {}
    root_file = root / "databricks.yml"
    if not root_file.is_file():
        raise BundleError([Diagnostic("error", f"no databricks.yml in {root}")])
    config = _read(root_file, locations, diags)
    for pattern in config.get("include") or []:
        matched = sorted(root.glob(pattern))
        if not matched:
            diags.append(Diagnostic("warning", f"include {pattern!r} matches no file", "include",
                                    locations.get("include")))
        for path in matched:
            part = _read(path, locations, diags)
            for key, value in part.items():
                if key not in TOP_LEVEL:
                    diags.append(Diagnostic("warning", f"unknown top-level key {key!r} (kept)", key, locations.get(key)))
                if key == "resources":
                    for kind, items in (value or {}).items():
                        existing = config.setdefault("resources", {}).setdefault(kind, {})
                        for name, spec in (items or {}).items():
                            if name in existing:
                                diags.append(Diagnostic("error", f"{kind} {name!r} is defined twice",
                                                        f"resources.{kind}.{name}",
                                                        locations.get(f"resources.{kind}.{name}")))
                            existing[name] = spec
                else:
                    config[key] = _deep_merge(config.get(key), value) if key in config else value
    for key in config:
        if key not in TOP_LEVEL:
            diags.append(Diagnostic("warning", f"unknown top-level key {key!r} (kept)", key, locations.get(key)))
    name = (config.get("bundle") or {}).get("name")
    if not name:
        diags.append(Diagnostic("error", "bundle.name is required", "bundle", locations.get("bundle")))
    chosen = _select_target(config, target, locations, diags)
    config = _merge_target(config, chosen, locations, diags)
    values = _variables(config, chosen, variables or {}, env, locations, diags)
    explicit_root = "root_path" in (config.get("workspace") or {})
    _defaults(config, chosen, user)
    config = _interpolate(config, values, chosen, user, locations, diags)
    _apply_mode(config, user, explicit_root, locations, diags)
    _resolve_resource_refs(config, locations, diags)
    _validate(config, root, locations, diags)
    _check_pipeline_libraries(config, root, locations, diags)
    _check_sync(config, locations, diags)
    bundle = Bundle(root, chosen or "", config, locations, diags)
    if raise_errors and bundle.has_errors:
        raise BundleError(diags)
    return bundle


def _select_target(config: dict, target: str | None, locations: dict, diags: list) -> str | None:
    targets = config.get("targets") or {}
    if target:
        if target not in targets:
            diags.append(Diagnostic("error", f"target {target!r} is not defined; the bundle has "
                                    f"{', '.join(targets) or 'none'}", "targets", locations.get("targets")))
            return None
        return target
    if not targets:
        return None
    defaults = [k for k, v in targets.items() if (v or {}).get("default")]
    if len(defaults) > 1:
        diags.append(Diagnostic("error", f"several targets are marked default: {', '.join(defaults)}", "targets",
                                locations.get("targets")))
        return None
    if defaults:
        return defaults[0]
    if len(targets) == 1:
        return next(iter(targets))
    diags.append(Diagnostic("error", f"please specify a target (-t); the bundle has {', '.join(targets)}", "targets",
                            locations.get("targets")))
    return None


def _merge_target(config: dict, target: str | None, locations: dict, diags: list) -> dict:
    config = copy.deepcopy(config)
    config.setdefault("bundle", {})["target"] = target
    if target is None:
        return config
    override = (config.get("targets") or {}).get(target) or {}
    for key in override:
        if key not in TARGET_KEYS:
            diags.append(Diagnostic("warning", f"unknown key {key!r} in target {target!r} (kept)",
                                    f"targets.{target}.{key}", locations.get(f"targets.{target}.{key}")))
    for key in ("bundle", "workspace", "artifacts", "sync", "permissions", "presets"):
        if key in override:
            config[key] = _deep_merge(config.get(key) or {}, override[key])
    for kind, items in (override.get("resources") or {}).items():
        base = config.setdefault("resources", {}).setdefault(kind, {})
        for name, spec in (items or {}).items():
            if name in base and kind == "jobs" and "tasks" in spec and "tasks" in base[name]:
                merged = _deep_merge(base[name], {k: v for k, v in spec.items() if k != "tasks"})
                merged["tasks"] = _merge_tasks_by_key(base[name]["tasks"], spec["tasks"])
                base[name] = merged
            else:
                base[name] = _deep_merge(base.get(name) or {}, spec)
    for key in ("run_as", "mode"):
        if key in override:
            config[key] = copy.deepcopy(override[key])
    for var, value in (override.get("variables") or {}).items():
        spec = config.setdefault("variables", {}).setdefault(var, {})
        if isinstance(value, dict):
            spec.update({k: v for k, v in value.items() if k in ("default", "lookup")})
        else:
            spec["default"] = value
    return config


def _variables(config: dict, target: str | None, given: dict[str, str], env: dict[str, str], locations: dict,
               diags: list) -> dict[str, Any]:
    values: dict[str, Any] = {}
    declared = config.get("variables") or {}
    for name in given:
        if name not in declared:
            diags.append(Diagnostic("error", f"--var {name}=… sets a variable the bundle does not declare",
                                    "variables", locations.get("variables")))
    for name, spec in declared.items():
        spec = spec if isinstance(spec, dict) else {"default": spec}
        if name in given:
            values[name] = given[name]
        elif f"BUNDLE_VAR_{name}" in env:
            values[name] = env[f"BUNDLE_VAR_{name}"]
        elif "default" in spec:
            values[name] = spec["default"]
        elif "lookup" in spec:
            values[name] = f"${{lookup.{name}}}"  # resolved against the workspace at deploy time
        else:
            looked = [f"--var {name}=…", f"BUNDLE_VAR_{name}", f"targets.{target}.variables.{name}" if target else "",
                      f"variables.{name}.default"]
            diags.append(Diagnostic("error", f"no value assigned to required variable {name!r} (looked in "
                                    + ", ".join(p for p in looked if p) + ")", f"variables.{name}",
                                    locations.get(f"variables.{name}")))
    return values


def _defaults(config: dict, target: str | None, user: str) -> None:
    ws = config.setdefault("workspace", {})
    name = (config.get("bundle") or {}).get("name", "bundle")
    ws.setdefault("root_path", f"/Workspace/Users/{user}/.bundle/{name}/{target or 'default'}")
    for key, sub in (("file_path", "files"), ("artifact_path", "artifacts"), ("state_path", "state"),
                     ("resource_path", "resources")):
        ws.setdefault(key, f"{ws['root_path']}/{sub}")
    ws.setdefault("current_user", {"userName": user, "short_name": short_name(user)})


def _interpolate(config: dict, values: dict, target: str | None, user: str, locations: dict, diags: list) -> dict:
    context = {"var": values, "variables": {k: {"value": v} for k, v in values.items()},
               "bundle": {**(config.get("bundle") or {}), "target": target}, "workspace": config.get("workspace", {})}

    def lookup(ref: str) -> Any:
        parts = re.findall(r"[\w\-]+|\[\d+\]", ref)
        if parts[0] in ("resources", "lookup"):
            raise KeyError("deploy-time")
        node: Any = context
        for part in parts:
            if part.startswith("["):
                node = node[int(part[1:-1])]
            elif isinstance(node, dict) and part in node:
                node = node[part]
            else:
                raise LookupError(ref)
        return node

    def resolve(value: Any, path: tuple) -> Any:
        if isinstance(value, dict):
            return {k: resolve(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v, (*path, i)) for i, v in enumerate(value)]
        if not isinstance(value, str) or "${" not in value:
            return value
        text = value
        for _ in range(MAX_ROUNDS):
            whole = _REF.fullmatch(text)
            try:
                if whole:
                    found = lookup(whole.group(1))
                    if not isinstance(found, str):
                        return found
                    text = found
                else:
                    text = _REF.sub(lambda m: str(lookup(m.group(1))), text)
            except KeyError:
                return text  # ${resources.…} and lookups: known only after deploy
            except (LookupError, IndexError, TypeError):
                ref = (_REF.search(text) or re.search(r"\$\{[^}]*\}", text))
                diags.append(Diagnostic("error", f"cannot resolve {ref.group(0) if ref else text!r}",
                                        _path_str(path), locations.get(_path_str(path))))
                return text
            if "${" not in text:
                return text
        diags.append(Diagnostic("error", f"{value!r} does not resolve after {MAX_ROUNDS} rounds (a reference cycle?)",
                                _path_str(path), locations.get(_path_str(path))))
        return text

    resolved = {k: (resolve(v, (k,)) if k not in ("targets", "variables") else v) for k, v in config.items()}
    context["workspace"] = resolved.get("workspace", {})
    return resolved


_RESOURCE_REF = re.compile(r"\$\{resources\.([\w-]+)\.([\w-]+)\.([\w.\-\[\]]+)\}")


def _resolve_resource_refs(config: dict, locations: dict, diags: list) -> None:
    """``${resources.<kind>.<key>.<field>}`` from the final configuration (after mode prefixes); ``.id`` waits for
    deploy. A reference to a resource the bundle does not define is an error."""
    resources = config.get("resources") or {}

    def sub(match: re.Match, path: tuple) -> str:
        kind, key, field = match.groups()
        if key not in (resources.get(kind) or {}):
            diags.append(Diagnostic("error", f"{match.group(0)} refers to resources.{kind}.{key}, which the bundle "
                                    "does not define", _path_str(path), locations.get(_path_str(path))))
            return match.group(0)
        if field == "id":
            return match.group(0)
        node: Any = resources[kind][key]
        for part in re.findall(r"[\w-]+|\[\d+\]", field):
            if part.startswith("[") and isinstance(node, list) and int(part[1:-1]) < len(node):
                node = node[int(part[1:-1])]
            elif isinstance(node, dict) and part in node:
                node = node[part]
            else:
                diags.append(Diagnostic("error", f"cannot resolve {match.group(0)}: resources.{kind}.{key} has no "
                                        f"{field!r}", _path_str(path), locations.get(_path_str(path))))
                return match.group(0)
        return str(node)

    def walk(value: Any, path: tuple) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*path, i)) for i, v in enumerate(value)]
        if isinstance(value, str) and "${resources." in value:
            return _RESOURCE_REF.sub(lambda m: sub(m, path), value)
        return value

    if resources:
        config["resources"] = walk(resources, ("resources",))


def _apply_mode(config: dict, user: str, explicit_root: bool, locations: dict, diags: list) -> None:
    mode = config.get("mode")
    if mode == "development":
        short = short_name(user)
        prefix = (config.get("presets") or {}).get("name_prefix", f"[dev {short}] ")
        for kind in ("jobs", "pipelines", "models", "experiments"):
            for spec in (config.get("resources", {}).get(kind) or {}).values():
                if kind == "experiments" and "name" in spec:
                    head, _, base = spec["name"].rpartition("/")
                    spec["name"] = f"{head}/{prefix}{base}" if head else prefix + base
                elif "name" in spec:
                    spec["name"] = prefix + spec["name"]
                if kind == "jobs":
                    spec.setdefault("tags", {})["dev"] = short
                    for trigger in ("schedule", "continuous", "trigger"):
                        if trigger in spec and "pause_status" not in spec[trigger]:
                            spec[trigger]["pause_status"] = "PAUSED"
                    spec.setdefault("max_concurrent_runs", 4)
                if kind == "pipelines":
                    spec["development"] = True
        explicit = (config.get("presets") or {}).get("name_prefix")
        endpoint_prefix = f"dev_{short}_" if explicit is None else re.sub(r"[^A-Za-z0-9_-]+", "_", explicit)
        for spec in (config.get("resources", {}).get("model_serving_endpoints") or {}).values():
            if "name" in spec:
                spec["name"] = f"{endpoint_prefix}{spec['name']}"
        for spec in (config.get("resources", {}).get("registered_models") or {}).values():
            if "name" in spec:  # a Unity Catalog name: letters, digits and underscores only
                spec["name"] = re.sub(r"[^A-Za-z0-9_]", "_", endpoint_prefix) + spec["name"]
    elif mode == "production":
        target = config["bundle"].get("target")
        if not explicit_root:
            diags.append(Diagnostic("error", "production mode: set workspace.root_path explicitly in the target",
                                    f"targets.{target}", locations.get(f"targets.{target}")))
        run_as = config.get("run_as") or {}
        if not (isinstance(run_as, dict) and (run_as.get("service_principal_name") or run_as.get("user_name"))):
            diags.append(Diagnostic("error", "production mode: set run_as (service_principal_name, or user_name) so "
                                    "jobs run as a fixed identity, not as whoever deployed", f"targets.{target}.run_as",
                                    locations.get(f"targets.{target}")))
        for kind in ("jobs", "pipelines", "experiments", "models"):
            for key, spec in (config.get("resources", {}).get(kind) or {}).items():
                if "[dev " in str(spec.get("name", "")):
                    diags.append(Diagnostic("error", f"production mode: {kind}.{key} is named {spec['name']!r}, "
                                            "with a development prefix", f"resources.{kind}.{key}.name",
                                            locations.get(f"resources.{kind}.{key}.name")))
        for key, spec in (config.get("resources", {}).get("pipelines") or {}).items():
            if spec.get("development"):
                diags.append(Diagnostic("error", f"production mode: pipeline {key} has development: true",
                                        f"resources.pipelines.{key}.development",
                                        locations.get(f"resources.pipelines.{key}.development")))


def _located(locations: dict, path: str) -> Location | None:
    """The location of ``path``, or of the nearest enclosing key that has one."""
    while path:
        if path in locations:
            return locations[path]
        path = path[:max(path.rfind("."), path.rfind("["))] if ("." in path or "[" in path) else ""
    return None


def _validate(config: dict, root: Path, locations: dict, diags: list) -> None:
    def report(severity: str, summary: str, path: str) -> None:
        diags.append(Diagnostic(severity, summary, path, _located(locations, path)))

    for kind in (config.get("resources") or {}):
        if kind not in RESOURCE_TYPES:
            diags.append(Diagnostic("warning", f"unknown resource type {kind!r} (kept)", f"resources.{kind}",
                                    locations.get(f"resources.{kind}")))
    schema.check(schema.TOP_PERMISSIONS, config.get("permissions"), "permissions", report)
    for kind, spec in schema.RESOURCES.items():
        for key, resource in (config.get("resources", {}).get(kind) or {}).items():
            schema.check(spec, resource, f"resources.{kind}.{key}", report)
            if kind == "jobs" and isinstance(resource, dict):
                schema.never_fires(resource.get("schedule"), f"resources.jobs.{key}.schedule", report)
    for key, job in (config.get("resources", {}).get("jobs") or {}).items():
        base = f"resources.jobs.{key}"
        if not isinstance(job, dict):
            continue  # reported by the schema check
        tasks = [t for t in job.get("tasks") or [] if isinstance(t, dict)] if isinstance(job.get("tasks"), list) else []
        keys = [t.get("task_key") for t in tasks]
        parameters: list[Any] = job["parameters"] if isinstance(job.get("parameters"), list) else []
        names = [p.get("name") for p in parameters if isinstance(p, dict)]
        for i, name in enumerate(names):
            if name is not None and names.index(name) != i:  # the Jobs API refuses it at deploy, without a line
                ppath = f"{base}.parameters[{i}].name"
                diags.append(Diagnostic("error", f"duplicate job parameter {name!r}", ppath, _located(locations,
                                                                                                        ppath)))
        for i, task in enumerate(tasks):
            path = f"{base}.tasks[{i}]"
            if not task.get("task_key"):
                diags.append(Diagnostic("error", "task_key is required", path, locations.get(path)))
            elif keys.count(task["task_key"]) > 1:
                diags.append(Diagnostic("error", f"duplicate task_key {task['task_key']!r}", f"{path}.task_key",
                                        locations.get(f"{path}.task_key")))
            kinds = [t for t in TASK_TYPES if t in task]
            if len(kinds) != 1:
                diags.append(Diagnostic("error", f"exactly one task type is required, got {kinds or 'none'}", path,
                                        locations.get(path)))
            deps: list[Any] = task["depends_on"] if isinstance(task.get("depends_on"), list) else []
            for j, dep in enumerate(deps):
                if isinstance(dep, dict) and dep.get("task_key") not in keys:
                    dpath = f"{path}.depends_on[{j}].task_key"
                    diags.append(Diagnostic("error", f"depends on unknown task {dep.get('task_key')!r}", dpath,
                                            locations.get(dpath) or locations.get(f"{path}.depends_on[{j}]")))
            nb_task = task.get("notebook_task")
            if isinstance(nb_task, dict):
                _check_notebook(nb_task.get("notebook_path"), f"{path}.notebook_task", "notebook_path", root,
                                locations, diags)
        cycle = _cycle({str(t.get("task_key")): [str(d.get("task_key")) for d in t.get("depends_on") or []
                                                 if isinstance(d, dict)]
                        for t in tasks if isinstance(t.get("depends_on") or [], list)})
        if cycle:
            diags.append(Diagnostic("error", "depends_on has a cycle: " + " -> ".join(cycle), f"{base}.tasks",
                                    locations.get(f"{base}.tasks")))


SYNC_PATTERN_LISTS = ("include", "exclude")


def _check_sync(config: dict, locations: dict, diags: list) -> None:
    """``sync.include`` and ``sync.exclude`` are lists of patterns (a string was read a character at a time: ``*``
    excluded every file, and deploy deleted them all from the workspace); ``sync.paths`` (folders outside the bundle
    root) is refused, not ignored; other keys are unknown."""
    sync = config.get("sync")
    if sync is None:
        return
    if not isinstance(sync, dict):
        diags.append(Diagnostic("error", "sync must be a mapping (include, exclude)", "sync", locations.get("sync")))
        return
    for key, value in sync.items():
        path = f"sync.{key}"
        if key in SYNC_PATTERN_LISTS:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                diags.append(Diagnostic("error", f"{path} must be a list of patterns, like [\"*.log\"]", path,
                                        _located(locations, path)))
        elif key == "paths":
            diags.append(Diagnostic("error", "sync.paths (folders outside the bundle root) is not supported locally: "
                                    "move them under the bundle root", path, _located(locations, path)))
        else:
            diags.append(Diagnostic("warning", f"unknown key {key!r} in sync (ignored)", path,
                                    _located(locations, path)))


def _check_pipeline_libraries(config: dict, root: Path, locations: dict, diags: list) -> None:
    """Each pipeline's notebook libraries name a notebook that exists (deploy read a missing path as a KeyError,
    and an update was the first to find a missing notebook)."""
    for key, pipeline in (config.get("resources", {}).get("pipelines") or {}).items():
        libraries = pipeline.get("libraries") if isinstance(pipeline, dict) else None
        for i, library in enumerate(libraries if isinstance(libraries, list) else []):
            notebook = library.get("notebook") if isinstance(library, dict) else None
            if isinstance(notebook, dict):
                _check_notebook(notebook.get("path"), f"resources.pipelines.{key}.libraries[{i}].notebook", "path",
                                root, locations, diags)


def _check_notebook(value: Any, parent: str, field: str, root: Path, locations: dict, diags: list) -> None:
    """A notebook named at ``parent.field``: required, and when relative (to the file that names it), a file."""
    if not isinstance(value, str) or not value:
        inside = [where for key, where in locations.items() if key.startswith(parent + ".")]  # e.g. a typo'd key
        diags.append(Diagnostic("error", f"{field} is required: the notebook to run", f"{parent}.{field}",
                                locations.get(parent) or (min(inside, key=lambda where: where.line) if inside else
                                                          _located(locations, parent))))
        return
    if value.startswith(("/", "${")):
        return
    source = locations.get(f"{parent}.{field}")
    folder = Path(source.file).parent if source else root
    if not (folder / value).is_file():
        diags.append(Diagnostic("error", f"notebook {value!r} not found (relative to {folder})", f"{parent}.{field}",
                                source))


def _cycle(graph: dict[str, list[str]]) -> list[str]:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in graph.get(node, []):
            if dep not in graph:
                continue
            if state.get(dep) == 1:
                return [*stack[stack.index(dep):], dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state and (found := visit(node)):
            return found
    return []
