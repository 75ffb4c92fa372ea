"""Renewing an OIDC session: at a request (RefreshMiddleware) and at an open socket's re-check
(backbone_admin.broadcast.current_user), with the refresh token kept in the server-side session."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.contrib import auth, messages
from django.core.cache import cache
from django.http import HttpRequest, HttpResponseBase

from backbone_admin import access, audit
from backbone_admin.models import AuditEntry
from backbone_admin.sso.oidc import (
    ACCESS_EXPIRES,
    REFRESH_TOKEN,
    SESSION_MARK,
    OIDCBackend,
    Refused,
    SignInError,
    discover,
    enabled,
    groups_from,
    keep_tokens,
    token_request,
)

log = logging.getLogger("backbone.oidc")


def session_still_valid(session: Any, user: Any) -> bool:
    """False when this OIDC session must end: its access token expired and the provider refused to renew it.

    A provider that cannot be reached keeps the session as it is (tried again at the next
    request or re-check): an outage of the identity provider must not sign everyone out.
    """
    if not session.get(SESSION_MARK) or not enabled():
        return True
    expires = session.get(ACCESS_EXPIRES)
    if isinstance(expires, (int, float)) and time.time() < expires:
        return True
    refresh = session.get(REFRESH_TOKEN)
    if not refresh:
        return False
    # One renewal per session at a time: a rotated refresh token works once, so a second
    # request renewing in parallel would be refused and end a session that is fine.
    lock = f"oidc-refresh:{session.session_key}"
    try:
        if not cache.add(lock, 1, timeout=30):
            return True
    except Exception:  # Redis down: renew without the lock
        log.warning("cannot take the OIDC refresh lock", exc_info=True)
    try:
        tokens = token_request(
            {
                "grant_type": "refresh_token",
                "refresh_token": refresh,
                "client_id": settings.OIDC_CLIENT_ID,
                "client_secret": settings.OIDC_CLIENT_SECRET,
            }
        )
        if tokens.get("id_token"):
            backend = OIDCBackend()
            backend.OIDC_OP_JWKS_ENDPOINT = discover().jwks_uri
            claims = backend.verify_token(tokens["id_token"])
            access.set_directory_groups(user, groups_from(claims), "oidc")
    except Refused as exc:
        audit.record(
            user=user,
            action="login.oidc",
            target=user.get_username(),
            result=AuditEntry.Result.DENIED,
            error=f"session ended: {exc}",
        )
        return False
    except SignInError as exc:
        log.warning("OIDC session of %s not renewed now: %s", user.get_username(), exc)
        return True
    finally:
        try:
            cache.delete(lock)
        except Exception:
            log.debug("cannot release the OIDC refresh lock", exc_info=True)
    keep_tokens(session, tokens)
    return True


class RefreshMiddleware:
    """Renew an OIDC session whose access token expired; end it when the provider refuses."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not session_still_valid(request.session, user):
            auth.logout(request)
            messages.info(request, "Your single sign-on session has ended: the identity provider did not renew it.")
        response: HttpResponseBase = self.get_response(request)
        return response
