"""Write the lake's predicted withholding tax into Odoo's BIR schedule records, idempotently.

Each ``ipai.finance.bir_schedule`` record (from the ``ipai_finance_ppm`` addon) covers a company and a period
(``period_start``..``period_end``, a month or a quarter). Its ``lake_predicted_tax`` is the sum of
``gold.bir_forecast.predicted_wht`` over the months of that period, for the agency whose name is the company's.
A record is written only when the value or the model version differs from what Odoo already holds, so
running the write-back again changes nothing, not even ``write_date``. A period with a month missing from the
forecast is skipped, with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from odoolake.odoo.client import OdooClient

SCHEDULE_MODEL = "ipai.finance.bir_schedule"
FIELDS = ["company_id", "period_start", "period_end", "lake_predicted_tax", "lake_model_version"]


@dataclass(frozen=True)
class Prediction:
    agency: str
    period: str  # YYYY-MM
    predicted: float
    model_version: str


@dataclass
class WritebackResult:
    written: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)


def _months(start: str, end: str) -> list[str]:
    first, last = date.fromisoformat(start[:10]), date.fromisoformat(end[:10])
    out, y, m = [], first.year, first.month
    while (y, m) <= (last.year, last.month):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def push_predictions(client: OdooClient, predictions: Iterable[Prediction], domain: list | None = None,
                     now: str | None = None) -> WritebackResult:
    by_key = {(p.agency, p.period): p for p in predictions}
    records = client.search_read(SCHEDULE_MODEL, domain or [], FIELDS, order="id asc")
    result = WritebackResult()
    for rec in records:
        agency = rec["company_id"][1] if rec.get("company_id") else None
        if not agency or not rec.get("period_start") or not rec.get("period_end"):
            result.skipped[rec["id"]] = "no company or period on the record"
            continue
        months = _months(rec["period_start"], rec["period_end"])
        missing = [m for m in months if (agency, m) not in by_key]
        if missing:
            result.skipped[rec["id"]] = f"no forecast for {agency} {', '.join(missing)}"
            continue
        value = round(sum(by_key[(agency, m)].predicted for m in months), 2)
        version = ",".join(sorted({by_key[(agency, m)].model_version for m in months}))
        if round(float(rec.get("lake_predicted_tax") or 0.0), 2) == value and rec.get("lake_model_version") == version:
            result.unchanged.append(rec["id"])
            continue
        vals: dict[str, Any] = {"lake_predicted_tax": value, "lake_model_version": version}
        if now:
            vals["lake_scored_at"] = now
        client.write(SCHEDULE_MODEL, [rec["id"]], vals)
        result.written.append(rec["id"])
    return result


def predictions_from_lake(spark: Any, table: str = "gold.bir_forecast") -> list[Prediction]:
    rows = spark.table(table).select("agency", "period", "predicted_wht", "model_version").collect()
    return [Prediction(r["agency"], r["period"], float(r["predicted_wht"]), str(r["model_version"])) for r in rows]
