"""Error pages: JSON under /api/, a plain page elsewhere; never a traceback."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render


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


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"error": "Internal error; it has been logged.", "fields": {}}, status=500)
    return render(request, "error.html", {"message": "Something went wrong; it has been logged."}, status=500)
