"""Registered models in Unity Catalog: MLflow's ``databricks-uc`` registry, kept beside the tables they share schemas with.

MLflow 3 registers models in Unity Catalog whenever the tracking URI is ``databricks`` (its default registry is then
``databricks-uc``): three-level names (``catalog.schema.model``) in a schema that must exist, versions that start
``PENDING_REGISTRATION``, receive their files and become ``READY`` when the client finalizes them, aliases instead of
stages. The rows live in the catalog's SQLite (``catalog.db``) so that a schema knows its models; a version's files
live under ``<home>/models/<catalog>/<schema>/<model>/<version>``, written and read through the Files API at
``/Models/<catalog>/<schema>/<model>/<version>/…`` (:class:`ModelVersionFiles`), which is where MLflow's
``DatabricksSDKModelsArtifactRepository`` puts them. A version's files can be written only while it is pending.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from odoolake.workspace.catalog.store import CatalogError, CatalogStore, identifier
from odoolake.workspace.errors import (
    InvalidParameterValue,
    InvalidState,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
)
from odoolake.workspace.files.dbfs import Upload, Volumes
from odoolake.workspace.files.paths import clean_path, under

PENDING, READY, FAILED = "PENDING_REGISTRATION", "READY", "FAILED_REGISTRATION"
FILES_PREFIX = "/Models"
# A search page: the size MLflow's client asks for by default, and the most it may ask for (as its own limits).
MODELS_PAGE, MAX_MODELS_PAGE = 100, 1000
VERSIONS_PAGE, MAX_VERSIONS_PAGE = 10_000, 200_000
# The filters ``search_model_versions`` takes in Unity Catalog: one condition on the model's name or the run id.
_FILTER_HELP = "expected name = '<catalog.schema.model>', run_id = '<id>' or run_id IN ('<id>', …)"


def _now() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class ModelName:
    catalog: str
    schema: str
    model: str

    @classmethod
    def parse(cls, full_name: object) -> ModelName:
        parts = full_name.split(".") if isinstance(full_name, str) else []
        if len(parts) != 3:
            raise InvalidParameterValue(
                f"Invalid model name {full_name!r}: Unity Catalog model names have three parts, "
                "catalog.schema.model (use registry URI 'databricks' for the workspace registry's one-part names).")
        return cls(identifier(parts[0], "catalog name"), identifier(parts[1], "schema name"), _model_part(parts[2]))

    @property
    def full(self) -> str:
        return f"{self.catalog}.{self.schema}.{self.model}"

    @property
    def key(self) -> tuple[str, str, str]:
        return self.catalog, self.schema, self.model


# Unity Catalog's rule for an object's name (a model's, here: catalogs and schemas are SQL identifiers locally)
MAX_NAME_LENGTH = 255
_NOT_IN_A_NAME = re.compile(r"[. /\x00-\x1f\x7f]")


def _model_part(name: str) -> str:
    if not name or len(name) > MAX_NAME_LENGTH or _NOT_IN_A_NAME.search(name):
        raise InvalidParameterValue(f"Invalid model name {name!r}: a Unity Catalog name has 1 to {MAX_NAME_LENGTH} "
                                    "characters and no period, space, slash or control character.")
    return name.lower()


def _number(value: object, what: str, least: int = 0) -> int:
    """A whole number written in ASCII digits, within 64 bits (``"²"`` and ``"١"`` are digits to ``str.isdigit``)."""
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if not (text.isascii() and text.isdigit()) or not least <= int(text) < 2**63:
        raise InvalidParameterValue(f"Invalid {what} {value!r}: expected a whole number from {least}.")
    return int(text)


def _checked(check: Any, *args: object) -> None:
    """One of MLflow's own checks of a registry value (the rules its client applies), as a 400 naming the problem."""
    from mlflow.exceptions import MlflowException

    try:
        check(*args)
    except MlflowException as exc:
        raise InvalidParameterValue(str(exc.message)) from None


def in_unity_catalog(model_name: str) -> bool:
    """Whether a served entity or model name is a Unity Catalog model's: three parts, as Databricks tells them
    apart from the workspace registry's names."""
    return model_name.count(".") == 2


def _version_number(version: object) -> int:
    return _number(version, "version", least=1)


def _tags(raw: object, version_tags: bool = False) -> list[tuple[str, str]]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        raise InvalidParameterValue("Invalid tags: expected a list of {\"key\": …, \"value\": …}.")
    return [_tag(t.get("key"), t.get("value", ""), version_tags) for t in raw]


def _tag(key: object, value: object, version_tag: bool) -> tuple[str, str]:
    from mlflow.utils.validation import _validate_model_version_tag, _validate_registered_model_tag

    if not isinstance(value, str):
        raise InvalidParameterValue(f"Invalid value of tag {key!r}: expected a string, got {type(value).__name__}.")
    _checked(_validate_model_version_tag if version_tag else _validate_registered_model_tag, key, value)
    return str(key), value


def _page(rows: list[Any], max_results: object, page_token: object, default: int,
          most: int) -> tuple[list[Any], str | None]:
    size = default if max_results in (None, "", 0, "0") else _number(max_results, "max_results", least=1)
    if size > most:
        raise InvalidParameterValue(f"Invalid max_results {max_results!r}: expected 1 to {most}.")
    start = _number(page_token or "0", "page_token")
    return rows[start:start + size], (str(start + size) if start + size < len(rows) else None)


class RegisteredModels:
    """The registry: models, versions, tags and aliases, as MLflow's Unity Catalog client reads and writes them."""

    def __init__(self, catalog: CatalogStore, files_root: Path) -> None:
        self.catalog = catalog
        self.db = catalog.db
        self.files_root = files_root

    # -- models ---------------------------------------------------------------------------------------------------

    def _model_row(self, name: ModelName):
        row = self.db.connect().execute(
            "SELECT * FROM registered_models WHERE catalog_name = ? AND schema_name = ? AND name = ?",
            name.key).fetchone()
        if row is None:
            raise ResourceDoesNotExist(f"Registered model '{name.full}' does not exist.")
        return row

    def _in_existing_schema(self, name: ModelName) -> None:
        try:
            self.catalog.catalog(name.catalog)
        except CatalogError:
            raise ResourceDoesNotExist(f"Catalog '{name.catalog}' does not exist (for model '{name.full}').") from None
        try:
            self.catalog.schema(name.catalog, name.schema)
        except CatalogError:
            raise ResourceDoesNotExist(f"Schema '{name.catalog}.{name.schema}' does not exist (for model "
                                       f"'{name.full}'); create it with CREATE SCHEMA first.") from None

    def create_model(self, full_name: object, owner: str, description: str = "", tags: object = None) -> dict:
        name = ModelName.parse(full_name)
        self._in_existing_schema(name)
        now = _now()
        with self.db.transaction() as conn:
            if conn.execute("SELECT 1 FROM registered_models WHERE catalog_name = ? AND schema_name = ? AND name = ?",
                            name.key).fetchone():
                raise ResourceAlreadyExists(f"Registered model '{name.full}' already exists.")
            conn.execute("INSERT INTO registered_models VALUES (?, ?, ?, ?, ?, ?, ?, 1)",
                         (*name.key, description or "", owner, now, now))
            conn.executemany("INSERT OR REPLACE INTO model_tags VALUES (?, ?, ?, ?, ?)",
                             [(*name.key, k, v) for k, v in _tags(tags)])
        return self.get_model(name.full)

    def get_model(self, full_name: object) -> dict:
        name = ModelName.parse(full_name)
        return self._render_model(self._model_row(name))

    def models(self, catalog: str | None = None, schema: str | None = None) -> list[dict]:
        query, args = "SELECT * FROM registered_models", []
        if catalog:
            self.catalog.catalog(catalog)  # CATALOG_DOES_NOT_EXIST, as Databricks answers
            if schema:
                self.catalog.schema(catalog, schema)
            query += " WHERE catalog_name = ?" + (" AND schema_name = ?" if schema else "")
            args = [catalog.lower(), *([schema.lower()] if schema else [])]
        rows = self.db.connect().execute(query + " ORDER BY catalog_name, schema_name, name", args).fetchall()
        return [self._render_model(row) for row in rows]

    def search_models(self, max_results: object = None, page_token: object = None) -> tuple[list[dict], str | None]:
        return _page(self.models(), max_results, page_token, MODELS_PAGE, MAX_MODELS_PAGE)

    def update_model(self, full_name: object, description: str | None = None, new_name: object = None,
                     owner: str | None = None) -> dict:
        name = ModelName.parse(full_name)
        target = ModelName.parse(new_name) if new_name else name
        if target != name and (target.catalog, target.schema) != (name.catalog, name.schema):
            raise InvalidParameterValue(f"Cannot rename '{name.full}' to '{target.full}': a model keeps its catalog "
                                        "and schema when renamed.")
        with self.db.transaction() as conn:
            self._model_row(name)
            if target != name:
                if conn.execute("SELECT 1 FROM registered_models WHERE catalog_name = ? AND schema_name = ? "
                                "AND name = ?", target.key).fetchone():
                    raise ResourceAlreadyExists(f"Registered model '{target.full}' already exists.")
                conn.execute("UPDATE registered_models SET name = ? WHERE catalog_name = ? AND schema_name = ? "
                             "AND name = ?", (target.model, *name.key))
                if self._model_dir(name).exists():
                    self._model_dir(target).parent.mkdir(parents=True, exist_ok=True)
                    self._model_dir(name).rename(self._model_dir(target))
            if description is not None:
                conn.execute("UPDATE registered_models SET description = ? WHERE catalog_name = ? AND "
                             "schema_name = ? AND name = ?", (description, *target.key))
            if owner is not None:
                conn.execute("UPDATE registered_models SET owner = ? WHERE catalog_name = ? AND "
                             "schema_name = ? AND name = ?", (owner, *target.key))
            conn.execute("UPDATE registered_models SET updated_at = ? WHERE catalog_name = ? AND schema_name = ? "
                         "AND name = ?", (_now(), *target.key))
        return self.get_model(target.full)

    def delete_model(self, full_name: object) -> None:
        name = ModelName.parse(full_name)
        with self.db.transaction() as conn:
            self._model_row(name)
            conn.execute("DELETE FROM registered_models WHERE catalog_name = ? AND schema_name = ? AND name = ?",
                         name.key)  # versions, tags and aliases go with it (ON DELETE CASCADE)
        shutil.rmtree(self._model_dir(name), ignore_errors=True)

    def set_model_tag(self, full_name: object, key: object, value: object) -> None:
        name = ModelName.parse(full_name)
        tag = _tag(key, "" if value is None else value, version_tag=False)
        with self.db.transaction() as conn:
            self._model_row(name)
            conn.execute("INSERT OR REPLACE INTO model_tags VALUES (?, ?, ?, ?, ?)", (*name.key, *tag))

    def delete_model_tag(self, full_name: object, key: object) -> None:
        name = ModelName.parse(full_name)
        with self.db.transaction() as conn:
            self._model_row(name)
            if not conn.execute("DELETE FROM model_tags WHERE catalog_name = ? AND schema_name = ? AND model_name = ? "
                                "AND key = ?", (*name.key, key)).rowcount:
                raise ResourceDoesNotExist(f"Registered model '{name.full}' has no tag {key!r}.")

    def _render_model(self, row) -> dict:
        key = (row["catalog_name"], row["schema_name"], row["name"])
        conn = self.db.connect()
        tags = conn.execute("SELECT key, value FROM model_tags WHERE catalog_name = ? AND schema_name = ? AND "
                            "model_name = ? ORDER BY key", key).fetchall()
        aliases = conn.execute("SELECT alias, version FROM model_aliases WHERE catalog_name = ? AND schema_name = ? "
                               "AND model_name = ? ORDER BY alias", key).fetchall()
        return {"name": ".".join(key), "creation_timestamp": row["created_at"],
                "last_updated_timestamp": row["updated_at"], "user_id": row["owner"],
                "description": row["description"] or "",
                "aliases": [{"alias": a["alias"], "version": str(a["version"])} for a in aliases],
                "tags": [{"key": t["key"], "value": t["value"]} for t in tags]}

    # -- versions -------------------------------------------------------------------------------------------------

    def _version_row(self, name: ModelName, version: int):
        row = self.db.connect().execute(
            "SELECT * FROM model_versions WHERE catalog_name = ? AND schema_name = ? AND model_name = ? AND version = ?",
            (*name.key, version)).fetchone()
        if row is None:
            self._model_row(name)
            raise ResourceDoesNotExist(f"Model version '{name.full}' version {version} does not exist.")
        return row

    def create_version(self, full_name: object, source: object, user: str, *, run_id: str = "",
                       description: str = "", tags: object = None, run_tracking_server_id: str = "",
                       model_id: str = "") -> dict:
        name = ModelName.parse(full_name)
        if not isinstance(source, str) or not source:
            raise InvalidParameterValue("Missing required parameter: source")
        now = _now()
        with self.db.transaction() as conn:
            version = self._model_row(name)["next_version"]
            conn.execute("UPDATE registered_models SET next_version = ?, updated_at = ? WHERE catalog_name = ? AND "
                         "schema_name = ? AND name = ?", (version + 1, now, *name.key))
            conn.execute("INSERT INTO model_versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (*name.key, version, source, run_id or "", run_tracking_server_id or "", model_id or "",
                          description or "", PENDING, user, now, now))
            conn.executemany("INSERT OR REPLACE INTO model_version_tags VALUES (?, ?, ?, ?, ?, ?)",
                             [(*name.key, version, k, v) for k, v in _tags(tags, version_tags=True)])
        self.version_dir(name, version).mkdir(parents=True, exist_ok=True)
        return self.get_version(name.full, version)

    def finalize_version(self, full_name: object, version: object) -> dict:
        """The client's files are written: the version becomes READY (once; its files are then read-only)."""
        name, number = ModelName.parse(full_name), _version_number(version)
        with self.db.transaction() as conn:
            status = self._version_row(name, number)["status"]
            if status != PENDING:
                raise InvalidState(f"Model version '{name.full}' version {number} is {status}, not "
                                   f"{PENDING}: only a pending version can be finalized.")
            conn.execute("UPDATE model_versions SET status = ?, updated_at = ? WHERE catalog_name = ? AND "
                         "schema_name = ? AND model_name = ? AND version = ?", (READY, _now(), *name.key, number))
        return self.get_version(name.full, number)

    def get_version(self, full_name: object, version: object) -> dict:
        name, number = ModelName.parse(full_name), _version_number(version)
        return self._render_version(self._version_row(name, number))

    def status(self, name: ModelName, version: int) -> str:
        return str(self._version_row(name, version)["status"])

    def versions(self, full_name: object) -> list[dict]:
        name = ModelName.parse(full_name)
        self._model_row(name)
        return self._search_rows("catalog_name = ? AND schema_name = ? AND model_name = ?", list(name.key))

    def search_versions(self, filter_text: object, max_results: object = None,
                        page_token: object = None) -> tuple[list[dict], str | None]:
        where, args = _version_filter(filter_text)
        return _page(self._search_rows(where, args), max_results, page_token, VERSIONS_PAGE, MAX_VERSIONS_PAGE)

    def _search_rows(self, where: str, args: list) -> list[dict]:
        rows = self.db.connect().execute(f"SELECT * FROM model_versions WHERE {where} "  # where: a fixed clause
                                         "ORDER BY catalog_name, schema_name, model_name, version DESC",
                                         args).fetchall()
        return [self._render_version(row) for row in rows]

    def update_version(self, full_name: object, version: object, description: str | None) -> dict:
        """A version's description (left as it is when none is given: an update naming no field changed it to "")."""
        name, number = ModelName.parse(full_name), _version_number(version)
        with self.db.transaction() as conn:
            row = self._version_row(name, number)
            conn.execute("UPDATE model_versions SET description = ?, updated_at = ? WHERE catalog_name = ? AND "
                         "schema_name = ? AND model_name = ? AND version = ?",
                         (row["description"] if description is None else description, _now(), *name.key, number))
        return self.get_version(name.full, number)

    def delete_version(self, full_name: object, version: object) -> None:
        name, number = ModelName.parse(full_name), _version_number(version)
        with self.db.transaction() as conn:
            self._version_row(name, number)
            conn.execute("DELETE FROM model_versions WHERE catalog_name = ? AND schema_name = ? AND model_name = ? "
                         "AND version = ?", (*name.key, number))  # its tags and aliases go with it
        shutil.rmtree(self.version_dir(name, number), ignore_errors=True)

    def set_version_tag(self, full_name: object, version: object, key: object, value: object) -> None:
        name, number = ModelName.parse(full_name), _version_number(version)
        tag = _tag(key, "" if value is None else value, version_tag=True)
        with self.db.transaction() as conn:
            self._version_row(name, number)
            conn.execute("INSERT OR REPLACE INTO model_version_tags VALUES (?, ?, ?, ?, ?, ?)",
                         (*name.key, number, *tag))

    def delete_version_tag(self, full_name: object, version: object, key: object) -> None:
        name, number = ModelName.parse(full_name), _version_number(version)
        with self.db.transaction() as conn:
            self._version_row(name, number)
            if not conn.execute("DELETE FROM model_version_tags WHERE catalog_name = ? AND schema_name = ? AND "
                                "model_name = ? AND version = ? AND key = ?", (*name.key, number, key)).rowcount:
                raise ResourceDoesNotExist(f"Model version '{name.full}' version {number} has no tag {key!r}.")

    def record_lineage(self, full_name: object, version: object, direction: object, info: object) -> None:
        name, number = ModelName.parse(full_name), _version_number(version)
        with self.db.transaction() as conn:
            self._version_row(name, number)
            conn.execute("INSERT INTO model_lineage VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (*name.key, number, str(direction or ""), json.dumps(info), _now()))

    def _render_version(self, row) -> dict:
        key = (row["catalog_name"], row["schema_name"], row["model_name"], row["version"])
        conn = self.db.connect()
        tags = conn.execute("SELECT key, value FROM model_version_tags WHERE catalog_name = ? AND schema_name = ? "
                            "AND model_name = ? AND version = ? ORDER BY key", key).fetchall()
        aliases = conn.execute("SELECT alias FROM model_aliases WHERE catalog_name = ? AND schema_name = ? AND "
                               "model_name = ? AND version = ? ORDER BY alias", key).fetchall()
        name = ModelName(*key[:3])
        out = {"name": name.full, "version": str(row["version"]), "creation_timestamp": row["created_at"],
               "last_updated_timestamp": row["updated_at"], "user_id": row["user_id"],
               "description": row["description"] or "", "source": row["source"], "status": row["status"],
               "storage_location": self.version_dir(name, row["version"]).as_uri(),
               "aliases": [{"alias": a["alias"], "version": str(row["version"])} for a in aliases],
               "tags": [{"key": t["key"], "value": t["value"]} for t in tags]}
        for column in ("run_id", "run_tracking_server_id", "model_id"):
            if row[column]:
                out[column] = row[column]
        return out

    # -- aliases --------------------------------------------------------------------------------------------------

    def set_alias(self, full_name: object, alias: object, version: object) -> None:
        from mlflow.utils.validation import _validate_model_alias_name, _validate_model_alias_name_reserved

        name, number = ModelName.parse(full_name), _version_number(version)
        if not isinstance(alias, str):
            raise InvalidParameterValue(f"Invalid alias {alias!r}: expected a string.")
        _checked(_validate_model_alias_name, alias)
        _checked(_validate_model_alias_name_reserved, alias)
        with self.db.transaction() as conn:
            self._version_row(name, number)
            conn.execute("INSERT OR REPLACE INTO model_aliases VALUES (?, ?, ?, ?, ?)",
                         (*name.key, alias.lower(), number))

    def delete_alias(self, full_name: object, alias: object) -> None:
        name = ModelName.parse(full_name)
        with self.db.transaction() as conn:
            self._model_row(name)
            if not conn.execute("DELETE FROM model_aliases WHERE catalog_name = ? AND schema_name = ? AND "
                                "model_name = ? AND alias = ?", (*name.key, str(alias).lower())).rowcount:
                raise ResourceDoesNotExist(f"Registered model '{name.full}' has no alias {alias!r}.")

    def version_by_alias(self, full_name: object, alias: object) -> dict:
        name = ModelName.parse(full_name)
        self._model_row(name)
        row = self.db.connect().execute(
            "SELECT version FROM model_aliases WHERE catalog_name = ? AND schema_name = ? AND model_name = ? AND "
            "alias = ?", (*name.key, str(alias).lower())).fetchone()
        if row is None:
            raise ResourceDoesNotExist(f"Registered model '{name.full}' has no alias {alias!r}.")
        return self.get_version(name.full, row["version"])

    # -- files ----------------------------------------------------------------------------------------------------

    def _model_dir(self, name: ModelName) -> Path:
        return self.files_root / name.catalog / name.schema / name.model

    def version_dir(self, name: ModelName, version: int) -> Path:
        return self._model_dir(name) / str(version)


def _version_filter(filter_text: object) -> tuple[str, list]:
    """The SQL condition for one of Unity Catalog's ``search_model_versions`` filters (``_FILTER_HELP``)."""
    text = str(filter_text or "").strip()
    if not text:
        raise InvalidParameterValue(f"Missing filter: {_FILTER_HELP}.")
    quoted = r"""(?:'([^']*)'|"([^"]*)")"""
    one = re.fullmatch(rf"(name|run_id)\s*=\s*{quoted}", text, re.IGNORECASE)
    if one:
        value = one.group(2) if one.group(2) is not None else one.group(3)
        if one.group(1).lower() == "run_id":
            return "run_id = ?", [value]
        name = ModelName.parse(value)
        return "catalog_name = ? AND schema_name = ? AND model_name = ?", list(name.key)
    many = re.fullmatch(rf"run_id\s+IN\s*\(\s*({quoted}(?:\s*,\s*{quoted})*)\s*\)", text, re.IGNORECASE)
    if many:
        ids = [a or b for a, b in re.findall(quoted, many.group(1))]
        return f"run_id IN ({', '.join('?' for _ in ids)})", ids
    raise InvalidParameterValue(f"Unsupported filter {text!r}: {_FILTER_HELP}.")


class ModelVersionFiles(Volumes):
    """The Files API at ``/Models/<catalog>/<schema>/<model>/<version>/…``: a registered version's files. Writes are
    accepted only while the version is pending (Unity Catalog's versions are immutable once finalized); reads only
    for versions that exist."""

    PREFIX: ClassVar[str] = FILES_PREFIX

    def __init__(self, models: RegisteredModels) -> None:
        super().__init__(models.files_root)
        self.models = models

    def _version(self, raw: str) -> tuple[str, ModelName, int, list[str]]:
        path = clean_path(raw, "file_path")
        parts = path[len(self.PREFIX):].strip("/").split("/") if path.startswith(self.PREFIX + "/") else []
        if len(parts) < 4:
            raise InvalidParameterValue(f"Invalid path {raw!r}: a model version's files are at "
                                        f"{self.PREFIX}/<catalog>/<schema>/<model>/<version>/….")
        name = ModelName.parse(".".join(parts[:3]))
        return path, name, _version_number(parts[3]), parts[4:]

    def path(self, raw: str) -> tuple[str, Path]:
        path, name, version, rest = self._version(raw)
        self.models.status(name, version)  # the version exists
        return path, under(self.root, "/".join((name.catalog, name.schema, name.model, str(version), *rest)))

    def directory(self, raw: str) -> tuple[str, Path]:
        return self.path(raw)

    def begin_upload(self, raw: str, overwrite: bool) -> Upload:
        self._writable(raw)
        return super().begin_upload(raw, overwrite)

    def delete(self, raw: str) -> None:
        self._writable(raw)
        super().delete(raw)

    def create_directory(self, raw: str) -> None:
        self._writable(raw)
        super().create_directory(raw)

    def delete_directory(self, raw: str) -> None:
        self._writable(raw)
        super().delete_directory(raw)

    def _writable(self, raw: str) -> None:
        _, name, version, _ = self._version(raw)
        status = self.models.status(name, version)
        if status != PENDING:
            raise InvalidState(f"Model version '{name.full}' version {version} is {status}: its files were "
                               "finalized and cannot change; register a new version.")
