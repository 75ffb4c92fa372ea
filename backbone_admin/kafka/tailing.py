"""What a live tail needs beyond `records.tail_consumer`: the topic's partitions as the tail's
own consumer sees them, and partitions added to its assignment without moving the others.

Asking the tail consumer itself (a metadata request on its own connections) keeps a tail
independent of the shared AdminClient, and lets it notice partitions added while it runs.
"""

from __future__ import annotations

from confluent_kafka import OFFSET_END, KafkaError, KafkaException, TopicPartition

from backbone_admin.kafka import errors
from backbone_admin.kafka.client import raise_translated, timeout
from backbone_admin.kafka.records import LATEST, Reader


def partitions_of(reader: Reader, topic: str) -> list[int]:
    """The partition ids of `topic` (TopicNotFound when the cluster does not have it)."""
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
    return sorted(described.partitions)


def add_partitions(reader: Reader, partitions: list[int]) -> None:
    """Also read these partitions of the reader's topic, from their end (the others keep their place)."""
    if not partitions:
        return
    try:
        reader.consumer.incremental_assign([TopicPartition(reader.topic, p, OFFSET_END) for p in partitions])
    except KafkaException as exc:
        raise_translated(exc, reader.cluster, f"reading new partitions of `{reader.topic}`")
    reader.positions.update(dict.fromkeys(partitions, LATEST))
