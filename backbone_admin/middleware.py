from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequired
from django.db.models import Q
from django.http import HttpRequest, HttpResponseBase
from django.utils import timezone
from django.utils.cache import add_never_cache_headers

from backbone_admin.audit import record
from backbone_admin.errors import denied_reason
from backbone_admin.models import AuditEntry

log = logging.getLogger("backbone.audit")

# The same user denied the same action on the same target within this window is recorded once.
DENIED_AUDIT_WINDOW = timedelta(seconds=5)


class LoginRequiredMiddleware(DjangoLoginRequired):
    """Every page needs a login; the API answers 401/403 itself (it also takes bearer tokens)."""

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponseBase | None:
        if request.path_info.startswith("/api/"):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


def _authenticated(request: HttpRequest) -> bool:
    # After the view: DRF has put a token's user on the request too.
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated)


class NoStoreForUsersMiddleware:
    """Nothing answered to a logged-in user (session or token) is kept by a browser or proxy cache.

    Static files never get here (WhiteNoise answers them first) and keep their long caching.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if _authenticated(request):
            add_never_cache_headers(response)
        return response


class AuditDeniedMiddleware:
    """Every 403 answer leaves one audit row: who, the route and method, the path, and why.

    The views and the API error handler only say why (`errors.denied`); recording happens here,
    once. A denial already audited inside the request (an `audited()` change the cluster refused)
    is not recorded again, and the same user denied the same thing again within
    DENIED_AUDIT_WINDOW adds no row, so a retrying script cannot flood the log.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        started = timezone.now()
        # The session's user, still lazy: DRF replaces request.user with an anonymous one when
        # its CSRF check fails, yet the audit row should say whose session was refused.
        session_user = getattr(request, "user", None)
        response = self.get_response(request)
        if response.status_code == 403:
            try:
                user = request.user if _authenticated(request) else session_user
                self._record(request, response, user, started)
            except Exception:  # the refusal is answered even if the audit cannot be written
                log.warning("cannot audit a denied request to %s", request.path, exc_info=True)
        return response

    def _record(self, request: HttpRequest, response: HttpResponseBase, user: Any, started: Any) -> None:
        username = user.get_username() if user is not None and user.is_authenticated else ""
        match = request.resolver_match
        route = match.view_name if match else request.path_info
        action = f"{request.method} {route}"[:64]
        cluster = str(match.kwargs.get("cluster", ""))[:63] if match else ""
        target = request.path[:512]
        source_ip = request.META.get("REMOTE_ADDR") or None
        now = timezone.now()
        seen = Q(action=action, target=target, source_ip=source_ip, at__gte=now - DENIED_AUDIT_WINDOW)
        if username:
            seen |= Q(at__gte=started)  # written by audited() while this request ran
        if AuditEntry.objects.filter(seen, result=AuditEntry.Result.DENIED, username=username).exists():
            return
        record(
            user=user,
            action=action,
            cluster=cluster,
            target=target,
            result=AuditEntry.Result.DENIED,
            error=denied_reason(response),
            request=request,
        )


class KafkaDeadlineMiddleware:
    """Every Kafka call a request makes shares one KAFKA_TIMEOUT budget.

    A page that reads several things from a slow or reconnecting cluster then still answers
    within the cluster timeout + 1 s, with a 503 or with what it got, instead of adding up
    one timeout per call.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        from backbone_admin.kafka.client import request_deadline

        with request_deadline():
            return self.get_response(request)
