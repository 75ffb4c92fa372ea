"""The throughput sampler on the real broker: deltas and rates after producing, a recreated
topic, pruning, a cluster that does not answer; and the API with its permissions."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from django.utils import timezone
from rest_framework.test import APIClient

from backbone_admin.models import Grant
from tests.conftest import independent_client_config
from topics import throughput
from topics.listing import invalidate
from topics.tasks import sample_throughput
from topics.throughput.models import ThroughputLatest, ThroughputSample
from topics.throughput.sampler import sample_cluster

pytestmark = pytest.mark.django_db


@pytest.fixture
def prefix() -> str:
    return f"tp-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def producer(kafka_bootstrap: str) -> Producer:
    return Producer(independent_client_config(kafka_bootstrap, **{"linger.ms": 0}))


@pytest.fixture
def produce(producer: Producer) -> Callable[[str, list[int]], None]:
    def send(topic: str, counts: list[int]) -> None:
        for partition, count in enumerate(counts):
            for i in range(count):
                producer.produce(topic, value=f"e-{i}".encode(), partition=partition)
                producer.flush(10)  # one record per batch: the end offset is exact on the test broker too

    return send


@pytest.fixture
def make_topic(kafka_admin: AdminClient) -> Iterator[Callable[[str, int], str]]:
    made: list[str] = []

    def make(name: str, partitions: int) -> str:
        deadline = time.monotonic() + 30
        while True:  # a topic deleted a moment ago may still be going away on Kafka
            try:
                kafka_admin.create_topics([NewTopic(name, partitions, 1)])[name].result(10)
                break
            except KafkaException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        made.append(name)
        invalidate("local")  # the sampler reads the cached topic index: let it see the new topic
        return name

    yield make
    for name in made:
        with contextlib.suppress(KafkaException):
            kafka_admin.delete_topics([name])[name].result(10)


def test_the_sampler_records_the_events_appended_and_their_rate(
    make_topic: Callable[[str, int], str], produce: Callable[[str, list[int]], None], prefix: str
) -> None:
    topic = make_topic(f"{prefix}.orders", 2)
    produce(topic, [2, 1])
    assert throughput.latest("local") is None
    first = sample_throughput()  # the beat task, run here
    assert isinstance(first["local"], int)
    base = throughput.latest("local")
    assert base is not None and base.ends[topic] == 3 and base.rates == {}
    assert not ThroughputSample.objects.exists()  # the first sample has nothing to subtract from

    produce(topic, [5, 3])
    sample_throughput()

    sample = ThroughputSample.objects.get(cluster="local")
    assert sample.topics[topic] == 8 and sample.seconds > 0
    assert all(events > 0 for events in sample.topics.values())  # only topics that moved are stored
    last = throughput.latest("local")
    assert last is not None and last.at == sample.sampled_at
    assert last.ends[topic] == 11
    assert last.rates[topic] == pytest.approx(8 / sample.seconds, rel=1e-3)


def test_a_recreated_topic_has_no_negative_rate(
    make_topic: Callable[[str, int], str],
    produce: Callable[[str, list[int]], None],
    prefix: str,
    kafka_admin: AdminClient,
) -> None:
    topic = make_topic(f"{prefix}.again", 1)
    produce(topic, [6])
    at = timezone.now()
    sample_cluster("local", at - timedelta(seconds=60))
    kafka_admin.delete_topics([topic])[topic].result(10)
    make_topic(topic, 1)
    produce(topic, [2])

    sample_cluster("local", at - timedelta(seconds=30))
    went_back = ThroughputSample.objects.get(cluster="local", sampled_at=at - timedelta(seconds=30))
    assert topic not in went_back.topics  # 6 → 2: recreated, no delta this interval
    assert all(events > 0 for events in went_back.topics.values())
    latest = throughput.latest("local")
    assert latest is not None and latest.ends[topic] == 2 and topic not in latest.rates

    produce(topic, [3])  # counted again from the recreated topic's end
    sample_cluster("local", at)
    assert ThroughputSample.objects.get(cluster="local", sampled_at=at).topics[topic] == 3
    latest = throughput.latest("local")
    assert latest is not None and latest.rates[topic] == pytest.approx(0.1)


def test_samples_older_than_the_lag_history_are_pruned(settings: Any) -> None:
    settings.LAG_HISTORY_DAYS = 2
    now = timezone.now()
    old = ThroughputSample.objects.create(
        cluster="local", sampled_at=now - timedelta(days=2, minutes=1), seconds=30, topics={"x": 1}
    )
    kept = ThroughputSample.objects.create(
        cluster="local", sampled_at=now - timedelta(days=1, hours=23), seconds=30, topics={"x": 1}
    )
    result = sample_throughput()
    assert result["pruned"] == 1
    assert not ThroughputSample.objects.filter(pk=old.pk).exists()
    assert ThroughputSample.objects.filter(pk=kept.pk).exists()


def test_a_cluster_that_does_not_answer_is_skipped(down_cluster: str) -> None:
    result = sample_throughput()
    assert isinstance(result["local"], int)
    assert isinstance(result["down"], str) and result["down"]
    assert throughput.latest("local") is not None and throughput.latest("down") is None
    assert not ThroughputLatest.objects.filter(cluster="down").exists()


# --- API ----------------------------------------------------------------------------------


def _api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def moved(
    make_topic: Callable[[str, int], str], produce: Callable[[str, list[int]], None], prefix: str
) -> dict[str, str]:
    """Two topics that moved between two samples 20 s apart: `vis` by 4 events, `hid` by 40."""
    names = {"vis": make_topic(f"{prefix}-vis.orders", 1), "hid": make_topic(f"{prefix}-hid.payments", 1)}
    at = timezone.now()
    sample_cluster("local", at - timedelta(seconds=20))
    produce(names["vis"], [4])
    produce(names["hid"], [40])
    sample_cluster("local", at)
    return names


def test_the_topic_api_answers_the_rate_and_the_series(api_as: Any, moved: dict[str, str]) -> None:
    body = api_as("viewer").get(f"/api/clusters/local/topics/{moved['hid']}/throughput/", {"range": "6h"}).json()
    assert set(body) == {"cluster", "topic", "range", "sampled_at", "per_second", "points"}
    assert (body["topic"], body["range"], body["per_second"]) == (moved["hid"], "6h", 2.0)
    assert [p["per_second"] for p in body["points"]] == [2.0]
    assert api_as("viewer").get(f"/api/clusters/local/topics/{moved['hid']}/throughput/?range=1y").status_code == 400
    missing = api_as("viewer").get("/api/clusters/local/topics/no-such-topic-tp/throughput/")
    assert missing.status_code == 404


def test_a_scoped_user_sees_only_the_rates_of_topics_they_may_see(
    make_user: Callable[..., Any], api_as: Any, moved: dict[str, str], prefix: str
) -> None:
    user = make_user(None)
    Grant.objects.create(
        subject_type="user", subject=user.username, role="viewer", cluster="local", topics=[f"{prefix}-vis.*"]
    )
    client = _api(user)

    hidden = client.get(f"/api/clusters/local/topics/{moved['hid']}/throughput/")
    missing = client.get(f"/api/clusters/local/topics/{prefix}-vis.nothing/throughput/")
    assert hidden.status_code == missing.status_code == 404
    assert "per_second" not in hidden.json()  # a hidden topic is answered exactly like a missing one
    assert client.get(f"/api/clusters/local/topics/{moved['vis']}/throughput/").json()["per_second"] == 0.2

    totals = client.get("/api/clusters/local/throughput/").json()
    assert totals["in_per_second"] == 0.2
    assert [b["topic"] for b in totals["busiest"]] == [moved["vis"]]
    assert moved["hid"] not in str(totals)
    everyone = api_as("viewer").get("/api/clusters/local/throughput/").json()
    assert [b["topic"] for b in everyone["busiest"]][:2] == [moved["hid"], moved["vis"]]
    assert everyone["in_per_second"] >= 2.2


def test_the_schema_lists_the_throughput_routes(api_as: Any) -> None:
    schema = api_as("viewer").get("/api/schema/?format=json").json()
    assert "/api/clusters/{cluster}/throughput/" in schema["paths"]
    assert "/api/clusters/{cluster}/topics/{topic}/throughput/" in schema["paths"]
