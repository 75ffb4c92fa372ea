"""Deleting a topic that is being tailed: through the console, its tails in every web process
close first (4404 "topic deleted"), their Kafka consumers are closed before the delete, no new
tail of it starts meanwhile, and a process that died cannot hold the delete up for long.

On the test broker this is what keeps a web process alive: a consumer fetching a topic deleted
under it gets a malformed answer there, on which librdkafka ends the process (TEST_BROKER.md).
"""

from __future__ import annotations

import contextlib
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from websockets.sync.client import connect

from backbone_admin import broadcast
from backbone_admin.models import ApiToken
from streams.tail.hub import TailHub
from streams.tail.viewer import Viewer
from tests.conftest import _subprocess_env, daphne_server, independent_client_config
from tests.streams.test_tail_hub import Collector, create_topic, make_viewer, poll_until, wait_live
from tests.streams.test_tail_hub import warm_up as warm_up_hub
from tests.streams.test_tail_websocket import Tail, cookie, tail_stats, tail_url, tails_of, warm_up


@pytest.fixture
def producer(kafka_bootstrap: str) -> Producer:
    return Producer(independent_client_config(kafka_bootstrap, **{"linger.ms": 0}))


def exists(kafka_admin: AdminClient, topic: str) -> bool:
    return topic in kafka_admin.list_topics(timeout=10).topics


@pytest.fixture
def topic(kafka_admin: AdminClient, topic_name: str) -> Iterator[str]:
    create_topic(kafka_admin, topic_name)
    yield topic_name
    if exists(kafka_admin, topic_name):  # the test failed before deleting it
        with broadcast.tails_closed("local", topic_name):
            kafka_admin.delete_topics([topic_name])[topic_name].result(10)


def closed(viewer: Viewer, timeout: float = 10) -> tuple[int, dict[str, Any]]:
    """How the viewer's socket is to be closed (code, message); fails if it is not within `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        _, close = viewer.take_messages()
        if close is not None:
            return close
        if time.monotonic() >= deadline:
            raise AssertionError("the viewer was not closed")
        time.sleep(0.01)


# --- in this process --------------------------------------------------------------------------


def test_a_delete_closes_the_topics_tails_and_their_consumers_first_and_no_new_one_starts(
    kafka_admin: AdminClient, topic: str, producer: Producer
) -> None:
    hub = TailHub()
    viewers = [make_viewer(), make_viewer('key == "x"')]
    tail = hub.join("local", topic, viewers[0])
    hub.join("local", topic, viewers[1])
    warm_up_hub(producer, topic, [Collector(v) for v in viewers])
    started = time.monotonic()
    with broadcast.tails_closed("local", topic):
        waited = time.monotonic() - started
        # Inside the block (where the console deletes): every viewer was told, every consumer is closed.
        for viewer in viewers:
            code, message = closed(viewer, timeout=0)
            assert code == 4404
            assert message["error"] == f"topic deleted: `{topic}` is being deleted from cluster `local`"
        assert hub.active_consumers() == 0 and tail.stopping
        assert broadcast.open_tails("local", topic) == []
        # A viewer arriving meanwhile is turned away before a consumer of the topic is opened.
        late = make_viewer()
        late_tail = hub.join("local", topic, late)
        assert closed(late)[0] == 4404
        assert hub.wait_closed(5)
        assert late_tail.partitions == [] and late_tail.counters.records == 0
        kafka_admin.delete_topics([topic])[topic].result(10)
    assert waited < 2, f"the tails took {waited:.2f} s to close"
    assert hub.active_consumers() == 0
    assert not exists(kafka_admin, topic)


def test_a_failed_delete_lifts_the_fence_and_other_topics_tails_are_left_alone(
    kafka_admin: AdminClient, topic: str, producer: Producer
) -> None:
    other = f"{topic}-other"
    create_topic(kafka_admin, other)
    hub = TailHub()
    try:
        viewer, bystander = make_viewer(), make_viewer()
        hub.join("local", topic, viewer)
        hub.join("local", other, bystander)
        warm_up_hub(producer, topic, [Collector(viewer)])
        warm_up_hub(producer, other, [Collector(bystander)])
        with pytest.raises(RuntimeError), broadcast.tails_closed("local", topic):
            raise RuntimeError("the broker refused the delete")
        assert closed(viewer)[0] == 4404
        # Not deleted: the topic can be tailed again at once, and the other topic's tail never noticed.
        again = make_viewer()
        hub.join("local", topic, again)
        wait_live(again)
        for name in (topic, other):
            producer.produce(name, value=f"after the failed delete of {topic}".encode(), partition=0)
        producer.flush(10)
        collectors = [Collector(again), Collector(bystander)]
        poll_until(collectors, lambda: all(c.events for c in collectors), timeout=10)
        for c in collectors:
            assert c.values() == [f"after the failed delete of {topic}"]
        assert bystander.take_messages()[1] is None
    finally:
        assert hub.close_all(10)
        with broadcast.tails_closed("local", other):
            kafka_admin.delete_topics([other])[other].result(10)


def test_a_process_that_died_holds_a_delete_up_for_seconds_at_most(topic_name: str) -> None:
    # A tail registered by a process that then died: its heartbeat is never renewed.
    assert broadcast.tail_opened("gone-host:4242:1", "local", topic_name) is False
    assert broadcast.open_tails("local", topic_name) == ["gone-host:4242:1"]
    started = time.monotonic()
    with broadcast.tails_closed("local", topic_name):
        waited = time.monotonic() - started
    assert waited <= broadcast.TAIL_TTL + 0.5
    assert broadcast.open_tails("local", topic_name) == []


def test_a_process_whose_tail_does_not_close_holds_a_delete_up_for_the_bound_only(
    topic_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(broadcast, "TAIL_CLOSE_WAIT", 1.0)
    stop = threading.Event()

    def stuck() -> None:  # alive (heartbeats), but never closes its tail
        while not stop.is_set():
            broadcast.tails_beat([("stuck-host:4343:1", "local", topic_name)])
            stop.wait(broadcast.TAIL_BEAT)

    beating = threading.Thread(target=stuck)
    beating.start()
    try:
        broadcast.tail_opened("stuck-host:4343:1", "local", topic_name)
        started = time.monotonic()
        with broadcast.tails_closed("local", topic_name):
            waited = time.monotonic() - started
    finally:
        stop.set()
        beating.join()
        broadcast.tail_closed("stuck-host:4343:1", "local", topic_name)
    assert 1.0 <= waited < 2.0


# --- two real web processes, the delete through the API of one of them ----------------------


@pytest.fixture(scope="module")
def two_servers(
    django_db_setup: Any, django_db_blocker: Any, kafka_bootstrap: str, redis_url: str
) -> Iterator[list[tuple[str, Any]]]:
    """Two Daphne processes of their own (a crash here must not take the session's server with it)."""
    env = _subprocess_env(kafka_bootstrap, redis_url)
    with daphne_server(env, "daphne-tail-delete-1.log") as one, daphne_server(env, "daphne-tail-delete-2.log") as two:
        yield [one, two]


def open_tail(base: str, user: Any, topic: str) -> Tail:
    # Not test_tail_websocket's: that one notes the server for its own topics' clean-up.
    headers = {"Cookie": cookie(user), "Origin": base}
    return Tail(connect(tail_url(base, topic), additional_headers=headers, open_timeout=10))


def alive(base: str, proc: Any) -> bool:
    if proc.poll() is not None:
        return False
    with urllib.request.urlopen(base + "/healthz", timeout=10) as response:
        return bool(response.status == 200)


@pytest.mark.django_db(transaction=True)
def test_a_console_delete_closes_its_tails_in_every_web_process_and_no_process_dies(
    two_servers: list[tuple[str, Any]], make_user: Any, kafka_admin: AdminClient, topic: str, producer: Producer
) -> None:
    (one, _), (two, _) = two_servers
    reader, admin = make_user("reader"), make_user("admin")
    tails: list[Tail] = [open_tail(base, reader, topic) for base in (one, one, two, two)]
    with contextlib.ExitStack() as stack:
        for t in tails:
            stack.enter_context(t.ws)
        warm_up(producer, topic, tails)
        for base in (one, two):
            [shared] = tails_of(tail_stats(base, admin), topic)
            assert len(shared["viewers"]) == 2
        _, key = ApiToken.issue(admin)
        request = urllib.request.Request(
            f"{two}/api/clusters/local/topics/{quote(topic)}/?confirm={quote(topic)}",
            method="DELETE",
            headers={"Authorization": f"Bearer {key}"},
        )
        answer: dict[str, Any] = {}

        def delete() -> None:
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    answer["status"] = response.status
            except urllib.error.HTTPError as exc:
                answer["status"] = exc.code
                answer["body"] = exc.read().decode()
            except OSError as exc:  # the server went away (a web process that crashed)
                answer["error"] = repr(exc)
            answer["at"] = time.monotonic()

        started = time.monotonic()
        deleting = threading.Thread(target=delete)
        deleting.start()
        closed_at: dict[int, float] = {}
        deadline = started + 20
        while len(closed_at) < len(tails) and time.monotonic() < deadline:
            for i, t in enumerate(tails):
                if i not in closed_at:
                    t.pump(0.01)
                    if t.close_code is not None:
                        closed_at[i] = time.monotonic()
        deleting.join(30)
    assert answer.get("status") == 204, answer
    assert [t.close_code for t in tails] == [4404] * 4
    for t in tails:
        assert t.errors[-1]["error"] == f"topic deleted: `{topic}` is being deleted from cluster `local`"
    # Every viewer was closed before the delete answered; their consumers were closed before the
    # topic was deleted, or the test broker's answer to their next fetch would have ended the process.
    assert max(closed_at.values()) <= answer["at"]
    print(f"console delete → all 4 viewers in 2 processes closed: {max(closed_at.values()) - started:.2f} s")
    print(f"console delete → answered (204): {answer['at'] - started:.2f} s")
    assert not exists(kafka_admin, topic)
    # Both web processes are alive, answer, and hold no tail of the topic; a new viewer gets 4404.
    time.sleep(1)
    for base, proc in two_servers:
        assert alive(base, proc)
        assert tails_of(tail_stats(base, admin), topic) == []
    late = open_tail(one, reader, topic)
    with late.ws:
        deadline = time.monotonic() + 10
        while late.close_code is None and time.monotonic() < deadline:
            late.pump(0.1)
    assert late.close_code == 4404
    # The fence outlives the delete by TAIL_TTL (brokers may list the topic a moment longer): a viewer
    # inside that window is told the topic is being deleted, one after it that it does not exist.
    assert late.errors[0]["error"] in (
        f"topic `{topic}` does not exist on cluster `local`",
        f"topic deleted: `{topic}` is being deleted from cluster `local`",
    )
