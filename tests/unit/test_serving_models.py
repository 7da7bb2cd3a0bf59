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
