"""Models kept in memory for serving: an alias that moves is swapped to the new version and the old version is let
go, unless another alias or an endpoint naming it by number still serves it."""

from __future__ import annotations

from types import SimpleNamespace

import mlflow.pyfunc
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST

from odoolake.workspace.errors import InvalidState
from odoolake.workspace.serving.models import ModelStore


class Registry:
    def __init__(self, aliases: dict[str, str]) -> None:
        self.aliases = aliases
        self.made: dict[str, int] = {}  # version -> when it was registered; missing ones are made on first ask
        self.gone: set[str] = set()
        self.pending: set[str] = set()  # versions not finalized yet

    def get_model_version(self, name: str, version: str):
        if version in self.gone:
            raise MlflowException(f"Model Version (name={name}, version={version}) not found",
                                  RESOURCE_DOES_NOT_EXIST)
        return SimpleNamespace(version=version, creation_timestamp=self.made.setdefault(version, 1000))

    def get_model_version_by_alias(self, name: str, alias: str):
        if self.aliases[alias] in self.pending:
            raise InvalidState(f"Model {name} version {self.aliases[alias]} is PENDING_REGISTRATION")
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


def test_an_alias_that_cannot_be_followed_does_not_hold_up_the_others(monkeypatch):
    """An alias pointed at a version still pending (its client crashed, say) stopped every other alias from moving:
    the watcher's pass ended at the first failure."""
    models, registry = store(monkeypatch, {"stuck": "1", "moving": "1"})
    models.get("a", "stuck")
    models.get("b", "moving")
    registry.pending.add("2")
    registry.aliases.update(stuck="2", moving="3")
    assert models.refresh_aliases() == [("b", "moving", "3")]
    assert models.peek("a", "stuck").version == "1" and models.peek("b", "moving").version == "3"


def test_a_version_deleted_or_registered_again_is_let_go(monkeypatch):
    """An endpoint kept answering from a deleted model (and, once the name was registered again with another
    model, from the old one) until the server restarted."""
    models, registry = store(monkeypatch, {"champion": "2"})
    models.get("wht", "1")
    models.get("wht", "champion")
    assert models.forget_deleted() == []
    registry.gone.add("1")
    registry.made["2"] = 2000  # version 2 deleted and registered again: another model
    assert sorted(models.forget_deleted()) == [("wht", "1"), ("wht", "2")]
    assert models.peek("wht", "1") is None and models.peek("wht", "champion") is None
    assert models.get("wht", "champion").registered_at == 2000  # asked again, the new one


def test_a_models_logs_keep_its_newest_lines_and_leave_requests_out_of_the_workspace_log(caplog):
    import logging

    from odoolake.workspace.serving.logs import MAX_LINES, ModelLogs

    logs = ModelLogs(logging.getLogger("odoolake.test.served"))
    with caplog.at_level(logging.INFO, logger="odoolake.test.served"):
        logs.note("m", logging.INFO, "loaded model m version 1 in 0.10 s", build=True)
        for i in range(MAX_LINES + 5):
            logs.note("m", logging.INFO, f"POST /serving-endpoints/e/invocations 200 in {i} ms")
        logs.note("m", logging.WARNING, "POST /serving-endpoints/e/invocations 400 in 3 ms: Failed\nError: bad")
    lines = logs.text(["m"]).splitlines()
    assert len(lines) == MAX_LINES == 1000 and lines[0].endswith("200 in 6 ms")  # the oldest went first
    assert lines[-1].endswith("WARNING POST /serving-endpoints/e/invocations 400 in 3 ms: Failed Error: bad")
    assert logs.text(["m"], build=True).endswith("INFO loaded model m version 1 in 0.10 s")
    assert logs.text(["other"]) == ""
    logs.note("n", logging.INFO, "POST /serving-endpoints/f/invocations 200 in 1 ms")
    merged = logs.text(["n", "m", "n"]).splitlines()  # sources merged in time order, each once
    assert len(merged) == MAX_LINES and merged[-1].endswith("/f/invocations 200 in 1 ms")
    echoed = [r.getMessage() for r in caplog.records]
    assert echoed == ["loaded model m version 1 in 0.10 s", "POST /serving-endpoints/e/invocations 400 in 3 ms: "
                                                             "Failed\nError: bad"]  # answered requests stay out
