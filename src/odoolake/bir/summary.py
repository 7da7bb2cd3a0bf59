"""The month-end summary a finance officer prints: one self-contained HTML page with an inline SVG chart."""

from __future__ import annotations

import html
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

PALETTE = ("#1b6ca8", "#e07b39", "#3a9d5d", "#c0392b", "#8e44ad", "#16a085", "#d4ac0d", "#7f8c8d", "#2c3e50",
           "#e84393", "#00838f", "#6d4c41")


@dataclass(frozen=True)
class AtcTotal:
    agency: str
    atc: str
    base: Decimal
    tax: Decimal


@dataclass(frozen=True)
class BucketTotal:
    """Tax withheld that could not be put under an ATC in the month: remitted all the same, to classify in Odoo."""

    agency: str
    reason: str
    lines: int
    tax: Decimal | None  # None when the lines have no PHP amount (a currency without a rate)


def _money(value: Decimal | float) -> str:
    return f"{value:,.2f}"


def stacked_bar_svg(totals: list[AtcTotal], width: int = 760, bar_height: int = 26) -> str:
    """Horizontal stacked bars: withholding per agency, one segment per ATC, with a legend."""
    agencies = sorted({t.agency for t in totals})
    atcs = sorted({t.atc for t in totals})
    colour = {atc: PALETTE[i % len(PALETTE)] for i, atc in enumerate(atcs)}
    by_agency: dict[str, dict[str, float]] = defaultdict(dict)
    for t in totals:
        by_agency[t.agency][t.atc] = by_agency[t.agency].get(t.atc, 0.0) + float(t.tax)
    biggest = max((sum(v for v in parts.values() if v > 0) for parts in by_agency.values()), default=1.0) or 1.0
    left, plot = 70, width - 70 - 150
    height = len(agencies) * (bar_height + 10) + 30
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{max(height, 40 + 18 * len(atcs))}" '
             'font-family="sans-serif" font-size="12" role="img" aria-label="Withholding by agency and ATC">']
    for i, agency in enumerate(agencies):
        y = 10 + i * (bar_height + 10)
        parts.append(f'<text x="{left - 8}" y="{y + bar_height * 0.65}" text-anchor="end">{html.escape(agency)}</text>')
        x = float(left)
        for atc in atcs:
            value = by_agency[agency].get(atc, 0.0)
            if value <= 0:
                continue
            w = plot * value / biggest
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_height}" fill="{colour[atc]}">'
                         f'<title>{html.escape(agency)} {atc}: {_money(value)}</title></rect>')
            x += w
        total = sum(v for v in by_agency[agency].values())
        parts.append(f'<text x="{x + 4:.1f}" y="{y + bar_height * 0.65}">{_money(total)}</text>')
    for j, atc in enumerate(atcs):
        y = 10 + j * 18
        parts.append(f'<rect x="{width - 120}" y="{y}" width="12" height="12" fill="{colour[atc]}"/>'
                     f'<text x="{width - 102}" y="{y + 10}">{atc}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _by_reason(title: str, intro: str, rows: list[BucketTotal]) -> str:
    """A section of lines by agency and reason, with the tax they carry and the fix in Odoo."""
    from odoolake.bir.reasons import BY_CODE

    items = "".join(
        f"<tr><td>{html.escape(b.agency)}</td><td>{html.escape(b.reason)}</td><td class=n>{b.lines:,}</td>"
        f"<td class=n>{_money(b.tax) if b.tax is not None else 'no PHP amount'}</td>"
        f"<td>{html.escape(BY_CODE[b.reason].fix if b.reason in BY_CODE else '')}</td></tr>"
        for b in sorted(rows, key=lambda b: (b.agency, b.reason)))
    total = sum((b.tax or Decimal(0) for b in rows), Decimal(0))
    return (f"<h2>{title}</h2><p>{intro}</p><table><tr><th>Agency</th><th>Reason</th><th>Lines</th><th>Tax withheld "
            f"(PHP)</th><th>Fix in Odoo</th></tr>{items}<tr class=total><td>Total</td><td></td><td></td>"
            f"<td class=n>{_money(total)}</td><td></td></tr></table>")


def _left_out(rows: list[tuple[str, str, int]]) -> str:
    """Posted bills left out of every return (agency, reason, bills), with the fix in Odoo."""
    from odoolake.bir.reasons import BY_CODE

    items = "".join(f"<tr><td>{html.escape(agency)}</td><td>{html.escape(reason)}</td><td class=n>{bills:,}</td>"
                    f"<td>{html.escape(BY_CODE[reason].fix if reason in BY_CODE else '')}</td></tr>"
                    for agency, reason, bills in sorted(rows))
    return ("<h2>Posted, left out of the returns</h2><p>Bills posted in Odoo that no return of this month includes, "
            "with the tax withheld on them: a later bill with the same vendor and reference as an earlier one is "
            "taken for a duplicate. Its withholding is in the books but not in the remittance above: cancel the "
            "duplicate, or give a genuine bill its own reference, before the return is filed.</p><table><tr><th>"
            f"Agency</th><th>Reason</th><th>Bills</th><th>Fix in Odoo</th></tr>{items}</table>")


def month_end_html(company: str, year: int, month: int, totals: list[AtcTotal], generated: datetime | None = None,
                   deadlines: list[tuple[str, str, date]] | None = None, bucket: list[BucketTotal] | None = None,
                   flagged: list[BucketTotal] | None = None, left_out: list[tuple[str, str, int]] | None = None
                   ) -> str:
    """A printable page: totals by agency, by ATC (the "to classify" bucket included), the chart, the bucket's lines
    by reason with what to do, the lines filed with a warning (a rate or code the payee's facts do not support…)
    by reason, the posted bills left out of every return (``left_out``: agency, reason, bills), and the next filing
    deadlines."""
    period = date(year, month, 1).strftime("%B %Y")
    by_agency: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    by_atc: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for t in totals:
        by_agency[t.agency][0] += t.base
        by_agency[t.agency][1] += t.tax
        by_atc[t.atc][0] += t.base
        by_atc[t.atc][1] += t.tax

    def table(title: str, rows: dict[str, list[Decimal]], key: str) -> str:
        body = "".join(f"<tr><td>{html.escape(k)}</td><td class=n>{_money(b)}</td><td class=n>{_money(t)}</td></tr>"
                       for k, (b, t) in sorted(rows.items()))
        total_b = sum((v[0] for v in rows.values()), Decimal(0))
        total_t = sum((v[1] for v in rows.values()), Decimal(0))
        return (f"<h2>{title}</h2><table><tr><th>{key}</th><th>Income payments (PHP)</th><th>Tax withheld (PHP)</th>"
                f"</tr>{body}<tr class=total><td>Total</td><td class=n>{_money(total_b)}</td>"
                f"<td class=n>{_money(total_t)}</td></tr></table>")

    held = _by_reason("Withheld, to classify", "Tax withheld under a tax Odoo cannot tie to an ATC. It is included in "
                      "the remittance totals above (Tax Code Sec. 58(A)) and must be classified in Odoo before the "
                      "quarterly alphalist.", bucket) if bucket else ""
    warned = _by_reason("Filed with a warning", "Lines that go into the remittance, the QAP and the 2307s as Odoo "
                        "holds them, although a rule says they look wrong (a rate or ATC the payee's facts do not "
                        "support, tax that is not rate × base, a posting after the return's deadline…). Check each "
                        "in Odoo before the quarterly alphalist; a line can carry several reasons.",
                        flagged) if flagged else ""
    upcoming = ""
    if deadlines:
        items = "".join(f"<tr><td>{html.escape(f)}</td><td>{html.escape(p)}</td><td>{d:%a %d %b %Y}</td></tr>"
                        for f, p, d in deadlines)
        upcoming = f"<h2>Next filing deadlines</h2><table><tr><th>Form</th><th>Period</th><th>Due</th></tr>{items}</table>"
    stamp = (generated or datetime.now()).strftime("%Y-%m-%d %H:%M")
    style = ("body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}"
             "td,th{border:1px solid #bbb;padding:4px 10px}th{background:#eef2f5}.n{text-align:right}"
             ".total td{font-weight:bold}@media print{body{margin:1cm}}")
    return (f"<!doctype html><html><head><meta charset=utf-8><title>Month-end withholding — {period}</title>"
            f"<style>{style}</style></head><body><h1>{html.escape(company)}: expanded withholding tax, {period}</h1>"
            f"<p>Generated {stamp} from gold.ewt_by_atc. Amounts in PHP.</p>"
            f"<h2>Withholding by agency and ATC</h2>{stacked_bar_svg(totals)}"
            f"{table('By agency', by_agency, 'Agency')}{table('By ATC', by_atc, 'ATC')}{held}{warned}"
            f"{_left_out(left_out) if left_out else ''}{upcoming}"
            "</body></html>")
