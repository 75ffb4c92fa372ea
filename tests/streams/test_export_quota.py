"""Exports cannot fill the disk: a total and a per-user quota and a free-space floor, before and while writing."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from django.conf import settings
from django.test import override_settings
from rest_framework.test import APIClient

from backbone_admin.models import AuditEntry, Role
from streams.jobs.models import Job
from tests.conftest import independent_client_config
from tests.streams.jobs_helpers import create_topic, own_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _export(topic: str) -> dict[str, Any]:
    return {"kind": "export", "cluster": "local", "topic": topic, "format": "jsonl"}


def test_an_export_that_outgrows_its_owners_quota_fails_and_leaves_nothing(
    kafka_admin: AdminClient, kafka_bootstrap: str, redis_url: str, topic_name: str, make_user: Any
) -> None:
    create_topic(kafka_admin, topic_name, 2)
    producer = Producer(independent_client_config(kafka_bootstrap, **{"linger.ms": 5}))
    for i in range(6000):
        producer.produce(topic_name, partition=i % 2, value=b'{"n": %d, "pad": "%s"}' % (i, b"x" * 300))
    assert producer.flush(20) == 0
    owner = make_user(Role.OPERATOR)
    queue = f"jobs-quota-{uuid.uuid4().hex[:6]}"
    quota = 256 * 1024  # the export is ~2 MB
    with override_settings(JOBS_QUEUE=queue, EXPORT_MAX_BYTES_PER_USER=quota):
        response = _api(owner).post("/api/jobs/", _export(topic_name), format="json")
        assert response.status_code == 201, response.content
        job_id = response.json()["id"]
        with own_worker(kafka_bootstrap, redis_url, queue, "quota", EXPORT_MAX_BYTES_PER_USER=str(quota)):
            job = wait_for(job_id, timeout=60)
    assert job.status == Job.Status.FAILED
    assert "EXPORT_MAX_BYTES_PER_USER" in job.error and owner.username in job.error
    root = Path(settings.EXPORT_ROOT)
    assert not (root / f".job-{job_id}").exists(), "the failed export's parts are still on disk"
    assert job.file_name == "" and not list(root.glob(f"{topic_name}*"))
    assert AuditEntry.objects.get(action="job.export.end", after__job=job_id).result == AuditEntry.Result.ERROR


def test_an_export_is_refused_while_its_owners_kept_exports_fill_the_quota(make_user: Any, topic_name: str) -> None:
    owner, other = make_user(Role.OPERATOR), make_user(Role.OPERATOR)
    Job.objects.create(
        kind=Job.Kind.EXPORT,
        cluster="local",
        topic="orders",
        status=Job.Status.SUCCEEDED,
        created_by=owner,
        file_name="orders-old.jsonl",
        file_size=3000,
    )
    with override_settings(EXPORT_MAX_BYTES_PER_USER=2000):
        refused = _api(owner).post("/api/jobs/", _export("orders"), format="json")
        assert refused.status_code == 409
        assert "EXPORT_MAX_BYTES_PER_USER" in refused.json()["error"] and "2.9 KiB" in refused.json()["error"]
        # Someone else's quota is their own.
        assert _api(other).post("/api/jobs/", _export("no-such-topic"), format="json").status_code == 404
    assert Job.objects.count() == 1


def test_no_export_starts_when_the_disk_is_below_the_free_space_floor(make_user: Any) -> None:
    with override_settings(EXPORT_MIN_FREE_BYTES=2**62):
        refused = _api(make_user(Role.OPERATOR)).post("/api/jobs/", _export("orders"), format="json")
    assert refused.status_code == 409 and "EXPORT_MIN_FREE_BYTES" in refused.json()["error"]
    assert Job.objects.count() == 0
