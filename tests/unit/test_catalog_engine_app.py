"""The catalog as the engine reads it (``catalog.app``): the table answer Sail asks for with every query that names a
table is served without FastAPI's machinery, kept while the table is unchanged, and must say what the route says;
anything else is the route's."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pyarrow as pa
from deltalake import write_deltalake
from fastapi.testclient import TestClient

from odoolake.config import WorkspacePaths
from odoolake.workspace.catalog import routes
from odoolake.workspace.catalog.app import TABLE_PATH, TableAnswers, catalog_app
from odoolake.workspace.catalog.store import CatalogStore, FullName

SECRET = "s3cret"



def _store(tmp_path) -> CatalogStore:
    store = CatalogStore(WorkspacePaths.from_env(str(tmp_path)), "owner@localhost")
    store.create_schema("main", "gold")
    location = store.managed_location("gold", "ewt")  # a managed table: the engine is told it is EXTERNAL
    write_deltalake(str(location), pa.table({"agency": ["RIM"], "amount": pa.array([1.5], pa.float64())}),
                    partition_by=["agency"])
    assert store.create_table(FullName("main", "gold", "ewt"), None).table_type == "MANAGED"
    return store


class _EngineRequest:
    """What ``routes.get_table`` reads of a request: the app's state, as ``catalog_app`` sets it."""

    def __init__(self, store: CatalogStore) -> None:
        self.app = type("App", (), {"state": type("State", (), {"catalog": store, "catalog_for_engine": True})()})()
        self.scope: dict = {}


def test_the_table_answer_is_the_routes_answer(tmp_path):
    store = _store(tmp_path)
    client = TestClient(catalog_app(store, SECRET), headers={"Authorization": f"Bearer {SECRET}"})
    served = client.get(f"{TABLE_PATH}main.gold.ewt")
    assert served.status_code == 200 and served.headers["content-type"] == "application/json"
    assert served.json() == json.loads(TableAnswers(store)("GET", f"{TABLE_PATH}main.gold.ewt"))
    assert served.json() == routes.get_table("main.gold.ewt", _EngineRequest(store))  # the route's own answer
    body = served.json()
    assert body["table_type"] == "EXTERNAL" and body["storage_location"].startswith("file://")
    assert [(c["name"], c["type_name"], c.get("partition_index")) for c in body["columns"]] == [
        ("agency", "STRING", 0), ("amount", "DOUBLE", None)]


def test_everything_else_is_answered_by_the_app(tmp_path):
    store = _store(tmp_path)
    client = TestClient(catalog_app(store, SECRET), headers={"Authorization": f"Bearer {SECRET}"})
    table_answer = TableAnswers(store)
    assert table_answer("GET", f"{TABLE_PATH}main.gold.nope") is None
    missing = client.get(f"{TABLE_PATH}main.gold.nope")
    assert missing.status_code == 404 and missing.json()["error_code"] == "TABLE_DOES_NOT_EXIST"
    assert table_answer("GET", f"{TABLE_PATH}gold.ewt") is None
    assert client.get(f"{TABLE_PATH}gold.ewt").status_code == 400  # not catalog.schema.table
    assert table_answer("DELETE", f"{TABLE_PATH}main.gold.ewt") is None
    assert table_answer("GET", f"{TABLE_PATH}main.gold.ewt/exists") is None
    assert client.get(f"{TABLE_PATH}main.gold.ewt/exists").json() == {"table_exists": True}
    refused = TestClient(catalog_app(store, SECRET)).get(f"{TABLE_PATH}main.gold.ewt")
    assert refused.status_code == 401  # the secret is checked before any answer


def test_a_table_whose_log_changed_is_read_by_the_app_not_on_the_event_loop(tmp_path):
    store = _store(tmp_path)
    client = TestClient(catalog_app(store, SECRET), headers={"Authorization": f"Bearer {SECRET}"})
    path = f"{TABLE_PATH}main.gold.ewt"
    table_answer = TableAnswers(store)
    client.get(path)  # the log has been read
    assert table_answer("GET", path) is not None
    location = store.managed_location("gold", "ewt")
    write_deltalake(str(location), pa.table({"agency": ["BOM"], "amount": pa.array([2.0], pa.float64()),
                                             "note": ["new column"]}), mode="append", schema_mode="merge")
    assert table_answer("GET", path) is None  # a commit since: reading its log is the app's job
    body = client.get(path).json()
    assert "note" in [c["name"] for c in body["columns"]]  # the new commit's schema
    assert json.loads(table_answer("GET", path)) == body  # read once, answered on the fast path again


def test_a_kept_answer_is_given_only_while_the_catalog_row_and_the_log_are_unchanged(tmp_path):
    store = _store(tmp_path)
    client = TestClient(catalog_app(store, SECRET), headers={"Authorization": f"Bearer {SECRET}"})
    location = str(tmp_path / "external" / "ledger")  # an external table: dropping it keeps its files and log
    write_deltalake(location, pa.table({"agency": ["RIM"], "amount": pa.array([1.5], pa.float64())}))
    name = FullName("main", "gold", "ledger")
    store.create_table(name, location)
    path = f"{TABLE_PATH}main.gold.ledger"
    table_answer = TableAnswers(store)
    client.get(path)  # the log has been read
    first = table_answer("GET", path)
    assert first is not None and table_answer("GET", path) is first  # kept: built once
    # the same name registered again over the same, unchanged log: only the catalog row differs
    store.delete_table(name)
    assert table_answer("GET", path) is None and client.get(path).status_code == 404
    store.create_table(name, location, comment="re-registered")
    again = json.loads(table_answer("GET", path))
    assert again["comment"] == "re-registered" and again["table_id"] != json.loads(first)["table_id"]
    assert again == client.get(path).json()


def test_a_log_read_within_a_clock_tick_of_its_last_commit_is_read_again(tmp_path, monkeypatch):
    """Two commits in one tick of the kernel's coarse clock leave the log directory the same mtime: a read between
    them must not stand for the second (here the second commit is given the first one's mtime)."""
    from odoolake.workspace.catalog import columns

    monkeypatch.setattr(columns, "SETTLE_NS", 600 * 10**9)  # "within a tick" however slowly this machine gets there
    store = _store(tmp_path)
    location = store.managed_location("gold", "ewt")
    log = Path(location, "_delta_log")
    stamp = time.time_ns()
    os.utime(log, ns=(stamp, stamp))  # the first commit, just now
    assert "note" not in [c["name"] for c in store.table(FullName("main", "gold", "ewt")).columns]
    write_deltalake(str(location), pa.table({"agency": ["BOM"], "amount": pa.array([2.0], pa.float64()),
                                             "note": ["new column"]}), mode="append", schema_mode="merge")
    os.utime(log, ns=(stamp, stamp))  # the second commit, in the same tick
    assert "note" in [c["name"] for c in store.table(FullName("main", "gold", "ewt")).columns]


def test_listings_page_by_databricks_rule(tmp_path):
    """Without ``max_results`` every table (Databricks' rule, and all Sail's catalog provider reads: it asks once);
    with 0 a page of the server's size; with n at most n, and never more than the server's size."""
    store = _store(tmp_path)
    store.create_schema("main", "many")
    count = routes.MAX_PAGE + 2
    for i in range(count):
        store.create_table(FullName("main", "many", f"t{i:05d}"), None)
    client = TestClient(catalog_app(store, SECRET), headers={"Authorization": f"Bearer {SECRET}"})
    listing = f"{routes.PREFIX}/tables?catalog_name=main&schema_name=many"

    def names(query: str) -> tuple[list[str], str | None]:
        answer = client.get(listing + query)
        assert answer.status_code == 200, answer.text
        return [t["name"] for t in answer.json()["tables"]], answer.json().get("next_page_token")

    whole, token = names("")
    assert len(whole) == count and len(set(whole)) == count and token is None
    first, token = names("&max_results=0")
    assert first == whole[:routes.MAX_PAGE] and token is not None
    rest, last = names(f"&max_results=0&page_token={token}")
    assert rest == whole[routes.MAX_PAGE:] and last is None
    assert names(f"&max_results={count}")[0] == whole[:routes.MAX_PAGE]  # the server's size at most
    three, token = names("&max_results=3")
    assert three == whole[:3] and token == "3"
    summaries = f"{routes.PREFIX}/table-summaries?catalog_name=main&schema_name_pattern=many"
    assert len(client.get(summaries).json()["tables"]) == count  # a page of 10,000 unless asked
    paged = client.get(summaries + "&max_results=2").json()
    assert len(paged["tables"]) == 2 and paged["next_page_token"] == "2"
    refused = client.get(listing + "&max_results=-1")
    assert refused.status_code == 400 and refused.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "max_results -1" in refused.json()["message"]


def test_table_summaries_read_both_patterns_as_sql_like(tmp_path):
    """Found by an audit: the table pattern was ignored and the schema pattern taken for a schema's name."""
    store = _store(tmp_path)
    for schema, tables in (("bir", ["form_2307", "forms_log", "remittances"]), ("birx", ["form_x"]),
                           ("ledger", ["move_lines"])):
        store.create_schema("main", schema)
        for table in tables:
            store.create_table(FullName("main", schema, table), None)
    client = TestClient(catalog_app(store, SECRET), headers={"Authorization": f"Bearer {SECRET}"})

    def summaries(query: str) -> list[str]:
        answer = client.get(f"{routes.PREFIX}/table-summaries?catalog_name=main{query}")
        assert answer.status_code == 200, answer.text
        return sorted(t["full_name"] for t in answer.json()["tables"])

    assert summaries("&schema_name_pattern=bir&table_name_pattern=remittances") == ["main.bir.remittances"]
    assert summaries("&schema_name_pattern=bir&table_name_pattern=form%25") == ["main.bir.form_2307",
                                                                                 "main.bir.forms_log"]
    assert summaries("&schema_name_pattern=bir&table_name_pattern=form_") == []  # one character, not a prefix
    assert summaries("&schema_name_pattern=bi%25&table_name_pattern=form_%25") == [
        "main.bir.form_2307", "main.bir.forms_log", "main.birx.form_x"]
    assert summaries("&schema_name_pattern=led%25") == ["main.ledger.move_lines"]
    # nothing but % and _ is a wildcard (the SHOW TABLES forms * . | match themselves), and \ escapes them
    for literal in ("form*", "f.rm%25", "qap%7Cremittances", "*"):
        assert summaries(f"&schema_name_pattern=bir&table_name_pattern={literal}") == [], literal
    assert summaries("&schema_name_pattern=bir&table_name_pattern=form%5C_2307") == ["main.bir.form_2307"]
    assert summaries("&schema_name_pattern=bir&table_name_pattern=form%5C_%25") == ["main.bir.form_2307"]
    everything = summaries("")
    assert set(summaries("&table_name_pattern=%25")) == set(everything) == set(summaries("&schema_name_pattern="))
    assert {"main.bir.remittances", "main.ledger.move_lines"} <= set(everything)
    assert "main.information_schema.tables" in summaries("&schema_name_pattern=information_schema")
