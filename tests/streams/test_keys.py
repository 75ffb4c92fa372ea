"""Key look-up reads only the partitions the producers' default partitioners chose — checked with
events written by confluent-kafka producers using murmur2_random (the Java clients' hash) and
consistent_random (librdkafka's default, CRC-32) — and the key timeline merges topics by time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from django.test import Client
from rest_framework.test import APIClient

from backbone_admin.kafka.partitioner import candidate_partitions
from tests.streams.browse_helpers import Ev, Seen, create_topic, ids, produce, read_all
from tests.timestamps import RECENT

pytestmark = pytest.mark.django_db

PARTITIONS = 6
KEYS = [f"order-{i}" for i in range(12)]


def _url(topic: str) -> str:
    return f"/api/clusters/local/topics/{topic}/messages/"


def _fill(admin: AdminClient, bootstrap: str, topic: str, partitioner: str | None) -> list[Seen]:
    create_topic(admin, topic, PARTITIONS)
    config = {"partitioner": partitioner} if partitioner else {}
    events = [
        Ev(None, key.encode(), f'{{"key": "{key}", "n": {n}}}'.encode(), timestamp=RECENT + n * 100 + i)
        for n in range(3)
        for i, key in enumerate(KEYS)
    ]
    produce(bootstrap, topic, events, **config)
    return read_all(bootstrap, topic, list(range(PARTITIONS)))


@pytest.mark.parametrize("partitioner", ["murmur2_random", None], ids=["murmur2_random", "consistent_random-default"])
def test_a_key_look_up_reads_only_the_keys_partitions_and_finds_exactly_its_events(
    kafka_admin: AdminClient,
    kafka_bootstrap: str,
    topic_name: str,
    api_as: Callable[..., APIClient],
    partitioner: str | None,
) -> None:
    seen = _fill(kafka_admin, kafka_bootstrap, topic_name, partitioner)
    used = {s.partition for s in seen}
    assert len(used) > 1, "the keys should land in several partitions"
    api = api_as("reader")
    for key in KEYS:
        expected = sorted((s for s in seen if s.key == key.encode()), key=lambda s: s.timestamp, reverse=True)
        body = api.get(_url(topic_name), {"key": key}).json()
        assert ids(body) == [s.id for s in expected], key
        read = [p["partition"] for p in body["scan"]["partitions"]]
        assert read == candidate_partitions(key.encode(), PARTITIONS), key
        assert expected[0].partition in read and len(read) in (1, 2)
        others = sum(1 for s in seen if s.partition in read)
        assert body["scan"]["scanned"] == others  # every event of those partitions, none of the others
        assert "Only" in body["scan"]["key_partitions"]


def test_the_clusters_partitioner_setting_reads_one_partition(
    kafka_admin: AdminClient,
    kafka_bootstrap: str,
    topic_name: str,
    api_as: Callable[..., APIClient],
    clusters_file: Callable[[str], Path],
) -> None:
    seen = _fill(kafka_admin, kafka_bootstrap, topic_name, "murmur2_random")
    clusters_file("clusters:\n  - name: local\n    bootstrap_servers: '{LOCAL}'\n    partitioner: murmur2\n")
    api = api_as("reader")
    for key in KEYS[:6]:
        body = api.get(_url(topic_name), {"key": key, "direction": "oldest"}).json()
        [only] = [p["partition"] for p in body["scan"]["partitions"]]
        assert ids(body) == [s.id for s in sorted(seen, key=lambda s: s.timestamp) if s.key == key.encode()]
        assert {s.partition for s in seen if s.key == key.encode()} == {only}
        assert "murmur2" in body["scan"]["key_partitions"] and "CRC-32" not in body["scan"]["key_partitions"]


def test_all_partitions_for_custom_partitioners_and_paging_a_key(
    kafka_admin: AdminClient, kafka_bootstrap: str, topic_name: str, api_as: Callable[..., APIClient]
) -> None:
    create_topic(kafka_admin, topic_name, PARTITIONS)
    # A "custom partitioner": the key's events in every partition.
    produce(kafka_bootstrap, topic_name, [Ev(i % PARTITIONS, b"spread", f"v{i}".encode()) for i in range(9)])
    api = api_as("reader")
    narrow = api.get(_url(topic_name), {"key": "spread"}).json()
    assert len(narrow["results"]) < 9
    body = api.get(_url(topic_name), {"key": "spread", "all_partitions": "true", "limit": 4}).json()
    assert len(body["scan"]["partitions"]) == PARTITIONS and "all 6 partitions" in body["scan"]["key_partitions"]
    found = ids(body)
    while body["next"]:
        body = api.get(
            _url(topic_name), {"key": "spread", "all_partitions": "1", "limit": 4, "cursor": body["next"]}
        ).json()
        found += ids(body)
    assert sorted(found) == sorted((i % PARTITIONS, i // PARTITIONS) for i in range(9))


def test_the_key_timeline_merges_topics_in_time_order(
    kafka_admin: AdminClient, kafka_bootstrap: str, topic_name: str, client_as: Callable[..., Client]
) -> None:
    orders, shipments = f"{topic_name}-o", f"{topic_name}-s"
    create_topic(kafka_admin, orders, 3)
    create_topic(kafka_admin, shipments, 2)
    base = RECENT
    produce(
        kafka_bootstrap,
        orders,
        [
            Ev(None, b"ORD-7", b'{"e": "created"}', timestamp=base + 10),
            Ev(None, b"ORD-8", b'{"e": "other"}', timestamp=base + 15),
            Ev(None, b"ORD-7", b'{"e": "paid"}', timestamp=base + 30),
        ],
    )
    produce(
        kafka_bootstrap,
        shipments,
        [
            Ev(None, b"ORD-7", b'{"e": "packed"}', timestamp=base + 20),
            Ev(None, b"ORD-7", b'{"e": "shipped"}', timestamp=base + 40),
        ],
    )
    client = client_as("reader")
    page = client.get("/clusters/local/key-timeline/", {"key": "ORD-7", "topic": [orders, shipments, "no-such-topic"]})
    assert page.status_code == 200
    rows = page.context["rows"]
    assert [(r["topic"], r["value"]) for r in rows] == [
        (orders, '{"e": "created"}'),
        (shipments, '{"e": "packed"}'),
        (orders, '{"e": "paid"}'),
        (shipments, '{"e": "shipped"}'),
    ]
    reports = {r["topic"]: r for r in page.context["topic_reports"]}
    assert reports[orders]["found"] == 2 and "Only" in reports[orders]["partitions"]
    assert "does not exist" in reports["no-such-topic"]["error"]
    html = page.content.decode()
    assert html.count('<tr data-id="') == 4 and "oldest first" in html
    # A key without topics (a link from an event) opens the form with the key typed in, and no error.
    carried = client.get("/clusters/local/key-timeline/", {"key": "ORD-7"})
    assert carried.status_code == 200 and "rows" not in carried.context
    assert 'value="ORD-7"' in carried.content.decode() and 'role="alert"' not in carried.content.decode()


def test_the_page_says_which_partitions_a_key_look_up_read(
    kafka_admin: AdminClient, kafka_bootstrap: str, topic_name: str, client_as: Callable[..., Any]
) -> None:
    create_topic(kafka_admin, topic_name, PARTITIONS)
    produce(kafka_bootstrap, topic_name, [Ev(None, b"ORD-1", b"{}")])
    response = client_as("reader").get(f"/clusters/local/topics/{topic_name}/messages/", {"key": "ORD-1", "sync": "1"})
    html = response.content.decode()
    assert "Key look-up: partition" in html and "Only" in html
    assert response.context["rows"][0]["key"] == "ORD-1"
