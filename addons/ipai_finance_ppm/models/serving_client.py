"""The HTTP call to a model serving endpoint (Databricks or the odoolake local workspace).

Pure Python, no Odoo import: the same function runs inside Odoo and in odoolake's tests against the real
local serving endpoint. One request carries every record (``dataframe_records`` of agency and period), with a
timeout; the answer per record is the forecast and its interval. Every failure becomes a ``PredictionError``
whose message a user can act on and which never contains the token. Nothing is sent for a record with a
missing field: a missing value is an error, never a zero.
"""

import requests

INPUTS = ("agency", "period")
ANSWER = ("p10", "p50", "p90")


class PredictionError(Exception):
    pass


def check_timeout(timeout):
    """The timeout setting as seconds; a non-number, zero or less is an error naming the setting."""
    try:
        seconds = float(timeout)
    except (TypeError, ValueError):
        seconds = None
    if seconds is None or seconds != seconds or seconds <= 0:
        raise PredictionError(f"The timeout setting must be a positive number of seconds, got {timeout!r} "
                              "(Settings > Finance PPM > BIR tax forecast).")
    return seconds


def predict_batch(url, token, rows, timeout=10.0, session=None):
    """Forecast per row (dicts with agency and period "YYYY-MM"), in order: dicts with p10, p50, p90 and what
    the endpoint adds (horizon, origin, method)."""
    if not url:
        raise PredictionError("The serving endpoint URL is not set (Settings > Finance PPM > BIR tax forecast).")
    seconds = check_timeout(timeout)
    if not rows:
        return []
    for i, row in enumerate(rows):
        for name in INPUTS:
            if not row.get(name):
                raise PredictionError(f"Record {i + 1} has no {name}; nothing was sent.")
    payload = {"dataframe_records": [{name: str(row[name]) for name in INPUTS} for row in rows]}
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    try:
        response = (session or requests).post(url, json=payload, headers=headers, timeout=seconds)
    except requests.Timeout:
        raise PredictionError(f"The serving endpoint did not answer within {seconds:g} s.") from None
    except requests.RequestException as exc:
        raise PredictionError(f"The serving endpoint could not be reached ({type(exc).__name__}).") from None
    if response.status_code in (401, 403):
        raise PredictionError(f"The serving endpoint refused the token (HTTP {response.status_code}); "
                              "update it in Settings.")
    if response.status_code != 200:
        try:
            detail = str(response.json().get("message", ""))
        except ValueError:
            detail = response.text
        if "\nError: " in detail:  # MLflow's "Failed to predict data '<the request>'. \nError: <the reason>"
            detail = detail.split("\nError: ", 1)[1]
        detail = detail[:300]
        raise PredictionError(f"The serving endpoint answered HTTP {response.status_code}: {detail}")
    try:
        predictions = response.json()["predictions"]
    except (ValueError, KeyError, TypeError):
        raise PredictionError("The serving endpoint's answer has no 'predictions'.") from None
    if not isinstance(predictions, list) or len(predictions) != len(rows):
        raise PredictionError(f"The serving endpoint returned {len(predictions) if isinstance(predictions, list) else 0}"
                              f" prediction(s) for {len(rows)} record(s).")
    out = []
    for prediction in predictions:
        try:
            values = {name: float(prediction[name]) for name in ANSWER}
        except (KeyError, TypeError, ValueError):
            raise PredictionError("The serving endpoint's answer lacks p10/p50/p90: is it serving a "
                                  "bir_tax_forecaster version trained by this release?") from None
        out.append({**prediction, **values})
    return out
