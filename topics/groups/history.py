"""Lag history: a beat task samples every group's lag; pages read it back as series.

Each sample is one compact row per group (the total and the lag per topic, and apart from
them the events not yet committed on partitions of its topics without a commit). Samples older
than LAG_HISTORY_DAYS are deleted by the same task. One cluster that does not answer is
skipped (and logged) without holding up the others.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.utils import timezone

from backbone_admin.clusters import all_clusters
from backbone_admin.kafka import BackboneError
from topics.groups.listing import read_snapshot
from topics.groups.models import LagSample
from topics.groups.snapshot import Snapshot

log = logging.getLogger("backbone.groups")

# Ranges the detail page offers, in seconds; the chart shows at most CHART_POINTS points.
RANGES = {"1h": 3600, "6h": 6 * 3600, "24h": 24 * 3600, "7d": 7 * 24 * 3600}
DEFAULT_RANGE = "1h"
CHART_POINTS = 240
SPARKLINE_SECONDS = 3600
SPARKLINE_POINTS = 40
GROUP_ID_MAX = LagSample._meta.get_field("group").max_length or 255


def record_samples(cluster: str, snap: Snapshot, at: datetime) -> int:
    rows = [
        LagSample(
            cluster=cluster,
            group=r.group_id,
            sampled_at=at,
            total_lag=r.lag,
            uncommitted=r.uncommitted,
            topics=dict(r.topic_lags),
        )
        for r in snap.rows
        if len(r.group_id) <= GROUP_ID_MAX  # a longer id (Kafka allows it) would fail the whole batch
    ]
    LagSample.objects.bulk_create(rows, batch_size=500)
    return len(rows)


def prune(now: datetime | None = None) -> int:
    """Delete samples older than LAG_HISTORY_DAYS; how many were deleted."""
    cutoff = (now or timezone.now()) - timedelta(days=float(settings.LAG_HISTORY_DAYS))
    deleted, _ = LagSample.objects.older_than(cutoff).delete()
    return deleted


def sample_all() -> dict[str, int | str]:
    """Sample the lag of every group of every cluster, then prune; per cluster: samples written or the error."""
    result: dict[str, int | str] = {}
    at = timezone.now()
    for cluster in all_clusters():
        try:
            result[cluster.name] = record_samples(cluster.name, read_snapshot(cluster.name), at)
        except BackboneError as exc:
            log.warning("lag sampling skipped cluster %s: %s", cluster.name, exc.message)
            result[cluster.name] = exc.message
    result["pruned"] = prune(at)
    return result


_P = TypeVar("_P", bound=tuple[Any, ...])


def _weight(point: tuple[Any, ...]) -> int | None:
    known = [v for v in point[1:] if v is not None]
    return sum(known) if known else None


def _downsample(points: Sequence[_P], start: datetime, seconds: int, buckets: int) -> list[_P]:
    """At most `buckets` points (at, value, …): the highest sum of each time bucket (a peak never disappears)."""
    if len(points) <= buckets:
        return list(points)
    width = seconds / buckets
    grouped: dict[int, _P] = {}
    for point in points:
        index = min(buckets - 1, int((point[0] - start).total_seconds() / width))
        current = grouped.get(index)
        value = _weight(point)
        if current is None or (value is not None and (_weight(current) is None or value > (_weight(current) or 0))):
            grouped[index] = point
    return [grouped[i] for i in sorted(grouped)]


# (sampled_at, committed lag, events not yet committed)
Sample = tuple[datetime, int | None, int | None]


def visible_lag(
    total: int | None, uncommitted: int | None, topics: dict[str, int], topic_visible: Callable[[str], bool] | None
) -> tuple[int | None, int | None]:
    """A sample's (lag, not yet committed) over the topics a user may see.

    The lag is kept per topic; events not yet committed only in total, so they are shown
    only when every topic of the sample is visible.
    """
    if topic_visible is None or all(topic_visible(t) for t in topics):
        return total, uncommitted
    shown = [lag for t, lag in topics.items() if topic_visible(t)]
    return (sum(shown) if shown else None), None


def series(
    cluster: str, group: str, range_name: str = DEFAULT_RANGE, topic_visible: Callable[[str], bool] | None = None
) -> list[Sample]:
    """(sampled_at, total lag, not yet committed) of one group over a named range, oldest first;
    with `topic_visible`, over the topics the user may see."""
    seconds = RANGES[range_name]
    start = timezone.now() - timedelta(seconds=seconds)
    rows = LagSample.objects.of(cluster, group).since(start)
    points: list[Sample] = [
        (at, *visible_lag(total, unc, topics or {}, topic_visible))
        for at, total, unc, topics in rows.values_list("sampled_at", "total_lag", "uncommitted", "topics")
    ]
    return _downsample(points, start, seconds, CHART_POINTS)


def recent(
    cluster: str, groups: Sequence[str], topic_visible: Callable[[str], bool] | None = None
) -> dict[str, list[int | None]]:
    """The last hour of total lag of each group, for the list's sparklines (over the visible topics)."""
    start = timezone.now() - timedelta(seconds=SPARKLINE_SECONDS)
    found: dict[str, list[tuple[datetime, int | None]]] = defaultdict(list)
    rows = (
        LagSample.objects.filter(cluster=cluster, group__in=list(groups), sampled_at__gte=start)
        .order_by("sampled_at")
        .values_list("group", "sampled_at", "total_lag", "topics")
    )
    for group, at, lag, topics in rows:
        found[group].append((at, visible_lag(lag, None, topics or {}, topic_visible)[0]))
    return {g: [v for _, v in _downsample(p, start, SPARKLINE_SECONDS, SPARKLINE_POINTS)] for g, p in found.items()}
