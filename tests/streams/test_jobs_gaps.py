"""Jobs whose source the broker truncates under them end honestly: `completed_with_gaps`, naming the offsets.

Kafka's retention and delete-records move a partition's log start past a job's position; the
job must notice every offset it could not read, say which on its page, in the API, in the
audit row and, for an export, in the file. Deleting records needs Apache Kafka (the test
broker panics on delete_records and never deletes anything: TEST_BROKER.md); how a job with
gaps ends is tested on any broker.
"""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from typing import Any

import pytest
from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from django.test import override_settings

from backbone_admin.models import AuditEntry, Role
from streams.jobs import gaps, runner
from streams.jobs.models import Job, JobPartition
from tests.conftest import independent_client_config
from tests.streams.jobs_helpers import create_topic, own_worker, read_all, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _fill(bootstrap: str, topic: str, partitions: int, count: int, size: int = 1000) -> None:
    producer = Producer(independent_client_config(bootstrap, **{"linger.ms": 5}))
    for p in range(partitions):
        for i in range(count):
            producer.produce(topic, partition=p, key=f"k{p}-{i}".encode(), value=b"%06d" % i + b"x" * (size - 6))
    assert producer.flush(20) == 0


def _delete_records(admin: AdminClient, topic: str, before: dict[int, int]) -> None:
    futures = admin.delete_records([TopicPartition(topic, p, o) for p, o in before.items()], request_timeout=10)
    for future in futures.values():
        future.result(10)


# --- Deleted under a running job (Apache Kafka) -----------------------------------------------


@pytest.mark.real_kafka
def test_a_replay_whose_source_is_truncated_mid_way_completes_with_gaps_naming_the_offsets(
    kafka_admin: AdminClient, kafka_bootstrap: str, celery_worker: Any, topic_name: str, api_as: Any, client_as: Any
) -> None:
    source, target = topic_name, f"{topic_name}-copy"
    create_topic(kafka_admin, source, 1)
    _fill(kafka_bootstrap, source, 1, 3000)
    body = {
        "kind": "replay",
        "cluster": "local",
        "topic": source,
        "target_topic": target,
        "create_target": True,
        "rate_limit": 1000,
    }
    response = api_as(Role.OPERATOR).post("/api/jobs/", body, format="json")
    assert response.status_code == 201, response.content
    job_id = response.json()["id"]
    deadline = time.monotonic() + 30
    while JobPartition.objects.get(job_id=job_id).position < 300 and time.monotonic() < deadline:
        time.sleep(0.05)
    _delete_records(kafka_admin, source, {0: 2500})

    job = wait_for(job_id, timeout=60)

    part = JobPartition.objects.get(job_id=job_id)
    assert job.status == Job.Status.COMPLETED_WITH_GAPS, (job.status, job.error, part.gaps)
    [(first, end)] = part.gaps
    assert 300 <= first < 2500 and end == 2500
    assert job.result["gaps"] == [{"partition": 0, "first": first, "last": 2499, "offsets": 2500 - first}]
    assert job.result["offsets_lost"] == 2500 - first
    assert job.result["target_events_written"] == first + 500 == part.done
    assert f"offsets {first:,} to 2,499" in job.result["warning"]
    # The target holds exactly what the source still had when it was read: offsets before the gap and after it.
    copied = sorted(int(dict(m.headers())["backbone.source.offset"]) for m in read_all(kafka_bootstrap, target, 1))
    assert copied == [*range(first), *range(2500, 3000)]
    # Said in the API, the audit row and on the job's page.
    payload = api_as(Role.VIEWER).get(f"/api/jobs/{job_id}/").json()
    assert payload["status"] == "completed_with_gaps" and payload["progress"]["offsets_lost"] == 2500 - first
    assert payload["progress"]["partitions"][0]["gaps"] == [[first, 2500]]
    end_row = AuditEntry.objects.get(action="job.replay.end", target__startswith=source)
    assert end_row.result == AuditEntry.Result.GAPS
    assert end_row.after["offsets_lost"] == 2500 - first and f"offsets {first:,} to 2,499" in end_row.error
    html = client_as(Role.VIEWER).get(f"/jobs/{job_id}/").content.decode()
    assert "completed with gaps" in html and f"offsets {first:,} to 2,499" in html


@pytest.mark.real_kafka
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_an_export_of_a_source_truncated_before_it_is_read_says_where_events_are_missing(
    kafka_admin: AdminClient, kafka_bootstrap: str, redis_url: str, topic_name: str, api_as: Any, fmt: str
) -> None:
    create_topic(kafka_admin, topic_name, 2)
    _fill(kafka_bootstrap, topic_name, 2, 500, size=50)
    queue = f"jobs-gaps-{uuid.uuid4().hex[:6]}"
    owner = api_as(Role.OPERATOR)
    with override_settings(JOBS_QUEUE=queue):
        # No worker takes the queue yet: the range is resolved (0 to 500 per partition) before the deletion.
        response = owner.post(
            "/api/jobs/", {"kind": "export", "cluster": "local", "topic": topic_name, "format": fmt}, format="json"
        )
        assert response.status_code == 201, response.content
        job_id = response.json()["id"]
        _delete_records(kafka_admin, topic_name, {0: 300})
        with own_worker(kafka_bootstrap, redis_url, queue, "gaps"):
            job = wait_for(job_id, timeout=60)

    assert job.status == Job.Status.COMPLETED_WITH_GAPS, job.error
    assert job.result["gaps"] == [{"partition": 0, "first": 0, "last": 299, "offsets": 300}]
    assert job.result["lines"] == 700
    download = owner.get(f"/api/jobs/{job_id}/download/")
    assert download.status_code == 200
    body = b"".join(download.streaming_content).decode()
    if fmt == "jsonl":
        lines = [json.loads(line) for line in body.splitlines()]
        assert lines[0] == {
            "partition": 0,
            "offset": 0,
            "gap": {"first": 0, "last": 299, "offsets": 300},
            "reason": "deleted by the broker (retention or delete-records) before the export read them",
        }
        events = [(e["partition"], e["offset"]) for e in lines[1:]]
    else:
        rows = list(csv.DictReader(io.StringIO(body)))
        assert rows[0]["key_encoding"] == rows[0]["value_encoding"] == "gap"
        assert (rows[0]["partition"], rows[0]["offset"]) == ("0", "0")
        assert "offsets 0 to 299 (300) missing" in rows[0]["value"]
        events = [(int(r["partition"]), int(r["offset"])) for r in rows[1:]]
    assert events == [(0, o) for o in range(300, 500)] + [(1, o) for o in range(500)]


# --- How a job with gaps ends (any broker) -----------------------------------------------------


def test_gaps_are_joined_where_they_touch_or_overlap() -> None:
    assert gaps.merged([], 5, 9) == [[5, 9]]
    assert gaps.merged([[5, 9]], 9, 12) == [[5, 12]]
    assert gaps.merged([[5, 9], [20, 30]], 7, 22) == [[5, 30]]
    assert gaps.merged([[20, 30]], 5, 9) == [[5, 9], [20, 30]]
    assert gaps.describe([[0, 300], [310, 311]]) == "offsets 0 to 299 (300), offset 310"


def test_a_job_whose_partitions_met_gaps_ends_completed_with_gaps_and_audits_it(make_user: Any) -> None:
    user = make_user(Role.OPERATOR)
    job = Job.objects.create(
        kind=Job.Kind.REPLAY,
        cluster="local",
        topic="orders",
        status=Job.Status.RUNNING,
        params={"target_topic": "orders-copy"},
        created_by=user,
    )
    JobPartition.objects.create(
        job=job, partition=0, start_offset=0, end_offset=100, position=100, done=60, status="done", gaps=[[10, 50]]
    )
    JobPartition.objects.create(
        job=job, partition=1, start_offset=0, end_offset=100, position=100, done=100, status="done"
    )

    runner.job_finish(job.pk)

    job.refresh_from_db()
    assert job.status == Job.Status.COMPLETED_WITH_GAPS and job.error == ""
    assert job.result["gaps"] == [{"partition": 0, "first": 10, "last": 49, "offsets": 40}]
    assert job.result["source_offsets_deleted_before_read"] == 40
    assert "partition 0: offsets 10 to 49 (40)" in job.result["warning"]
    row = AuditEntry.objects.get(action="job.replay.end")
    assert row.result == AuditEntry.Result.GAPS and row.username == user.username
    assert row.target == "orders → local/orders-copy" and row.after["status"] == "completed_with_gaps"


def test_a_job_without_gaps_still_succeeds_and_its_end_is_audited(make_user: Any) -> None:
    job = Job.objects.create(
        kind=Job.Kind.REPLAY, cluster="local", topic="orders", status=Job.Status.RUNNING, created_by=make_user()
    )
    JobPartition.objects.create(
        job=job, partition=0, start_offset=0, end_offset=10, position=10, done=10, status="done"
    )
    runner.job_finish(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED and "gaps" not in job.result
    assert AuditEntry.objects.get(action="job.replay.end").result == AuditEntry.Result.OK
