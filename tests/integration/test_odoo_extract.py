"""The real Odoo client and extractor driven against FakeOdooServer (a protocol-level fake of Odoo's JSON-2 and
JSON-RPC APIs; no Odoo server can be installed here), then through bronze → silver → gold."""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from odoolake.bir.tin import TinStatus
from odoolake.cli.common import dbfs_lister
from odoolake.config import WorkspacePaths
from odoolake.datagen import GenConfig, generate
from odoolake.odoo import OdooAccessError, OdooAuthError, OdooClient, OdooMissingError, OdooSettings, OdooUnavailable
from odoolake.odoo.extract import (
    CheckpointStore,
    Extractor,
    ExtractResult,
    LakeView,
)
from odoolake.pipeline import month_end
from odoolake.pipeline.schemas import ACCOUNT_MOVE, RES_CURRENCY_RATE
from odoolake.testing.fake_odoo import FakeOdoo, FakeOdooServer
from odoolake.workspace.engine import LocalEngine

CFG = GenConfig(months=3, end=date(2026, 10, 1), lines=6000, seed=21)
KEY = "s3cret-odoo-api-key"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 2, 1, 0, tzinfo=UTC).timestamp()

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    raw = tmp_path_factory.mktemp("generated") / "raw"
    generate(CFG, raw)
    return raw


def _db(generated: Path, version: int = 19) -> FakeOdoo:
    return FakeOdoo.from_raw(generated, version=version, api_key=KEY, clock=Clock())


def _settings(url: str, **kw) -> OdooSettings:
    return OdooSettings(url=url, api_key=KEY, retries=kw.pop("retries", 2), backoff=0.01, timeout=kw.pop("timeout", 5),
                        max_rps=1000, **kw)


def _visible(raw_dir: Path) -> list[str]:
    return sorted(p.relative_to(raw_dir).as_posix() for p in raw_dir.glob("*/*.jsonl"))


def test_full_then_incremental_extraction_feeds_the_month_end(generated, tmp_path):
    db = _db(generated)
    paths = WorkspacePaths.from_env(tmp_path / "lake").ensure()
    raw_dir = paths.dbfs_to_local("dbfs:/raw/odoo")
    with FakeOdooServer(db) as server:
        client = OdooClient(_settings(server.url))
        assert client.protocol == "json2" and client.version == 19
        first = Extractor(client, raw_dir, page_size=500).run()
        moves = db.models["account.move"].records
        assert first.rows["account.move"] == len(moves)
        assert first.rows["account.move.line"] == len(db.models["account.move.line"].records)
        assert ("json2", "account.move.line", "fields_get") in db.calls

        engine = LocalEngine(paths)
        spark = engine.session()
        month_end.run(spark, "dbfs:/raw/odoo", dbfs_lister(paths))
        before = {(r["agency"], r["period"]): r["withholding_tax"] for r in spark.table("gold.bir_transactions").collect()}
        assert before

        # A posted vendor bill changes in Odoo: one tax line's amount; Odoo bumps write_date on both.
        moves_by_id = db.models["account.move"].records
        line = next(r for r in db.models["account.move.line"].records.values()
                    if r.get("parent_state") == "posted" and r.get("display_type") == "tax"
                    and "Withholding" in str(r.get("account_id")) and (r.get("balance") or 0) < 0
                    and moves_by_id[r["move_id"][0]].get("move_type") == "in_invoice"
                    and moves_by_id[r["move_id"][0]].get("currency_id", [0, "PHP"])[1] == "PHP")
        move_id = line["move_id"][0]
        key = (moves_by_id[move_id]["company_id"][1], moves_by_id[move_id]["date"][:7])
        db.clock.now += 3600
        client.write("account.move.line", [line["id"]], {"balance": line["balance"] - 100.0})
        client.write("account.move", [move_id], {"ref": "changed in Odoo"})
        second = Extractor(client, raw_dir, page_size=500).run_against_lake(spark)
        assert second.rows["account.move"] == 1
        siblings = [r for r in db.models["account.move.line"].records.values() if r["move_id"][0] == move_id]
        assert second.rows["account.move.line"] == len(siblings)  # the changed move with all its current lines
        month_end.run(spark, "dbfs:/raw/odoo", dbfs_lister(paths))
        after = {(r["agency"], r["period"]): r["withholding_tax"] for r in spark.table("gold.bir_transactions").collect()}
        assert {k for k in before if abs(before[k] - after[k]) > 0.005} == {key}  # only that agency-month moved
        assert after[key] == before[key] + Decimal("100.00")  # EWT = -Σ balance of its tax lines

        third = Extractor(client, raw_dir, page_size=500).run_against_lake(spark)
        assert sum(third.rows.values()) == 0 and not third.files  # nothing changed: no batch, no duplicates
        engine.close()


def test_a_partner_merged_in_odoo_moves_its_bills_to_the_partner_it_became(generated, tmp_path):
    """Contacts → Merge re-points a partner's moves and lines with plain SQL (no ``write_date`` moves) and deletes
    the partner: the lake kept the bills under the deleted partner (no name, no TIN: INVALID_TIN on every return)
    though the accountant's fix in Odoo was done. The extraction reads the moves of a partner gone from Odoo again."""
    db = _db(generated)
    with _extracted_lake(db, tmp_path) as (client, raw_dir, spark, paths):
        payees = spark.sql("SELECT partner_id, first(payee_tin) AS tin, count(*) AS n FROM silver.ewt_lines "
                           "WHERE tin_status = :valid GROUP BY partner_id ORDER BY n DESC",
                           args={"valid": TinStatus.VALID.value}).collect()
        source, target = payees[0], next(p for p in payees[1:] if p["tin"] != payees[0]["tin"])
        moves = db.models["account.move"].records
        lines = db.models["account.move.line"].records
        naming = {m["id"] for m in moves.values() if source["partner_id"] in
                  ({(m.get(k) or [None])[0] for k in ("partner_id", "commercial_partner_id")})}
        naming |= {ln["move_id"][0] for ln in lines.values() if (ln.get("partner_id") or [None])[0] ==
                   source["partner_id"]}
        db.clock.now += 3600
        db.merge_partners([source["partner_id"]], target["partner_id"])
        result = Extractor(client, raw_dir, page_size=500).run_against_lake(spark)
        assert result.deleted["res.partner"] == 1 and result.repointed == len(naming)
        assert result.rows["account.move"] == len(naming)  # no write_date moved: only the moves read again
        month_end.run(spark, "dbfs:/raw/odoo", dbfs_lister(paths))
        after = spark.sql(f"SELECT DISTINCT partner_id, payee_tin FROM silver.ewt_lines WHERE move_id IN "
                          f"({', '.join(map(str, sorted(naming)))})").collect()
        assert {(r["partner_id"], r["payee_tin"]) for r in after} == {(target["partner_id"], target["tin"])}
        assert not spark.sql(f"SELECT 1 FROM silver.ewt_lines WHERE partner_id = {source['partner_id']}").collect()


def _held_back_bill(db: FakeOdoo) -> tuple[int, int, Callable[[], None]]:
    """Take a posted vendor bill with withholding, and its lines, out of Odoo: (bill id, its partner, a function
    that enters it again, stamped now, as a bill created after the lake's last month-end)."""
    moves, lines = db.models["account.move"].records, db.models["account.move.line"].records
    bill = next(m for m in sorted(moves.values(), key=lambda m: m["id"])
                if m.get("move_type") == "in_invoice" and m.get("state") == "posted" and m.get("partner_id")
                and any(ln["move_id"][0] == m["id"] and ln.get("tax_line_id") and (ln.get("balance") or 0) < 0
                        and "Withholding" in str(ln.get("account_id")) for ln in lines.values()))
    kept = [lines.pop(i) for i in [i for i, ln in lines.items() if ln["move_id"][0] == bill["id"]]]
    moves.pop(bill["id"])

    def enter() -> None:
        stamp = datetime.fromtimestamp(db.clock.now, UTC).strftime("%Y-%m-%d %H:%M:%S")
        moves[bill["id"]] = dict(bill, write_date=stamp)
        lines.update({ln["id"]: dict(ln, write_date=stamp) for ln in kept})
    return bill["id"], bill["partner_id"][0], enter


@contextmanager
def _extracted_lake(db: FakeOdoo, tmp_path: Path) -> Iterator[tuple[OdooClient, Path, Any, WorkspacePaths]]:
    """A lake after a first extract of ``db`` and a month-end: (client, raw folder, session, paths)."""
    paths = WorkspacePaths.from_env(tmp_path / "lake").ensure()
    raw_dir = paths.dbfs_to_local("dbfs:/raw/odoo")
    with FakeOdooServer(db) as server, LocalEngine.start(paths.home) as engine, engine.spark() as spark:
        client = OdooClient(_settings(server.url))
        Extractor(client, raw_dir, page_size=500).run()
        month_end.run(spark, "dbfs:/raw/odoo", dbfs_lister(paths))
        yield client, raw_dir, spark, paths


def test_a_bill_deleted_in_odoo_before_a_month_end_ingested_it_is_deleted_in_the_lake(generated, tmp_path):
    """A bill extracted, then deleted in Odoo (reset to draft and unlinked) before any month-end ingested it: the
    next extract compared Odoo's ids with bronze's alone, which did not hold the bill yet, so no tombstone was
    written and the month-end after took the bill's posted version as current."""
    db = _db(generated)
    bill_id, _, enter = _held_back_bill(db)
    with _extracted_lake(db, tmp_path) as (client, raw_dir, spark, paths):
        db.clock.now += 3600
        enter()
        assert Extractor(client, raw_dir, page_size=500).run_against_lake(spark).rows["account.move"] == 1
        db.clock.now += 3600
        client.call("account.move", "unlink", ids=[bill_id])
        second = Extractor(client, raw_dir, page_size=500).run_against_lake(spark)
        assert second.deleted["account.move"] == 1
        month_end.run(spark, "dbfs:/raw/odoo", dbfs_lister(paths))
        assert spark.sql(f"SELECT state FROM silver.moves WHERE move_id = {bill_id}").first()["state"] == "deleted"
        assert not spark.sql(f"SELECT 1 FROM silver.ewt_lines WHERE move_id = {bill_id}").collect()


@pytest.mark.parametrize("stopped", ["no", "before_its_moves", "then_a_month_end"])
def test_a_partner_merged_before_a_month_end_ingested_its_new_bill_moves_that_bill_too(generated, tmp_path,
                                                                                      monkeypatch, stopped):
    """A bill of a vendor entered in Odoo and extracted, then the vendor merged into another before any month-end
    ingested the bill: the merged partner's moves were looked up in bronze alone, so the bill was never read again
    and kept naming the partner merged away (no name, no TIN) for good. Likewise when the run that saw the merge
    stopped after making its partners' file visible and before its moves', even with a month-end taking in the
    partner's tombstone before the next run (found by a review): the checkpoint keeps the partners whose moves are
    owed. Once read, the next extract reads them no more (every extract before a month-end read them again)."""
    db = _db(generated)
    bill_id, source, enter = _held_back_bill(db)
    partners = db.models["res.partner"].records
    target = next(p["id"] for p in sorted(partners.values(), key=lambda p: p["id"])
                  if p["id"] != source and p.get("vat") and p.get("vat") != partners[source].get("vat"))
    with _extracted_lake(db, tmp_path) as (client, raw_dir, spark, paths):
        def extract() -> ExtractResult:
            return Extractor(client, raw_dir, page_size=500).run_against_lake(spark)

        db.clock.now += 3600
        enter()
        extract()
        db.clock.now += 3600
        db.merge_partners([source], target)
        if stopped != "no":
            replace = os.replace

            def stopping(src, dst):
                if Path(dst).parent.name == ACCOUNT_MOVE.name:
                    raise OSError("stopped before the moves' file")
                replace(src, dst)
            monkeypatch.setattr("odoolake.odoo.extract.os.replace", stopping)
            with pytest.raises(OSError, match="stopped before"):
                extract()
            monkeypatch.setattr("odoolake.odoo.extract.os.replace", replace)
            assert CheckpointStore(raw_dir).owed() == {source}
            if stopped == "then_a_month_end":
                month_end.run(spark, "dbfs:/raw/odoo", dbfs_lister(paths))
        merged = extract()
        assert merged.deleted["res.partner"] == (1 if stopped == "no" else 0) and merged.repointed >= 1
        assert CheckpointStore(raw_dir).owed() == set()
        db.clock.now += 3600
        again = extract()
        assert (again.repointed, again.deleted["res.partner"], again.files) == (0, 0, [])
        month_end.run(spark, "dbfs:/raw/odoo", dbfs_lister(paths))
        named = spark.sql(f"SELECT DISTINCT partner_id FROM silver.ewt_lines WHERE move_id = {bill_id}").collect()
        assert [r["partner_id"] for r in named] == [target]
        assert not spark.sql(f"SELECT 1 FROM silver.ewt_lines WHERE partner_id = {source}").collect()


def test_a_merge_seen_by_a_run_killed_after_its_partners_file_is_not_lost(generated, tmp_path, monkeypatch):
    """The partners' file is the first a run makes visible when no company changed: killed right after its rename,
    before the checkpoint was saved, the partner's tombstone was visible and nothing said its moves were owed
    (found by a review). The owed partners are saved before any file becomes visible."""
    db = _db(generated)
    with _extracted_lake(db, tmp_path) as (client, raw_dir, spark, paths):
        payees = spark.sql("SELECT partner_id, first(payee_tin) AS tin, count(*) AS n FROM silver.ewt_lines "
                           "WHERE payee_tin IS NOT NULL GROUP BY partner_id ORDER BY n DESC").collect()
        source = payees[0]["partner_id"]
        target = next(p["partner_id"] for p in payees[1:] if p["tin"] != payees[0]["tin"])

        def extract() -> ExtractResult:
            return Extractor(client, raw_dir, page_size=500).run_against_lake(spark)

        def tombstoned() -> bool:
            return any('"_deleted": true' in p.read_text() for p in (raw_dir / "res_partner").glob("*.jsonl"))

        db.clock.now += 3600
        db.merge_partners([source], target)
        replace = os.replace

        def killed(src, dst):
            replace(src, dst)
            if Path(dst).parent.name == "res_partner":
                raise KeyboardInterrupt("killed after the partners' rename, before its checkpoint")
        monkeypatch.setattr("odoolake.odoo.extract.os.replace", killed)
        with pytest.raises(KeyboardInterrupt):
            extract()
        monkeypatch.setattr("odoolake.odoo.extract.os.replace", replace)
        assert tombstoned() and CheckpointStore(raw_dir).owed() == {source}
        assert extract().repointed > 0
        month_end.run(spark, "dbfs:/raw/odoo", dbfs_lister(paths))
        assert not spark.sql(f"SELECT 1 FROM silver.ewt_lines WHERE partner_id = {source}").collect()


def test_owed_partners_that_cannot_be_saved_leave_no_staged_files(generated, tmp_path, monkeypatch):
    """The owed partners are saved before any file becomes visible; a save that fails there (a full disk) left every
    staged part file of the run behind (found by a review): it is inside the commit's clean-up now."""
    db = _db(generated)
    raw_dir = tmp_path / "raw"

    def full_disk(*_args, **_kwargs):
        raise OSError(28, "No space left on device")
    with FakeOdooServer(db) as server:
        client = OdooClient(_settings(server.url))
        monkeypatch.setattr(CheckpointStore, "save", full_disk)
        with pytest.raises(OSError, match="No space left"):
            Extractor(client, raw_dir, page_size=500).run(known_ids={"res.partner": {10**9}},
                                                          moves_of_partners=lambda partners: set())
    assert list(raw_dir.glob("*/_tmp/*")) == [] and list(raw_dir.glob("*/*.jsonl")) == []


def test_owed_moves_that_turn_out_to_be_none_are_owed_no_more(generated, tmp_path):
    """A run owes the moves of a partner whose tombstone an earlier run made visible; when it finds none to read
    (nothing else changed either, so it writes no file), the debt is still cleared, not carried into every run."""
    db = _db(generated)
    raw_dir = tmp_path / "raw"
    with FakeOdooServer(db) as server:
        client = OdooClient(_settings(server.url))
        Extractor(client, raw_dir, page_size=500).run()
        store = CheckpointStore(raw_dir)
        store.save(store.load(), owed={424242})
        asked: list[set[int]] = []
        result = Extractor(client, raw_dir, page_size=500).run(moves_of_partners=lambda ps: asked.append(ps) or set())
        assert asked == [{424242}] and result.files == [] and store.owed() == set()


class _CountingTables:
    """A session that counts ``spark.table`` calls by table name (the scans of a table's batches)."""

    def __init__(self, spark) -> None:
        self.spark, self.tables = spark, Counter()

    def table(self, name: str):
        self.tables[name] += 1
        return self.spark.table(name)

    def __getattr__(self, name: str):
        return getattr(self.spark, name)


def test_the_raw_files_bronze_has_not_taken_in_count_as_the_lake(tmp_path):
    """Between an extract and the month-end that ingests it, the lake is bronze and those files: a move naming a
    partner on itself or on one of its lines is found in them, and an id they deliver is one the lake holds. A file
    whose batch bronze holds is not read again, and one extract lists bronze's batches once (up to seven times
    before)."""
    paths = WorkspacePaths.from_env(tmp_path / "lake").ensure()
    raw_dir = paths.dbfs_to_local("dbfs:/raw/odoo")
    files = {"account_move/odoo-extract-20261001T010000000000.jsonl": [  # in bronze, which holds 20 and 21 only
                 '{"id": 22, "partner_id": [7, "P"]}'],
             "account_move/odoo-extract-20261102T010000000000.jsonl": [
                 '{"id": 1, "partner_id": [7, "P"], "commercial_partner_id": false}',
                 '{"id": 2, "partner_id": [8, "Q"]}', '{"id": 3, "commercial_partner_id": [7, "P"]}',
                 '{"id": 4, "_deleted": true, "write_date": "2026-11-02 01:00:00"}', '{"id": 5, trunc', "[" * 100_000],
             "account_move/odoo-extract-20261103T010000000000.jsonl": [
                 '{"id": 3, "_deleted": true, "write_date": "2026-11-03 01:00:00"}',
                 '{"id": 21, "_deleted": true, "write_date": "2026-11-03 01:00:00"}'],
             "account_move/a-manual-drop.json": ['{"id": 12, "partner_id": [9, "R"]}'],
             "account_move/notes.txt": ['{"id": 13}'],
             "account_move_line/odoo-extract-20261102T010000000000.jsonl": [
                 '{"id": 10, "move_id": [2, "B"], "partner_id": [7, "P"]}', '{"id": 14, "move_id": false, '
                 '"partner_id": [7, "P"]}', '{"id": 15, "move_id": [0, "?"], "partner_id": [7, "P"]}',
                 '{"id": 16, "move_id": [false, "?"], "partner_id": [7, "P"]}', '{"id": 17, "move_id": [30, "D"], '
                 '"partner_id": [true, "?"]}', '{"id": 11, "move_id": [6, "C"], "partner_id": [9, "R"]}', "not json"]}
    for name, lines in files.items():
        (raw_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (raw_dir / name).write_text("\n".join(lines) + "\n")
    with LocalEngine(paths) as engine:
        spark = engine.session()
        spark.sql("CREATE SCHEMA IF NOT EXISTS bronze")
        spark.sql(f"CREATE TABLE {ACCOUNT_MOVE.bronze_table} USING delta AS SELECT * FROM VALUES "
                  "(20L, array('7', 'P'), CAST(NULL AS array<string>), '2026-10-01 01:00:00', CAST(NULL AS boolean), "
                  "CAST(NULL AS string), 'odoo-extract-20261001T010000000000'), (21L, array('8', 'Q'), NULL, "
                  "'2026-10-01 01:00:00', NULL, NULL, 'odoo-extract-20261001T010000000000') AS "
                  "t(id, partner_id, commercial_partner_id, write_date, _deleted, _reject, _batch_id)")
        counting = _CountingTables(spark)
        lake = LakeView(counting, raw_dir)
        assert lake.moves_of_partners({7}) == {1, 2, 3, 20}  # no move 0 or False (ids are positive)
        assert lake.moves_of_partners({1, 7, 9}) == {1, 2, 3, 6, 12, 20}  # [true, …] is not partner 1
        assert lake.ids(ACCOUNT_MOVE) == {1, 2, 12, 20}  # 3 delivered, then deleted; 4 only deleted; 21 deleted
        assert counting.tables == {ACCOUNT_MOVE.bronze_table: 1}


def test_an_exchange_rate_deleted_in_odoo_stops_converting_its_months(generated, tmp_path):
    """A wrong rate deleted in Odoo (without another entered for its day) kept converting foreign-currency lines:
    rates were not compared with Odoo's ids, and a rate's tombstone (no date, no currency) would have been rejected
    by bronze. Its months are rebuilt from the date its earlier version had."""
    db = _db(generated)
    paths = WorkspacePaths.from_env(tmp_path / "lake").ensure()
    raw_dir = paths.dbfs_to_local("dbfs:/raw/odoo")
    rates = db.models["res.currency.rate"].records
    stamp = datetime.fromtimestamp(db.clock.now, UTC).strftime("%Y-%m-%d %H:%M:%S")
    for rate_id, day, php in ((7001, "2026-08-01", 56.0), (7002, "2026-09-15", 57.5), (7003, "2026-10-01", 99.0)):
        rates[rate_id] = {"id": rate_id, "name": day, "currency_id": [2, "USD"], "company_id": False,
                          "rate": 1 / php, "inverse_company_rate": php, "write_date": stamp}
    with FakeOdooServer(db) as server, LocalEngine.start(paths.home) as engine, engine.spark() as spark:
        client = OdooClient(_settings(server.url))
        Extractor(client, raw_dir, page_size=500).run()
        first = month_end.run(spark, "dbfs:/raw/odoo", dbfs_lister(paths))
        known = {"res.currency.rate": LakeView(spark, raw_dir).ids(RES_CURRENCY_RATE)}
        assert known["res.currency.rate"] == set(rates)
        wrong = rates[7002]  # entered wrong, then deleted: 2026-09 on converts at 2026-08-01's rate again
        db.clock.now += 3600
        client.call("res.currency.rate", "unlink", ids=[wrong["id"]])
        result = Extractor(client, raw_dir, page_size=500).run(known_ids=known)
        assert result.deleted["res.currency.rate"] == 1
        again = month_end.run(spark, "dbfs:/raw/odoo", dbfs_lister(paths))
        assert sorted(again.silver.periods) == [p for p in sorted(first.silver.periods) if p >= "2026-09"]
        left = spark.sql("SELECT count(*) AS n FROM bronze.odoo_res_currency_rate WHERE _reject IS NULL AND "
                         f"_deleted AND id = {wrong['id']}").first()["n"]
        assert left == 1  # the tombstone reached bronze


def test_deleted_drafts_become_tombstones(generated, tmp_path):
    db = _db(generated)
    raw_dir = tmp_path / "raw"
    with FakeOdooServer(db) as server:
        client = OdooClient(_settings(server.url))
        Extractor(client, raw_dir).run()
        draft = next(r for r in db.models["account.move"].records.values() if r.get("state") == "draft")
        client.call("account.move", "unlink", ids=[draft["id"]])
        known = {"account.move": set(db.models["account.move"].records) | {draft["id"]}}
        result = Extractor(client, raw_dir).run(known_ids=known)
        assert result.deleted == {"account.move": 1}
        tombstones = [json.loads(line) for path in raw_dir.glob("account_move/odoo-extract-*.jsonl")
                      for line in path.read_text().splitlines() if '"_deleted": true' in line]
        assert tombstones == [{"id": draft["id"], "_deleted": True, "write_date": tombstones[0]["write_date"]}]


def _taxes(n: int, stamp: str) -> list[dict]:
    return [{"id": i, "name": f"T{i}", "amount": 1.0, "type_tax_use": "purchase", "write_date": stamp}
            for i in range(1, n + 1)]


def _delivered(raw_dir: Path, folder: str) -> list[dict]:
    return [json.loads(line) for path in sorted(raw_dir.glob(f"{folder}/odoo-extract-*.jsonl"))
            for line in path.read_text().splitlines()]


def test_a_second_holding_more_than_a_page_is_read_whole_and_the_run_ends(tmp_path):
    """Odoo keeps write_date to the microsecond and answers it to the second, so the next page's
    ``write_date = '…:00' AND id > last`` matched nothing and ``write_date > '…:00'`` the same second again: one
    transaction of at least a page of records (an import) made the extraction fetch the same page forever."""
    from odoolake.odoo.extract import ExtractModel
    from odoolake.pipeline.schemas import ACCOUNT_TAX

    db = FakeOdoo(version=19, api_key=KEY, clock=Clock())
    db.add_model("account.tax", [*_taxes(7, "2026-11-02 01:00:00.482113"),  # one transaction: one stamp
                                 {"id": 8, "name": "T8", "amount": 2.0, "type_tax_use": "sale",
                                  "write_date": "2026-11-02 01:00:01.000007"}])
    only_taxes = (ExtractModel(ACCOUNT_TAX, {"active_test": False}),)
    with FakeOdooServer(db) as server:
        client = OdooClient(_settings(server.url))
        calls = []
        search_read = client.search_read

        def counted(*args, **kwargs):
            calls.append(args[1])
            assert len(calls) < 50, f"still paging after {len(calls)} pages: {args[1]}"
            return search_read(*args, **kwargs)

        client.search_read = counted  # type: ignore[method-assign]
        result = Extractor(client, tmp_path, page_size=3, models=only_taxes).run()
        assert result.rows == {"account.tax": 8}
        assert sorted(r["id"] for r in _delivered(tmp_path, "account_tax")) == list(range(1, 9))
        assert len(calls) < 10, calls  # it ended: a page, that second by id (three pages), the next second
        cp = CheckpointStore(tmp_path).load()["account.tax"]
        assert (cp.write_date, cp.id) == ("2026-11-02 01:00:01", 8)
        assert Extractor(client, tmp_path, page_size=3, models=only_taxes).run().rows == {"account.tax": 0}


def test_a_second_change_within_the_same_second_is_delivered(tmp_path):
    """Two transactions in one second answer the same write_date: the second change (a draft posted right after it
    was extracted) was skipped as already delivered, and the lake kept the draft until some later write."""
    from odoolake.odoo.extract import ExtractModel
    from odoolake.pipeline.schemas import ACCOUNT_TAX

    clock = Clock()
    db = FakeOdoo(version=19, api_key=KEY, clock=clock)
    db.add_model("account.tax", _taxes(2, "2026-11-02 00:59:00.100000"))
    only_taxes = (ExtractModel(ACCOUNT_TAX, {"active_test": False}),)
    with FakeOdooServer(db) as server:
        client = OdooClient(_settings(server.url))
        clock.now += 0.2
        client.call("account.tax", "write", ids=[1], vals={"name": "draft name"})
        Extractor(client, tmp_path, models=only_taxes).run()
        clock.now += 0.3  # the same second
        client.call("account.tax", "write", ids=[1], vals={"name": "final name"})
        second = Extractor(client, tmp_path, models=only_taxes).run()
        assert second.rows == {"account.tax": 1}  # tax 1 again, changed; tax 2 unchanged is not re-sent
        names = [(r["id"], r["name"]) for r in _delivered(tmp_path, "account_tax")]
        assert names[-1] == (1, "final name")
        assert Extractor(client, tmp_path, models=only_taxes).run().rows == {"account.tax": 0}


def test_archived_companies_are_extracted(generated, tmp_path):
    db = _db(generated)
    company = next(iter(db.models["res.company"].records.values()))
    company["active"] = False
    db.models["res.company"].fields["active"] = "boolean"
    with FakeOdooServer(db) as server:
        Extractor(OdooClient(_settings(server.url)), tmp_path).run()
    assert company["id"] in {r["id"] for r in _delivered(tmp_path, "res_company")}


def test_jsonrpc_for_odoo_17_maps_renamed_fields(generated, tmp_path):
    db = _db(generated, version=17)
    with FakeOdooServer(db) as server:
        with pytest.raises(Exception, match="needs the database and login"):
            OdooClient(_settings(server.url))
        client = OdooClient(_settings(server.url, database="odoo", login="admin"))
        assert client.protocol == "jsonrpc"
        Extractor(client, tmp_path).run()
        assert ("jsonrpc", "account.move", "search_read") in db.calls
        record = json.loads(next((tmp_path / "account_move").glob("*.jsonl")).read_text().splitlines()[0])
        assert "origin_payment_id" in record and "payment_id" not in record  # 17's payment_id, under the 18+ name


def test_a_crash_between_commit_and_checkpoint_neither_loses_nor_duplicates(generated, tmp_path, monkeypatch):
    db = _db(generated)
    with FakeOdooServer(db) as server:
        client = OdooClient(_settings(server.url))
        Extractor(client, tmp_path).run()
        db.clock.now += 60
        move = next(iter(db.models["account.move"].records))
        client.write("account.move", [move], {"ref": "edited"})
        saves = {"n": 0}
        original = CheckpointStore.save

        def crash_on_moves(self, checkpoints, owed=None):
            saves["n"] += 1
            if "account.move" in checkpoints and checkpoints["account.move"].write_date.startswith("2026-11-02 01:01"):
                raise KeyboardInterrupt("killed after the move batch was renamed, before its checkpoint")
            original(self, checkpoints, owed)

        monkeypatch.setattr(CheckpointStore, "save", crash_on_moves)
        with pytest.raises(KeyboardInterrupt):
            Extractor(client, tmp_path).run()
        monkeypatch.setattr(CheckpointStore, "save", original)
        assert CheckpointStore(tmp_path).load()["account.move"].write_date < "2026-11-02 01:01"
        again = Extractor(client, tmp_path).run()
        assert again.rows["account.move"] == 0  # recovered from the committed batch: not delivered twice
        delivered = [json.loads(line)["id"] for p in (tmp_path / "account_move").glob("*.jsonl")
                     for line in p.read_text().splitlines()]
        assert delivered.count(move) == 2  # the original and the edit, once each


def test_bad_credentials_missing_models_access_and_timeouts_leave_the_checkpoint(generated, tmp_path, caplog):
    db = _db(generated)
    caplog.set_level(logging.DEBUG)
    with FakeOdooServer(db) as server:
        bad = OdooClient(OdooSettings(url=server.url, api_key="wrong", retries=0))
        with pytest.raises(OdooAuthError, match="refused the credentials"):
            Extractor(bad, tmp_path).run()
        client = OdooClient(_settings(server.url, timeout=3, retries=1))  # 3 s: a loaded machine still answers
        Extractor(client, tmp_path).run()
        store_before = CheckpointStore(tmp_path).path.read_text()
        files_before = _visible(tmp_path)
        db.clock.now += 60
        for rec_id in list(db.models["account.move.line"].records)[:3]:
            client.write("account.move.line", [rec_id], {"name": "touched"})

        db.inject("timeout", times=2, model="account.move.line", method="search_read", seconds=6)
        with pytest.raises(OdooUnavailable, match=r"account.move.line.search_read: no answer within 3 s after 2"):
            Extractor(client, tmp_path).run()
        db.models["account.tax"].readable = False
        with pytest.raises(OdooAccessError, match=r"not allowed to access 'account.tax'"):
            Extractor(client, tmp_path).run()
        db.models["account.tax"].readable = True
        del db.models["res.partner"].fields["write_date"]
        with pytest.raises(OdooMissingError, match=r"res.partner has no field 'write_date'"):
            Extractor(client, tmp_path).run()
        db.models["res.partner"].fields["write_date"] = "datetime"
        assert CheckpointStore(tmp_path).path.read_text() == store_before and _visible(tmp_path) == files_before
        assert not list(tmp_path.glob("*/_tmp/*.part"))

        db.inject("http_503", times=1, model="account.move.line", method="search_read")
        assert Extractor(client, tmp_path).run().rows["account.move.line"] == 3  # one 503, retried
    assert KEY not in caplog.text


def test_missing_model_is_named():
    db = FakeOdoo(api_key=KEY)
    with FakeOdooServer(db) as server:
        client = OdooClient(_settings(server.url))
        with pytest.raises(OdooMissingError, match=r"the model 'res.company' does not exist"):
            Extractor(client, Path("/nonexistent-never-written")).run()
    old = FakeOdoo(version=17, api_key=KEY)  # Odoo 16-18 say it their way (a UserError)
    with FakeOdooServer(old) as server:
        client = OdooClient(_settings(server.url, database="odoo", login="admin"))
        with pytest.raises(OdooMissingError, match=r"Object res.company doesn't exist"):
            Extractor(client, Path("/nonexistent-never-written")).run()


def test_a_json2_error_answered_as_a_bare_string_is_reported_with_its_message():
    """A JSON-2 error body that is a JSON string, not an object, failed with "'str' object has no attribute 'get'"."""
    import httpx

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/web/version":
            return httpx.Response(200, json={"version_info": [19, 0, 0, "final", 0, ""], "version": "19.0"})
        return httpx.Response(403, json="You are not allowed to access 'Journal Entry' (account.move) records.")

    client = OdooClient(_settings("http://odoo.invalid"), http=httpx.Client(transport=httpx.MockTransport(answer)))
    with pytest.raises(Exception, match=r"You are not allowed to access 'Journal Entry'") as err:
        client.search_read("account.move", [], ["id"])
    assert "has no attribute" not in str(err.value)


def test_rate_limit_spaces_calls(monkeypatch):
    from odoolake.odoo import client as client_module

    slept: list[float] = []
    monkeypatch.setattr(client_module.time, "sleep", slept.append)
    limiter = client_module._RateLimiter(4)
    for _ in range(5):
        limiter.wait()
    # time stands still (sleep is recorded, not done): call n is scheduled n/4 s after the first
    assert slept == pytest.approx([0.25, 0.5, 0.75, 1.0], abs=0.01)


def test_writeback_is_idempotent_and_names_what_it_skipped():
    from odoolake.odoo.writeback import Prediction, push_predictions

    db = FakeOdoo(api_key=KEY, clock=Clock())
    empty = {"lake_predicted_tax": 0.0, "lake_predicted_tax_low": 0.0, "lake_predicted_tax_high": 0.0,
             "lake_model_version": False}
    db.add_model("ipai.finance.bir_schedule", [
        {"id": 1, "name": "0619-E RIM 2026-09", "company_id": [1, "RIM"], "form_code": "0619E",
         "period_start": "2026-09-01", "period_end": "2026-09-30", **empty},
        {"id": 2, "name": "0619-E RIM Q3, by mistake", "company_id": [1, "RIM"], "form_code": "0619E",
         "period_start": "2026-07-01", "period_end": "2026-09-30", **empty},
        {"id": 3, "name": "0619-E BOM 2026-10", "company_id": [2, "BOM"], "form_code": "0619E",
         "period_start": "2026-10-01", "period_end": "2026-10-31", **empty},
        {"id": 4, "name": "2551Q RIM 2026-09", "company_id": [1, "RIM"], "form_code": "2551Q",
         "period_start": "2026-09-01", "period_end": "2026-09-30", **empty},
        {"id": 5, "name": "0619-E RIM, a typo", "company_id": [1, "RIM"], "form_code": "0619E",
         "period_start": "2026-10-01", "period_end": "2026-09-30", **empty},
    ], {"lake_scored_at": "datetime", "lake_model_version": "char"})
    preds = [Prediction("RIM", p, v, "3", v * 0.8, v * 1.5)
             for p, v in (("2026-07", 100.0), ("2026-08", 200.0), ("2026-09", 300.5))]
    with FakeOdooServer(db) as server:
        client = OdooClient(_settings(server.url))
        first = push_predictions(client, preds)
        assert first.written == [1]
        assert first.skipped == {2: "covers 3 months (2026-07..2026-09); the forecast is per month",
                                 3: "no forecast for BOM 2026-10",
                                 4: "form 2551Q: the forecast is of the monthly expanded withholding (0619E)",
                                 5: "its period ends (2026-09-30) before it starts (2026-10-01)"}
        records = db.models["ipai.finance.bir_schedule"].records
        assert (records[1]["lake_predicted_tax_low"], records[1]["lake_predicted_tax"],
                records[1]["lake_predicted_tax_high"]) == (240.4, 300.5, 450.75)
        assert records[2]["lake_predicted_tax"] == 0.0
        stamp = records[1]["write_date"]
        db.clock.now += 3600
        again = push_predictions(client, preds)
        assert again.written == [] and again.unchanged == [1]
        assert records[1]["write_date"] == stamp  # nothing was written the second time
        wider = push_predictions(client, [Prediction(p.agency, p.period, p.predicted, "3", p.low, p.high * 2)
                                          for p in preds])
        assert wider.written == [1] and records[1]["lake_predicted_tax_high"] == 901.5  # the interval alone moved
        newer = push_predictions(client, [Prediction(p.agency, p.period, p.predicted, "4", p.low, p.high * 2)
                                          for p in preds])
        assert newer.written == [1] and records[1]["lake_model_version"] == "4"
        # lake_scored_at says when the lake scored the values written, not when the write-back ran
        scored = push_predictions(client, [Prediction(p.agency, p.period, p.predicted, "5", p.low, p.high,
                                                      scored_at="2026-11-30 02:00:00") for p in preds],
                                  now="2026-12-07 10:00:00")
        assert scored.written == [1] and records[1]["lake_scored_at"] == "2026-11-30 02:00:00"


def test_the_skipped_schedules_are_listed_newest_first_and_a_long_list_is_cut_with_a_count():
    from odoolake.odoo.writeback import WritebackResult, skipped_lines

    result = WritebackResult(skipped={n: f"no forecast for RIM month {n}" for n in range(1, 26)})
    lines = skipped_lines(result, limit=20)
    assert lines[0] == "  schedule 25: no forecast for RIM month 25" and lines[19].startswith("  schedule 6:")
    assert lines[20:] == ["  … and 5 more skipped"]
    assert len(skipped_lines(result)) == 25 and skipped_lines(WritebackResult()) == []


def test_a_writeback_stopped_part_way_names_the_record_and_what_was_written():
    """Odoo answering 503 after the first write stopped the write-back with the client's error alone: neither the
    record nor what had been written before it was said. Running again writes what still differs."""
    from odoolake.odoo import OdooUnavailable
    from odoolake.odoo.writeback import Prediction, push_predictions

    db = FakeOdoo(api_key=KEY, clock=Clock())
    db.add_model("ipai.finance.bir_schedule", [
        {"id": n, "name": f"0619-E RIM {month}", "company_id": [1, "RIM"], "form_code": "0619E",
         "period_start": f"{month}-01", "period_end": f"{month}-28", "lake_predicted_tax": 0.0,
         "lake_predicted_tax_low": 0.0, "lake_predicted_tax_high": 0.0, "lake_model_version": False}
        for n, month in ((7, "2026-08"), (8, "2026-09"))], {"lake_scored_at": "datetime", "lake_model_version": "char"})
    preds = [Prediction("RIM", p, 100.0, "3", 80.0, 150.0) for p in ("2026-08", "2026-09")]
    with FakeOdooServer(db) as server:
        client = OdooClient(_settings(server.url))
        write, calls = client.write, []

        def failing_after_one(*args, **kwargs):
            calls.append(args)
            if len(calls) > 1:
                raise OdooUnavailable("ipai.finance.bir_schedule.write: HTTP 503 after 2 attempt(s)")
            return write(*args, **kwargs)
        client.write = failing_after_one  # type: ignore[method-assign]
        with pytest.raises(OdooUnavailable) as stopped:
            push_predictions(client, preds)
        assert str(stopped.value) == (
            "writing the forecast to ipai.finance.bir_schedule record 8 (RIM 2026-09) failed (record 7 was written; "
            "running again writes what still differs): ipai.finance.bir_schedule.write: HTTP 503 after 2 attempt(s)")
        client.write = write  # type: ignore[method-assign]
        again = push_predictions(client, preds)
        assert (again.unchanged, again.written) == ([7], [8])


def test_the_job_task_extracts_with_the_key_from_the_secret_scope(generated, tmp_path, monkeypatch, spark):
    from odoolake.workspace.notebooks import run_notebook

    notebook = Path(__file__).resolve().parents[2] / "databricks" / "src" / "etl" / "odoo_extract.py"
    paths = WorkspacePaths.from_env(tmp_path / "home").ensure()
    skipped = run_notebook(notebook, spark, paths, {"raw_root": "dbfs:/raw/odoo"})
    assert "skipped" in json.loads(skipped.exit_value) and "no Odoo connection configured" in skipped.output

    db = _db(generated)
    with FakeOdooServer(db) as server:
        monkeypatch.setenv("ODOO_URL", server.url)
        monkeypatch.setenv("ODOOLAKE_SECRET_ODOO_API_KEY", KEY)  # dbutils.secrets.get("odoo", "api_key")
        result = run_notebook(notebook, spark, paths, {"raw_root": "dbfs:/raw/odoo"})
    done = json.loads(result.exit_value)
    assert done["rows"]["account.move"] == len(db.models["account.move"].records)
    assert list(paths.dbfs_to_local("dbfs:/raw/odoo/account_move").glob(f"{done['batch']}.jsonl"))
    assert KEY not in result.output


def test_cli_check_extract_and_since(generated, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from odoolake.cli.main import app

    db = _db(generated, version=17)
    runner = CliRunner()
    with FakeOdooServer(db) as server:
        env = {"ODOO_URL": server.url, "ODOO_API_KEY": KEY, "ODOO_DB": "odoo", "ODOO_LOGIN": "admin",
               "ODOOLAKE_HOME": str(tmp_path / "home")}
        checked = runner.invoke(app, ["odoo", "check"], env=env)
        assert checked.exit_code == 0 and "Odoo 17 over jsonrpc" in checked.output
        first = runner.invoke(app, ["odoo", "extract"], env=env)
        assert first.exit_code == 0, first.output
        assert f"account.move: {len(db.models['account.move'].records):,} record(s)" in first.output
        assert "Nothing changed" in runner.invoke(app, ["odoo", "extract"], env=env).output
        bad = runner.invoke(app, ["odoo", "extract", "--since", "last tuesday"], env=env)
        assert bad.exit_code != 0 and "is not a date or ISO time" in bad.output
        before = CheckpointStore(Path(env["ODOOLAKE_HOME"]) / "dbfs" / "raw" / "odoo").load()["account.move"]
        again = runner.invoke(app, ["odoo", "extract", "--since", "2020-01-01"], env=env)  # a backfill re-delivers
        assert again.exit_code == 0 and f"account.move: {len(db.models['account.move'].records):,}" in again.output
        after = CheckpointStore(Path(env["ODOOLAKE_HOME"]) / "dbfs" / "raw" / "odoo").load()["account.move"]
        assert (after.write_date, after.id) == (before.write_date, before.id)  # the checkpoint never moves back
        wrong = runner.invoke(app, ["odoo", "check"], env={**env, "ODOO_API_KEY": "nope"})
        assert wrong.exit_code == 1 and "refused the credentials" in wrong.output and KEY not in wrong.output


def _only_taxes(deletions: bool = False):
    from odoolake.odoo.extract import ExtractModel
    from odoolake.pipeline.schemas import ACCOUNT_TAX

    return (ExtractModel(ACCOUNT_TAX, {"active_test": False}, detect_deletions=deletions),)


def _after_first_page(client, then) -> None:
    """Run ``then`` once, right after the extraction's first page of records is answered."""
    search_read = client.search_read
    pages = []

    def paged(*args, **kwargs):
        rows = search_read(*args, **kwargs)
        pages.append(args)
        if len(pages) == 1:
            then()
        return rows
    client.search_read = paged  # type: ignore[method-assign]


def test_a_record_changed_while_a_run_pages_is_delivered_at_its_new_version(tmp_path):
    """Tax 1 is read on the first page, renamed while the run pages on, and met again at its new write_date: that
    version is delivered too (it was skipped as an id already seen, while the checkpoint moved past it for good)."""
    clock = Clock()
    db = FakeOdoo(version=19, api_key=KEY, clock=clock)
    db.add_model("account.tax", _taxes(4, "2026-11-02 00:50:00.100000"))
    with FakeOdooServer(db) as server:
        client = OdooClient(_settings(server.url))

        def edits() -> None:
            clock.now += 10
            client.call("account.tax", "write", ids=[1], vals={"name": "changed"})
            clock.now += 600
            client.call("account.tax", "create", vals_list=[{"name": "T5", "amount": 1.0, "type_tax_use": "sale"}])
        _after_first_page(client, edits)
        Extractor(client, tmp_path, page_size=2, lookback_seconds=60, models=_only_taxes()).run()
        Extractor(OdooClient(_settings(server.url)), tmp_path, page_size=2, lookback_seconds=60,
                  models=_only_taxes()).run()
    delivered = _delivered(tmp_path, "account_tax")
    newest = {}
    for rec in delivered:  # the newest delivery of each id, as bronze and silver order them
        if rec["id"] not in newest or rec["write_date"] >= newest[rec["id"]]["write_date"]:
            newest[rec["id"]] = rec
    assert {i: r["name"] for i, r in newest.items()} == {1: "changed", 2: "T2", 3: "T3", 4: "T4", 5: "T5"}
    assert len({(r["id"], r["write_date"]) for r in delivered}) == len(delivered), "no version twice"


def test_a_tombstone_sorts_after_a_version_read_the_same_second(tmp_path):
    """A tax edited, read by the run, then deleted before the run compares ids, all in the run's second: its
    tombstone must not repeat the version's (id, write_date) (bronze refuses such a file) nor sort before it."""
    clock = Clock()
    clock.now += 3600
    db = FakeOdoo(version=19, api_key=KEY, clock=clock)
    db.add_model("account.tax", _taxes(3, "2026-11-02 01:00:00.100000"))
    with FakeOdooServer(db) as server:
        client = OdooClient(_settings(server.url))
        client.call("account.tax", "write", ids=[2], vals={"name": "edited"})  # 02:00:00, the run's second
        _after_first_page(client, lambda: client.call("account.tax", "unlink", ids=[2]))
        now = datetime.fromtimestamp(clock.now, UTC)
        Extractor(client, tmp_path, models=_only_taxes(deletions=True), clock=lambda: now).run(
            known_ids={"account.tax": {1, 2, 3}})
    lines = [r for r in _delivered(tmp_path, "account_tax") if r["id"] == 2]
    assert [r.get("_deleted", False) for r in lines] == [False, True]
    assert lines[1]["write_date"] > lines[0]["write_date"]


def test_a_since_without_a_zone_is_utc_as_odoos_write_dates_are(tmp_path, monkeypatch):
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        db = FakeOdoo(version=19, api_key=KEY, clock=Clock())
        db.add_model("account.tax", _taxes(1, "2026-11-02 00:30:00.000000"))
        with FakeOdooServer(db) as server:
            client = OdooClient(_settings(server.url))
            result = Extractor(client, tmp_path, models=_only_taxes()).run(since=datetime(2026, 11, 2, 0, 0))
        assert result.rows == {"account.tax": 1}
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_checkpoints_saved_at_once_by_two_threads_each_land_whole(tmp_path):
    import threading

    from odoolake.odoo.extract import ModelCheckpoint

    store, failures = CheckpointStore(tmp_path), []

    def saving(n: int) -> None:
        for i in range(200):
            try:
                store.save({"account.tax": ModelCheckpoint("2026-11-02 00:00:00", n * 1000 + i, "b", {})})
                assert store.load()["account.tax"].id >= 0
            except Exception as exc:  # counted and shown below
                failures.append(exc)
    threads = [threading.Thread(target=saving, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert not list((tmp_path / "_state").glob("*.tmp"))


def test_a_commit_that_fails_part_way_leaves_no_staged_files(tmp_path, monkeypatch):
    db = FakeOdoo(version=19, api_key=KEY, clock=Clock())
    db.add_model("account.tax", _taxes(2, "2026-11-02 00:30:00.000000"))

    from odoolake.odoo import extract

    def full_disk(*_args, **_kwargs):
        raise OSError(28, "No space left on device")
    with FakeOdooServer(db) as server:
        client = OdooClient(_settings(server.url))
        with pytest.raises(OSError, match="No space left"), monkeypatch.context() as m:
            m.setattr(extract.os, "replace", full_disk)  # the staged file cannot be made visible
            Extractor(client, tmp_path, models=_only_taxes()).run()
    assert list(tmp_path.glob("*/_tmp/*")) == []
    assert list(tmp_path.glob("*/*.jsonl")) == [] and CheckpointStore(tmp_path).load() == {}


class _Unread:
    """A session that must not be used."""

    def __getattr__(self, name: str):
        raise AssertionError(f"the lake was read ({name}) before the extract held its folder")


def test_a_second_extract_into_the_same_folder_is_refused_while_one_runs(tmp_path):
    from odoolake.odoo.errors import OdooError

    db = FakeOdoo(version=19, api_key=KEY, clock=Clock())
    db.add_model("account.tax", _taxes(3, "2026-11-02 00:30:00.000000"))
    with FakeOdooServer(db) as server:
        client = OdooClient(_settings(server.url))
        refused: list[str] = []

        def second_run() -> None:
            with pytest.raises(OdooError, match=r"another Odoo extract is running into .* wait for it to end") as err:
                Extractor(OdooClient(_settings(server.url)), tmp_path, models=_only_taxes()).run()
            refused.append(str(err.value))
            # against the lake too, and before reading it: the other run's files are not all there yet
            with pytest.raises(OdooError, match=r"another Odoo extract is running into"):
                Extractor(OdooClient(_settings(server.url)), tmp_path,
                          models=_only_taxes(deletions=True)).run_against_lake(_Unread())
        _after_first_page(client, second_run)
        first = Extractor(client, tmp_path, models=_only_taxes()).run()
        assert first.rows == {"account.tax": 3} and len(refused) == 1
        assert Extractor(OdooClient(_settings(server.url)), tmp_path, models=_only_taxes()).run().rows == {
            "account.tax": 0}, "the lock is released when a run ends"



def test_a_folder_that_cannot_be_locked_is_still_extracted_into(tmp_path, monkeypatch):
    """/dbfs on Databricks is a FUSE mount that may not take locks: the run goes on without one."""
    import errno

    from odoolake.odoo import extract

    def no_locks(*_args, **_kwargs):
        raise OSError(errno.ENOLCK, "No locks available")
    monkeypatch.setattr(extract.fcntl, "flock", no_locks)
    db = FakeOdoo(version=19, api_key=KEY, clock=Clock())
    db.add_model("account.tax", _taxes(2, "2026-11-02 00:30:00.000000"))
    with FakeOdooServer(db) as server:
        assert Extractor(OdooClient(_settings(server.url)), tmp_path, models=_only_taxes()).run().rows == {
            "account.tax": 2}


def test_a_since_later_than_the_checkpoint_reads_from_the_checkpoint(tmp_path):
    """``odoo extract --since`` (a backfill) given a day after the checkpoint read from that day, and the checkpoint
    then moved past the changes between, which were never read (found by a hostile review)."""
    clock = Clock()  # 2026-11-02 01:00 UTC
    db = FakeOdoo(version=19, api_key=KEY, clock=clock)
    db.add_model("account.tax", _taxes(2, "2026-11-02 00:30:00.000000"))
    with FakeOdooServer(db) as server:
        client = OdooClient(_settings(server.url))
        Extractor(client, tmp_path, models=_only_taxes()).run()
        clock.now += 3600
        client.call("account.tax", "write", ids=[1], vals={"name": "edited on the 2nd"})
        clock.now += 86400
        client.call("account.tax", "write", ids=[2], vals={"name": "edited on the 3rd"})
        Extractor(client, tmp_path, models=_only_taxes()).run(since=datetime(2026, 11, 3, tzinfo=UTC))
        Extractor(client, tmp_path, models=_only_taxes()).run()
    latest = {rec["id"]: rec["name"] for rec in _delivered(tmp_path, "account_tax")}
    assert latest == {1: "edited on the 2nd", 2: "edited on the 3rd"}


def test_lines_read_by_move_after_the_pages_do_not_move_the_checkpoint_past_lines_no_page_read(tmp_path):
    """The lines of changed moves are read by move id after the lines' pages; one written late in that phase moved
    the lines' checkpoint to its write_date, past a line written earlier in the phase that no page had read."""
    from odoolake.odoo.extract import ExtractModel
    from odoolake.pipeline.schemas import ACCOUNT_MOVE_LINE

    clock = Clock()
    db = FakeOdoo(version=19, api_key=KEY, clock=clock)
    stamp = "2026-11-02 00:00:00.000000"
    db.add_model("account.move", [{"id": m, "name": f"M{m}", "write_date": stamp} for m in (1, 2)])
    db.add_model("account.move.line", [{"id": 100 + m, "move_id": [m, f"M{m}"], "balance": 1.0, "write_date": stamp}
                                       for m in (1, 2)])
    models = (ExtractModel(ACCOUNT_MOVE), ExtractModel(ACCOUNT_MOVE_LINE))
    with FakeOdooServer(db) as server:
        client = OdooClient(_settings(server.url))
        Extractor(client, tmp_path, models=models).run()
        clock.now += 3600
        client.call("account.move", "write", ids=[1], vals={"name": "M1 edited"})  # move 1 changes, not its line
        search_read = client.search_read

        def by_move(model, domain, *args, **kwargs):
            if model == "account.move.line" and domain and domain[0][0] == "move_id":  # the by-move phase
                clock.now += 10
                client.call("account.move.line", "write", ids=[102], vals={"balance": 2.0})  # move 2's line
                clock.now += 400  # the phase runs on past the look-back (300 s)
                client.call("account.move.line", "write", ids=[101], vals={"balance": 3.0})  # move 1's line
            return search_read(model, domain, *args, **kwargs)
        client.search_read = by_move  # type: ignore[method-assign]
        Extractor(client, tmp_path, models=models).run()
        client.search_read = search_read  # type: ignore[method-assign]
        Extractor(client, tmp_path, models=models).run()
    balances = {rec["id"]: rec["balance"] for rec in _delivered(tmp_path, "account_move_line")}
    assert balances == {101: 3.0, 102: 2.0}
    versions = [(rec["id"], rec["balance"]) for rec in _delivered(tmp_path, "account_move_line")]
    assert versions.count((101, 3.0)) == 1, "what was read by move is not delivered again by the next run's pages"


def test_an_extract_odoo_refuses_writes_nothing_into_the_raw_folder(tmp_path):
    """The run lock was taken before Odoo was asked anything: a refused extract made <raw>/_state/extract.lock (as
    another user, the PermissionError on it hid the missing model)."""
    raw = tmp_path / "never-written"
    with FakeOdooServer(FakeOdoo(api_key=KEY)) as server, pytest.raises(OdooMissingError):
        Extractor(OdooClient(_settings(server.url)), raw).run()
    assert not raw.exists()


@pytest.mark.parametrize("text", ['{"models": {"account.tax": {"write_da', '{"models": {}, "repoint_owed": "12"}'],
                         ids=["cut_short", "owed_not_a_list"])
def test_a_damaged_checkpoint_is_named_and_left_as_it_is(tmp_path, text):
    from odoolake.odoo import OdooError

    db = FakeOdoo(version=19, api_key=KEY, clock=Clock())
    db.add_model("account.tax", _taxes(1, "2026-11-02 00:30:00.000000"))
    damaged = tmp_path / "_state" / "odoo_checkpoint.json"
    damaged.parent.mkdir()
    damaged.write_text(text)
    unreadable = r"odoo_checkpoint\.json: the extract's checkpoint cannot be read"
    with FakeOdooServer(db) as server, pytest.raises(OdooError, match=unreadable):
        Extractor(OdooClient(_settings(server.url)), tmp_path, models=_only_taxes()).run()
    assert damaged.read_text() == text
    assert not list(tmp_path.glob("account_tax/odoo-extract-*.jsonl"))
