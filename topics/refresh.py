"""Rate limits for `refresh=1`: re-reading a cluster now instead of the shared cache.

A refresh drops data every viewer shares and makes the cluster answer a full scan, so one
viewer must not be able to do it in a loop. Each refresh claims two slots in the cache
(Redis `SET NX` with an expiry): one per user and cluster (REFRESH_USER_INTERVAL, 10 s)
and one per cluster (REFRESH_CLUSTER_INTERVAL, 2 s). Over the limit the caller serves the
cached data with the note this module returns; it is never an error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache

from backbone_admin.health import clusters_health
from backbone_admin.kafka import ClusterHealth

log = logging.getLogger("backbone.topics")


@dataclass(frozen=True)
class RefreshDecision:
    allowed: bool
    note: str = ""

    def __bool__(self) -> bool:
        return self.allowed


def _user_key(user: Any) -> str:
    return f"u{user.pk}" if getattr(user, "is_authenticated", False) and user.pk is not None else "anonymous"


def refresh_allowed(user: Any, cluster: str, *, what: str) -> RefreshDecision:
    """Claim a refresh of `what` (`topics`, `health`) on `cluster` for `user`, or say why not."""
    user_interval = float(settings.REFRESH_USER_INTERVAL)
    cluster_interval = float(settings.REFRESH_CLUSTER_INTERVAL)
    user_key = f"refresh:{what}:{cluster}:{_user_key(user)}"
    cluster_key = f"refresh:{what}:{cluster}"
    try:
        # The user's slot first: a refused user never uses up the cluster's slot for others.
        if user_interval > 0 and not cache.add(user_key, 1, timeout=max(1, round(user_interval))):
            return RefreshDecision(
                False,
                f"Showing cached data: you can refresh `{cluster}` once every {user_interval:g} s.",
            )
        if cluster_interval > 0 and not cache.add(cluster_key, 1, timeout=max(1, round(cluster_interval))):
            if user_interval > 0:
                cache.delete(user_key)  # no refresh happened: the user may try again once the cluster's slot is free
            return RefreshDecision(
                False,
                f"Showing cached data: `{cluster}` was refreshed less than {cluster_interval:g} s ago.",
            )
    except Exception:  # without Redis there is no shared cache to protect
        log.warning("cannot rate-limit refreshes of %s", cluster, exc_info=True)
    return RefreshDecision(True)


def health_with_refresh(user: Any, names: list[str], *, refresh: bool) -> tuple[list[ClusterHealth], list[str]]:
    """Health of `names` in order; with `refresh`, re-checked now where the limits allow.

    Returns the healths and the notes for the clusters whose refresh was refused.
    """
    if not refresh:
        return clusters_health(names), []
    decisions = {name: refresh_allowed(user, name, what="health") for name in names}
    fresh = [name for name in names if decisions[name]]
    cached = [name for name in names if not decisions[name]]
    by_name = {h.name: h for h in clusters_health(fresh, fresh=True) + clusters_health(cached)}
    return [by_name[name] for name in names], [decisions[name].note for name in cached]


def warning_header(notes: list[str]) -> dict[str, str]:
    """An HTTP `Warning` header (code 199) carrying the notes, for API responses."""
    if not notes:
        return {}
    text = " ".join(notes).replace('"', "'").replace("`", "'")
    return {"Warning": f'199 backbone "{text}"'}
