"""The demo's services (`manage.py demo_consumer NAME`) as real processes on the real broker:
each is a consumer group with committed offsets; order-service keeps up, analytics falls
behind a burst and drains, invoicing leaves its group (Empty, rewindable) and comes back, a
SIGTERM commits and leaves, and a restarted broker is joined again. Every test uses topics
and groups of its own (`--prefix`)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from django.core.management import call_command

from backbone_admin.embedded import broker_command
from tests.conftest import RestartableServer, independent_client_config
from tests.plugin import OUTPUT

BASE_DIR = Path(__file__).resolve().parents[2]
PARTITIONS = 3
Ends = Counter[tuple[str, int]]


def wait_until(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.3) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(interval)


@pytest.fixture
def prefix(kafka_admin: AdminClient) -> str:
    """A prefix of this test's own; its orders, containers and shipments topics exist (3 partitions)."""
    prefix = f"t-demo-{uuid.uuid4().hex[:8]}-"
    _create_topics(kafka_admin, prefix)
    return prefix


def _create_topics(admin: AdminClient, prefix: str) -> None:
    names = [f"{prefix}{t}" for t in ("orders", "containers", "shipments")]
    futures = admin.create_topics([NewTopic(n, num_partitions=PARTITIONS, replication_factor=1) for n in names])
    for future in futures.values():
        future.result(15)


def _produce(bootstrap: str, topic: str, per_partition: int, ends: Ends) -> None:
    """`per_partition` events into each partition; `ends` counts what each partition holds."""
    producer = Producer(independent_client_config(bootstrap, **{"linger.ms": 5}))
    for partition in range(PARTITIONS):
        for i in range(per_partition):
            producer.produce(topic, key=f"k{i}".encode(), value=b'{"eventType":"OrderCreated"}', partition=partition)
        ends[(topic, partition)] += per_partition
    assert producer.flush(15) == 0


def _committed(admin: AdminClient, group: str) -> dict[tuple[str, int], int]:
    answer = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=10)
    found = answer[group].result()
    return {(tp.topic, tp.partition): tp.offset for tp in found.topic_partitions if tp.offset >= 0}


def _lag(admin: AdminClient, group: str, ends: Ends, topics: list[str]) -> int:
    committed = _committed(admin, group)
    return sum(end - committed.get(tp, 0) for tp, end in ends.items() if tp[0] in topics)


def _state(admin: AdminClient, group: str) -> str:
    described = admin.describe_consumer_groups([group], request_timeout=10)[group].result()
    return str(described.state.name)


@contextmanager
def _services(
    prefix: str, names: list[str], env: dict[str, str] | None = None, bootstrap: str | None = None
) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    environ = dict(os.environ)
    environ.update(env or {})
    if bootstrap:
        environ["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
    OUTPUT.mkdir(exist_ok=True)
    procs = {
        name: subprocess.Popen(
            [sys.executable, "manage.py", "demo_consumer", name, "--prefix", prefix],
            cwd=BASE_DIR,
            env=environ,
            stdout=(OUTPUT / f"demo-{name}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        for name in names
    }
    try:
        yield procs
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _caught_up(admin: AdminClient, group: str, ends: Ends, topics: list[str]) -> bool:
    committed = _committed(admin, group)
    return all(committed.get(tp) == end for tp, end in ends.items() if tp[0] in topics)


def test_each_service_commits_as_it_goes_and_only_analytics_falls_behind_a_burst(
    kafka_bootstrap: str, kafka_admin: AdminClient, prefix: str
) -> None:
    orders, containers, shipments = (f"{prefix}{t}" for t in ("orders", "containers", "shipments"))
    ends: Ends = Counter()
    for topic in (orders, containers, shipments):
        _produce(kafka_bootstrap, topic, 10, ends)
    reads = {
        "order-service": [orders],
        "analytics": [orders, containers, shipments],
        "invoicing": [orders, shipments],
    }
    env = {"DEMO_ANALYTICS_RATE": "40", "DEMO_INVOICING_RUN": "600"}
    with _services(prefix, list(reads), env) as procs:
        for name, topics in reads.items():
            group = f"{prefix}{name}"
            wait_until(f"{group} commits everything", lambda g=group, t=topics: _caught_up(kafka_admin, g, ends, t), 90)
            assert _state(kafka_admin, group) == "STABLE"
        # A burst of 600 orders: order-service takes it at once, analytics at 40 events/s.
        _produce(kafka_bootstrap, orders, 200, ends)
        order_lags, analytics_lags = [], []

        def analytics_drained() -> bool:
            order_lags.append(_lag(kafka_admin, f"{prefix}order-service", ends, [orders]))
            analytics_lags.append(_lag(kafka_admin, f"{prefix}analytics", ends, reads["analytics"]))
            return analytics_lags[-1] == 0

        wait_until("analytics drains the burst", analytics_drained, 120)
        assert all(proc.poll() is None for proc in procs.values())
    # Analytics fell far behind (most of the burst waited), then caught up; order-service was
    # back at 0 well before analytics was.
    assert max(analytics_lags) >= 300, analytics_lags
    assert 0 in order_lags[:-1], (order_lags, analytics_lags)
    assert order_lags.index(0) < len(analytics_lags) - 1


def test_invoicing_leaves_its_group_which_can_be_rewound_meanwhile_then_comes_back(
    kafka_bootstrap: str, kafka_admin: AdminClient, prefix: str
) -> None:
    orders, shipments = f"{prefix}orders", f"{prefix}shipments"
    group = f"{prefix}invoicing"
    ends: Ends = Counter()
    _produce(kafka_bootstrap, orders, 10, ends)
    _produce(kafka_bootstrap, shipments, 10, ends)
    env = {"DEMO_INVOICING_RUN": "12", "DEMO_INVOICING_PAUSE": "20"}
    with _services(prefix, ["invoicing"], env) as procs:
        wait_until(
            "invoicing commits everything", lambda: _caught_up(kafka_admin, group, ends, [orders, shipments]), 60
        )
        assert _state(kafka_admin, group) == "STABLE"
        wait_until("invoicing leaves its group", lambda: _state(kafka_admin, group) == "EMPTY", 60)
        # While it is away, orders keep coming: its lag grows.
        _produce(kafka_bootstrap, orders, 5, ends)
        assert _lag(kafka_admin, group, ends, [orders, shipments]) == 15
        # A rewind of an Empty group is accepted: orders from the start again.
        rewind = [TopicPartition(orders, p, 0) for p in range(PARTITIONS)]
        answer = kafka_admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, rewind)])
        answer[group].result(15)
        assert {tp: o for tp, o in _committed(kafka_admin, group).items() if tp[0] == orders} == dict.fromkeys(
            [(orders, p) for p in range(PARTITIONS)], 0
        )
        # It comes back, reads the orders again from the rewound offsets and the new ones too.
        wait_until("invoicing back, caught up", lambda: _caught_up(kafka_admin, group, ends, [orders, shipments]), 90)
        assert _state(kafka_admin, group) == "STABLE"
        assert procs["invoicing"].poll() is None
    log = (OUTPUT / "demo-invoicing.log").read_text()
    assert "left group" in log and "a rewind can be tried on it" in log


def test_sigterm_commits_what_was_processed_and_leaves_the_group(
    kafka_bootstrap: str, kafka_admin: AdminClient, prefix: str
) -> None:
    topics = [f"{prefix}{t}" for t in ("orders", "containers", "shipments")]
    group = f"{prefix}analytics"
    ends: Ends = Counter()
    for topic in topics:
        _produce(kafka_bootstrap, topic, 100, ends)
    with _services(prefix, ["analytics"], {"DEMO_ANALYTICS_RATE": "20"}) as procs:
        wait_until("analytics commits", lambda: sum(_committed(kafka_admin, group).values()) > 0, 60)
        procs["analytics"].send_signal(signal.SIGTERM)
        assert procs["analytics"].wait(timeout=30) == 0
        # It left the group (no waiting for its session to expire) ...
        assert _state(kafka_admin, group) == "EMPTY"
    log = (OUTPUT / "demo-analytics.log").read_text()
    [processed] = re.findall(r"analytics: stopped: (\d+) events processed; offsets committed", log)
    # ... with exactly what it processed committed, mid-way through the backlog.
    assert 0 < int(processed) < 900
    assert sum(_committed(kafka_admin, group).values()) == int(processed)


@pytest.fixture
def own_broker() -> Iterator[RestartableServer]:
    broker = RestartableServer(broker_command, "demo-restart-broker.log")
    broker.start()
    yield broker
    broker.stop()


def _start_again(broker: RestartableServer) -> None:
    # The port can stay busy for a moment after the kill (connections closing): try again.
    for _ in range(20):
        try:
            broker.start()
            return
        except RuntimeError:
            time.sleep(1)
    broker.start()


def test_a_service_joins_again_after_its_broker_restarts(own_broker: RestartableServer) -> None:
    prefix = f"t-demo-{uuid.uuid4().hex[:8]}-"
    orders, group = f"{prefix}orders", f"{prefix}order-service"
    admin = AdminClient(independent_client_config(own_broker.address))
    _create_topics(admin, prefix)
    ends: Ends = Counter()
    _produce(own_broker.address, orders, 10, ends)
    with _services(prefix, ["order-service"], bootstrap=own_broker.address) as procs:
        wait_until("order-service commits", lambda: _caught_up(admin, group, ends, [orders]), 60)
        # The test broker keeps nothing over a restart: no topic, no group, empty logs.
        own_broker.stop()
        _start_again(own_broker)
        admin = AdminClient(independent_client_config(own_broker.address))
        _create_topics(admin, prefix)
        ends = Counter()
        _produce(own_broker.address, orders, 4, ends)
        # The same process joins the new group and reads the new log from its start.
        wait_until(
            "order-service commits on the restarted broker", lambda: _caught_up(admin, group, ends, [orders]), 90
        )
        assert procs["order-service"].poll() is None


def test_the_demo_producer_sends_bursts_into_its_topics(kafka_bootstrap: str) -> None:
    prefix = f"t-demo-{uuid.uuid4().hex[:8]}-"
    # Two rounds a second apart; the burst is due half a second after the start: before round 2.
    call_command("demo_events", count=2, rate=1, burst_every=0.5, burst_events=7, prefix=prefix)
    for topic in ("orders", "containers", "shipments"):
        name = f"{prefix}{topic}"
        reader = Consumer(independent_client_config(kafka_bootstrap, **{"group.id": "t-demo-check"}))
        try:
            reader.assign([TopicPartition(name, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
            events: list[Any] = []

            def read(reader: Any = reader, events: list[Any] = events) -> bool:
                events.extend(m for m in reader.consume(20, 0.5) if not m.error())
                return len(events) >= 9

            wait_until(f"the events of {name}", read, 20)
            events.extend(m for m in reader.consume(20, 1.0) if not m.error())
        finally:
            reader.close()
        # One event per round, and the burst: 7 at once.
        assert len(events) == 2 + 7, topic
