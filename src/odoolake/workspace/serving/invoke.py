"""One scoring request, parsed and answered exactly as ``mlflow models serve`` would (same parser, same errors)."""

from __future__ import annotations

from odoolake.workspace.serving.models import LoadedModel

MAX_PAYLOAD = 16 * 1024 * 1024  # Databricks Model Serving's request limit


def score(model: LoadedModel, body: bytes, content_type: str | None) -> tuple[int, str, str]:
    """(status, body, media type) for one request body."""
    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc.scoring_server import invocations

    try:
        result = invocations(body, content_type or "application/json", model.pyfunc, model.input_schema)
    except MlflowException as exc:
        return exc.get_http_status_code(), exc.serialize_as_json(), "application/json"
    return result.status, result.response, result.mimetype
