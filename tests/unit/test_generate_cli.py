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


def test_months_already_generated_are_not_replaced_with_other_settings(tmp_path, monkeypatch):
    """Generating again over a lake's months with other settings rewrote drops the lake had ingested (partner 100417
    became another partner behind the same id), with no word; now refused, naming what differs, and nothing is
    written. The same settings write the same files; a month already there cannot be added again."""
    monkeypatch.setenv("ODOOLAKE_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    made = ["lake", "generate", "--months", "3", "--end", "2026-10", "--lines", "6000", "--as-of", "2026-11-05"]
    assert runner.invoke(app, made).exit_code == 0
    raw = tmp_path / "home" / "dbfs" / "raw" / "odoo"
    files = {p: p.read_bytes() for p in sorted(raw.rglob("*")) if p.is_file()}
    other = runner.invoke(app, ["lake", "generate", "--months", "2", "--end", "2026-10", "--lines", "6000"])
    assert other.exit_code == 1, other.output
    flat = " ".join(other.output.split())
    assert "already holds odoo-202609 … odoo-202610 (2 months), generated with other settings (months 3 → 2)" in flat
    assert "lake generate --only YYYY-MM" in flat
    assert {p: p.read_bytes() for p in sorted(raw.rglob("*")) if p.is_file()} == files  # nothing was written
    assert runner.invoke(app, [*made[:-2], "--as-of", "2026-11-20"]).exit_code == 0  # the same months again
    assert {p: p.read_bytes() for p in sorted(raw.rglob("*")) if p.is_file() and p.suffix == ".jsonl"} == \
        {p: b for p, b in files.items() if p.suffix == ".jsonl"}
    again = runner.invoke(app, ["lake", "generate", "--only", "2026-10"])
    assert again.exit_code == 2 and "the newest there is odoo-202610" in " ".join(again.output.replace("│", " ").split())


def test_the_demo_run_a_month_later_adds_the_months_after_the_lakes(tmp_path):
    """``odoolake demo`` in a lake made by an earlier run adds the months after it with the lake's settings, instead
    of generating every month again for the later window (which replaced every ingested drop)."""
    from datetime import date

    from odoolake.cli.demo import _months_to_generate
    from odoolake.datagen import GenConfig, generate

    raw = tmp_path / "raw"
    generate(GenConfig(months=3, end=date(2026, 10, 1), lines=6000), raw)
    later = GenConfig(months=3, end=date(2026, 12, 1), lines=6000)
    cfg, wanted = _months_to_generate(later, raw)
    assert (cfg.end, wanted) == (date(2026, 10, 1), [date(2026, 11, 1), date(2026, 12, 1)])
    assert _months_to_generate(GenConfig(months=3, end=date(2026, 10, 1), lines=6000), raw)[1] is None  # same run
    other = GenConfig(months=3, end=date(2026, 12, 1), lines=9000)
    assert _months_to_generate(other, raw) == (other, None)  # other settings: generate() refuses the overlap


def test_lake_run_names_a_few_batches_in_full_and_many_by_count():
    """``lake run`` printed Python lists (``batches ['odoo-202411', …]``)."""
    from odoolake.cli.lake import _listed

    assert _listed([], "none") == "none"
    assert _listed(["odoo-202610", "odoo-202611"], "none") == "odoo-202610, odoo-202611"
    assert _listed([f"odoo-2026{m:02d}" for m in range(1, 8)], "none") == "7: odoo-202601 … odoo-202607"


def test_a_month_not_over_or_past_a_gap_is_generated_with_a_warning(tmp_path, monkeypatch):
    """``--only`` wrote a month still running (moves dated after today) or two months past the newest drop (the
    month between left out) without a word."""
    from datetime import date

    from odoolake.cli.lake import only_month_warnings

    made = ["odoo-202609", "odoo-202610"]
    assert only_month_warnings(date(2026, 11, 1), made, today=date(2026, 12, 7)) == []
    assert only_month_warnings(date(2026, 11, 1), made, today=date(2026, 11, 30)) == [
        "--only 2026-11: the month is not over (today is 30 Nov 2026); its drop holds moves dated up to 30 Nov 2026, "
        "which no extract taken today would"]
    assert only_month_warnings(date(2027, 1, 1), made, today=date(2027, 2, 1)) == [
        "--only 2027-01: the lake's newest drop before it is odoo-202610, so 2026-11 … 2026-12 are not generated; "
        "add them with --only first"]
    assert only_month_warnings(date(2026, 12, 1), made, today=date(2027, 1, 1))[0].startswith(
        "--only 2026-12: the lake's newest drop before it is odoo-202610, so 2026-11 is not generated; add it")
    assert only_month_warnings(date(2026, 8, 1), made, today=date(2027, 1, 1)) == []  # a month before the lake's

    monkeypatch.setenv("ODOOLAKE_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    assert runner.invoke(app, ["lake", "generate", "--months", "2", "--end", "2026-08", "--lines", "4000",
                               "--as-of", "2026-09-05"]).exit_code == 0
    added = runner.invoke(app, ["lake", "generate", "--only", "2026-10"])
    assert added.exit_code == 0, added.output  # still written: a warning, not a refusal
    warned = [line for line in added.output.splitlines() if line.startswith("warning: --only 2026-10:")]
    assert warned == ["warning: --only 2026-10: the lake's newest drop before it is odoo-202608, so 2026-09 is not "
                      "generated; add it with --only first"]
