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

from backbone_admin.embedded import free_port, redis_command, wait_for_port
from tests.conftest import BASE_DIR, _subprocess_env
from tests.plugin import OUTPUT

pytestmark = pytest.mark.django_db(transaction=True)


class Redis:
    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(redis_command(self.port), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_for_port(self.port, proc=self.proc, timeout=20)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def own_redis() -> Iterator[Redis]:
    redis = Redis()
    redis.start()
    yield redis
    redis.stop()


@pytest.fixture
def server(own_redis: Redis, kafka_bootstrap: str, django_db_setup: Any) -> Iterator[tuple[str, Any]]:
    port = free_port()
    env = _subprocess_env(kafka_bootstrap, own_redis.url)
    proc = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "backbone_admin.asgi:application"],
        cwd=BASE_DIR,
        env=env,
        stdout=(OUTPUT / "redis-outage-daphne.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, proc=proc, timeout=30)
        yield f"http://127.0.0.1:{port}", proc
    finally:
        proc.terminate()
        proc.wait(timeout=15)


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
    server: tuple[str, Any], own_redis: Redis, make_user: Any, kafka_bootstrap: str
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
        _push_from_the_server_side(kafka_bootstrap, own_redis.url)
        pushed = json.loads(ws.recv(timeout=20))
    assert pushed["clusters"][0]["checked_at"] >= initial["clusters"][0]["checked_at"]
    assert proc.poll() is None
