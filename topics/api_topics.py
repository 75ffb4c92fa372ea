"""Topic API: list, create, detail, delete, configs, partitions (DESIGN.md paths)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from backbone_admin.kafka import InvalidRequest
from backbone_admin.models import Role
from backbone_admin.roles import require_cluster_visible, require_role, require_topic_role
from topics import listing, services
from topics.configs import SPECS
from topics.detail import TopicDetail, read_topic
from topics.models import RetentionPolicy


class ListQuerySerializer(serializers.Serializer[Any]):
    search = serializers.CharField(required=False, allow_blank=True, default="")
    sort = serializers.ChoiceField(listing.SORTS, required=False, default="name")
    order = serializers.ChoiceField(["asc", "desc"], required=False, default="asc")
    page = serializers.IntegerField(required=False, min_value=1, default=1)
    page_size = serializers.IntegerField(
        required=False, min_value=1, max_value=listing.MAX_PAGE_SIZE, default=listing.PAGE_SIZE
    )
    internal = serializers.BooleanField(required=False, default=False)
    refresh = serializers.BooleanField(required=False, default=False)


class TopicRowSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    partitions = serializers.IntegerField()
    replication_factor = serializers.IntegerField()
    under_replicated = serializers.IntegerField()
    internal = serializers.BooleanField()
    messages = serializers.IntegerField(allow_null=True, help_text="approximate: Σ high - low watermark")
    size = serializers.IntegerField(allow_null=True, help_text="same as size_bytes (kept for existing scripts)")
    size_bytes = serializers.IntegerField(allow_null=True, help_text=listing.SIZE_UNAVAILABLE)
    retention_ms = serializers.IntegerField(allow_null=True)
    retention_bytes = serializers.IntegerField(allow_null=True)
    retention_ms_human = serializers.CharField()
    retention_bytes_human = serializers.CharField()
    cleanup_policy = serializers.CharField(allow_null=True)
    retention_policy = serializers.CharField(allow_null=True)


class TopicListSerializer(serializers.Serializer[Any]):
    count = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    fetched_at = serializers.FloatField(help_text="when the metadata was read from the cluster (epoch seconds)")
    warnings = serializers.ListField(child=serializers.CharField())
    size_unknown = serializers.CharField(allow_null=True, help_text="why size_bytes is null for every topic, if it is")
    results = TopicRowSerializer(many=True)


class TopicCreateSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=300, trim_whitespace=True)
    partitions = serializers.IntegerField(default=1)
    replication_factor = serializers.IntegerField(default=1)
    configs = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False, default=dict)
    retention_policy = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, help_text="a policy whose configs pre-fill `configs`"
    )


class ReplicaSizeSerializer(serializers.Serializer[Any]):
    broker = serializers.IntegerField()
    log_dir = serializers.CharField()
    size_bytes = serializers.IntegerField()
    offset_lag = serializers.IntegerField(help_text="log end minus high watermark (future log: behind the current)")
    future = serializers.BooleanField(help_text="a copy being moved to another log directory")


class PartitionSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    leader = serializers.IntegerField()
    replicas = serializers.ListField(child=serializers.IntegerField())
    isr = serializers.ListField(child=serializers.IntegerField())
    low = serializers.IntegerField(allow_null=True)
    high = serializers.IntegerField(allow_null=True)
    messages = serializers.IntegerField(allow_null=True)
    size_bytes = serializers.IntegerField(allow_null=True, help_text="the largest live replica's bytes; null: unknown")
    replicas_size_bytes = ReplicaSizeSerializer(many=True, help_text="every replica's log on its broker")


class ConfigSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    value = serializers.CharField(allow_null=True)
    source = serializers.CharField()  # type: ignore[assignment]
    is_default = serializers.BooleanField()
    read_only = serializers.BooleanField()  # type: ignore[assignment]
    sensitive = serializers.BooleanField()
    differs_from_default = serializers.BooleanField()
    human = serializers.CharField()


class GroupLagSerializer(serializers.Serializer[Any]):
    group_id = serializers.CharField()
    state = serializers.CharField()
    lag = serializers.IntegerField()
    # Events on partitions with no commit yet (what auto.offset.reset=earliest would read): not lag.
    uncommitted = serializers.IntegerField(allow_null=True)
    members = serializers.IntegerField()
    assignor_short = serializers.CharField()
    partitions = serializers.ListField(child=serializers.DictField())
    partitions_without_commit = serializers.ListField(child=serializers.DictField())


class TopicDetailSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    internal = serializers.BooleanField()
    replication_factor = serializers.IntegerField()
    messages = serializers.IntegerField(allow_null=True)
    size_bytes = serializers.IntegerField(allow_null=True, help_text=listing.SIZE_UNAVAILABLE)
    size_unknown = serializers.CharField(allow_null=True, help_text="why sizes are unknown, when they are")
    retention_policy = serializers.CharField(allow_null=True)
    partitions = PartitionSerializer(many=True)
    configs = ConfigSerializer(many=True)
    consumer_groups = GroupLagSerializer(many=True)
    warnings = serializers.ListField(child=serializers.CharField())


class ChangeSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    before = serializers.CharField(allow_null=True)
    after = serializers.CharField(allow_null=True)
    before_human = serializers.CharField()
    after_human = serializers.CharField()


class PartitionsSerializer(serializers.Serializer[Any]):
    total = serializers.IntegerField(min_value=1, help_text="the new partition count; must be more than now")


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
    OpenApiParameter("internal", bool, description="include internal topics (`__…`)"),
    OpenApiParameter(
        "refresh",
        bool,
        description="read the cluster now instead of the short-lived cache; at most once per user every "
        "REFRESH_USER_INTERVAL (10 s) and per cluster every REFRESH_CLUSTER_INTERVAL (2 s), otherwise the "
        "cached data is served with a note in `warnings`",
    ),
]


@extend_schema(
    methods=["GET"], operation_id="topics_list", parameters=LIST_PARAMS, responses={200: TopicListSerializer}
)
@extend_schema(
    methods=["POST"], operation_id="topics_create", request=TopicCreateSerializer, responses={201: OpenApiTypes.OBJECT}
)
@api_view(["GET", "POST"])
def topics(request: Request, cluster: str) -> Response:
    """List topics (searched, sorted, paginated) or create one."""
    if request.method == "POST":
        return _create(request, cluster)
    # Anyone who sees some topic of the cluster; topic_page lists only the visible ones.
    require_cluster_visible(request.user, cluster)
    query = ListQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    params = query.validated_data
    page = listing.topic_page(cluster, **params, user=request.user)
    return Response(
        {
            "count": page.count,
            "next": _page_link(request, page.page + 1) if page.has_next else None,
            "previous": _page_link(request, page.page - 1) if page.has_previous else None,
            "fetched_at": page.fetched_at,
            "warnings": page.warnings,
            "size_unknown": page.size_unknown,
            "results": [row.as_dict() for row in page.rows],
        }
    )


def _create(request: Request, cluster: str) -> Response:
    require_role(request.user, cluster, Role.OPERATOR, change=True)
    body = TopicCreateSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    data = body.validated_data
    configs: dict[str, object] = {}
    if data.get("retention_policy"):
        policy = RetentionPolicy.objects.filter(name=data["retention_policy"]).first()
        if policy is None:
            message = f"there is no retention policy `{data['retention_policy']}`"
            raise InvalidRequest(message, fields={"retention_policy": message})
        configs.update(policy.configs)
    configs.update(data["configs"])
    created = services.topic_create(
        user=request.user,
        cluster=cluster,
        name=data["name"],
        partitions=data["partitions"],
        replication_factor=data["replication_factor"],
        configs=configs,
        request=request._request,
    )
    location = reverse("api-topic", kwargs={"cluster": cluster, "topic": created["name"]})
    return Response(created, status=201, headers={"Location": location})


@extend_schema(methods=["GET"], operation_id="topics_retrieve", responses={200: TopicDetailSerializer})
@extend_schema(
    methods=["DELETE"],
    parameters=[OpenApiParameter("confirm", str, description="must equal the topic name")],
    request=inline_serializer("TopicDelete", {"confirm": serializers.CharField()}),
    responses={204: None},
)
@api_view(["GET", "DELETE"])
def topic(request: Request, cluster: str, topic: str) -> Response:
    """A topic's partitions, watermarks, configs and consumer groups; or delete it (admin)."""
    if request.method == "DELETE":
        require_topic_role(request.user, cluster, topic, Role.ADMIN, change=True)
        body = request.data if isinstance(request.data, dict) else {}
        confirm = str(body.get("confirm") or request.query_params.get("confirm") or "")
        services.topic_delete(
            user=request.user, cluster=cluster, topic=topic, confirm_name=confirm, request=request._request
        )
        return Response(status=204)
    require_topic_role(request.user, cluster, topic, Role.VIEWER)
    detail = read_topic(cluster, topic, request.user)
    return Response(detail_payload(detail))


def detail_payload(detail: TopicDetail) -> dict[str, Any]:
    return {
        "name": detail.name,
        "internal": detail.internal,
        "replication_factor": detail.replication_factor,
        "messages": detail.messages,
        "size_bytes": detail.size_bytes,
        "size_unknown": detail.sizes.unknown if detail.sizes is not None else None,
        "retention_policy": detail.policy,
        "partitions": [
            {
                "id": p.id,
                "leader": p.leader,
                "replicas": list(p.replicas),
                "isr": list(p.isr),
                "low": p.low,
                "high": p.high,
                "messages": p.messages,
                "size_bytes": p.size,
                "replicas_size_bytes": [
                    {
                        "broker": r.broker,
                        "log_dir": r.log_dir,
                        "size_bytes": r.size,
                        "offset_lag": r.offset_lag,
                        "future": r.future,
                    }
                    for r in p.replica_sizes
                ],
            }
            for p in detail.partitions
        ],
        "configs": [
            {
                "name": c.name,
                "value": c.value,
                "source": c.source,
                "is_default": c.is_default,
                "read_only": c.read_only,
                "sensitive": c.sensitive,
                "differs_from_default": c.differs_from_default,
                "human": c.human,
            }
            for c in detail.configs
        ],
        "consumer_groups": [
            {
                "group_id": g.group_id,
                "state": g.state,
                "lag": g.lag,
                "uncommitted": g.uncommitted_events,
                "members": g.members,
                "assignor_short": g.assignor_short,
                "partitions": [
                    {"partition": p, "committed": off, "high": high, "lag": lag} for p, off, high, lag in g.partitions
                ],
                "partitions_without_commit": [{"partition": p, "events": n} for p, n in g.uncommitted],
            }
            for g in detail.groups
        ],
        "warnings": detail.warnings,
    }


@extend_schema(
    request=inline_serializer("TopicConfigPatch", {"<config name>": serializers.CharField(allow_null=True)}),
    parameters=[OpenApiParameter("dry_run", bool, description="show the changes without applying them")],
    responses={200: inline_serializer("TopicConfigChanges", {"changes": ChangeSerializer(many=True)})},
    description="A flat dict of config name → value (human units accepted: `7d`, `500MB`, `unlimited`); "
    "null reverts a config to its default. All values are checked before one incremental alter.",
)
@api_view(["PATCH"])
def topic_configs(request: Request, cluster: str, topic: str) -> Response:
    """Change a topic's configs, all or nothing."""
    require_topic_role(request.user, cluster, topic, Role.OPERATOR, change=True)
    if not isinstance(request.data, dict):
        raise InvalidRequest("the body must be a JSON object of config name → value")
    if len(request.data) > len(SPECS):
        message = f"at most {len(SPECS)} topic configs in one request ({len(request.data):,} given)"
        raise InvalidRequest(message, fields={"configs": message})
    set_values: dict[str, object] = {}
    delete: list[str] = []
    problems: dict[str, str] = {}
    for key, value in request.data.items():
        if value is None:
            delete.append(key)
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            set_values[key] = value
        else:
            problems[key] = "the value must be a string, a number or null"
    if problems:
        raise InvalidRequest("Invalid topic configs: " + "; ".join(problems.values()), fields=problems)
    changes = services.topic_configure(
        user=request.user,
        cluster=cluster,
        topic=topic,
        set_values=set_values,
        delete=delete,
        dry_run=request.query_params.get("dry_run") in ("1", "true"),
        request=request._request,
    )
    return Response({"changes": [c.as_dict() for c in changes]})


@extend_schema(
    request=PartitionsSerializer,
    responses={
        200: inline_serializer(
            "TopicPartitionsResult", {"name": serializers.CharField(), "partitions": serializers.IntegerField()}
        )
    },
)
@api_view(["POST"])
def topic_partitions(request: Request, cluster: str, topic: str) -> Response:
    """Increase the partition count (keys then map to different partitions)."""
    require_topic_role(request.user, cluster, topic, Role.OPERATOR, change=True)
    body = PartitionsSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    total = services.topic_add_partitions(
        user=request.user, cluster=cluster, topic=topic, total=body.validated_data["total"], request=request._request
    )
    return Response({"name": topic, "partitions": total})
