"""One error shape for the whole API: {"error": code, "detail": human reason, "fields": {...}?}."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from web.errors import DomainError


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        return Response({"error": exc.code, "detail": str(exc)}, status=exc.http_status)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(data, dict) and "detail" in data and len(data) == 1:
        response.data = {"error": getattr(data["detail"], "code", "error"), "detail": str(data["detail"])}
    else:
        response.data = {"error": "invalid", "detail": "The request has invalid fields.", "fields": data}
    if response.status_code == status.HTTP_500_INTERNAL_SERVER_ERROR:
        response.data["detail"] = "Internal error"
    return response


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {
        "error": {
            "type": "string",
            "description": "machine-readable code, e.g. invalid, not_found, conflict",
        },
        "detail": {"type": "string", "description": "what is wrong, for a person"},
        "fields": {
            "description": "for invalid requests: each field's errors, as the serializer reports them"
        },
    },
}
ERROR_DESCRIPTIONS = {
    "400": "The request is invalid: `fields` names what is wrong.",
    "401": "Not authenticated: no, a malformed, or a revoked token.",
    "403": "Not allowed for this account or node.",
    "404": "No such object, or not visible to this account.",
    "409": "Refused in the object's current state (a round's state, a duplicate).",
    "413": "The body is over the upload limit: DH_MAX_UPLOAD_BYTES, or a round's own (what its model's update takes).",
    "415": "The body's media type is not one this endpoint reads.",
    "429": "Too many attempts: try again after Retry-After seconds.",
}
ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


def declare_error_responses(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook: every operation documents the errors it can answer, all in the
    one error shape above, so clients (and the schema-driven tests) know every status they may get."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path, operations in result["paths"].items():
        for method, operation in operations.items():
            codes = ["400", "403"]
            if any("TokenAuth" in requirement for requirement in operation.get("security", [])):
                codes.append("401")
            if "{" in path:
                codes.append("404")
            if method in ("post", "put", "patch", "delete"):
                codes.append("409")
            if "requestBody" in operation:
                codes += ["413", "415"]
            for code in codes:
                operation["responses"].setdefault(
                    code, {"description": ERROR_DESCRIPTIONS[code], "content": ERROR_CONTENT}
                )
            throttled = operation["responses"].get("429")
            if (
                throttled is not None
            ):  # declared by a throttled view (extend_schema): the error shape, Retry-After
                throttled["content"] = ERROR_CONTENT
                throttled["headers"] = {
                    "Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}}
                }
    return result


@csrf_exempt  # answers 404 to every method; nothing to protect, and no HTML 403 in the API
def api_not_found(request: HttpRequest) -> JsonResponse:
    """Any path under /api/ that names no endpoint (a wrong id format, a missing slash): a 404 in the API's
    error shape rather than Django's HTML page."""
    return JsonResponse(
        {"error": "not_found", "detail": f"No API endpoint at {request.path} (API paths end with a slash)"},
        status=404,
    )
