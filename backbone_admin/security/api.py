"""ACL and SCRAM API: admins on the cluster; writes default to a dry run that previews them."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from backbone_admin.kafka import InvalidRequest
from backbone_admin.kafka import security as gateway
from backbone_admin.models import Role
from backbone_admin.roles import require_role
from backbone_admin.security import services
from backbone_admin.security.services import PlannedAcl

FILTER_FIELDS = ("principal", "resource_type", "resource_name", "pattern_type", "host", "operation", "permission")


class AclSerializer(serializers.Serializer[Any]):
    resource_type = serializers.ChoiceField(gateway.RESOURCE_TYPES)
    resource_name = serializers.CharField(help_text=f"`{gateway.CLUSTER_RESOURCE}` for CLUSTER; `*` for all")
    pattern_type = serializers.ChoiceField(gateway.PATTERN_TYPES, default="LITERAL")
    principal = serializers.CharField(help_text="`User:alice`")
    host = serializers.CharField(default="*")
    operation = serializers.ChoiceField(gateway.OPERATIONS)
    permission = serializers.ChoiceField(gateway.PERMISSIONS, default="ALLOW")


class AclListSerializer(serializers.Serializer[Any]):
    cluster = serializers.CharField()
    count = serializers.IntegerField()
    results = AclSerializer(many=True)


class AclCreateSerializer(serializers.Serializer[Any]):
    acls = AclSerializer(many=True, required=False, help_text="the bindings to create (or use `template`)")
    template = serializers.ChoiceField(list(services.TEMPLATES), required=False)
    principal = serializers.CharField(required=False, help_text="for a template")
    host = serializers.CharField(required=False)
    topic = serializers.CharField(required=False, help_text="consumer, producer")
    pattern_type = serializers.ChoiceField(gateway.PATTERN_TYPES, required=False, help_text="of the topic")
    group = serializers.CharField(required=False, help_text="consumer")
    transactional_id = serializers.CharField(required=False, help_text="producer: makes it transactional")
    application_id = serializers.CharField(required=False, help_text="streams")
    input_topics = serializers.ListField(child=serializers.CharField(), required=False, help_text="streams")
    output_topics = serializers.ListField(child=serializers.CharField(), required=False, help_text="streams")
    exactly_once = serializers.BooleanField(required=False, default=False, help_text="streams")
    dry_run = serializers.BooleanField(default=True, help_text="defaults to true: send false to create")


class PlannedAclSerializer(serializers.Serializer[Any]):
    acl = AclSerializer()
    exists = serializers.BooleanField(help_text="the broker already holds it: nothing to create")


class AclCreateResultSerializer(serializers.Serializer[Any]):
    cluster = serializers.CharField()
    dry_run = serializers.BooleanField()
    changes = PlannedAclSerializer(many=True)
    created = serializers.IntegerField()


class AclDeleteSerializer(serializers.Serializer[Any]):
    principal = serializers.CharField(required=False, allow_blank=True)
    resource_type = serializers.CharField(required=False, default="ANY")
    resource_name = serializers.CharField(required=False, allow_blank=True)
    pattern_type = serializers.CharField(required=False, default="ANY", help_text="ANY, MATCH, LITERAL, PREFIXED")
    host = serializers.CharField(required=False, allow_blank=True)
    operation = serializers.CharField(required=False, default="ANY")
    permission = serializers.CharField(required=False, default="ANY")
    dry_run = serializers.BooleanField(default=True)
    fingerprint = serializers.CharField(required=False, help_text="from the dry run: deletes only that same set")


class AclDeleteResultSerializer(serializers.Serializer[Any]):
    cluster = serializers.CharField()
    dry_run = serializers.BooleanField()
    matches = AclSerializer(many=True)
    fingerprint = serializers.CharField()
    deleted = serializers.IntegerField()


class CredentialSerializer(serializers.Serializer[Any]):
    mechanism = serializers.CharField()
    iterations = serializers.IntegerField()


class ScramUserSerializer(serializers.Serializer[Any]):
    user = serializers.CharField()
    credentials = CredentialSerializer(many=True)


class ScramUsersSerializer(serializers.Serializer[Any]):
    cluster = serializers.CharField()
    results = ScramUserSerializer(many=True)


class ScramUpsertSerializer(serializers.Serializer[Any]):
    user = serializers.CharField(max_length=255)
    mechanism = serializers.ChoiceField(gateway.MECHANISMS)
    iterations = serializers.IntegerField(default=8192, help_text="4096 to 16384")
    password = serializers.CharField(
        write_only=True, trim_whitespace=False, help_text="sent to the broker only; never shown, logged or audited"
    )


class ScramUpsertResultSerializer(ScramUserSerializer):
    rotated = serializers.BooleanField(help_text="the user had a credential of this mechanism before")


def _filter(data: dict[str, Any]) -> gateway.AclFilter:
    return gateway.acl_filter(
        principal_name=data.get("principal") or "",
        resource_type=data.get("resource_type") or "ANY",
        resource_name=data.get("resource_name") or "",
        pattern_type=data.get("pattern_type") or "ANY",
        host=data.get("host") or "",
        operation=data.get("operation") or "ANY",
        permission=data.get("permission") or "ANY",
    )


def _valid(serializer: serializers.Serializer[Any]) -> dict[str, Any]:
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _bindings(data: dict[str, Any]) -> list[gateway.Acl]:
    if data.get("template"):
        return services.template_bindings(data["template"], data)
    given = data.get("acls") or []
    if not given:
        raise InvalidRequest("give `acls` or a `template`", fields={"acls": "required"})
    return list(
        dict.fromkeys(
            gateway.acl(
                resource_type=a["resource_type"],
                resource_name=a["resource_name"],
                pattern_type=a["pattern_type"],
                principal_name=a["principal"],
                host=a["host"],
                operation=a["operation"],
                permission=a["permission"],
            )
            for a in given
        )
    )


def _planned(plan: list[PlannedAcl]) -> list[dict[str, Any]]:
    return [{"acl": p.acl.as_dict(), "exists": p.exists} for p in plan]


@extend_schema(
    parameters=[OpenApiParameter(f, str) for f in FILTER_FIELDS],
    request=AclCreateSerializer,
    responses={200: AclListSerializer, 201: AclCreateResultSerializer},
)
@api_view(["GET", "POST"])
def acls(request: Request, cluster: str) -> Response:
    """GET: the cluster's ACLs, filtered. POST: create bindings or a template's (a dry run by default)."""
    if request.method == "GET":
        config = require_role(request.user, cluster, Role.ADMIN)
        found = gateway.describe_acls(config.name, _filter(request.query_params.dict()))
        return Response({"cluster": config.name, "count": len(found), "results": [a.as_dict() for a in found]})
    # The role first, so that nobody else learns what the validation would say.
    config = require_role(request.user, cluster, Role.ADMIN)
    data = _valid(AclCreateSerializer(data=request.data))
    if not data["dry_run"]:
        require_role(request.user, cluster, Role.ADMIN, change=True)
    bindings = _bindings(data)
    if data["dry_run"]:
        plan = services.acls_plan(config.name, bindings)
        return Response({"cluster": config.name, "dry_run": True, "changes": _planned(plan), "created": 0})
    plan = services.acls_plan(config.name, bindings)
    created = services.acls_create(user=request.user, cluster=config.name, bindings=bindings, request=request._request)
    body = {"cluster": config.name, "dry_run": False, "changes": _planned(plan), "created": len(created)}
    return Response(body, status=status.HTTP_201_CREATED)


@extend_schema(request=AclDeleteSerializer, responses=AclDeleteResultSerializer)
@api_view(["POST"])
def acls_delete(request: Request, cluster: str) -> Response:
    """Preview (dry run, the default) or delete the ACLs matching a filter.

    Deleting needs the dry run's `fingerprint`: it deletes exactly the bindings that preview
    showed, and answers 409 if the broker's set changed in between.
    """
    config = require_role(request.user, cluster, Role.ADMIN)
    data = _valid(AclDeleteSerializer(data=request.data))
    if not data["dry_run"]:
        require_role(request.user, cluster, Role.ADMIN, change=True)
    where = _filter(data)
    if where.is_everything():
        raise InvalidRequest("name a principal or a resource to delete by", fields={"principal": "required"})
    if data["dry_run"]:
        matches = services.acls_matching(config.name, where)
        return Response(
            {
                "cluster": config.name,
                "dry_run": True,
                "matches": [a.as_dict() for a in matches],
                "fingerprint": services.fingerprint(matches),
                "deleted": 0,
            }
        )
    if not data.get("fingerprint"):
        raise InvalidRequest("send the dry run's `fingerprint` to delete", fields={"fingerprint": "required"})
    deleted = services.acls_delete(
        user=request.user, cluster=config.name, where=where, expected=data["fingerprint"], request=request._request
    )
    return Response(
        {
            "cluster": config.name,
            "dry_run": False,
            "matches": [a.as_dict() for a in deleted],
            "fingerprint": data["fingerprint"],
            "deleted": len(deleted),
        }
    )


def _user_payload(user: gateway.ScramUser) -> dict[str, Any]:
    return {"user": user.name, "credentials": [{"mechanism": m, "iterations": i} for m, i in user.credentials]}


@extend_schema(request=ScramUpsertSerializer, responses={200: ScramUsersSerializer, 201: ScramUpsertResultSerializer})
@api_view(["GET", "POST"])
def scram_users(request: Request, cluster: str) -> Response:
    """GET: SCRAM users and their mechanisms. POST: create or rotate one credential (the password is never returned)."""
    if request.method == "GET":
        config = require_role(request.user, cluster, Role.ADMIN)
        users = services.scram_users(config.name)
        return Response({"cluster": config.name, "results": [_user_payload(u) for u in users]})
    config = require_role(request.user, cluster, Role.ADMIN, change=True)
    data = _valid(ScramUpsertSerializer(data=request.data))
    rotated = services.scram_upsert(
        user=request.user,
        cluster=config.name,
        name=data["user"],
        mechanism=data["mechanism"],
        iterations=data["iterations"],
        password=data["password"],
        request=request._request,
    )
    now = next((u for u in services.scram_users(config.name) if u.name == data["user"].strip()), None)
    body = _user_payload(now) if now else {"user": data["user"], "credentials": []}
    return Response({**body, "rotated": rotated}, status=status.HTTP_200_OK if rotated else status.HTTP_201_CREATED)


@extend_schema(
    parameters=[OpenApiParameter("mechanism", str, enum=list(gateway.MECHANISMS), description="omit: every one")],
    responses={204: OpenApiResponse(description="deleted")},
)
@api_view(["DELETE"])
def scram_user(request: Request, cluster: str, user: str) -> Response:
    """Delete a user's credential of one mechanism, or all of them."""
    config = require_role(request.user, cluster, Role.ADMIN, change=True)
    services.scram_delete(
        user=request.user,
        cluster=config.name,
        name=user,
        mechanism=request.query_params.get("mechanism") or request.data.get("mechanism") or None,
        request=request._request,
    )
    return Response(status=status.HTTP_204_NO_CONTENT)
