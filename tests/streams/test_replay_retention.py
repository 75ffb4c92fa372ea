"""A replay never writes events its target's retention deletes at once without saying so first.

Events from 2023 replayed with their timestamps into a topic that keeps 7 days are deleted at
the broker's next retention check. A target the console creates inherits the source's retention
and cleanup settings; for any target the preview (`dry_run`) counts the events older than its
retention, and the start is refused naming `accept_retention_loss` until the request accepts the
loss or re-stamps the events. Counting by time reads Kafka's timestamp index (the test broker
looks up the time a batch was stored: TEST_BROKER.md), and only Kafka deletes anything, so those
tests need Apache Kafka; what a created target inherits is checked on both brokers.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, OffsetSpec

from backbone_admin.models import AuditEntry, Role
from streams.jobs.models import Job
from tests.conftest import independent_client_config
from tests.streams.jobs_helpers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

NOVEMBER_2023 = 1_700_000_000_000
SEVEN_DAYS = 7 * 24 * 3600 * 1000


def _topic(admin: AdminClient, name: str, partitions: int, **configs: str) -> str:
    admin.create_topics([NewTopic(name, partitions, 1, config=configs)])[name].result(10)
    return name


def _produce_old(bootstrap: str, topic: str, partitions: int, per_partition: int) -> None:
    """Events stamped November 2023 (the source keeps them); each partition's last alone in its batch."""
    producer = Producer(independent_client_config(bootstrap, **{"linger.ms": 5}))
    for p in range(partitions):
        for i in range(per_partition):
            if i == per_partition - 1:
                producer.flush(10)
            producer.produce(topic, partition=p, value=b'{"n": %d}' % i, timestamp=NOVEMBER_2023 + i)
        assert producer.flush(10) == 0


def _configs(admin: AdminClient, topic: str) -> dict[str, str]:
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    return {k: v.value for k, v in admin.describe_configs([resource])[resource].result(10).items()}


def _log_start(admin: AdminClient, topic: str, partition: int) -> int:
    answers = admin.list_offsets({TopicPartition(topic, partition): OffsetSpec.earliest()}, request_timeout=10)
    return next(iter(answers.values())).result().offset


def _replay(source: str, target: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "replay", "cluster": "local", "topic": source, "target_topic": target, **extra}


def test_a_target_the_replay_creates_inherits_the_sources_retention_and_cleanup(
    kafka_admin: AdminClient, kafka_bootstrap: str, celery_worker: Any, topic_name: str, api_as: Any
) -> None:
    source = _topic(
        kafka_admin,
        topic_name,
        2,
        **{"retention.ms": "-1", "retention.bytes": "1073741824", "cleanup.policy": "delete"},
    )
    _produce_old(kafka_bootstrap, source, 2, 20)
    target = f"{source}-copy"
    operator = api_as(Role.OPERATOR)

    preview = operator.post("/api/jobs/", _replay(source, target, dry_run=True), format="json")

    assert preview.status_code == 200, preview.content
    plan = preview.json()["replay"]
    assert plan["target_exists"] is False and plan["target_partitions"] == 2
    assert {k: plan["target_configs"][k] for k in ("retention.ms", "retention.bytes", "cleanup.policy")} == {
        "retention.ms": "-1",
        "retention.bytes": "1073741824",
        "cleanup.policy": "delete",
    }
    assert plan["retention_loss"] is None  # the target will keep events forever, as the source does
    assert target not in kafka_admin.list_topics(timeout=10).topics and Job.objects.count() == 0

    response = operator.post("/api/jobs/", _replay(source, target, create_target=True), format="json")
    assert response.status_code == 201, response.content
    job = wait_for(response.json()["id"])
    assert job.status == Job.Status.SUCCEEDED, job.error
    created = _configs(kafka_admin, target)
    assert (created["retention.ms"], created["retention.bytes"], created["cleanup.policy"]) == (
        "-1",
        "1073741824",
        "delete",
    )
    assert job.params["target_configs"]["retention.ms"] == "-1"
    assert AuditEntry.objects.filter(action="topic.create", target=target, result="ok").exists()


def test_a_created_target_takes_the_retention_the_request_asks_for(
    kafka_admin: AdminClient, kafka_bootstrap: str, topic_name: str, api_as: Any
) -> None:
    source = _topic(kafka_admin, topic_name, 1, **{"retention.ms": "-1"})
    body = _replay(source, f"{source}-copy", dry_run=True, target_configs={"retention.ms": "30d"})
    plan = api_as(Role.OPERATOR).post("/api/jobs/", body, format="json").json()["replay"]
    assert plan["target_configs"]["retention.ms"] == str(30 * 24 * 3600 * 1000)
    bad = api_as(Role.OPERATOR).post("/api/jobs/", {**body, "target_configs": {"retention.ms": "soon"}}, format="json")
    assert bad.status_code == 400 and "target_configs" in bad.json()["fields"]


@pytest.mark.real_kafka
def test_a_replay_into_a_created_target_keeps_old_events_past_the_next_retention_check(
    kafka_admin: AdminClient, kafka_bootstrap: str, celery_worker: Any, topic_name: str, api_as: Any
) -> None:
    source = _topic(kafka_admin, topic_name, 1, **{"retention.ms": "-1"})
    _produce_old(kafka_bootstrap, source, 1, 200)
    target = f"{source}-copy"
    response = api_as(Role.OPERATOR).post("/api/jobs/", _replay(source, target, create_target=True), format="json")
    assert response.status_code == 201, response.content
    job = wait_for(response.json()["id"])
    assert job.status == Job.Status.SUCCEEDED and job.result["target_events_written"] == 200
    # Kafka checks retention every 5 s here (log.retention.check.interval.ms): two checks later, all is still there.
    time.sleep(12)
    assert _log_start(kafka_admin, target, 0) == 0


@pytest.mark.real_kafka
def test_a_replay_of_events_older_than_an_existing_targets_retention_is_previewed_and_refused_until_accepted(
    kafka_admin: AdminClient, kafka_bootstrap: str, celery_worker: Any, topic_name: str, api_as: Any
) -> None:
    source = _topic(kafka_admin, topic_name, 2, **{"retention.ms": "-1"})
    _produce_old(kafka_bootstrap, source, 2, 100)
    target = _topic(kafka_admin, f"{source}-copy", 2, **{"retention.ms": str(SEVEN_DAYS)})
    operator = api_as(Role.OPERATOR)

    plan = operator.post("/api/jobs/", _replay(source, target, dry_run=True), format="json").json()["replay"]
    loss = plan["retention_loss"]
    assert plan["target_exists"] is True and plan["target_configs"]["retention.ms"] == str(SEVEN_DAYS)
    assert loss["events"] == 200 and loss["partitions"] == {"0": 100, "1": 100}
    assert loss["message"].startswith("200 of the events to replay are older than the target's retention (7 d)")
    # Re-stamped, nothing is older than the retention.
    restamped = operator.post("/api/jobs/", _replay(source, target, dry_run=True, keep_timestamps=False), format="json")
    assert restamped.json()["replay"]["retention_loss"] is None

    refused = operator.post("/api/jobs/", _replay(source, target), format="json")
    assert refused.status_code == 400
    assert "accept_retention_loss" in refused.json()["fields"] and "200 of the events" in refused.json()["error"]
    assert Job.objects.count() == 0

    accepted = operator.post("/api/jobs/", _replay(source, target, accept_retention_loss=True), format="json")
    assert accepted.status_code == 201, accepted.content
    job = wait_for(accepted.json()["id"])
    assert job.status == Job.Status.SUCCEEDED and job.params["retention_loss_accepted"] == 200
    # The preview was right: the broker deletes them at one of its next retention checks.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_log_start(kafka_admin, target, p) < 100 for p in (0, 1)):
        time.sleep(1)
    assert [_log_start(kafka_admin, target, p) for p in (0, 1)] == [100, 100]


@pytest.mark.real_kafka
def test_the_replay_form_previews_the_loss_and_offers_the_choices(
    kafka_admin: AdminClient, kafka_bootstrap: str, topic_name: str, client_as: Any
) -> None:
    source = _topic(kafka_admin, topic_name, 1, **{"retention.ms": "-1"})
    _produce_old(kafka_bootstrap, source, 1, 30)
    target = _topic(kafka_admin, f"{source}-copy", 1)
    client = client_as(Role.OPERATOR)
    form = {"target_topic": target, "keep_timestamps": "on", "partition_mapping": "same"}
    page = client.post(f"/clusters/local/topics/{source}/replay/", {**form, "preview": "1"}).content.decode()
    assert 'id="retention-loss"' in page and "30 of the events to replay are older" in page
    assert 'name="accept_retention_loss"' in page and f"/clusters/local/topics/{target}/configs/" in page
    started = client.post(f"/clusters/local/topics/{source}/replay/", form)
    assert started.status_code == 400 and "30 of the events" in started.content.decode()
    assert Job.objects.count() == 0
