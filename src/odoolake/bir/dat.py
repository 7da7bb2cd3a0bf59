"""BIR alphalist and RELIEF DAT files: QAP (1601-EQ and 1601-FQ), 1604-E, 1604-F, SAWT, SLSP (sales, purchases,
importations). Layouts and what each was checked against: docs/bir-outputs.md.

Rules every writer follows:
- one detail row per payee (TIN + branch), ATC and rate for the period; the caller nets invoices and credit notes
  before (``income`` and ``tax`` are the period's net amounts);
- a row whose net income or tax is not positive is never written (the amount format is unsigned ``9(11).99``): it
  goes to the exceptions list as NET_NEGATIVE;
- the tax written is ``income x rate / 100`` rounded half up to the centavo, at the row (``tax_at_rate``), as the
  validator recomputes it; the tax actually withheld is in the books and the 1601-EQ/FQ totals, and every row where
  they differ is listed in the differences (never hidden);
- amounts are VAT-exclusive (Odoo's tax base); control totals are the sums of the detail rows written;
- individuals carry last, first and middle names (no registered name), juridical payees their registered name;
- sequence numbers start at 1, empty fields are left unquoted, lines end with CRLF, text is upper-cased without
  commas or quotes, ``&`` becomes ``AND``, widths are cut to the layout's (name 50, last/first/middle 30, address 300);
- a row that needs fixing in Odoo (no valid TIN, an individual's name not split, an ATC the catalog does not know)
  is listed with the fix; by default the file is then refused, with ``skip_invalid`` it is written without them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from odoolake.bir import reasons
from odoolake.bir.atc import KNOWN_ATCS, Regime, rules_for
from odoolake.bir.tin import parse_tin
from odoolake.errors import BirRuleError

CRLF = "\r\n"
CENT = Decimal("0.01")
ZERO = Decimal("0")
NAME_WIDTH, PERSON_WIDTH, ADDRESS_WIDTH, NATURE_WIDTH = 50, 30, 300, 50


class Problem(StrEnum):
    INVALID_TIN = "INVALID_TIN"
    NAME_NOT_SPLIT = "NAME_NOT_SPLIT"
    UNKNOWN_ATC = "UNKNOWN_ATC"
    NET_NEGATIVE = "NET_NEGATIVE"
    CREDIT_NOTES_NETTED = "CREDIT_NOTES_NETTED"  # a 2307 line's negative month netted against its other months


FIX = {
    Problem.INVALID_TIN: reasons.MALFORMED_TIN.fix,
    Problem.NAME_NOT_SPLIT: reasons.NAME_NOT_SPLIT.fix,
    Problem.UNKNOWN_ATC: reasons.UNKNOWN_ATC.fix,
    Problem.NET_NEGATIVE: "credit notes exceed this period's payments: nothing to report for the row; the excess "
                          "reduces a later period's withholding or amends the period of the original bill",
    Problem.CREDIT_NOTES_NETTED: "a month's credit notes exceed its payments: the 2307 takes the excess from the "
                                 "quarter's other months (latest earlier month first), its total as on the QAP; "
                                 "check the credit note's date in Odoo",
}
BLOCKING = frozenset({Problem.INVALID_TIN, Problem.NAME_NOT_SPLIT, Problem.UNKNOWN_ATC})


@dataclass(frozen=True)
class Agent:
    """The company filing (the withholding agent, or the payee for a SAWT)."""

    tin: str
    registered_name: str
    rdo: str
    branch: str | None = None
    last_name: str = ""
    first_name: str = ""
    middle_name: str = ""
    trade_name: str = ""
    address1: str = ""
    address2: str = ""


@dataclass(frozen=True)
class AlphalistRow:
    """One payee (or payor, for the SAWT) x ATC x rate, with the period's net amounts."""

    tin: str | None
    atc: str
    rate: Decimal  # percent
    income: Decimal
    tax: Decimal = ZERO  # tax withheld (the books)
    company_name: str = ""
    last_name: str = ""
    first_name: str = ""
    middle_name: str = ""
    branch: str | None = None
    nature: str = ""  # SAWT "nature of income"
    individual: bool = False

    @property
    def who(self) -> str:
        name = self.company_name if not self.individual else ", ".join(
            p for p in (self.last_name, self.first_name) if p)
        return clean_text(name or self.company_name, 80) or "(no name)"


@dataclass(frozen=True)
class LeftOut:
    """A row left out of a file, why, and how to fix it."""

    row: AlphalistRow
    problem: Problem

    @property
    def fix(self) -> str:
        return FIX[self.problem]


@dataclass
class DatFile:
    name: str
    content: str
    rows: int
    income: Decimal
    tax: Decimal  # tax written (at rate)
    withheld: Decimal  # tax withheld on the rows written
    exceptions: list[LeftOut] = field(default_factory=list)
    differences: list[tuple[AlphalistRow, Decimal]] = field(default_factory=list)  # (row, tax at rate)

    def exceptions_csv(self) -> str:
        return _csv(["output", "payee", "tin", "atc", "rate", "income", "tax_withheld", "problem", "fix"],
                    [[self.name, e.row.who, e.row.tin or "", e.row.atc, e.row.rate, e.row.income, e.row.tax,
                      e.problem.value, e.fix] for e in self.exceptions])

    def differences_csv(self) -> str:
        return _csv(["payee", "tin", "atc", "rate", "income", "tax_withheld", "tax_at_rate", "difference"],
                    [[r.who, r.tin or "", r.atc, r.rate, r.income, r.tax, at, r.tax - at]
                     for r, at in self.differences])


def relief_exceptions_csv(left: list[tuple[ReliefRow, str]]) -> str:
    """The counterparties an SLSP leaves out: each with its problem and the fix in Odoo, as the other DAT files'
    exceptions list them."""
    return _csv(["counterparty", "tin", "problem", "fix"],
                [[row.registered_name, row.tin or "", problem, FIX[Problem(problem)]] for row, problem in left])


def _csv(header: list[str], rows: list[list]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def clean_text(value: str | None, width: int) -> str:
    text = (value or "").upper().replace("&", "AND").replace(",", "").replace('"', "").strip()
    return " ".join(text.split())[:width]


def _quoted(value: str | None, width: int) -> str:
    text = clean_text(value, width)
    return f'"{text}"' if text else ""


def money(value: Decimal | float | int) -> str:
    amount = Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)
    if amount < 0:
        raise BirRuleError(f"Amount {amount} is negative: DAT amounts are unsigned (9(11).99).")
    text = f"{amount:.2f}"
    if len(text) > 14:
        raise BirRuleError(f"Amount {text} does not fit the 14-character DAT field.")
    return text


def tax_at_rate(income: Decimal, rate: Decimal) -> Decimal:
    """The tax a validator expects on a row: income x rate %, rounded half up to the centavo."""
    return (Decimal(income) * Decimal(rate) / 100).quantize(CENT, rounding=ROUND_HALF_UP)


def _tin(raw: str | None, branch: str | None, who: str) -> tuple[str, str]:
    tin, status = parse_tin(raw, branch)
    if tin is None:
        raise BirRuleError(f"{who}: TIN {raw!r} is {status.value.lower()}; set the company's TIN in Odoo.")
    return tin.number, tin.branch


def problems_of(row: AlphalistRow, needs_atc: bool = True) -> list[Problem]:
    """Everything that keeps ``row`` out of a file (the one place these rules live). A net-negative row comes first:
    it is not reportable whatever else is wrong with it."""
    found = []
    if row.income <= 0 or row.tax < 0:
        found.append(Problem.NET_NEGATIVE)
    if parse_tin(row.tin, row.branch)[0] is None:
        found.append(Problem.INVALID_TIN)
    if row.individual and not (row.last_name.strip() and row.first_name.strip()):
        found.append(Problem.NAME_NOT_SPLIT)
    if needs_atc and row.atc.upper() not in KNOWN_ATCS:
        found.append(Problem.UNKNOWN_ATC)
    return found


class DatRefused(BirRuleError):
    """A DAT file not written because lines need fixing in Odoo; ``name`` is the file it would have been."""

    def __init__(self, name: str, message: str) -> None:
        self.name = name
        super().__init__(message)


def _select(rows: Iterable[AlphalistRow], kind: str, skip_invalid: bool, name: str, needs_atc: bool = True
            ) -> tuple[list[tuple[AlphalistRow, str, str]], list[LeftOut]]:
    """(rows to write with TIN and branch, exceptions). Refuses the file ``name`` when a row needs fixing in Odoo,
    unless ``skip_invalid``; net-negative rows never block (they are simply not reportable)."""
    keep: list = []
    left: list = []
    for row in rows:
        found = problems_of(row, needs_atc)
        if found:
            left.extend(LeftOut(row, p) for p in found[:1])
            continue
        tin = parse_tin(row.tin, row.branch)[0]
        assert tin is not None
        keep.append((row, tin.number, tin.branch))
    blocking = [e for e in left if e.problem in BLOCKING]
    if blocking and not skip_invalid:
        named = "; ".join(f"{e.row.who} ({e.problem.value}"
                          f"{' ' + repr(e.row.tin) if e.problem == Problem.INVALID_TIN and e.row.tin else ''})"
                          for e in blocking[:10])
        raise DatRefused(name, f"Cannot write the {kind}: {len(blocking)} line(s) need fixing in Odoo first: {named}"
                           + (" …" if len(blocking) > 10 else "")
                           + " (or leave them out on purpose with --skip-invalid, listed in an exceptions file)"
                           + _net_negative_note(sum(1 for e in left if e.problem == Problem.NET_NEGATIVE)) + ".")
    return keep, left


def _net_negative_note(count: int) -> str:
    """Said after a refusal's count, so that it adds up with what --skip-invalid then leaves out."""
    return f"; {count} more net-negative line(s) are never reported and need no fix (listed there too)" if count \
        else ""


def _exempt(row: AlphalistRow) -> AlphalistRow:
    """Exempt rows (schedule 2 / 4) carry no tax."""
    return replace(row, tax=ZERO)


def _names(row: AlphalistRow) -> str:
    if not row.individual:
        return ",".join([_quoted(row.company_name, NAME_WIDTH), "", "", ""])
    return ",".join(["", _quoted(row.last_name, PERSON_WIDTH), _quoted(row.first_name, PERSON_WIDTH),
                     _quoted(row.middle_name, PERSON_WIDTH)])


def _quarter_end(year: int, quarter: int) -> tuple[int, int]:
    if quarter not in (1, 2, 3, 4):
        raise BirRuleError(f"Quarter must be 1 to 4, got {quarter}.")
    return year, quarter * 3


def _totals(rows: list[tuple[AlphalistRow, str, str]]) -> tuple[Decimal, Decimal, Decimal]:
    income = sum((r.income for r, _, _ in rows), ZERO)
    at_rate = sum((tax_at_rate(r.income, r.rate) for r, _, _ in rows), ZERO)
    withheld = sum((r.tax for r, _, _ in rows), ZERO)
    return income, at_rate, withheld


def _differences(rows: list[tuple[AlphalistRow, str, str]]) -> list[tuple[AlphalistRow, Decimal]]:
    return [(r, tax_at_rate(r.income, r.rate)) for r, _, _ in rows if r.tax != tax_at_rate(r.income, r.rate)]


QAP_FORMS = ("1601EQ", "1601FQ")


def qap(agent: Agent, year: int, quarter: int, rows: Iterable[AlphalistRow],
        exempt: Iterable[AlphalistRow] = (), form: str = "1601EQ", skip_invalid: bool = False) -> DatFile:
    """The QAP attached to the 1601-EQ (or the 1601-FQ), named ``{TIN}{BR}{MMYYYY}{form}.dat``."""
    form = qap_form(form)
    tin, br = _tin(agent.tin, agent.branch, "Withholding agent")
    y, m = _quarter_end(year, quarter)
    period = f"{m:02d}/{y}"
    name = f"{tin}{br}{m:02d}{y}{form}.dat"
    schedule1, left1 = _select(rows, f"QAP {form}", skip_invalid, name)
    schedule2, left2 = _select((_exempt(r) for r in exempt), f"QAP {form} schedule 2", skip_invalid, name)
    lines = [f"HQAP,H{form},{tin},{br},{_quoted(agent.registered_name, NAME_WIDTH)},{period},{agent.rdo}"]
    for seq, (row, ptin, pbr) in enumerate(schedule1, start=1):
        amounts = f"{row.atc.upper()},{money(row.rate)},{money(row.income)},{money(tax_at_rate(row.income, row.rate))}"
        if form == "1601EQ":
            lines.append(f"D1,{form},{seq},{ptin},{pbr},{_names(row)},{period},{amounts}")
        else:  # the 1601-FQ detail puts the TIN first and the sequence after the period
            lines.append(f"D1,{form},{ptin},{pbr},{_names(row)},{period},{seq},{amounts}")
    income, at_rate, withheld = _totals(schedule1)
    lines.append(f"C1,{form},{tin},{br},{period},{money(income)},{money(at_rate)}")
    if schedule2:
        for seq, (row, ptin, pbr) in enumerate(schedule2, start=1):
            lines.append(f"D2,{form},{seq},{ptin},{pbr},{_names(row)},{period},{row.atc.upper()},{money(row.income)}")
        lines.append(f"C2,{form},{tin},{br},{period},{money(sum((r.income for r, _, _ in schedule2), ZERO))}")
    return DatFile(name, CRLF.join(lines) + CRLF, len(schedule1) + len(schedule2),
                   income, at_rate, withheld, left1 + left2, _differences(schedule1))


def form1604e(agent: Agent, year: int, rows: Iterable[AlphalistRow], exempt: Iterable[AlphalistRow] = (),
              skip_invalid: bool = False) -> DatFile:
    """The 1604-E alphalist, ``{TIN}{BR}{MMDDYYYY}1604E.dat``: schedule 3 (tax withheld) and 4 (exempt)."""
    tin, br = _tin(agent.tin, agent.branch, "Withholding agent")
    as_of = date(year, 12, 31).strftime("%m/%d/%Y")
    name = f"{tin}{br}{date(year, 12, 31):%m%d%Y}1604E.dat"
    schedule3, left3 = _select(rows, "1604-E", skip_invalid, name)
    schedule4, left4 = _select((_exempt(r) for r in exempt), "1604-E schedule 4", skip_invalid, name)
    lines = [f"H1604E,{tin},{br},{as_of}"]
    for seq, (row, ptin, pbr) in enumerate(schedule3, start=1):
        lines.append(f"D3,1604E,{tin},{br},{as_of},{seq},{ptin},{pbr},{_names(row)},{row.atc.upper()},"
                     f"{money(row.income)},{money(row.rate)},{money(tax_at_rate(row.income, row.rate))}")
    income, at_rate, withheld = _totals(schedule3)
    lines.append(f"C3,1604E,{tin},{br},{as_of},{money(at_rate)}")
    if schedule4:
        for seq, (row, ptin, pbr) in enumerate(schedule4, start=1):
            lines.append(f"D4,1604E,{tin},{br},{as_of},{seq},{ptin},{pbr},{_names(row)},{row.atc.upper()},"
                         f"{money(row.income)}")
        lines.append(f"C4,1604E,{tin},{br},{as_of},{money(sum((r.income for r, _, _ in schedule4), ZERO))}")
    return DatFile(name, CRLF.join(lines) + CRLF,
                   len(schedule3) + len(schedule4), income, at_rate, withheld, left3 + left4, _differences(schedule3))


def classification_code(text: str | None) -> str:
    """The 1604-F classification code (one letter A to H), or BirRuleError naming what was given."""
    code = (text or "").strip().upper()
    if len(code) != 1 or code not in "ABCDEFGH":
        raise BirRuleError(f"The 1604-F classification code must be one letter A to H, got {text!r}.")
    return code


def qap_form(text: str | None) -> str:
    """The return a QAP goes with (``1601EQ``/``1601FQ``; ``1601-EQ`` too), or BirRuleError naming what was given."""
    form = (text or "").strip().upper().replace("-", "")
    if form not in QAP_FORMS:
        raise BirRuleError(f"QAP form must be one of {', '.join(QAP_FORMS)}, got {text!r}.")
    return form


def form1604f(agent: Agent, year: int, rows: Iterable[AlphalistRow], classification: str,
              skip_invalid: bool = False) -> DatFile:
    """The 1604-F alphalist (schedule 4: final tax withheld), ``{TIN}{BR}{MMDDYYYY}1604F.dat``.

    ``classification`` is the code A to H written before the ATC on each row (an open-source writer calls it the
    classification code and prints the column as "status as to residence/nationality"); what each letter means was
    not found in any source checked, so the filer supplies it, one for the whole file."""
    code = classification_code(classification)
    tin, br = _tin(agent.tin, agent.branch, "Withholding agent")
    as_of = date(year, 12, 31).strftime("%m/%d/%Y")
    name = f"{tin}{br}{date(year, 12, 31):%m%d%Y}1604F.dat"
    schedule4, left = _select(rows, "1604-F", skip_invalid, name)
    lines = [f"H1604F,{tin},{br},{as_of}"]
    for seq, (row, ptin, pbr) in enumerate(schedule4, start=1):
        lines.append(f"D4,1604F,{tin},{br},{as_of},{seq},{ptin},{pbr},{_names(row)},{code},{row.atc.upper()},"
                     f"{money(row.income)},{money(row.rate)},{money(tax_at_rate(row.income, row.rate))}")
    income, at_rate, withheld = _totals(schedule4)
    lines.append(f"C4,1604F,{tin},{br},{as_of},{money(income)},{money(at_rate)}")
    return DatFile(name, CRLF.join(lines) + CRLF, len(schedule4),
                   income, at_rate, withheld, left, _differences(schedule4))


# What each return claims, so what its SAWT lists (a SAWT goes with the return that claims the credits): income tax
# returns the creditable income tax withheld (EWT codes), the VAT return VAT withheld by government payors (WV
# codes), the percentage tax return percentage tax withheld (no code of the catalog).
SAWT_CREDITS: dict[str, tuple[frozenset[Regime], str]] = {
    **{form: (frozenset({Regime.EWT}), "creditable income tax withheld (ATC WI/WC)")
       for form in ("1701Q", "1701", "1702Q", "1702")},
    "2550Q": (frozenset({Regime.WVAT}), "VAT withheld by government payors (ATC WV…)"),
    "2551Q": (frozenset(), "percentage tax withheld"),
}
SAWT_FORMS = tuple(SAWT_CREDITS)


def _claimed_on(form: str, row: AlphalistRow) -> bool:
    """Whether the return ``form`` claims ``row``'s credit; a code the catalog does not know is kept, for the checks
    to name it."""
    code = row.atc.strip().upper()
    return code not in KNOWN_ATCS or rules_for(code)[0].regime in SAWT_CREDITS[form][0]


def sawt(payee: Agent, form: str, year: int, month: int, rows: Iterable[AlphalistRow],
         skip_invalid: bool = False) -> DatFile:
    """The SAWT: 2307s received by ``payee``, per payor x ATC x rate, for the return ``form``."""
    if form not in SAWT_FORMS:
        raise BirRuleError(f"SAWT form must be one of {', '.join(SAWT_FORMS)}, got {form!r}.")
    if not 1 <= month <= 12:
        raise BirRuleError(f"Month must be 1 to 12, got {month}.")
    tin, br = _tin(payee.tin, payee.branch, "Payee")
    period = f"{month:02d}/{year}"
    rows = list(rows)
    claimed = [row for row in rows if _claimed_on(form, row)]
    if rows and not claimed:
        others = sorted({row.atc.upper() for row in rows})
        raise BirRuleError(f"The SAWT for the {form} lists {SAWT_CREDITS[form][1]}; none of the {len(rows)} credits "
                           f"received in the period is one ({', '.join(others)}): they go with another return.")
    name = f"{tin}{br}{month:02d}{year}{form}.dat"
    checked, left = _select(claimed, "SAWT", skip_invalid, name)
    names = ",".join([_quoted(payee.registered_name, NAME_WIDTH), _quoted(payee.last_name, PERSON_WIDTH),
                      _quoted(payee.first_name, PERSON_WIDTH), _quoted(payee.middle_name, PERSON_WIDTH)])
    lines = [f"HSAWT,H{form},{tin},{br},{names},{period},{payee.rdo}"]
    for seq, (row, ptin, pbr) in enumerate(checked, start=1):
        lines.append(f"DSAWT,D{form},{seq},{ptin},{pbr},{_names(row)},{period},{_quoted(row.nature, NATURE_WIDTH)},"
                     f"{row.atc.upper()},{money(row.rate)},{money(row.income)},"
                     f"{money(tax_at_rate(row.income, row.rate))}")
    income, at_rate, withheld = _totals(checked)
    lines.append(f"CSAWT,C{form},{tin},{br},{period},{money(income)},{money(at_rate)}")
    return DatFile(name, CRLF.join(lines) + CRLF, len(checked), income, at_rate,
                   withheld, left, _differences(checked))


# -- RELIEF: summary lists of sales, purchases and importations ----------------------------------------------------

@dataclass(frozen=True)
class ReliefRow:
    """One counterparty's net VAT figures for the quarter (purchases: exempt, zero-rated, services, capital goods,
    other goods, input tax; sales: exempt, zero-rated, taxable, output tax)."""

    tin: str | None
    registered_name: str
    last_name: str = ""
    first_name: str = ""
    middle_name: str = ""
    address1: str = ""
    address2: str = ""
    exempt: Decimal = ZERO
    zero_rated: Decimal = ZERO
    services: Decimal = ZERO
    capital_goods: Decimal = ZERO
    goods: Decimal = ZERO  # other goods (purchases) / taxable (sales)
    tax: Decimal = ZERO
    individual: bool = False

    @property
    def amounts(self) -> tuple[Decimal, ...]:
        return self.exempt, self.zero_rated, self.services, self.capital_goods, self.goods, self.tax


@dataclass(frozen=True)
class ImportEntry:
    """One importation (SLI): the entry, its dates, the seller, the landed cost and the VAT paid at customs."""

    entry: str
    assessed: date
    seller: str
    imported: date
    country: str
    dutiable_value: Decimal
    other_charges: Decimal
    exempt: Decimal
    taxable: Decimal
    vat: Decimal
    receipt: str
    paid: date


def _relief_names(row: ReliefRow) -> str:
    if row.individual:
        return ",".join(["", _quoted(row.last_name, PERSON_WIDTH), _quoted(row.first_name, PERSON_WIDTH),
                         _quoted(row.middle_name, PERSON_WIDTH)])
    return ",".join([_quoted(row.registered_name, NAME_WIDTH), "", "", ""])


def _relief_taxpayer(agent: Agent) -> list[str]:
    """The taxpayer's identity in every RELIEF header (P, S and I): registered name, last, first and middle name,
    trade name, the two address lines."""
    return [_quoted(agent.registered_name, NAME_WIDTH), _quoted(agent.last_name, PERSON_WIDTH),
            _quoted(agent.first_name, PERSON_WIDTH), _quoted(agent.middle_name, PERSON_WIDTH),
            _quoted(agent.trade_name or agent.registered_name, NAME_WIDTH), _quoted(agent.address1, ADDRESS_WIDTH),
            _quoted(agent.address2, ADDRESS_WIDTH)]


def relief_problems(row: ReliefRow) -> list[str]:
    found = []
    if parse_tin(row.tin, None)[0] is None:
        found.append(Problem.INVALID_TIN.value)
    if row.individual and not (row.last_name.strip() and row.first_name.strip()):
        found.append(Problem.NAME_NOT_SPLIT.value)
    if any(a < 0 for a in row.amounts):
        found.append(Problem.NET_NEGATIVE.value)
    return found


def slsp(agent: Agent, kind: str, year: int, quarter: int, rows: Iterable[ReliefRow],
         skip_invalid: bool = False) -> tuple[str, str, list[tuple[ReliefRow, str]]]:
    """(file name, content, rows left out) of the summary list of purchases (``P``) or sales (``S``).

    Counterparties without a valid TIN cannot be listed (RELIEF keys on the TIN); they are left out and named."""
    if kind not in ("P", "S"):
        raise BirRuleError(f"SLSP kind must be P (purchases) or S (sales), got {kind!r}.")
    tin, _ = _tin(agent.tin, agent.branch, "Taxpayer")
    y, m = _quarter_end(year, quarter)
    as_of = date(y + (m == 12), m % 12 + 1, 1).toordinal() - 1
    period = date.fromordinal(as_of).strftime("%m/%d/%Y")
    keep, left = [], []
    for row in rows:
        found = relief_problems(row)
        if found:
            left.append((row, found[0]))
        else:
            keep.append(row)
    blocking = [(r, p) for r, p in left if p != Problem.NET_NEGATIVE.value]
    if blocking and not skip_invalid:
        named = "; ".join(f"{clean_text(r.registered_name, 80)} ({p})" for r, p in blocking[:10])
        raise DatRefused(f"{tin}{kind}{m:02d}{y}.dat",
                         f"Cannot write the SL{kind}: {len(blocking)} counterpart(ies) need fixing in Odoo first: "
                         f"{named}" + (" …" if len(blocking) > 10 else "")
                         + " (or leave them out on purpose with --skip-invalid, listed in an exceptions file)"
                         + _net_negative_note(len(left) - len(blocking)) + ".")

    def total(i: int) -> Decimal:
        return sum((r.amounts[i] for r in keep), ZERO)

    head = [f"H,{kind},{tin}", *_relief_taxpayer(agent)]
    lines = []
    if kind == "P":
        head += [money(total(i)) for i in range(6)] + [money(total(5)), money(ZERO), agent.rdo, period]
    else:
        head += [money(total(0)), money(total(1)), money(total(4)), money(total(5)), agent.rdo, period]
    lines.append(",".join(head))
    for row in keep:
        parse = parse_tin(row.tin, None)[0]
        assert parse is not None
        detail = [f"D,{kind},{parse.number}", _relief_names(row), _quoted(row.address1, ADDRESS_WIDTH),
                  _quoted(row.address2, ADDRESS_WIDTH)]
        if kind == "P":
            detail += [money(a) for a in row.amounts]
        else:
            detail += [money(row.exempt), money(row.zero_rated), money(row.goods), money(row.tax)]
        lines.append(",".join([*detail, tin, period]))
    return f"{tin}{kind}{m:02d}{y}.dat", CRLF.join(lines) + CRLF, left


def sli(agent: Agent, year: int, quarter: int, entries: Iterable[ImportEntry]) -> tuple[str, str]:
    """(file name, content) of the summary list of importations, ``{TIN}I{MMYYYY}.dat``.

    The header carries the same taxpayer identity as the SLP/SLS headers (registered, last, first, middle and trade
    name, two address lines) before the totals; each entry's landed cost (dutiable value + other charges) must equal
    its exempt + taxable amounts."""
    tin, _ = _tin(agent.tin, agent.branch, "Taxpayer")
    y, m = _quarter_end(year, quarter)
    entries = list(entries)
    bad = [e for e in entries if min(e.dutiable_value, e.other_charges, e.exempt, e.taxable, e.vat) < 0]
    if bad:
        raise BirRuleError(f"Importation {bad[0].entry}: negative amounts cannot be listed; correct the entry in Odoo.")
    unbalanced = [e for e in entries if e.dutiable_value + e.other_charges != e.exempt + e.taxable]
    if unbalanced:
        e = unbalanced[0]
        raise BirRuleError(
            f"Importation {e.entry}: the landed cost (dutiable value {e.dutiable_value} + other charges "
            f"{e.other_charges}) must equal exempt {e.exempt} + taxable {e.taxable}; correct the entry in Odoo.")
    period = date.fromordinal(date(y + (m == 12), m % 12 + 1, 1).toordinal() - 1).strftime("%m/%d/%Y")

    def total(name: str) -> Decimal:
        return sum((getattr(e, name) for e in entries), ZERO)

    lines = [",".join([f"H,I,{tin}", *_relief_taxpayer(agent), money(total("dutiable_value")),
                       money(total("other_charges")), money(total("exempt")), money(total("taxable")),
                       money(total("vat")), agent.rdo, period])]
    for e in entries:
        lines.append(",".join([
            "D,I", _quoted(e.entry, 30), e.assessed.strftime("%m/%d/%Y"), _quoted(e.seller, NAME_WIDTH),
            e.imported.strftime("%m/%d/%Y"), _quoted(e.country, 30), money(e.dutiable_value), money(e.other_charges),
            money(e.exempt), money(e.taxable), money(e.vat), _quoted(e.receipt, 30), e.paid.strftime("%m/%d/%Y"),
            tin, period]))
    return f"{tin}I{m:02d}{y}.dat", CRLF.join(lines) + CRLF
