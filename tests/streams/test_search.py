"""Search: every filter kind end to end on the broker, budgets that stop and report per partition,
continuing from where a search stopped, and the search websocket (results streamed, cancel)
through the real Daphne."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.conftest import independent_client_config
from tests.streams.browse_helpers import Seen, create_topic, ids, json_events, merged, produce, read_all
from tests.timestamps import RECENT

pytestmark = pytest.mark.django_db


def _url(topic: str) -> str:
    return f"/api/clusters/local/topics/{topic}/messages/"


@pytest.fixture
def filled(kafka_admin: AdminClient, kafka_bootstrap: str, topic_name: str) -> tuple[str, list[Seen]]:
    create_topic(kafka_admin, topic_name, 3)
    produce(kafka_bootstrap, topic_name, json_events(47, 3, base_ts=RECENT))
    return topic_name, read_all(kafka_bootstrap, topic_name, [0, 1, 2])


def _value(s: Seen) -> dict[str, Any]:
    return json.loads(s.value or b"null")


def _header(s: Seen, name: str) -> str | None:
    return next(((v or b"").decode() for k, v in s.headers if k == name), None)


FILTERS: list[tuple[str, Callable[[Seen], bool]]] = [
    ("ORD-1014", lambda s: b"ORD-1014" in (s.value or b"")),  # plain text: a substring
    ('"k3"', lambda s: s.key == b"k3"),  # a quoted string alone: substring of key or value
    (r"key ~ /^k[12]$/", lambda s: s.key in (b"k1", b"k2")),  # regex on the key
    ('headers.source == "web"', lambda s: _header(s, "source") == "web"),
    (r'headers."x-trace" ~ /^t1\d$/', lambda s: (_header(s, "x-trace") or "") in {f"t{i}" for i in range(10, 20)}),
    ('status == "DELAYED"', lambda s: _value(s)["status"] == "DELAYED"),  # a JSON field
    ("amount > 100", lambda s: _value(s)["amount"] > 100),
    (
        'amount >= 30 and headers.source == "web" and not status == "OK"',
        lambda s: _value(s)["amount"] >= 30 and _header(s, "source") == "web" and _value(s)["status"] != "OK",
    ),
    ("(i < 3 or i > 44) and order exists", lambda s: _value(s)["i"] < 3 or _value(s)["i"] > 44),
    ("partition == 2 and offset < 3", lambda s: s.partition == 2 and s.offset < 3),
]


@pytest.mark.parametrize(("text", "expected"), FILTERS, ids=[f[0] for f in FILTERS])
@pytest.mark.parametrize("order", ["newest", "oldest"])
def test_each_filter_kind_finds_exactly_the_matching_events(
    filled: tuple[str, list[Seen]],
    api_as: Callable[..., APIClient],
    text: str,
    expected: Callable[[Seen], bool],
    order: str,
) -> None:
    topic, seen = filled
    wanted = [s for s in seen if expected(s)]
    assert 0 < len(wanted) < len(seen)
    body = api_as("reader").get(_url(topic), {"q": text, "limit": 500, "direction": order}).json()
    assert ids(body) == merged(wanted, newest_first=order == "newest")
    assert body["scan"]["scanned"] == len(seen) and body["scan"]["finished"] is True
    assert body["next"] is None


@pytest.mark.parametrize("order", ["newest", "oldest"])
def test_a_search_page_holds_the_first_matches_in_time_order_and_continues_exactly(
    filled: tuple[str, list[Seen]], api_as: Callable[..., APIClient], order: str
) -> None:
    topic, seen = filled
    api = api_as("reader")
    wanted = merged([s for s in seen if _value(s)["status"] == "DELAYED"], newest_first=order == "newest")
    params = {"q": 'status == "DELAYED"', "limit": 3, "direction": order}
    first = api.get(_url(topic), params).json()
    assert ids(first) == wanted[:3]
    assert "limit" in {p["stopped"] for p in first["scan"]["partitions"]}
    found = ids(first)
    body = first
    while body["next"] is not None:
        body = api.get(_url(topic), {**params, "cursor": body["next"]}).json()
        found += ids(body)
    assert found == wanted
    # And back: the previous page of the second page is the first page.
    second = api.get(_url(topic), {**params, "cursor": first["next"]}).json()
    assert ids(api.get(_url(topic), {**params, "cursor": second["previous"]}).json()) == wanted[:3]


def test_an_events_budget_stops_the_scan_reports_each_partition_and_it_continues(
    filled: tuple[str, list[Seen]], api_as: Callable[..., APIClient]
) -> None:
    topic, seen = filled
    api = api_as("reader")
    params = {"q": 'status == "DELAYED"', "max_events": 12, "direction": "oldest", "limit": 500}
    body = api.get(_url(topic), params).json()
    scan = body["scan"]
    assert scan["scanned"] == 12 and scan["finished"] is False
    assert {p["stopped"] for p in scan["partitions"]} == {"events budget"}
    assert sum(p["scanned"] for p in scan["partitions"]) == 12
    part = scan["partitions"][0]
    assert part["summary"] == (
        f"scanned {part['scanned']} of {part['total']} events in partition 0; stopped: events budget"
    )
    assert scan["budget"] == {"max_events": 12, "max_bytes": 1024**3, "max_seconds": 10.0}
    found, scanned, rounds = ids(body), scan["scanned"], 1
    while body["next"] is not None:
        body = api.get(_url(topic), {**params, "cursor": body["next"]}).json()
        assert body["scan"]["scanned"] <= 12
        found += ids(body)
        scanned += body["scan"]["scanned"]
        rounds += 1
    # Continuing read every event exactly once and found every match.
    assert scanned == len(seen) and rounds == 4
    assert sorted(found) == sorted(s.id for s in seen if _value(s)["status"] == "DELAYED")


def test_a_bytes_budget_stops_the_scan(filled: tuple[str, list[Seen]], api_as: Callable[..., APIClient]) -> None:
    topic, seen = filled
    size = sum(
        len(s.key or b"") + len(s.value or b"") + sum(len(k) + len(v or b"") for k, v in s.headers) for s in seen
    )
    body = api_as("reader").get(_url(topic), {"q": "nothing-like-this", "max_bytes": size // 4}).json()
    scan = body["scan"]
    assert {p["stopped"] for p in scan["partitions"]} == {"bytes budget"}
    assert size // 4 <= scan["bytes"] < size // 4 + 200 and scan["scanned"] < len(seen)


LARGE = 600_000


@pytest.fixture(scope="module")
def large(kafka_admin: AdminClient, kafka_bootstrap: str) -> str:
    """600,000 small events in 3 partitions, shared by this module's tests (they only read it);
    written in large batches: exact ends do not matter here."""
    topic_name = create_topic(kafka_admin, f"t-search-large-{uuid.uuid4().hex[:8]}", 3)
    producer = Producer(independent_client_config(kafka_bootstrap, **{"linger.ms": 50, "batch.size": 1_000_000}))
    for i in range(LARGE):
        record = {"key": b"k%d" % (i % 100), "value": b'{"i":%d,"s":"OK"}' % i, "partition": i % 3}
        try:
            producer.produce(topic_name, **record)
        except BufferError:
            producer.poll(0.5)
            producer.produce(topic_name, **record)
        producer.poll(0)
    assert producer.flush(30) == 0
    return topic_name


def test_a_time_budget_stops_a_long_scan_and_says_how_far_each_partition_got(
    large: str, api_as: Callable[..., APIClient]
) -> None:
    started = time.monotonic()
    # A numeric condition has no bytes to look for first: every value is parsed (~100k events/s
    # here), so one second is far from the 600,000 events.
    params = {"q": "i > 100000000", "max_seconds": 1.0, "direction": "oldest"}
    body = api_as("reader").get(_url(large), params).json()
    took = time.monotonic() - started
    scan = body["scan"]
    assert 0 < scan["scanned"] < LARGE
    assert took < 1.0 + 5  # the budget, and the Kafka timeout for the metadata before it
    # The broker may serve one partition faster than the others: one read to its end says so.
    assert "time budget" in {p["stopped"] for p in scan["partitions"]}
    for part in scan["partitions"]:
        assert part["summary"].startswith(f"scanned {part['scanned']:,} of {part['total']:,} ")
        if part["stopped"] == "end":
            assert part["scanned"] == part["total"]
        else:
            assert part["stopped"] == "time budget" and part["scanned"] < part["total"]
            assert part["summary"].endswith(f"events in partition {part['partition']}; stopped: time budget")
    assert body["next"] is not None and body["results"] == []


# --- the search websocket, through the real Daphne ------------------------------------------


def _session(make_user: Any, role: str) -> str:
    client = Client()
    client.force_login(make_user(role))
    return f"sessionid={client.cookies['sessionid'].value}"


def _open(live_url: str, topic: str, cookie: str, origin: str | None = None) -> ClientConnection:
    url = live_url.replace("http://", "ws://") + f"/ws/clusters/local/topics/{topic}/search/"
    headers = {"Cookie": cookie, "Origin": origin or live_url}
    return connect(url, additional_headers=headers, open_timeout=10)


def _until_done(ws: ClientConnection) -> list[dict[str, Any]]:
    messages = []
    while True:
        message = json.loads(ws.recv(timeout=30))
        messages.append(message)
        if message["type"] in ("done", "error"):
            return messages


@pytest.mark.django_db(transaction=True)
def test_results_stream_over_the_websocket_no_more_than_the_page(
    live_url: str, filled: tuple[str, list[Seen]], make_user: Any
) -> None:
    topic, seen = filled
    wanted = merged([s for s in seen if _value(s)["status"] == "DELAYED"], newest_first=True)
    with _open(live_url, topic, _session(make_user, "reader")) as ws:
        ws.send(json.dumps({"action": "search", "params": {"q": 'status == "DELAYED"', "limit": "4"}}))
        messages = _until_done(ws)
        hits = [m for m in messages if m["type"] == "hit"]
        done = messages[-1]
        assert messages[0]["type"] == "started" and done["type"] == "done"
        assert len(hits) == 4 and all('<tr data-id="' in h["html"] for h in hits)
        assert done["order"] == [f"{p}:{o}" for p, o in wanted[:4]]
        assert sorted(h["id"] for h in hits) == sorted(done["order"])
        assert "older →" in done["pager_html"] and "cursor=" in done["pager_html"]
        assert "Stopped before the end" not in done["scan_html"] or done["found"] == 4
        # A bad filter answers with the column, and the socket stays usable.
        ws.send(json.dumps({"action": "search", "params": {"q": "amount >"}}))
        error = json.loads(ws.recv(timeout=10))
        assert error["type"] == "error" and "q" in error["fields"]
        # These events were written to chosen partitions, not by key: a look-up over all of them.
        ws.send(json.dumps({"action": "search", "params": {"key": "k1", "limit": "500", "all_partitions": "1"}}))
        keyed = _until_done(ws)
        assert keyed[-1]["found"] == sum(1 for s in seen if s.key == b"k1")
        assert "all 3 partitions" in keyed[-1]["key_partitions"]


@pytest.mark.django_db(transaction=True)
def test_a_search_can_be_cancelled_and_continued(live_url: str, large: str, make_user: Any) -> None:
    with _open(live_url, large, _session(make_user, "reader")) as ws:
        # Every value parsed (~100k events/s here): half a second stays far from any partition's end.
        params = {"q": "i > 100000000", "max_seconds": "60", "direction": "oldest"}
        ws.send(json.dumps({"action": "search", "params": params}))
        assert json.loads(ws.recv(timeout=10))["type"] == "started"
        time.sleep(0.5)
        ws.send(json.dumps({"action": "cancel"}))
        started = time.monotonic()
        done = _until_done(ws)[-1]
        assert time.monotonic() - started < 5
        assert done["cancelled"] is True and done["type"] == "done"
        assert {p["stopped"] for p in done["scan"]["partitions"]} == {"cancelled"}
        assert 0 < done["scan"]["scanned"] < LARGE
        # "newer →" continues exactly where each partition stopped.
        assert "newer →" in done["pager_html"]
        cursor = done["pager_html"].split("cursor=", 1)[1].split('"', 1)[0]
        ws.send(json.dumps({"action": "search", "params": {**params, "cursor": cursor, "max_seconds": "1"}}))
        resumed = _until_done(ws)[-1]
        starts = {p["partition"]: p["start"] for p in resumed["scan"]["partitions"]}
        assert starts == {p["partition"]: p["position"] for p in done["scan"]["partitions"]}


@pytest.mark.django_db(transaction=True)
def test_closing_the_socket_stops_the_search(live_url: str, large: str, make_user: Any) -> None:
    # Fill every search thread of the server with a long scan, then close the sockets: a new
    # search only runs at once if closing stopped those scans.
    cookie = _session(make_user, "reader")
    params = {"q": 's == "DELAYED"', "max_seconds": "60", "direction": "oldest"}
    for _ in range(settings.SEARCH_THREADS):
        with _open(live_url, large, cookie) as ws:
            ws.send(json.dumps({"action": "search", "params": params}))
            assert json.loads(ws.recv(timeout=10))["type"] == "started"
            # The scan is running (after the previous socket's search left its thread, if it waits).
            while (message := json.loads(ws.recv(timeout=30)))["type"] == "queued":
                pass
            assert message["type"] == "progress"
    started = time.monotonic()
    with _open(live_url, large, cookie) as again:
        again.send(json.dumps({"action": "search", "params": {"q": "i", "limit": "1", "max_seconds": "5"}}))
        done = _until_done(again)[-1]
    assert done["found"] == 1 and time.monotonic() - started < 20


@pytest.mark.django_db(transaction=True)
def test_viewers_anonymous_and_other_origins_are_refused(
    live_url: str, filled: tuple[str, list[Seen]], make_user: Any
) -> None:
    topic, _ = filled
    for cookie, origin in (
        (_session(make_user, "viewer"), None),
        ("", None),
        (_session(make_user, "reader"), "http://evil.example"),
    ):
        with pytest.raises(InvalidStatus) as refused:
            _open(live_url, topic, cookie, origin)
        assert refused.value.response.status_code == 403


@pytest.mark.django_db(transaction=True)
def test_a_search_socket_closes_once_the_reader_role_is_taken_away(live_url: str, large: str, make_user: Any) -> None:
    from backbone_admin.roles import assign_role

    user = make_user("reader")
    client = Client()
    client.force_login(user)
    with _open(live_url, large, f"sessionid={client.cookies['sessionid'].value}") as ws:
        ws.send(json.dumps({"action": "search", "params": {"q": 's == "DELAYED"', "max_seconds": "60"}}))
        assert json.loads(ws.recv(timeout=10))["type"] == "started"
        assign_role(user, "viewer")
        # The next push after the access check expires (or the next search asked for) closes it.
        deadline = time.monotonic() + 20
        with pytest.raises(ConnectionClosed) as closed:
            while time.monotonic() < deadline:
                message = json.loads(ws.recv(timeout=20))
                assert message["type"] != "hit"
                if message["type"] in ("done", "error"):
                    ws.send(json.dumps({"action": "search", "params": {"q": "x"}}))
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
