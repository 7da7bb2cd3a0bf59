"""BIR alphalist DAT files: QAP (1601-EQ), SAWT and the 1604-E schedules (shared/reference/bir-odoo.md §1.8).

Layout choices where sources differ follow the BIR-generated reference file (accepted by the BIR validator):
sequence numbers start at 1, empty name fields are left unquoted, lines end with CRLF. Text is upper-cased,
commas are removed and ``&`` becomes ``AND``; names are cut to the widths Odoo uses (registered name 50,
last/first/middle 30). Amounts have two decimals and no thousands separator; rates are percentages
(``10.00``). A file is produced whole or not at all: any payee without a valid TIN stops it, naming them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from odoolake.bir.atc import KNOWN_ATCS
from odoolake.bir.tin import TinStatus, parse_tin
from odoolake.errors import BirRuleError

CRLF = "\r\n"
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Agent:
    """The withholding agent (the company filing)."""

    tin: str
    registered_name: str
    rdo: str
    branch: str | None = None
    last_name: str = ""
    first_name: str = ""
    middle_name: str = ""


@dataclass(frozen=True)
class AlphalistRow:
    """One payee (or payor, for SAWT) × ATC line."""

    tin: str | None
    atc: str
    rate: Decimal  # percent
    income: Decimal
    tax: Decimal = Decimal("0")
    company_name: str = ""
    last_name: str = ""
    first_name: str = ""
    middle_name: str = ""
    branch: str | None = None
    nature: str = ""  # SAWT "nature of income"


def clean_text(value: str | None, width: int) -> str:
    text = (value or "").upper().replace("&", "AND").replace(",", "").replace('"', "").strip()
    return " ".join(text.split())[:width]


def _quoted(value: str | None, width: int) -> str:
    text = clean_text(value, width)
    return f'"{text}"' if text else ""


def money(value: Decimal | float | int) -> str:
    amount = Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)
    text = f"{amount:.2f}"
    if len(text.lstrip("-")) > 14:
        raise BirRuleError(f"Amount {text} does not fit the 14-character DAT field.")
    return text


def _tin(raw: str | None, branch: str | None, who: str) -> tuple[str, str]:
    tin, status = parse_tin(raw, branch)
    if tin is None:
        raise BirRuleError(f"{who}: TIN {raw!r} is {status.value.lower()}.")
    return tin.number, tin.branch


def _check_rows(rows: list[AlphalistRow], kind: str) -> list[tuple[AlphalistRow, str, str]]:
    problems, checked = [], []
    for row in rows:
        who = clean_text(row.company_name or f"{row.last_name} {row.first_name}", 80) or "(no name)"
        tin, status = parse_tin(row.tin, row.branch)
        if tin is None:
            problems.append(f"{who} ({'no TIN' if status == TinStatus.MISSING else f'TIN {row.tin!r}'})")
            continue
        if row.atc.upper() not in KNOWN_ATCS:
            problems.append(f"{who} (unknown ATC {row.atc!r})")
            continue
        checked.append((row, tin.number, tin.branch))
    if problems:
        raise BirRuleError(f"Cannot write the {kind}: {len(problems)} line(s) need fixing in Odoo first: "
                           + "; ".join(problems[:10]) + (" …" if len(problems) > 10 else ""))
    return checked


def _names(row: AlphalistRow) -> str:
    if row.company_name:
        return ",".join([_quoted(row.company_name, 50), "", "", ""])
    return ",".join(["", _quoted(row.last_name, 30), _quoted(row.first_name, 30), _quoted(row.middle_name, 30)])


def _quarter_end(year: int, quarter: int) -> tuple[int, int]:
    if quarter not in (1, 2, 3, 4):
        raise BirRuleError(f"Quarter must be 1 to 4, got {quarter}.")
    return year, quarter * 3


def qap(agent: Agent, year: int, quarter: int, rows: Iterable[AlphalistRow],
        exempt: Iterable[AlphalistRow] = ()) -> tuple[str, str]:
    """(file name, content) of the QAP attached to the 1601-EQ."""
    tin, br = _tin(agent.tin, agent.branch, "Withholding agent")
    y, m = _quarter_end(year, quarter)
    period = f"{m:02d}/{y}"
    schedule1 = _check_rows(list(rows), "QAP")
    schedule2 = _check_rows(list(exempt), "QAP schedule 2")
    lines = [f"HQAP,H1601EQ,{tin},{br},{_quoted(agent.registered_name, 50)},{period},{agent.rdo}"]
    for seq, (row, ptin, pbr) in enumerate(schedule1, start=1):
        lines.append(f"D1,1601EQ,{seq},{ptin},{pbr},{_names(row)},{period},{row.atc.upper()},{money(row.rate)},"
                     f"{money(row.income)},{money(row.tax)}")
    lines.append(f"C1,1601EQ,{tin},{br},{period},{money(sum((r.income for r, _, _ in schedule1), Decimal(0)))},"
                 f"{money(sum((r.tax for r, _, _ in schedule1), Decimal(0)))}")
    if schedule2:
        for seq, (row, ptin, pbr) in enumerate(schedule2, start=1):
            lines.append(f"D2,1601EQ,{seq},{ptin},{pbr},{_names(row)},{period},{row.atc.upper()},{money(row.income)}")
        lines.append(f"C2,1601EQ,{tin},{br},{period},{money(sum((r.income for r, _, _ in schedule2), Decimal(0)))}")
    return f"{tin}{br}{m:02d}{y}1601EQ.dat", CRLF.join(lines) + CRLF


def form1604e(agent: Agent, year: int, rows: Iterable[AlphalistRow],
              exempt: Iterable[AlphalistRow] = ()) -> tuple[str, str]:
    """(file name, content) of the 1604-E alphalist: schedule 3 (withheld) and 4 (exempt)."""
    tin, br = _tin(agent.tin, agent.branch, "Withholding agent")
    as_of = date(year, 12, 31).strftime("%m/%d/%Y")
    schedule3 = _check_rows(list(rows), "1604-E")
    schedule4 = _check_rows(list(exempt), "1604-E schedule 4")
    lines = [f"H1604E,{tin},{br},{as_of}"]
    for seq, (row, ptin, pbr) in enumerate(schedule3, start=1):
        lines.append(f"D3,1604E,{tin},{br},{as_of},{seq},{ptin},{pbr},{_names(row)},{row.atc.upper()},"
                     f"{money(row.income)},{money(row.rate)},{money(row.tax)}")
    lines.append(f"C3,1604E,{tin},{br},{as_of},{money(sum((r.tax for r, _, _ in schedule3), Decimal(0)))}")
    if schedule4:
        for seq, (row, ptin, pbr) in enumerate(schedule4, start=1):
            lines.append(f"D4,1604E,{tin},{br},{as_of},{seq},{ptin},{pbr},{_names(row)},{row.atc.upper()},"
                         f"{money(row.income)}")
        lines.append(f"C4,1604E,{tin},{br},{as_of},{money(sum((r.income for r, _, _ in schedule4), Decimal(0)))}")
    return f"{tin}{br}{date(year, 12, 31):%m%d%Y}1604E.dat", CRLF.join(lines) + CRLF


SAWT_FORMS = ("1701Q", "1701", "1702Q", "1702", "2550Q", "2551Q")


def sawt(payee: Agent, form: str, year: int, month: int, rows: Iterable[AlphalistRow]) -> tuple[str, str]:
    """(file name, content) of the SAWT: 2307s received by ``payee``, per payor × ATC, for the return ``form``."""
    if form not in SAWT_FORMS:
        raise BirRuleError(f"SAWT form must be one of {', '.join(SAWT_FORMS)}, got {form!r}.")
    if not 1 <= month <= 12:
        raise BirRuleError(f"Month must be 1 to 12, got {month}.")
    tin, br = _tin(payee.tin, payee.branch, "Payee")
    period = f"{month:02d}/{year}"
    checked = _check_rows(list(rows), "SAWT")
    names = ",".join([_quoted(payee.registered_name, 50), _quoted(payee.last_name, 30), _quoted(payee.first_name, 30),
                      _quoted(payee.middle_name, 30)])
    lines = [f"HSAWT,H{form},{tin},{br},{names},{period},{payee.rdo}"]
    for seq, (row, ptin, pbr) in enumerate(checked, start=1):
        lines.append(f"DSAWT,D{form},{seq},{ptin},{pbr},{_names(row)},{period},{_quoted(row.nature, 50)},"
                     f"{row.atc.upper()},{money(row.rate)},{money(row.income)},{money(row.tax)}")
    lines.append(f"CSAWT,C{form},{tin},{br},{period},{money(sum((r.income for r, _, _ in checked), Decimal(0)))},"
                 f"{money(sum((r.tax for r, _, _ in checked), Decimal(0)))}")
    return f"{tin}{br}{month:02d}{year}{form}.dat", CRLF.join(lines) + CRLF
