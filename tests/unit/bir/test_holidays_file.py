"""``$ODOOLAKE_HOME/holidays.csv``: declared non-working days. Its first row must be the header: a file without one
read its first day as the header, so a one-day file changed nothing and the next row's error named a valid line."""

from __future__ import annotations

from datetime import date

import pytest

from odoolake.cli.bir import holiday_table
from odoolake.config import WorkspacePaths
from odoolake.errors import BirRuleError

DECLARED = date(2026, 7, 14)  # a Tuesday, a working day unless declared


@pytest.fixture
def paths(tmp_path):
    return WorkspacePaths.from_env(tmp_path).ensure()


def test_a_declared_day_is_no_working_day(paths):
    assert holiday_table(paths, range(2026, 2027)).is_working_day(DECLARED)
    (paths.home / "holidays.csv").write_text(f"Date, Name ,Action\n{DECLARED},Typhoon,add\n")
    assert not holiday_table(paths, range(2026, 2027)).is_working_day(DECLARED)


@pytest.mark.parametrize("text", [f"{DECLARED},Typhoon,add\n", f"{DECLARED},Typhoon,add\n2026-07-15,Flood,add\n", ""])
def test_a_file_without_its_header_is_refused_naming_the_header(paths, text):
    (paths.home / "holidays.csv").write_text(text)
    with pytest.raises(BirRuleError, match="line 1: the first row must be the header date,name,action"):
        holiday_table(paths, range(2026, 2027))
