"""Topic pages. STUBS: replaced by the topics implementation."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse


def topic_list(request: HttpRequest, cluster: str) -> HttpResponse:
    return HttpResponse("not yet", status=501)


def topic_create(request: HttpRequest, cluster: str) -> HttpResponse:
    return HttpResponse("not yet", status=501)


def topic_detail(request: HttpRequest, cluster: str, topic: str) -> HttpResponse:
    return HttpResponse("not yet", status=501)


def topic_configs(request: HttpRequest, cluster: str, topic: str) -> HttpResponse:
    return HttpResponse("not yet", status=501)


def topic_partitions(request: HttpRequest, cluster: str, topic: str) -> HttpResponse:
    return HttpResponse("not yet", status=501)


def topic_delete(request: HttpRequest, cluster: str, topic: str) -> HttpResponse:
    return HttpResponse("not yet", status=501)
