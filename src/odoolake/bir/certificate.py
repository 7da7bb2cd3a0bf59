"""BIR Form 2307 (January 2018, ENCS): Certificate of Creditable Tax Withheld at Source, as XLSX and printable PDF.

The fields follow the form: 1 the period; Part I payee (2 TIN with branch code, 3 name: Last, First, Middle for an
individual or the registered name, 4 registered address, 4A ZIP code, 5 foreign address); Part II payor (6 TIN,
7 name, 8 registered address, 8A ZIP code); Part III income payments subject to expanded withholding by ATC, with
the income of the 1st, 2nd and 3rd month of the quarter, the total and the tax withheld for the quarter, then the
(empty) section for money payments subject to withholding of business tax, the declaration and the signature
blocks. The TIN is printed as on the form, ``NNN-NNN-NNN-NNNNN``: the same branch code the DAT files carry in four
digits, padded to the form's five boxes.

The tax printed for a row is ``income x rate`` rounded half up (``odoolake.bir.dat.tax_at_rate``, the rule the QAP
uses), so the certificate and the payor's QAP agree; rows where the books withheld a different amount are listed
by the caller as differences. Amounts must be positive: the caller leaves out net-negative rows (credit notes
larger than the quarter's bills) and lists them as exceptions.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side

from odoolake.bir.dat import tax_at_rate
from odoolake.bir.tin import TinStatus, parse_tin
from odoolake.errors import BirRuleError

DECLARATION = (
    "We declare under the penalties of perjury that this certificate has been made in good faith, verified by us, "
    "and to the best of our knowledge and belief, is true and correct, pursuant to the provisions of the National "
    "Internal Revenue Code, as amended, and the regulations issued under authority thereof. Further, we give our "
    "consent to the processing of our information as contemplated under the Data Privacy Act of 2012 "
    "(R.A. No. 10173) for legitimate and lawful purposes."
)
PART_III_HEADER = ("Income Payments Subject to Expanded Withholding Tax", "ATC", "1st Month of the Quarter",
                   "2nd Month of the Quarter", "3rd Month of the Quarter", "Total", "Tax Withheld for the Quarter")


@dataclass(frozen=True)
class Party:
    name: str  # registered name (non-individual) or the name as Odoo holds it
    tin: str | None
    branch: str | None = None
    address: str = ""
    zip_code: str = ""
    last_name: str = ""
    first_name: str = ""
    middle_name: str = ""
    individual: bool = False
    foreign_address: str = ""

    @property
    def printed_name(self) -> str:
        """Last Name, First Name, Middle Name for an individual (when split), else the registered name."""
        if self.individual and self.last_name and self.first_name:
            return ", ".join(p for p in (self.last_name, self.first_name, self.middle_name) if p)
        return self.name


@dataclass(frozen=True)
class CertificateLine:
    atc: str
    nature: str  # the income description of the ATC
    rate: Decimal
    month1: Decimal
    month2: Decimal
    month3: Decimal

    @property
    def total(self) -> Decimal:
        return self.month1 + self.month2 + self.month3

    @property
    def tax(self) -> Decimal:
        return tax_at_rate(self.total, self.rate)


def quarter_bounds(year: int, quarter: int) -> tuple[date, date]:
    if quarter not in (1, 2, 3, 4):
        raise BirRuleError(f"Quarter must be 1 to 4, got {quarter}.")
    start = date(year, 3 * quarter - 2, 1)
    end_month = 3 * quarter
    return start, date(year + (end_month == 12), end_month % 12 + 1, 1) - timedelta(days=1)


def _tin_text(party: Party, role: str) -> str:
    tin, status = parse_tin(party.tin, party.branch)
    if tin is None:
        problem = "has no TIN" if status == TinStatus.MISSING else f"has a malformed TIN {party.tin!r}"
        raise BirRuleError(f"{role} {party.name!r} {problem}; enter it on the partner in Odoo first.")
    return tin.formatted()


@dataclass(frozen=True)
class Certificate:
    payee: Party
    payor: Party
    year: int
    quarter: int
    lines: tuple[CertificateLine, ...]

    def __post_init__(self) -> None:
        if not self.lines:
            raise BirRuleError(f"No income payments for {self.payee.name} in {self.year}Q{self.quarter}: "
                               "nothing to certify.")
        negative = [ln.atc for ln in self.lines if min(ln.month1, ln.month2, ln.month3, ln.total) < 0]
        if negative:
            raise BirRuleError(f"{self.payee.name} {self.year}Q{self.quarter}: negative income on "
                               f"{', '.join(negative)}; a certificate shows amounts paid, not credit notes.")
        self.payee_tin  # noqa: B018 -- validates both TINs up front
        self.payor_tin  # noqa: B018

    @property
    def payee_tin(self) -> str:
        return _tin_text(self.payee, "Payee")

    @property
    def payor_tin(self) -> str:
        return _tin_text(self.payor, "Payor")

    @property
    def period(self) -> tuple[date, date]:
        return quarter_bounds(self.year, self.quarter)

    def totals(self) -> tuple[Decimal, Decimal, Decimal, Decimal, Decimal]:
        return (sum((ln.month1 for ln in self.lines), Decimal(0)), sum((ln.month2 for ln in self.lines), Decimal(0)),
                sum((ln.month3 for ln in self.lines), Decimal(0)), sum((ln.total for ln in self.lines), Decimal(0)),
                sum((ln.tax for ln in self.lines), Decimal(0)))


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def form_2307_xlsx(cert: Certificate) -> bytes:
    start, end = cert.period
    wb = Workbook()
    ws = wb.active
    ws.title = f"2307 {cert.year}Q{cert.quarter}"
    bold, thin = Font(bold=True), Side(style="thin")
    box = Border(top=thin, bottom=thin, left=thin, right=thin)
    ws["A1"] = "BIR Form No. 2307 (January 2018 ENCS) — Certificate of Creditable Tax Withheld at Source"
    ws["A1"].font = Font(bold=True, size=13)
    ws["A3"], ws["B3"], ws["C3"], ws["D3"] = "1 For the Period From", start.strftime("%m/%d/%Y"), "To", \
        end.strftime("%m/%d/%Y")
    fields = [
        ("Part I – Payee Information", None),
        ("2 Taxpayer Identification Number (TIN)", cert.payee_tin),
        ("3 Payee's Name (Last Name, First Name, Middle Name for Individual; Registered Name for Non-Individual)",
         cert.payee.printed_name),
        ("4 Registered Address", cert.payee.address),
        ("4A ZIP Code", cert.payee.zip_code),
        ("5 Foreign Address, if applicable", cert.payee.foreign_address),
        ("Part II – Payor Information", None),
        ("6 Taxpayer Identification Number (TIN)", cert.payor_tin),
        ("7 Payor's Name", cert.payor.printed_name),
        ("8 Registered Address", cert.payor.address),
        ("8A ZIP Code", cert.payor.zip_code),
    ]
    r = 5
    for label, value in fields:
        ws.cell(r, 1, label).font = bold if value is None else Font()
        if value is not None:
            ws.cell(r, 2, value)
        r += 1
    r += 1
    ws.cell(r, 1, "Part III – Details of Monthly Income Payments and Taxes Withheld").font = bold
    r += 1
    for c, text in enumerate(PART_III_HEADER, start=1):
        cell = ws.cell(r, c, text)
        cell.font, cell.border = bold, box
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    for line in cert.lines:
        r += 1
        cells: list[object] = [line.nature, line.atc, line.month1, line.month2, line.month3, line.total, line.tax]
        for c, cell_value in enumerate(cells, start=1):
            cell = ws.cell(r, c, float(cell_value) if isinstance(cell_value, Decimal) else cell_value)
            cell.border = box
            if c >= 3:
                cell.number_format = "#,##0.00"
    r += 1
    ws.cell(r, 1, "Total").font = bold
    for c, total in enumerate(cert.totals(), start=3):
        cell = ws.cell(r, c, float(total))
        cell.number_format, cell.font, cell.border = "#,##0.00", bold, box
    r += 2
    ws.cell(r, 1, "Money Payments Subject to Withholding of Business Tax (Government & Private)").font = bold
    ws.cell(r + 1, 1, "Total")
    ws.cell(r + 3, 1, DECLARATION).alignment = Alignment(wrap_text=True)
    ws.cell(r + 5, 1, "Signature over Printed Name of Payor/Payor's Authorized Representative/Tax Agent "
                      "(Indicate Title/Designation and TIN)")
    ws.cell(r + 7, 1, "CONFORME: Signature over Printed Name of Payee/Payee's Authorized Representative/Tax Agent "
                      "(Indicate Title/Designation and TIN)")
    ws.column_dimensions["A"].width = 52
    for column in "BCDEFG":
        ws.column_dimensions[column].width = 18
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def form_2307_pdf(cert: Certificate) -> bytes:
    """The certificate as a one-page A4 PDF in the form's order of parts and boxes."""
    from fpdf import FPDF

    start, end = cert.period
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.set_margins(12, 10, 12)
    pdf.add_page()
    width = pdf.w - 24

    def text(value: str) -> str:  # the core fonts are Latin-1
        return value.replace("–", "-").replace("—", "-").encode("latin-1", "replace").decode("latin-1")

    pdf.set_font("Helvetica", "", 7)
    pdf.cell(width / 2, 4, "BIR Form No. 2307 - January 2018 (ENCS)")
    pdf.cell(width / 2, 4, "Republic of the Philippines - Department of Finance - Bureau of Internal Revenue",
             align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(width, 7, "Certificate of Creditable Tax Withheld at Source", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 8)
    pdf.cell(width, 6, f"1  For the Period   From  {start:%m/%d/%Y}   To  {end:%m/%d/%Y}", border=1,
             new_x="LMARGIN", new_y="NEXT")

    def part(title: str) -> None:
        pdf.set_fill_color(220, 226, 232)
        pdf.set_font("Helvetica", "B", 8)
        pdf.cell(width, 5, text(title), border=1, fill=True, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 8)

    def box(label: str, value: str, w: float | None = None, last: bool = True) -> None:
        w = w or width
        x, y = pdf.get_x(), pdf.get_y()
        pdf.set_font("Helvetica", "", 6)
        pdf.cell(w, 3, text(label), border="LTR")
        pdf.set_xy(x, y + 3)
        pdf.set_font("Helvetica", "B", 8)
        pdf.cell(w, 5, text(value), border="LBR")
        if last:
            pdf.set_xy(pdf.l_margin, y + 8)
        else:
            pdf.set_xy(x + w, y)
        pdf.set_font("Helvetica", "", 8)

    for role, party, tin, n in (("Part I - Payee Information", cert.payee, cert.payee_tin, 2),
                                ("Part II - Payor Information", cert.payor, cert.payor_tin, 6)):
        part(role)
        box(f"{n}  Taxpayer Identification Number (TIN)", tin)
        box(f"{n + 1}  {'Payee' if n == 2 else 'Payor'}'s Name (Last Name, First Name, Middle Name for Individual "
            "OR Registered Name for Non-Individual)", party.printed_name)
        box(f"{n + 2}  Registered Address", party.address, width * 0.8, last=False)
        box(f"{n + 2}A  ZIP Code", party.zip_code, width * 0.2)
        if n == 2:
            box("5  Foreign Address, if applicable", party.foreign_address)
    part("Part III - Details of Monthly Income Payments and Taxes Withheld")
    widths = [width * f for f in (0.30, 0.08, 0.125, 0.125, 0.125, 0.12, 0.125)]
    pdf.set_font("Helvetica", "B", 6.5)
    y = pdf.get_y()
    for w, head in zip(widths, PART_III_HEADER, strict=True):
        x = pdf.get_x()
        pdf.rect(x, y, w, 7)
        pdf.multi_cell(w, 3.5, head, align="C", new_x="RIGHT", new_y="TOP")
        pdf.set_xy(x + w, y)
    pdf.set_xy(pdf.l_margin, y + 7)
    pdf.set_font("Helvetica", "", 7)
    for line in cert.lines:
        pdf.cell(widths[0], 5, text(line.nature)[:60], border=1)
        pdf.cell(widths[1], 5, line.atc, border=1, align="C")
        for w, value in zip(widths[2:], (line.month1, line.month2, line.month3, line.total, line.tax), strict=True):
            pdf.cell(w, 5, _money(value), border=1, align="R")
        pdf.ln()
    pdf.set_font("Helvetica", "B", 7)
    pdf.cell(widths[0] + widths[1], 5, "Total", border=1)
    for w, value in zip(widths[2:], cert.totals(), strict=True):
        pdf.cell(w, 5, _money(value), border=1, align="R")
    pdf.ln()
    pdf.cell(width, 5, "Money Payments Subject to Withholding of Business Tax (Government & Private)", border=1,
             new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 7)
    pdf.cell(widths[0] + widths[1], 5, "Total", border=1)
    for w in widths[2:]:
        pdf.cell(w, 5, "", border=1)
    pdf.ln(7)
    pdf.set_font("Helvetica", "", 6.5)
    pdf.multi_cell(width, 3.2, DECLARATION, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(10)
    for label in ("Signature over Printed Name of Payor/Payor's Authorized Representative/Tax Agent "
                  "(Indicate Title/Designation and TIN)",
                  "CONFORME: Signature over Printed Name of Payee/Payee's Authorized Representative/Tax Agent "
                  "(Indicate Title/Designation and TIN)"):
        y = pdf.get_y()
        pdf.set_font("Helvetica", "", 6)
        pdf.multi_cell(width * 0.62, 3, text(label), border="T", new_x="RIGHT", new_y="TOP")
        pdf.set_xy(pdf.l_margin + width * 0.7, y)
        pdf.cell(width * 0.3, 3, "Date Signed", border="T")
        pdf.set_xy(pdf.l_margin, y + 16)
    return bytes(pdf.output())
