"""Consumer group API: list, detail (with lag history), delete, reset offsets (DESIGN.md paths)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from backbone_admin.kafka import InvalidRequest
from backbone_admin.models import Role
from backbone_admin.roles import require_cluster_visible
from topics.groups import history, lag, listing, rewind, services
from topics.groups.scope import scope_for


class ListQuerySerializer(serializers.Serializer[Any]):
    search = serializers.CharField(required=False, allow_blank=True, default="")
    sort = serializers.ChoiceField(listing.SORTS, required=False, default="name")
    order = serializers.ChoiceField(["asc", "desc"], required=False, default="asc")
    page = serializers.IntegerField(required=False, min_value=1, default=1)
    page_size = serializers.IntegerField(
        required=False, min_value=1, max_value=listing.MAX_PAGE_SIZE, default=listing.PAGE_SIZE
    )
    refresh = serializers.BooleanField(required=False, default=False)


class RewindSerializer(serializers.Serializer[Any]):
    topic = serializers.CharField(required=False, allow_null=True, allow_blank=True, help_text="default: every topic")
    partitions = serializers.ListField(child=serializers.IntegerField(min_value=0), required=False, allow_null=True)
    to = serializers.ChoiceField(rewind.KINDS)
    value = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text="timestamp: ms or ISO 8601 (naive = UTC); offset: n; shift: ±n; group: another group's id",
    )
    dry_run = serializers.BooleanField(required=False, default=True, help_text="preview only (the default)")


def _page_link(request: Request, page: int) -> str:
    query = request.query_params.copy()
    query["page"] = str(page)
    return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")


LIST_PARAMS = [
    OpenApiParameter("search", str, description="substring (case-insensitive), or `re:` + a regular expression"),
    OpenApiParameter("sort", str, enum=list(listing.SORTS)),
    OpenApiParameter("order", str, enum=["asc", "desc"]),
    OpenApiParameter("page", int),
    OpenApiParameter("page_size", int, description=f"default {listing.PAGE_SIZE}, at most {listing.MAX_PAGE_SIZE}"),
    OpenApiParameter("refresh", bool, description="read the cluster now instead of the short-lived cache"),
]


@extend_schema(operation_id="groups_list", parameters=LIST_PARAMS, responses={200: OpenApiTypes.OBJECT})
@api_view(["GET"])
def groups(request: Request, cluster: str) -> Response:
    """Consumer groups: state, members, topics, lag and events not yet committed (searched, sorted, paged).

    A user with resource-scoped grants gets the groups a group pattern of theirs matches and
    those with committed offsets on a topic they may see, with lag over the topics they may see.
    """
    config = require_cluster_visible(request.user, cluster)
    scope = scope_for(request.user, config.name)
    query = ListQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    page = listing.group_page(config.name, **query.validated_data, user=request.user, scope=scope)
    trends = history.recent(config.name, [r.group_id for r in page.rows], scope.topic_filter)
    return Response(
        {
            "count": page.count,
            "next": _page_link(request, page.page + 1) if page.has_next else None,
            "previous": _page_link(request, page.page - 1) if page.has_previous else None,
            "fetched_at": page.fetched_at,
            "warnings": page.warnings,
            "results": [row.as_dict() | {"lag_trend": trends.get(row.group_id, [])} for row in page.rows],
        }
    )


def detail_payload(detail: lag.GroupDetail, samples: list[history.Sample], range_name: str) -> dict[str, Any]:
    d = detail.description
    return {
        "group_id": detail.group_id,
        "state": d.state,
        "active": detail.active,
        "assignor": d.assignor,
        "assignor_short": detail.assignor_short,
        "state_label": detail.state_label,
        "coordinator": d.coordinator,
        "members": [
            {
                "member_id": m.member_id,
                "client_id": m.client_id,
                "host": m.host,
                "assignments": [{"topic": t, "partition": p} for t, p in m.assignments],
            }
            for m in d.members
        ],
        "lag": detail.lag,
        # Events on partitions of its topics without a commit (from the log start), not in `lag`.
        "uncommitted": detail.uncommitted,
        "uncommitted_partitions": len(detail.uncommitted_partitions),
        "max_time_lag_ms": detail.max_time_lag_ms,
        "topics": detail.topics,
        "partitions": [p.as_dict() for p in detail.partitions],
        "lag_history": {
            "range": range_name,
            "samples": [{"at": at.isoformat(), "lag": value, "uncommitted": unc} for at, value, unc in samples],
        },
        "warnings": detail.warnings,
    }


@extend_schema(
    methods=["GET"],
    operation_id="groups_retrieve",
    parameters=[OpenApiParameter("history", str, enum=list(history.RANGES), description="lag history range")],
    responses={200: OpenApiTypes.OBJECT},
)
@extend_schema(methods=["DELETE"], operation_id="groups_destroy", responses={204: None})
@api_view(["GET", "DELETE"])
def group(request: Request, cluster: str, group: str) -> Response:
    """Members, per-partition offsets, lag and time lag, lag history; or delete an empty group (admin)."""
    if request.method == "DELETE":
        services.group_delete(user=request.user, cluster=cluster, group=group, request=request._request)
        return Response(status=204)
    access = services.require_group_access(request.user, cluster, group, Role.VIEWER)
    range_name = request.query_params.get("history", history.DEFAULT_RANGE)
    if range_name not in history.RANGES:
        message = f"history must be one of {', '.join(history.RANGES)}"
        raise InvalidRequest(message, fields={"history": message})
    detail = services.read_detail(access, group)
    samples = history.series(access.config.name, group, range_name, access.scope.topic_filter)
    return Response(detail_payload(detail, samples, range_name))


@extend_schema(
    operation_id="groups_reset_offsets",
    request=RewindSerializer,
    responses={200: inline_serializer("RewindPlan", {"rows": serializers.ListField(child=serializers.DictField())})},
)
@api_view(["POST"])
def reset_offsets(request: Request, cluster: str, group: str) -> Response:
    """Preview (dry_run, the default) or apply a rewind: per partition current → new, re-consumed, skipped."""
    # Access first, so a refused request is refused whatever its body: previews are reads; a
    # hidden group or topic is a 404.
    raw = request.data if isinstance(request.data, dict) else {}
    applying = str(raw.get("dry_run", True)).strip().lower() in ("false", "0", "no", "off")
    topic = raw.get("topic")
    access = services.require_rewind_access(
        request.user, cluster, group, topic=topic.strip() if isinstance(topic, str) else None, applying=applying
    )
    body = RewindSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    req = rewind.parse_request(body.validated_data)
    plan = services.group_rewind(
        user=request.user, cluster=access.config.name, group=group, req=req, request=request._request, checked=access
    )
    return Response(plan.as_dict(applied=not req.dry_run))
