"""Fixtures of the topic tests."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

UNSUPPORTED = (KafkaError._UNSUPPORTED_FEATURE, KafkaError.UNSUPPORTED_VERSION, KafkaError.INVALID_REQUEST)


@pytest.fixture(scope="session")
def broker_adds_partitions(kafka_admin: AdminClient) -> bool:
    """Whether the broker implements CreatePartitions, asked by an independent client on a topic of its own.

    Apache Kafka grows the topic; a broker without the request (the test broker, TEST_BROKER.md)
    answers UNSUPPORTED_FEATURE. Tests then hold the console to the broker's real answer.
    """
    name = f"t-probe-partitions-{uuid.uuid4().hex[:8]}"
    kafka_admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])[name].result(timeout=10)
    try:
        kafka_admin.create_partitions([NewPartitions(name, 2)])[name].result(timeout=10)
    except KafkaException as exc:
        if exc.args[0].code() not in UNSUPPORTED:
            raise
        return False
    finally:
        kafka_admin.delete_topics([name])[name].result(timeout=10)
    return True
