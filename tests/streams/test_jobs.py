"""Jobs on the real broker, Redis and a real Celery worker: start checks, roles, export, replay."""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import io
import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from django.conf import settings
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from backbone_admin.models import AuditEntry, Role
from streams.jobs.models import Job, JobPartition
from streams.jobs.replay import PROVENANCE
from streams.jobs.tasks import expire_exports
from tests.streams.jobs_helpers import create_topic, fill, read_all, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def source(kafka_admin: AdminClient, kafka_bootstrap: str, topic_name: str) -> str:
    create_topic(kafka_admin, topic_name, 3)
    fill(kafka_bootstrap, topic_name, 3, 40, binary_every=10)
    return topic_name


def _replay(topic: str, target: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "replay", "cluster": "local", "topic": topic, "target_topic": target, **extra}


def _export(topic: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "export", "cluster": "local", "topic": topic, "format": "jsonl", **extra}


# --- Checked before anything starts ---------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"start": {"offset": 30}, "end": {"offset": 10}}, 400, "end"),
        ({"start": {"offset": -1}}, 400, "start"),
        ({"start": "yesterday"}, 400, "start"),
        ({"end": {"timestamp": "soon"}}, 400, "end"),
        ({"rate_limit": 0}, 400, "rate_limit"),
        ({"rate_limit": -5}, 400, "rate_limit"),
        ({"rate_limit": 0.01}, 400, "rate_limit"),
        ({"target_topic": "SOURCE"}, 400, "target_topic"),
        ({"target_topic": "SOURCE", "target_cluster": "local"}, 400, "target_topic"),
        ({"target_topic": "does-not-exist-yet"}, 400, "create_target"),
        ({"target_topic": "odd/name", "create_target": True}, 400, "target_topic"),
        ({"partitions": [7]}, 400, "partitions"),
        ({"partition_mapping": "round-robin"}, 400, "partition_mapping"),
    ],
)
def test_it_refuses_a_bad_replay_and_starts_nothing(
    api_as: Any, source: str, body: dict[str, Any], status: int, field: str
) -> None:
    if body.get("target_topic") == "SOURCE":
        body = {**body, "target_topic": source}
    response = api_as(Role.OPERATOR).post("/api/jobs/", _replay(source, f"{source}-copy", **body), format="json")
    assert response.status_code == status, response.content
    assert field in response.json()["fields"]
    assert Job.objects.count() == 0


def test_an_unknown_topic_or_cluster_is_404_and_starts_nothing(api_as: Any, source: str) -> None:
    client = api_as(Role.OPERATOR)
    assert client.post("/api/jobs/", _export("no-such-topic-here"), format="json").status_code == 404
    assert client.post("/api/jobs/", {**_export(source), "cluster": "nowhere"}, format="json").status_code == 404
    response = client.post("/api/jobs/", _replay(source, "x", target_cluster="nowhere"), format="json")
    assert response.status_code == 404
    assert client.post("/api/jobs/", {"kind": "rewind"}, format="json").status_code == 400
    assert client.post("/api/jobs/", {**_export(source), "format": "xml"}, format="json").status_code == 400
    assert Job.objects.count() == 0


def test_a_reader_may_not_start_a_replay_or_an_export(api_as: Any, source: str) -> None:
    reader = api_as(Role.READER)
    assert reader.post("/api/jobs/", _export(source), format="json").status_code == 403
    assert (
        reader.post("/api/jobs/", _replay(source, f"{source}-c", create_target=True), format="json").status_code == 403
    )
    assert Job.objects.count() == 0
    assert AuditEntry.objects.filter(result=AuditEntry.Result.DENIED, action__contains="api-jobs").exists()


def test_a_read_only_target_cluster_refuses_replays(
    api_as: Any, source: str, clusters_file: Any, kafka_admin: AdminClient
) -> None:
    clusters_file(
        "clusters:\n  - name: local\n    bootstrap_servers: '{LOCAL}'\n"
        "  - name: archive\n    bootstrap_servers: '{LOCAL}'\n    read_only: true\n"
    )
    client = api_as(Role.OPERATOR)
    body = _replay(source, f"{source}-ro", target_cluster="archive", create_target=True)
    response = client.post("/api/jobs/", body, format="json")
    assert response.status_code == 403
    assert "read-only" in response.json()["error"]
    assert Job.objects.count() == 0
    assert f"{source}-ro" not in kafka_admin.list_topics(timeout=10).topics


def test_the_running_limit_per_user_is_409(api_as: Any, make_user: Any, source: str, settings: Any) -> None:
    from rest_framework.test import APIClient

    settings.JOBS_MAX_RUNNING_PER_USER = 1
    user = make_user(Role.OPERATOR)
    Job.objects.create(kind="export", cluster="local", topic=source, status=Job.Status.RUNNING, created_by=user)
    client = APIClient()
    client.force_authenticate(user)
    response = client.post("/api/jobs/", _export(source), format="json")
    assert response.status_code == 409
    assert "limit is 1" in response.json()["error"]
    assert Job.objects.count() == 1


# --- Export ---------------------------------------------------------------------------------


def _source_events(kafka_bootstrap: str, topic: str, partitions: int = 3) -> list[Any]:
    return sorted(read_all(kafka_bootstrap, topic, partitions), key=lambda m: (m.partition(), m.offset()))


def _text(data: bytes | None, encoding: str | None) -> bytes | None:
    if data is None:
        return None
    return base64.b64decode(data) if encoding == "base64" else data.encode()  # type: ignore[union-attr, arg-type]


def _start(client: Any, body: dict[str, Any]) -> int:
    response = client.post("/api/jobs/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "queued"
    return int(response.json()["id"])


def test_an_export_to_json_lines_holds_every_event_exactly(
    celery_worker: Any, api_as: Any, source: str, kafka_bootstrap: str, make_user: Any
) -> None:
    operator = api_as(Role.OPERATOR)
    job_id = _start(operator, _export(source))
    job = wait_for(job_id)
    assert job.status == Job.Status.SUCCEEDED, job.error
    response = operator.get(f"/api/jobs/{job_id}/download/")  # its owner
    assert response.status_code == 200
    content = b"".join(response.streaming_content)
    assert len(content) == job.file_size
    assert hashlib.sha256(content).hexdigest() == job.file_sha256 == response["X-Checksum-SHA256"]
    lines = content.decode().splitlines()
    expected = _source_events(kafka_bootstrap, source)
    assert len(lines) == len(expected) == 120
    for line, msg in zip(lines, expected, strict=True):
        event = json.loads(line)
        assert (event["partition"], event["offset"], event["timestamp"]) == (
            msg.partition(),
            msg.offset(),
            msg.timestamp()[1],
        )
        assert _text(event["key"], event.get("key_encoding")) == msg.key()
        assert _text(event["value"], event.get("value_encoding")) == msg.value()
        assert [(k, v.encode()) for k, v in event["headers"]] == list(msg.headers() or [])
    api = operator.get(f"/api/jobs/{job_id}/").json()
    assert api["progress"]["percent"] == 100.0
    assert api["result"]["lines"] == 120
    assert api["file"]["sha256"] == job.file_sha256
    actions = set(AuditEntry.objects.filter(target__contains=f"job {job_id}").values_list("action", flat=True))
    assert "job.export.download" in actions
    assert AuditEntry.objects.filter(action="job.export.start", cluster="local").exists()
    # A viewer sees the job but never its contents.
    assert api_as(Role.VIEWER).get(f"/api/jobs/{job_id}/download/").status_code == 403


def test_an_export_to_gzipped_csv_holds_every_event_exactly(
    celery_worker: Any, api_as: Any, source: str, kafka_bootstrap: str
) -> None:
    owner = api_as(Role.OPERATOR)
    job_id = _start(owner, _export(source, format="csv", compression="gzip", partitions=[0, 2]))
    job = wait_for(job_id)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.file_name.endswith(".csv.gz")
    response = owner.get(f"/api/jobs/{job_id}/download/")
    rows = list(csv.DictReader(io.StringIO(gzip.decompress(b"".join(response.streaming_content)).decode())))
    expected = [m for m in _source_events(kafka_bootstrap, source) if m.partition() in (0, 2)]
    assert len(rows) == len(expected) == 80
    for row, msg in zip(rows, expected, strict=True):
        assert (int(row["partition"]), int(row["offset"]), int(row["timestamp"])) == (
            msg.partition(),
            msg.offset(),
            msg.timestamp()[1],
        )
        key = None if row["key_encoding"] == "null" else _text(row["key"], row["key_encoding"])
        assert key == msg.key()
        assert _text(row["value"], row["value_encoding"]) == msg.value()
        headers = json.loads(row["headers"]) if row["headers"] else []
        assert [(k, v.encode()) for k, v in headers] == list(msg.headers() or [])


def test_an_export_range_by_offset_is_exact(celery_worker: Any, api_as: Any, source: str) -> None:
    job_id = _start(api_as(Role.OPERATOR), _export(source, start={"offset": 5}, end={"offset": 15}))
    job = wait_for(job_id)
    assert job.status == Job.Status.SUCCEEDED
    lines = (Path(settings.EXPORT_ROOT) / job.file_name).read_text().splitlines()
    offsets = sorted((json.loads(line)["partition"], json.loads(line)["offset"]) for line in lines)
    assert offsets == [(p, o) for p in range(3) for o in range(5, 15)]


def test_nothing_is_downloadable_before_the_export_completes(api_as: Any, make_user: Any, source: str) -> None:
    owner = make_user(Role.READER)
    job = Job.objects.create(kind="export", cluster="local", topic=source, status=Job.Status.RUNNING, created_by=owner)
    client = APIClient()
    client.force_authenticate(owner)
    response = client.get(f"/api/jobs/{job.pk}/download/")
    assert response.status_code == 409
    assert "running" in response.json()["error"]
    assert not AuditEntry.objects.filter(action="job.export.download").exists()


def test_a_cancelled_export_leaves_no_file_offered(
    celery_worker: Any, api_as: Any, kafka_admin: AdminClient, kafka_bootstrap: str, topic_name: str
) -> None:
    create_topic(kafka_admin, topic_name, 2)
    fill(kafka_bootstrap, topic_name, 2, 20_000)
    client = api_as(Role.OPERATOR)
    job_id = _start(client, _export(topic_name))
    response = client.post(f"/api/jobs/{job_id}/cancel/")
    assert response.status_code == 200, response.content
    assert response.json()["cancel_requested"] is True
    job = wait_for(job_id)
    assert job.status == Job.Status.CANCELLED
    assert job.file_name == "" and client.get(f"/api/jobs/{job_id}/").json()["file"] is None
    assert client.get(f"/api/jobs/{job_id}/download/").status_code == 409
    root = Path(settings.EXPORT_ROOT)
    assert not (root / f".job-{job_id}").exists()
    assert not list(root.glob(f"*{topic_name}*")), "the cancelled export left a file"
    assert client.post(f"/api/jobs/{job_id}/cancel/").status_code == 409  # already finished
    assert AuditEntry.objects.filter(action="job.export.cancel", target=f"job {job_id}").count() == 2


def test_an_expired_export_file_is_deleted(celery_worker: Any, api_as: Any, source: str) -> None:
    owner = api_as(Role.OPERATOR)
    job_id = _start(owner, _export(source))
    job = wait_for(job_id)
    path = Path(settings.EXPORT_ROOT) / job.file_name
    assert path.exists()
    Job.objects.filter(pk=job_id).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert expire_exports() == 1
    assert not path.exists()
    response = owner.get(f"/api/jobs/{job_id}/download/")
    assert response.status_code == 409
    assert "expired" in response.json()["error"]


# --- Replay ---------------------------------------------------------------------------------


def test_a_replay_writes_every_event_once_with_provenance(
    celery_worker: Any, api_as: Any, source: str, kafka_bootstrap: str, kafka_admin: AdminClient
) -> None:
    target = f"{source}-copy"
    create_topic(kafka_admin, target, 3)
    job_id = _start(api_as(Role.OPERATOR), _replay(source, target))
    job = wait_for(job_id)
    assert job.status == Job.Status.SUCCEEDED, job.error
    _assert_exact_copy(kafka_bootstrap, source, target, job_id, cluster="local")
    assert job.result["source_events_read"] == job.result["target_events_written"] == 120


def _assert_exact_copy(
    bootstrap: str, source: str, target: str, job_id: int, *, cluster: str, partitions: int = 3, same: bool = True
) -> None:
    expected = {(m.partition(), m.offset()): m for m in read_all(bootstrap, source, partitions)}
    copies = read_all(bootstrap, target, partitions)
    seen: dict[tuple[int, int], int] = {}
    for msg in copies:
        headers = dict(msg.headers() or [])
        assert headers["backbone.job"] == str(job_id).encode()
        assert headers["backbone.source.cluster"] == cluster.encode()
        assert headers["backbone.source.topic"] == source.encode()
        origin = (int(headers["backbone.source.partition"]), int(headers["backbone.source.offset"]))
        seen[origin] = seen.get(origin, 0) + 1
        original = expected[origin]
        assert msg.key() == original.key() and msg.value() == original.value()
        assert msg.timestamp()[1] == original.timestamp()[1]
        assert [(k, v) for k, v in msg.headers() or [] if k not in PROVENANCE] == list(original.headers() or [])
        if same:
            assert msg.partition() == origin[0]
    assert set(seen) == set(expected), "some events are missing from the target"
    assert [o for o, n in seen.items() if n > 1] == [], "some events are in the target more than once"


def test_a_replay_by_key_into_a_new_topic_with_a_filter(
    celery_worker: Any, api_as: Any, source: str, kafka_bootstrap: str, kafka_admin: AdminClient
) -> None:
    target = f"{source}-new"
    flt = "n == 1 or (n >= 10 and n < 20)"  # the message browser's filter language: a JSON field
    body = _replay(source, target, create_target=True, partition_mapping="key", filter=flt, keep_timestamps=False)
    job_id = _start(api_as(Role.OPERATOR), body)
    job = wait_for(job_id)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert len(kafka_admin.list_topics(target, timeout=10).topics[target].partitions) == 3
    # Three transactional producers (one per source partition) write every target partition at
    # once; the replay aborts nothing, so reading uncommitted is Kafka's committed answer too
    # (jobs_helpers.read_all says why the test broker needs it).
    copies = read_all(kafka_bootstrap, target, 3, isolation="read_uncommitted")
    # n = 1 and 10 to 19 in each partition, minus the binary values (every 10th: not JSON, no field n).
    expected = {(p, o) for p in range(3) for o in [1, *range(11, 20)]}
    origins = [
        (int(dict(m.headers())["backbone.source.partition"]), int(dict(m.headers())["backbone.source.offset"]))
        for m in copies
    ]
    # On failure, what each partition of the job read and wrote.
    parts = list(job.partitions.values("partition", "start_offset", "end_offset", "position", "done", "skipped"))
    assert sorted(origins) == sorted(expected), (job.result, parts)
    assert job.result["source_events_filtered_out"] == 120 - len(expected)


def test_progress_reaches_the_job_page_over_the_websocket(
    celery_worker: Any, live_url: str, make_user: Any, source: str, kafka_admin: AdminClient
) -> None:
    target = f"{source}-ws"
    create_topic(kafka_admin, target, 3)
    client = Client()
    client.force_login(make_user(Role.OPERATOR))
    response = client.post(
        "/api/jobs/", json.dumps(_replay(source, target, rate_limit=120)), content_type="application/json"
    )
    job_id = response.json()["id"]
    headers = {"Cookie": f"sessionid={client.cookies['sessionid'].value}", "Origin": live_url}
    seen: list[dict[str, Any]] = []
    url = live_url.replace("http://", "ws://") + f"/ws/jobs/{job_id}/"
    with connect(url, additional_headers=headers, open_timeout=10) as ws:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            job = json.loads(ws.recv(timeout=30))["job"]
            seen.append(job)
            if job["status"] in ("succeeded", "failed", "cancelled"):
                break
    assert seen[-1]["status"] == "succeeded"
    assert seen[-1]["progress"]["percent"] == 100.0
    running = [j["progress"]["percent"] for j in seen if j["status"] == "running"]
    assert any(0 < p < 100 for p in running), f"no intermediate progress was pushed: {running}"
    # Someone without a role on the cluster is refused.
    other = Client()
    other.force_login(make_user(None))
    cookie = f"sessionid={other.cookies['sessionid'].value}"
    with pytest.raises(InvalidStatus) as refused:
        connect(url, additional_headers={"Cookie": cookie, "Origin": live_url}, open_timeout=10)
    assert refused.value.response.status_code == 403


def test_the_jobs_pages_show_the_job(client_as: Any, source: str) -> None:
    job = Job.objects.create(kind="replay", cluster="local", topic=source, params={"target_topic": "x"})
    JobPartition.objects.create(job=job, partition=0, start_offset=0, end_offset=10, position=5, done=5)
    viewer = client_as(Role.VIEWER)
    page = viewer.get("/jobs/").content.decode()
    assert f"#{job.pk}" in page
    detail = viewer.get(f"/jobs/{job.pk}/").content.decode()
    assert "50.0" in detail and f"/ws/jobs/{job.pk}/" in detail
    assert 'id="cancel-form"' not in detail  # a viewer cannot cancel
    # Nor another operator: the job is its owner's (tests/streams/test_job_ownership.py); an admin can.
    assert 'id="cancel-form"' not in client_as(Role.OPERATOR).get(f"/jobs/{job.pk}/").content.decode()
    assert 'id="cancel-form"' in client_as(Role.ADMIN).get(f"/jobs/{job.pk}/").content.decode()
    assert client_as(None).get(f"/jobs/{job.pk}/").status_code == 404
