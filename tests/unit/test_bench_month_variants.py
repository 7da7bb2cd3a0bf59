"""The benchmark's variants of a new month (bench/month_end.py) and its reading of EXPLAIN ANALYZE
(bench/write_costs.py): the numbers docs/performance.md gives rest on them."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import month_end
import write_costs


def _write(path: Path, records: list[dict | str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    extra = tmp_path / "extra"
    _write(extra / "account_move" / "odoo-202611.jsonl", [
        {"id": 1, "date": "2026-11-03"}, {"id": 2, "date": "2026-10-28"}, {"id": 3, "_deleted": True},
        {"id": 4, "date": "2026-11-20"}, "{truncated"])
    _write(extra / "account_move_line" / "odoo-202611.jsonl", [
        {"id": 10, "move_id": [1, "BILL/1"]}, {"id": 11, "move_id": [2, "BILL/2"]},
        {"id": 12, "move_id": [4, "BILL/4"]}, {"id": 13, "move_id": [9, "BILL/9"]}])
    _write(extra / "res_currency_rate" / "odoo-202611.jsonl", [{"id": 7, "name": "2026-11-01"},
                                                                      {"id": 8, "name": "2026-10-30"}])
    (extra / "_generator.json").write_text("{}")
    return extra


def _ids(path: Path) -> list[object]:
    return [json.loads(line).get("id") if line.startswith("{\"") else line.strip()
            for line in path.read_text().splitlines()]


def test_new_period_only_drops_late_edits_deletions_their_lines_and_earlier_rates(drop: Path) -> None:
    out = month_end.new_period_only(drop, month=date(2026, 11, 1))
    assert _ids(out / "account_move" / "odoo-202611.jsonl") == [1, 4, "{truncated"]
    assert _ids(out / "account_move_line" / "odoo-202611.jsonl") == [10, 12]
    assert _ids(out / "res_currency_rate" / "odoo-202611.jsonl") == [7]
    assert (out / "_generator.json").exists()


def test_tiny_month_keeps_only_the_first_moves_and_their_lines(drop: Path) -> None:
    out = month_end.new_period_only(drop, month=date(2026, 11, 1), moves=1)
    assert out.name == "extra-1-moves"
    assert _ids(out / "account_move" / "odoo-202611.jsonl") == [1, "{truncated"]
    assert _ids(out / "account_move_line" / "odoo-202611.jsonl") == [10]


def test_a_model_with_nothing_left_has_no_file(drop: Path) -> None:
    _write(drop / "res_currency_rate" / "odoo-202611.jsonl", [{"id": 8, "name": "2026-10-30"}])
    out = month_end.new_period_only(drop, month=date(2026, 11, 1))
    assert not (out / "res_currency_rate" / "odoo-202611.jsonl").exists()
    assert _ids(out / "account_move" / "odoo-202611.jsonl") == [1, 4, "{truncated"]


def test_operator_seconds_reads_compute_and_scan_times_of_the_physical_plan_only() -> None:
    explained = (
        "== Physical Plan ==\n"
        "ProjectionExec: expr=[a], metrics=[output_rows=25, elapsed_compute=1.50µs, output_bytes=16.3 KB]\n"
        "  AggregateExec: metrics=[elapsed_compute=12.5ms, aggregation_time=3.89ms]\n"
        "    DataSourceExec: metrics=[time_elapsed_scanning_total=1.2s, time_elapsed_opening=9ms]\n"
        "== Optimized Logical Plan ==\n"
        "Projection: elapsed_compute=5s\n")
    assert write_costs.operator_seconds(explained) == pytest.approx(1.5e-6 + 0.0125 + 1.2)


def test_a_variant_made_by_other_rules_is_made_again(drop: Path) -> None:
    stale = drop.parent / "extra-new-period"
    _write(stale / "account_move" / "odoo-202611.jsonl", [{"id": 99, "date": "2026-11-01"}])
    (stale / "done").write_text("ok")  # what the variants' first version left
    out = month_end.new_period_only(drop, month=date(2026, 11, 1))
    assert _ids(out / "account_move" / "odoo-202611.jsonl") == [1, 4, "{truncated"]
    assert month_end.new_period_only(drop, month=date(2026, 11, 1)) == out  # and kept once made
