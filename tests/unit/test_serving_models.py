"""Models kept in memory for serving: an alias that moves is swapped to the new version and the old version is let
go, unless another alias or an endpoint naming it by number still serves it."""

from __future__ import annotations

from types import SimpleNamespace

import mlflow.pyfunc

from odoolake.workspace.serving.models import ModelStore


class Registry:
    def __init__(self, aliases: dict[str, str]) -> None:
        self.aliases = aliases

    def get_model_version(self, name: str, version: str):
        return SimpleNamespace(version=version)

    def get_model_version_by_alias(self, name: str, alias: str):
        return SimpleNamespace(version=self.aliases[alias])

    def get_model_version_download_uri(self, name: str, version: str) -> str:
        return f"/models/{name}/{version}"


def store(monkeypatch, aliases: dict[str, str]) -> tuple[ModelStore, Registry]:
    loads: list[str] = []
    monkeypatch.setattr(mlflow.pyfunc, "load_model", lambda uri: loads.append(uri) or SimpleNamespace(
        uri=uri, metadata=SimpleNamespace(get_input_schema=lambda: None)))
    models = ModelStore(paths=None, alias_poll_seconds=3600)  # type: ignore[arg-type]
    registry = Registry(aliases)
    models._client = registry  # type: ignore[assignment]
    monkeypatch.setattr(models, "_ensure_watcher", lambda: None)  # refresh_aliases is called by the test
    return models, registry


def test_a_moved_alias_lets_the_old_version_go(monkeypatch):
    models, registry = store(monkeypatch, {"champion": "1"})
    assert models.get("wht", "champion").version == "1"
    for week in range(2, 6):
        registry.aliases["champion"] = str(week)
        assert models.refresh_aliases() == [("wht", "champion", str(week))]
        assert models.peek("wht", "champion").version == str(week)
    assert sorted(models._loaded) == [("wht", "5")]


def test_a_version_another_alias_or_a_number_serves_is_kept(monkeypatch):
    models, registry = store(monkeypatch, {"champion": "1", "stable": "1", "challenger": "2"})
    models.get("wht", "champion")
    models.get("wht", "stable")
    models.get("wht", "challenger")
    models.get("wht", "2")  # an endpoint that names version 2
    registry.aliases.update(champion="3", challenger="3")
    models.refresh_aliases()
    assert models.peek("wht", "1") is not None  # still the stable alias's
    assert models.peek("wht", "2") is not None  # still served by number
    registry.aliases["stable"] = "3"
    models.refresh_aliases()
    assert sorted(models._loaded) == [("wht", "2"), ("wht", "3")]


def test_an_alias_whose_version_was_let_go_meanwhile_is_loaded_again_not_a_key_error(monkeypatch):
    """Alias B is registered for version 1 while alias A moves off it (no alias pointed to 1 yet, so it was let
    go): B's requests load it again."""
    models, _ = store(monkeypatch, {"champion": "1", "challenger": "1"})
    models.get("wht", "champion")
    models.get("wht", "challenger")
    models._loaded.pop(("wht", "1"))  # what the watcher's swap of the champion did in between
    assert models.get("wht", "challenger").version == "1"
    assert models.get("wht", "challenger") is models.get("wht", "challenger")  # and kept again


def test_a_version_loaded_for_an_alias_and_then_asked_by_number_needs_no_registry_call(monkeypatch):
    models, registry = store(monkeypatch, {"champion": "3"})
    champion = models.get("wht", "champion")
    calls, resolve = [], models.resolve
    monkeypatch.setattr(models, "resolve", lambda name, ref: calls.append(ref) or ref)  # the serving path's cost
    assert models.get("wht", "3") is champion and calls == []
    monkeypatch.setattr(models, "resolve", resolve)
    registry.aliases["champion"] = "4"
    models.refresh_aliases()
    assert models.peek("wht", "3") is champion  # kept: an endpoint asks for it by number
