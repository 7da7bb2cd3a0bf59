"""The Serving Endpoints API (``/api/2.0/serving-endpoints``) and invocation routing, for registered MLflow models.

Served entities name a registered model and a version. As a local extension the version may also be an alias
(``champion``): the endpoint then follows the alias and swaps models when it moves. External and foundation
models cannot be served locally and are refused by name.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import time
import uuid
from typing import Any

from odoolake.workspace.db import Database
from odoolake.workspace.errors import (
    ApiError,
    InvalidParameterValue,
    InvalidState,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
)
from odoolake.workspace.serving.invoke import no_signature_message
from odoolake.workspace.serving.logs import alias_source, served_source, version_source
from odoolake.workspace.serving.models import ModelStore

NAME = re.compile(r"^[A-Za-z0-9_-]{1,63}$")
WORKLOAD_SIZES = ("Small", "Medium", "Large")
PROVISIONED = ("min_provisioned_throughput", "max_provisioned_throughput", "min_provisioned_concurrency",
               "max_provisioned_concurrency")
# Endpoint settings the local workspace does not offer: refused at create, never silently dropped.
UNOFFERED = {"ai_gateway": "the AI gateway", "rate_limits": "rate limits"}
UNOFFERED_IN_CONFIG = {"auto_capture_config": "inference tables (auto_capture_config)"}


def _now() -> int:
    return int(time.time() * 1000)


def _entity(raw: Any, index: int, legacy: bool) -> dict:
    where = f"config.{'served_models' if legacy else 'served_entities'}[{index}]"
    if not isinstance(raw, dict):
        raise InvalidParameterValue(f"Invalid {where}: expected an object.")
    for unsupported in ("external_model", "foundation_model"):
        if raw.get(unsupported):
            raise InvalidParameterValue(f"Invalid {where}: {unsupported} endpoints cannot be served by the local "
                                        "workspace; only registered MLflow models can.")
    for unsupported in PROVISIONED:
        if raw.get(unsupported) is not None:
            raise InvalidParameterValue(f"Invalid {where}.{unsupported}: provisioned throughput and concurrency "
                                        "are not offered by the local workspace; use workload_size.")
    if raw.get("workload_type") not in (None, "CPU"):
        raise InvalidParameterValue(f"Invalid {where}.workload_type: {raw['workload_type']!r}; the local workspace "
                                    "serves on its own CPU only (CPU).")
    if raw.get("environment_vars"):
        raise InvalidParameterValue(f"Invalid {where}.environment_vars: a locally served model runs in the "
                                    "workspace's own process, where per-model environment variables cannot be set; "
                                    "leave them out locally (keep them in the target that deploys to Databricks).")
    name_key, version_key = ("model_name", "model_version") if legacy else ("entity_name", "entity_version")
    model, version = raw.get(name_key), raw.get(version_key)
    if not isinstance(model, str) or not model:
        raise InvalidParameterValue(f"Missing required field: {where}.{name_key}")
    if isinstance(version, int) and not isinstance(version, bool):
        version = str(version)
    if not isinstance(version, str) or not version:
        raise InvalidParameterValue(f"Missing required field: {where}.{version_key}")
    size = raw.get("workload_size", "Small")
    if size not in WORKLOAD_SIZES:
        raise InvalidParameterValue(f"Invalid {where}.workload_size: {size!r}; expected one of {', '.join(WORKLOAD_SIZES)}.")
    served_name = raw.get("name") or f"{model.split('.')[-1]}-{version}"
    return {"name": served_name, "entity_name": model, "entity_version": version, "workload_size": size,
            "scale_to_zero_enabled": bool(raw.get("scale_to_zero_enabled", False))}


def _normalise_config(config: Any) -> dict:
    if not isinstance(config, dict):
        raise InvalidParameterValue("Missing required field: config")
    for key, what in UNOFFERED_IN_CONFIG.items():
        if config.get(key):
            raise InvalidParameterValue(f"Invalid config.{key}: {what} are not offered by the local workspace.")
    entities_raw = config.get("served_entities")
    legacy = False
    if not entities_raw and config.get("served_models"):
        entities_raw, legacy = config["served_models"], True
    if not isinstance(entities_raw, list) or not entities_raw:
        raise InvalidParameterValue("Invalid config: served_entities must list at least one registered model.")
    entities = [_entity(raw, i, legacy) for i, raw in enumerate(entities_raw)]
    names = [e["name"] for e in entities]
    if len(set(names)) != len(names):
        raise InvalidParameterValue(f"Invalid config: served entity names must be unique, got {names}.")
    routes_raw = (config.get("traffic_config") or {}).get("routes")
    if not routes_raw:
        if len(entities) > 1:
            raise InvalidParameterValue("Invalid config: traffic_config.routes is required when more than one "
                                        "entity is served.")
        routes = [{"served_model_name": names[0], "served_entity_name": names[0], "traffic_percentage": 100}]
    else:
        routes = []
        for i, route in enumerate(routes_raw):
            target = (route or {}).get("served_entity_name") or (route or {}).get("served_model_name")
            pct = (route or {}).get("traffic_percentage")
            if target not in names:
                raise InvalidParameterValue(f"Invalid traffic_config.routes[{i}]: {target!r} is not a served entity "
                                            f"of this config ({', '.join(names)}).")
            if not isinstance(pct, int) or isinstance(pct, bool) or not 0 <= pct <= 100:
                raise InvalidParameterValue(f"Invalid traffic_config.routes[{i}].traffic_percentage: {pct!r}.")
            routes.append({"served_model_name": target, "served_entity_name": target, "traffic_percentage": pct})
        if sum(r["traffic_percentage"] for r in routes) != 100:
            raise InvalidParameterValue("Invalid traffic_config: traffic percentages must add up to 100.")
    return {"served_entities": entities, "traffic_config": {"routes": routes}}


class ServingEndpoints:
    def __init__(self, db: Database, models: ModelStore, user: str) -> None:
        self.db = db
        self.models = models
        self.user = user
        self._configs: dict[str, dict] = {}  # name -> config; this process owns every write, so it invalidates

    def _check_and_load(self, config: dict) -> None:
        """Every served entity must exist, load, and have an input signature (``invoke.score`` needs one); each is
        loaded now so the first request does not pay for it, and an endpoint that could not answer is never made."""
        for entity in config["served_entities"]:
            model = self.models.get(entity["entity_name"], entity["entity_version"])
            if model.input_schema is None:
                raise InvalidParameterValue(no_signature_message(model))

    def _row(self, name: str):
        row = self.db.connect().execute("SELECT * FROM serving_endpoints WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise ResourceDoesNotExist(f"Endpoint with name '{name}' does not exist.")
        return row

    def create(self, body: dict) -> dict:
        name = body.get("name")
        if not isinstance(name, str) or not NAME.match(name):
            raise InvalidParameterValue(f"Invalid name {name!r}: an endpoint name is 1-63 letters, digits, '-' or '_'.")
        for key, what in UNOFFERED.items():
            if body.get(key):
                raise InvalidParameterValue(f"Invalid {key}: {what} is not offered by the local workspace.")
        config = _normalise_config(body.get("config"))
        self._check_and_load(config)
        now = _now()
        stored = {"config": config, "config_version": 1, "tags": body.get("tags") or [],
                  "route_optimized": bool(body.get("route_optimized", False))}
        with self.db.transaction() as conn:
            if conn.execute("SELECT 1 FROM serving_endpoints WHERE name = ?", (name,)).fetchone():
                raise ResourceAlreadyExists(f"Endpoint with name '{name}' already exists.")
            conn.execute("INSERT INTO serving_endpoints(name, id, body, creator, created, updated) VALUES (?,?,?,?,?,?)",
                         (name, uuid.uuid4().hex, json.dumps(stored), self.user, now, now))
        return self.get(name)

    def update_config(self, name: str, body: dict) -> dict:
        row = self._row(name)
        config = _normalise_config(body)
        self._check_and_load(config)
        stored = json.loads(row["body"])
        stored["config"] = config
        stored["config_version"] = stored.get("config_version", 1) + 1
        with self.db.transaction() as conn:
            conn.execute("UPDATE serving_endpoints SET body = ?, updated = ? WHERE name = ?",
                         (json.dumps(stored), _now(), name))
        self._configs.pop(name, None)
        return self.get(name)

    def patch_tags(self, name: str, add: list[dict], delete: list[str]) -> list[dict]:
        row = self._row(name)
        stored = json.loads(row["body"])
        tags = {t["key"]: t for t in stored.get("tags") or [] if t.get("key") not in delete}
        for tag in add:
            if not isinstance(tag, dict) or not isinstance(tag.get("key"), str):
                raise InvalidParameterValue("Invalid add_tags: each tag needs a string key.")
            tags[tag["key"]] = {k: v for k, v in tag.items() if k in ("key", "value")}
        stored["tags"] = list(tags.values())
        with self.db.transaction() as conn:
            conn.execute("UPDATE serving_endpoints SET body = ?, updated = ? WHERE name = ?",
                         (json.dumps(stored), _now(), name))
        return stored["tags"]

    def delete(self, name: str) -> None:
        self._row(name)
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM serving_endpoints WHERE name = ?", (name,))
        self._configs.pop(name, None)

    def get(self, name: str) -> dict:
        return self._render(self._row(name), detailed=True)

    def list(self) -> list[dict]:
        rows = self.db.connect().execute("SELECT * FROM serving_endpoints ORDER BY name").fetchall()
        return [self._render(r, detailed=False) for r in rows]

    def _render(self, row, detailed: bool) -> dict:
        stored = json.loads(row["body"])
        config = stored["config"]
        entities, models, gone = [], [], []
        for e in config["served_entities"]:
            follows = "" if e["entity_version"].isdigit() else f" (follows alias {e['entity_version']!r})"
            state = {"deployment": "DEPLOYMENT_READY",
                     "deployment_state_message": f"Served in-process by the local workspace{follows}."}
            try:
                version = self.models.resolve(e["entity_name"], e["entity_version"])
                failed = self.models.load_failures.get((e["entity_name"], version))
                if failed is not None:  # its version (an alias's new one, after a restart) does not load
                    raise InvalidState(f"Model {e['entity_name']} version {version} cannot be loaded: {failed}")
            except (ResourceDoesNotExist, InvalidState) as exc:  # deleted from the registry since: it cannot answer
                gone.append(e["name"])
                state = {"deployment": "DEPLOYMENT_FAILED", "deployment_state_message": exc.message}
            common = {"name": e["name"], "workload_size": e["workload_size"],
                      "scale_to_zero_enabled": e["scale_to_zero_enabled"], "creator": row["creator"],
                      "creation_timestamp": row["updated"], "state": state}
            entities.append({**common, "entity_name": e["entity_name"], "entity_version": e["entity_version"]})
            models.append({**common, "model_name": e["entity_name"], "model_version": e["entity_version"]})
        out = {
            "name": row["name"], "id": row["id"], "creator": row["creator"],
            "creation_timestamp": row["created"], "last_updated_timestamp": row["updated"],
            "state": {"ready": "NOT_READY" if gone else "READY", "config_update": "NOT_UPDATING"},
            "config": {"served_entities": entities, "served_models": models,
                       "config_version": stored.get("config_version", 1)},
            "tags": stored.get("tags") or [],
        }
        if detailed:
            out["config"]["traffic_config"] = config["traffic_config"]
            out["permission_level"] = "CAN_MANAGE"
            out["route_optimized"] = stored.get("route_optimized", False)
        return out

    def is_warm(self, name: str) -> bool:
        """Config and every served model already in memory: a request needs no I/O."""
        config = self._configs.get(name)
        return config is not None and all(self.models.peek(e["entity_name"], e["entity_version"]) is not None
                                          for e in config["served_entities"])

    def _config(self, name: str) -> dict:
        config = self._configs.get(name)
        if config is None:
            config = self._configs[name] = json.loads(self._row(name)["body"])["config"]
        return config

    def served_entity(self, name: str, served: str) -> dict:
        """The endpoint's served entity named ``served``; 404 naming those it serves."""
        entities = self._config(name)["served_entities"]
        found = next((e for e in entities if e["name"] == served), None)
        if found is None:
            raise ResourceDoesNotExist(f"Endpoint '{name}' serves no model named '{served}' (it serves "
                                       f"{', '.join(e['name'] for e in entities)}).")
        return found

    def pick(self, name: str, served: str | None = None) -> dict:
        """The served entity for one request: ``served``, or one by traffic share."""
        routes = self._config(name)["traffic_config"]["routes"]
        if served is not None:
            chosen = served
        elif len(routes) == 1:
            chosen = routes[0]["served_entity_name"]
        else:
            chosen = random.choices([r["served_entity_name"] for r in routes],
                                    weights=[r["traffic_percentage"] for r in routes])[0]
        return self.served_entity(name, chosen)

    def log_sources(self, name: str, served: str) -> tuple[str, ...]:
        """Where the served model's log lines are kept: its requests, its version's loads (the version its alias
        points to now, for an alias), its alias's moves."""
        entity = self.served_entity(name, served)
        model, ref = entity["entity_name"], entity["entity_version"]
        sources = [served_source(name, served)]
        with contextlib.suppress(ApiError):  # a version deleted since: its requests and moves are still there
            sources.append(version_source(model, self.models.resolve(model, ref)))
        if not ref.isdigit():
            sources.append(alias_source(model, ref))
        return tuple(sources)
