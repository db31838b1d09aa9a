"""One error shape for the whole API: {"error": code, "detail": human reason, "fields": {...}?}."""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from dhportal.errors import DomainError


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
