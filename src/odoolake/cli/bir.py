"""``odoolake bir calendar | forms | dat``: the filing calendar and BIR outputs, written to DBFS.

Outputs go to ``dbfs:/bir/<agency>/<period>/`` (download them with ``w.dbfs.download`` or from
``$ODOOLAKE_HOME/dbfs/bir``). A file is written whole or not at all; problems (a payee without a valid TIN,
a period with no data) are reported by name.
"""

from __future__ import annotations

import csv
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import typer
from rich.table import Table

from odoolake.cli.common import HomeOpt, console, err_console, handle_errors, lake_session
from odoolake.config import WorkspacePaths
from odoolake.errors import BirRuleError, OdoolakeError

app = typer.Typer(no_args_is_help=True)
dat_app = typer.Typer(no_args_is_help=True, help="BIR alphalist DAT files (QAP, SAWT, 1604-E).")
app.add_typer(dat_app, name="dat")

_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")


def parse_quarter(text: str) -> tuple[int, int]:
    m = _QUARTER.match(text.strip().upper())
    if not m:
        raise BirRuleError(f"Period {text!r} is not a quarter; write it like 2026Q1.")
    return int(m.group(1)), int(m.group(2))


def holiday_table(paths: WorkspacePaths, years: range):
    """PH holidays, adjusted by ``$ODOOLAKE_HOME/holidays.csv`` (date,name,action=add|remove) when present."""
    from odoolake.bir.calendar import HolidayTable

    table = HolidayTable.philippines(years)
    override = paths.home / "holidays.csv"
    if not override.exists():
        return table
    added, removed = {}, set()
    with override.open() as fh:
        for number, row in enumerate(csv.DictReader(fh), start=2):
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
def calendar_cmd(year: int = typer.Option(None, help="Year of the periods (default: this year)."),
                 home: str = HomeOpt) -> None:
    """What is due for the periods of a year, after weekends and PH holidays."""
    from odoolake.bir.calendar import obligations_for_year

    year = year or date.today().year
    paths = WorkspacePaths.from_env(home)
    table = Table(title=f"BIR filing calendar for {year} periods", show_edge=False)
    for column in ("form", "period", "due", "statutory", "note"):
        table.add_column(column)
    for ob in obligations_for_year(year, holiday_table(paths, range(year, year + 2))):
        note = "moved: weekend or holiday" if ob.moved else ""
        table.add_row(ob.form, ob.period, f"{ob.due:%a %d %b %Y}", f"{ob.statutory_due:%d %b}", note)
    console.print(table)


def _agent(spark, agency: str):
    from odoolake.bir.dat import Agent

    row = spark.sql("SELECT agency, agency_tin, agency_branch, rdo FROM silver.companies WHERE agency = :a",
                    args={"a": agency}).first()
    if row is None:
        known = [r[0] for r in spark.sql("SELECT agency FROM silver.companies ORDER BY agency").collect()]
        raise BirRuleError(f"Unknown agency {agency!r}; the lake has {', '.join(known) or 'none (run the month-end)'}.")
    return Agent(tin=row["agency_tin"] or "", branch=row["agency_branch"], registered_name=row["agency"],
                 rdo=row["rdo"] or "")


def _agencies(spark, agency: str | None) -> list[str]:
    if agency:
        return [agency]
    return [r[0] for r in spark.sql("SELECT agency FROM silver.companies ORDER BY agency").collect()]


def _split_invalid(rows: list, skip_invalid: bool) -> tuple[list, list]:
    """(rows to write, rows left out). Left-out rows are only allowed when the user asked for it."""
    from odoolake.bir.tin import parse_tin

    if not skip_invalid:
        return rows, []
    good = [r for r in rows if parse_tin(r.tin, r.branch)[0] is not None]
    return good, [r for r in rows if parse_tin(r.tin, r.branch)[0] is None]


def _excluded_csv(rows: list) -> str:
    lines = ["payee,tin,atc,income,tax"]
    for r in rows:
        name = (r.company_name or f"{r.last_name} {r.first_name}").replace(",", " ").strip()
        lines.append(f"{name},{r.tin or ''},{r.atc},{r.income},{r.tax}")
    return "\n".join(lines) + "\n"


def _qap_rows(spark, agency: str, quarter: str):
    from odoolake.bir.dat import AlphalistRow

    rows = spark.sql("SELECT * FROM gold.qap WHERE agency = :a AND quarter = :q ORDER BY payee_key, atc",
                     args={"a": agency, "q": quarter}).collect()
    if not rows:
        raise BirRuleError(f"No withholding data for {agency} in {quarter}: run the month-end for that quarter first.")

    def row(r) -> AlphalistRow:
        company = r["payee_name"] if r["is_company"] else ""
        return AlphalistRow(r["payee_tin"], r["atc"], Decimal(str(r["rate"])), Decimal(str(r["income"])),
                            Decimal(str(r["tax_withheld"])), company_name=company or "",
                            last_name=r["last_name"] or ("" if company else r["payee_name"] or ""),
                            first_name=r["first_name"] or "", middle_name=r["middle_name"] or "",
                            branch=r["payee_branch"])

    return [row(r) for r in rows if r["schedule"] == 1], [row(r) for r in rows if r["schedule"] == 2]


def _write(paths: WorkspacePaths, agency: str, period: str, name: str, content: bytes | str) -> str:
    folder = paths.dbfs_to_local(f"dbfs:/bir/{agency}/{period}")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_bytes(content.encode() if isinstance(content, str) else content)
    tmp.replace(target)
    return f"dbfs:/bir/{agency}/{period}/{name}"


SkipOpt = typer.Option(False, "--skip-invalid-tins", help="Leave out payees without a valid TIN (listed in an "
                       "_excluded.csv beside the file) instead of refusing the whole file.")


@dat_app.command("qap")
@handle_errors
def dat_qap(quarter: str = typer.Option(..., help="Quarter, e.g. 2026Q1."),
            agency: str = typer.Option(..., help="Agency (company) code, e.g. RIM."),
            skip_invalid_tins: bool = SkipOpt, home: str = HomeOpt) -> None:
    """The QAP attached to the 1601-EQ, as a DAT file."""
    year, q = parse_quarter(quarter)
    paths = WorkspacePaths.from_env(home)
    with lake_session(paths) as spark:
        for line in _write_qap(paths, spark, agency, year, q, skip_invalid_tins):
            console.print(line)


def _write_qap(paths: WorkspacePaths, spark, agency: str, year: int, q: int, skip_invalid: bool) -> list[str]:
    from odoolake.bir.dat import qap

    quarter = f"{year}Q{q}"
    schedule1, schedule2 = _qap_rows(spark, agency, quarter)
    schedule1, left1 = _split_invalid(schedule1, skip_invalid)
    schedule2, left2 = _split_invalid(schedule2, skip_invalid)
    name, content = qap(_agent(spark, agency), year, q, schedule1, schedule2)
    out = [_write(paths, agency, quarter, name, content)]
    if left1 or left2:
        tax = sum((r.tax for r in left1), Decimal(0))
        out.append(_write(paths, agency, quarter, name.replace(".dat", "_excluded.csv"), _excluded_csv(left1 + left2))
                   + f"  ({len(left1) + len(left2)} line(s) without a valid TIN left out, tax {tax:,.2f})")
    return out


@dat_app.command("sawt")
@handle_errors
def dat_sawt(quarter: str = typer.Option(..., help="Quarter, e.g. 2026Q1 (the SAWT goes with the quarterly return)."),
             agency: str = typer.Option(..., help="Agency (company) code."),
             form: str = typer.Option("1702Q", help="The return the credits are claimed on: 1701Q, 1702Q, 2550Q …"),
             skip_invalid_tins: bool = SkipOpt, home: str = HomeOpt) -> None:
    """The SAWT: 2307s received from customers (tax withheld from the agency), per payor and ATC."""
    from odoolake.bir.dat import AlphalistRow, sawt

    year, q = parse_quarter(quarter)
    paths = WorkspacePaths.from_env(home)
    with lake_session(paths) as spark:
        found = spark.sql("SELECT * FROM gold.sawt WHERE agency = :a AND quarter = :q ORDER BY payor_key, atc",
                          args={"a": agency, "q": f"{year}Q{q}"}).collect()
        if not found:
            raise BirRuleError(f"No tax withheld by customers for {agency} in {year}Q{q}.")
        rows = [AlphalistRow(r["payor_tin"], r["atc"], Decimal(str(r["rate"])), Decimal(str(r["income"])),
                             Decimal(str(r["tax_withheld"])), company_name=r["payor_name"] or "", branch=r["payor_branch"],
                             nature="Sales of goods and services") for r in found]
        rows, left = _split_invalid(rows, skip_invalid_tins)
        name, content = sawt(_agent(spark, agency), form, year, 3 * q, rows)
        console.print(_write(paths, agency, f"{year}Q{q}", name, content))
        if left:
            console.print(_write(paths, agency, f"{year}Q{q}", name.replace(".dat", "_excluded.csv"), _excluded_csv(left)))


@dat_app.command("1604e")
@handle_errors
def dat_1604e(year: int = typer.Option(..., help="Calendar year."), agency: str = typer.Option(...),
              skip_invalid_tins: bool = SkipOpt, home: str = HomeOpt) -> None:
    """The annual 1604-E alphalist: schedule 3 (tax withheld) and 4 (exempt) for the year."""
    from odoolake.bir.dat import AlphalistRow, form1604e

    paths = WorkspacePaths.from_env(home)
    with lake_session(paths) as spark:
        found = spark.sql(
            "SELECT payee_key, atc, rate, schedule, first(payee_tin, true) AS payee_tin, "
            "first(payee_branch, true) AS payee_branch, first(payee_name, true) AS payee_name, "
            "first(is_company, true) AS is_company, first(last_name, true) AS last_name, "
            "first(first_name, true) AS first_name, first(middle_name, true) AS middle_name, "
            "SUM(income) AS income, SUM(tax_withheld) AS tax_withheld FROM gold.qap "
            "WHERE agency = :a AND quarter LIKE :y GROUP BY payee_key, atc, rate, schedule ORDER BY payee_key, atc",
            args={"a": agency, "y": f"{year}Q%"}).collect()
        if not found:
            raise BirRuleError(f"No withholding data for {agency} in {year}.")

        def row(r) -> AlphalistRow:
            company = r["payee_name"] if r["is_company"] else ""
            return AlphalistRow(r["payee_tin"], r["atc"], Decimal(str(r["rate"])), Decimal(str(round(r["income"], 2))),
                                Decimal(str(round(r["tax_withheld"], 2))), company_name=company or "",
                                last_name=r["last_name"] or ("" if company else r["payee_name"] or ""),
                                first_name=r["first_name"] or "", middle_name=r["middle_name"] or "",
                                branch=r["payee_branch"])

        schedule3, left3 = _split_invalid([row(r) for r in found if r["schedule"] == 1], skip_invalid_tins)
        schedule4, left4 = _split_invalid([row(r) for r in found if r["schedule"] == 2], skip_invalid_tins)
        name, content = form1604e(_agent(spark, agency), year, schedule3, schedule4)
        console.print(_write(paths, agency, str(year), name, content))
        if left3 or left4:
            console.print(_write(paths, agency, str(year), name.replace(".dat", "_excluded.csv"),
                                 _excluded_csv(left3 + left4)))


@app.command("forms")
@handle_errors
def forms_cmd(period: str = typer.Option(..., "--quarter", "--period", help="Quarter, e.g. 2026Q1."),
              agency: str = typer.Option(None, help="One agency (default: all)."),
              skip_invalid_tins: bool = SkipOpt, home: str = HomeOpt) -> None:
    """Rebuild the quarter's form tables, then write 2307 workbooks, the QAP and the month-end summary."""
    from odoolake.bir.certificate import CertificateLine, Party, form_2307_xlsx
    from odoolake.bir.summary import AtcTotal, month_end_html
    from odoolake.pipeline import forms

    year, q = parse_quarter(period)
    quarter = f"{year}Q{q}"
    paths = WorkspacePaths.from_env(home)
    problems: list[str] = []
    with lake_session(paths) as spark:
        months = [f"{year}-{m:02d}" for m in range(3 * q - 2, 3 * q + 1)]
        forms.run(spark, months)
        for code in _agencies(spark, agency):
            agent = _agent(spark, code)
            certs = spark.sql("SELECT * FROM gold.form_2307 WHERE agency = :a AND quarter = :q ORDER BY payee_key, atc",
                              args={"a": code, "q": quarter}).collect()
            if not certs:
                raise BirRuleError(f"No withholding data for {code} in {quarter}: run the month-end for it first.")
            by_payee: dict[str, list] = {}
            for r in certs:
                by_payee.setdefault(r["payee_key"], []).append(r)
            written = 0
            for key, rows in by_payee.items():
                if skip_invalid_tins and not rows[0]["payee_tin"]:
                    continue
                first = rows[0]
                payee = Party(first["payee_name"] or key, first["payee_tin"], first["payee_branch"])
                lines = [CertificateLine(r["atc"], r["atc"], Decimal(str(r["income_month1"])),
                                         Decimal(str(r["income_month2"])), Decimal(str(r["income_month3"])),
                                         Decimal(str(r["tax_withheld"]))) for r in rows]
                try:
                    xlsx = form_2307_xlsx(payee, Party(agent.registered_name, agent.tin, agent.branch), year, q, lines)
                except BirRuleError as exc:
                    problems.append(str(exc))
                    continue
                safe = re.sub(r"[^A-Za-z0-9]+", "_", payee.name).strip("_")[:40]
                _write(paths, code, quarter, f"2307_{first['payee_tin'] or 'NOTIN'}_{safe}.xlsx", xlsx)
                written += 1
            console.print(f"{code}: {written} certificate(s) in dbfs:/bir/{code}/{quarter}/")
            try:
                for line in _write_qap(paths, spark, code, year, q, skip_invalid_tins):
                    console.print(f"{code}: {line}")
            except BirRuleError as exc:
                problems.append(f"{code} QAP not written: {exc}")
        last_month = 3 * q
        totals = [AtcTotal(r["agency"], r["atc"], r["b"], r["t"]) for r in spark.sql(
            "SELECT agency, atc, SUM(base) AS b, SUM(tax_withheld) AS t FROM gold.ewt_by_atc "
            "WHERE year = :y AND month = :m AND regime = 'EWT' GROUP BY agency, atc",
            args={"y": year, "m": last_month}).collect()]
        if totals:
            page = month_end_html("odoolake", year, last_month, totals)
            console.print(_write(paths, "all", quarter, f"month_end_{year}-{last_month:02d}.html", page))
    if problems:
        err_console.print(f"[yellow]{len(problems)} output(s) need fixes in Odoo first:[/]")
        for problem in problems[:20]:
            err_console.print(f"  - {problem}")
        raise OdoolakeError("Some outputs were not written (see above); everything written is complete.")


def load_outputs(paths: WorkspacePaths, agency: str, quarter: str) -> list[Path]:
    """The files ``forms`` wrote for an agency and quarter (for tests and downloads)."""
    folder = paths.dbfs_to_local(f"dbfs:/bir/{agency}/{quarter}")
    return sorted(folder.iterdir()) if folder.exists() else []
