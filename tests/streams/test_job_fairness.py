"""One user's jobs never hold every worker: a slow replay gives its worker back while it waits, and a
user with partitions running lets a starved user's partitions go first.

Each test runs a Celery worker of its own (two pool processes) on a queue of its own.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from django.test import override_settings
from rest_framework.test import APIClient

from backbone_admin.models import Role
from streams.jobs.models import Job, JobPartition
from streams.jobs.runner import PAUSED
from tests.conftest import independent_client_config
from tests.streams.jobs_helpers import create_topic, fill, own_worker, wait_for
from tests.streams.test_jobs import _assert_exact_copy

pytestmark = pytest.mark.django_db(transaction=True)


def _api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _start(client: APIClient, body: dict[str, Any]) -> int:
    response = client.post("/api/jobs/", body, format="json")
    assert response.status_code == 201, response.content
    return int(response.json()["id"])


def test_a_slow_replay_gives_its_workers_back_while_it_waits_and_still_copies_exactly_once(
    kafka_admin: AdminClient, kafka_bootstrap: str, redis_url: str, topic_name: str, make_user: Any
) -> None:
    source, target, other = topic_name, f"{topic_name}-copy", f"{topic_name}-other"
    create_topic(kafka_admin, source, 2)
    create_topic(kafka_admin, target, 2)
    create_topic(kafka_admin, other, 1)
    fill(kafka_bootstrap, source, 2, 3)
    fill(kafka_bootstrap, other, 1, 9)
    slow, bystander = make_user(Role.OPERATOR), make_user(Role.OPERATOR)
    queue = f"jobs-slow-{uuid.uuid4().hex[:6]}"
    with override_settings(JOBS_QUEUE=queue), own_worker(kafka_bootstrap, redis_url, queue, "slow"):
        # 0.5 events/s over 2 partitions: each partition's next event is due 4 s after the last one.
        replay = _start(
            _api(slow),
            {"kind": "replay", "cluster": "local", "topic": source, "target_topic": target, "rate_limit": 0.5},
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            parts = list(JobPartition.objects.filter(job_id=replay))
            if all(p.done >= 1 and p.lease_owner == PAUSED for p in parts):
                break
            time.sleep(0.1)
        assert all(p.lease_owner == PAUSED and p.status == "pending" for p in parts), [
            (p.partition, p.status, p.lease_owner, p.done) for p in parts
        ]
        # Both worker processes are free while the replay waits: another user's export runs at once.
        started = time.monotonic()
        export = wait_for(_start(_api(bystander), {"kind": "export", "cluster": "local", "topic": other}), timeout=30)
        took = time.monotonic() - started
        assert export.status == Job.Status.SUCCEEDED and took < 3.5, f"the export waited {took:.1f} s"
        job = wait_for(replay, timeout=60)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.attempts == 1, "a pause is not an attempt"
    assert job.result["target_events_written"] == 6
    _assert_exact_copy(kafka_bootstrap, source, target, replay, cluster="local", partitions=2)


def test_a_paused_replay_is_cancelled_at_once(
    kafka_admin: AdminClient, kafka_bootstrap: str, redis_url: str, topic_name: str, make_user: Any
) -> None:
    create_topic(kafka_admin, topic_name, 1)
    create_topic(kafka_admin, f"{topic_name}-copy", 1)
    fill(kafka_bootstrap, topic_name, 1, 5)
    owner = _api(make_user(Role.OPERATOR))
    queue = f"jobs-slow-{uuid.uuid4().hex[:6]}"
    with override_settings(JOBS_QUEUE=queue), own_worker(kafka_bootstrap, redis_url, queue, "slow-cancel"):
        body = {"kind": "replay", "cluster": "local", "topic": topic_name, "target_topic": f"{topic_name}-copy"}
        job_id = _start(owner, {**body, "rate_limit": 0.1})
        deadline = time.monotonic() + 30
        while JobPartition.objects.get(job_id=job_id).lease_owner != PAUSED and time.monotonic() < deadline:
            time.sleep(0.1)
        assert owner.post(f"/api/jobs/{job_id}/cancel/").status_code == 200
        job = wait_for(job_id, timeout=5)
    assert job.status == Job.Status.CANCELLED


def test_a_user_with_partitions_running_lets_a_starved_users_job_go_first(
    kafka_admin: AdminClient, kafka_bootstrap: str, redis_url: str, topic_name: str, make_user: Any
) -> None:
    big, small = topic_name, f"{topic_name}-small"
    create_topic(kafka_admin, big, 6)
    create_topic(kafka_admin, small, 1)
    producer = Producer(independent_client_config(kafka_bootstrap, **{"linger.ms": 20}))
    for i in range(6 * 60_000):
        producer.produce(big, partition=i % 6, value=b'{"n": %d, "pad": "%s"}' % (i, b"x" * 100))
        if i % 50_000 == 49_999:
            assert producer.flush(60) == 0
    assert producer.flush(60) == 0
    fill(kafka_bootstrap, small, 1, 5)
    heavy, light = _api(make_user(Role.OPERATOR)), _api(make_user(Role.OPERATOR))
    queue = f"jobs-fair-{uuid.uuid4().hex[:6]}"
    with override_settings(JOBS_QUEUE=queue):
        # Both queued before a worker takes anything: the heavy export's six partitions come first.
        first = _start(heavy, {"kind": "export", "cluster": "local", "topic": big})
        second = _start(light, {"kind": "export", "cluster": "local", "topic": small})
        with own_worker(kafka_bootstrap, redis_url, queue, "fair"):
            jobs = {pk: wait_for(pk, timeout=120) for pk in (first, second)}
    assert all(job.status == Job.Status.SUCCEEDED for job in jobs.values()), [j.error for j in jobs.values()]
    light_done, heavy_done = jobs[second].finished_at, jobs[first].finished_at
    assert light_done is not None and heavy_done is not None
    assert light_done < heavy_done, "the small export waited for all six partitions of the big one"
    # It waited for at most the two partitions that were running when it was queued.
    finished = sorted(p.updated_at for p in JobPartition.objects.filter(job_id=first))
    assert light_done < finished[3], (light_done, finished)
