"""Jobs with the message browser's filter language, masking of exports, and the group and event start points.

Real broker, Redis and Celery workers: the suite's shared worker, or one of the test's own
(on its own queue) where the worker must see a clusters file with masking rules.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from django.test import override_settings

from backbone_admin.models import Role
from streams.jobs.models import Job
from tests.conftest import independent_client_config
from tests.streams.jobs_helpers import create_topic, own_worker, read_all, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

PER_PARTITION = 30
DELAYED = 'payload.status == "DELAYED"'


def _order(p: int, i: int) -> dict[str, Any]:
    # Every third event is DELAYED; the next one only mentions the word (a substring would take it).
    status = "DELAYED" if i % 3 == 0 else "SHIPPED"
    note = "was DELAYED at the hub" if i % 3 == 1 else "on time"
    return {"payload": {"status": status, "note": note}, "customer": {"email": f"user{p}-{i}@example.com"}, "n": i}


def _delayed() -> set[tuple[int, int]]:
    return {(p, i) for p in range(3) for i in range(PER_PARTITION) if i % 3 == 0}


@pytest.fixture
def orders(kafka_admin: AdminClient, kafka_bootstrap: str, topic_name: str) -> str:
    """3 partitions x 30 JSON orders; offset i of partition p holds order i (each flushed alone: exact ends)."""
    create_topic(kafka_admin, topic_name, 3)
    producer = Producer(independent_client_config(kafka_bootstrap, **{"linger.ms": 0}))
    for p in range(3):
        for i in range(PER_PARTITION):
            value = json.dumps(_order(p, i)).encode()
            producer.produce(topic_name, partition=p, key=f"order-{p}-{i}".encode(), value=value, headers=[("h", b"1")])
            producer.flush(10)
    return topic_name


def _start(client: Any, body: dict[str, Any]) -> int:
    response = client.post("/api/jobs/", body, format="json")
    assert response.status_code == 201, response.content
    return int(response.json()["id"])


def _lines(client: Any, job_id: int) -> list[dict[str, Any]]:
    response = client.get(f"/api/jobs/{job_id}/download/")
    assert response.status_code == 200, response.content
    return [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]


def _origins(bootstrap: str, topic: str, partitions: int = 3) -> list[tuple[int, int]]:
    out = []
    for msg in read_all(bootstrap, topic, partitions):
        headers = dict(msg.headers() or [])
        out.append((int(headers["backbone.source.partition"]), int(headers["backbone.source.offset"])))
    return sorted(out)


# --- The filter language --------------------------------------------------------------------


def test_a_replay_with_a_json_field_filter_copies_exactly_the_matching_events(
    celery_worker: Any, api_as: Any, orders: str, kafka_bootstrap: str
) -> None:
    target = f"{orders}-delayed"
    body = {"kind": "replay", "cluster": "local", "topic": orders, "target_topic": target}
    job_id = _start(api_as(Role.OPERATOR), {**body, "create_target": True, "filter": DELAYED})
    job = wait_for(job_id)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.params["filter"] == DELAYED
    assert _origins(kafka_bootstrap, target) == sorted(_delayed())
    for msg in read_all(kafka_bootstrap, target, 3):
        assert json.loads(msg.value())["payload"]["status"] == "DELAYED"
    assert job.result["target_events_written"] == len(_delayed()) == 30
    assert job.result["source_events_filtered_out"] == 90 - 30


def test_an_export_with_a_filter_holds_exactly_the_matching_events(
    celery_worker: Any, api_as: Any, orders: str
) -> None:
    client = api_as(Role.OPERATOR)
    base = {"kind": "export", "cluster": "local", "topic": orders, "format": "jsonl"}
    json_job = _start(client, {**base, "filter": f"{DELAYED} and key ~ /-1\\d$/"})
    text_job = _start(client, {**base, "filter": "was DELAYED"})  # plain text: raw bytes, nothing decoded
    assert wait_for(json_job).status == wait_for(text_job).status == Job.Status.SUCCEEDED
    lines = _lines(client, json_job)
    assert sorted((e["partition"], e["offset"]) for e in lines) == sorted(
        (p, i) for p, i in _delayed() if 10 <= i <= 19
    )
    assert all(json.loads(e["value"]) == _order(e["partition"], e["offset"]) for e in lines)
    text = _lines(client, text_job)
    assert sorted((e["partition"], e["offset"]) for e in text) == sorted(
        (p, i) for p in range(3) for i in range(PER_PARTITION) if i % 3 == 1
    )


@pytest.mark.parametrize(
    ("text", "column"),
    [('payload.status == "DELAYED" and', "column 32"), ("payload.status = 1", "column 16"), ("amount >", "column 9")],
)
def test_a_bad_filter_is_a_400_with_its_column_and_starts_nothing(
    api_as: Any, client_as: Any, orders: str, text: str, column: str
) -> None:
    body = {"kind": "export", "cluster": "local", "topic": orders, "filter": text}
    response = api_as(Role.OPERATOR).post("/api/jobs/", body, format="json")
    assert response.status_code == 400, response.content
    assert column in response.json()["fields"]["filter"]
    replay = {"kind": "replay", "cluster": "local", "topic": orders, "target_topic": f"{orders}-x", "filter": text}
    response = api_as(Role.OPERATOR).post("/api/jobs/", {**replay, "create_target": True}, format="json")
    assert response.status_code == 400 and column in response.json()["fields"]["filter"]
    # The page form says the same next to the field.
    page = client_as(Role.OPERATOR).post(f"/clusters/local/topics/{orders}/export/", {"filter": text})
    assert page.status_code == 400
    content = page.content.decode()
    assert 'data-field="filter"' in content and column in content
    assert Job.objects.count() == 0


# --- Masking of exports ---------------------------------------------------------------------


def test_an_operators_export_is_masked_and_an_admins_is_not(
    api_as: Any, orders: str, clusters_file: Any, kafka_bootstrap: str, redis_url: str
) -> None:
    path = clusters_file(
        "clusters:\n  - name: local\n    bootstrap_servers: '{LOCAL}'\n    masking:\n      fields: [customer.email]\n"
    )
    queue = f"jobs-mask-{uuid.uuid4().hex[:6]}"
    operator, admin, reader = api_as(Role.OPERATOR), api_as(Role.ADMIN), api_as(Role.READER)
    body = {"kind": "export", "cluster": "local", "topic": orders, "format": "jsonl", "partitions": [1]}
    with (
        override_settings(JOBS_QUEUE=queue),
        own_worker(kafka_bootstrap, redis_url, queue, "mask", BACKBONE_CLUSTERS_FILE=str(path)),
    ):
        masked_id = _start(operator, body)
        plain_id = _start(admin, body)
        # Below admin the filter sees what the file shows: it cannot find a masked value.
        probe_id = _start(operator, {**body, "filter": 'customer.email == "user1-3@example.com"'})
        found_id = _start(admin, {**body, "filter": 'customer.email == "user1-3@example.com"'})
        jobs = {pk: wait_for(pk) for pk in (masked_id, plain_id, probe_id, found_id)}
    assert all(job.status == Job.Status.SUCCEEDED for job in jobs.values()), [j.error for j in jobs.values()]
    assert jobs[masked_id].params["masked"] is True and jobs[plain_id].params["masked"] is False
    masked = _lines(operator, masked_id)  # its owner downloads it (another reader may not: it is the operator's)
    assert reader.get(f"/api/jobs/{masked_id}/download/").status_code == 403
    assert len(masked) == PER_PARTITION
    for event in masked:
        value = json.loads(event["value"])
        assert value["customer"]["email"] == "***"
        assert value["payload"] == _order(1, event["offset"])["payload"]
        assert event["masked"] is True and event["key"] == f"order-1-{event['offset']}"
    plain = _lines(admin, plain_id)
    assert [json.loads(e["value"]) for e in plain] == [_order(1, i) for i in range(PER_PARTITION)]
    assert all("masked" not in e for e in plain)
    # The admin's unmasked file is for admins only.
    refused = reader.get(f"/api/jobs/{plain_id}/download/")
    assert refused.status_code == 403 and "started by" in refused.json()["error"]
    assert operator.get(f"/api/jobs/{plain_id}/download/").status_code == 403
    assert _lines(operator, probe_id) == []
    assert [e["offset"] for e in _lines(admin, found_id)] == [3]


# --- Start points: a consumer group's offsets, one event ----------------------------------


def _commit(bootstrap: str, group: str, offsets: dict[tuple[str, int], int]) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "logger": logging.getLogger("tests.kafka")})
    try:
        consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()], asynchronous=False)
    finally:
        consumer.close()


def test_an_export_from_a_groups_committed_offsets(
    celery_worker: Any, api_as: Any, orders: str, kafka_bootstrap: str
) -> None:
    group = f"g-{uuid.uuid4().hex[:8]}"
    _commit(kafka_bootstrap, group, {(orders, 0): 10, (orders, 1): 25})
    client = api_as(Role.OPERATOR)
    body = {"kind": "export", "cluster": "local", "topic": orders, "start": {"group": group}}
    job_id = _start(client, body)
    job = wait_for(job_id)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.params["start"] == {"group": group}
    assert {p.partition: p.start_offset for p in job.partitions.all()} == {0: 10, 1: 25, 2: 0}  # 2: none, earliest
    offsets = sorted((e["partition"], e["offset"]) for e in _lines(client, job_id))
    assert offsets == [(0, o) for o in range(10, 30)] + [(1, o) for o in range(25, 30)] + [(2, o) for o in range(30)]
    # An unknown group is a 404 naming the start, and nothing starts; a group is no end.
    response = client.post("/api/jobs/", {**body, "start": {"group": f"{group}-nobody"}}, format="json")
    assert response.status_code == 404 and "start" in response.json()["fields"]
    response = client.post("/api/jobs/", {**body, "start": "earliest", "end": {"group": group}}, format="json")
    assert response.status_code == 400 and "end" in response.json()["fields"]
    assert Job.objects.count() == 1


def test_the_group_page_offers_a_replay_from_its_offsets(client_as: Any, orders: str, kafka_bootstrap: str) -> None:
    group = f"g-{uuid.uuid4().hex[:8]}"
    _commit(kafka_bootstrap, group, {(orders, 0): 4})
    page = client_as(Role.OPERATOR).get(f"/clusters/local/groups/{group}/").content.decode()
    link = f"/clusters/local/topics/{orders}/replay/?start_kind=group&amp;start_value={group}"
    assert link in page
    assert link not in client_as(Role.READER).get(f"/clusters/local/groups/{group}/").content.decode()
    form = client_as(Role.OPERATOR).get(link.replace("&amp;", "&"))
    content = form.content.decode()
    assert form.status_code == 200
    assert '<option value="group" selected>' in content and f'value="{group}"' in content
    assert 'id="group-note"' in content


def test_one_event_is_replayed_alone(
    celery_worker: Any, api_as: Any, client_as: Any, orders: str, kafka_bootstrap: str
) -> None:
    target = f"{orders}-one"
    body = {
        "kind": "replay",
        "cluster": "local",
        "topic": orders,
        "target_topic": target,
        "create_target": True,
        "partitions": [1],
        "start": {"offset": 7},
        "end": {"offset": 8},
    }
    job = wait_for(_start(api_as(Role.OPERATOR), body))
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert _origins(kafka_bootstrap, target) == [(1, 7)]
    # The form opens prefilled the same way from a link (what an event's page links to).
    form = client_as(Role.OPERATOR).get(
        f"/clusters/local/topics/{orders}/replay/?partitions=1&start_kind=offset&start_value=7"
        "&end_kind=offset&end_value=8"
    )
    assert form.status_code == 200
    content = form.content.decode()
    assert 'name="partitions" value="1"' in content and 'name="start_value" value="7"' in content


@pytest.mark.django_db
def test_an_event_page_offers_to_replay_that_event_alone(client_as: Any, kafka_bootstrap: str, topic_name: str) -> None:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(topic_name, num_partitions=2, replication_factor=1)])[topic_name].result(10)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "linger.ms": 0})
    for i in range(3):  # one record per batch: the end offset is then exact on both brokers (TEST_BROKER.md)
        producer.produce(topic_name, value=f"e{i}".encode(), partition=1)
        producer.flush(10)
    detail = f"/clusters/local/topics/{topic_name}/messages/event/?partition=1&offset=2"
    page = client_as("operator").get(detail)
    assert page.status_code == 200, page.content.decode()[-1500:]
    html = page.content.decode()
    assert "Replay this event" in html
    assert "partitions=1&amp;start_kind=offset&amp;start_value=2&amp;end_kind=offset&amp;end_value=3" in html
    assert "Replay this event" not in client_as("reader").get(detail).content.decode()
