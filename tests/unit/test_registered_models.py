"""Unity Catalog's registered models (``catalog/models.py``): the rules MLflow's ``databricks-uc`` client relies on,
checked on the store itself. (The real client against a running workspace: the integration test
``test_mlflow_unity_catalog``.)"""

from __future__ import annotations

import re

import pytest

from odoolake.config import WorkspacePaths
from odoolake.workspace.catalog.models import (
    PENDING,
    READY,
    ModelName,
    ModelVersionFiles,
    RegisteredModels,
    in_unity_catalog,
)
from odoolake.workspace.catalog.store import CatalogError, CatalogStore
from odoolake.workspace.errors import InvalidParameterValue, InvalidState, ResourceAlreadyExists, ResourceDoesNotExist

NAME = "main.default.forecast"


@pytest.fixture
def models(tmp_path) -> RegisteredModels:
    catalog = CatalogStore(WorkspacePaths.from_env(tmp_path).ensure(), "owner@example.ph")
    return RegisteredModels(catalog, tmp_path / "models")


def _ready(models: RegisteredModels, run_id: str = "") -> str:
    version = models.create_version(NAME, "models:/m-1", "dev@example.ph", run_id=run_id)["version"]
    models.finalize_version(NAME, version)
    return version


def test_a_version_is_pending_until_finalized_once(models):
    models.create_model(NAME, "dev@example.ph")
    made = models.create_version(NAME, "models:/m-1", "dev@example.ph", run_id="r1")
    assert (made["version"], made["status"], made["run_id"]) == ("1", PENDING, "r1")
    assert models.finalize_version(NAME, "1")["status"] == READY
    with pytest.raises(InvalidState, match="only a pending version can be finalized"):
        models.finalize_version(NAME, "1")


def test_names_have_three_parts_in_a_schema_that_exists(models):
    with pytest.raises(InvalidParameterValue, match="Unity Catalog model names have three parts"):
        models.create_model("default.forecast", "dev")
    with pytest.raises(ResourceDoesNotExist, match=re.escape("Schema 'main.nowhere' does not exist")):
        models.create_model("main.nowhere.forecast", "dev")
    models.create_model("MAIN.Default.Forecast", "dev")  # Unity Catalog names are case-insensitive
    with pytest.raises(ResourceAlreadyExists, match=re.escape("'main.default.forecast' already exists")):
        models.create_model(NAME, "dev")
    assert in_unity_catalog(NAME) and not in_unity_catalog("bir_forecast") and not in_unity_catalog("a.b")


def test_version_numbers_are_not_reused_after_a_delete(models):
    models.create_model(NAME, "dev")
    _ready(models)
    second = _ready(models)
    models.delete_version(NAME, second)
    assert _ready(models) == "3"
    with pytest.raises(ResourceDoesNotExist, match="version 2 does not exist"):
        models.get_version(NAME, "2")


def test_searches_filter_by_name_or_run(models):
    models.create_model(NAME, "dev")
    models.create_model("main.default.other", "dev")
    _ready(models, run_id="run-a")
    _ready(models, run_id="run-b")
    models.create_version("main.default.other", "models:/m-2", "dev", run_id="run-a")
    by_name, _ = models.search_versions(f"name = '{NAME}'")
    assert [v["version"] for v in by_name] == ["2", "1"]  # newest first
    by_run, _ = models.search_versions("run_id='run-a'")
    assert sorted((v["name"], v["version"]) for v in by_run) == [(NAME, "1"), ("main.default.other", "1")]
    in_list, _ = models.search_versions("run_id IN ('run-b', 'run-x')")
    assert [(v["name"], v["version"]) for v in in_list] == [(NAME, "2")]
    for unsupported in ("", "tags.x = 'y'", "name LIKE 'main%'"):
        with pytest.raises(InvalidParameterValue, match=re.escape("name = '<catalog.schema.model>'")):
            models.search_versions(unsupported)


def test_search_pages(models):
    for index in range(5):
        models.create_model(f"main.default.m{index}", "dev")
    first, token = models.search_models(max_results=2)
    second, token2 = models.search_models(max_results=2, page_token=token)
    last, end = models.search_models(max_results=2, page_token=token2)
    assert [m["name"] for m in first + second + last] == [f"main.default.m{i}" for i in range(5)] and end is None
    with pytest.raises(InvalidParameterValue, match="expected 1 to 1000"):
        models.search_models(max_results=1001)


def test_aliases_point_at_versions_and_go_with_them(models):
    models.create_model(NAME, "dev")
    first, second = _ready(models), _ready(models)
    models.set_alias(NAME, "Champion", first)
    models.set_alias(NAME, "champion", second)  # moved, not added
    assert models.version_by_alias(NAME, "champion")["version"] == second
    assert models.get_model(NAME)["aliases"] == [{"alias": "champion", "version": second}]
    for reserved, why in (("latest", "'latest' alias name (case insensitive) is reserved"),
                          ("v3", "Version alias name 'v3' is reserved"),
                          ("bad alias/!!", "Invalid alias name: 'bad alias/!!'"),
                          ("a" * 256, "exceeds the maximum length of 255")):  # MLflow's own rules
        with pytest.raises(InvalidParameterValue, match=re.escape(why)):
            models.set_alias(NAME, reserved, first)
    models.delete_version(NAME, second)
    with pytest.raises(ResourceDoesNotExist, match="has no alias 'champion'"):
        models.version_by_alias(NAME, "champion")


def test_a_rename_keeps_versions_tags_and_files(models):
    models.create_model(NAME, "dev", tags=[{"key": "team", "value": "tax"}])
    version = _ready(models)
    models.set_version_tag(NAME, version, "stage", "candidate")
    old_files = models.version_dir(ModelName.parse(NAME), 1)
    (old_files / "MLmodel").write_text("flavors: {}\n")
    renamed = models.update_model(NAME, new_name="main.default.forecast_v2", description="renamed")
    assert renamed["tags"] == [{"key": "team", "value": "tax"}] and renamed["description"] == "renamed"
    moved = models.get_version("main.default.forecast_v2", version)
    assert moved["tags"] == [{"key": "stage", "value": "candidate"}]
    assert (models.version_dir(ModelName.parse("main.default.forecast_v2"), 1) / "MLmodel").is_file()
    assert not old_files.exists()
    with pytest.raises(InvalidParameterValue, match="keeps its catalog and schema"):
        models.update_model("main.default.forecast_v2", new_name="main.information_schema.x")


def test_a_versions_files_are_written_only_while_it_is_pending(models):
    files = ModelVersionFiles(models)
    models.create_model(NAME, "dev")
    version = models.create_version(NAME, "models:/m-1", "dev")["version"]
    path = f"/Models/main/default/forecast/{version}/MLmodel"
    files.upload(path, b"flavors: {}\n", overwrite=True)
    assert files.file(path).read_bytes() == b"flavors: {}\n"
    models.finalize_version(NAME, version)
    with pytest.raises(InvalidState, match="finalized and cannot change"):
        files.upload(path, b"changed", overwrite=True)
    with pytest.raises(InvalidState, match="finalized and cannot change"):
        files.delete(path)
    assert files.file(path).read_bytes() == b"flavors: {}\n"
    with pytest.raises(ResourceDoesNotExist, match="version 9 does not exist"):
        files.file("/Models/main/default/forecast/9/MLmodel")
    with pytest.raises(InvalidParameterValue, match="/Models/<catalog>/<schema>/<model>/<version>"):
        files.file("/Models/main/default")
    with pytest.raises(InvalidParameterValue, match="segments are not allowed"):
        files.file(f"/Models/main/default/forecast/{version}/../../../../../etc/passwd")


def test_a_schema_with_models_is_not_dropped_from_under_them(models):
    models.catalog.create_schema("main", "ml")
    models.create_model("main.ml.forecast", "dev")
    with pytest.raises(CatalogError, match="has 1 registered model"):
        models.catalog.delete_schema("main", "ml", force=True)
    models.delete_model("main.ml.forecast")
    models.catalog.delete_schema("main", "ml")


def test_odd_numbers_and_names_are_a_clear_400(models):
    """A version past 64 bits was a 500 (SQLite's OverflowError) that MLflow's client retried for four minutes;
    "²" and "١" are digits to ``str.isdigit`` (a 500, and version 1)."""
    models.create_model(NAME, "dev")
    for version in ("99999999999999999999", "²", "١", "0", "-1", "1.0"):
        with pytest.raises(InvalidParameterValue, match="Invalid version"):
            models.get_version(NAME, version)
    for size in ("²", "10001x"):
        with pytest.raises(InvalidParameterValue, match="Invalid max_results"):
            models.search_models(max_results=size)
    with pytest.raises(InvalidParameterValue, match="Invalid page_token"):
        models.search_models(page_token="١")
    models.create_model("main.default.My-Model", "dev")  # Unity Catalog allows hyphens, not periods or spaces
    assert models.get_model("main.default.my-model")["name"] == "main.default.my-model"
    for bad in ("main.default." + "m" * 256, "main.default.a b", "main.default.a/b"):
        with pytest.raises(InvalidParameterValue, match="a Unity Catalog name has 1 to 255 characters"):
            models.create_model(bad, "dev")
    with pytest.raises(ResourceDoesNotExist, match="Catalog 'nocat' does not exist"):
        models.create_model("nocat.default.m", "dev")
    with pytest.raises(CatalogError, match="nocat"):
        models.models("nocat")


def test_tags_are_strings_within_mlflows_limits_and_an_update_keeps_what_it_does_not_name(models):
    models.create_model(NAME, "dev")
    version = _ready(models)
    models.update_version(NAME, version, "first description")
    models.update_version(NAME, version, None)  # a PATCH naming no description: kept (it was emptied)
    assert models.get_version(NAME, version)["description"] == "first description"
    with pytest.raises(InvalidParameterValue, match="expected a string, got dict"):
        models.set_version_tag(NAME, version, "k", {"a": 1})
    with pytest.raises(InvalidParameterValue, match="exceeds the maximum length"):
        models.set_model_tag(NAME, "k", "x" * 100_001)


def test_a_version_not_finalized_is_not_served(models):
    from odoolake.workspace.serving.models import ModelStore

    models.create_model(NAME, "dev")
    pending = models.create_version(NAME, "models:/m-1", "dev")["version"]
    store = ModelStore(paths=None, registered=models)  # type: ignore[arg-type]
    with pytest.raises(InvalidState, match="PENDING_REGISTRATION: its files are not finalized yet"):
        store.resolve(NAME, pending)
    models.finalize_version(NAME, pending)
    assert store.resolve(NAME, pending) == pending
