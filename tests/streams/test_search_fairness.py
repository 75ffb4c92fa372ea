"""One user's searches cannot fill the search threads (issue 14, point 8), through the real Daphne.

A user opens 20 search sockets, each a search of up to 120 s (a costly filter over 300 documents of
100 KB: tests/streams/test_search_budget.py). Before, they took all 8 threads and another
user's search of a few events waited until one ended. Now that user runs at most
SEARCH_MAX_PER_USER at once, the others are told they wait (and their place), and the other
user's search runs at once. Closing the sockets drops the waiting searches.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from django.conf import settings
from websockets.sync.client import ClientConnection

from tests.conftest import independent_client_config
from tests.streams.browse_helpers import create_topic
from tests.streams.test_search import _open, _session, _until_done
from tests.streams.test_search_budget import COSTLY, documents  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db(transaction=True)
# Longer than opening 20 sockets can take on a loaded machine (the two running searches share the
# GIL with Daphne's event loop): none of them may end, and let a queued one start, meanwhile.
LONG = {"q": COSTLY, "max_seconds": "120", "direction": "oldest"}


@pytest.fixture
def small(kafka_admin: AdminClient, kafka_bootstrap: str) -> str:
    topic = create_topic(kafka_admin, f"t-search-small-{uuid.uuid4().hex[:8]}", 1)
    producer = Producer(independent_client_config(kafka_bootstrap))
    for i in range(20):
        producer.produce(topic, key=b"k", value=json.dumps({"i": i}).encode())
    assert producer.flush(10) == 0
    return topic


def test_one_users_searches_do_not_hold_back_anothers(
    live_url: str,
    documents: str,  # noqa: F811 - the fixture imported above
    small: str,
    make_user: Any,
) -> None:
    greedy = _session(make_user, "reader")
    sockets: list[ClientConnection] = []
    try:
        first: list[dict[str, Any]] = []
        for _ in range(20):
            ws = _open(live_url, documents, greedy)
            sockets.append(ws)
            ws.send(json.dumps({"action": "search", "params": LONG}))
            assert json.loads(ws.recv(timeout=10))["type"] == "started"
        for ws in sockets:
            try:
                first.append(json.loads(ws.recv(timeout=3)))
            except TimeoutError:
                first.append({"type": "running (nothing yet)"})
        queued = [m for m in first if m["type"] == "queued"]
        limit = settings.SEARCH_MAX_PER_USER
        assert len(queued) == 20 - limit, first
        assert sorted(m["position"] for m in queued) == list(range(1, 21 - limit))
        assert f"at most {limit} per user" in queued[0]["reason"]

        started = time.monotonic()
        with _open(live_url, small, _session(make_user, "reader")) as other:
            other.send(json.dumps({"action": "search", "params": {"q": "i >= 0", "limit": "5", "max_seconds": "5"}}))
            messages = _until_done(other)
        took = time.monotonic() - started
        assert [m["type"] for m in messages if m["type"] == "queued"] == []
        assert messages[-1]["found"] == 5
        assert took < 8, f"another user's search took {took:.1f} s"
    finally:
        for ws in sockets:
            ws.close()
