"""Retention pages. STUBS: replaced by the retention implementation."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse


def policy_list(request: HttpRequest) -> HttpResponse:
    return HttpResponse("not yet", status=501)


def policy_create(request: HttpRequest) -> HttpResponse:
    return HttpResponse("not yet", status=501)


def policy_edit(request: HttpRequest, name: str) -> HttpResponse:
    return HttpResponse("not yet", status=501)


def compliance(request: HttpRequest, cluster: str) -> HttpResponse:
    return HttpResponse("not yet", status=501)
