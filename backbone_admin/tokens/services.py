from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from backbone_admin import audit
from backbone_admin.models import ApiToken, ApiTokenQuerySet, Role
from backbone_admin.roles import has_global_role


def tokens_visible_to(user: Any) -> ApiTokenQuerySet:
    """Every token for a global admin; one's own tokens otherwise. Newest first."""
    tokens = ApiToken.objects.select_related("user").order_by("-created_at", "-id")
    return tokens if has_global_role(user, Role.ADMIN) else tokens.filter(user=user)


def token_issue(*, user: Any, name: str = "", days: int | None = None, actor: Any = None) -> tuple[ApiToken, str]:
    """Create a token for `user` and audit it; returns the token and its key (shown once)."""
    if days is not None and days < 1:
        raise ValueError("a token must live at least 1 day")
    token, key = ApiToken.issue(user, name=name, days=days)
    audit.record(
        user=actor,
        action="token.create",
        target=user.get_username(),
        after={"id": token.pk, "prefix": token.prefix, "name": name, "expires_at": token.expires_at.isoformat()},
    )
    return token, key


def token_revoke(*, token: ApiToken, actor: Any, reason: str, request: HttpRequest | None = None) -> bool:
    """Revoke one token and audit it; False (and nothing recorded) if it was already revoked."""
    with transaction.atomic():
        revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now(), revoked_reason=reason[:200]
        )
        if revoked:
            audit.record(
                user=actor,
                action="token.revoke",
                target=token.user.get_username(),
                before={"id": token.pk, "prefix": token.prefix, "name": token.name},
                after={"reason": reason},
                request=request,
            )
    token.refresh_from_db()
    return bool(revoked)


def tokens_revoke_all(*, user: Any, reason: str) -> int:
    """Revoke every token of `user` still in force (password changed, account deactivated)."""
    with transaction.atomic():
        live = ApiToken.objects.filter(user=user, revoked_at__isnull=True)
        prefixes = list(live.values_list("prefix", flat=True))
        if not prefixes:
            return 0
        live.update(revoked_at=timezone.now(), revoked_reason=reason[:200])
        audit.record(
            user=None,
            action="token.revoke",
            target=user.get_username(),
            after={"tokens": prefixes, "reason": reason},
        )
    return len(prefixes)
