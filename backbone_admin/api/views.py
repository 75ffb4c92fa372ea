from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import Q, QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

from backbone_admin.audit_access import visible_entries
from backbone_admin.models import AuditEntry, Role
from backbone_admin.roles import require_global_role


class AuditEntrySerializer(serializers.ModelSerializer[AuditEntry]):
    who = serializers.CharField(source="username")
    when = serializers.DateTimeField(source="at")

    class Meta:
        model = AuditEntry
        fields = ["id", "who", "when", "action", "cluster", "target", "before", "after", "result", "error", "source_ip"]


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


PAGE_PARAMETERS = [
    OpenApiParameter("page", int, description="1-based; a page past the end is a 404"),
    OpenApiParameter(
        "page_size", int, description=f"default {Pagination.page_size}, at most {Pagination.max_page_size}"
    ),
]


def paginated(name: str, item: serializers.Serializer[Any]) -> serializers.Serializer[Any]:
    """The schema of a Pagination answer: {count, next, previous, results: [item, ...]}."""
    return inline_serializer(
        name,
        {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": item,
        },
    )


@extend_schema(
    responses=paginated("PaginatedAuditEntries", AuditEntrySerializer(many=True)),
    parameters=[
        *PAGE_PARAMETERS,
        OpenApiParameter("action", str, description="exact action, e.g. topic.create"),
        OpenApiParameter("user", str),
        OpenApiParameter("cluster", str),
        OpenApiParameter("q", str, description="substring of the target"),
        OpenApiParameter("result", str, enum=[r.value for r in AuditEntry.Result]),
    ],
)
@api_view(["GET"])
def audit_list(request: Request) -> Response:
    """The audit log, newest first (admin only)."""
    require_global_role(request.user, Role.ADMIN)
    entries = visible_entries(request.user, filter_audit(AuditEntry.objects.all(), request.query_params))
    paginator = Pagination()
    page = paginator.paginate_queryset(entries, request)
    return paginator.get_paginated_response(AuditEntrySerializer(page, many=True).data)


def filter_audit(entries: QuerySet[AuditEntry], params: Mapping[str, Any]) -> QuerySet[AuditEntry]:
    if action := params.get("action"):
        entries = entries.filter(action=action)
    if user := params.get("user"):
        entries = entries.filter(username=user)
    if cluster := params.get("cluster"):
        entries = entries.filter(cluster=cluster)
    if result := params.get("result"):
        entries = entries.filter(result=result)
    if q := params.get("q"):
        entries = entries.filter(Q(target__icontains=q) | Q(action__icontains=q))
    return entries
