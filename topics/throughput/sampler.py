"""The throughput sampler: every topic's end offsets, one ListOffsets(latest) round per cluster per interval.

Each interval reads the latest offset of every partition of every topic (in chunks of
OFFSETS_CHUNK partitions sent together, like the topic list), sums them per topic and
subtracts the previous sample's sums, kept in one `ThroughputLatest` row per cluster. What
moved is written as one sparse `ThroughputSample` row; samples older than LAG_HISTORY_DAYS
are deleted by the same task. A topic whose end went backwards was deleted and created again
(or truncated by hand): it has no delta that interval rather than a negative rate. A cluster
that does not answer is logged and skipped without holding up the others.
"""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from backbone_admin.clusters import all_clusters
from backbone_admin.kafka import BackboneError, TopicNotFound
from backbone_admin.kafka.offsets import high_watermarks
from topics.listing import OFFSETS_CHUNK, cluster_pool, topic_index
from topics.throughput.models import ThroughputLatest, ThroughputSample

log = logging.getLogger("backbone.throughput")

Partition = tuple[str, int]


def _by_topic(cluster: str, chunk: Sequence[Partition]) -> dict[Partition, int]:
    """A chunk naming a topic deleted since the index was read: topic by topic, the deleted ones left out."""
    per_topic: dict[str, list[Partition]] = defaultdict(list)
    for tp in chunk:
        per_topic[tp[0]].append(tp)
    result: dict[Partition, int] = {}
    for wanted in per_topic.values():
        with contextlib.suppress(TopicNotFound):
            result.update(high_watermarks(cluster, wanted))
    return result


def read_ends(cluster: str) -> dict[str, int]:
    """{topic: sum of its partitions' latest offsets} of every topic of a cluster.

    The topic index comes from the shared metadata cache (at most METADATA_CACHE_TTL old); a
    partition added since counts from the next interval. Raises BackboneError (with the
    Kafka call's timeout) when the cluster does not answer.
    """
    _, rows = topic_index(cluster)
    partitions = [(name, p) for name, count, _, _ in rows for p in range(count)]
    pool = cluster_pool(cluster)
    futures = [
        (chunk, pool.submit(high_watermarks, cluster, chunk))
        for chunk in (partitions[i : i + OFFSETS_CHUNK] for i in range(0, len(partitions), OFFSETS_CHUNK))
    ]
    ends: dict[str, int] = {}
    for chunk, future in futures:
        try:
            answer = future.result()
        except TopicNotFound:
            answer = _by_topic(cluster, chunk)
        for (topic, _), offset in answer.items():
            ends[topic] = ends.get(topic, 0) + max(0, offset)
    return ends


def deltas(previous: Mapping[str, int], current: Mapping[str, int]) -> dict[str, int]:
    """Events appended per topic between two samples: only topics that moved forward.

    A topic new since the previous sample has no base to subtract from; one whose sum went
    backwards was recreated (or lost partitions' data): neither has a delta this interval.
    """
    return {t: end - previous[t] for t, end in current.items() if t in previous and end > previous[t]}


def record(cluster: str, ends: Mapping[str, int], at: datetime) -> ThroughputSample | None:
    """Store a cluster's sample: the delta row (none for the first sample) and the new latest ends."""
    with transaction.atomic():
        prev = ThroughputLatest.objects.select_for_update().filter(cluster=cluster).first()
        sample = None
        rates: dict[str, float] = {}
        if prev is not None and at > prev.sampled_at:
            seconds = (at - prev.sampled_at).total_seconds()
            moved = deltas(prev.ends or {}, ends)
            sample = ThroughputSample.objects.create(cluster=cluster, sampled_at=at, seconds=seconds, topics=moved)
            rates = {t: round(n / seconds, 3) for t, n in moved.items()}
        ThroughputLatest.objects.update_or_create(
            cluster=cluster, defaults={"sampled_at": at, "ends": dict(ends), "rates": rates}
        )
    return sample


def prune(now: datetime | None = None) -> int:
    """Delete samples older than LAG_HISTORY_DAYS; how many were deleted."""
    cutoff = (now or timezone.now()) - timedelta(days=float(settings.LAG_HISTORY_DAYS))
    deleted, _ = ThroughputSample.objects.older_than(cutoff).delete()
    return deleted


def sample_cluster(cluster: str, at: datetime | None = None) -> int:
    """Sample one cluster; the number of topics that moved since the previous sample."""
    ends = read_ends(cluster)
    sample = record(cluster, ends, at or timezone.now())
    return len(sample.topics) if sample is not None else 0


def sample_all() -> dict[str, int | str]:
    """Sample every cluster, then prune; per cluster: topics that moved, or the error."""
    result: dict[str, int | str] = {}
    for cluster in all_clusters():
        try:
            # Each cluster's own time: a slow cluster does not stretch the next one's interval.
            result[cluster.name] = sample_cluster(cluster.name)
        except BackboneError as exc:
            log.warning("throughput sampling skipped cluster %s: %s", cluster.name, exc.message)
            result[cluster.name] = exc.message
    result["pruned"] = prune()
    return result
