"""All pushes to websocket viewers go through here, and every push re-checks the viewer's access."""

from __future__ import annotations

import time
from importlib import import_module
from types import SimpleNamespace
from typing import Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib import auth

from backbone_admin.kafka import ClusterHealth

CLUSTER_HEALTH_GROUP = "cluster-health"

# Close codes the pages' scripts know: do not reconnect after these.
CLOSE_NOT_LOGGED_IN = 4401
CLOSE_ACCESS_GONE = 4403


def current_user(scope: dict[str, Any]) -> Any:
    """The socket's user as the database knows it now, or None when the login no longer holds.

    The session is read again (logged out elsewhere, expired after idle time), and Django's
    own `get_user` checks the password hash and `is_active` exactly as an HTTP request would.
    """
    session_key = getattr(scope.get("session"), "session_key", None)
    if not session_key:
        return None
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = auth.get_user(SimpleNamespace(session=store))  # type: ignore[arg-type]
    return user if user.is_authenticated and user.is_active else None


class ViewerConsumer(AsyncJsonWebsocketConsumer):
    """A logged-in viewer's socket whose access is re-checked before it gets a push.

    Roles are read at connect and again before a push once the last check is older than
    ACCESS_TTL seconds, so a deactivated user, a removed grant or a logout elsewhere closes
    the socket (code 4403) at the next push instead of feeding it for as long as it stays open.
    """

    ACCESS_TTL = 5.0  # seconds; a few database reads per socket at most this often
    _checked_at: float = float("-inf")
    _gone = False

    def authorize(self, user: Any) -> bool:
        """Whether `user` (freshly loaded, in a worker thread) may keep this socket; subclasses decide."""
        raise NotImplementedError

    def _check(self) -> bool:
        user = current_user(self.scope)
        return user is not None and self.authorize(user)

    async def allowed(self, *, fresh: bool = False) -> bool:
        """Re-check the viewer if the last check is stale; close the socket when access is gone."""
        if self._gone:
            return False
        now = time.monotonic()
        if not fresh and now - self._checked_at < self.ACCESS_TTL:
            return True
        if await database_sync_to_async(self._check)():
            self._checked_at = now
            return True
        self._gone = True
        await self.close(code=CLOSE_ACCESS_GONE)
        return False


def health_message(health: ClusterHealth) -> dict[str, Any]:
    overview = health.overview
    return {
        "name": health.name,
        "status": health.status,
        "error": health.error,
        "checked_at": health.checked_at,
        "brokers": len(overview.brokers) if overview else None,
        "topic_count": overview.topic_count if overview else None,
        "partition_count": overview.partition_count if overview else None,
        "under_replicated_partitions": overview.under_replicated_partitions if overview else None,
        "offline_partitions": overview.offline_partitions if overview else None,
    }


def cluster_health(healths: list[ClusterHealth]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    async_to_sync(layer.group_send)(
        CLUSTER_HEALTH_GROUP,
        {"type": "cluster.health", "clusters": [health_message(h) for h in healths]},
    )


def job_group(job_id: int) -> str:
    return f"job-{job_id}"


def job_progress(job_id: int, payload: dict[str, Any]) -> None:
    """Push a job's status and progress to its open pages (ws/jobs/<id>/)."""
    layer = get_channel_layer()
    if layer is None:
        return
    async_to_sync(layer.group_send)(job_group(job_id), {"type": "job.progress", "job": payload})
