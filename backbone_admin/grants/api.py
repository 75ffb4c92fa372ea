"""GET|POST /api/access/grants/, GET|PUT|DELETE /api/access/grants/{id}/, GET /api/access/explain/
(global admins), GET /api/access/me/ (everyone: their own access)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from backbone_admin.api.views import PAGE_PARAMETERS, Pagination, paginated
from backbone_admin.grants import services
from backbone_admin.grants.explain import explain_access, my_access
from backbone_admin.kafka.errors import NotFound
from backbone_admin.models import Grant, Role
from backbone_admin.roles import require_global_role

PATTERNS_HELP = "globs (`orders.*`) or `re:` and an RE2 regex, matching the whole name; empty: all of them"


class GrantInputSerializer(serializers.Serializer[Any]):
    subject_type = serializers.ChoiceField(choices=Grant.Subject.choices)
    subject = serializers.CharField(max_length=150, help_text="a username, or a glob on directory group names")
    role = serializers.ChoiceField(choices=Role.choices)
    cluster = serializers.CharField(allow_blank=True, required=False, default="", help_text="empty: every cluster")
    topics = serializers.ListField(
        child=serializers.CharField(max_length=500), required=False, default=list, help_text=PATTERNS_HELP
    )
    groups = serializers.ListField(
        child=serializers.CharField(max_length=500), required=False, default=list, help_text=PATTERNS_HELP
    )
    note = serializers.CharField(allow_blank=True, required=False, default="", max_length=200)


class GrantSerializer(serializers.ModelSerializer[Grant]):
    from_file = serializers.SerializerMethodField(help_text="imported from the mapping file (replaced at its import)")

    class Meta:
        model = Grant
        fields = [
            "id",
            "subject_type",
            "subject",
            "role",
            "cluster",
            "topics",
            "groups",
            "note",
            "from_file",
            "created_at",
            "updated_at",
        ]

    def get_from_file(self, grant: Grant) -> bool:
        return services.is_from_file(grant)


class RuleSerializer(serializers.Serializer[Any]):
    rule = serializers.CharField()
    role = serializers.CharField()
    applies = serializers.BooleanField()
    why_not = serializers.CharField(help_text="empty when it applies")
    grant = serializers.IntegerField(allow_null=True)


class DirectorySerializer(serializers.Serializer[Any]):
    groups = serializers.ListField(child=serializers.CharField())
    # A field named like a Field attribute (`source`, `read_only`): fine for DRF, not for the stubs.
    source = serializers.CharField(allow_null=True, help_text="oidc or ldap; null when never recorded")  # type: ignore[assignment]
    recorded_at = serializers.DateTimeField(allow_null=True)


class ExplainSerializer(serializers.Serializer[Any]):
    user = serializers.CharField()
    active = serializers.BooleanField()
    cluster = serializers.CharField()
    topic = serializers.CharField(allow_null=True)
    group = serializers.CharField(allow_null=True)
    role = serializers.CharField(allow_null=True, help_text="the effective role; null: none (hidden)")
    verdict = serializers.CharField()
    group_reads = serializers.ListField(
        child=serializers.CharField(), help_text="for a group: the topics it has committed offsets on"
    )
    note = serializers.CharField(help_text="empty, or why the answer may be incomplete")
    may = serializers.ListField(child=serializers.CharField())
    rules = RuleSerializer(many=True)
    directory_groups = serializers.ListField(child=serializers.CharField())
    directory = DirectorySerializer()


def _valid(serializer: serializers.Serializer[Any]) -> dict[str, Any]:
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _get_grant(grant_id: int) -> Grant:
    grant = Grant.objects.filter(pk=grant_id).first()
    if grant is None:
        raise NotFound(f"grant {grant_id} does not exist")
    return grant


@extend_schema(
    methods=["GET"],
    operation_id="access_grants_list",
    responses=paginated("PaginatedGrants", GrantSerializer(many=True)),
    parameters=[
        *PAGE_PARAMETERS,
        OpenApiParameter("subject", str, description="substring of the user, group glob or note"),
        OpenApiParameter("cluster", str, description="exact cluster; `*` for the grants on every cluster"),
        OpenApiParameter("role", str, enum=Role.values),
    ],
)
@extend_schema(methods=["POST"], request=GrantInputSerializer, responses={201: GrantSerializer})
@api_view(["GET", "POST"])
def grants(request: Request) -> Response:
    """Grants (global admins): who (a user or a glob on directory groups), role, where."""
    require_global_role(request.user, Role.ADMIN)
    if request.method == "POST":
        data = _valid(GrantInputSerializer(data=request.data))
        grant = services.grant_create(user=request.user, data=data, request=request._request)
        return Response(GrantSerializer(grant).data, status=201)
    paginator = Pagination()
    page = paginator.paginate_queryset(services.grants_filtered(request.query_params), request)
    return paginator.get_paginated_response(GrantSerializer(page, many=True).data)


@extend_schema(methods=["GET"], responses=GrantSerializer)
@extend_schema(methods=["PUT"], request=GrantInputSerializer, responses=GrantSerializer)
@extend_schema(methods=["DELETE"], responses={204: OpenApiResponse(description="deleted")})
@api_view(["GET", "PUT", "DELETE"])
def grant(request: Request, grant_id: int) -> Response:
    """One grant. PUT replaces it whole (fields left out take their defaults); every change is audited."""
    require_global_role(request.user, Role.ADMIN)
    found = _get_grant(grant_id)
    if request.method == "DELETE":
        services.grant_delete(user=request.user, grant=found, request=request._request)
        return Response(status=204)
    if request.method == "PUT":
        data = _valid(GrantInputSerializer(data=request.data))
        found = services.grant_update(user=request.user, grant=found, data=data, request=request._request)
    return Response(GrantSerializer(found).data)


@extend_schema(
    responses=ExplainSerializer,
    parameters=[
        OpenApiParameter("user", str, required=True),
        OpenApiParameter("cluster", str, required=True),
        OpenApiParameter("topic", str, description="explain one topic"),
        OpenApiParameter("group", str, description="explain one consumer group (when no topic is given)"),
    ],
)
@api_view(["GET"])
def explain(request: Request) -> Response:
    """What may a user do on a cluster, topic or consumer group, and which rule says so (global admins)."""
    require_global_role(request.user, Role.ADMIN)
    params = request.query_params
    answer = explain_access(
        username=params.get("user", ""),
        cluster=params.get("cluster", ""),
        topic=params.get("topic", ""),
        group=params.get("group", ""),
    )
    return Response(answer)


class MyClusterSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    read_only = serializers.BooleanField()  # type: ignore[assignment]
    role = serializers.CharField(allow_null=True, help_text="on the whole cluster; null: only on some resources")
    may = serializers.ListField(child=serializers.CharField())
    scoped = serializers.ListField(child=serializers.CharField(), help_text="rules covering some topics or groups")


class MyAccessSerializer(serializers.Serializer[Any]):
    username = serializers.CharField()
    has_access = serializers.BooleanField()
    clusters = MyClusterSerializer(many=True)
    rules = serializers.ListField(child=serializers.CharField())
    directory_groups = serializers.ListField(child=serializers.CharField())
    directory = DirectorySerializer()


@extend_schema(responses=MyAccessSerializer)
@api_view(["GET"])
def me(request: Request) -> Response:
    """Your own access: your role on each cluster you see, your rules and your directory groups."""
    return Response(my_access(request.user))
