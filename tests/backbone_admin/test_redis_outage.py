"""Redis down and back: the web process keeps answering and websockets work again.

Redis carries the channel layer; this test stops a Redis of its own (the suite's Redis is
shared by every other test) under a live Daphne, then starts it again on the same port.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from django.test import Client
from websockets.sync.client import connect

from backbone_admin.embedded import redis_command
from tests.conftest import BASE_DIR, RestartableServer, _subprocess_env, daphne_server

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def own_redis() -> Iterator[RestartableServer]:
    redis = RestartableServer(redis_command, "redis-outage-redis.log")
    redis.start()
    yield redis
    redis.stop()


def _redis_url(redis: RestartableServer) -> str:
    return f"redis://{redis.address}/0"


@pytest.fixture
def server(own_redis: RestartableServer, kafka_bootstrap: str, django_db_setup: Any) -> Iterator[tuple[str, Any]]:
    with daphne_server(_subprocess_env(kafka_bootstrap, _redis_url(own_redis)), "redis-outage-daphne.log") as served:
        yield served


def _first_push(base: str, cookie: str) -> dict[str, Any]:
    url = base.replace("http://", "ws://") + "/ws/clusters/"
    with connect(url, additional_headers={"Cookie": cookie, "Origin": base}, open_timeout=10) as ws:
        return dict(json.loads(ws.recv(timeout=10)))


def _push_from_the_server_side(kafka_bootstrap: str, redis_url: str) -> None:
    """What the beat task's worker does: a health push through the channel layer."""
    code = (
        "import django, os; django.setup();"
        "from backbone_admin.health import clusters_health; from backbone_admin import broadcast;"
        "broadcast.cluster_health(clusters_health(['local'], fresh=True))"
    )
    env = _subprocess_env(kafka_bootstrap, redis_url)
    subprocess.run([sys.executable, "-c", code], cwd=BASE_DIR, env=env, check=True, timeout=60)


def test_websockets_work_again_after_redis_comes_back(
    server: tuple[str, Any], own_redis: RestartableServer, make_user: Any, kafka_bootstrap: str
) -> None:
    base, proc = server
    client = Client()
    client.force_login(make_user("viewer"))
    session_id = client.cookies["sessionid"].value
    cookie = f"sessionid={session_id}"
    assert _first_push(base, cookie)["clusters"][0]["name"] == "local"

    own_redis.stop()
    # Pages keep answering (caches fall back to the cluster) while Redis is down.
    started = time.monotonic()
    page = requests.get(f"{base}/clusters/local/", cookies={"sessionid": session_id}, timeout=15)
    assert page.status_code == 200
    assert time.monotonic() - started < 6

    own_redis.start()
    deadline = time.monotonic() + 10
    while True:
        try:
            first = _first_push(base, cookie)
            break
        except Exception:
            assert time.monotonic() < deadline, "websockets still fail 10 s after Redis came back"
            time.sleep(0.5)
    assert first["clusters"][0]["name"] == "local"

    # Server-side pushes reach a socket opened after the outage.
    url = base.replace("http://", "ws://") + "/ws/clusters/"
    with connect(url, additional_headers={"Cookie": cookie, "Origin": base}, open_timeout=10) as ws:
        initial = json.loads(ws.recv(timeout=10))
        _push_from_the_server_side(kafka_bootstrap, _redis_url(own_redis))
        pushed = json.loads(ws.recv(timeout=20))
    assert pushed["clusters"][0]["checked_at"] >= initial["clusters"][0]["checked_at"]
    assert proc.poll() is None
