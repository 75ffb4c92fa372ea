"""Partition offsets: watermarks and offsets for a point in time (ListOffsets)."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import OffsetSpec

from backbone_admin.clusters import ClusterConfig
from backbone_admin.kafka import names, records
from backbone_admin.kafka.client import (
    admin_client,
    base_config,
    build_client,
    call,
    clear_cause,
    raise_translated,
    require_cluster,
    timeout,
    wait,
)
from backbone_admin.kafka.types import Watermarks

Partition = tuple[str, int]

# ListOffsets' own timestamps for the log start and the log end (the protocol's EARLIEST and LATEST).
EARLIEST, LATEST = -2, -1
# One consumer per cluster answers the log start and end look-ups (its offsets_for_times is
# thread-safe): the admin client's list_offsets makes a future per partition, and at 300,000
# partitions that Python work was 25 µs a partition, 5 times this path's (bench/topics_100k.py).
_lookups: dict[str, tuple[ClusterConfig, Consumer]] = {}
_lookups_lock = threading.Lock()


def _lookup_consumer(cluster: ClusterConfig) -> Consumer:
    with _lookups_lock:
        found = _lookups.get(cluster.name)
        if found is not None and found[0] == cluster:
            return found[1]
        conf = base_config(cluster) | {
            # Required by the client, never used: no subscribe, no commit.
            "group.id": "backbone-console-offsets",
            "enable.auto.commit": False,
            # The end as the admin client's list_offsets answers it: the high watermark, not the last stable offset.
            "isolation.level": "read_uncommitted",
        }
        consumer = build_client(lambda _: Consumer(conf), cluster)
        _lookups[cluster.name] = (cluster, consumer)
        if found is not None:
            found[1].close()
        return consumer


def _answers(cluster_name: str, partitions: list[Partition], spec: OffsetSpec, what: str) -> dict[Partition, Any]:
    """The broker's ListOffsets answer (offset, timestamp) per partition."""
    if not partitions:
        return {}
    names.topics({t for t, _ in partitions})
    cluster = require_cluster(cluster_name)
    request = {TopicPartition(t, p): spec for t, p in partitions}
    admin = admin_client(cluster)
    futures = call(lambda: admin.list_offsets(request, request_timeout=timeout()), cluster, what)
    return {(tp.topic, tp.partition): wait(f, cluster, what) for tp, f in futures.items()}


def log_ends(cluster_name: str, partitions: Sequence[Partition], *, latest: bool) -> list[int]:
    """The first (`latest=False`) or next (`latest=True`) offset of each partition, in the order given.

    One ListOffsets per leader, as the admin client's list_offsets sends it, with the same
    answers (read uncommitted) and errors (TopicNotFound for a topic the cluster does not
    have, ClusterUnavailable when it does not answer within the timeout).
    """
    if not partitions:
        return []
    names.topics({t for t, _ in partitions})
    cluster = require_cluster(cluster_name)
    what = "reading latest offsets" if latest else "reading earliest offsets"
    spec = LATEST if latest else EARLIEST
    consumer = _lookup_consumer(cluster)
    wanted = [TopicPartition(t, p, spec) for t, p in partitions]
    answers = call(lambda: consumer.offsets_for_times(wanted, timeout=timeout()), cluster, what)
    offsets = []
    for answer in answers:
        if answer.error is not None:
            raise_translated(KafkaException(answer.error), cluster, what)
        offsets.append(answer.offset)
    clear_cause(cluster.name)
    return offsets


def _list_offsets(cluster_name: str, partitions: list[Partition], *, latest: bool) -> dict[Partition, int]:
    return dict(zip(partitions, log_ends(cluster_name, partitions, latest=latest), strict=True))


def watermarks(
    cluster_name: str, partitions: Iterable[Partition], *, exact: bool = True
) -> dict[Partition, Watermarks]:
    """Low (earliest) and high (latest) offsets of each partition.

    `exact`: the high watermark as a fetch response states it (`records.fetched_watermarks`), one
    more round trip. A broker's ListOffsets answer for `latest` may stop short of the log end
    (the test broker answers with its last batch's first offset + 1: TEST_BROKER.md); a fetch
    response's high watermark is the log end on every broker. Without `exact` (the topic list's
    thousands of partitions) the ListOffsets answers are taken as they are.
    """
    wanted = list(partitions)
    low = _list_offsets(cluster_name, wanted, latest=False)
    high = high_watermarks(cluster_name, wanted)
    if exact:
        for partition, (_low, fetched) in records.fetched_watermarks(cluster_name, high).items():
            high[partition] = max(high[partition], fetched)
    return {p: Watermarks(low=low[p], high=high[p]) for p in wanted}


def log_starts(cluster_name: str, partitions: Iterable[Partition]) -> dict[Partition, int]:
    """The first offset each partition still holds (what retention and delete-records left)."""
    return _list_offsets(cluster_name, list(partitions), latest=False)


def high_watermarks(cluster_name: str, partitions: Iterable[Partition]) -> dict[Partition, int]:
    """The high (latest) offset of each partition: one request, for callers that need only the end."""
    return _list_offsets(cluster_name, list(partitions), latest=True)


def offsets_for_time(cluster_name: str, partitions: Iterable[Partition], timestamp_ms: int) -> dict[Partition, int]:
    """The first offset with a timestamp ≥ timestamp_ms per partition; -1 where there is none (a time
    after the partition's last event: callers read -1 as the log end).

    Kafka answers a look-up by time with the offset *and the timestamp* of the record it found, and
    with offset -1, timestamp -1 when no record is that new. An answer without a timestamp found
    nothing whatever its offset says: a compatible broker may answer offset 0 there (the test broker
    does, TEST_BROKER.md), which read as an offset would start or end a range at the log start.
    """
    answers = _answers(
        cluster_name, list(partitions), OffsetSpec.for_timestamp(timestamp_ms), "looking up offsets by time"
    )
    return {p: a.offset if a.offset >= 0 and a.timestamp >= 0 else -1 for p, a in answers.items()}
