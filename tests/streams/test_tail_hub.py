"""The tail hub in this process, on the real broker: one consumer per topic shared by its
viewers, per-viewer filters and masking, and the consumer closed when the last viewer leaves."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

from streams.events.filters import parse_filter
from streams.tail.hub import TailHub
from streams.tail.viewer import Viewer
from tests.conftest import independent_client_config


def create_topic(kafka_admin: AdminClient, name: str, partitions: int = 3) -> None:
    """Create the topic and wait until the broker's metadata has it: Kafka answers a metadata
    request right after CreateTopics with UNKNOWN_TOPIC_OR_PART for a moment."""
    kafka_admin.create_topics([NewTopic(name, partitions, 1)])[name].result(10)
    deadline = time.monotonic() + 10
    while True:
        described = kafka_admin.list_topics(name, timeout=5).topics.get(name)
        if described is not None and described.error is None and len(described.partitions) == partitions:
            return
        assert time.monotonic() < deadline, f"topic {name} never showed in the metadata"
        time.sleep(0.05)


@pytest.fixture
def topic(kafka_admin: AdminClient, topic_name: str) -> Iterator[str]:
    create_topic(kafka_admin, topic_name)
    yield topic_name
    kafka_admin.delete_topics([topic_name])[topic_name].result(10)


@pytest.fixture
def hub(topic: str) -> Iterator[TailHub]:
    """A hub of the test's own, closed before its topic is deleted: the test broker answers a
    fetch of a deleted topic with an unknown topic id, on which librdkafka crashes the process."""
    tails = TailHub()
    yield tails
    assert tails.close_all(10)


@pytest.fixture
def producer(kafka_bootstrap: str) -> Producer:
    return Producer(independent_client_config(kafka_bootstrap, **{"linger.ms": 0}))


def make_viewer(flt: str = "", *, rate: int = 1000, masked: bool = True) -> Viewer:
    return Viewer(
        filter=parse_filter(flt, field="filter") if flt else None,
        rate=rate,
        masked=masked,
        window=0.1,
        queue_events=10_000,
        queue_bytes=10**9,
        notify=lambda: None,
        clock=time.monotonic,
    )


class Collector:
    """Plays a viewer's websocket task: closes windows and takes pushes, keeping the events."""

    def __init__(self, viewer: Viewer) -> None:
        self.viewer = viewer
        self.events: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []
        self.dropped = 0

    def poll(self) -> None:
        messages, _ = self.viewer.take_messages()
        self.messages += messages
        self.viewer.rotate()
        while (push := self.viewer.take(max_events=500, max_bytes=10**9)) is not None:
            data = json.loads(push)
            self.events += data["events"]
            self.dropped += data["dropped"]

    def values(self) -> list[str]:
        return [e["value"] for e in self.events]


def poll_until(collectors: list[Collector], done: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for c in collectors:
            c.poll()
        if done():
            return
        time.sleep(0.1)
    raise AssertionError(f"not done within {timeout} s: {[len(c.events) for c in collectors]} events")


def warm_up(producer: Producer, topic: str, collectors: list[Collector]) -> None:
    """Produce markers until every viewer without a filter got one from each partition: the
    shared consumer then reads past the end it started at, so everything produced afterwards
    reaches every viewer (filtered ones included: one consumer serves them all)."""
    watched = [c for c in collectors if c.viewer.filter is None]
    marker = f"warm-up-{uuid.uuid4().hex[:6]}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for p in range(3):
            producer.produce(topic, key=b"warm-up", value=marker.encode(), partition=p)
        producer.flush(5)
        poll_until(collectors, lambda: True, timeout=0.3)
        time.sleep(0.2)
        for c in collectors:
            c.poll()
        if all(len({e["partition"] for e in c.events if e["value"] == marker}) == 3 for c in watched):
            for c in collectors:
                c.events.clear()
                c.dropped = 0
            return
    raise AssertionError("the tail never delivered the warm-up events")


def produce(producer: Producer, topic: str, values: list[str], key: str = "k") -> None:
    for i, value in enumerate(values):
        producer.produce(topic, key=key.encode(), value=value.encode(), partition=i % 3)
    producer.flush(10)


def test_twenty_viewers_share_one_consumer_that_closes_when_the_last_leaves(
    topic: str, producer: Producer, hub: TailHub
) -> None:
    viewers = [make_viewer() for _ in range(20)]
    tails = {hub.join("local", topic, v) for v in viewers}
    collectors = [Collector(v) for v in viewers]
    assert len(tails) == 1
    assert hub.active_consumers() == 1
    warm_up(producer, topic, collectors)
    values = [json.dumps({"n": n}) for n in range(60)]
    produce(producer, topic, values)
    poll_until(collectors, lambda: all(len(c.events) >= 60 for c in collectors))
    for c in collectors:
        assert sorted(c.values()) == sorted(values)
        assert c.dropped == 0
    assert hub.active_consumers() == 1
    [tail] = tails
    assert tail.counters.records >= 60  # read once, fanned out to 20
    for v in viewers[:-1]:
        hub.leave(tail, v)
    assert hub.active_consumers() == 1
    left_at = time.monotonic()
    hub.leave(tail, viewers[-1])
    assert hub.wait_closed(5)
    assert hub.active_consumers() == 0
    assert time.monotonic() - left_at < 5
    # A new viewer gets a new consumer.
    again = make_viewer()
    tail2 = hub.join("local", topic, again)
    assert tail2 is not tail and hub.active_consumers() == 1
    hub.leave(tail2, again)
    assert hub.wait_closed(5)


def test_each_viewer_has_its_own_filter(topic: str, producer: Producer, hub: TailHub) -> None:
    everything, delayed, regex = make_viewer(), make_viewer('payload.status == "DELAYED"'), make_viewer("key ~ /^c-1/")
    tail = hub.join("local", topic, everything)
    hub.join("local", topic, delayed)
    hub.join("local", topic, regex)
    collectors = [Collector(v) for v in (everything, delayed, regex)]
    warm_up(producer, topic, collectors)
    for n in range(30):
        status = "DELAYED" if n % 3 == 0 else "ON_TIME"
        producer.produce(
            topic, key=f"c-{n}".encode(), value=json.dumps({"payload": {"status": status, "n": n}}).encode()
        )
    producer.flush(10)
    poll_until(collectors, lambda: len(collectors[0].events) >= 30)
    time.sleep(0.5)
    poll_until(collectors, lambda: True)
    all_c, delayed_c, regex_c = collectors
    assert len(all_c.events) == 30
    assert sorted(json.loads(v)["payload"]["n"] for v in delayed_c.values()) == list(range(0, 30, 3))
    assert sorted(e["key"] for e in regex_c.events) == sorted(["c-1"] + [f"c-{n}" for n in range(10, 20)])
    for v in (everything, delayed, regex):
        hub.leave(tail, v)
    assert hub.wait_closed(5)


def test_below_admin_the_tail_masks_and_an_admin_sees_the_value(
    topic: str, producer: Producer, clusters_file: Callable[[str], Path], hub: TailHub
) -> None:
    clusters_file(
        "clusters:\n  - name: local\n    bootstrap_servers: '{LOCAL}'\n"
        "    masking: {fields: [customer.email], patterns: ['\\d{4}-\\d{4}-\\d{4}-\\d{4}']}\n"
    )
    reader, admin = make_viewer(masked=True), make_viewer(masked=False)
    tail = hub.join("local", topic, reader)
    hub.join("local", topic, admin)
    collectors = [Collector(reader), Collector(admin)]
    warm_up(producer, topic, collectors)
    value = {"customer": {"email": "ada@example.com", "name": "Ada"}, "note": "card 1234-5678-9012-3456"}
    produce(producer, topic, [json.dumps(value)])
    poll_until(collectors, lambda: all(c.events for c in collectors))
    [masked], [plain] = collectors[0].events, collectors[1].events
    assert json.loads(masked["value"]) == {"customer": {"email": "***", "name": "Ada"}, "note": "card ***"}
    assert masked["masked"] is True
    assert json.loads(plain["value"]) == value
    assert plain["masked"] is False
    hub.leave(tail, reader)
    hub.leave(tail, admin)
    assert hub.wait_closed(5)


def test_a_masked_viewer_cannot_probe_a_masked_field_with_its_filter(
    topic: str, producer: Producer, clusters_file: Callable[[str], Path], hub: TailHub
) -> None:
    clusters_file("clusters:\n  - name: local\n    bootstrap_servers: '{LOCAL}'\n    masking: {fields: [email]}\n")
    probe, control = make_viewer('email == "ada@example.com"'), make_viewer()
    tail = hub.join("local", topic, probe)
    hub.join("local", topic, control)
    collectors = [Collector(probe), Collector(control)]
    warm_up(producer, topic, collectors)
    produce(producer, topic, [json.dumps({"email": "ada@example.com"})])
    poll_until(collectors, lambda: bool(collectors[1].events))
    time.sleep(0.3)
    collectors[0].poll()
    assert collectors[0].events == []  # the filter saw "***", as the viewer would
    hub.leave(tail, probe)
    hub.leave(tail, control)
    assert hub.wait_closed(5)


def test_an_unknown_topic_closes_its_viewers_with_the_reason() -> None:
    hub = TailHub()
    v = make_viewer()
    hub.join("local", f"no-such-{uuid.uuid4().hex[:8]}", v)
    deadline = time.monotonic() + 15
    close = None
    while close is None and time.monotonic() < deadline:
        time.sleep(0.1)
        _, close = v.take_messages()
    assert close is not None
    code, message = close
    assert code == 4404 and "does not exist" in message["error"]
    assert hub.wait_closed(5) and hub.active_consumers() == 0


def wait_live(viewer: Viewer, timeout: float = 15) -> dict[str, Any]:
    """Spin until the tail tells the viewer it is live (without sleeping: the test then produces
    as soon after `live` as it can)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages, close = viewer.take_messages()
        assert close is None, close
        for message in messages:
            if message.get("status") == "live":
                return message
        time.sleep(0)
    raise AssertionError("the tail never said live")


def produce_alone(producer: Producer, topic: str, value: str, partitions: range) -> None:
    """One record per partition, each alone in its batch: the test broker's latest offset is then
    exact (TEST_BROKER.md), so both brokers agree where a tail started after it begins."""
    for p in partitions:
        producer.produce(topic, value=value.encode(), partition=p)
        producer.flush(10)


def test_an_event_produced_once_the_tail_says_live_is_always_delivered(
    topic: str, producer: Producer, hub: TailHub
) -> None:
    produce(producer, topic, [f"old {n}" for n in range(30)])
    produce_alone(producer, topic, "last before the tail", range(3))
    for attempt in range(10):
        v = make_viewer()
        tail = hub.join("local", topic, v)
        live = wait_live(v)
        assert live == {"status": "live", "partitions": [0, 1, 2]}
        value = f"right after live {attempt}"
        for p in range(3):
            producer.produce(topic, value=value.encode(), partition=p)
        producer.flush(10)
        collector = Collector(v)
        poll_until([collector], lambda: len(collector.events) >= 3, timeout=10)  # noqa: B023
        time.sleep(0.3)
        collector.poll()
        # The tail starts at each partition's end: nothing from before it, all from after `live`.
        assert sorted((e["partition"], e["value"]) for e in collector.events) == [(p, value) for p in range(3)]
        hub.leave(tail, v)
        assert hub.wait_closed(5)
        produce_alone(producer, topic, f"between tails {attempt}", range(3))


def producer_knowing(kafka_bootstrap: str, topic: str, partitions: int) -> Producer:
    """A producer whose metadata has the topic's new partitions (a fresh one: a producer's cached
    metadata would refuse the new partition as unknown until its next refresh)."""
    fresh = Producer(independent_client_config(kafka_bootstrap, **{"linger.ms": 0}))
    deadline = time.monotonic() + 10
    while len(fresh.list_topics(topic, timeout=5).topics[topic].partitions) < partitions:
        assert time.monotonic() < deadline, "the new partitions never showed in the metadata"
        time.sleep(0.05)
    return fresh


@pytest.mark.real_kafka
def test_partitions_added_while_tailing_are_tailed_from_their_beginning(
    topic: str, kafka_bootstrap: str, kafka_admin: AdminClient, settings: Any, hub: TailHub
) -> None:
    settings.TAIL_METADATA_INTERVAL = 2.0
    v = make_viewer()
    tail = hub.join("local", topic, v)
    wait_live(v)
    collector = Collector(v)
    kafka_admin.create_partitions([NewPartitions(topic, 4)])[topic].result(10)
    # Produced before the tail lists the new partition, and again just after: both are newer
    # than the tail's start, so both arrive (the partition is read from its beginning).
    producer = producer_knowing(kafka_bootstrap, topic, 4)
    producer.produce(topic, value=b"right after create_partitions", partition=3)
    producer.flush(10)
    deadline = time.monotonic() + 15
    while 3 not in tail.partitions and time.monotonic() < deadline:
        time.sleep(0.001)
    assert tail.partitions == [0, 1, 2, 3]
    producer.produce(topic, value=b"right after the tail listed it", partition=3)
    producer.flush(10)
    poll_until([collector], lambda: len(collector.events) >= 2)
    assert [(e["partition"], e["offset"], e["value"]) for e in collector.events] == [
        (3, 0, "right after create_partitions"),
        (3, 1, "right after the tail listed it"),
    ]
    hub.leave(tail, v)
    assert hub.wait_closed(5)


@pytest.mark.real_kafka
def test_a_topic_deleted_by_someone_else_closes_its_viewers_within_seconds(
    kafka_admin: AdminClient, topic_name: str, producer: Producer, settings: Any
) -> None:
    # No periodic metadata look-up comes to the rescue: the consumer's own report of the
    # missing topic (Kafka answers its fetches with UNKNOWN_TOPIC_ID) closes the tail.
    settings.TAIL_METADATA_INTERVAL = 600.0
    create_topic(kafka_admin, topic_name)
    hub = TailHub()
    v = make_viewer()
    hub.join("local", topic_name, v)
    warm_up(producer, topic_name, [Collector(v)])
    deleted_at = time.monotonic()
    kafka_admin.delete_topics([topic_name])[topic_name].result(10)
    close = None
    while close is None and time.monotonic() - deleted_at < 20:
        time.sleep(0.05)
        _, close = v.take_messages()
    seconds = time.monotonic() - deleted_at
    assert close is not None, "the viewer was never closed"
    code, message = close
    assert code == 4404
    assert message["error"] == f"topic deleted: `{topic_name}` no longer exists on cluster `local`"
    assert seconds < 5, f"closed {seconds:.1f} s after the delete"
    print(f"a delete by another client → viewer closed: {seconds:.2f} s")
    assert hub.wait_closed(5) and hub.active_consumers() == 0


def test_a_cluster_that_does_not_answer_is_said_so_and_retried(down_cluster: str, settings: Any) -> None:
    hub = TailHub()
    v = make_viewer()
    hub.join("down", "orders", v)
    deadline = time.monotonic() + settings.KAFKA_TIMEOUT + 5
    messages: list[dict[str, Any]] = []
    while not messages and time.monotonic() < deadline:
        time.sleep(0.1)
        messages, close = v.take_messages()
        assert close is None  # not closed: the tail keeps trying
    assert messages and messages[0]["status"] == "unavailable"
    assert messages[0]["error"].startswith(f"cluster `down` unreachable at {down_cluster}")
    assert hub.active_consumers() == 1
    assert hub.close_all(settings.KAFKA_TIMEOUT + 5)
    assert hub.active_consumers() == 0
