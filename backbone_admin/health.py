"""Cluster health: overview or the reason it failed, cached briefly, checked in parallel."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from backbone_admin.clusters import all_clusters
from backbone_admin.kafka import BackboneError, ClusterHealth, cluster_overview
from backbone_admin.kafka.client import ContextPool, request_deadline

log = logging.getLogger("backbone.health")
_pool = ContextPool(max_workers=8, thread_name_prefix="cluster-health")


def _cache_key(name: str) -> str:
    return f"cluster-health:{name}"


def check_cluster(name: str) -> ClusterHealth:
    """Ask the cluster now; never raises."""
    now = time.time()
    try:
        with request_deadline():
            overview = cluster_overview(name)
    except BackboneError as exc:
        health = ClusterHealth(name=name, status="down", error=exc.message, checked_at=now)
    except Exception as exc:
        log.exception("health check of cluster %s failed", name)
        health = ClusterHealth(
            name=name, status="down", error=f"health check failed: {type(exc).__name__}", checked_at=now
        )
    else:
        health = ClusterHealth(name=name, status=overview.health, overview=overview, checked_at=now)
    try:
        cache.set(_cache_key(name), health, timeout=settings.METADATA_CACHE_TTL)
    except Exception:
        log.warning("cannot cache health of %s", name, exc_info=True)
    return health


def cluster_health(name: str, *, fresh: bool = False) -> ClusterHealth:
    if not fresh:
        try:
            cached = cache.get(_cache_key(name))
        except Exception:  # noqa: BLE001
            cached = None
        if isinstance(cached, ClusterHealth):
            return cached
    return check_cluster(name)


def clusters_health(names: list[str], *, fresh: bool = False) -> list[ClusterHealth]:
    """Health of several clusters at once: one slow cluster never delays another beyond the timeout."""
    return list(_pool.map(lambda n: cluster_health(n, fresh=fresh), names))


def console_health(*, cluster: bool = True) -> tuple[bool, dict[str, str]]:
    """For /healthz: the database, Redis and (unless `cluster` is false) the default cluster."""
    from backbone_admin.clusters import default_cluster_name

    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["database"] = f"unavailable: {exc}"
    try:
        cache.set("healthz", "1", timeout=5)
        checks["redis"] = "ok" if cache.get("healthz") == "1" else "unavailable: value not read back"
    except Exception as exc:  # noqa: BLE001
        checks["redis"] = f"unavailable: {exc}"
    if not cluster:
        return all(v == "ok" for v in checks.values()), checks
    try:
        name = default_cluster_name()
        health = cluster_health(name)
        checks[f"cluster:{name}"] = "ok" if health.status != "down" else f"unavailable: {health.error}"
    except Exception as exc:  # noqa: BLE001
        checks["cluster"] = f"unavailable: {exc}"
    return all(v == "ok" for v in checks.values()), checks


def all_names() -> list[str]:
    return [c.name for c in all_clusters()]
