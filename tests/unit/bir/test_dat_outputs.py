"""Where the CLI puts a DAT file and the lists beside it when it is written again, or refused."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from odoolake.bir.dat import DatFile, DatRefused
from odoolake.cli.bir import SUPERSEDED, _superseding, _write_dat, open_period_warning, quarter_last_day
from odoolake.config import WorkspacePaths
from odoolake.errors import BirRuleError

NAME = "00000000000000920261601EQ.dat"


def _folder(paths: WorkspacePaths):
    folder = paths.dbfs_to_local("dbfs:/bir/RIM/2026Q3")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_a_dat_written_again_without_exceptions_takes_its_old_lists_away(tmp_path):
    """The lists describe the file they were written with: an earlier run's exceptions beside a complete file said
    rows were left out of it."""
    paths = WorkspacePaths.from_env(tmp_path).ensure()
    folder = _folder(paths)
    for stale in ("_exceptions.csv", "_differences.csv"):
        (folder / NAME.replace(".dat", stale)).write_text("old\n")
    (folder / "other_exceptions.csv").write_text("another file's\n")
    out = DatFile(NAME, "HQAP\r\n", 1, Decimal("100.00"), Decimal("2.00"), Decimal("2.00"))
    written = _write_dat(paths, "RIM", "2026Q3", out)
    assert [w.path for w in written] == [f"dbfs:/bir/RIM/2026Q3/{NAME}"]
    assert sorted(p.name for p in folder.iterdir()) == sorted([NAME, "other_exceptions.csv"])


def test_a_refused_dat_sets_an_earlier_file_of_its_name_aside_and_says_so(tmp_path):
    paths = WorkspacePaths.from_env(tmp_path).ensure()
    folder = _folder(paths)
    (folder / NAME).write_text("HQAP earlier\r\n")
    with pytest.raises(BirRuleError, match=rf"Cannot write the QAP.*set aside as {NAME}{SUPERSEDED}\.$") as err, \
            _superseding(paths, "RIM", "2026Q3"):
        raise DatRefused(NAME, "Cannot write the QAP 1601EQ: 1 line(s) need fixing in Odoo first.")
    assert not isinstance(err.value, DatRefused)
    assert sorted(p.name for p in folder.iterdir()) == [NAME + SUPERSEDED]
    with pytest.raises(DatRefused), _superseding(paths, "RIM", "2026Q3"):  # nothing earlier: the refusal as it was
        raise DatRefused(NAME, "Cannot write the QAP 1601EQ: 1 line(s) need fixing in Odoo first.")
    with pytest.raises(BirRuleError, match="not a quarter"), _superseding(paths, "RIM", "2026Q3"):  # touches nothing
        raise BirRuleError("2026Q5 is not a quarter")
    assert sorted(p.name for p in folder.iterdir()) == [NAME + SUPERSEDED]


def test_a_return_whose_period_is_not_over_is_said_to_hold_only_what_the_lake_has():
    assert [quarter_last_day(2026, q) for q in (1, 2, 3, 4)] == [
        date(2026, 3, 31), date(2026, 6, 30), date(2026, 9, 30), date(2026, 12, 31)]
    assert open_period_warning(date(2026, 12, 31), "The year 2026", today=date(2027, 1, 1)) is None
    said = open_period_warning(date(2026, 12, 31), "The year 2026", today=date(2026, 12, 5))
    assert said is not None and said.startswith("The year 2026 ends 31 Dec 2026, after today (05 Dec 2026)")
    assert open_period_warning(date(2026, 9, 30), "The quarter 2026Q3", today=date(2026, 9, 30)) is not None  # its
    # last day: the day's entries may still come
