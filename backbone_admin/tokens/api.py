"""GET /api/tokens/ (one's own tokens; an admin sees all) and DELETE /api/tokens/{id}/ (revoke)."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from backbone_admin.api.views import PAGE_PARAMETERS, Pagination, paginated
from backbone_admin.kafka.errors import NotFound
from backbone_admin.models import ApiToken, ApiTokenQuerySet
from backbone_admin.tokens.services import token_revoke, tokens_visible_to


class ApiTokenSerializer(serializers.ModelSerializer[ApiToken]):
    user = serializers.CharField(source="user.username")
    status = serializers.ChoiceField(choices=ApiToken.Status.choices)

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "user",
            "name",
            "prefix",
            "status",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
            "revoked_reason",
        ]


def filter_tokens(tokens: ApiTokenQuerySet, user: str | None, state: str | None) -> ApiTokenQuerySet:
    if user:
        tokens = tokens.filter(user__username=user)
    now = timezone.now()
    if state == ApiToken.Status.REVOKED:
        tokens = tokens.filter(revoked_at__isnull=False)
    elif state == ApiToken.Status.ACTIVE:
        tokens = tokens.filter(revoked_at__isnull=True, expires_at__gt=now)
    elif state == ApiToken.Status.EXPIRED:
        tokens = tokens.filter(revoked_at__isnull=True, expires_at__lte=now)
    return tokens


@extend_schema(
    responses=paginated("PaginatedApiTokens", ApiTokenSerializer(many=True)),
    parameters=[
        *PAGE_PARAMETERS,
        OpenApiParameter("user", str, description="only this user's tokens (admins)"),
        OpenApiParameter("status", str, enum=[s.value for s in ApiToken.Status]),
    ],
)
@api_view(["GET"])
def token_list(request: Request) -> Response:
    """API tokens, newest first: your own, or everybody's for an admin. Keys are never shown."""
    tokens = filter_tokens(
        tokens_visible_to(request.user), request.query_params.get("user"), request.query_params.get("status")
    )
    paginator = Pagination()
    page = paginator.paginate_queryset(tokens, request)
    return paginator.get_paginated_response(ApiTokenSerializer(page, many=True).data)


@extend_schema(request=None, responses={204: OpenApiResponse(description="revoked (or already revoked)")})
@api_view(["DELETE"])
def token_detail(request: Request, token_id: int) -> Response:
    """Revoke a token: your own, or anyone's for an admin. It stops working at once."""
    token = tokens_visible_to(request.user).filter(pk=token_id).first()
    if token is None:
        raise NotFound(f"API token {token_id} does not exist or is not yours")
    reason = f"revoked by {request.user.get_username()}"
    token_revoke(token=token, actor=request.user, reason=reason, request=request._request)
    return Response(status=status.HTTP_204_NO_CONTENT)
