"""Producing events: one cached Producer per cluster per process."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer
from django.conf import settings

from backbone_admin.kafka import names
from backbone_admin.kafka.client import (
    base_config,
    build_client,
    configured_timeout,
    raise_translated,
    require_cluster,
    timeout,
    writable_cluster,
)

_producers: dict[str, Producer] = {}
_lock = threading.Lock()


def _producer(cluster_name: str) -> Producer:
    cluster = writable_cluster(cluster_name, "producing")
    with _lock:
        producer = _producers.get(cluster_name)
        if producer is None:
            conf = base_config(cluster)
            conf.update(
                {
                    "enable.idempotence": True,
                    "linger.ms": 5,
                    "compression.type": "lz4",
                    "message.timeout.ms": int(configured_timeout() * 1000) * 2,
                    # The console never creates a topic by producing to it, whatever the broker allows.
                    "allow.auto.create.topics": False,
                    # Room for the largest value the produce form accepts, plus key and headers.
                    "message.max.bytes": max(1_000_000, int(settings.PRODUCE_MAX_BYTES) + 64 * 1024),
                }
            )
            producer = _producers[cluster_name] = build_client(lambda _: Producer(conf), cluster)
        return producer


def _check(topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]) -> None:
    names.topic(topic)
    names.payload(key, "key")
    names.payload(value, "value")
    names.headers(headers)


def _record(
    value: bytes | None,
    key: bytes | None,
    headers: list[tuple[str, bytes]],
    partition: int | None,
    timestamp_ms: int | None,
) -> dict[str, Any]:
    """Producer.produce() keyword arguments; partition and timestamp only when chosen."""
    kwargs: dict[str, Any] = {"value": value, "key": key, "headers": headers}
    if partition is not None:
        kwargs["partition"] = partition
    if timestamp_ms is not None:
        kwargs["timestamp"] = timestamp_ms
    return kwargs


def produce(
    cluster_name: str,
    topic: str,
    *,
    value: bytes | None,
    key: bytes | None = None,
    headers: Mapping[str, bytes] | None = None,
    partition: int | None = None,
    timestamp_ms: int | None = None,
) -> None:
    """Queue one record; call `flush()` to wait for delivery."""
    pairs = list((headers or {}).items())
    _check(topic, key, value, pairs)
    producer = _producer(cluster_name)
    kwargs = _record(value, key, pairs, partition, timestamp_ms)
    try:
        producer.produce(topic, **kwargs)
    except BufferError:
        producer.poll(1)
        producer.produce(topic, **kwargs)
    except KafkaException as exc:
        raise_translated(exc, require_cluster(cluster_name), f"producing to `{topic}`")
    producer.poll(0)


def flush(cluster_name: str) -> None:
    """Wait until every queued record is delivered, or fail with the reason."""
    producer = _producer(cluster_name)
    remaining = producer.flush(timeout() * 2)
    if remaining:
        cluster = require_cluster(cluster_name)
        raise_translated(KafkaException(KafkaError(KafkaError._TIMED_OUT)), cluster, f"delivering {remaining} events")


def produce_sync(
    cluster_name: str,
    topic: str,
    *,
    value: bytes | None,
    key: bytes | None = None,
    headers: list[tuple[str, bytes]] | None = None,
    partition: int | None = None,
    timestamp_ms: int | None = None,
) -> tuple[int, int, int]:
    """Produce one record and wait for the broker's answer: (partition, offset, timestamp ms)."""
    _check(topic, key, value, headers or [])
    cluster = require_cluster(cluster_name)
    producer = _producer(cluster_name)
    what = f"producing to `{topic}`"
    outcome: dict[str, Any] = {}

    def delivered(err: KafkaError | None, msg: Any) -> None:
        outcome["error"] = err
        if err is None:
            outcome["result"] = (msg.partition(), msg.offset(), msg.timestamp()[1])

    kwargs = _record(value, key, headers or [], partition, timestamp_ms)
    kwargs["on_delivery"] = delivered
    try:
        producer.produce(topic, **kwargs)
    except (KafkaException, BufferError, ValueError, TypeError) as exc:
        raise_translated(exc if not isinstance(exc, BufferError) else TimeoutError(), cluster, what)
    producer.flush(timeout() * 2)
    if "error" not in outcome:
        raise_translated(TimeoutError(), cluster, what)
    if outcome["error"] is not None:
        raise_translated(KafkaException(outcome["error"]), cluster, what)
    partition_, offset, timestamp = outcome["result"]
    return int(partition_), int(offset), int(timestamp)
