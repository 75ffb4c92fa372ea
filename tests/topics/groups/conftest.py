"""Arranged data for the consumer group tests: topics whose end offsets are exact on both
brokers (every record flushed on its own, TEST_BROKER.md), and empty groups whose offsets
the test commits without joining."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.conftest import independent_client_config

Offsets = Mapping[tuple[str, int], int]


@pytest.fixture
def prefix() -> str:
    return f"g-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def producer(kafka_bootstrap: str) -> Producer:
    return Producer(independent_client_config(kafka_bootstrap, **{"linger.ms": 0}))


@pytest.fixture
def make_topic(kafka_admin: AdminClient, producer: Producer) -> Callable[..., str]:
    """Create a topic and put `counts[p]` records in partition p, each in its own batch."""

    def make(name: str, counts: list[int], *, timestamp: int | None = None) -> str:
        kafka_admin.create_topics([NewTopic(name, len(counts), 1)])[name].result(10)
        produce(producer, name, counts, timestamp=timestamp)
        return name

    return make


def produce(producer: Producer, topic: str, counts: list[int], *, timestamp: int | None = None) -> None:
    for partition, count in enumerate(counts):
        for i in range(count):
            kwargs: dict[str, Any] = {"timestamp": timestamp} if timestamp is not None else {}
            producer.produce(topic, value=f"e-{partition}-{i}".encode(), partition=partition, **kwargs)
            producer.flush(10)  # one record per batch: the end offset is exact on the test broker too


@pytest.fixture
def commit(kafka_bootstrap: str) -> Callable[[str, Offsets], None]:
    """Commit offsets for a group without joining it: the group stays empty."""

    def do(group: str, offsets: Offsets) -> None:
        consumer = Consumer(independent_client_config(kafka_bootstrap, **{"group.id": group}))
        try:
            consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()], asynchronous=False)
        finally:
            consumer.close()

    return do


@pytest.fixture
def committed(kafka_admin: AdminClient) -> Callable[[str], dict[tuple[str, int], int]]:
    """A group's committed offsets read back by an independent client."""

    def read(group: str) -> dict[tuple[str, int], int]:
        future = kafka_admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group]
        return {(tp.topic, tp.partition): tp.offset for tp in future.result(10).topic_partitions if tp.offset >= 0}

    return read


@pytest.fixture
def joined(kafka_bootstrap: str) -> Iterator[Callable[[str, str], Consumer]]:
    """A consumer that has joined `group` on `topic` and been assigned its partitions."""
    consumers: list[Consumer] = []

    def join(group: str, topic: str) -> Consumer:
        consumer = Consumer(
            independent_client_config(
                kafka_bootstrap,
                **{
                    "group.id": group,
                    "session.timeout.ms": 6000,
                    "client.id": f"{group}-member",
                    "enable.auto.commit": False,
                },
            )
        )
        consumers.append(consumer)
        consumer.subscribe([topic])
        deadline = time.monotonic() + 30
        while not consumer.assignment():
            assert time.monotonic() < deadline, "the test consumer was never assigned a partition"
            consumer.poll(0.2)
        return consumer

    yield join
    for consumer in consumers:
        consumer.close()
