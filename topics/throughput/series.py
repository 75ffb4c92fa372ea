"""Throughput read back for pages and the API: events/s series, sparklines, busiest topics.

A series point is the mean rate of a time bucket (events in it / seconds it covers), so a
7-day chart of 20,000 samples shows 240 honest averages; a bucket without a sample is left
out, never drawn as a zero. `Point` values stay `float | None` for callers that add gaps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models.fields.json import KeyTransform
from django.utils import timezone

from backbone_admin.kafka import is_internal_topic
from topics.groups.history import CHART_POINTS, RANGES, SPARKLINE_POINTS, SPARKLINE_SECONDS
from topics.throughput.models import ThroughputLatest, ThroughputSample

TopicVisible = Callable[[str], bool] | None
Point = tuple[datetime, float | None]
BUSIEST = 10


def bucketed(rows: Iterable[tuple[datetime, float, float]], start: datetime, seconds: int, buckets: int) -> list[Point]:
    """(bucket start, events/s) for rows of (sampled_at, seconds covered, events), oldest first.

    Buckets without a sample are left out rather than drawn as zero or as a gap: each sample
    covers the time since the previous one (`seconds`), so a bucket between two samples is
    covered by the later one's mean, and a cluster that did not answer for a while shows as
    the mean over the outage once it answers again.
    """
    width = seconds / buckets
    events = [0.0] * buckets
    covered = [0.0] * buckets
    for at, span, count in rows:
        index = min(buckets - 1, max(0, int((at - start).total_seconds() / width)))
        events[index] += count
        covered[index] += span
    return [
        (start + timedelta(seconds=i * width), round(events[i] / covered[i], 3))
        for i in range(buckets)
        if covered[i] > 0
    ]


def topic_series(cluster: str, topic: str, range_name: str) -> list[Point]:
    """Events/s appended to one topic over a named range."""
    seconds = RANGES[range_name]
    start = timezone.now() - timedelta(seconds=seconds)
    rows = list(
        ThroughputSample.objects.of(cluster)
        .since(start)
        .annotate(events=KeyTransform(topic, "topics"))  # one key of each sparse row, read by the database
        .values_list("sampled_at", "seconds", "events")
    )
    return bucketed(
        ((at, span, float(n or 0)) for at, span, n in rows), start, seconds, _points_for(rows, seconds, CHART_POINTS)
    )


def _points_for(rows: Sequence[object], seconds: int, limit: int) -> int:
    interval = max(1.0, float(settings.THROUGHPUT_SAMPLE_INTERVAL))
    # One bucket per sample interval at most: finer buckets would alternate values and gaps.
    return max(1, min(limit, int(seconds / interval)))


def _visible_sum(topics: dict[str, int], topic_visible: TopicVisible) -> float:
    # Kafka's own topics (commits in __consumer_offsets) are not the backbone's traffic.
    return float(
        sum(n for t, n in topics.items() if not is_internal_topic(t) and (topic_visible is None or topic_visible(t)))
    )


def cluster_series(cluster: str, range_name: str, topic_visible: TopicVisible = None) -> list[Point]:
    """Events/s appended to a cluster's topics (those the user may see, internal ones left out) over a range."""
    seconds = RANGES[range_name]
    start = timezone.now() - timedelta(seconds=seconds)
    rows = list(ThroughputSample.objects.of(cluster).since(start).values_list("sampled_at", "seconds", "topics"))
    return bucketed(
        ((at, span, _visible_sum(topics or {}, topic_visible)) for at, span, topics in rows),
        start,
        seconds,
        _points_for(rows, seconds, CHART_POINTS),
    )


def recent(cluster: str, topics: Sequence[str]) -> dict[str, list[float | None]]:
    """The last hour of events/s of each named topic (a page of them), for the topic list's sparklines.

    Only the page's keys are read out of each sample, by the database: a sample of a busy
    cluster may name thousands of topics.
    """
    if not topics:
        return {}
    start = timezone.now() - timedelta(seconds=SPARKLINE_SECONDS)
    keys = {f"t{i}": KeyTransform(name, "topics") for i, name in enumerate(topics)}
    rows = list(
        ThroughputSample.objects.of(cluster).since(start).annotate(**keys).values_list("sampled_at", "seconds", *keys)
    )
    if not rows:
        return {}
    buckets = _points_for(rows, SPARKLINE_SECONDS, SPARKLINE_POINTS)
    return {
        name: [
            v
            for _, v in bucketed(((r[0], r[1], float(r[2 + i] or 0)) for r in rows), start, SPARKLINE_SECONDS, buckets)
        ]
        for i, name in enumerate(topics)
    }


def current_rates(
    cluster: str, topic_visible: TopicVisible = None, *, internal: bool = True
) -> tuple[datetime | None, dict[str, float]]:
    """(when, events/s per visible topic over the last interval); (None, {}) before the first sample.

    `internal=False` leaves Kafka's own topics out (cluster totals, the busiest topics).
    """
    # Only the sparse rates: the row's `ends` names every topic (MBs of JSON at 100,000 topics).
    found = ThroughputLatest.objects.filter(cluster=cluster).values_list("sampled_at", "rates").first()
    if found is None:
        return None, {}
    at, all_rates = found
    rates = {
        t: float(r)
        for t, r in (all_rates or {}).items()
        if (internal or not is_internal_topic(t)) and (topic_visible is None or topic_visible(t))
    }
    return at, rates


def busiest(cluster: str, topic_visible: TopicVisible = None, count: int = BUSIEST) -> list[tuple[str, float]]:
    """The topics appended to fastest over the last interval, fastest first."""
    _, rates = current_rates(cluster, topic_visible, internal=False)
    return sorted(rates.items(), key=lambda item: (-item[1], item[0]))[:count]
