from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from backbone_admin import audit
from backbone_admin.models import ApiToken, ApiTokenQuerySet, AuditEntry, Role
from backbone_admin.roles import has_global_role


def tokens_visible_to(user: Any) -> ApiTokenQuerySet:
    """Every token for a global admin; one's own tokens otherwise. Newest first."""
    tokens = ApiToken.objects.select_related("user").order_by("-created_at", "-id")
    return tokens if has_global_role(user, Role.ADMIN) else tokens.filter(user=user)


def token_issue(
    *, user: Any, name: str = "", days: int | None = None, actor: Any = None, request: HttpRequest | None = None
) -> tuple[ApiToken, str]:
    """Create a token for `user` and audit it; returns the token and its key (shown once)."""
    if days is not None and days < 1:
        raise ValueError("a token must live at least 1 day")
    token, key = ApiToken.issue(user, name=name, days=days)
    audit.record(
        user=actor,
        action="token.create",
        target=user.get_username(),
        after={"id": token.pk, "prefix": token.prefix, "name": name, "expires_at": token.expires_at.isoformat()},
        request=request,
    )
    return token, key


class PasswordRefused(Exception):
    """The password given to create one's own token is wrong, or too many were."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def token_issue_to_self(
    *, user: Any, password: str, name: str = "", days: int | None = None, request: HttpRequest | None = None
) -> tuple[ApiToken, str]:
    """Create a token for the logged-in `user` once they have typed their password again.

    A token acts as its user (the same roles, no more), so a stolen session must not be
    enough to mint a credential that outlives it: the password is asked again. Wrong ones are
    audited and, like logins, LOGIN_FAILURE_LIMIT of them in LOGIN_COOLOFF_MINUTES stop the checks.
    """
    since = timezone.now() - timedelta(minutes=settings.LOGIN_COOLOFF_MINUTES)
    failures = AuditEntry.objects.filter(
        user=user, action="token.create", result=AuditEntry.Result.DENIED, at__gte=since
    ).count()
    if failures >= settings.LOGIN_FAILURE_LIMIT:
        raise PasswordRefused(
            f"Too many wrong passwords: try again in {settings.LOGIN_COOLOFF_MINUTES} minutes. No token was created."
        )
    if not user.has_usable_password():
        raise PasswordRefused("Your account has no password to confirm with: ask an admin for a token.")
    if not user.check_password(password):
        audit.record(
            user=user,
            action="token.create",
            target=user.get_username(),
            after={"name": name},
            result=AuditEntry.Result.DENIED,
            error="wrong password",
            request=request,
        )
        raise PasswordRefused("Wrong password: no token was created.")
    return token_issue(user=user, name=name, days=days, actor=user, request=request)


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
