"""``odoolake bir calendar | forms | dat``: the filing calendar and the BIR outputs, written to DBFS.

Outputs go to ``dbfs:/bir/<agency>/<period>/`` (download them with ``w.dbfs.download`` or from
``$ODOOLAKE_HOME/dbfs/bir``). A file is written whole or not at all. Beside each DAT file: ``…_exceptions.csv``
(rows left out, with the fix in Odoo) and ``…_differences.csv`` (rows whose tax at the rate differs from the tax
withheld), when there are any. Amounts print with two decimals and thousands separators.
"""

from __future__ import annotations

import contextlib
import csv
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from odoolake.cli.common import HomeOpt, Output, OutputOpt, console, emit, err_console, handle_errors, lake_session
from odoolake.config import WorkspacePaths
from odoolake.errors import BirRuleError, OdoolakeError

app = typer.Typer(no_args_is_help=True)
dat_app = typer.Typer(no_args_is_help=True, help="BIR DAT files: QAP (1601-EQ/FQ), SAWT, 1604-E, 1604-F, SLSP.")
app.add_typer(dat_app, name="dat")

_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")
SkipOpt = typer.Option(False, "--skip-invalid", "--skip-invalid-tins",
                       help="Write the file without the rows that need fixing in Odoo (no valid TIN, an individual's "
                            "name not split), listed with the fix in an _exceptions.csv beside it, instead of "
                            "refusing the whole file.")


@dataclass(frozen=True)
class Written:
    """A file written to DBFS, what it holds for people (``note``) and for scripts (``facts``)."""

    path: str
    note: str
    facts: dict = field(default_factory=dict)

    def line(self) -> str:
        return f"{self.path}  ({self.note})" if self.note else self.path

    def as_json(self) -> dict:
        return {"path": self.path, **{k: str(v) if isinstance(v, Decimal) else v for k, v in self.facts.items()}}


def _print_written(output: Output, written: list[Written]) -> None:
    def text() -> None:
        for w in written:
            console.print(w.line())

    emit(output, [w.as_json() for w in written], text)


def open_period_warning(last_day: date, what: str, today: date | None = None) -> str | None:
    """Said when a return's period is not over yet: it holds only what the lake has so far (an annual 1604-F written
    on 5 December held January to November, with no word)."""
    today = today or date.today()
    if last_day < today:
        return None
    return (f"{what} ends {last_day:%d %b %Y}, after today ({today:%d %b %Y}): this file holds only what the lake has "
            "so far; write it again once the period is over and its last month-end has run.")


def quarter_last_day(year: int, quarter: int) -> date:
    return date(year + (quarter == 4), 3 * quarter % 12 + 1, 1) - timedelta(days=1)


def _warn_if_open(last_day: date, what: str) -> None:
    warning = open_period_warning(last_day, what)
    if warning:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)  # one line, as errors are


def peso(value: Decimal | float | int | None) -> str:
    """An amount as the CLI prints it: two decimals and thousands separators."""
    return f"{Decimal(str(value or 0)):,.2f}"


def parse_quarter(text: str) -> tuple[int, int]:
    m = _QUARTER.match(text.strip().upper())
    if not m:
        raise BirRuleError(f"Period {text!r} is not a quarter; write it like 2026Q1.")
    return int(m.group(1)), int(m.group(2))


def usage(check: Callable[[str], object]) -> Callable[[str | None], str | None]:
    """A typer callback: an option ``check`` refuses (BirRuleError) is a usage mistake (exit 2, the option named)."""
    def checked(text: str | None) -> str | None:
        if text is None:
            return text
        try:
            check(text)
        except BirRuleError as exc:
            raise typer.BadParameter(str(exc)) from None
        return text
    return checked


checked_quarter = usage(parse_quarter)  # the --quarter/--period options, checked as they are read


def _efps_group(text: str) -> None:
    from odoolake.bir.calendar import EfpsGroup

    if text.strip().upper() not in EfpsGroup.__members__:
        raise BirRuleError(f"eFPS group must be one of A, B, C, D, E, got {text!r}.")


def _qap_form(text: str) -> str:
    from odoolake.bir.dat import qap_form

    return qap_form(text)


def _classification(text: str) -> str:
    from odoolake.bir.dat import classification_code

    return classification_code(text)


def holiday_table(paths: WorkspacePaths, years: range):
    """PH holidays, adjusted by ``$ODOOLAKE_HOME/holidays.csv`` (date,name,action=add|remove) when present."""
    from odoolake.bir.calendar import HolidayTable

    table = HolidayTable.philippines(years)
    override = paths.home / "holidays.csv"
    if not override.exists():
        return table
    added, removed = {}, set()
    with override.open() as fh:
        reader = csv.DictReader(fh)
        header = [name.strip().lower() for name in reader.fieldnames or []]
        if "date" not in header:  # a first data row read as the header: every later row misread, or none at all
            raise BirRuleError(f"{override} line 1: the first row must be the header date,name,action "
                               f"(found {','.join(reader.fieldnames or []) or 'an empty file'})")
        reader.fieldnames = header
        for number, row in enumerate(reader, start=2):
            try:
                day = date.fromisoformat(row["date"].strip())
            except (KeyError, ValueError, AttributeError):
                raise BirRuleError(f"{override} line {number}: expected columns date,name,action with an ISO date") from None
            action = (row.get("action") or "add").strip().lower()
            if action not in ("add", "remove"):
                raise BirRuleError(f"{override} line {number}: action must be add or remove, got {action!r}")
            if action == "add":
                added[day] = (row.get("name") or "declared non-working day").strip()
            else:
                removed.add(day)
    return table.with_changes(added, removed)


@app.command("calendar")
@handle_errors
def calendar_cmd(year: int = typer.Option(None, min=2000, max=2100,
                                          help="Year the obligations fall due in (default: this year)."),
                 efps_group: str = typer.Option(None, "--efps-group", callback=usage(_efps_group),
                                                help="eFPS filing group A to E (RR 26-2002): monthly returns move to "
                                                     "the 15th (A) … 11th (E)."),
                 by_period: bool = typer.Option(False, "--by-period", help="List the obligations for the year's "
                                                "periods instead (annual returns then fall due the year after)."),
                 home: str = HomeOpt, output: Output = OutputOpt) -> None:
    """What falls due in a year (last year's annual and fourth-quarter returns included), after weekends and PH
    holidays."""
    from odoolake.bir.calendar import EfpsGroup, obligations_due_in, obligations_for_year

    year = year or date.today().year
    group = None
    if efps_group:
        group = EfpsGroup(efps_group.strip().upper())
    paths = WorkspacePaths.from_env(home)
    table = holiday_table(paths, range(year - 1, year + 2))
    found = obligations_for_year(year, table, group) if by_period else obligations_due_in(year, table, group)
    title = f"BIR obligations for {year} periods" if by_period else f"BIR obligations falling due in {year}"
    out = Table(title=title + (f" (eFPS group {group.value})" if group else ""), show_edge=False)
    for column in ("form", "period", "due", "statutory", "note"):
        out.add_column(column)
    for ob in found:
        notes = ["moved: weekend or holiday"] if ob.moved else []
        if not ob.period.startswith(str(year)):
            notes.append("prior-year period")
        out.add_row(ob.form, ob.period, f"{ob.due:%a %d %b %Y}", f"{ob.statutory_due:%d %b %Y}", "; ".join(notes))
    emit(output, [{"form": ob.form, "period": ob.period, "due": ob.due.isoformat(),
                   "statutory_due": ob.statutory_due.isoformat(), "moved": ob.moved} for ob in found],
         lambda: console.print(out))


# The order of the JSON and CSV output; named, since the table's own order is the engine's (Sail puts the partition
# column last, Databricks keeps it where it was declared).
REMITTANCE_COLUMNS = ("agency", "form", "period", "quarter", "classified", "to_classify", "total_withheld",
                      "previously_remitted", "still_due")


@app.command("remittances")
@handle_errors
def remittances_cmd(period: str = typer.Option(..., "--period", "--quarter", help="Quarter, e.g. 2026Q4.",
                                               callback=checked_quarter),
                    agency: str = typer.Option(None, help="One agency (default: all)."),
                    home: str = HomeOpt, output: Output = OutputOpt) -> None:
    """What to remit for a quarter: the 0619-E/F of its first two months and the 1601-EQ/FQ, with the part still
    to classify, what the monthly returns paid, what is still due, and the due date."""
    year, q = parse_quarter(period)
    quarter = f"{year}Q{q}"
    paths = WorkspacePaths.from_env(home)
    with lake_session(paths, "reading the remittances…") as spark:
        if agency:
            _company(spark, agency)  # an unknown agency is named with those the lake has
        rows = spark.sql(
            f"SELECT {', '.join('r.' + c for c in REMITTANCE_COLUMNS)}, c.due FROM gold.remittances r "
            "LEFT JOIN gold.filing_calendar c "
            "ON c.agency = r.agency AND c.form = r.form AND c.period = r.period "
            f"WHERE r.quarter = :q {'AND r.agency = :a ' if agency else ''}ORDER BY r.agency, r.form, r.period",
            args={"q": quarter, **({"a": agency} if agency else {})}).collect()
    if not rows:
        raise BirRuleError(f"No remittances for {agency or 'any agency'} in {quarter}: run the month-end first.")

    def text() -> None:
        console.print(f"[bold]Remittances for {quarter}[/] (PHP)")
        current = None
        for r in rows:
            if r["agency"] != current:
                current = r["agency"]
                console.print(f"[bold]{current}[/]")
            parts = [f"  {r['form']} {r['period']}: withheld {peso(r['total_withheld'])}"]
            if r["to_classify"]:
                parts.append(f"(of which to classify {peso(r['to_classify'])})")
            if r["form"].startswith("1601"):
                parts.append(f"paid with the monthly returns {peso(r['previously_remitted'])}, "
                             f"still due {peso(r['still_due'])}")
            if r["due"]:
                parts.append(f"due {r['due']:%a %d %b %Y}")
            console.print(" ".join(parts))

    emit(output, [{k: str(v) if isinstance(v, Decimal) else v for k, v in r.asDict().items()} for r in rows], text)


# -- reading gold ------------------------------------------------------------------------------------------------

def _company(spark, agency: str):
    row = spark.sql("SELECT * FROM silver.companies WHERE agency = :a", args={"a": agency}).first()
    if row is None:
        known = [r[0] for r in spark.sql("SELECT agency FROM silver.companies ORDER BY agency").collect()]
        raise BirRuleError(f"Unknown agency {agency!r}; the lake has {', '.join(known) or 'none (run the month-end)'}.")
    return row.asDict()


def _agencies(spark, agency: str | None) -> list[str]:
    if agency:
        return [agency]
    return [r[0] for r in spark.sql("SELECT agency FROM silver.companies ORDER BY agency").collect()]


def _rows(spark, table: str, agency: str, where: str, args: dict) -> list[dict]:
    rows = [r.asDict() for r in spark.sql(f"SELECT * FROM {table} WHERE agency = :a AND {where}",
                                          args={"a": agency, **args}).collect()]
    if not rows:
        _company(spark, agency)  # an agency the lake does not know is named so, not told to run the month-end
    return rows


def _out_folder(paths: WorkspacePaths, agency: str, period: str) -> Path:
    """Where an agency's outputs for a period land (``dbfs:/bir/<agency>/<period>``), on this machine."""
    return paths.dbfs_to_local(f"dbfs:/bir/{agency}/{period}")


def _write(paths: WorkspacePaths, agency: str, period: str, name: str, content: bytes | str) -> str:
    folder = _out_folder(paths, agency, period)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_bytes(content.encode() if isinstance(content, str) else content)
    tmp.replace(target)
    return f"dbfs:/bir/{agency}/{period}/{name}"


# What a DAT file's refusal sets an earlier file of its name aside as: it holds lines the lake no longer holds as they
# are (written with --skip-invalid, or before the lines that now need fixing), so it keeps no name that reads as ready.
SUPERSEDED = ".superseded"
# The lists written beside a DAT file (``{stem}_exceptions.csv``, ``{stem}_differences.csv``): they describe the DAT
# file they were written with, so they go when it is written again without them, and with it when it is set aside.
COMPANIONS = ("_exceptions.csv", "_differences.csv")
CERTIFICATE_EXCEPTIONS, CERTIFICATE_DIFFERENCES = "2307_exceptions.csv", "2307_differences.csv"  # beside the 2307s


def _companions(folder: Path, name: str) -> list[Path]:
    stem = name.removesuffix(".dat")
    return [folder / f"{stem}{suffix}" for suffix in COMPANIONS]


def _drop_lists(paths: WorkspacePaths, agency: str, period: str, name: str) -> None:
    """The lists an earlier DAT file of ``name`` had: they describe that file, now written again."""
    for stale in _companions(_out_folder(paths, agency, period), name):
        stale.unlink(missing_ok=True)


@contextlib.contextmanager
def _superseding(paths: WorkspacePaths, agency: str, period: str) -> Iterator[None]:
    """A DAT file refused (lines need fixing in Odoo): an earlier file of its name in the period's folder, and the
    lists beside it, are set aside as ``….superseded`` and the refusal says so. It was left in place, so the folder
    showed a file ready to upload beside the message that none was written."""
    from odoolake.bir.dat import DatRefused

    try:
        yield
    except DatRefused as refused:
        folder = _out_folder(paths, agency, period)
        moved = [path for path in [folder / refused.name, *_companions(folder, refused.name)] if path.is_file()]
        for path in moved:
            path.replace(path.with_name(path.name + SUPERSEDED))
        if not moved:
            raise
        raise BirRuleError(f"{refused} The earlier {refused.name} in dbfs:/bir/{agency}/{period} does not hold the "
                           f"lake's lines as they are now: set aside as {refused.name}{SUPERSEDED}"
                           + (" with its lists." if len(moved) > 1 else ".")) from None


def _write_dat(paths: WorkspacePaths, agency: str, period: str, out) -> list[Written]:
    """The DAT file and, when there are any, its exceptions and differences beside it (lists an earlier file of the
    name had are removed: they described that file)."""
    written = [Written(_write(paths, agency, period, out.name, out.content),
                       f"{out.rows} row(s), income {peso(out.income)}, tax {peso(out.tax)}",
                       {"kind": "dat", "rows": out.rows, "income": out.income, "tax": out.tax})]
    _drop_lists(paths, agency, period, out.name)
    stem = out.name.removesuffix(".dat")
    if out.exceptions:
        left = sum((e.row.tax for e in out.exceptions), Decimal(0))
        written.append(Written(_write(paths, agency, period, stem + '_exceptions.csv', out.exceptions_csv()),
                               f"{len(out.exceptions)} row(s) left out, tax withheld {peso(left)}",
                               {"kind": "exceptions", "rows": len(out.exceptions), "tax": left}))
    if out.differences:
        gap = sum((r.tax - at for r, at in out.differences), Decimal(0))
        written.append(Written(_write(paths, agency, period, stem + '_differences.csv', out.differences_csv()),
                               f"{len(out.differences)} row(s) where tax withheld differs from income x rate, "
                               f"net {peso(gap)}", {"kind": "differences", "rows": len(out.differences), "net": gap}))
    return written


def _quarter_rows(spark, agency: str, quarter: str, regime: str) -> list[dict]:
    rows = _rows(spark, "gold.qap", agency, "quarter = :q AND regime = :r", {"q": quarter, "r": regime})
    if not rows:
        raise BirRuleError(f"No {'final' if regime == 'FWT' else 'expanded'} withholding data for {agency} in "
                           f"{quarter}: run the month-end for that quarter first.")
    return rows


def write_qap(paths: WorkspacePaths, spark, agency: str, year: int, q: int, skip_invalid: bool,
              form: str = "1601EQ") -> list[Written]:
    from odoolake.bir import dat, filing

    quarter = f"{year}Q{q}"
    regime = "FWT" if form == "1601FQ" else "EWT"
    schedule1, schedule2 = filing.qap_schedules(_quarter_rows(spark, agency, quarter, regime))
    with _superseding(paths, agency, quarter):
        out = dat.qap(filing.agent(_company(spark, agency)), year, q, schedule1, schedule2, form, skip_invalid)
    return _write_dat(paths, agency, quarter, out)


@dat_app.command("qap")
@handle_errors
def dat_qap(quarter: str = typer.Option(..., help="Quarter, e.g. 2026Q1.", callback=checked_quarter),
            agency: str = typer.Option(..., help="Agency (company) code, e.g. RIM."),
            form: str = typer.Option("1601EQ", callback=usage(_qap_form),
                                     help="1601EQ (expanded withholding) or 1601FQ (final withholding)."),
            skip_invalid: bool = SkipOpt, home: str = HomeOpt, output: Output = OutputOpt) -> None:
    """The QAP attached to the 1601-EQ (or the 1601-FQ), as a DAT file."""
    year, q = parse_quarter(quarter)
    _warn_if_open(quarter_last_day(year, q), f"The quarter {year}Q{q}")
    form = form.upper().replace("-", "")
    paths = WorkspacePaths.from_env(home)
    with lake_session(paths, "writing the QAP DAT file…") as spark:
        written = write_qap(paths, spark, agency, year, q, skip_invalid, form)
    _print_written(output, written)


@dat_app.command("sawt")
@handle_errors
def dat_sawt(quarter: str = typer.Option(..., help="Quarter, e.g. 2026Q1 (the SAWT goes with the quarterly return).",
                             callback=checked_quarter),
             agency: str = typer.Option(..., help="Agency (company) code."),
             form: str = typer.Option("1702Q", help="The return the credits are claimed on: 1701Q, 1702Q, 2550Q …"),
             skip_invalid: bool = SkipOpt, home: str = HomeOpt, output: Output = OutputOpt) -> None:
    """The SAWT: 2307s received from customers (tax withheld from the agency), per payor and ATC."""
    from odoolake.bir import dat, filing

    year, q = parse_quarter(quarter)
    _warn_if_open(quarter_last_day(year, q), f"The quarter {year}Q{q}")
    paths = WorkspacePaths.from_env(home)
    with lake_session(paths, "writing the SAWT DAT file…") as spark:
        found = _rows(spark, "gold.sawt", agency, "quarter = :q", {"q": f"{year}Q{q}"})
        if not found:
            raise BirRuleError(f"No tax withheld by customers for {agency} in {year}Q{q}.")
        rows = [filing.alphalist_row(r) for r in sorted(found, key=lambda r: (r["payee_name"] or "").upper())]
        with _superseding(paths, agency, f"{year}Q{q}"):
            out = dat.sawt(filing.agent(_company(spark, agency)), form, year, 3 * q, rows, skip_invalid)
    _print_written(output, _write_dat(paths, agency, f"{year}Q{q}", out))


def _annual(spark, agency: str, year: int, regime: str) -> list[dict]:
    from odoolake.bir import filing

    found = _rows(spark, "gold.qap", agency, "quarter LIKE :y AND regime = :r", {"y": f"{year}Q%", "r": regime})
    if not found:
        raise BirRuleError(f"No {'final' if regime == 'FWT' else 'expanded'} withholding data for {agency} in {year}.")
    return [dict(row) for row in filing.annual_rows(found)]


@dat_app.command("1604e")
@handle_errors
def dat_1604e(year: int = typer.Option(..., help="Calendar year."), agency: str = typer.Option(...),
              skip_invalid: bool = SkipOpt, home: str = HomeOpt, output: Output = OutputOpt) -> None:
    """The annual 1604-E alphalist: schedule 3 (tax withheld) and 4 (exempt), netted over the year."""
    from odoolake.bir import dat, filing

    paths = WorkspacePaths.from_env(home)
    _warn_if_open(date(year, 12, 31), f"The year {year}")
    with lake_session(paths, "writing the 1604-E DAT file…") as spark:
        schedule3, schedule4 = filing.qap_schedules(_annual(spark, agency, year, "EWT"))
        with _superseding(paths, agency, str(year)):
            out = dat.form1604e(filing.agent(_company(spark, agency)), year, schedule3, schedule4, skip_invalid)
    _print_written(output, _write_dat(paths, agency, str(year), out))


@dat_app.command("1604f")
@handle_errors
def dat_1604f(year: int = typer.Option(..., help="Calendar year."), agency: str = typer.Option(...),
              classification: str = typer.Option(..., callback=usage(_classification),
                                                 help="The payee classification code (A to H) the BIR alphalist "
                                                      "module asks for on each schedule 4 row."),
              skip_invalid: bool = SkipOpt, home: str = HomeOpt, output: Output = OutputOpt) -> None:
    """The annual 1604-F alphalist of final tax withheld (schedule 4), netted over the year."""
    from odoolake.bir import dat, filing

    paths = WorkspacePaths.from_env(home)
    _warn_if_open(date(year, 12, 31), f"The year {year}")
    with lake_session(paths, "writing the 1604-F DAT file…") as spark:
        rows, _ = filing.qap_schedules(_annual(spark, agency, year, "FWT"))
        with _superseding(paths, agency, str(year)):
            out = dat.form1604f(filing.agent(_company(spark, agency)), year, rows, classification, skip_invalid)
    _print_written(output, _write_dat(paths, agency, str(year), out))


def write_slsp(paths: WorkspacePaths, spark, agency: str, year: int, q: int, skip_invalid: bool) -> list[Written]:
    from odoolake.bir import dat, filing

    quarter = f"{year}Q{q}"
    found = _rows(spark, "gold.slsp", agency, "quarter = :q", {"q": quarter})
    if not found:
        raise BirRuleError(f"No VAT data for {agency} in {quarter}: run the month-end for that quarter first.")
    agent = filing.agent(_company(spark, agency))
    written = []
    for kind, side in (("P", "purchase"), ("S", "sale")):
        rows = filing.relief_rows(found, side)
        if not rows:
            continue
        with _superseding(paths, agency, quarter):
            name, content, left = dat.slsp(agent, kind, year, q, rows, skip_invalid)
        written.append(Written(_write(paths, agency, quarter, name, content),
                               f"{len(rows) - len(left)} counterpart(ies)", {"kind": "dat", "rows": len(rows) - len(left)}))
        _drop_lists(paths, agency, quarter, name)
        if left:
            text = dat.relief_exceptions_csv(left)
            written.append(Written(_write(paths, agency, quarter, name.replace('.dat', '_exceptions.csv'), text),
                                   f"{len(left)} counterpart(ies) left out", {"kind": "exceptions", "rows": len(left)}))
    entries = filing.import_entries(found)
    if entries:
        name, content = dat.sli(agent, year, q, entries)
        written.append(Written(_write(paths, agency, quarter, name, content), f"{len(entries)} importation(s)",
                               {"kind": "dat", "rows": len(entries)}))
    return written


@dat_app.command("slsp")
@handle_errors
def dat_slsp(quarter: str = typer.Option(..., help="Quarter, e.g. 2026Q1.", callback=checked_quarter),
             agency: str = typer.Option(...), skip_invalid: bool = SkipOpt, home: str = HomeOpt,
             output: Output = OutputOpt) -> None:
    """The RELIEF summary lists of the quarter: purchases (P), sales (S) and importations (I)."""
    year, q = parse_quarter(quarter)
    _warn_if_open(quarter_last_day(year, q), f"The quarter {year}Q{q}")
    paths = WorkspacePaths.from_env(home)
    with lake_session(paths, "writing the SLSP DAT files…") as spark:
        written = write_slsp(paths, spark, agency, year, q, skip_invalid)
    _print_written(output, written)


def write_certificates(paths: WorkspacePaths, spark, agency: str, year: int, q: int) -> list[Written]:
    """A 2307 (XLSX and PDF) per payee with something to certify, and the quarter's exceptions list."""
    from odoolake.bir import filing
    from odoolake.bir.certificate import form_2307_pdf, form_2307_xlsx

    quarter = f"{year}Q{q}"
    rows = _rows(spark, "gold.form_2307", agency, "quarter = :q", {"q": quarter})
    if not rows:
        raise BirRuleError(f"No withholding data for {agency} in {quarter}: run the month-end for it first.")
    certs, issues, differences = filing.certificates(rows, filing.payor_party(_company(spark, agency)), year, q)
    for cert in certs:
        safe = re.sub(r"[^A-Za-z0-9]+", "_", cert.payee.printed_name).strip("_")[:40]
        stem = f"2307_{cert.payee_tin.replace('-', '')}_{safe}"
        _write(paths, agency, quarter, f"{stem}.xlsx", form_2307_xlsx(cert))
        _write(paths, agency, quarter, f"{stem}.pdf", form_2307_pdf(cert))
    out = [Written(f"dbfs:/bir/{agency}/{quarter}/", f"{len(certs)} certificate(s) (XLSX and PDF)",
                   {"kind": "2307", "certificates": len(certs)})]
    folder = _out_folder(paths, agency, quarter)
    for stale in (CERTIFICATE_EXCEPTIONS, CERTIFICATE_DIFFERENCES):  # lists of an earlier run: written again if any
        (folder / stale).unlink(missing_ok=True)
    if issues:
        withheld = sum((i.tax_withheld for i in issues if not i.certificate_issued or i.problem == "NET_NEGATIVE"),
                       Decimal(0))
        out.append(Written(_write(paths, agency, quarter, CERTIFICATE_EXCEPTIONS, filing.issues_csv(issues)),
                           f"{len(issues)} line(s) to look at; tax not certified {peso(withheld)}",
                           {"kind": "exceptions", "rows": len(issues), "tax": withheld}))
    if differences:  # the QAP's own list differs: it leaves out rows a certificate is issued for (names not split)
        gap = sum((Decimal(str(r['tax_withheld'])) - at for r, at in differences), Decimal(0))
        out.append(Written(_write(paths, agency, quarter, CERTIFICATE_DIFFERENCES,
                                  filing.certificate_differences_csv(differences)),
                           f"{len(differences)} certificate row(s) certify income x rate, not the tax withheld "
                           f"(net {peso(gap)})", {"kind": "differences", "rows": len(differences), "net": gap}))
    return out


def write_summary(paths: WorkspacePaths, spark, year: int, month: int, quarter: str) -> str:
    from odoolake.bir.reasons import DUPLICATE_BILL
    from odoolake.bir.summary import AtcTotal, BucketTotal, month_end_html

    totals = [AtcTotal(r["agency"], r["atc"], r["b"], r["t"]) for r in spark.sql(
        "SELECT agency, coalesce(atc, 'to classify') AS atc, SUM(base) AS b, SUM(tax_withheld) AS t "
        "FROM gold.ewt_by_atc WHERE year = :y AND month = :m AND regime = 'EWT' GROUP BY 1, 2",
        args={"y": year, "m": month}).collect()]
    bucket = [BucketTotal(r["agency"], r["reason"], r["n"], r["t"]) for r in spark.sql(
        "SELECT agency, classify_reason AS reason, COUNT(*) AS n, SUM(tax_withheld) AS t FROM silver.ewt_lines "
        "WHERE period = :p AND atc_status = 'to_classify' AND regime <> 'CWT' GROUP BY 1, 2",
        args={"p": f"{year}-{month:02d}"}).collect()]
    flagged = [BucketTotal(r["agency"], r["reason"], r["n"], r["t"]) for r in spark.sql(
        "SELECT agency, reason, COUNT(*) AS n, SUM(tax_withheld) AS t FROM (SELECT agency, tax_withheld, "
        "explode(split(dq_flags, ',')) AS reason FROM silver.ewt_lines WHERE period = :p AND dq_flags <> '' "
        "AND regime <> 'CWT') GROUP BY 1, 2", args={"p": f"{year}-{month:02d}"}).collect()]
    left_out = [(r["agency"], r["reason"], r["n"]) for r in spark.sql(
        "SELECT agency, reason, COUNT(DISTINCT move_id) AS n FROM silver.quarantine WHERE period = :p "
        "AND reason = :r GROUP BY 1, 2", args={"p": f"{year}-{month:02d}", "r": DUPLICATE_BILL.code}).collect()]
    page = month_end_html("odoolake", year, month, totals, bucket=bucket, flagged=flagged, left_out=left_out)
    return _write(paths, "all", quarter, f"month_end_{year}-{month:02d}.html", page)


def _quarter_in_lake(spark, quarter: str, periods: list[str]) -> None:
    """Refuse a quarter the month-end has no lines for, naming the periods the lake has, before anything is written
    (it wrote a month-end page of zeros and a refusal per agency and output)."""
    row = spark.sql(
        "SELECT min(period) AS first, max(period) AS last, count_if(period IN (:a, :b, :c)) AS inside FROM "
        "(SELECT period FROM silver.ewt_lines UNION ALL SELECT period FROM silver.vat_lines)",
        args=dict(zip("abc", periods, strict=True))).collect()[0]
    if not row["inside"]:
        held = f"its periods run from {row['first']} to {row['last']}" if row["first"] else "it has no periods yet"
        raise BirRuleError(f"No month-end data for {quarter} in the lake ({held}): run the month-end for that "
                           "quarter first.")


@app.command("forms")
@handle_errors
def forms_cmd(period: str = typer.Option(..., "--quarter", "--period", help="Quarter, e.g. 2026Q1.",
                                         callback=checked_quarter),
              agency: str = typer.Option(None, help="One agency (default: all)."),
              skip_invalid: bool = SkipOpt, home: str = HomeOpt, output: Output = OutputOpt) -> None:
    """Rebuild the quarter's form tables and check them against gold, then write the 2307s, the QAPs (1601-EQ and,
    when there is final withholding, 1601-FQ), the SLSP and the month-end summary."""
    from odoolake.pipeline import forms

    year, q = parse_quarter(period)
    _warn_if_open(quarter_last_day(year, q), f"The quarter {year}Q{q}")
    quarter = f"{year}Q{q}"
    paths = WorkspacePaths.from_env(home)
    problems: list[str] = []
    done: list[dict] = []
    with lake_session(paths, "writing the 2307s, QAPs, SLSP and month-end summary…") as spark:
        _quarter_in_lake(spark, quarter, [f"{year}-{m:02d}" for m in range(3 * q - 2, 3 * q + 1)])
        forms.run(spark, [f"{year}-{m:02d}" for m in range(3 * q - 2, 3 * q + 1)])
        forms.check_in_step(spark)
        for code in _agencies(spark, agency):
            steps = [("2307 certificates", lambda c=code: write_certificates(paths, spark, c, year, q)),
                     ("QAP 1601-EQ", lambda c=code: write_qap(paths, spark, c, year, q, skip_invalid))]
            if _rows(spark, "gold.qap", code, "quarter = :q AND regime = 'FWT'", {"q": quarter}):
                steps.append(("QAP 1601-FQ", lambda c=code: write_qap(paths, spark, c, year, q, skip_invalid,
                                                                      "1601FQ")))
            steps.append(("SLSP", lambda c=code: write_slsp(paths, spark, c, year, q, skip_invalid)))
            for label, step in steps:
                try:
                    for written in step():
                        done.append({"agency": code, "output": label, **written.as_json()})
                        if output == Output.text:
                            console.print(f"{code}: {written.line()}")
                except BirRuleError as exc:
                    problems.append(f"{code} {label} not written: {exc}")
        summary = write_summary(paths, spark, year, 3 * q, quarter)
        done.append({"agency": "all", "output": "month-end summary", "path": summary})
    emit(output, {"quarter": quarter, "written": done, "not_written": problems}, lambda: console.print(summary))
    if problems:
        # each line says why (Odoo, no data…), on one line however wide the terminal
        err_console.print(f"[yellow]{len(problems)} output(s) not written:[/]", soft_wrap=True)
        for problem in problems[:20]:
            err_console.print(f"  - {escape(problem)}", soft_wrap=True)
        raise OdoolakeError("Some outputs were not written (see above); everything written is complete.")


def load_outputs(paths: WorkspacePaths, agency: str, quarter: str) -> list[Path]:
    """The files ``forms`` wrote for an agency and quarter (for tests and downloads)."""
    folder = _out_folder(paths, agency, quarter)
    return sorted(folder.iterdir()) if folder.exists() else []
