from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from backbone_admin.clusters import all_clusters
from backbone_admin.kafka import ClusterHealth
from backbone_admin.roles import require_cluster_visible, role_on, visible_clusters
from topics.figures import scoped_healths
from topics.refresh import health_with_refresh, warning_header


class BrokerSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    host = serializers.CharField()
    port = serializers.IntegerField()
    rack = serializers.CharField(allow_null=True)
    is_controller = serializers.BooleanField()


class ClusterSerializer(serializers.Serializer[Any]):
    """Documents the shape of a cluster in responses."""

    name = serializers.CharField()
    bootstrap_servers = serializers.CharField()
    security_protocol = serializers.CharField()
    sasl_mechanism = serializers.CharField(allow_null=True)
    schema_registry_url = serializers.CharField(allow_null=True)
    read_only = serializers.BooleanField()  # type: ignore[assignment]
    role = serializers.CharField(
        allow_null=True, help_text="the role on the whole cluster; null when grants cover only some of its topics"
    )
    status = serializers.ChoiceField(["ok", "degraded", "down"])
    error = serializers.CharField(allow_null=True)
    checked_at = serializers.FloatField()
    cluster_id = serializers.CharField(allow_null=True)
    controller_id = serializers.IntegerField(allow_null=True)
    brokers = BrokerSerializer(many=True, allow_null=True)
    topic_count = serializers.IntegerField(allow_null=True)
    internal_topic_count = serializers.IntegerField(allow_null=True)
    partition_count = serializers.IntegerField(allow_null=True)
    under_replicated_partitions = serializers.IntegerField(allow_null=True)
    offline_partitions = serializers.IntegerField(allow_null=True)


def health_payload(health: ClusterHealth, request: Request) -> dict[str, Any]:
    from backbone_admin.clusters import get_cluster

    config = get_cluster(health.name)
    data: dict[str, Any] = dict(config.public()) if config else {"name": health.name}
    data.update({"role": role_on(request.user, health.name), "status": health.status, "error": health.error})
    data["checked_at"] = health.checked_at
    overview = health.overview.as_dict() if health.overview else {}
    for key in (
        "cluster_id",
        "controller_id",
        "brokers",
        "topic_count",
        "internal_topic_count",
        "partition_count",
        "under_replicated_partitions",
        "offline_partitions",
    ):
        data[key] = overview.get(key)
    return data


@extend_schema(responses=ClusterSerializer(many=True))
@api_view(["GET"])
def cluster_list(request: Request) -> Response:
    """Every cluster the user may see, with its health (checked in parallel, cached briefly)."""
    names = [c.name for c in visible_clusters(request.user, all_clusters())]
    healths, notes = health_with_refresh(request.user, names, refresh=request.query_params.get("refresh") == "1")
    healths = scoped_healths(request.user, healths)
    return Response([health_payload(h, request) for h in healths], headers=warning_header(notes))


@extend_schema(responses={200: ClusterSerializer})
@api_view(["GET"])
def cluster_detail(request: Request, cluster: str) -> Response:
    """Overview of one cluster: brokers, controller, topic and partition counts, health."""
    # Anyone who sees some topic of the cluster; the counts are over the topics they see.
    config = require_cluster_visible(request.user, cluster)
    refresh = request.query_params.get("refresh") == "1"
    [health], notes = health_with_refresh(request.user, [config.name], refresh=refresh)
    [health] = scoped_healths(request.user, [health])
    status = 503 if health.status == "down" else 200
    return Response(health_payload(health, request), status=status, headers=warning_header(notes))
