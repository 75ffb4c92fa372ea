"""Retention API: policies (read by anyone with a role, written by admins), compliance and apply."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from backbone_admin.clusters import all_clusters
from backbone_admin.kafka import NotFound, PermissionDenied
from backbone_admin.models import Role
from backbone_admin.roles import has_global_role, require_cluster_visible, require_global_role, visible_clusters
from topics.configs import human
from topics.models import RetentionPolicy
from topics.retention import apply as retention_apply
from topics.retention import services as retention_services
from topics.retention.compliance import cluster_compliance
from topics.units import format_duration_ms
from topics.visibility import topic_filter


class PolicyInputSerializer(serializers.Serializer[Any]):
    """A policy as written: configs and guardrails accept human units (`7d`, `500MB`, `unlimited`)."""

    name = serializers.CharField(max_length=100)
    description = serializers.CharField(allow_blank=True, required=False)
    topic_pattern = serializers.CharField(max_length=500, help_text="glob (`orders.*`), or `re:` and a regex")
    priority = serializers.IntegerField(required=False, help_text="the highest-priority matching policy governs")
    configs = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        required=False,
        help_text="retention.ms, retention.bytes, cleanup.policy, min.compaction.lag.ms, delete.retention.ms, "
        "segment.ms; replaced as a whole when given",
    )
    min_retention = serializers.CharField(allow_null=True, allow_blank=True, required=False, help_text="e.g. 1d")
    max_retention = serializers.CharField(allow_null=True, allow_blank=True, required=False, help_text="e.g. 30d")


class PolicySerializer(serializers.Serializer[Any]):
    """Documents a policy in responses."""

    name = serializers.CharField()
    description = serializers.CharField()
    topic_pattern = serializers.CharField()
    priority = serializers.IntegerField()
    configs = serializers.DictField(child=serializers.CharField(), help_text="Kafka strings")
    configs_human = serializers.DictField(child=serializers.CharField())
    min_retention_ms = serializers.IntegerField(allow_null=True)
    max_retention_ms = serializers.IntegerField(allow_null=True)
    min_retention = serializers.CharField(allow_null=True)
    max_retention = serializers.CharField(allow_null=True)
    updated = serializers.DateTimeField()
    updated_by = serializers.CharField(allow_null=True)


class ApplyInputSerializer(serializers.Serializer[Any]):
    topics = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        default=list,
        help_text='topic names (at most RETENTION_APPLY_MAX_TOPICS, 1000 by default); `"*drifting*"` adds every '
        "drifting topic",
    )
    dry_run = serializers.BooleanField(
        required=False, default=True, help_text="defaults to true: send false to change the broker"
    )
    all_drifting = serializers.BooleanField(required=False, default=False, help_text="apply to every drifting topic")


class ConfigCheckSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    expected = serializers.CharField()
    expected_human = serializers.CharField()
    actual = serializers.CharField(allow_null=True)
    actual_human = serializers.CharField()
    actual_is_default = serializers.BooleanField()
    drift = serializers.BooleanField()


class TopicComplianceSerializer(serializers.Serializer[Any]):
    topic = serializers.CharField()
    partitions = serializers.IntegerField()
    policy = serializers.CharField(allow_null=True)
    drifting = serializers.BooleanField()
    drift = serializers.ListField(child=serializers.CharField())
    configs = ConfigCheckSerializer(many=True)


class ComplianceSerializer(serializers.Serializer[Any]):
    cluster = serializers.CharField()
    count = serializers.IntegerField()
    drifting = serializers.IntegerField()
    results = TopicComplianceSerializer(many=True)


class ApplyResultSerializer(serializers.Serializer[Any]):
    topic = serializers.CharField()
    status = serializers.ChoiceField(["planned", "applied", "unchanged", "failed", "skipped"])
    policy = serializers.CharField(allow_null=True)
    changes = serializers.ListField(child=serializers.DictField(), help_text="name, before, after (+ _human)")
    impact = serializers.DictField(help_text="events older than the new retention, per partition, notes")
    error = serializers.CharField(allow_null=True)


class ApplyReportSerializer(serializers.Serializer[Any]):
    cluster = serializers.CharField()
    dry_run = serializers.BooleanField()
    summary = serializers.DictField(child=serializers.IntegerField())
    results = ApplyResultSerializer(many=True)


def policy_payload(policy: RetentionPolicy) -> dict[str, Any]:
    return {
        "name": policy.name,
        "description": policy.description,
        "topic_pattern": policy.topic_pattern,
        "priority": policy.priority,
        "configs": dict(sorted(policy.configs.items())),
        "configs_human": {k: human(k, v) for k, v in sorted(policy.configs.items())},
        "min_retention_ms": policy.min_retention_ms,
        "max_retention_ms": policy.max_retention_ms,
        "min_retention": format_duration_ms(policy.min_retention_ms) if policy.min_retention_ms is not None else None,
        "max_retention": format_duration_ms(policy.max_retention_ms) if policy.max_retention_ms is not None else None,
        "updated": policy.updated,
        "updated_by": policy.updated_by.get_username() if policy.updated_by else None,
    }


def require_any_role(user: Any) -> None:
    """Policies span clusters: anyone who may view some cluster may read them."""
    if not has_global_role(user, Role.VIEWER) and not visible_clusters(user, all_clusters()):
        raise PermissionDenied("this needs a role on at least one cluster")


def _get_policy(name: str) -> RetentionPolicy:
    policy = RetentionPolicy.objects.select_related("updated_by").filter(name=name).first()
    if policy is None:
        raise NotFound(f"retention policy `{name}` does not exist")
    return policy


def _valid(serializer: serializers.Serializer[Any]) -> dict[str, Any]:
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


@extend_schema(methods=["GET"], responses=PolicySerializer(many=True))
@extend_schema(methods=["POST"], request=PolicyInputSerializer, responses={201: PolicySerializer})
@api_view(["GET", "POST"])
def policies(request: Request) -> Response:
    """Retention policies, highest priority first; POST creates one (admin)."""
    if request.method == "POST":
        require_global_role(request.user, Role.ADMIN)
        data = _valid(PolicyInputSerializer(data=request.data))
        policy = retention_services.policy_create(user=request.user, data=data, request=request._request)
        return Response(policy_payload(policy), status=201)
    require_any_role(request.user)
    return Response([policy_payload(p) for p in RetentionPolicy.objects.by_priority().select_related("updated_by")])


@extend_schema(methods=["GET"], responses=PolicySerializer)
@extend_schema(methods=["PUT", "PATCH"], request=PolicyInputSerializer, responses=PolicySerializer)
@extend_schema(methods=["DELETE"], responses={204: None})
@api_view(["GET", "PUT", "PATCH", "DELETE"])
def policy(request: Request, name: str) -> Response:
    """One policy. PUT replaces it (fields left out take their defaults), PATCH changes the fields given."""
    if request.method == "GET":
        require_any_role(request.user)
        return Response(policy_payload(_get_policy(name)))
    require_global_role(request.user, Role.ADMIN)
    policy = _get_policy(name)
    if request.method == "DELETE":
        retention_services.policy_delete(user=request.user, policy=policy, request=request._request)
        return Response(status=204)
    partial = request.method == "PATCH"
    data = _valid(PolicyInputSerializer(data=request.data, partial=partial))
    if not partial:
        data = {"description": "", "priority": 0, "configs": {}, "min_retention": None, "max_retention": None} | data
    policy = retention_services.policy_update(user=request.user, policy=policy, data=data, request=request._request)
    return Response(policy_payload(policy))


@extend_schema(
    responses=ComplianceSerializer,
    parameters=[
        OpenApiParameter("drifting", bool, description="1: only topics drifting from their policy"),
        OpenApiParameter("search", str, description="substring of the topic name, or `re:` and a regex"),
    ],
)
@api_view(["GET"])
def compliance(request: Request, cluster: str) -> Response:
    """Per topic (internal ones excluded): governing policy, expected vs actual values, drift."""
    # Anyone who sees some topic of the cluster: rows and counts are over the visible topics.
    config = require_cluster_visible(request.user, cluster)
    drifting_only = request.query_params.get("drifting", "").lower() in ("1", "true", "yes")
    rows = cluster_compliance(
        config.name,
        search=request.query_params.get("search", ""),
        visible=topic_filter(request.user, config.name),
    )
    drifting = sum(1 for r in rows if r.drifting)
    shown = [r for r in rows if r.drifting] if drifting_only else rows
    return Response(
        {"cluster": config.name, "count": len(shown), "drifting": drifting, "results": [r.as_dict() for r in shown]}
    )


@extend_schema(request=ApplyInputSerializer, responses=ApplyReportSerializer)
@api_view(["POST"])
def compliance_apply(request: Request, cluster: str) -> Response:
    """Bring topics to their policy's configs. `dry_run` defaults to TRUE: it reports the exact
    changes and the impact (events older than a shorter retention) without touching the broker.

    `{"topics": ["*drifting*"]}` or `{"all_drifting": true}` selects every drifting topic.
    With `dry_run: false` (operator role, writable cluster) each topic gets one audited
    incremental alter; per-topic statuses: applied, unchanged, failed, skipped (with the reason).
    """
    data = _valid(ApplyInputSerializer(data=request.data))
    report = retention_apply.compliance_apply(
        user=request.user,
        cluster=cluster,
        topics=data["topics"],
        dry_run=data["dry_run"],
        all_drifting=data["all_drifting"],
        request=request._request,
    )
    return Response(report.as_dict())
