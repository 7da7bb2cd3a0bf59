"""The HTTP call to a model serving endpoint (Databricks or the odoolake local workspace).

Pure Python, no Odoo import: the same function runs inside Odoo and in odoolake's tests against the real
local serving endpoint. One request carries every record (``dataframe_records``), with a timeout; every
failure becomes a ``PredictionError`` whose message a user can act on and which never contains the token.
"""

import requests

FEATURES = ("prev_month_wht", "prev_year_wht", "income_tax", "vat")


class PredictionError(Exception):
    pass


def predict_batch(url, token, rows, timeout=10.0, session=None):
    """Predicted withholding tax for each row (dicts with the FEATURES), in order."""
    if not url:
        raise PredictionError("The serving endpoint URL is not set (Settings > Finance PPM > BIR tax forecast).")
    if not rows:
        return []
    payload = {"dataframe_records": [{name: float(row.get(name) or 0.0) for name in FEATURES} for row in rows]}
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    try:
        response = (session or requests).post(url, json=payload, headers=headers, timeout=timeout)
    except requests.Timeout:
        raise PredictionError(f"The serving endpoint did not answer within {timeout:g} s.") from None
    except requests.RequestException as exc:
        raise PredictionError(f"The serving endpoint could not be reached ({type(exc).__name__}).") from None
    if response.status_code in (401, 403):
        raise PredictionError(f"The serving endpoint refused the token (HTTP {response.status_code}); "
                              "update it in Settings.")
    if response.status_code != 200:
        try:
            detail = str(response.json().get("message", ""))[:300]
        except ValueError:
            detail = response.text[:300]
        raise PredictionError(f"The serving endpoint answered HTTP {response.status_code}: {detail}")
    try:
        predictions = response.json()["predictions"]
    except (ValueError, KeyError, TypeError):
        raise PredictionError("The serving endpoint's answer has no 'predictions'.") from None
    if not isinstance(predictions, list) or len(predictions) != len(rows):
        raise PredictionError(f"The serving endpoint returned {len(predictions) if isinstance(predictions, list) else 0}"
                              f" prediction(s) for {len(rows)} record(s).")
    return [float(p) for p in predictions]
