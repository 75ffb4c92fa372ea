"""A page is bounded by bytes as well as by count (issue 14, point 9).

A reader's `limit=300` of 1 MB JSON values held all of them decoded and masked at once (18 s,
the web process from 1.0 to 4.7 GB). Now a page ends once its events hold
BROWSE_MAX_PAGE_BYTES, says so, and the next page continues exactly; values are cut in lists
and whole on the event's own page and in its download.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from django.test import Client
from rest_framework.test import APIClient

from backbone_admin.clusters import get_cluster
from streams.browse.query import MessageQuery, budget_for, run_query
from tests.streams.browse_helpers import Ev, create_topic, merged, produce, read_all
from tests.timestamps import RECENT

pytestmark = pytest.mark.django_db

BOUND = 2 * 1024 * 1024
EVENTS = 24
MASKING = "    masking: {fields: ['orders.*.email'], patterns: ['\\b\\d{4}-\\d{4}-\\d{4}-\\d{4}\\b']}\n"


def big_value(i: int, size: int) -> bytes:
    rng = random.Random(i)
    orders = [
        {"id": f"o-{i}-{n}", "email": f"c{rng.randrange(10**6)}@example.com", "card": "4242-4242-4242-4242"}
        for n in range(size // 100)
    ]
    body = json.dumps({"batch": i, "orders": orders}).encode()
    return body + b" " * (size - len(body))  # exactly `size` bytes


@pytest.fixture
def topic(
    kafka_admin: AdminClient, kafka_bootstrap: str, topic_name: str, clusters_file: Callable[[str], Path], settings: Any
) -> str:
    clusters_file("clusters:\n  - name: local\n    bootstrap_servers: '{LOCAL}'\n" + MASKING)
    settings.BROWSE_MAX_PAGE_BYTES = BOUND
    create_topic(kafka_admin, topic_name, 2)
    events = [Ev(i % 2, f"k{i}".encode(), big_value(i, 300_000), [], RECENT + i) for i in range(EVENTS)]
    produce(kafka_bootstrap, topic_name, events)
    return topic_name


def _pages(client: APIClient, url: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    pages = []
    answer = client.get(url, params)
    while True:
        assert answer.status_code == 200, answer.content[:300]
        pages.append(answer.json())
        if pages[-1]["next"] is None:
            return pages
        answer = client.get(url, {**params, "cursor": pages[-1]["next"]})


@pytest.mark.parametrize("role", ["reader", "admin"])
def test_a_page_ends_at_its_bytes_and_the_next_continues_exactly(
    topic: str, api_as: Callable[..., APIClient], kafka_bootstrap: str, role: str
) -> None:
    url = f"/api/clusters/local/topics/{topic}/messages/"
    pages = _pages(api_as(role), url, {"limit": 300})
    # ~300 KB each: the seventh crosses 2 MiB and ends the page.
    assert [len(p["results"]) for p in pages] == [7, 7, 7, 3]
    for page in pages:
        sizes = [e["size"] for e in page["results"]]
        assert sum(sizes[:-1]) < BOUND <= sum(sizes) or page is pages[-1]
        for event in page["results"]:
            assert event["truncated"] is True and len(event["value"]) == 2000
            assert event["masked"] is (role == "reader")
    shown = [(e["partition"], e["offset"]) for p in pages for e in p["results"]]
    assert shown == merged(read_all(kafka_bootstrap, topic, [0, 1]), newest_first=True)


def test_the_page_says_why_it_ended_and_the_event_page_has_the_whole_value(
    topic: str, make_user: Any, kafka_bootstrap: str
) -> None:
    cluster = get_cluster("local")
    assert cluster is not None
    query = MessageQuery(limit=300)
    result = run_query(cluster, topic, query, masked=True, budget=budget_for(query))
    assert len(result.events) == 7
    assert result.page.notes == [
        "this page ends after 7 events: they hold 2.0 MB and a page holds at most 2.0 MB; "
        "the next page continues from there"
    ]
    client = Client()
    client.force_login(make_user("reader"))
    page = client.get(f"/clusters/local/topics/{topic}/messages/", {"limit": 300})
    assert page.status_code == 200 and page.content.decode().count('<tr data-id="') == 7
    assert "this page ends after 7 events" in page.content.decode()  # the page says why
    assert result.notes == result.page.notes  # and the API's `notes`
    whole = client.get(f"/clusters/local/topics/{topic}/messages/event/", {"partition": 1, "offset": 11})
    assert whole.status_code == 200
    body = whole.content.decode()
    assert "&quot;batch&quot;: 23" in body and body.count("&quot;email&quot;: &quot;***&quot;") == 3000
    download = client.get(
        f"/clusters/local/topics/{topic}/messages/event/download/", {"partition": 1, "offset": 11, "part": "value"}
    )
    assert download.status_code == 200
    value = json.loads(download.content)
    assert len(value["orders"]) == 3000 and value["batch"] == 23
    assert {o["email"] for o in value["orders"]} == {"***"}
