"""`latest` is the log's end on every broker: exports and replays of `latest`, lag and the newest page.

Producers write batches of many records. The test broker answers ListOffsets `latest` with its
last batch's first offset + 1 (TEST_BROKER.md), Kafka with the log end; a fetch response's high
watermark is the log end on both, and that is what the console uses. So these fixtures do NOT
write their last event alone in its batch: both brokers must give Kafka's answer anyway.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from backbone_admin.kafka import offsets
from backbone_admin.models import Role
from tests.conftest import independent_client_config
from tests.streams.jobs_helpers import create_topic, wait_for

PARTITIONS = 3
PER_PARTITION = 200


def _fill_in_batches(bootstrap: str, topic: str) -> None:
    """200 events per partition, sent together: each partition's events in a few large batches."""
    producer = Producer(independent_client_config(bootstrap, **{"linger.ms": 200, "batch.num.messages": 10000}))
    for i in range(PER_PARTITION):
        for p in range(PARTITIONS):
            producer.produce(topic, partition=p, key=f"k{i}".encode(), value=json.dumps({"p": p, "i": i}).encode())
    assert producer.flush(20) == 0


@pytest.fixture
def batched(kafka_admin: AdminClient, kafka_bootstrap: str, topic_name: str) -> str:
    create_topic(kafka_admin, topic_name, PARTITIONS)
    _fill_in_batches(kafka_bootstrap, topic_name)
    return topic_name


def test_the_gateways_watermarks_are_the_log_ends(batched: str) -> None:
    marks = offsets.watermarks("local", [(batched, p) for p in range(PARTITIONS)])
    assert {p: (m.low, m.high) for (_, p), m in marks.items()} == dict.fromkeys(range(PARTITIONS), (0, PER_PARTITION))


@pytest.mark.django_db(transaction=True)
def test_an_export_of_everything_up_to_latest_holds_every_event(celery_worker: Any, api_as: Any, batched: str) -> None:
    operator = api_as(Role.OPERATOR)
    response = operator.post("/api/jobs/", {"kind": "export", "cluster": "local", "topic": batched}, format="json")
    assert response.status_code == 201, response.content
    job = wait_for(response.json()["id"])
    assert job.status == "succeeded", job.error
    assert job.result["lines"] == PARTITIONS * PER_PARTITION
    body = b"".join(operator.get(f"/api/jobs/{job.pk}/download/").streaming_content)
    seen = sorted((e["partition"], e["offset"]) for e in map(json.loads, body.splitlines()))
    assert seen == [(p, o) for p in range(PARTITIONS) for o in range(PER_PARTITION)]


@pytest.mark.django_db
def test_a_groups_lag_counts_to_the_log_end(kafka_admin: AdminClient, api_as: Any, batched: str) -> None:
    group = f"g-{batched}"
    committed = {0: 0, 1: 50, 2: PER_PARTITION}
    request = ConsumerGroupTopicPartitions(group, [TopicPartition(batched, p, o) for p, o in committed.items()])
    kafka_admin.alter_consumer_group_offsets([request])[group].result(10)
    body = api_as(Role.VIEWER).get(f"/api/clusters/local/groups/{group}/").json()
    lag = {row["partition"]: (row["high"], row["lag"]) for row in body["partitions"] if row["topic"] == batched}
    assert lag == {0: (200, 200), 1: (200, 150), 2: (200, 0)}


@pytest.mark.django_db
def test_the_newest_page_starts_at_the_newest_event(api_as: Any, batched: str) -> None:
    body = (
        api_as(Role.READER).get(f"/api/clusters/local/topics/{batched}/messages/", {"partition": 1, "limit": 5}).json()
    )
    assert [(e["partition"], e["offset"]) for e in body["results"]] == [(1, o) for o in range(199, 194, -1)]
