"""Replays on workers of the test's own: a worker SIGKILLed mid-replay, and a replay across clusters.

Each test starts its own Celery worker on a queue of its own (JOBS_QUEUE), so killing it never
touches the suite's shared worker, and no other worker takes its tasks.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from django.test import override_settings

from backbone_admin.models import Role
from streams.jobs.models import Job, JobPartition
from streams.jobs.requests import parse_request
from tests.streams.jobs_helpers import create_topic, fill, kill, own_worker, wait_for
from tests.streams.test_jobs import _assert_exact_copy

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_replay_survives_a_worker_killed_mid_way_exactly_once(
    kafka_admin: AdminClient, kafka_bootstrap: str, redis_url: str, topic_name: str, api_as: Any
) -> None:
    source, target = topic_name, f"{topic_name}-copy"
    create_topic(kafka_admin, source, 2)
    create_topic(kafka_admin, target, 2)
    fill(kafka_bootstrap, source, 2, 400)
    queue = f"jobs-crash-{uuid.uuid4().hex[:6]}"
    env = {"JOBS_LEASE_SECONDS": "3"}
    with override_settings(JOBS_QUEUE=queue, JOBS_LEASE_SECONDS=3):
        with own_worker(kafka_bootstrap, redis_url, queue, "crash-1", **env) as worker:
            body = {"kind": "replay", "cluster": "local", "topic": source, "target_topic": target, "rate_limit": 200}
            response = api_as(Role.OPERATOR).post("/api/jobs/", body, format="json")
            assert response.status_code == 201, response.content
            job_id = response.json()["id"]
            # Kill it once both partitions have committed something and neither has finished.
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                parts = list(JobPartition.objects.filter(job_id=job_id))
                if all(p.done >= 60 for p in parts):
                    break
                time.sleep(0.1)
            kill(worker)
        parts = list(JobPartition.objects.filter(job_id=job_id))
        assert all(60 <= p.done < 400 for p in parts), [(p.partition, p.done, p.status) for p in parts]
        assert Job.objects.get(pk=job_id).status == Job.Status.RUNNING
        killed_at = {p.partition: p.position for p in parts}
        with own_worker(kafka_bootstrap, redis_url, queue, "crash-2", **env):
            job = wait_for(job_id, timeout=90)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.attempts == 3, "the start, then each of the two partitions resumed after the kill"
    resumed = {p.partition: p for p in JobPartition.objects.filter(job_id=job_id)}
    assert all(p.position == 400 and p.done == 400 for p in resumed.values()), killed_at
    assert job.result["source_events_read"] == job.result["target_events_written"] == 800
    _assert_exact_copy(kafka_bootstrap, source, target, job_id, cluster="local", partitions=2)


def test_a_replay_between_two_clusters(
    kafka_admin: AdminClient,
    kafka_bootstrap: str,
    redis_url: str,
    topic_name: str,
    api_as: Any,
    clusters_file: Any,
) -> None:
    path: Path = clusters_file(
        "clusters:\n"
        "  - name: alpha\n    bootstrap_servers: '{LOCAL}'\n"
        "  - name: beta\n    bootstrap_servers: '{LOCAL}'\n"
    )
    source, target = topic_name, f"{topic_name}-beta"
    create_topic(kafka_admin, source, 3)
    fill(kafka_bootstrap, source, 3, 50)
    queue = f"jobs-x-{uuid.uuid4().hex[:6]}"
    with (
        override_settings(JOBS_QUEUE=queue),
        own_worker(kafka_bootstrap, redis_url, queue, "cross", BACKBONE_CLUSTERS_FILE=str(path)),
    ):
        body = {
            "kind": "replay",
            "cluster": "alpha",
            "topic": source,
            "target_cluster": "beta",
            "target_topic": target,
            "create_target": True,
        }
        client = api_as(Role.OPERATOR)
        response = client.post("/api/jobs/", body, format="json")
        assert response.status_code == 201, response.content
        job = wait_for(response.json()["id"])
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.params["target_cluster"] == "beta" and job.params["target_created"] is True
    # The same topic name on another cluster is not the source: accepted.
    assert parse_request({**body, "target_topic": source}).target_topic == source
    _assert_exact_copy(kafka_bootstrap, source, target, job.pk, cluster="alpha")
