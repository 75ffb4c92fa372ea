"""Helpers for page views."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from backbone_admin.errors import denied
from backbone_admin.kafka import BackboneError


def backbone_errors(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Show a BackboneError as a page with its status instead of a 500."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except BackboneError as exc:
            template = "includes/error_fragment.html" if request.headers.get("HX-Request") else "error.html"
            response = render(request, template, {"message": exc.message, "status": exc.status}, status=exc.status)
            # A 403 is audited once, by AuditDeniedMiddleware, with this reason.
            return denied(response, exc.message) if exc.status == 403 else response

    return wrapper
