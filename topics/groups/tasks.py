from __future__ import annotations

from celery import shared_task

from topics.groups.history import sample_all


@shared_task(ignore_result=True, expires=60)
def sample_lag() -> dict[str, int | str]:
    """Sample every consumer group's lag on every cluster, and prune old samples."""
    return sample_all()
