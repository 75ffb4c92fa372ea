"""Paging a topic whose last offsets are no events: a commit marker, an aborted transaction, a transaction
still open. The page that ends at the last event offers no next or newer page, in both orders, and no
event is ever skipped: a transaction still open keeps the cursor, and its events, once committed, are
on the next page."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pytest
from confluent_kafka import KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from rest_framework.test import APIClient

from tests.conftest import independent_client_config, log_ends
from tests.streams.browse_helpers import Seen, create_topic, ids, merged, read_all

pytestmark = pytest.mark.django_db


def _url(topic: str) -> str:
    return f"/api/clusters/local/topics/{topic}/messages/"


@contextmanager
def _transactional(bootstrap: str, topic: str) -> Iterator[Producer]:
    """A transactional producer; a transaction a test leaves open is aborted at the end."""
    producer = Producer(independent_client_config(bootstrap, **{"transactional.id": f"tx-{topic}", "linger.ms": 0}))
    producer.init_transactions(10)
    try:
        yield producer
    finally:
        with suppress(KafkaException):  # none was open
            producer.abort_transaction(10)


def _write(producer: Producer, topic: str, partitions: list[int], each: int, tag: str) -> None:
    """`each` events in every partition, within the transaction begun, written to the broker one
    batch each (TEST_BROKER.md: the test broker's latest offset is then exact)."""
    for i in range(each):
        for p in partitions:
            producer.produce(topic, key=f"k{p}".encode(), value=f'{{"tx": "{tag}", "i": {i}}}'.encode(), partition=p)
            assert producer.flush(10) == 0


def _committed(bootstrap: str, topic: str, partitions: list[int], transactions: int, each: int) -> list[Seen]:
    """`transactions` committed transactions of `each` events per partition: every partition ends
    with a commit marker."""
    with _transactional(bootstrap, topic) as producer:
        for t in range(transactions):
            producer.begin_transaction()
            _write(producer, topic, partitions, each, f"c{t}")
            producer.commit_transaction(10)
    return _read_committed(bootstrap, topic, partitions)


def _read_committed(bootstrap: str, topic: str, partitions: list[int]) -> list[Seen]:
    seen = read_all(bootstrap, topic, partitions)
    ends = log_ends(bootstrap, topic, partitions)
    for p in partitions:
        # The last offset of each partition is no event: that is what these tests are about.
        assert max(s.offset for s in seen if s.partition == p) < ends[p] - 1
    return seen


def _walk(api: APIClient, topic: str, params: dict[str, Any], link: str) -> tuple[list[list[Any]], dict[str, Any]]:
    """Every page from the first, following `link` until it is null; (pages, the last answer)."""
    body = _get(api, topic, params)
    pages = [ids(body)]
    while body[link] is not None:
        body = _get(api, topic, {**params, "cursor": body[link]})
        pages.append(ids(body))
        assert len(pages) < 50
    return pages, body


def _back(api: APIClient, topic: str, params: dict[str, Any], last: dict[str, Any]) -> list[list[Any]]:
    """From the last page back to the first with `previous`: the pages before it, last first."""
    pages = []
    body = last
    while body["previous"] is not None:
        body = _get(api, topic, {**params, "cursor": body["previous"]})
        pages.append(ids(body))
        assert len(pages) < 50
    return pages


def _get(api: APIClient, topic: str, params: dict[str, Any]) -> dict[str, Any]:
    answer = api.get(_url(topic), params)
    assert answer.status_code == 200, answer.json()
    body: dict[str, Any] = answer.json()
    return body


def _pages_are_exact(api: APIClient, topic: str, params: dict[str, Any], expected: list[tuple[int, int]]) -> None:
    """Forwards with `next` and back with `previous`: no empty page, every event once, the same pages."""
    forward, last = _walk(api, topic, params, "next")
    assert all(forward), f"an empty page: {forward}"
    assert [e for page in forward for e in page] == expected
    assert last["next"] is None
    backward = _back(api, topic, params, last)
    assert backward[::-1] == forward[:-1]


@pytest.mark.parametrize("limit", [3, 6, 18])
@pytest.mark.parametrize("order", ["newest", "oldest"])
def test_the_page_that_ends_at_the_last_event_before_a_commit_marker_is_the_last_page(
    kafka_admin: AdminClient,
    kafka_bootstrap: str,
    topic_name: str,
    api_as: Callable[..., APIClient],
    order: str,
    limit: int,
) -> None:
    """18 events in three transactions over three partitions: pages of 3, 6 and 18 end exactly at the
    last event, and each partition's last offset is a commit marker."""
    create_topic(kafka_admin, topic_name, 3)
    seen = _committed(kafka_bootstrap, topic_name, [0, 1, 2], transactions=3, each=2)
    assert len(seen) == 18
    expected = merged(seen, newest_first=order == "newest")
    _pages_are_exact(api_as("reader"), topic_name, {"limit": limit, "direction": order}, expected)


@pytest.mark.parametrize("order", ["newest", "oldest"])
def test_one_partition_read_to_its_last_event_offers_no_newer_page(
    kafka_admin: AdminClient,
    kafka_bootstrap: str,
    topic_name: str,
    api_as: Callable[..., APIClient],
    order: str,
) -> None:
    create_topic(kafka_admin, topic_name, 1)
    seen = _committed(kafka_bootstrap, topic_name, [0], transactions=2, each=3)
    api = api_as("reader")
    expected = merged(seen, newest_first=order == "newest")
    for limit in (1, 2, 3, 6):
        _pages_are_exact(api, topic_name, {"partition": 0, "limit": limit, "direction": order}, expected)
    # From an offset, oldest first: the page that takes the last event is the last page.
    last = max(s.offset for s in seen)
    body = _get(api, topic_name, {"partition": 0, "offset": last - 1, "direction": "oldest", "limit": 2})
    assert ids(body) == [(0, last - 1), (0, last)]
    assert body["next"] is None
    assert body["scan"]["partitions"][0]["position"] == log_ends(kafka_bootstrap, topic_name, [0])[0]


@pytest.mark.real_kafka  # TEST_BROKER.md: the test broker shows aborted records to read_committed readers
@pytest.mark.parametrize("limit", [2, 4])
@pytest.mark.parametrize("order", ["newest", "oldest"])
def test_an_aborted_transaction_at_the_end_leaves_no_newer_page(
    kafka_admin: AdminClient,
    kafka_bootstrap: str,
    topic_name: str,
    api_as: Callable[..., APIClient],
    order: str,
    limit: int,
) -> None:
    create_topic(kafka_admin, topic_name, 2)
    with _transactional(kafka_bootstrap, topic_name) as producer:
        producer.begin_transaction()
        _write(producer, topic_name, [0, 1], 2, "kept")
        producer.commit_transaction(10)
        producer.begin_transaction()
        _write(producer, topic_name, [0, 1], 3, "aborted")
        producer.abort_transaction(10)
    seen = _read_committed(kafka_bootstrap, topic_name, [0, 1])
    assert len(seen) == 4 and all(b'"kept"' in (s.value or b"") for s in seen)
    expected = merged(seen, newest_first=order == "newest")
    _pages_are_exact(api_as("reader"), topic_name, {"limit": limit, "direction": order}, expected)


@pytest.mark.parametrize("limit", [3, 5])
def test_a_transaction_still_open_at_the_end_keeps_the_cursor_and_its_events_come_once_committed(
    kafka_admin: AdminClient, kafka_bootstrap: str, topic_name: str, api_as: Callable[..., APIClient], limit: int
) -> None:
    """The last stable offset stays behind the high watermark while a transaction is open: the events
    there are not readable yet, but they will be, so the page keeps a cursor to them."""
    create_topic(kafka_admin, topic_name, 1)
    api = api_as("reader")
    params = {"partition": 0, "direction": "oldest", "limit": limit}
    with _transactional(kafka_bootstrap, topic_name) as producer:
        producer.begin_transaction()
        _write(producer, topic_name, [0], 3, "first")
        producer.commit_transaction(10)
        producer.begin_transaction()
        _write(producer, topic_name, [0], 2, "open")
        # The open transaction's events are in the log (the high watermark is past them).
        assert log_ends(kafka_bootstrap, topic_name, [0])[0] == 6
        first = _get(api, topic_name, params)
        assert ids(first) == [(0, 0), (0, 1), (0, 2)]
        assert first["next"] is not None
        # Nothing to read yet, and still a cursor: the transaction may commit.
        waiting = _get(api, topic_name, {**params, "cursor": first["next"]})
        assert ids(waiting) == [] and waiting["next"] is not None
        producer.commit_transaction(10)
    for cursor in (first["next"], waiting["next"]):
        body = _get(api, topic_name, {**params, "cursor": cursor})
        assert ids(body) == [(0, 4), (0, 5)]
        assert body["next"] is None


@pytest.mark.parametrize("order", ["newest", "oldest"])
def test_search_pages_that_end_at_the_last_event_offer_no_next_page(
    kafka_admin: AdminClient,
    kafka_bootstrap: str,
    topic_name: str,
    api_as: Callable[..., APIClient],
    order: str,
) -> None:
    create_topic(kafka_admin, topic_name, 2)
    seen = _committed(kafka_bootstrap, topic_name, [0, 1], transactions=2, each=3)
    api = api_as("reader")
    expected = merged(seen, newest_first=order == "newest")
    for limit in (3, 12):
        params = {"q": '"tx"', "limit": limit, "direction": order}
        _pages_are_exact(api, topic_name, params, expected)
    # A page of one match, the partition's last event.
    last = max((s for s in seen if s.partition == 1), key=lambda s: s.offset)
    params = {"partition": 1, "q": f"offset >= {last.offset - 1}", "direction": "oldest", "limit": 1}
    body = _get(api, topic_name, params)
    assert ids(body) == [(1, last.offset - 1)]
    body = _get(api, topic_name, {**params, "cursor": body["next"]})
    assert ids(body) == [last.id] and body["next"] is None


def test_a_newest_first_page_from_a_groups_position_after_the_last_event_offers_no_newer_page(
    kafka_admin: AdminClient, kafka_bootstrap: str, topic_name: str, api_as: Callable[..., APIClient]
) -> None:
    """A consumer that read everything commits the offset after the last event: the commit marker's."""
    create_topic(kafka_admin, topic_name, 2)
    seen = _committed(kafka_bootstrap, topic_name, [0, 1], transactions=2, each=2)
    after = {p: max(s.offset for s in seen if s.partition == p) + 1 for p in (0, 1)}
    group = _commit_group(kafka_admin, topic_name, after)
    body = _get(api_as("reader"), topic_name, {"group": group, "direction": "newest", "limit": 500})
    assert ids(body) == merged(seen, newest_first=True)
    assert body["previous"] is None and body["next"] is None


def _commit_group(admin: AdminClient, topic: str, offsets: dict[int, int]) -> str:
    from confluent_kafka import ConsumerGroupTopicPartitions

    group = f"g-{topic}"
    request = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p, o) for p, o in offsets.items()])
    admin.alter_consumer_group_offsets([request])[group].result(10)
    return group


def test_a_newest_first_page_from_the_first_offsets_offers_the_newer_events(
    kafka_admin: AdminClient, kafka_bootstrap: str, topic_name: str, api_as: Callable[..., APIClient]
) -> None:
    """Nothing is older than the group's position: an empty page, and a newer page with the first events."""
    create_topic(kafka_admin, topic_name, 2)
    seen = _committed(kafka_bootstrap, topic_name, [0, 1], transactions=2, each=2)
    group = _commit_group(kafka_admin, topic_name, {0: 0, 1: 0})
    api = api_as("reader")
    body = _get(api, topic_name, {"group": group, "direction": "newest", "limit": 3})
    assert ids(body) == [] and body["next"] is None
    newer = _get(api, topic_name, {"limit": 3, "cursor": body["previous"]})
    assert ids(newer) == merged(seen, newest_first=False)[:3][::-1]


@pytest.mark.real_kafka  # TEST_BROKER.md: the test broker shows aborted records to read_committed readers
def test_a_topic_that_holds_only_an_aborted_transaction_offers_no_page_in_either_order(
    kafka_admin: AdminClient, kafka_bootstrap: str, topic_name: str, api_as: Callable[..., APIClient]
) -> None:
    create_topic(kafka_admin, topic_name, 1)
    with _transactional(kafka_bootstrap, topic_name) as producer:
        producer.begin_transaction()
        _write(producer, topic_name, [0], 3, "aborted")
        producer.abort_transaction(10)
    assert log_ends(kafka_bootstrap, topic_name, [0])[0] == 4
    api = api_as("reader")
    group = _commit_group(kafka_admin, topic_name, {0: 0})
    for params in (
        {"direction": "oldest"},
        {"direction": "newest"},
        {"group": group, "direction": "newest"},
        {"group": group, "direction": "oldest"},
    ):
        body = _get(api, topic_name, {**params, "limit": 2})
        assert (ids(body), body["next"], body["previous"]) == ([], None, None), params
