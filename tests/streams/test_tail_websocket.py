"""The live tail through the real ASGI server (Daphne) and the real broker: events produced
during the test arrive, filters and rate limits apply per viewer, many viewers share one
Kafka consumer, a stalled viewer neither delays the others nor grows the server's memory, the
consumer stops when the last viewer leaves, masking applies, and refused connections are refused."""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from django.conf import settings
from django.test import Client
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from backbone_admin import broadcast
from backbone_admin.models import ClusterGrant
from tests.conftest import _subprocess_env, daphne_server, independent_client_config

pytestmark = pytest.mark.django_db(transaction=True)


# Servers a test opened tails on; the topic is deleted only once their tails of it closed.
USED_SERVERS: set[str] = set()


@pytest.fixture
def topic(kafka_admin: AdminClient, topic_name: str, make_user: Any) -> Iterator[str]:
    kafka_admin.create_topics([NewTopic(topic_name, 3, 1)])[topic_name].result(10)
    yield topic_name
    # The test broker answers a fetch of a deleted topic with an unknown topic id, on which
    # librdkafka crashes the process: wait for the servers' tail consumers of it to close.
    admin = make_user("admin")
    for base in USED_SERVERS:
        wait_for(no_tail_of(base, admin, topic_name), timeout=10)
    kafka_admin.delete_topics([topic_name])[topic_name].result(10)


@pytest.fixture
def producer(kafka_bootstrap: str) -> Producer:
    return Producer(independent_client_config(kafka_bootstrap, **{"linger.ms": 0}))


def cookie(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def tail_url(base: str, topic: str, *, cluster: str = "local", **query: Any) -> str:
    qs = "&".join(f"{k}={quote(str(v))}" for k, v in query.items())
    path = f"/ws/clusters/{cluster}/topics/{quote(topic, safe='')}/tail/"
    return base.replace("http://", "ws://") + path + (f"?{qs}" if qs else "")


class Tail:
    """A viewer's socket as the page uses it: acknowledges every push, keeps what arrived."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self.arrived: list[float] = []  # when each event arrived
        self.statuses: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.dropped = 0
        self.dropped_by = {"rate": 0, "queue": 0, "paused": 0}
        self.close_code: int | None = None

    def pump(self, timeout: float) -> None:
        try:
            data = json.loads(self.ws.recv(timeout=timeout))
        except TimeoutError:
            return
        except ConnectionClosed as exc:
            self.close_code = exc.rcvd.code if exc.rcvd else 1006
            return
        if "events" in data:
            now = time.time()
            self.events += data["events"]
            self.arrived += [now] * len(data["events"])
            self.dropped += data["dropped"]
            for k, n in data["dropped_by"].items():
                self.dropped_by[k] += n
            self.ws.send(json.dumps({"ack": data["seq"]}))
        elif "status" in data:
            self.statuses.append(data)
        elif "error" in data:
            self.errors.append(data)

    def values(self) -> list[str]:
        return [e["value"] for e in self.events]

    def reset(self) -> None:
        self.events.clear()
        self.arrived.clear()
        self.dropped = 0
        self.dropped_by = {"rate": 0, "queue": 0, "paused": 0}


def pump_until(tails: list[Tail], done: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"not done within {timeout} s: {[len(t.events) for t in tails]} events")
        for t in tails:
            t.pump(0.05)
            if t.close_code is not None and not done():
                raise AssertionError(f"closed with {t.close_code}: {t.errors}")


def open_tail(base: str, user: Any, topic: str, **query: Any) -> Tail:
    USED_SERVERS.add(base)
    headers = {"Cookie": cookie(user), "Origin": base}
    return Tail(connect(tail_url(base, topic, **query), additional_headers=headers, open_timeout=10))


def warm_up(producer: Producer, topic: str, tails: list[Tail]) -> None:
    """Produce markers until each of these viewers got one from every partition: the process's
    consumer of the topic then reads past where it started, so whatever is produced next
    reaches every viewer of the topic."""
    marker = f"warm-up-{uuid.uuid4().hex[:6]}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for p in range(3):
            producer.produce(topic, key=b"warm-up", value=marker.encode(), partition=p)
        producer.flush(5)
        end = time.monotonic() + 0.4
        while time.monotonic() < end:
            for t in tails:
                t.pump(0.05)
        if all(len({e["partition"] for e in t.events if e["value"] == marker}) == 3 for t in tails):
            for t in tails:
                t.reset()
            return
    raise AssertionError("the tail never delivered the warm-up events")


def produce(producer: Producer, topic: str, values: list[str], key: str = "k") -> None:
    for i, value in enumerate(values):
        producer.produce(topic, key=key.encode(), value=value.encode(), partition=i % 3)
    producer.flush(10)


def tail_stats(base: str, admin: Any) -> dict[str, Any]:
    request = urllib.request.Request(base + "/tail/stats/", headers={"Cookie": cookie(admin)})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def tails_of(stats: dict[str, Any], topic: str) -> list[dict[str, Any]]:
    return [t for t in stats["tails"] if t["topic"] == topic]


def no_tail_of(base: str, admin: Any, topic: str) -> Callable[[], bool]:
    return lambda: not tails_of(tail_stats(base, admin), topic)


def server_pid(base: str) -> int:
    """The Daphne process serving `base`, found by its command line in /proc."""
    port = base.rsplit(":", 1)[1]
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # not a process, or one that just ended
        if b"daphne" in b" ".join(cmdline) and port.encode() in cmdline:
            return int(entry.name)
    raise AssertionError(f"no Daphne process serves port {port}")


def kafka_clients(pid: int) -> int:
    """librdkafka clients in a process, counted from outside it: each has one `rdk:main` thread."""
    count = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            if Path(f"/proc/{pid}/task/{task}/comm").read_text().strip() == "rdk:main":
                count += 1
        except OSError:
            continue  # a thread that just ended
    return count


def wait_for(check: Callable[[], bool], timeout: float) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(0.1)
    return time.monotonic() - started


# --- events, filters, rates ----------------------------------------------------------------


def test_events_produced_during_the_test_arrive(live_url: str, make_user: Any, topic: str, producer: Producer) -> None:
    tail = open_tail(live_url, make_user("reader"), topic)
    with tail.ws:
        pump_until([tail], lambda: any(s["status"] == "live" for s in tail.statuses))
        assert tail.statuses[0] == {"status": "live", "partitions": [0, 1, 2]}
        warm_up(producer, topic, [tail])
        values = [json.dumps({"order": f"ORD-{n}", "amount": n}) for n in range(25)]
        for i, value in enumerate(values):
            producer.produce(
                topic, key=f"k{i}".encode(), value=value.encode(), partition=i % 3, headers=[("src", b"t")]
            )
        producer.flush(10)
        pump_until([tail], lambda: len(tail.events) >= 25)
    assert sorted(tail.values()) == sorted(values)
    first = next(e for e in tail.events if e["key"] == "k0")
    assert first["partition"] == 0 and first["value_encoding"] == "json"
    assert first["headers"] == [{"key": "src", "value": "t", "encoding": "text"}]
    assert first["timestamp"] > 0 and first["timestamp_type"] == "create"
    assert tail.dropped == 0
    # Offsets per partition arrive in order.
    for p in range(3):
        offsets = [e["offset"] for e in tail.events if e["partition"] == p]
        assert offsets == sorted(offsets)


def test_the_filter_applies_on_the_server(live_url: str, make_user: Any, topic: str, producer: Producer) -> None:
    user = make_user("reader")
    everything = open_tail(live_url, user, topic)
    delayed = open_tail(live_url, user, topic, filter='payload.status == "DELAYED" and amount > 10')
    with everything.ws, delayed.ws:
        warm_up(producer, topic, [everything])
        values = [
            json.dumps({"payload": {"status": "DELAYED" if n % 2 else "ON_TIME"}, "amount": n}) for n in range(30)
        ]
        produce(producer, topic, values)
        pump_until([everything, delayed], lambda: len(everything.events) >= 30)
        time.sleep(0.3)
        pump_until([everything, delayed], lambda: len(delayed.events) >= 10)
    assert sorted(json.loads(v)["amount"] for v in delayed.values()) == list(range(11, 30, 2))
    assert delayed.dropped == 0  # not matching is not dropped


def test_over_its_rate_a_viewer_gets_a_sample_and_the_count_of_the_rest(
    live_url: str, make_user: Any, topic: str, producer: Producer
) -> None:
    user = make_user("reader")
    watcher = open_tail(live_url, user, topic, rate=1000)
    slow = open_tail(live_url, user, topic, filter='key == "burst"', rate=5)
    with watcher.ws, slow.ws:
        warm_up(producer, topic, [watcher])
        started = time.monotonic()
        produce(producer, topic, [json.dumps({"n": n}) for n in range(300)], key="burst")
        pump_until([watcher, slow], lambda: len(slow.events) + slow.dropped >= 300 and len(watcher.events) >= 300)
        elapsed = time.monotonic() - started
    assert len(slow.events) + slow.dropped == 300  # every matching event is either sent or counted
    assert slow.dropped_by["rate"] == slow.dropped
    # 5 events/s, plus one second's worth saved up while the topic was quiet.
    assert 1 <= len(slow.events) <= 5 * elapsed + 5 + 1
    assert len(watcher.events) == 300


def test_pause_counts_what_it_does_not_send_and_resume_sends_again(
    live_url: str, make_user: Any, topic: str, producer: Producer
) -> None:
    tail = open_tail(live_url, make_user("reader"), topic)
    with tail.ws:
        warm_up(producer, topic, [tail])
        tail.ws.send(json.dumps({"action": "pause"}))
        pump_until([tail], lambda: any(s["status"] == "paused" for s in tail.statuses))
        produce(producer, topic, [f"while paused {n}" for n in range(12)])
        pump_until([tail], lambda: tail.dropped_by["paused"] >= 12)
        assert tail.events == [] and tail.dropped_by["paused"] == 12
        tail.statuses.clear()
        tail.ws.send(json.dumps({"action": "resume"}))
        pump_until([tail], lambda: any(s["status"] == "live" for s in tail.statuses))
        produce(producer, topic, [f"after resume {n}" for n in range(4)])
        pump_until([tail], lambda: len(tail.events) >= 4)
    assert sorted(tail.values()) == [f"after resume {n}" for n in range(4)]


# --- one consumer, stalled viewers, stopping ------------------------------------------------


def test_twenty_viewers_share_one_kafka_consumer_which_stops_after_the_last_leaves(
    live_url: str, make_user: Any, topic: str, producer: Producer
) -> None:
    admin = make_user("admin")
    pid = server_pid(live_url)
    with contextlib.ExitStack() as stack:
        first = open_tail(live_url, make_user("reader"), topic)
        stack.enter_context(first.ws)
        pump_until([first], lambda: bool(first.statuses))
        with_one = kafka_clients(pid)
        others = [open_tail(live_url, make_user("reader"), topic) for _ in range(19)]
        for t in others:
            stack.enter_context(t.ws)
        tails = [first, *others]
        warm_up(producer, topic, tails)
        values = [f"shared {n}" for n in range(40)]
        produce(producer, topic, values)
        pump_until(tails, lambda: all(len(t.events) >= 40 for t in tails))
        for t in tails:
            assert sorted(t.values()) == sorted(values)
        [shared] = tails_of(tail_stats(live_url, admin), topic)
        assert len(shared["viewers"]) == 20
        # Counted from outside the server too (librdkafka threads): twenty viewers cost the
        # process no more Kafka clients than one did.
        assert kafka_clients(pid) == with_one
    seconds = wait_for(no_tail_of(live_url, admin, topic), timeout=5)
    assert seconds < 5
    # ... and the one consumer is gone from the process.
    wait_for(lambda: kafka_clients(pid) == with_one - 1, timeout=5)


def test_a_stalled_viewer_neither_delays_another_nor_grows_its_queue(
    live_url: str, make_user: Any, topic: str, producer: Producer
) -> None:
    admin, user = make_user("admin"), make_user("reader")
    active = open_tail(live_url, user, topic, rate=1000)
    # A browser that never reads: its client stops reading the socket once one message waits.
    USED_SERVERS.add(live_url)
    stalled = connect(
        tail_url(live_url, topic, rate=1000),
        additional_headers={"Cookie": cookie(user), "Origin": live_url},
        open_timeout=10,
        max_queue=1,
        close_timeout=1,  # it will not read the server's close frame either
    )
    with active.ws, stalled:
        warm_up(producer, topic, [active])
        count = 2000

        def produce_steadily() -> None:  # ~500 events/s for 4 s, each carrying when it was sent
            for n in range(count):
                value = json.dumps({"n": n, "at": time.time(), "pad": "x" * 400})
                producer.produce(topic, value=value.encode(), partition=n % 3)
                producer.poll(0)
                if n % 10 == 9:
                    time.sleep(0.02)
            producer.flush(10)

        sender = threading.Thread(target=produce_steadily)
        sender.start()
        pump_until([active], lambda: len(active.events) >= count, timeout=30)
        sender.join()
        stats = tail_stats(live_url, admin)
    [shared] = tails_of(stats, topic)
    stalled_stats = max(shared["viewers"], key=lambda v: v["dropped"])
    lags = [arrived - json.loads(e["value"])["at"] for e, arrived in zip(active.events, active.arrived, strict=True)]
    assert len(active.events) == count and active.dropped == 0
    assert statistics.median(lags) < 0.5, f"median lag {statistics.median(lags):.3f} s"
    assert max(lags) < 3, f"max lag {max(lags):.3f} s"
    assert stalled_stats["queued_events"] <= settings.TAIL_QUEUE
    assert stalled_stats["queued_bytes"] <= settings.TAIL_QUEUE_BYTES
    # What it was sent is what it may leave unacknowledged; the rest is queued or counted.
    assert stalled_stats["sent"] <= settings.TAIL_IN_FLIGHT * 500
    assert (
        stalled_stats["sent"]
        + stalled_stats["queued_events"]
        + stalled_stats["window_events"]
        + stalled_stats["dropped"]
        == stalled_stats["offered"]
    )
    assert stalled_stats["dropped"] > 0


# --- who may tail ---------------------------------------------------------------------------


def _refused(url: str, headers: dict[str, str]) -> int:
    with pytest.raises(InvalidStatus) as info:
        connect(url, additional_headers=headers, open_timeout=10)
    return int(info.value.response.status_code)


def test_anonymous_and_wrong_origin_connections_are_refused(live_url: str, make_user: Any, topic: str) -> None:
    url = tail_url(live_url, topic)
    assert _refused(url, {"Origin": live_url}) == 403
    assert _refused(url, {"Cookie": cookie(make_user("admin")), "Origin": "http://evil.example"}) == 403


def test_the_viewer_role_sees_no_contents_and_is_refused(live_url: str, make_user: Any, topic: str) -> None:
    url = tail_url(live_url, topic)
    assert _refused(url, {"Cookie": cookie(make_user("viewer")), "Origin": live_url}) == 403
    assert _refused(url, {"Cookie": cookie(make_user("reader", cluster="elsewhere")), "Origin": live_url}) == 403
    assert (
        _refused(tail_url(live_url, topic, cluster="nope"), {"Cookie": cookie(make_user("admin")), "Origin": live_url})
        == 403
    )


def _closed_with(tail: Tail) -> tuple[int | None, list[dict[str, Any]]]:
    with tail.ws:
        deadline = time.monotonic() + 15
        while tail.close_code is None and time.monotonic() < deadline:
            tail.pump(0.2)
    return tail.close_code, tail.errors


def test_an_unknown_topic_is_closed_with_a_clear_reason(live_url: str, make_user: Any) -> None:
    name = f"no-such-topic-{uuid.uuid4().hex[:6]}"
    code, errors = _closed_with(open_tail(live_url, make_user("reader"), name))
    assert code == 4404
    assert errors[0]["error"] == f"topic `{name}` does not exist on cluster `local`"


def test_a_bad_filter_or_rate_is_closed_with_what_to_fix(live_url: str, make_user: Any, topic: str) -> None:
    user = make_user("reader")
    code, errors = _closed_with(open_tail(live_url, user, topic, filter="payload.status =="))
    assert code == 4400 and "filter" in errors[0]["fields"]
    code, errors = _closed_with(open_tail(live_url, user, topic, rate=settings.TAIL_MAX_RATE + 1))
    assert code == 4400 and "rate" in errors[0]["fields"]
    assert str(settings.TAIL_MAX_RATE) in errors[0]["error"]


def test_a_removed_grant_closes_the_tail_at_the_next_push(
    live_url: str, make_user: Any, topic: str, producer: Producer
) -> None:
    user = make_user("reader", cluster="local")
    tail = open_tail(live_url, user, topic)
    with tail.ws:
        warm_up(producer, topic, [tail])
        ClusterGrant.objects.filter(user=user).delete()
        deadline = time.monotonic() + broadcast.ViewerConsumer.ACCESS_TTL + 5
        while tail.close_code is None and time.monotonic() < deadline:
            produce(producer, topic, ["after the grant was removed"])
            tail.pump(0.5)
    assert tail.close_code == broadcast.CLOSE_ACCESS_GONE


# --- masking --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def masking_url(
    django_db_setup: Any, kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A Daphne of its own whose cluster `local` masks customer.email and card numbers."""
    path = tmp_path_factory.mktemp("tail-masking") / "clusters.yml"
    path.write_text(
        f"clusters:\n  - name: local\n    bootstrap_servers: '{kafka_bootstrap}'\n"
        "    masking: {fields: [customer.email], patterns: ['\\d{4}-\\d{4}-\\d{4}-\\d{4}']}\n"
    )
    env = {**_subprocess_env(kafka_bootstrap, redis_url), "BACKBONE_CLUSTERS_FILE": str(path)}
    with daphne_server(env, "daphne-tail-masking.log") as (url, _):
        yield url


def test_the_tail_masks_below_admin_and_not_for_admins(
    masking_url: str, make_user: Any, topic: str, producer: Producer
) -> None:
    reader = open_tail(masking_url, make_user("reader"), topic)
    admin = open_tail(masking_url, make_user("admin"), topic)
    operator_probe = open_tail(masking_url, make_user("operator"), topic, filter='customer.email contains "ada"')
    with reader.ws, admin.ws, operator_probe.ws:
        warm_up(producer, topic, [reader, admin])
        value = {"customer": {"email": "ada@example.com", "name": "Ada"}, "note": "card 1234-5678-9012-3456"}
        produce(producer, topic, [json.dumps(value)])
        pump_until([reader, admin, operator_probe], lambda: bool(reader.events and admin.events))
        time.sleep(0.5)
        operator_probe.pump(0.2)
    assert json.loads(reader.events[0]["value"]) == {"customer": {"email": "***", "name": "Ada"}, "note": "card ***"}
    assert reader.events[0]["masked"] is True
    assert json.loads(admin.events[0]["value"]) == value
    assert admin.events[0]["masked"] is False
    # A filter below admin sees the masked event: it cannot probe a masked field's value.
    assert operator_probe.events == []
