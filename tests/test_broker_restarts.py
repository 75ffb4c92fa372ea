"""The console outlives its backbone: a broker stopped and started again, several times,
while concurrent requests hit the pages that read group offsets (the librdkafka abort of
issues 4605/3663), the topic list, the overview and its websocket.

The broker here is a test broker of this test's own (it is killed and restarted), so this
runs the same way whichever broker the rest of the suite uses. Tansu keeps nothing over
a restart, so the test writes its topic and group offsets again after each start.
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from django.test import Client
from websockets.sync.client import connect

from backbone_admin.embedded import broker_command
from tests.conftest import RestartableServer, _subprocess_env, daphne_server

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 3.0  # KAFKA_TIMEOUT of the server under test
BOUND = TIMEOUT + 1  # every answer within the cluster timeout + 1 s
SLACK = 0.75  # two shared cores: scheduling noise on top of the bound
ROUNDS = 3


@pytest.fixture
def broker() -> Iterator[RestartableServer]:
    b = RestartableServer(broker_command, "restart-broker.log")
    b.start()
    yield b
    b.stop()


@pytest.fixture
def server(
    broker: RestartableServer, redis_url: str, django_db_setup: Any
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    env = _subprocess_env(broker.address, redis_url)
    env["KAFKA_TIMEOUT"] = str(TIMEOUT)
    env["METADATA_CACHE_TTL"] = "2"
    with daphne_server(env, "restart-daphne.log") as served:
        yield served


def _seed(bootstrap: str, topic: str, group: str) -> None:
    quiet = logging.getLogger("tests.kafka")
    admin = AdminClient({"bootstrap.servers": bootstrap, "logger": quiet})
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])[topic].result(10)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "logger": quiet})
    for i in range(3):
        producer.produce(topic, value=f"e{i}".encode(), partition=0)
    producer.flush(10)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "logger": quiet})
    consumer.commit(offsets=[TopicPartition(topic, 0, 2)], asynchronous=False)
    consumer.close()


def _get(session: requests.Session, url: str) -> tuple[int, float, str]:
    started = time.monotonic()
    try:
        response = session.get(url, timeout=BOUND + 10)
    except requests.RequestException as exc:
        return -1, time.monotonic() - started, str(exc)
    return response.status_code, time.monotonic() - started, response.text


def _ws_status(base: str, cookie: str) -> tuple[str, float]:
    started = time.monotonic()
    url = base.replace("http://", "ws://") + "/ws/clusters/"
    with connect(url, additional_headers={"Cookie": cookie, "Origin": base}, open_timeout=BOUND + 5) as ws:
        message = json.loads(ws.recv(timeout=BOUND + 5))
    return message["clusters"][0]["status"], time.monotonic() - started


def test_the_console_outlives_broker_restarts(
    server: tuple[str, Any], broker: RestartableServer, make_user: Any
) -> None:
    base, proc = server
    topic, group = f"restart-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    _seed(broker.address, topic, group)
    client = Client()
    client.force_login(make_user("viewer"))
    session_id = client.cookies["sessionid"].value
    cookie = f"sessionid={session_id}"
    session = requests.Session()
    session.cookies.set("sessionid", session_id)
    urls = [
        f"{base}/clusters/local/topics/{topic}/",
        f"{base}/clusters/local/topics/{topic}/",
        f"{base}/clusters/local/topics/{topic}/",
        f"{base}/clusters/local/topics/",
        f"{base}/clusters/local/",
        f"{base}/clusters/local/retention/",
        f"{base}/api/clusters/local/topics/{topic}/",
    ]
    assert all(_get(session, u)[0] == 200 for u in urls)
    pid = proc.pid
    pool = ThreadPoolExecutor(max_workers=len(urls) + 1)

    for round_ in range(ROUNDS):
        broker.stop()
        stopped = time.monotonic()
        # Concurrent requests while the broker is down: 200 (from a cache) or 503, in time.
        for _ in range(2):
            ws_future = pool.submit(_ws_status, base, cookie)
            answers = list(pool.map(lambda u: (u, *_get(session, u)), urls))
            for url, status, elapsed, body in answers:
                assert status in (200, 503), f"round {round_}: {url} answered {status}: {body[:2000]}"
                assert elapsed < BOUND + SLACK, f"round {round_}: {url} took {elapsed:.2f} s"
                if status == 503:
                    # the API's text has backticks; a page shows the name as <code>
                    assert any(
                        f"cluster {name}" in body for name in ("`local`", "<code>local</code>", "&#x60;local&#x60;")
                    ), body[-3000:]
            ws_state, ws_elapsed = ws_future.result()
            assert ws_elapsed < BOUND + SLACK
        # The overview's health is cached for METADATA_CACHE_TTL (2 s here): "down" once that passed.
        while ws_state != "down":
            assert time.monotonic() - stopped < 15, "the websocket still says the cluster is up"
            ws_state, _ = _ws_status(base, cookie)
        assert proc.poll() is None, f"the web process died in round {round_} (rc={proc.returncode})"

        broker.start()
        _seed(broker.address, topic, group)
        back = time.monotonic()
        pending = set(urls)
        while pending and time.monotonic() - back < 10:
            for url, status, _, _ in pool.map(lambda u: (u, *_get(session, u)), sorted(pending)):
                if status == 200:
                    pending.discard(url)
            time.sleep(0.2)
        assert not pending, f"round {round_}: still not 200 ten seconds after the broker came back: {pending}"
        page = session.get(urls[0], timeout=BOUND + 5).text
        assert group in page, "the topic page shows its consumer group again"
        while _ws_status(base, cookie)[0] != "ok":
            assert time.monotonic() - back < 10, "the overview websocket still says the cluster is down"
            time.sleep(0.5)

    # Same process from start to end. (When librdkafka's assertion fires, it fires in the
    # isolated child: restart-daphne.log then shows "Kafka client child ... killed by SIGABRT".)
    assert proc.poll() is None and proc.pid == pid
