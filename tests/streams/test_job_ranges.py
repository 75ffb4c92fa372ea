"""Ranges in words on the real broker and a real Celery worker: "the last N events" (in total and per
partition) replays exactly those events; times after the last event are the log end; bad ranges are 400s."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from backbone_admin.kafka import offsets
from backbone_admin.models import Role
from streams.jobs.models import Job, JobPartition
from streams.jobs.replay import H_OFFSET, H_PARTITION
from tests.conftest import independent_client_config
from tests.streams.jobs_helpers import create_topic, read_all, wait_for
from tests.timestamps import RECENT

pytestmark = pytest.mark.django_db(transaction=True)

# Partition p's event i is stamped START[p] + i * STEP: partition 0 holds the newest events, 1 the
# oldest, 2 in between, so "the last N in total" takes unequal shares of the three.
PER_PARTITION = 80
STEP = 7
START = {0: RECENT + 400, 1: RECENT, 2: RECENT + 200}


def _produce(bootstrap: str, topic: str, partitions: dict[int, list[int]]) -> None:
    """Events with the given timestamps; each partition's last event alone in its batch, so the test
    broker's `latest` is exact (TEST_BROKER.md)."""
    producer = Producer(independent_client_config(bootstrap, **{"linger.ms": 5}))
    for p, stamps in partitions.items():
        for i, ts in enumerate(stamps):
            if i == len(stamps) - 1:
                producer.flush(10)
            producer.produce(topic, partition=p, key=f"k-{p}-{i}".encode(), value=f"v-{p}-{i}".encode(), timestamp=ts)
        producer.flush(10)


@pytest.fixture
def staggered(kafka_admin: AdminClient, kafka_bootstrap: str, topic_name: str) -> str:
    create_topic(kafka_admin, topic_name, 3)
    _produce(kafka_bootstrap, topic_name, {p: [START[p] + i * STEP for i in range(PER_PARTITION)] for p in START})
    return topic_name


def _newest(n: int) -> set[tuple[int, int]]:
    """(partition, offset) of the n newest events of `staggered`, by timestamp then partition, offset."""
    events = [(START[p] + i * STEP, p, i) for p in START for i in range(PER_PARTITION)]
    return {(p, o) for _, p, o in sorted(events, reverse=True)[:n]}


def _sources(bootstrap: str, target: str) -> set[tuple[int, int]]:
    """The source (partition, offset) of every event in the target, from its provenance headers."""
    found = []
    for msg in read_all(bootstrap, target, 3):
        headers = dict(msg.headers() or [])
        found.append((int(headers[H_PARTITION]), int(headers[H_OFFSET])))
    assert len(found) == len(set(found)), "an event was written twice"
    return set(found)


def _replay(api: Any, source: str, target: str, start: Any, **extra: Any) -> Any:
    body = {"kind": "replay", "cluster": "local", "topic": source, "target_topic": target, "start": start}
    return api.post("/api/jobs/", {**body, "create_target": True, **extra}, format="json")


def test_last_100_replays_exactly_the_100_newest_events_of_all_partitions(
    api_as: Any, celery_worker: Any, kafka_bootstrap: str, staggered: str
) -> None:
    api = api_as(Role.OPERATOR)
    expected = _newest(100)
    shares = {p: sum(1 for q, _ in expected if q == p) for p in START}
    assert len(set(shares.values())) > 1, "the fixture must give the partitions unequal shares"

    preview = _replay(api, staggered, f"{staggered}-copy", {"last": 100}, dry_run=True)
    assert preview.status_code == 200, preview.content
    assert preview.json()["events"] == 100
    assert {int(p): r["end"] - r["start"] for p, r in preview.json()["ranges"].items()} == shares

    started = _replay(api, staggered, f"{staggered}-copy", {"last": 100})
    assert started.status_code == 201, started.content
    job = wait_for(started.json()["id"])
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.params["start"] == {"last": 100}
    # The target holds exactly the 100 newest events of the source, each once.
    assert _sources(kafka_bootstrap, f"{staggered}-copy") == expected
    assert sum(jp.end_offset - jp.start_offset for jp in JobPartition.objects.filter(job=job)) == 100


def test_last_n_per_partition_replays_each_partitions_newest_events(
    api_as: Any, celery_worker: Any, kafka_bootstrap: str, staggered: str
) -> None:
    started = _replay(api_as(Role.OPERATOR), staggered, f"{staggered}-copy", {"last_per_partition": 25})
    assert started.status_code == 201, started.content
    job = wait_for(started.json()["id"])
    assert job.status == Job.Status.SUCCEEDED, job.error
    expected = {(p, o) for p in START for o in range(PER_PARTITION - 25, PER_PARTITION)}
    assert _sources(kafka_bootstrap, f"{staggered}-copy") == expected


def test_last_n_of_chosen_partitions_and_more_than_the_topic_holds(api_as: Any, staggered: str) -> None:
    api = api_as(Role.OPERATOR)
    body = {"kind": "export", "cluster": "local", "topic": staggered, "dry_run": True}
    chosen = api.post("/api/jobs/", {**body, "start": {"last": 50}, "partitions": [1, 2]}, format="json").json()
    newest = sorted(((START[p] + i * STEP, p, i) for p in (1, 2) for i in range(PER_PARTITION)), reverse=True)[:50]
    assert chosen["events"] == 50
    assert set(chosen["ranges"]) == {"1", "2"}
    for p in (1, 2):
        assert chosen["ranges"][str(p)]["start"] == min((i for _, q, i in newest if q == p), default=PER_PARTITION)
    everything = api.post("/api/jobs/", {**body, "start": {"last": 1000}}, format="json").json()
    assert everything["events"] == 3 * PER_PARTITION
    assert all(r["start"] == 0 and r["end"] == PER_PARTITION for r in everything["ranges"].values())


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        ({"last": 0}, None, "start"),
        ({"last": "ten"}, None, "start"),
        ({"last": 100_001}, None, "start"),
        ({"last": 10}, {"offset": 5}, "end"),
        ({"last_per_partition": True}, None, "start"),
        ("earliest", {"last": 10}, "end"),
        ({"ago": "15x"}, None, "start"),
        ({"ago": 0}, None, "start"),
        ({"ago": "15m"}, {"ago": "1h"}, "end"),
        ({"timestamp": "next tuesday"}, None, "start"),
    ],
)
def test_a_bad_range_in_words_is_a_400_naming_the_field(
    api_as: Any, staggered: str, start: Any, end: Any, field: str
) -> None:
    body: dict[str, Any] = {"kind": "export", "cluster": "local", "topic": staggered, "start": start}
    if end is not None:
        body["end"] = end
    response = api_as(Role.OPERATOR).post("/api/jobs/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["fields"]
    assert Job.objects.count() == 0


def test_last_n_per_partition_over_the_cap_is_a_400(api_as: Any, staggered: str) -> None:
    body = {"kind": "export", "cluster": "local", "topic": staggered, "start": {"last_per_partition": 50_000}}
    response = api_as(Role.OPERATOR).post("/api/jobs/", body, format="json")
    assert response.status_code == 400, response.content
    assert "or a time range" in response.json()["fields"]["start"]


# --- Times: produced in real time, looked up by wall-clock time (TEST_BROKER.md) -------------------


@pytest.fixture
def two_batches(kafka_admin: AdminClient, kafka_bootstrap: str, topic_name: str) -> tuple[str, int, int]:
    """10 events per partition, then (a noted time) 5 more; returns the topic, that time and a time
    after the last event."""
    create_topic(kafka_admin, topic_name, 2)
    now = int(time.time() * 1000)
    _produce(kafka_bootstrap, topic_name, {p: [now + i for i in range(10)] for p in (0, 1)})
    time.sleep(1.2)
    between = int(time.time() * 1000)
    time.sleep(0.3)
    later = int(time.time() * 1000)
    _produce(kafka_bootstrap, topic_name, {p: [later + i for i in range(5)] for p in (0, 1)})
    time.sleep(1.2)
    return topic_name, between, int(time.time() * 1000)


def test_a_time_after_the_last_event_is_the_log_end(api_as: Any, two_batches: tuple[str, int, int]) -> None:
    topic, between, after = two_batches
    # The gateway: Kafka answers "none" (-1) for a time past the last event.
    assert offsets.offsets_for_time("local", [(topic, 0), (topic, 1)], after) == {(topic, 0): -1, (topic, 1): -1}
    api = api_as(Role.OPERATOR)
    body = {"kind": "export", "cluster": "local", "topic": topic, "dry_run": True}
    # Between a time before the second batch and a time after the last event: the second batch.
    both = api.post("/api/jobs/", {**body, "start": {"timestamp": between}, "end": {"timestamp": after}}, format="json")
    assert both.status_code == 200, both.content
    assert both.json()["ranges"] == {"0": {"start": 10, "end": 15}, "1": {"start": 10, "end": 15}}
    # Since a time after the last event: nothing, not an error.
    since = api.post("/api/jobs/", {**body, "start": {"timestamp": after}}, format="json")
    assert since.status_code == 200, since.content
    assert since.json()["events"] == 0
    # The last hour: everything; a time in ISO 8601 without a zone is UTC.
    hour = api.post("/api/jobs/", {**body, "start": {"ago": "1h"}}, format="json").json()
    assert hour["events"] == 30
    iso = datetime.fromtimestamp(between / 1000, UTC).replace(tzinfo=None).isoformat(timespec="milliseconds")
    by_text = api.post("/api/jobs/", {**body, "start": {"timestamp": iso}}, format="json").json()
    assert by_text["ranges"] == both.json()["ranges"]


def test_the_form_counts_the_range_before_start(client_as: Any, staggered: str) -> None:
    client = client_as(Role.OPERATOR)
    url = f"/clusters/local/topics/{staggered}/export/"
    last = client.post(url, {"count": "partial", "range": "last", "last_n": "100"}).content.decode()
    assert 'id="range-events">100<' in last
    per = client.post(url, {"count": "partial", "range": "last_per_partition", "last_n": "7"}).content.decode()
    assert 'id="range-events">21<' in per
    everything = client.post(url, {"count": "partial", "range": "all"}).content.decode()
    assert f'id="range-events">{3 * PER_PARTITION}<' in everything
    bad = client.post(url, {"count": "partial", "range": "last", "last_n": "0"}).content.decode()
    assert 'id="range-count-error"' in bad and "from 1 to" in bad
    # The whole page without script: "Count now" answers with the form and the count.
    page = client.post(url, {"count": "1", "range": "last", "last_n": "5"}).content.decode()
    assert 'id="job-form"' in page and 'id="range-events">5<' in page
    assert Job.objects.count() == 0
