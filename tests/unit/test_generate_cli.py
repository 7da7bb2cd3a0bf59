"""``odoolake lake generate --only``: a new month continues the lake's data with the settings it was made with."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from odoolake.cli.main import app


def _lines_of(raw, batch: str) -> int:
    return sum(1 for _ in (raw / "account_move_line" / f"{batch}.jsonl").open())


def test_a_month_generated_alone_uses_the_lakes_settings_and_joins_its_record(tmp_path, monkeypatch):
    """It took the built-in defaults (36 months, 300,000 lines) instead of the lake's, so the new month had another
    volume (8,833 lines against about 13,100 a month), and it replaced the record with its own settings."""
    monkeypatch.setenv("ODOOLAKE_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    first = runner.invoke(app, ["lake", "generate", "--months", "3", "--end", "2026-10", "--lines", "6000",
                                "--as-of", "2026-11-05"])
    assert first.exit_code == 0, first.output
    raw = tmp_path / "home" / "dbfs" / "raw" / "odoo"
    before = json.loads((raw / "_generator.json").read_text())
    added = runner.invoke(app, ["lake", "generate", "--only", "2026-11"])
    assert added.exit_code == 0, added.output
    record = json.loads((raw / "_generator.json").read_text())
    assert (record["months"], record["lines"], record["seed"], record["end"], record["as_of"]) == \
        (before["months"], before["lines"], before["seed"], before["end"], before["as_of"])
    assert record["batches"] == [*before["batches"], "odoo-202611"]
    assert sum(record["cases"].values()) > sum(before["cases"].values())
    per_month = [_lines_of(raw, b) for b in before["batches"]]
    assert min(per_month) * 0.6 < _lines_of(raw, "odoo-202611") < max(per_month) * 1.4  # the same volume
