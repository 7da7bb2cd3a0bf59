"""Write the lake's withholding-tax forecast into Odoo's BIR schedule records, idempotently.

Each ``ipai.finance.bir_schedule`` record (from the ``ipai_finance_ppm`` addon) covers a company and a period
(``period_start``..``period_end``). A one-month record gets the forecast of that month from ``gold.bir_forecast``
(``kind = 'forecast'`` rows only, never a backtest row) for the agency whose name is the company's: the median in
``lake_predicted_tax`` and the p10-p90 interval in ``lake_predicted_tax_low``/``_high``. Records spanning several
months (quarterly and annual returns) are skipped, with the reason: a sum of monthly medians is not the median
of the sum, and its interval is not the sum of theirs. A record is written only when a value or the model
version differs from what Odoo already holds, so running the write-back again changes nothing, not even
``write_date``; ``lake_scored_at`` then says when the lake scored the values written (``gold.bir_forecast``'s
``scored_at``). A month missing from the forecast is skipped, with the reason, as is a record of another form (the
forecast is of the monthly expanded withholding, 0619-E) and one whose period ends before it starts. A failure part
way (Odoo down, a record deleted meanwhile) stops the run naming the record and what was written before it; running
again writes only what still differs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from odoolake.ml.calendar import period_of, periods_between
from odoolake.odoo.client import OdooClient
from odoolake.odoo.errors import OdooError

SCHEDULE_MODEL = "ipai.finance.bir_schedule"
FORECAST_FORMS = ("0619E",)  # the addon's MONTHLY_EWT_FORMS: the forecaster predicts a month's expanded withholding
FIELDS = ["company_id", "form_code", "period_start", "period_end", "lake_predicted_tax", "lake_predicted_tax_low",
          "lake_predicted_tax_high", "lake_model_version"]
VALUES = (("lake_predicted_tax", "predicted"), ("lake_predicted_tax_low", "low"), ("lake_predicted_tax_high", "high"))


@dataclass(frozen=True)
class Prediction:
    agency: str
    period: str  # YYYY-MM
    predicted: float  # p50
    model_version: str
    low: float  # p10
    high: float  # p90
    scored_at: str | None = None  # when the lake scored it, UTC "YYYY-MM-DD HH:MM:SS" (Odoo's Datetime text)


@dataclass
class WritebackResult:
    written: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)


def _months(start: str, end: str) -> list[str]:
    first, last = date.fromisoformat(start[:10]), date.fromisoformat(end[:10])
    return periods_between(period_of(first.year, first.month), period_of(last.year, last.month))


def skipped_lines(result: WritebackResult, limit: int | None = None) -> list[str]:
    """What was skipped and why, one line per schedule, the newest records first (a long list is mostly past months
    without a forecast); past ``limit`` lines, how many more."""
    ordered = sorted(result.skipped.items(), reverse=True)
    shown = ordered if limit is None else ordered[:limit]
    lines = [f"  schedule {record_id}: {why}" for record_id, why in shown]
    if len(ordered) > len(shown):
        lines.append(f"  … and {len(ordered) - len(shown)} more skipped")
    return lines


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
        if rec.get("form_code") and rec["form_code"] not in FORECAST_FORMS:
            result.skipped[rec["id"]] = (f"form {rec['form_code']}: the forecast is of the monthly expanded "
                                         f"withholding ({', '.join(FORECAST_FORMS)})")
            continue
        months = _months(rec["period_start"], rec["period_end"])
        if not months:
            result.skipped[rec["id"]] = (f"its period ends ({rec['period_end']}) before it starts "
                                         f"({rec['period_start']})")
            continue
        if len(months) != 1:
            result.skipped[rec["id"]] = (f"covers {len(months)} months ({months[0]}..{months[-1]}); the forecast is "
                                         "per month")
            continue
        found = by_key.get((agency, months[0]))
        if found is None:
            result.skipped[rec["id"]] = f"no forecast for {agency} {months[0]}"
            continue
        vals: dict[str, Any] = {field: round(getattr(found, attr), 2) for field, attr in VALUES}
        vals["lake_model_version"] = found.model_version
        if all(round(float(rec.get(field) or 0.0), 2) == vals[field] for field, _ in VALUES) and rec.get(
                "lake_model_version") == found.model_version:
            result.unchanged.append(rec["id"])
            continue
        if found.scored_at or now:
            vals["lake_scored_at"] = found.scored_at or now
        try:
            client.write(SCHEDULE_MODEL, [rec["id"]], vals)
        except OdooError as exc:
            written = result.written
            done = (f"record {written[0]} was written" if len(written) == 1 else
                    f"records {', '.join(map(str, written))} were written" if written else "none was written")
            raise type(exc)(f"writing the forecast to {SCHEDULE_MODEL} record {rec['id']} ({agency} {months[0]}) "
                            f"failed ({done}; running again writes what still differs): {exc}") from exc
        result.written.append(rec["id"])
    return result


def predictions_from_lake(spark: Any, table: str = "gold.bir_forecast") -> list[Prediction]:
    """The coming months' forecasts (``kind = 'forecast'``); backtest rows are history, never written to Odoo."""
    from pyspark.sql import functions as F

    forecast = spark.table(table)
    # seconds since the epoch: a timestamp collected comes back in the client's local time, Odoo wants UTC
    scored = F.unix_timestamp("scored_at") if "scored_at" in forecast.columns else F.lit(None)
    rows = (forecast.where("kind = 'forecast'")
            .select("agency", "period", "predicted_wht", "predicted_wht_p10", "predicted_wht_p90", "model_version",
                    scored.alias("scored_at"))
            .collect())
    return [Prediction(r["agency"], r["period"], float(r["predicted_wht"]), str(r["model_version"]),
                       float(r["predicted_wht_p10"]), float(r["predicted_wht_p90"]),
                       None if r["scored_at"] is None else
                       datetime.fromtimestamp(r["scored_at"], UTC).strftime("%Y-%m-%d %H:%M:%S")) for r in rows]
