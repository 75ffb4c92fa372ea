from __future__ import annotations

from celery import shared_task

from backbone_admin import broadcast
from backbone_admin.health import all_names, clusters_health
from backbone_admin.metrics import health as metrics_health


@shared_task(ignore_result=True, expires=60)
def check_clusters() -> int:
    """Ask every cluster for its health and push it to the open overview pages."""
    healths = clusters_health(all_names(), fresh=True)
    metrics_health.remember(healths)  # scrapes of /metrics read it; they never ask a cluster
    broadcast.cluster_health(healths)
    return len(healths)
