"""The live tail page, and a JSON view of this process's tails for admins (is the consumer shared?)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_safe

from backbone_admin.errors import denied
from backbone_admin.kafka import BackboneError
from backbone_admin.kafka.topics import describe_topic
from backbone_admin.models import Role
from backbone_admin.roles import require_global_role
from backbone_admin.web import backbone_errors
from streams.events.filters import FILTER_EXAMPLES, FILTER_HELP
from streams.events.filters import MAX_LENGTH as FILTER_MAX_LENGTH
from streams.permissions import masked_for, require_reader
from streams.tail.hub import hub
from streams.tail.options import parse_rate


@require_safe
@backbone_errors
def tail(request: HttpRequest, cluster: str, topic: str) -> HttpResponse:
    config = require_reader(request.user, cluster, topic)
    described = describe_topic(config.name, topic)
    rate = request.GET.get("rate", "")
    try:
        rate_value = parse_rate(rate)
    except BackboneError:
        rate_value = parse_rate("")
    context = {
        "cluster": config.public(),
        "topic": described,
        "filter": request.GET.get("filter", "")[:FILTER_MAX_LENGTH],
        "filter_max": FILTER_MAX_LENGTH,
        "filter_help": FILTER_HELP,
        "filter_examples": FILTER_EXAMPLES,
        "rate": rate_value,
        "max_rate": settings.TAIL_MAX_RATE,
        "masked": masked_for(request.user, config.name, topic),
        "max_value": settings.TAIL_MAX_VALUE,
        "event_url": _event_url(config.name, topic),
    }
    return render(request, "streams/tail.html", context)


def _event_url(cluster: str, topic: str) -> str | None:
    """The event detail page (the browser's), where a row's whole event is shown."""
    try:
        return reverse("streams:event", kwargs={"cluster": cluster, "topic": topic})
    except NoReverseMatch:
        return None


@require_safe
def tail_stats(request: HttpRequest) -> HttpResponse:
    """This web process's tails: consumers open, viewers, their queues (global admins)."""
    try:
        require_global_role(request.user, Role.ADMIN)
    except BackboneError as exc:
        response = JsonResponse({"error": exc.message, "fields": exc.fields}, status=exc.status)
        return denied(response, exc.message) if exc.status == 403 else response
    return JsonResponse(hub.stats())
