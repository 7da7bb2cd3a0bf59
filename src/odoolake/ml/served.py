"""The served form of ``bir_tax_forecaster``: ask with an agency and a month, get the forecast and its interval.

A version is trained at a forecast date: its forecasts for the next months are fixed by the data up to then, and
the Odoo addon can send nothing else that would change them (it knows the company and the period). So the
served model holds the version's forecast table and answers from it, checking every row:

- ``agency`` must be one the version forecasts; ``period`` must be ``YYYY-MM`` (or a ``YYYY-MM-DD`` date in that
  month) inside the version's horizon. Anything else is an ``INVALID_PARAMETER_VALUE`` error (HTTP 400) naming
  the field, the row and what would be accepted; a missing value is an error, never a zero.
- The answer per row: agency, period, p10, p50 (the forecast), p90, horizon, origin (the last closed month the
  forecast used) and method.

Only pandas and MLflow are imported here: serving never loads the training libraries. A version is logged as code
(``served_model.py``, MLflow's models from code) with its forecast table as an artifact: loading it unpickles
nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.pyfunc import PythonModel

from odoolake.ml.calendar import parse_period, period_of

FORECAST_ARTIFACT = "forecast"  # the version's forecast table: a JSON list of rows with OUTPUT_COLUMNS but method
METHOD_CONFIG = "method"  # model_config key: the champion method whose forecasts the table holds
MODEL_CODE = Path(__file__).with_name("served_model.py")  # what log_model logs as the model
INPUT_COLUMNS = ("agency", "period")
OUTPUT_COLUMNS = ("agency", "period", "p10", "p50", "p90", "horizon", "origin", "method")


class ServingInputError(ValueError):
    """A request row the model cannot answer; the message names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value) or (isinstance(value, str) and not value.strip())


def answer(rows: Iterable[Mapping[str, Any]], table: Mapping[tuple[str, str], Mapping[str, Any]]) -> list[dict]:
    """The forecast rows for ``rows`` from ``table`` ((agency, period) -> row); raises ``ServingInputError``."""
    agencies = sorted({a for a, _ in table})
    periods = sorted({p for _, p in table})
    out = []
    for i, row in enumerate(rows):
        agency, period = row.get("agency"), row.get("period")
        if _missing(agency):
            raise ServingInputError("agency", f"agency is missing in row {i}: send the company's agency code "
                                              f"({', '.join(agencies)}).")
        if _missing(period):
            raise ServingInputError("period", f"period is missing in row {i}: send the month as YYYY-MM.")
        if not isinstance(agency, str):
            raise ServingInputError("agency", f"agency must be text in row {i}, got {agency!r}.")
        parsed = parse_period(period)
        if parsed is None:
            raise ServingInputError("period", f"period {period!r} in row {i} is not a month: send YYYY-MM "
                                              "(or a YYYY-MM-DD date in that month).")
        month = period_of(*parsed)
        key = (agency.strip(), month)
        if key[0] not in agencies:
            raise ServingInputError("agency", f"agency {agency!r} in row {i} is not one this model version "
                                              f"forecasts ({', '.join(agencies)}).")
        found = table.get(key)
        if found is None:
            raise ServingInputError("period", f"period {month} in row {i} is outside this model version's forecast "
                                              f"horizon ({periods[0]}..{periods[-1]}); a newer version forecasts "
                                              "later months after the next month-end.")
        out.append({name: found[name] for name in OUTPUT_COLUMNS})
    return out


def table_of(records: Iterable[Mapping[str, Any]], method: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(agency, period) -> the answer's row, for forecast rows made by ``method``."""
    return {(r["agency"], r["period"]): {k: (method if k == "method" else r[k]) for k in OUTPUT_COLUMNS}
            for r in records}


def write_forecast(forecast: pd.DataFrame, path: Path) -> Path:
    """The forecast rows as the artifact :meth:`ForecastTableModel.load_context` reads."""
    columns = [c for c in OUTPUT_COLUMNS if c != "method"]
    # json writes each float exactly (pandas' to_json rounds to 10 digits: a review found 0.30000000000000004 → 0.3)
    path.write_text(json.dumps(forecast[columns].to_dict(orient="records")))
    return path


class ForecastTableModel(PythonModel):
    """The pyfunc logged for each version: its forecast table, answered through :func:`answer`.

    ``model_input`` is hinted as a DataFrame, which MLflow cannot derive a schema from: the explicit signature
    (:func:`signature`) stays the contract.
    """

    table: dict[tuple[str, str], dict[str, Any]]

    def load_context(self, context) -> None:
        """The table from the version's artifact. (Versions logged before models from code were pickled with their
        table and have no artifact.)"""
        if FORECAST_ARTIFACT in (context.artifacts or {}):
            records = json.loads(Path(context.artifacts[FORECAST_ARTIFACT]).read_text())
            self.table = table_of(records, context.model_config[METHOD_CONFIG])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        for column in INPUT_COLUMNS:
            if column not in frame.columns:
                raise MlflowException(f"{column} is missing: send agency and period for every row.",
                                      error_code=INVALID_PARAMETER_VALUE)
        try:
            rows = answer(frame[list(INPUT_COLUMNS)].to_dict(orient="records"), self.table)
        except ServingInputError as exc:
            raise MlflowException(f"Invalid {exc.field}: {exc}", error_code=INVALID_PARAMETER_VALUE) from None
        return pd.DataFrame(rows, columns=list(OUTPUT_COLUMNS))


def signature():
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    inputs = Schema([ColSpec("string", name) for name in INPUT_COLUMNS])
    outputs = Schema([ColSpec("string", "agency"), ColSpec("string", "period"), ColSpec("double", "p10"),
                      ColSpec("double", "p50"), ColSpec("double", "p90"), ColSpec("long", "horizon"),
                      ColSpec("string", "origin"), ColSpec("string", "method")])
    return ModelSignature(inputs=inputs, outputs=outputs)
