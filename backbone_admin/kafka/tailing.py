"""What a live tail needs beyond `records.tail_consumer`: the topic's partitions as the tail's
own consumer sees them, their end offsets, and partitions added to its assignment without
moving the others.

Asking the tail consumer itself (a metadata request on its own connections) keeps a tail
independent of the shared AdminClient, and lets it notice partitions added while it runs.
"""

from __future__ import annotations

import time

from confluent_kafka import OFFSET_END, KafkaError, KafkaException, TopicPartition

from backbone_admin.kafka import errors, names
from backbone_admin.kafka.client import raise_translated, timeout
from backbone_admin.kafka.records import EARLIEST, Reader


def partitions_of(reader: Reader, topic: str) -> list[int]:
    """The partition ids of `topic` (TopicNotFound when the cluster does not have it)."""
    names.topic(topic)
    what = f"reading the partitions of `{topic}`"
    try:
        metadata = reader.consumer.list_topics(topic, timeout=timeout())
    except KafkaException as exc:
        raise_translated(exc, reader.cluster, what)
    described = metadata.topics.get(topic)
    error = described.error if described is not None else None
    if described is None or (error is not None and error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART):
        raise errors.TopicNotFound(f"topic `{topic}` does not exist on cluster `{reader.cluster.name}`")
    if error is not None:
        raise_translated(KafkaException(error), reader.cluster, what)
    reader.known.add(topic)  # its leaders are known now: `assign` need not look them up again
    return sorted(described.partitions)


# Answers of a partition's leader that is not ready yet: right after a topic is created (Kafka
# answers NOT_LEADER_FOR_PARTITION for some 50 ms) or while leadership moves.
_NOT_READY = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError.REPLICA_NOT_AVAILABLE,
    KafkaError.OFFSET_NOT_AVAILABLE,
}
RETRY_WAIT = 0.05


def end_offsets(reader: Reader, topic: str, partitions: list[int]) -> dict[int, int]:
    """Each partition's end offset now, one ListOffsets request per leader (asked again while a
    leader is not ready, within the timeout).

    A tail is assigned at these concrete offsets rather than at OFFSET_END, which librdkafka
    resolves in the background after `assign`: an event produced once the tail said `live`
    could land before that resolution and never be read.
    """
    names.topic(topic)
    what = f"reading the end offsets of `{topic}`"
    deadline = time.monotonic() + timeout()
    ends: dict[int, int] = {}
    while True:
        # Timestamp -1 is ListOffsets' "latest" (what OFFSET_END resolves to), for all partitions at once.
        wanted = [TopicPartition(topic, p, OFFSET_END) for p in partitions if p not in ends]
        error: KafkaError | None = None
        try:
            found = reader.consumer.offsets_for_times(wanted, timeout=timeout())
        except KafkaException as exc:
            error = exc.args[0]
            found = []
        for tp in found:
            if tp.error is not None:
                error = tp.error
            elif tp.offset >= 0:
                ends[tp.partition] = tp.offset
        if len(ends) == len(partitions):
            return ends
        if error is not None and (error.code() not in _NOT_READY or time.monotonic() >= deadline):
            raise_translated(KafkaException(error), reader.cluster, what)
        if time.monotonic() >= deadline:
            missing = sorted(set(partitions) - set(ends))
            raise errors.ClusterUnavailable(
                f"cluster `{reader.cluster.name}` gave no end offset for partitions {missing} of `{topic}`"
            )
        time.sleep(RETRY_WAIT)


def add_partitions(reader: Reader, partitions: list[int]) -> None:
    """Also read these new partitions of the reader's topic, from their beginning (the others keep their place).

    A partition added while the tail runs holds only events newer than the tail's start; read
    from its end, the first ones (produced before the tail noticed the partition) were lost.
    """
    if not partitions:
        return
    try:
        reader.consumer.incremental_assign([TopicPartition(reader.topic, p, EARLIEST) for p in partitions])
    except KafkaException as exc:
        raise_translated(exc, reader.cluster, f"reading new partitions of `{reader.topic}`")
    reader.positions.update(dict.fromkeys(partitions, EARLIEST))
