"""Error pages: JSON under /api/, a plain page elsewhere; never a traceback."""

from __future__ import annotations

from typing import TypeVar

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import render

R = TypeVar("R", bound=HttpResponseBase)

_DENIED_REASON = "_backbone_denied_reason"


def denied(response: R, reason: str) -> R:
    """Say why a 403 was answered; AuditDeniedMiddleware writes it to the audit log."""
    setattr(response, _DENIED_REASON, reason)
    return response


def denied_reason(response: HttpResponseBase) -> str:
    return str(getattr(response, _DENIED_REASON, "") or f"HTTP {response.status_code}")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"error": "Not found.", "fields": {}}, status=404)
    return render(request, "error.html", {"message": "There is no page at this address."}, status=404)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if isinstance(exception, RequestDataTooBig):
        message = f"The request is larger than the {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,}-byte limit."
    else:
        message = "The request was refused as malformed."
    if request.path.startswith("/api/"):
        return JsonResponse({"error": message, "fields": {}}, status=400)
    return render(request, "error.html", {"message": message, "status": 400}, status=400)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form that expired or was posted from another site (settings.CSRF_FAILURE_VIEW)."""
    message = "The form was refused: it expired or was not sent from this console. Reload the page and try again."
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"error": message, "fields": {}}, status=403)
    else:
        response = render(request, "error.html", {"message": message, "status": 403}, status=403)
    return denied(response, f"CSRF check failed: {reason}")


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"error": "Internal error; it has been logged.", "fields": {}}, status=500)
    return render(request, "error.html", {"message": "Something went wrong; it has been logged."}, status=500)
