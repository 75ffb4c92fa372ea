"""Throughput API: a topic's events/s series; a cluster's totals (in, out) and busiest topics."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from backbone_admin.kafka import InvalidRequest
from backbone_admin.models import Role
from backbone_admin.roles import require_cluster_visible, require_topic_role, topic_not_found
from topics.groups.history import DEFAULT_RANGE, RANGES
from topics.listing import topic_index
from topics.throughput import consumption, series
from topics.visibility import topic_filter

RANGE_PARAM = OpenApiParameter("range", str, enum=list(RANGES), description=f"default {DEFAULT_RANGE}")


def _range(request: Request) -> str:
    name = request.query_params.get("range") or DEFAULT_RANGE
    if name not in RANGES:
        raise InvalidRequest(f"range must be one of {', '.join(RANGES)}")
    return name


def require_topic_exists(cluster: str, topic: str) -> None:
    """404 for a topic the cluster does not hold (the last known index while the cluster is down)."""
    _, rows = topic_index(cluster, warnings=[])
    if not any(row[0] == topic for row in rows):
        raise topic_not_found(cluster, topic)


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _points(points: list[series.Point]) -> list[dict[str, Any]]:
    return [{"at": at.isoformat(), "per_second": value} for at, value in points]


@extend_schema(operation_id="topic_throughput", parameters=[RANGE_PARAM], responses={200: OpenApiTypes.OBJECT})
@api_view(["GET"])
def topic_throughput(request: Request, cluster: str, topic: str) -> Response:
    """Events/s appended to a topic: the last interval's rate and a series over the range.

    Each point is the mean rate of its time bucket; null: no sample in it (the sampler was not running).
    """
    config = require_topic_role(request.user, cluster, topic, Role.VIEWER)
    range_name = _range(request)
    require_topic_exists(config.name, topic)
    at, rates = series.current_rates(config.name)
    return Response(
        {
            "cluster": config.name,
            "topic": topic,
            "range": range_name,
            "sampled_at": _iso(at),
            "per_second": rates.get(topic, 0.0) if at is not None else None,
            "points": _points(series.topic_series(config.name, topic, range_name)),
        }
    )


@extend_schema(operation_id="cluster_throughput", parameters=[RANGE_PARAM], responses={200: OpenApiTypes.OBJECT})
@api_view(["GET"])
def cluster_throughput(request: Request, cluster: str) -> Response:
    """Events/s in (appended) and out (consumed by groups) over the topics the user may see (not internal ones).

    With the busiest topics of the last interval and the series of "in" over the range.
    """
    config = require_cluster_visible(request.user, cluster)
    range_name = _range(request)
    visible = topic_filter(request.user, config.name)
    at, rates = series.current_rates(config.name, visible, internal=False)
    return Response(
        {
            "cluster": config.name,
            "range": range_name,
            "sampled_at": _iso(at),
            "in_per_second": round(sum(rates.values()), 3) if at is not None else None,
            "out_per_second": consumption.cluster_consumed(config.name, visible),
            "busiest": [{"topic": t, "per_second": r} for t, r in series.busiest(config.name, visible)],
            "points": _points(series.cluster_series(config.name, range_name, visible)),
        }
    )
