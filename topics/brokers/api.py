from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from backbone_admin.kafka import InvalidRequest
from backbone_admin.models import Role
from backbone_admin.roles import require_role
from topics.api import BrokerSerializer
from topics.brokers import services


class BrokerConfigSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    value = serializers.CharField(allow_null=True, help_text="`hidden` for a sensitive config")
    value_human = serializers.CharField()
    in_force_human = serializers.CharField(help_text="what applies on the broker read (differs on `default`)")
    source = serializers.ChoiceField(["dynamic_broker", "dynamic_default", "static", "default", "unknown"])  # type: ignore[assignment]
    source_words = serializers.CharField()
    read_only = serializers.BooleanField(  # type: ignore[assignment]
        help_text="not dynamically updatable: server.properties and a restart"
    )
    sensitive = serializers.BooleanField()
    type = serializers.CharField()
    doc = serializers.CharField()
    editable = serializers.BooleanField()
    not_editable_because = serializers.CharField(allow_null=True)


class BrokerChangeSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    before = serializers.CharField(allow_null=True)
    after = serializers.CharField(allow_null=True, help_text="null: the value set at this level is removed")
    before_human = serializers.CharField()
    after_human = serializers.CharField()
    then = serializers.CharField(allow_null=True, help_text="for a reset: what applies afterwards")


@extend_schema(responses=BrokerSerializer(many=True))
@api_view(["GET"])
def brokers(request: Request, cluster: str) -> Response:
    """The cluster's brokers: id, host, port, rack, controller."""
    config = require_role(request.user, cluster, Role.VIEWER)
    target = services.broker_target(config.name, services.DEFAULT)
    return Response(
        [
            {"id": b.id, "host": b.host, "port": b.port, "rack": b.rack, "is_controller": b.is_controller}
            for b in target.brokers
        ]
    )


def _patch(request: Request, cluster: str, broker: str) -> Response:
    if not isinstance(request.data, dict):
        raise InvalidRequest("the body must be a JSON object of config name → value (null resets it)")
    set_values: dict[str, object] = {}
    delete: list[str] = []
    problems: dict[str, str] = {}
    for key, value in request.data.items():
        if value is None:
            delete.append(key)
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            set_values[key] = value
        elif isinstance(value, bool):
            set_values[key] = "true" if value else "false"
        else:
            problems[str(key)[:100]] = "the value must be a string, a number, a boolean or null"
    if problems:
        raise InvalidRequest("Invalid broker configs: " + "; ".join(problems.values()), fields=problems)
    dry_run = request.query_params.get("dry_run") in ("1", "true")
    changes = services.broker_configure(
        user=request.user,
        cluster=cluster,
        slug=broker,
        set_values=set_values,
        delete=delete,
        dry_run=dry_run,
        request=request._request,
    )
    return Response({"applied": not dry_run, "changes": [c.as_dict() for c in changes]})


@extend_schema(
    methods=["GET"],
    parameters=[OpenApiParameter("q", str, description="only configs whose name or value contains this")],
    responses={
        200: inline_serializer(
            "BrokerConfigs",
            {
                "broker": serializers.CharField(help_text="the broker id, or `default`"),
                "read_from": serializers.IntegerField(allow_null=True, help_text="the broker whose answer is shown"),
                "configs": BrokerConfigSerializer(many=True),
            },
        )
    },
)
@extend_schema(
    methods=["PATCH"],
    request=inline_serializer("BrokerConfigPatch", {"<config name>": serializers.CharField(allow_null=True)}),
    parameters=[OpenApiParameter("dry_run", bool, description="show the changes without applying them")],
    responses={
        200: inline_serializer(
            "BrokerConfigChanges", {"applied": serializers.BooleanField(), "changes": BrokerChangeSerializer(many=True)}
        )
    },
    description="A flat dict of config name → value (human units for `*.ms` and `*.bytes`: `7d`, `10MB`); "
    "null resets the value set on this broker (or cluster-wide, for `default`). Admins on writable clusters only.",
)
@api_view(["GET", "PATCH"])
def broker_configs(request: Request, cluster: str, broker: str) -> Response:
    """One broker's configs with their sources (`default`: the cluster-wide defaults); PATCH changes them."""
    if request.method == "PATCH":
        require_role(request.user, cluster, Role.ADMIN, change=True)
        return _patch(request, cluster, broker)
    config = require_role(request.user, cluster, Role.VIEWER)
    target = services.broker_target(config.name, broker)
    q = request.query_params.get("q", "").strip()[:200]
    rows = services.config_rows(services.read_configs(config.name, target), target, q)
    return Response({"broker": target.slug, "read_from": target.reference, "configs": [r.as_dict() for r in rows]})
