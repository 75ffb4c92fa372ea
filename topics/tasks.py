from __future__ import annotations

from celery import shared_task

from topics.retention.apply import drift_refresh_all
from topics.throughput.sampler import sample_all


@shared_task(ignore_result=True, expires=120)
def check_retention_drift() -> dict[str, int | str]:
    """Recount the topics drifting from their retention policy on every cluster, for the navigation."""
    return drift_refresh_all()


@shared_task(ignore_result=True, expires=60)
def sample_throughput() -> dict[str, int | str]:
    """Sample every topic's end offsets on every cluster (events/s), and prune old samples."""
    return sample_all()
