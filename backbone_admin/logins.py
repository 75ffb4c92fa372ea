"""Login throttling on top of django-axes, and the audit of failed and locked-out logins.

Two counters, both over the last LOGIN_COOLOFF_MINUTES: failures of one username from one
address (LOGIN_FAILURE_LIMIT) and failures of one username from anywhere
(LOGIN_USERNAME_FAILURE_LIMIT, a guesser spread over many addresses). Reaching either locks
that username (from that address, or from everywhere) until the cool-off has passed since the
last failure; a successful login elsewhere resets nothing.
"""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_failure_limit, get_lockout_parameters
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from backbone_admin import audit
from backbone_admin.models import AuditEntry


class ThrottleBackend(AxesStandaloneBackend):
    """Refuse a locked-out login before the password is checked.

    Only HTTP logins are throttled: `authenticate()` without a request (a management command,
    a shell) has no address to throttle and no remote guesser behind it.
    """

    def authenticate(self, request: HttpRequest | None, *args: Any, **kwargs: Any) -> None:
        if request is None:
            return None
        return super().authenticate(request, *args, **kwargs)


class ThrottleHandler(AxesDatabaseHandler):
    """axes' database handler with a separate limit for the username-wide counter."""

    def get_failures(self, request: Any, credentials: dict[str, Any] | None = None) -> int:
        limit = get_failure_limit(request, credentials)
        username_limit = max(1, settings.LOGIN_USERNAME_FAILURE_LIMIT)
        counts = [0]
        parameters = get_lockout_parameters(request, credentials)
        for parameter, attempts in zip(parameters, self.get_user_attempts(request, credentials), strict=True):
            failures = attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0
            # axes compares one count with one limit (LOGIN_FAILURE_LIMIT): the username-wide
            # count is scaled so that reaching its own limit counts as reaching that one.
            counts.append(failures * limit // username_limit if parameter == "username" else failures)
        return max(counts)

    def user_login_failed(self, sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
        super().user_login_failed(sender, credentials, request, **kwargs)
        username = (get_client_username(request, credentials) if request is not None else None) or ""
        if request is not None and getattr(request, "axes_locked_out", False):
            until = timezone.localtime(timezone.now() + settings.AXES_COOLOFF_TIME)
            audit.record(
                user=None,
                action="login.locked",
                target=username,
                result=AuditEntry.Result.DENIED,
                error=f"too many failed logins: locked until {until:%Y-%m-%d %H:%M:%S %Z}",
                request=request,
            )
        else:
            audit.record(
                user=None,
                action="login.failed",
                target=username,
                result=AuditEntry.Result.DENIED,
                error="wrong username or password",
                request=request,
            )


def locked_out(request: HttpRequest, *args: Any) -> HttpResponse:
    """The page for a refused login (axes' AXES_LOCKOUT_CALLABLE): 429 with when to try again."""
    minutes = settings.LOGIN_COOLOFF_MINUTES
    response = render(
        request,
        "registration/locked_out.html",
        {"cooloff_minutes": minutes, "failure_limit": settings.LOGIN_FAILURE_LIMIT},
        status=429,
    )
    response["Retry-After"] = str(minutes * 60)
    return response
