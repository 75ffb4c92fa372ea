"""Websocket access is re-checked while the socket is open, and unknown paths are refused
cleanly — through the real Daphne server (issue 7, point 9)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.test import Client
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from backbone_admin import broadcast
from backbone_admin.health import clusters_health
from backbone_admin.models import ClusterGrant
from tests.plugin import OUTPUT

pytestmark = pytest.mark.django_db(transaction=True)

# A push reaches a socket whose access is gone at most ACCESS_TTL after the last check; allow
# the push interval and some scheduling on a busy machine on top.
CLOSE_WITHIN = broadcast.ViewerConsumer.ACCESS_TTL + 3.0


def _login(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _open(live_url: str, client: Client, path: str = "/ws/clusters/") -> ClientConnection:
    headers = {"Cookie": f"sessionid={client.cookies['sessionid'].value}", "Origin": live_url}
    return connect(live_url.replace("http://", "ws://") + path, additional_headers=headers, open_timeout=10)


def _push(healths: list[Any]) -> None:
    # From a thread of its own: a browser test earlier in the session leaves Playwright's event
    # loop in this thread, where async_to_sync refuses to run.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(broadcast.cluster_health, healths).result(timeout=10)


def _push_until_closed(ws: ClientConnection, *, within: float) -> tuple[int, float]:
    """Push cluster health every 0.5 s until the server closes the socket: (close code, seconds)."""
    healths = clusters_health(["local"])
    started = time.monotonic()
    while time.monotonic() - started < within:
        _push(healths)
        try:
            ws.recv(timeout=0.5)
        except TimeoutError:
            continue
        except ConnectionClosed as exc:
            assert exc.rcvd is not None, "the server closed without a close frame"
            return exc.rcvd.code, time.monotonic() - started
    pytest.fail(f"the socket stayed open {within:g} s after access was taken away")


def _still_pushed(ws: ClientConnection) -> dict[str, Any]:
    _push(clusters_health(["local"]))
    return json.loads(ws.recv(timeout=10))


def _drain(ws: ClientConnection) -> None:
    while True:
        try:
            ws.recv(timeout=0.3)
        except TimeoutError:
            return


def _revoke_and_expect_close(live_url: str, user: Any, bystander: Any, revoke: Callable[[], None]) -> None:
    with _open(live_url, _login(user)) as ws, _open(live_url, _login(bystander)) as other:
        assert json.loads(ws.recv(timeout=15))["clusters"][0]["name"] == "local"
        other.recv(timeout=15)
        revoke()
        code, seconds = _push_until_closed(ws, within=CLOSE_WITHIN)
        assert code == broadcast.CLOSE_ACCESS_GONE
        # Someone whose access holds keeps getting pushes after the re-check interval.
        time.sleep(max(0.0, broadcast.ViewerConsumer.ACCESS_TTL - seconds) + 0.5)
        _drain(other)  # the pushes made while waiting for the close
        assert _still_pushed(other)["clusters"][0]["name"] == "local"


def test_a_deactivated_users_open_socket_is_closed_at_the_next_push(live_url: str, make_user: Any) -> None:
    user = make_user("viewer")
    revoke = lambda: type(user).objects.filter(pk=user.pk).update(is_active=False)  # noqa: E731
    _revoke_and_expect_close(live_url, user, make_user("viewer"), revoke)


def test_removing_the_grant_closes_the_socket(live_url: str, make_user: Any) -> None:
    user = make_user("viewer", cluster="local")
    revoke = lambda: ClusterGrant.objects.filter(user=user).delete()  # noqa: E731
    _revoke_and_expect_close(live_url, user, make_user("viewer"), revoke)


def test_logging_out_elsewhere_closes_the_socket(live_url: str, make_user: Any) -> None:
    client = _login(make_user("viewer"))
    with _open(live_url, client) as ws:
        ws.recv(timeout=15)
        client.logout()  # deletes the session the socket was opened with
        code, _ = _push_until_closed(ws, within=CLOSE_WITHIN)
    assert code == broadcast.CLOSE_ACCESS_GONE


def test_a_user_without_any_cluster_is_refused_at_connect(live_url: str, make_user: Any) -> None:
    with pytest.raises(InvalidStatus) as info:
        _open(live_url, _login(make_user(None)))
    assert info.value.response.status_code == 403


def test_an_unknown_websocket_path_is_refused_without_an_error_in_the_server_log(live_url: str, make_user: Any) -> None:
    log = OUTPUT / "daphne.log"
    before = log.stat().st_size
    client = _login(make_user("viewer"))
    for path in ("/ws/nope/", "/ws/clusters/local/topics/x/tail/", "/anything"):
        with pytest.raises(InvalidStatus) as info:
            _open(live_url, client, path)
        assert info.value.response.status_code == 403, path
    with pytest.raises(InvalidStatus) as anonymous:
        connect(live_url.replace("http://", "ws://") + "/ws/nope/", additional_headers={"Origin": live_url})
    assert anonymous.value.response.status_code == 403
    # The known route still works after the refusals.
    with _open(live_url, client) as ws:
        ws.recv(timeout=15)
    time.sleep(0.5)
    with log.open("rb") as f:
        f.seek(before)
        written = f.read().decode(errors="replace")
    # Other tests may share this Daphne and its log: look for this failure's own marks.
    assert "No route found" not in written
    assert "channels/routing.py" not in written


def test_an_idle_socket_stays_open_and_still_gets_pushes(live_url: str, make_user: Any) -> None:
    # The channel layer blocks 5 s per read; a Redis client read timeout of the same 5 s used to
    # kill every socket idle that long (close 1011 and a traceback in the server log).
    log = OUTPUT / "daphne.log"
    before = log.stat().st_size
    with _open(live_url, _login(make_user("viewer"))) as ws:
        ws.recv(timeout=15)
        time.sleep(7)
        assert _still_pushed(ws)["clusters"][0]["name"] == "local"
    with log.open("rb") as f:
        f.seek(before)
        written = f.read().decode(errors="replace")
    assert "Timeout reading from" not in written
