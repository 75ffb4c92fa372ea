"""Lag you can trust: partitions without a commit are shown and counted apart, one state everywhere.

A group that committed on one partition of a three-partition topic holding ~1,000 events
has a lag of 150 there; the ~650 events of the other two partitions are "not yet
committed" (what it reads from the log start with auto.offset.reset=earliest) — on the
group page, the group list, the topic page, the API and the lag history.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from django.utils import timezone

from tests.conftest import independent_client_config
from topics.groups import charts, history, listing
from topics.groups.state import short_assignor, state_label
from topics.models import LagSample

COUNTS = [350, 330, 320]  # 1,000 events
COMMITTED_AT = 200  # on partition 0: lag 150


def _produce(bootstrap: str, topic: str, counts: list[int]) -> None:
    """Fill the partitions; each one's last record alone in its batch, so its end offset is exact on both brokers."""
    producer = Producer(independent_client_config(bootstrap, **{"linger.ms": 0}))
    for partition, count in enumerate(counts):
        for i in range(count - 1):
            producer.produce(topic, value=f"e-{partition}-{i}".encode(), partition=partition)
        producer.flush(10)
        producer.produce(topic, value=f"e-{partition}-last".encode(), partition=partition)
        producer.flush(10)


def _commit(bootstrap: str, group: str, offsets: dict[int, int], topic: str) -> None:
    """Commit without joining: the group stays empty."""
    consumer = Consumer(independent_client_config(bootstrap, **{"group.id": group}))
    try:
        consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False)
    finally:
        consumer.close()


@pytest.fixture
def arranged(kafka_admin: AdminClient, kafka_bootstrap: str) -> tuple[str, str]:
    prefix = f"lu-{uuid.uuid4().hex[:8]}"
    topic, group = f"{prefix}.orders", f"{prefix}-billing"
    kafka_admin.create_topics([NewTopic(topic, len(COUNTS), 1)])[topic].result(10)
    _produce(kafka_bootstrap, topic, COUNTS)
    _commit(kafka_bootstrap, group, {0: COMMITTED_AT}, topic)
    return topic, group


@pytest.fixture
def member(kafka_bootstrap: str) -> Iterator[list[Consumer]]:
    consumers: list[Consumer] = []
    yield consumers
    for consumer in consumers:
        consumer.close()


def _join(bootstrap: str, group: str, topic: str, consumers: list[Consumer]) -> Consumer:
    consumer = Consumer(
        independent_client_config(
            bootstrap,
            **{"group.id": group, "session.timeout.ms": 6000, "client.id": f"{group}-m", "enable.auto.commit": False},
        )
    )
    consumers.append(consumer)
    consumer.subscribe([topic])
    deadline = time.monotonic() + 30
    while not consumer.assignment():
        assert time.monotonic() < deadline, "the test consumer was never assigned a partition"
        consumer.poll(0.2)
    return consumer


@pytest.mark.django_db
def test_partitions_without_a_commit_are_shown_and_counted_apart(
    api_as: Any, client_as: Any, arranged: tuple[str, str]
) -> None:
    topic, group = arranged
    api = api_as("viewer")

    body = api.get(f"/api/clusters/local/groups/{group}/").json()
    rows = {p["partition"]: p for p in body["partitions"]}
    assert body["lag"] == 150  # committed lag only, as before
    assert (body["uncommitted"], body["uncommitted_partitions"]) == (650, 2)
    assert (rows[0]["lag"], rows[0]["uncommitted_events"]) == (150, None)
    assert [(rows[p]["committed"], rows[p]["lag"], rows[p]["uncommitted_events"]) for p in (1, 2)] == [
        (None, None, 330),
        (None, None, 320),
    ]
    assert rows[1]["note"] == "no committed offset"  # the existing field is unchanged
    # Kafka describes a group with committed offsets and no member as Empty.
    assert (body["state"], body["state_label"], body["members"]) == ("Empty", "Empty · no members", [])

    listed = api.get("/api/clusters/local/groups/", {"search": group, "refresh": "1"}).json()["results"]
    assert [(r["group_id"], r["lag"], r["uncommitted"], r["uncommitted_partitions"]) for r in listed] == [
        (group, 150, 650, 2)
    ]

    client = client_as("viewer")
    page = client.get(f"/clusters/local/groups/{group}/").content.decode()
    assert 'id="total-lag">150<' in page and 'id="uncommitted">650<' in page
    assert page.count(">no commit yet<") == 2
    assert "330 <span" in page and "320 <span" in page and "auto.offset.reset" in page
    assert 'id="group-state" title="Empty · no members">Empty<' in page
    assert 'id="group-state-members">no members<' in page

    rows_html = client.get(f"/clusters/local/groups/?search={group}", headers={"HX-Request": "true"}).content.decode()
    assert '<td class="num uncommitted warn"><span title="events on 2 partitions' in rows_html and ">650<" in rows_html

    topic_page = client.get(f"/clusters/local/topics/{topic}/").content.decode()
    assert "p1: no commit yet · 330 from start" in topic_page and "p2: no commit yet · 320 from start" in topic_page
    assert f"p0: {COMMITTED_AT} / 350 → 150" in topic_page and ">650<" in topic_page

    [listed_on_topic] = [
        g for g in api.get(f"/api/clusters/local/topics/{topic}/").json()["consumer_groups"] if g["group_id"] == group
    ]
    assert (listed_on_topic["lag"], listed_on_topic["uncommitted"]) == (150, 650)
    assert listed_on_topic["partitions_without_commit"] == [
        {"partition": 1, "events": 330},
        {"partition": 2, "events": 320},
    ]


@pytest.mark.django_db
def test_the_history_keeps_lag_and_uncommitted_apart_so_the_first_commit_does_not_jump(
    arranged: tuple[str, str], kafka_bootstrap: str
) -> None:
    topic, group = arranged
    before = timezone.now()
    history.record_samples("local", listing.read_snapshot("local"), before)
    first = LagSample.objects.get(group=group)
    assert (first.total_lag, first.uncommitted, first.topics) == (150, 650, {topic: 150})

    # The group commits on the other partitions at their log start: it has as much to read as before.
    _commit(kafka_bootstrap, group, {1: 0, 2: 0}, topic)
    history.record_samples("local", listing.read_snapshot("local"), before + timedelta(seconds=1))
    second = LagSample.objects.filter(group=group).latest("sampled_at")
    assert (second.total_lag, second.uncommitted) == (800, None)

    samples = history.series("local", group)
    assert [(lag, unc) for _, lag, unc in samples] == [(150, 650), (800, None)]
    chart = charts.lag_chart(samples, "1h")
    # Stacked, the top of the chart stays at 800 across the first commit; the lag line rises to it.
    lag, top = (line["values"] for line in chart.data["series"])
    assert lag == [150, 800] and top == [800, 800]


@pytest.mark.django_db
def test_the_topic_page_and_the_group_page_show_the_same_state(
    client_as: Any, arranged: tuple[str, str], kafka_bootstrap: str, member: list[Consumer]
) -> None:
    topic, group = arranged
    _join(kafka_bootstrap, group, topic, member)
    client = client_as("viewer")

    group_page = client.get(f"/clusters/local/groups/{group}/").content.decode()
    topic_page = client.get(f"/clusters/local/topics/{topic}/").content.decode()
    listed = client.get(f"/clusters/local/groups/?search={group}&refresh=1").content.decode()

    state = group_page.split('id="group-state" title="', 1)[1].split('"', 1)[0]
    assert state.startswith("Stable · ")  # one member on Kafka; this test broker reports none
    row = topic_page.split(f'data-group="{group}"', 1)[1].split("</tr>", 1)[0]
    badge, label = state.split(" · ", 1)
    assert f'id="group-state-members">{label}<' in group_page
    assert f">{badge}</span>" in row and label in row
    assert f'data-group="{group}"' in listed and f">{badge}</span>" in listed.split(f'data-group="{group}"', 1)[1]


@pytest.mark.real_kafka
@pytest.mark.django_db
def test_kafka_reports_the_member_and_its_assignor(
    api_as: Any, arranged: tuple[str, str], kafka_bootstrap: str, member: list[Consumer]
) -> None:
    topic, group = arranged
    _join(kafka_bootstrap, group, topic, member)

    body = api_as("viewer").get(f"/api/clusters/local/groups/{group}/").json()

    assert body["state"] == "Stable" and body["state_label"] == "Stable · 1 member"
    assert body["assignor"] == "range" and body["assignor_short"] == "range"  # librdkafka's first strategy


def test_labels_say_what_the_broker_reported() -> None:
    assert state_label("Stable", 0) == "Stable · no members (broker reports none)"
    assert state_label("Empty", 0) == "Empty · no members"
    assert state_label("Stable", 2) == "Stable · 2 members"
    assert short_assignor("org.apache.kafka.clients.consumer.CooperativeStickyAssignor") == "cooperative-sticky"
    assert short_assignor("org.apache.kafka.clients.consumer.RangeAssignor") == "range"
    assert short_assignor("roundrobin") == "roundrobin" and short_assignor("") == ""
    assert short_assignor("com.example.kafka.assignors.RackAwareAssignor") == "RackAware"
    assert short_assignor("x.AVeryLongCustomRackAwareBalancingAssignor") == "AVeryLongCustomRackAwar…"
