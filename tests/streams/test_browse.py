"""Browsing a topic page by page: exact next/previous in both orders across partitions, every start
(newest, oldest, offset, time, a group's position), missing offsets, and the page itself."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient
from django.test import Client
from rest_framework.test import APIClient

from tests.streams.browse_helpers import Ev, create_topic, ids, json_events, merged, produce, read_all
from tests.timestamps import RECENT, utc_second

pytestmark = pytest.mark.django_db


def _url(topic: str) -> str:
    return f"/api/clusters/local/topics/{topic}/messages/"


def _walk(api: APIClient, topic: str, params: dict[str, Any], link: str) -> list[list[tuple[int, int]]]:
    """Every page from the first, following `link` (next or previous) until it is null."""
    pages = []
    answer = api.get(_url(topic), params)
    assert answer.status_code == 200, answer.json()
    pages.append(ids(answer.json()))
    while answer.json()[link] is not None:
        answer = api.get(_url(topic), {"limit": params["limit"], "cursor": answer.json()[link]})
        assert answer.status_code == 200, answer.json()
        pages.append(ids(answer.json()))
        assert len(pages) < 100
    return pages


@pytest.fixture
def filled(kafka_admin: AdminClient, kafka_bootstrap: str, topic_name: str) -> tuple[str, list[Any]]:
    """A 3-partition topic of 47 events spread unevenly (partition 2 gets fewer), time growing."""
    create_topic(kafka_admin, topic_name, 3)
    produce(kafka_bootstrap, topic_name, json_events(47, 3, base_ts=RECENT))
    return topic_name, read_all(kafka_bootstrap, topic_name, [0, 1, 2])


@pytest.mark.parametrize("order", ["newest", "oldest"])
def test_paging_across_partitions_is_exact_in_both_directions(
    filled: tuple[str, list[Any]], api_as: Callable[..., APIClient], order: str
) -> None:
    topic, seen = filled
    api = api_as("reader")
    expected = merged(seen, newest_first=order == "newest")
    forward = _walk(api, topic, {"limit": 10, "direction": order}, "next")
    assert [len(p) for p in forward] == [10, 10, 10, 10, 7]
    assert [event for page in forward for event in page] == expected

    # From the last page back to the first with `previous`: the very same pages.
    last = api.get(_url(topic), {"limit": 10, "direction": order})
    for _ in range(4):
        last = api.get(_url(topic), {"limit": 10, "cursor": last.json()["next"]})
    assert ids(last.json()) == forward[-1]
    backward = [ids(last.json())]
    while last.json()["previous"] is not None:
        last = api.get(_url(topic), {"limit": 10, "cursor": last.json()["previous"]})
        backward.append(ids(last.json()))
    assert backward[::-1] == forward


def test_the_newest_first_page_starts_at_the_end_and_says_partitions_are_merged(
    filled: tuple[str, list[Any]], api_as: Callable[..., APIClient]
) -> None:
    topic, seen = filled
    body = api_as("reader").get(_url(topic), {"limit": 5}).json()
    assert ids(body) == merged(seen, newest_first=True)[:5]
    assert body["previous"] is None  # nothing newer
    assert body["scan"]["merged"] is True
    assert [p["partition"] for p in body["scan"]["partitions"]] == [0, 1, 2]
    first = body["results"][0]
    newest = max(seen, key=lambda s: s.timestamp)
    assert (first["partition"], first["offset"], first["timestamp"]) == (
        newest.partition,
        newest.offset,
        newest.timestamp,
    )
    assert json.loads(first["value"]) == json.loads(newest.value)
    assert first["key"] == newest.key.decode()
    assert first["headers"][0] == {"key": "source", "value": newest.headers[0][1].decode(), "encoding": "text"}


def test_one_partition_from_an_offset_in_both_orders(
    filled: tuple[str, list[Any]], api_as: Callable[..., APIClient]
) -> None:
    topic, seen = filled
    api = api_as("reader")
    offsets = sorted(s.offset for s in seen if s.partition == 1)
    middle = offsets[len(offsets) // 2]
    up = api.get(_url(topic), {"partition": 1, "offset": middle, "direction": "oldest", "limit": 4}).json()
    assert ids(up) == [(1, o) for o in offsets if o >= middle][:4]
    down = api.get(_url(topic), {"partition": 1, "offset": middle, "direction": "newest", "limit": 4}).json()
    assert ids(down) == [(1, o) for o in reversed(offsets) if o <= middle][:4]
    # The page just before the offset, newest first, continues exactly below it.
    older = api.get(_url(topic), {"limit": 4, "cursor": down["next"]}).json()
    assert ids(older) == [(1, o) for o in reversed(offsets) if o <= middle][4:8]


def test_oldest_and_newest_starts_of_one_partition(
    filled: tuple[str, list[Any]], api_as: Callable[..., APIClient]
) -> None:
    topic, seen = filled
    api = api_as("reader")
    offsets = sorted(s.offset for s in seen if s.partition == 0)
    oldest = api.get(_url(topic), {"partition": 0, "start": "oldest", "direction": "oldest", "limit": 3}).json()
    assert ids(oldest) == [(0, o) for o in offsets[:3]]
    assert oldest["previous"] is None
    # Start at the oldest but list newest first: the same events, the other way round.
    flipped = api.get(_url(topic), {"partition": 0, "start": "oldest", "direction": "newest", "limit": 3}).json()
    assert ids(flipped) == [(0, o) for o in offsets[:3]][::-1]
    newest = api.get(_url(topic), {"partition": 0, "start": "newest", "direction": "oldest", "limit": 3}).json()
    assert ids(newest) == [(0, o) for o in offsets[-3:]]


def test_a_timestamp_start_returns_exactly_the_events_at_or_after_it(
    kafka_admin: AdminClient, kafka_bootstrap: str, topic_name: str, api_as: Callable[..., APIClient]
) -> None:
    # TEST_BROKER.md: time look-ups on the test broker use the time a batch was stored, so events
    # carry real time: batch A, a pause, the instant, batch B.
    create_topic(kafka_admin, topic_name, 3)
    produce(kafka_bootstrap, topic_name, [Ev(i % 3, b"a", b'{"batch": "A"}') for i in range(7)])
    time.sleep(0.3)
    instant = int(time.time() * 1000)
    time.sleep(0.3)
    produce(kafka_bootstrap, topic_name, [Ev(i % 3, b"b", b'{"batch": "B"}') for i in range(8)])
    seen = read_all(kafka_bootstrap, topic_name, [0, 1, 2])
    after = {s.id for s in seen if s.timestamp >= instant}
    assert len(after) == 8
    api = api_as("reader")
    body = api.get(_url(topic_name), {"timestamp": instant, "direction": "oldest", "limit": 50}).json()
    assert set(ids(body)) == after
    assert ids(body) == merged([s for s in seen if s.id in after], newest_first=False)
    # Newest first from the same instant: the events up to it, the previous page the ones after.
    before = api.get(_url(topic_name), {"timestamp": instant, "direction": "newest", "limit": 50}).json()
    assert set(ids(before)) == {s.id for s in seen} - after
    newer = api.get(_url(topic_name), {"cursor": before["previous"], "limit": 50}).json()
    assert set(ids(newer)) == after


def test_a_consumer_groups_committed_position(
    filled: tuple[str, list[Any]], kafka_admin: AdminClient, api_as: Callable[..., APIClient]
) -> None:
    from confluent_kafka import ConsumerGroupTopicPartitions

    topic, seen = filled
    group = f"g-{topic}"
    committed = {0: 3, 1: 5}  # partition 2: nothing committed
    request = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p, o) for p, o in committed.items()])
    kafka_admin.alter_consumer_group_offsets([request])[group].result(10)
    body = api_as("reader").get(_url(topic), {"group": group, "direction": "oldest", "limit": 500}).json()
    expected = [s for s in seen if s.offset >= committed.get(s.partition, 0)]
    assert ids(body) == merged(expected, newest_first=False)
    assert any("no committed offset in partition 2" in note for note in body["scan"]["notes"])


def test_offsets_missing_after_transaction_markers_never_shorten_a_page(
    kafka_admin: AdminClient, kafka_bootstrap: str, topic_name: str, api_as: Callable[..., APIClient]
) -> None:
    """Each commit writes a marker that takes an offset: offset arithmetic is not a count of events."""
    from confluent_kafka import Producer

    from tests.conftest import independent_client_config

    create_topic(kafka_admin, topic_name, 1)
    producer = Producer(independent_client_config(kafka_bootstrap, **{"transactional.id": f"tx-{topic_name}"}))
    producer.init_transactions(10)
    for batch in range(8):
        producer.begin_transaction()
        for i in range(3):
            producer.produce(topic_name, key=b"k", value=f'{{"batch": {batch}, "i": {i}}}'.encode(), partition=0)
        producer.commit_transaction(10)
    seen = read_all(kafka_bootstrap, topic_name, [0])
    assert len(seen) == 24
    assert seen[-1].offset > 24  # the markers took offsets
    api = api_as("reader")
    forward = _walk(api, topic_name, {"limit": 5, "direction": "newest"}, "next")
    assert [len(p) for p in forward] == [5, 5, 5, 5, 4]
    assert [e for page in forward for e in page] == [s.id for s in reversed(seen)]
    oldest = _walk(api, topic_name, {"limit": 5, "direction": "oldest"}, "next")
    assert [e for page in oldest for e in page] == [s.id for s in seen]


def test_an_empty_topic_and_an_empty_partition(
    kafka_admin: AdminClient, kafka_bootstrap: str, topic_name: str, api_as: Callable[..., APIClient]
) -> None:
    create_topic(kafka_admin, topic_name, 3)
    api = api_as("reader")
    empty = api.get(_url(topic_name)).json()
    assert empty["results"] == [] and empty["next"] is None and empty["previous"] is None
    assert {p["stopped"] for p in empty["scan"]["partitions"]} == {"end"}
    produce(kafka_bootstrap, topic_name, [Ev(0, b"k", f"v{i}".encode(), timestamp=RECENT + i) for i in range(4)])
    body = api.get(_url(topic_name), {"limit": 3}).json()
    assert ids(body) == [(0, 3), (0, 2), (0, 1)]
    assert [p["scanned"] for p in body["scan"]["partitions"]] == [3, 0, 0]
    rest = api.get(_url(topic_name), {"limit": 3, "cursor": body["next"]}).json()
    assert ids(rest) == [(0, 0)] and rest["next"] is None


def test_the_page_shows_a_page_of_events_with_links_both_ways(
    filled: tuple[str, list[Any]], client_as: Callable[..., Client]
) -> None:
    topic, seen = filled
    client = client_as("reader")
    response = client.get(f"/clusters/local/topics/{topic}/messages/", {"limit": 10})
    assert response.status_code == 200
    html = response.content.decode()
    expected = merged(seen, newest_first=True)
    assert html.count('<tr data-id="') == 10
    assert f'data-id="{expected[0][0]}:{expected[0][1]}"' in html
    assert "Merged 3 partitions by timestamp" in html
    assert "older →" in html and "← newer" not in html
    older_link = response.context["next_url"]
    older = client.get(older_link)
    assert [r["id"] for r in older.context["rows"]] == [f"{p}:{o}" for p, o in expected[10:20]]
    assert "← newer" in older.content.decode()
    back = client.get(older.context["previous_url"])
    assert [r["id"] for r in back.context["rows"]] == [f"{p}:{o}" for p, o in expected[:10]]


def test_the_topic_page_links_to_the_browser_for_readers_only(
    filled: tuple[str, list[Any]], client_as: Callable[..., Client]
) -> None:
    topic, _ = filled
    link = f'href="/clusters/local/topics/{topic}/messages/"'
    assert link in client_as("reader").get(f"/clusters/local/topics/{topic}/").content.decode()
    viewer_page = client_as("viewer").get(f"/clusters/local/topics/{topic}/").content.decode()
    assert link not in viewer_page and "Browse messages" in viewer_page


def test_the_event_page_shows_one_event_whole_and_downloads_its_bytes(
    kafka_admin: AdminClient, kafka_bootstrap: str, topic_name: str, client_as: Callable[..., Client]
) -> None:
    create_topic(kafka_admin, topic_name, 2)
    big = {"order": "ORD-1", "lines": [{"sku": f"S{i}", "text": "x" * 50} for i in range(100)]}
    raw = json.dumps(big).encode()
    produce(
        kafka_bootstrap,
        topic_name,
        [
            Ev(1, b"ORD-1", raw, [("source", b"web")], RECENT + 123),
            Ev(1, b"bin", bytes(range(256)), [], RECENT + 124),
            Ev(1, b"ORD-2", b'{"order": "ORD-2"}', [("source", b"web")], RECENT + 125),
        ],
    )
    client = client_as("operator")
    listing = client.get(f"/clusters/local/topics/{topic_name}/messages/", {"partition": 1})
    row = next(r for r in listing.context["rows"] if r["offset"] == 0)
    assert row["truncated"] is True and len(row["value"]) == 2000
    detail = client.get(row["detail_url"])
    assert detail.status_code == 200
    event = detail.context["event"]
    assert event["truncated"] is False and json.loads(event["value"]) == big
    html = detail.content.decode()
    assert f"{utc_second(RECENT)}.123 UTC" in html and "CreateTime" in html
    assert 'id="event-json"' in html and "Copy as JSON" in html
    # Too large to carry in a link to the produce page; a small one is.
    assert detail.context["copy_url"] is None and "no produce copy for this event" in html
    small = client.get(f"/clusters/local/topics/{topic_name}/messages/event/?partition=1&offset=2")
    copy = small.context["copy_url"]
    assert copy.startswith(f"/clusters/local/topics/{topic_name}/produce/?")
    assert parse_qs(urlsplit(copy).query) == {
        "partition": ["1"],
        "key": ["ORD-2"],
        "value": ['{"order": "ORD-2"}'],
        "headers": ['[{"key": "source", "value": "web"}]'],
    }
    assert client.get(copy).status_code == 200
    assert client_as("reader").get(small.request["PATH_INFO"] + "?partition=1&offset=2").context["copy_url"] is None
    download = client.get(detail.context["download_value"])
    assert download.status_code == 200 and download.content == raw
    assert 'filename="' in download["Content-Disposition"] and download["Content-Disposition"].endswith('.json"')
    binary = client.get(f"/clusters/local/topics/{topic_name}/messages/event/download/?partition=1&offset=1")
    assert binary.content == bytes(range(256))
    shown = client.get(f"/clusters/local/topics/{topic_name}/messages/event/?partition=1&offset=1")
    assert shown.context["event"]["value_encoding"] == "base64" and shown.context["copy_url"] is None
    missing = client.get(f"/clusters/local/topics/{topic_name}/messages/event/?partition=1&offset=7")
    assert missing.status_code == 404 and "holds offsets 0 to 2" in missing.content.decode()
    bad = client.get(f"/clusters/local/topics/{topic_name}/messages/event/?partition=one&offset=1")
    assert bad.status_code == 400


def test_viewers_get_a_clear_403_on_every_message_page(
    filled: tuple[str, list[Any]], client_as: Callable[..., Client]
) -> None:
    topic, _ = filled
    client = client_as("viewer")
    for path in (
        f"/clusters/local/topics/{topic}/messages/",
        f"/clusters/local/topics/{topic}/messages/event/?partition=0&offset=0",
        f"/clusters/local/topics/{topic}/messages/event/download/?partition=0&offset=0",
        "/clusters/local/key-timeline/?key=k1&topic=" + topic,
    ):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "need the reader role" in response.content.decode()
