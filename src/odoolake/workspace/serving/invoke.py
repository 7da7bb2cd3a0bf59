"""One scoring request, parsed and answered exactly as ``mlflow models serve`` would (same parser, same errors).

One difference on purpose: a model version logged without an input signature is refused (HTTP 400), where
``mlflow models serve`` would pass whatever arrives to ``predict``. Without a signature nothing checks that a
request has the fields the model needs, and a missing field would be scored as if it were there.
"""

from __future__ import annotations

import json

from odoolake.workspace.serving.models import LoadedModel

MAX_PAYLOAD = 16 * 1024 * 1024  # Databricks Model Serving's request limit
NO_SIGNATURE = "NO_SIGNATURE"


def no_signature_message(model: LoadedModel) -> str:
    return (f"Model {model.name} version {model.version} has no input signature, so its required fields cannot be "
            "checked: log it again with a signature (mlflow.models.infer_signature or an explicit ModelSignature) "
            "and serve that version.")


def no_signature(model: LoadedModel) -> tuple[int, str, str]:
    body = {"error_code": "INVALID_PARAMETER_VALUE", "error_class": NO_SIGNATURE, "message": no_signature_message(model)}
    return 400, json.dumps(body), "application/json"


def score(model: LoadedModel, body: bytes, content_type: str | None) -> tuple[int, str, str]:
    """(status, body, media type) for one request body."""
    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc.scoring_server import invocations

    if model.input_schema is None:
        return no_signature(model)
    try:
        result = invocations(body, content_type or "application/json", model.pyfunc, model.input_schema)
    except MlflowException as exc:
        return exc.get_http_status_code(), exc.serialize_as_json(), "application/json"
    return result.status, result.response, result.mimetype
