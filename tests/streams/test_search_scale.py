"""Search at scale keeps its answers (issue 17): chunks counted whole, checks on the bytes as written.

A search takes a partition's records in chunks and counts a chunk without a candidate as a whole;
a filter states what every event it finds holds as written (a text, or one JSON field read lazily
with simdjson) and JSON is parsed with orjson where it reads as the standard parser does. Each of
these must find exactly what the full check finds: here against an independent reader and the
filter's own predicate over every event, with budgets that cut chunks anywhere, both directions.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from rest_framework.test import APIClient

from backbone_admin.clusters import ClusterConfig
from backbone_admin.kafka.records import Record
from streams.events import decoding
from streams.events.filters import parse_filter
from streams.events.serialize import decode_record
from tests.conftest import independent_client_config
from tests.streams.browse_helpers import Seen, create_topic, merged, read_all

PARTITIONS = 3
EVENTS = 4_500  # 1,500 a partition: more than a chunk (searching.CHUNK) each
CLUSTER = ClusterConfig(name="local", bootstrap_servers="-")
pytestmark = pytest.mark.django_db

# Values a lazy or byte-level check could get wrong, each where the full parse decides otherwise.
ODD_VALUES: list[bytes | None] = [
    b'{"amount": 1, "amount": 5000000, "status": "OK"}',  # duplicate keys: Python keeps the last
    b'{"amount": 5000000, "amount": 1, "status": "OK"}',
    b'{"am\\u006fount": 6000000, "status": "OK"}',  # a key written with an escape
    b'{"amount": 123456789012345678901234567890, "status": "OK"}',  # beyond 64 bits
    b'{"amount": 1e400, "status": "OK"}',  # infinity to Python, an error to simdjson and orjson
    b'{"amount": "9000000", "status": "LO\\u0053T"}',  # a string, and LOST written with an escape
    b'{"amount": [7000000], "status": "LOST"}',  # a list at the path
    b'{"payload": {"amount": 8000000}, "status": "HELD"}',  # nested elsewhere
    b'{"status": "\\ud800", "amount": 4000001}',  # a lone surrogate
    b"[1, 2, 3]",
    b"amount > 4000000 as text",
    b"",
    None,  # a tombstone
    b"\x00\x00\x00\x00\x01binary",
    b'  \n {"amount": 4500000.5, "status": "LOST"}',
]
FILTERS = [
    "amount > 4000000",
    'status == "LOST"',
    '"ORD-4321"',
    "ORD-12",
    'amount >= 10 and status == "DELAYED"',
    'amount < 3 or status == "HELD"',
    "amount != 4",
]


def _value(i: int) -> bytes | None:
    if i % 97 == 0:
        return ODD_VALUES[(i // 97) % len(ODD_VALUES)]
    status = ["OK", "DELAYED", "HELD", "NEW"][i % 4] if i % 251 else "LOST"
    amount: float = i * 1000 if i % 3 else i + 0.25
    return json.dumps({"order": f"ORD-{i}", "amount": amount, "status": status, "note": "n" * (i % 300)}).encode()


@pytest.fixture(scope="module")
def scale_topic(kafka_admin: AdminClient, kafka_bootstrap: str) -> tuple[str, list[Seen]]:
    topic = create_topic(kafka_admin, f"t-search-scale-{uuid.uuid4().hex[:8]}", PARTITIONS)
    producer = Producer(independent_client_config(kafka_bootstrap, **{"linger.ms": 20}))
    base = int(time.time() * 1000) - 3_600_000
    for i in range(EVENTS):
        key = None if i % 50 == 0 else f"k-{i % 40}".encode()
        headers: list[tuple[str, str | bytes | None]] | None = [("source", b"web")] if i % 5 == 0 else None
        producer.produce(topic, key=key, value=_value(i), partition=i % PARTITIONS, timestamp=base + i, headers=headers)
        producer.poll(0)
    assert producer.flush(30) == 0
    # The last event of each partition in a batch of its own: its end offset is then exact on any broker.
    for p in range(PARTITIONS):
        producer.produce(topic, key=b"last", value=b'{"amount": 0}', partition=p, timestamp=base + EVENTS + p)
        assert producer.flush(10) == 0
    return topic, read_all(kafka_bootstrap, topic, list(range(PARTITIONS)))


def _expected(seen: list[Seen], q: str, *, newest_first: bool) -> list[tuple[int, int]]:
    """What the filter's own predicate finds, event by event, as an admin sees them."""
    found = parse_filter(q)
    hits = []
    for s in seen:
        record = Record("t", s.partition, s.offset, s.timestamp, "create", s.key, s.value, s.headers)
        if found.matches(decode_record(record, registry=None, cluster=CLUSTER, masked=False)):
            hits.append(s)
    return merged(hits, newest_first=newest_first)


def _pages(api: APIClient, topic: str, params: dict[str, Any]) -> tuple[list[tuple[int, int]], int]:
    """Every page of a search, following `next`: (events found in order, events scanned)."""
    url = f"/api/clusters/local/topics/{topic}/messages/"
    found: list[tuple[int, int]] = []
    scanned = 0
    body: dict[str, Any] = {"next": ""}
    for _ in range(200):
        extra = {"cursor": body["next"]} if body["next"] else {}
        response = api.get(url, {**params, **extra})
        assert response.status_code == 200, response.content
        body = response.json()
        found += [(e["partition"], e["offset"]) for e in body["results"]]
        scanned += body["scan"]["scanned"]
        if body["next"] is None:
            return found, scanned
    raise AssertionError("the search did not finish in 200 pages")


@pytest.mark.parametrize("q", FILTERS)
@pytest.mark.parametrize("direction", ["oldest", "newest"])
def test_a_search_finds_what_its_filter_finds_in_every_event(
    scale_topic: tuple[str, list[Seen]], api_as: Callable[..., APIClient], q: str, direction: str
) -> None:
    topic, seen = scale_topic
    api = api_as("admin")
    wanted = _expected(seen, q, newest_first=direction == "newest")
    assert 0 < len(wanted) < len(seen), "a filter that finds all or nothing tells nothing"
    # Small pages (7, or 50 pages in all): the merge order across partitions, page after page.
    limit = max(7, len(wanted) // 50)
    found, _ = _pages(api, topic, {"q": q, "direction": direction, "limit": limit, "max_seconds": 10})
    assert found == wanted
    # Budgets that cut chunks anywhere: every event read exactly once, every match found once.
    for budget in ({"max_events": 700}, {"max_bytes": 150_000}):
        found, scanned = _pages(api, topic, {"q": q, "direction": direction, "limit": 500, **budget})
        assert sorted(found) == sorted(wanted), budget
        # A full page's matches not handed out are read again by the next page; else each event once.
        assert scanned == len(seen) if len(wanted) < 500 else scanned >= len(seen), budget


@pytest.mark.parametrize("q", FILTERS)
def test_the_check_on_the_bytes_as_written_never_drops_a_match(q: str) -> None:
    """Sound on every odd value, and not vacuous: it passes over some events."""
    found = parse_filter(q)
    values = [_value(i) for i in range(600)] + ODD_VALUES
    if found.raw is None:
        assert found.plain, f"{q}: an expression with a text or a field to compare should say what it needs"
        return
    passed_over = 0
    for n, value in enumerate(values):
        key = f"k-{n}".encode()
        record = Record("t", 0, n, 0, "create", key, value, ())
        matches = found.matches(decode_record(record, registry=None, cluster=CLUSTER, masked=False))
        holds = found.raw.test(key, value)
        assert holds or not matches, f"{q}: {value!r} matches but its bytes were said not to"
        passed_over += not holds
    assert passed_over > 0


@pytest.mark.parametrize("data", [v for v in ODD_VALUES if v] + [b'{"a": 18446744073709551615}', b'{"a": -0}'])
def test_json_is_read_as_the_standard_parser_reads_it(data: bytes) -> None:
    """orjson where it gives the same answer, the standard parser otherwise: same types, same values."""
    got = decoding.decode_plain(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    ok, parsed = (
        decoding._as_json(text) if text.strip()[:1] and text.strip()[:1] in '{["-0123456789tfn' else (False, None)
    )
    if ok:
        assert got.encoding == "json"
        assert repr(got.json) == repr(parsed)  # repr: 1 is not 1.0, a big integer is no float
    else:
        assert got.encoding != "json"
