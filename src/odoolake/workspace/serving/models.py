"""Registered models for serving: resolve a version or alias, load each version once, follow moving aliases.

The request path only reads dictionaries. A watcher thread re-resolves the aliases in use every
``alias_poll_seconds``; when one moves it loads the new version first and then swaps, so requests keep
being answered by the old version until the new one is ready. The old version is then let go (requests still
holding it finish with it), unless another alias points to it or an endpoint names it by number: a champion
alias moved every week would otherwise keep a year of models in memory.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from odoolake.config import WorkspacePaths
from odoolake.workspace.catalog.models import READY, ModelName, RegisteredModels, in_unity_catalog
from odoolake.workspace.errors import ApiError, InvalidState, ResourceDoesNotExist
from odoolake.workspace.serving.logs import ModelLogs, alias_source, version_source

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    name: str
    version: str
    pyfunc: Any
    input_schema: Any
    registered_at: int | None = None  # the version's creation time: a version deleted and made again is another


class ModelStore:
    def __init__(self, paths: WorkspacePaths, alias_poll_seconds: float = 1.0,
                 registered: RegisteredModels | None = None) -> None:
        self.paths = paths
        self.registered = registered  # models in Unity Catalog (three-part names)
        self.alias_poll_seconds = alias_poll_seconds
        self._client = None
        self._loaded: dict[tuple[str, str], LoadedModel] = {}
        self._aliases: dict[tuple[str, str], str] = {}  # (name, alias) -> version
        self._by_number: set[tuple[str, str]] = set()  # (name, version) asked for by its number
        self._alias_problems: dict[tuple[str, str], str] = {}  # (name, alias) -> why it cannot be followed now
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self.logs = ModelLogs(LOG)  # what ``serving-endpoints/…/logs`` answers for each served model
        self.load_failures: dict[tuple[str, str], str] = {}  # (name, version) -> why its last load failed

    @property
    def client(self):
        if self._client is None:
            from mlflow import MlflowClient

            from odoolake.workspace.mlflow_server import store_uri

            uri = store_uri(self.paths)
            self._client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        return self._client

    def resolve(self, name: str, ref: str) -> str:
        """The version ``ref`` names: itself when it is a number, else the version the alias points to."""
        from mlflow.exceptions import MlflowException

        if in_unity_catalog(name):
            return self._resolve_in_catalog(name, ref)
        try:
            if ref.isdigit():
                return str(self.client.get_model_version(name, ref).version)
            return str(self.client.get_model_version_by_alias(name, ref).version)
        except MlflowException as exc:
            what = f"version {ref}" if ref.isdigit() else f"alias {ref!r}"
            raise ResourceDoesNotExist(f"Registered model {name!r} has no {what} in this workspace's registry "
                                       f"({_first_line(exc)}).") from None

    def _resolve_in_catalog(self, name: str, ref: str) -> str:
        if self.registered is None:
            raise ResourceDoesNotExist(f"Model {name!r} is a Unity Catalog name, and this store has no catalog.")
        try:
            found = self.registered.get_version(name, ref) if ref.isdigit() else \
                self.registered.version_by_alias(name, ref)
        except ApiError as exc:
            raise ResourceDoesNotExist(f"{exc.message} (Unity Catalog: a three-part entity_name is a model there)") \
                from None
        if found["status"] != READY:
            raise InvalidState(f"Model {name} version {found['version']} is {found['status']}: its files are not "
                               "finalized yet, so it cannot be served.")
        return str(found["version"])

    def _registered_at(self, name: str, version: str) -> int | None:
        """When the registry made this version; None once it is gone."""
        from mlflow.exceptions import MlflowException

        try:
            if in_unity_catalog(name) and self.registered is not None:
                return int(self.registered.get_version(name, version)["creation_timestamp"])
            return int(self.client.get_model_version(name, version).creation_timestamp)
        except (ApiError, MlflowException):
            return None

    def _files(self, name: str, version: str) -> str:
        """Where the version's MLflow model is, as ``mlflow.pyfunc.load_model`` takes it."""
        if in_unity_catalog(name) and self.registered is not None:
            return str(self.registered.version_dir(ModelName.parse(name), int(version)))
        uri = self.client.get_model_version_download_uri(name, version)
        if uri.startswith("dbfs:/"):  # logged through the workspace (tracking URI databricks): its DBFS files
            uri = str(self.paths.dbfs_to_local(uri))
        return uri

    def _load(self, name: str, version: str) -> LoadedModel:
        key = (name, version)
        cached = self._loaded.get(key)
        if cached is not None:
            return cached
        with self._load_lock:
            cached = self._loaded.get(key)
            if cached is not None:
                return cached
            import mlflow.pyfunc

            started = time.perf_counter()
            try:
                model = mlflow.pyfunc.load_model(self._files(name, version))
            except Exception as exc:  # the model's own code or libraries: a 400 naming it, not a 500
                problem = InvalidState(f"Model {name} version {version} cannot be loaded by the local workspace "
                                       f"({type(exc).__name__}: {_first_line(exc)}): served models load in the "
                                       "workspace's own Python, where their code and libraries must be importable.")
                why = f"{type(exc).__name__}: {getattr(exc, 'message', exc)}"
                if self.load_failures.get(key) != why:  # once, not at every retry (an alias is retried each second)
                    self.logs.note(version_source(name, version), logging.ERROR, f"model {name} version {version} "
                                   f"cannot be loaded: {why}", build=True)
                self.load_failures[key] = why
                raise problem from None
            self.load_failures.pop(key, None)
            loaded = LoadedModel(name, version, model, model.metadata.get_input_schema(),
                                 self._registered_at(name, version))
            self._loaded[key] = loaded
            self.logs.note(version_source(name, version), logging.INFO, f"loaded model {name} version {version} in "
                                                                        f"{time.perf_counter() - started:.2f} s",
                           build=True)
            return loaded

    def get(self, name: str, ref: str) -> LoadedModel:
        """The model for ``ref`` (a version or an alias); loaded on first use, then served from memory."""
        if ref.isdigit():
            with self._lock:
                loaded = self._loaded.get((name, ref))
                if loaded is not None:  # loaded for an alias, say: now kept for its number too
                    self._by_number.add((name, ref))
                    return loaded
            loaded = self._load(name, self.resolve(name, ref))
            with self._lock:
                self._by_number.add((name, loaded.version))
                self._loaded.setdefault((name, loaded.version), loaded)  # let go meanwhile by an alias's move
            self._ensure_watcher()
            return loaded
        with self._lock:
            version = self._aliases.get((name, ref))
            loaded = self._loaded.get((name, version)) if version is not None else None
        if loaded is not None:
            return loaded
        version = self.resolve(name, ref)  # a new alias, or its version was let go while it was being registered
        model = self._load(name, version)
        with self._lock:
            self._aliases[(name, ref)] = version
            self._loaded.setdefault((name, version), model)
        self._ensure_watcher()
        return model

    def peek(self, name: str, ref: str) -> LoadedModel | None:
        """The model for ``ref`` if it is already in memory; never touches the registry."""
        version = ref if ref.isdigit() else self._aliases.get((name, ref))
        return self._loaded.get((name, version)) if version is not None else None

    def _ensure_watcher(self) -> None:
        if self._watcher is None or not self._watcher.is_alive():
            self._watcher = threading.Thread(target=self._watch, name="alias-watcher", daemon=True)
            self._watcher.start()

    def forget_deleted(self) -> list[tuple[str, str]]:
        """Let go of every loaded version the registry no longer has as it was loaded (deleted, its model renamed or
        deleted, or deleted and registered again: another model under the same number), so that no request is
        answered by it; returns the (name, version) let go. A request for it asks the registry again."""
        gone = []
        for key, loaded in list(self._loaded.items()):
            if self._registered_at(*key) != loaded.registered_at:
                with self._lock:
                    self._loaded.pop(key, None)
                    self._by_number.discard(key)
                    for alias_key in [k for k, v in self._aliases.items() if k[0] == key[0] and v == key[1]]:
                        self._aliases.pop(alias_key)
                self.logs.note(version_source(*key), logging.WARNING, f"model {key[0]} version {key[1]} is no "
                                                                       "longer in the registry as it was loaded: let go")
                gone.append(key)
        return gone

    def refresh_aliases(self) -> list[tuple[str, str, str]]:
        """Re-resolve every alias in use; load and swap the ones that moved. Returns (name, alias, version) swapped.
        An alias that cannot be followed now (removed, or pointing at a version not yet finalized, or one that does
        not load) keeps its version and does not hold up the others."""
        swapped = []
        for (name, alias), version in list(self._aliases.items()):
            try:
                current = self.resolve(name, alias)
                if current != version:
                    self._load(name, current)
            except ApiError as exc:
                if self._alias_problems.get((name, alias)) != exc.message:  # once, not every second
                    self.logs.note(alias_source(name, alias), logging.WARNING, f"alias {name}@{alias} cannot be "
                                   f"followed ({exc.message}); still serving version {version}")
                self._alias_problems[(name, alias)] = exc.message
                continue
            self._alias_problems.pop((name, alias), None)
            if current != version:
                with self._lock:
                    self._aliases[(name, alias)] = current
                    if (name, version) not in self._by_number and version not in {
                            v for (n, _), v in self._aliases.items() if n == name}:
                        self._loaded.pop((name, version), None)
                self.logs.note(alias_source(name, alias), logging.INFO, f"alias {name}@{alias} moved from version "
                                                                        f"{version} to {current}: swapped")
                swapped.append((name, alias, current))
        return swapped

    def _watch(self) -> None:
        while not self._stop.wait(self.alias_poll_seconds):
            try:
                self.forget_deleted()
                self.refresh_aliases()
            except Exception:  # the registry may be briefly locked by a training run; try again next tick
                LOG.exception("alias refresh failed")

    def close(self) -> None:
        self._stop.set()


def _first_line(exc: Exception) -> str:
    return str(getattr(exc, "message", exc)).splitlines()[0]
