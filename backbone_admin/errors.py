"""Error pages: JSON under /api/, a plain page elsewhere; never a traceback."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"error": "Not found.", "fields": {}}, status=404)
    return render(request, "error.html", {"message": "There is no page at this address."}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"error": "Internal error; it has been logged.", "fields": {}}, status=500)
    return render(request, "error.html", {"message": "Something went wrong; it has been logged."}, status=500)
