"""Jobs for /metrics (backbone_admin.metrics): how many are in each state, started ever, finished lately."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from django.db.models import Count
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from backbone_admin.metrics.collector import Scrape
from streams.jobs.models import Job


def jobs(scrape: Scrape) -> Iterator[Metric]:
    """Three grouped counts over the job rows (jobs are kept, never deleted)."""
    clusters = list(scrape.clusters)
    by_state = GaugeMetricFamily(
        "backbone_jobs", "Jobs (replays, exports) by kind and state, now.", labels=["cluster", "kind", "state"]
    )
    counts = {
        (row["cluster"], row["kind"], row["status"]): row["n"]
        for row in Job.objects.filter(cluster__in=clusters).values("cluster", "kind", "status").annotate(n=Count("id"))
    }
    # Every state of every kind, zeros included: an alert on `backbone_jobs{state="failed"} > 0` needs the series.
    for cluster in clusters:
        for kind in Job.Kind.values:
            for state in Job.Status.values:
                by_state.add_metric([cluster, kind, state], counts.get((cluster, kind, state), 0))
    yield by_state

    # started_at is never cleared (a retry sets it anew): a true counter, rate() is jobs started per second.
    started = CounterMetricFamily(
        "backbone_jobs_started", "Jobs that have started running, ever.", labels=["cluster", "kind"]
    )
    rows = (
        Job.objects.filter(cluster__in=clusters, started_at__isnull=False)
        .values("cluster", "kind")
        .annotate(n=Count("id"))
    )
    started_counts = {(row["cluster"], row["kind"]): row["n"] for row in rows}
    for cluster in clusters:
        for kind in Job.Kind.values:
            started.add_metric([cluster, kind], started_counts.get((cluster, kind), 0))
    yield started

    # Not a counter: retrying a failed job clears its finish, so "finished, ever" can go down, which
    # Prometheus would read as a reset. The jobs that finished within the last hour are a plain count.
    finished = GaugeMetricFamily(
        "backbone_jobs_finished_last_hour",
        "Jobs that finished within the last hour, by how they ended.",
        labels=["cluster", "kind", "state"],
    )
    since = datetime.fromtimestamp(scrape.now - 3600, tz=UTC)
    rows = (
        Job.objects.filter(cluster__in=clusters, status__in=Job.FINISHED, finished_at__gte=since)
        .values("cluster", "kind", "status")
        .annotate(n=Count("id"))
    )
    finished_counts = {(row["cluster"], row["kind"], row["status"]): row["n"] for row in rows}
    for cluster in clusters:
        for kind in Job.Kind.values:
            for state in Job.FINISHED:
                finished.add_metric([cluster, kind, str(state)], finished_counts.get((cluster, kind, str(state)), 0))
    yield finished
