"""Topics with known events for the message browser tests, and an independent reader to compare with.

Events are written one record per batch and flushed (TEST_BROKER.md: the broker's latest offset
is then exact), with timestamps the test chooses unless it says otherwise.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.conftest import independent_client_config, log_ends


@dataclass
class Ev:
    partition: int | None
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    timestamp: int | None = None


@dataclass(frozen=True)
class Seen:
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]

    @property
    def id(self) -> tuple[int, int]:
        return (self.partition, self.offset)


def create_topic(admin: AdminClient, name: str, partitions: int = 3) -> str:
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        meta = admin.list_topics(name, timeout=5).topics.get(name)
        if meta is not None and meta.error is None and len(meta.partitions) == partitions:
            return name
        time.sleep(0.1)
    raise RuntimeError(f"topic {name} did not appear")


def produce(bootstrap: str, topic: str, events: Iterable[Ev], **config: Any) -> None:
    """Write each event in a batch of its own (flushed), so the latest offset is exact on any broker."""
    producer = Producer(independent_client_config(bootstrap, **{"linger.ms": 0, **config}))
    for ev in events:
        kwargs: dict[str, Any] = {"key": ev.key, "value": ev.value, "headers": ev.headers}
        if ev.partition is not None:
            kwargs["partition"] = ev.partition
        if ev.timestamp is not None:
            kwargs["timestamp"] = ev.timestamp
        producer.produce(topic, **kwargs)
        assert producer.flush(10) == 0
    assert producer.flush(10) == 0


def json_events(count: int, partitions: int, *, base_ts: int, key: str = "k", step: int = 10) -> list[Ev]:
    """`count` JSON events spread unevenly over the partitions, timestamps growing by `step` ms."""
    out = []
    for i in range(count):
        partition = (i * i + i // 3) % partitions
        value = {"i": i, "status": "DELAYED" if i % 7 == 0 else "OK", "amount": i * 3, "order": f"ORD-{1000 + i}"}
        headers = [("source", b"web" if i % 2 else b"batch"), ("x-trace", f"t{i}".encode())]
        out.append(Ev(partition, f"{key}{i % 5}".encode(), json.dumps(value).encode(), headers, base_ts + i * step))
    return out


def read_all(bootstrap: str, topic: str, partitions: Sequence[int]) -> list[Seen]:
    """Every record of these partitions, as an independent consumer reads them."""
    consumer = Consumer(
        independent_client_config(
            bootstrap, **{"group.id": "tests-independent", "enable.partition.eof": True, "enable.auto.commit": False}
        )
    )
    ends = log_ends(bootstrap, topic, partitions)
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    seen: list[Seen] = []
    at_end: set[int] = set()
    deadline = time.monotonic() + 20
    while at_end != set(partitions) and time.monotonic() < deadline:
        for msg in consumer.consume(1000, 0.2):
            if msg.error():
                # An end before the log's end: the last commit's markers are not written yet.
                if msg.error().code() == KafkaError._PARTITION_EOF and (msg.offset() or 0) >= ends[msg.partition()]:
                    at_end.add(msg.partition())
                continue
            at_end.discard(msg.partition())
            seen.append(
                Seen(
                    msg.partition(),
                    msg.offset(),
                    msg.timestamp()[1],
                    msg.key(),
                    msg.value(),
                    tuple(msg.headers() or []),
                )
            )
    consumer.close()
    assert at_end == set(partitions), "the independent consumer did not reach the end"
    return seen


def merged(seen: Iterable[Seen], *, newest_first: bool) -> list[tuple[int, int]]:
    """The order pages list events in: timestamp, then partition, then offset."""
    ordered = sorted(seen, key=lambda s: (s.timestamp, s.partition, s.offset), reverse=newest_first)
    return [s.id for s in ordered]


def ids(payload: dict[str, Any]) -> list[tuple[int, int]]:
    return [(e["partition"], e["offset"]) for e in payload["results"]]
