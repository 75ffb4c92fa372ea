"""Partition offsets: watermarks and offsets for a point in time (ListOffsets)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from confluent_kafka import TopicPartition
from confluent_kafka.admin import OffsetSpec

from backbone_admin.kafka import names, records
from backbone_admin.kafka.client import admin_client, call, require_cluster, timeout, wait
from backbone_admin.kafka.types import Watermarks

Partition = tuple[str, int]


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


def _list_offsets(cluster_name: str, partitions: list[Partition], spec: OffsetSpec, what: str) -> dict[Partition, int]:
    return {p: answer.offset for p, answer in _answers(cluster_name, partitions, spec, what).items()}


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
    low = _list_offsets(cluster_name, wanted, OffsetSpec.earliest(), "reading earliest offsets")
    high = high_watermarks(cluster_name, wanted)
    if exact:
        for partition, (_low, fetched) in records.fetched_watermarks(cluster_name, high).items():
            high[partition] = max(high[partition], fetched)
    return {p: Watermarks(low=low[p], high=high[p]) for p in wanted}


def log_starts(cluster_name: str, partitions: Iterable[Partition]) -> dict[Partition, int]:
    """The first offset each partition still holds (what retention and delete-records left)."""
    return _list_offsets(cluster_name, list(partitions), OffsetSpec.earliest(), "reading earliest offsets")


def high_watermarks(cluster_name: str, partitions: Iterable[Partition]) -> dict[Partition, int]:
    """The high (latest) offset of each partition: one request, for callers that need only the end."""
    return _list_offsets(cluster_name, list(partitions), OffsetSpec.latest(), "reading latest offsets")


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
