"""Channels over the real ASGI server (Daphne), with a real Celery worker broadcasting."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from backbone_admin.tasks import check_clusters

pytestmark = pytest.mark.django_db(transaction=True)


def _session_cookie(make_user: Any, role: str = "viewer") -> str:
    client = Client()
    client.force_login(make_user(role))
    return f"sessionid={client.cookies['sessionid'].value}"


def _ws(live_url: str) -> str:
    return live_url.replace("http://", "ws://") + "/ws/clusters/"


def test_a_logged_in_viewer_gets_cluster_health_over_the_websocket(live_url: str, make_user: Any) -> None:
    headers = {"Cookie": _session_cookie(make_user), "Origin": live_url}
    with connect(_ws(live_url), additional_headers=headers, open_timeout=10) as ws:
        message = json.loads(ws.recv(timeout=15))
    [local] = message["clusters"]
    assert local["name"] == "local"
    assert local["status"] == "ok"
    assert local["brokers"] >= 1


def test_anonymous_websockets_are_refused(live_url: str) -> None:
    with pytest.raises(InvalidStatus) as info:
        connect(_ws(live_url), additional_headers={"Origin": live_url}, open_timeout=10)
    assert info.value.response.status_code == 403


def test_websockets_from_another_origin_are_refused(live_url: str, make_user: Any) -> None:
    headers = {"Cookie": _session_cookie(make_user), "Origin": "http://evil.example"}
    with pytest.raises(InvalidStatus) as info:
        connect(_ws(live_url), additional_headers=headers, open_timeout=10)
    assert info.value.response.status_code == 403


def test_the_worker_health_check_is_pushed_to_open_websockets(
    live_url: str, make_user: Any, celery_worker: Any
) -> None:
    headers = {"Cookie": _session_cookie(make_user), "Origin": live_url}
    with connect(_ws(live_url), additional_headers=headers, open_timeout=10) as ws:
        first = json.loads(ws.recv(timeout=15))
        result = check_clusters.apply_async()
        pushed = json.loads(ws.recv(timeout=30))
    assert first["clusters"][0]["name"] == "local"
    assert pushed["clusters"][0]["name"] == "local"
    assert pushed["clusters"][0]["checked_at"] > first["clusters"][0]["checked_at"]
    assert result.id
