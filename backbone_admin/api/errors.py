"""API errors in one shape: {"error": "...", "fields": {...}} with the right status."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from backbone_admin.errors import denied
from backbone_admin.kafka.errors import BackboneError

log = logging.getLogger("backbone.api")


def _flatten(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        flat = [_flatten(item) for item in detail]
        return " ".join(str(item) for item in flat) if all(isinstance(i, str) for i in flat) else flat
    return str(detail)


def error_response(message: str, status_code: int, fields: dict[str, Any] | None = None) -> Response:
    return Response({"error": message, "fields": fields or {}}, status=status_code)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = _handle(exc, context)
    if response is not None and response.status_code == status.HTTP_403_FORBIDDEN:
        denied(response, response.data["error"])  # audited once, by AuditDeniedMiddleware
    return response


def _handle(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, BackboneError):
        return error_response(exc.message, exc.status, exc.fields)
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        if isinstance(detail, dict):
            fields = _flatten(detail)
            non_field = fields.pop("non_field_errors", None)
            message = non_field or "Invalid input: " + "; ".join(f"{k}: {v}" for k, v in fields.items())
            return error_response(str(message), status.HTTP_400_BAD_REQUEST, fields)
        return error_response(str(_flatten(detail)), status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return error_response(f"The request body is larger than the {limit:,}-byte limit.", 400)
    if isinstance(exc, SuspiciousOperation):
        return error_response("The request was refused as malformed.", 400)
    if isinstance(exc, Http404):
        return error_response("Not found.", status.HTTP_404_NOT_FOUND)
    if isinstance(exc, DjangoPermissionDenied):
        return error_response("You do not have permission to do this.", status.HTTP_403_FORBIDDEN)
    response = drf_exception_handler(exc, context)
    if response is not None:
        detail = response.data.get("detail", response.data) if isinstance(response.data, dict) else response.data
        response.data = {"error": str(_flatten(detail)), "fields": {}}
        return response
    log.exception("unhandled API error", exc_info=exc)
    return error_response("Internal error; it has been logged.", status.HTTP_500_INTERNAL_SERVER_ERROR)
