"""From the gold filing tables' rows (plain dicts) to the objects the DAT and certificate writers take.

Pure Python: the CLI and the bundle read the rows from ``gold.qap`` / ``gold.form_2307`` / ``gold.slsp`` and
``silver.companies`` and pass them here. Names, TINs and amounts are taken as gold holds them; which rows can be
written is decided by the writers (``odoolake.bir.dat.problems_of``), in one place.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from odoolake.bir import reasons
from odoolake.bir.certificate import Certificate, CertificateLine, Party
from odoolake.bir.dat import FIX, Agent, AlphalistRow, ImportEntry, Problem, ReliefRow, tax_at_rate
from odoolake.bir.tin import parse_tin

Row = Mapping[str, Any]
ZERO = Decimal("0")


def _d(value: Any) -> Decimal:
    return ZERO if value is None else Decimal(str(value))


def _s(value: Any) -> str:
    return "" if value is None else str(value)


def agent(company: Row) -> Agent:
    return Agent(tin=_s(company["agency_tin"]), branch=company["agency_branch"],
                 registered_name=_s(company["registered_name"] or company["agency"]), rdo=_s(company["rdo"]),
                 address1=_s(company["address1"]), address2=_s(company["address2"]))


def payor_party(company: Row) -> Party:
    address = ", ".join(p for p in (_s(company["address1"]), _s(company["address2"])) if p)
    return Party(_s(company["registered_name"] or company["agency"]), company["agency_tin"], company["agency_branch"],
                 address, _s(company["zip"]))


def alphalist_row(r: Row) -> AlphalistRow:
    individual = bool(r["individual"])
    return AlphalistRow(
        r["payee_tin"], _s(r["atc"]), _d(r["rate"]), _d(r.get("income", r.get("income_total"))),
        _d(r["tax_withheld"]), company_name=_s(r["payee_name"]), last_name=_s(r["last_name"]),
        first_name=_s(r["first_name"]), middle_name=_s(r["middle_name"]), branch=r["payee_branch"],
        nature=_s(r.get("nature")), individual=individual)


def qap_schedules(rows: Iterable[Row]) -> tuple[list[AlphalistRow], list[AlphalistRow]]:
    """(schedule 1: tax withheld, schedule 2: exempt) rows, sorted by payee name."""
    rows = sorted(rows, key=lambda r: (_s(r["payee_name"]).upper(), _s(r["atc"]), _d(r["rate"])))
    return ([alphalist_row(r) for r in rows if r["schedule"] == 1],
            [alphalist_row(r) for r in rows if r["schedule"] == 2])


def annual_rows(rows: Iterable[Row]) -> list[Row]:
    """Quarterly QAP rows summed into the year's rows per payee, ATC, rate and schedule (net over the year)."""
    out: dict[tuple, dict[str, Any]] = {}
    for r in rows:
        key = (r["payee_key"], r["atc"], _d(r["rate"]), r["schedule"])
        if key not in out:
            out[key] = dict(r, income=ZERO, tax_withheld=ZERO)
        out[key]["income"] += _d(r["income"])
        out[key]["tax_withheld"] += _d(r["tax_withheld"])
    return list(out.values())


@dataclass(frozen=True)
class CertificateIssue:
    payee: str
    tin: str
    atc: str
    income: Decimal
    tax_withheld: Decimal
    problem: str
    fix: str
    certificate_issued: bool


def certificates(rows: Iterable[Row], payor: Party, year: int, quarter: int
                 ) -> tuple[list[Certificate], list[CertificateIssue], list[tuple[Row, Decimal]]]:
    """(certificates, exceptions list, rows where the tax certified differs from the tax withheld).

    A payee without a valid TIN gets no certificate; a row net-negative for the quarter is left off its certificate,
    and a payee with nothing positive left gets none; a missing address or an unsplit name is printed as Odoo holds it and
    listed so it gets fixed."""
    by_payee: dict[str, list[Row]] = {}
    for r in rows:
        by_payee.setdefault(r["payee_key"], []).append(r)
    certs: list[Certificate] = []
    issues: list[CertificateIssue] = []
    differences: list[tuple[Row, Decimal]] = []
    for key in sorted(by_payee, key=lambda k: _s(by_payee[k][0]["payee_name"]).upper()):
        cert, found, diffs = _certificate(by_payee[key], payor, year, quarter)
        certs += [cert] if cert else []
        issues += found
        differences += diffs
    return certs, issues, differences


def _negative(r: Row) -> bool:
    """Nothing to certify for the quarter: credit notes at least the payments under the row's ATC, as the QAP
    judges the same row (a negative month in a positive quarter is certified: ``_netted_months``)."""
    return _d(r["income_total"]) <= 0 or _d(r["tax_withheld"]) < 0


def _netted_months(r: Row) -> tuple[Decimal, Decimal, Decimal]:
    """The row's three months as a 2307 can print them (amounts paid, none negative): a month whose credit notes
    exceed its payments is 0 and its excess is taken from the other months, the latest earlier month first, then
    the later ones. The total stays the quarter's, as the QAP reports it (the whole line was left off the 2307, so
    the payee's SAWT could not match the payor's QAP)."""
    months = [_d(r["income_month1"]), _d(r["income_month2"]), _d(r["income_month3"])]
    for i in range(3):
        excess = -months[i] if months[i] < 0 else Decimal(0)
        months[i] += excess
        for j in [*range(i - 1, -1, -1), *range(i + 1, 3)]:
            taken = min(excess, max(months[j], Decimal(0)))
            months[j] -= taken
            excess -= taken
    return months[0], months[1], months[2]


def _certificate(group: list[Row], payor: Party, year: int, quarter: int
                 ) -> tuple[Certificate | None, list[CertificateIssue], list[tuple[Row, Decimal]]]:
    first = group[0]
    if parse_tin(first["payee_tin"], first["payee_branch"])[0] is None:
        return None, [_issue(first, r, r["atc"], Problem.INVALID_TIN.value, FIX[Problem.INVALID_TIN], False)
                      for r in group], []
    issues = [_issue(first, r, r["atc"], Problem.NET_NEGATIVE.value,
                     "credit notes exceed the quarter's payments under this ATC: not certified; the excess reduces "
                     "later withholding or amends the earlier quarter", True) for r in group if _negative(r)]
    good = sorted((r for r in group if not _negative(r)), key=lambda r: (_s(r["atc"]), _d(r["rate"])))
    if not good:
        return None, issues, []
    payee = Party(_s(first["payee_name"]), first["payee_tin"], first["payee_branch"],
                  ", ".join(p for p in (_s(first["address1"]), _s(first["address2"])) if p), _s(first["zip"]),
                  _s(first["last_name"]), _s(first["first_name"]), _s(first["middle_name"]), bool(first["individual"]))
    lines = tuple(CertificateLine(_s(r["atc"]), _s(r["nature"]) or _s(r["atc"]), _d(r["rate"]), *_netted_months(r))
                  for r in good)
    issues += [_issue(first, r, r["atc"], Problem.CREDIT_NOTES_NETTED.value, FIX[Problem.CREDIT_NOTES_NETTED], True)
               for r in good if min(_d(r["income_month1"]), _d(r["income_month2"]), _d(r["income_month3"])) < 0]
    if payee.individual and not (payee.last_name and payee.first_name):
        issues.append(_issue(first, first, "", Problem.NAME_NOT_SPLIT.value, FIX[Problem.NAME_NOT_SPLIT], True))
    if not payee.address or not payee.zip_code:
        issues.append(_issue(first, first, "", reasons.MISSING_ADDRESS.code, reasons.MISSING_ADDRESS.fix, True))
    differences = [(r, tax_at_rate(_d(r["income_total"]), _d(r["rate"]))) for r in good
                   if tax_at_rate(_d(r["income_total"]), _d(r["rate"])) != _d(r["tax_withheld"])]
    return Certificate(payee, payor, year, quarter, lines), issues, differences


def _issue(payee: Row, row: Row, atc: str, problem: str, fix: str, issued: bool) -> CertificateIssue:
    return CertificateIssue(_s(payee["payee_name"]), _s(payee["payee_tin"]), atc, _d(row.get("income_total")),
                            _d(row.get("tax_withheld")), problem, fix, issued)


def issues_csv(issues: Iterable[CertificateIssue]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["payee", "tin", "atc", "income", "tax_withheld", "problem", "fix", "certificate_issued"])
    writer.writerows([[i.payee, i.tin, i.atc, i.income, i.tax_withheld, i.problem, i.fix,
                       "yes" if i.certificate_issued else "no"] for i in issues])
    return out.getvalue()


def certificate_differences_csv(differences: Iterable[tuple[Row, Decimal]]) -> str:
    """The certificate rows whose tax at the rate (what a 2307 certifies) differs from the tax withheld."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["payee", "tin", "atc", "rate", "income", "tax_withheld", "tax_certified", "difference"])
    writer.writerows([[_s(r["payee_name"]), _s(r["payee_tin"]), _s(r["atc"]), _d(r["rate"]), _d(r["income_total"]),
                       _d(r["tax_withheld"]), at, _d(r["tax_withheld"]) - at] for r, at in differences])
    return out.getvalue()


def relief_rows(rows: Iterable[Row], side: str) -> list[ReliefRow]:
    """Counterparty rows of the SLS (side ``sale``) or SLP (``purchase``), sorted by name."""
    out = []
    for r in sorted((r for r in rows if r["side"] == side), key=lambda r: _s(r["payee_name"]).upper()):
        taxable = _d(r["taxable"]) if side == "sale" else _d(r["goods"])
        out.append(ReliefRow(r["payee_tin"], _s(r["payee_name"]), _s(r["last_name"]), _s(r["first_name"]),
                             _s(r["middle_name"]), _s(r["address1"]), _s(r["address2"]), _d(r["exempt"]),
                             _d(r["zero_rated"]), _d(r["services"]), _d(r["capital_goods"]), taxable, _d(r["vat"]),
                             bool(r["individual"])))
    return out


def import_entries(rows: Iterable[Row]) -> list[ImportEntry]:
    """One importation per document: the landed cost (Odoo's VAT base) as the dutiable value, the VAT paid."""
    out = []
    for r in sorted((r for r in rows if r["side"] == "import"), key=lambda r: (r["date"], _s(r["document"]))):
        when: date = r["document_date"] or r["date"]
        out.append(ImportEntry(_s(r["document"]), when, _s(r["payee_name"]), r["date"],
                               _s(r["country"]), _d(r["imports"]), ZERO,
                               _d(r["exempt"]), _d(r["imports"]), _d(r["vat"]), _s(r["document"]), r["date"]))
    return out
