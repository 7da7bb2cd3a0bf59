"""API errors in the Databricks shape: ``{"error_code": …, "message": …}`` with the matching status.

Class names follow the SDK's error classes, and messages follow the service's wording, which the SDK's
overrides match (e.g. 400 INVALID_PARAMETER_VALUE "Job 5 does not exist." → ResourceDoesNotExist).
"""

from __future__ import annotations

from odoolake.errors import OdoolakeError


class ApiError(OdoolakeError):
    status = 500
    error_code = "INTERNAL_ERROR"

    def __init__(self, message: str, *, error_code: str | None = None, status: int | None = None) -> None:
        self.message = message
        if error_code:
            self.error_code = error_code
        if status:
            self.status = status
        super().__init__(message)

    def body(self) -> dict[str, str]:
        return {"error_code": self.error_code, "message": self.message}


class InvalidParameterValue(ApiError):
    status, error_code = 400, "INVALID_PARAMETER_VALUE"


class MalformedRequest(ApiError):
    status, error_code = 400, "MALFORMED_REQUEST"


class InvalidState(ApiError):
    status, error_code = 400, "INVALID_STATE"


class ResourceDoesNotExist(ApiError):
    status, error_code = 404, "RESOURCE_DOES_NOT_EXIST"


class ResourceAlreadyExists(ApiError):
    status, error_code = 409, "RESOURCE_ALREADY_EXISTS"


class ResourceConflict(ApiError):
    status, error_code = 409, "RESOURCE_CONFLICT"


class Unauthenticated(ApiError):
    status, error_code = 401, "UNAUTHENTICATED"


class PermissionDenied(ApiError):
    status, error_code = 403, "PERMISSION_DENIED"


class EndpointNotFound(ApiError):
    status, error_code = 404, "ENDPOINT_NOT_FOUND"


class NotImplementedLocally(ApiError):
    status, error_code = 501, "NOT_IMPLEMENTED"


class RequestTooLarge(ApiError):
    status, error_code = 400, "MAX_REQUEST_SIZE_EXCEEDED"


def missing(kind: str, key: object) -> InvalidParameterValue:
    """The 400 Databricks sends for a missing job/run/cluster (the SDK maps it to ResourceDoesNotExist)."""
    return InvalidParameterValue(f"{kind} {key} does not exist.")
