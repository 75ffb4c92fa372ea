"""Key look-up: read only the partitions a producer's default partitioner puts the key in.

The Java clients (and librdkafka's `murmur2_random`) hash the key with murmur2; librdkafka's
default `consistent_random` (confluent-kafka, kcat, …) with CRC-32. Unless the cluster names
its partitioner (`partitioner:` in the clusters file), both are tried: one or two partitions
instead of all. Producers with a custom partitioner need `all partitions`.

The key timeline reads one key across several topics and merges the events in time order.
Below admin on a cluster with masking rules it compares the key as the user sees it, and a
key that masking hides is refused before anything is read (streams.browse.query).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from backbone_admin.clusters import ClusterConfig
from backbone_admin.kafka import BackboneError, InvalidRequest
from backbone_admin.kafka.partitioner import PARTITIONERS, partition_for

if TYPE_CHECKING:
    from streams.browse.query import Result
    from streams.events.serialize import DecodedEvent

PARTITIONER_NAMES = {
    "murmur2": "murmur2 (Java clients' default, librdkafka murmur2_random)",
    "crc32": "CRC-32 (librdkafka's default consistent_random: confluent-kafka, kcat)",
}


@dataclass(frozen=True)
class KeyPartitions:
    key: str
    partition_count: int
    chosen: tuple[tuple[str, int], ...]  # (partitioner, partition) for each partitioner tried
    every: bool

    @property
    def partitions(self) -> list[int]:
        if self.every:
            return list(range(self.partition_count))
        return sorted({p for _, p in self.chosen})

    def describe(self) -> str:
        if self.every:
            return f"Key look-up over all {self.partition_count} partitions (for producers with a custom partitioner)."
        by_partition: dict[int, list[str]] = {}
        for name, p in self.chosen:
            by_partition.setdefault(p, []).append(PARTITIONER_NAMES[name])
        by = "; ".join(f"partition {p} by {' and by '.join(names)}" for p, names in by_partition.items())
        count = len(self.partitions)
        which = "this partition" if count == 1 else "these partitions"
        return f"Key look-up: {by}. Only {which} of {self.partition_count} {'is' if count == 1 else 'are'} read."


def key_partitions(key: str, partition_count: int, cluster: ClusterConfig, *, every: bool = False) -> KeyPartitions:
    """The partitions the cluster's partitioner (or both defaults when it names none) gives the key."""
    names = (cluster.partitioner,) if cluster.partitioner else PARTITIONERS
    data = key.encode()
    chosen = tuple((name, partition_for(data, partition_count, name)) for name in names)
    return KeyPartitions(key=key, partition_count=partition_count, chosen=chosen, every=every)


@dataclass
class TimelineTopic:
    topic: str
    result: Result | None = None
    error: str | None = None


@dataclass
class Timeline:
    key: str
    topics: list[TimelineTopic]
    events: list[DecodedEvent] = field(default_factory=list)
    truncated: bool = False  # more events than shown, or a topic's scan stopped before its end


def key_timeline(
    cluster: ClusterConfig,
    topics: list[str],
    key: str,
    *,
    masked: bool,
    limit: int,
    seconds: float,
    every: bool = False,
    check: Callable[[str], Any] | None = None,
) -> Timeline:
    """Every event with `key` in `topics`, oldest first, merged by time (at most `limit`).

    Each topic gets an equal share of what is left of `seconds`; a topic that does not exist or
    cannot be read is reported on its own line while the others are still shown. `check(topic)`
    raises for a topic the user may not read (a hidden one exactly as a missing one), before
    anything of it is read.
    """
    from streams.browse.query import MessageQuery, budget_for, check_key_lookup, run_query

    if not key:
        raise InvalidRequest("key: enter the key to follow", fields={"key": "required"})
    check_key_lookup(cluster, key, masked=masked)  # the page's 400, not one error line per topic
    timeline = Timeline(key=key, topics=[])
    deadline = time.monotonic() + seconds
    for index, topic in enumerate(topics):
        entry = TimelineTopic(topic)
        timeline.topics.append(entry)
        share = max(0.5, (deadline - time.monotonic()) / (len(topics) - index))
        query = MessageQuery(start="oldest", order="oldest", key=key, all_partitions=every, limit=limit)
        budget = budget_for(query)
        budget.seconds = min(budget.seconds, share)
        try:
            if check is not None:
                check(topic)
            entry.result = run_query(cluster, topic, query, masked=masked, budget=budget)
        except BackboneError as exc:
            entry.error = exc.message
            continue
        timeline.events.extend(entry.result.events)
        if entry.result.page.next is not None:
            timeline.truncated = True
    timeline.events.sort(key=lambda e: (e.record.timestamp, e.record.topic, e.record.partition, e.record.offset))
    if len(timeline.events) > limit:
        timeline.events = timeline.events[:limit]
        timeline.truncated = True
    return timeline
