"""The overview's "failed jobs" tile. A template tag, so the topics app's overview view stays
below the streams app (imports run one way) while its page still counts the jobs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django import template
from django.utils import timezone

from streams.jobs.models import Job
from streams.jobs.services import visible_jobs

register = template.Library()

FAILED_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class FailedJobs:
    count: int
    latest: Job | None


@register.simple_tag(takes_context=True)
def failed_jobs(context: dict[str, Any], cluster: str) -> FailedJobs:
    """Jobs of the cluster that failed in the last 24 hours, and the latest of them: of those the
    page's user may see (a job on a hidden topic is not counted)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    jobs = visible_jobs(user, [cluster]) if user is not None else Job.objects.on_clusters([cluster])
    failed = jobs.filter(status=Job.Status.FAILED, finished_at__gte=timezone.now() - FAILED_WINDOW)
    return FailedJobs(count=failed.count(), latest=failed.order_by("-finished_at").first())
