from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from backbone_admin.models import ApiToken


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <token>` with a token from `manage.py create_api_token`."""

    keyword = "bearer"

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if not header or header[0].lower() != self.keyword:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be `Bearer <token>`.")
        token = ApiToken.objects.for_key(header[1])
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API token.")
        if token.revoked_at is not None:
            reason = f" ({token.revoked_reason})" if token.revoked_reason else ""
            when = f"{token.revoked_at:%Y-%m-%d %H:%M} UTC"
            message = f"API token {token.label} was revoked at {when}{reason}; ask for a new one."
            raise exceptions.AuthenticationFailed(message)
        now = timezone.now()
        if token.expires_at <= now:
            raise exceptions.AuthenticationFailed(
                f"API token {token.label} expired at {token.expires_at:%Y-%m-%d %H:%M} UTC; ask for a new one."
            )
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(f"API token {token.label} belongs to a deactivated account.")
        # At most one write a minute per token, not one per request.
        if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class BearerTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "backbone_admin.api.auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "Token from `manage.py create_api_token USER`"}
