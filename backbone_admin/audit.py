"""The audit log: every change, export and replay calls `record` or `audited`."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest

from backbone_admin.kafka.errors import BackboneError
from backbone_admin.models import AuditEntry


def _client_ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def record(
    *,
    user: Any,
    action: str,
    cluster: str = "",
    target: str = "",
    before: Any = None,
    after: Any = None,
    result: str = AuditEntry.Result.OK,
    error: str = "",
    request: HttpRequest | None = None,
) -> AuditEntry:
    authenticated = user is not None and getattr(user, "is_authenticated", False)
    return AuditEntry.objects.create(
        user=user if authenticated else None,
        username=user.get_username() if authenticated else "",
        action=action,
        cluster=cluster,
        target=target[:512],
        before=before,
        after=after,
        result=result,
        error=error,
        source_ip=_client_ip(request),
    )


@dataclass
class Change:
    """What an audited block fills in: the state after the change."""

    after: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


@contextmanager
def audited(
    *,
    user: Any,
    action: str,
    cluster: str = "",
    target: str = "",
    before: Any = None,
    request: HttpRequest | None = None,
) -> Iterator[Change]:
    """Run a change and audit it: `ok` with the after state, or the error, then re-raise."""
    change = Change()
    log = functools.partial(
        record, user=user, action=action, cluster=cluster, target=target, before=before, request=request
    )
    try:
        yield change
    except BackboneError as exc:
        log(result=AuditEntry.Result.DENIED if exc.status == 403 else AuditEntry.Result.ERROR, error=exc.message)
        raise
    except Exception as exc:
        log(result=AuditEntry.Result.ERROR, error=f"{type(exc).__name__}: {exc}")
        raise
    log(after=change.after)
