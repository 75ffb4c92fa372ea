"""A job belongs to whoever started it: the owner or an admin cancels, retries and downloads it and sees
its filter and target; anyone else with a role on the cluster sees that it exists and its progress."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient
from websockets.sync.client import connect

from backbone_admin.models import AuditEntry, Role
from streams.jobs.models import Job, JobPartition

pytestmark = pytest.mark.django_db(transaction=True)

FILTER = 'customer.email == "ann@example.com"'


def _api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def people(make_user: Any) -> dict[str, Any]:
    return {
        "owner": make_user(Role.OPERATOR),
        "operator": make_user(Role.OPERATOR),
        "reader": make_user(Role.READER),
        "viewer": make_user(Role.VIEWER),
        "admin": make_user(Role.ADMIN),
    }


def _replay(owner: Any, status: str = Job.Status.RUNNING) -> Job:
    params = {"filter": FILTER, "target_cluster": "local", "target_topic": "secret-target", "partitions": None}
    job = Job.objects.create(
        kind=Job.Kind.REPLAY, cluster="local", topic="orders", status=status, params=params, created_by=owner
    )
    JobPartition.objects.create(job=job, partition=0, start_offset=0, end_offset=10, position=4, done=4)
    return job


def _export_with_file(owner: Any) -> Job:
    name = f"orders-ownership-{owner.pk}.jsonl"
    root = Path(settings.EXPORT_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    (root / name).write_text('{"partition":0,"offset":0}\n')
    job = Job.objects.create(
        kind=Job.Kind.EXPORT,
        cluster="local",
        topic="orders",
        status=Job.Status.SUCCEEDED,
        params={"format": "jsonl", "filter": FILTER, "masked": False},
        result={"masked": False},
        created_by=owner,
        file_name=name,
        file_size=(root / name).stat().st_size,
    )
    JobPartition.objects.create(job=job, partition=0, start_offset=0, end_offset=1, position=1, done=1, status="done")
    return job


def test_only_the_owner_or_an_admin_cancels_or_retries_a_job(people: dict[str, Any]) -> None:
    job = _replay(people["owner"])
    refused = _api(people["operator"]).post(f"/api/jobs/{job.pk}/cancel/")
    assert refused.status_code == 403
    assert f"started by {people['owner'].username}" in refused.json()["error"]
    assert Job.objects.get(pk=job.pk).cancel_requested is False
    assert AuditEntry.objects.filter(result=AuditEntry.Result.DENIED, username=people["operator"].username).exists()
    page = Client()
    page.force_login(people["operator"])
    page.post(f"/jobs/{job.pk}/cancel/")
    assert Job.objects.get(pk=job.pk).cancel_requested is False
    assert _api(people["owner"]).post(f"/api/jobs/{job.pk}/cancel/").status_code == 200

    failed = _replay(people["owner"], status=Job.Status.FAILED)
    assert _api(people["operator"]).post(f"/api/jobs/{failed.pk}/retry/").status_code == 403
    assert Job.objects.get(pk=failed.pk).status == Job.Status.FAILED
    assert _api(people["admin"]).post(f"/api/jobs/{failed.pk}/cancel/").status_code == 409  # failed: nothing to cancel
    assert _api(people["admin"]).post(f"/api/jobs/{failed.pk}/retry/").status_code == 200


def test_others_see_that_a_job_exists_and_its_progress_but_not_its_filter_or_target(people: dict[str, Any]) -> None:
    job = _replay(people["owner"])
    for who in ("operator", "reader", "viewer"):
        body = _api(people[who]).get(f"/api/jobs/{job.pk}/").json()
        assert body["private"] is True and body["progress"]["events_done"] == 4, who
        assert FILTER not in json.dumps(body) and "secret-target" not in json.dumps(body), who
        listed = next(j for j in _api(people[who]).get("/api/jobs/").json()["results"] if j["id"] == job.pk)
        assert FILTER not in json.dumps(listed) and "secret-target" not in json.dumps(listed), who
        client = Client()
        client.force_login(people[who])
        for path in (f"/jobs/{job.pk}/", "/jobs/"):
            html = client.get(path).content.decode()
            assert "customer.email" not in html and "secret-target" not in html, (who, path)
    for who in ("owner", "admin"):
        body = _api(people[who]).get(f"/api/jobs/{job.pk}/").json()
        assert body["private"] is False and body["params"]["filter"] == FILTER
        assert body["params"]["target_topic"] == "secret-target"


def test_only_the_owner_or_an_admin_downloads_an_export(people: dict[str, Any]) -> None:
    owner = people["reader"]  # a reader now: an operator when they started it
    job = _export_with_file(owner)
    assert _api(people["operator"]).get(f"/api/jobs/{job.pk}/download/").status_code == 403
    assert _api(people["viewer"]).get(f"/api/jobs/{job.pk}/download/").status_code == 403
    for who in (owner, people["admin"]):
        response = _api(who).get(f"/api/jobs/{job.pk}/download/")
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == b'{"partition":0,"offset":0}\n'
    downloads = AuditEntry.objects.filter(action="job.export.download", target__startswith=f"job {job.pk}")
    assert sorted(downloads.values_list("username", flat=True)) == sorted([owner.username, people["admin"].username])
    page = Client()
    page.force_login(people["operator"])
    assert 'id="download"' not in page.get(f"/jobs/{job.pk}/").content.decode()


def test_the_progress_socket_hides_the_filter_from_others(live_url: str, people: dict[str, Any]) -> None:
    job = _replay(people["owner"])

    def first(user: Any) -> dict[str, Any]:
        client = Client()
        client.force_login(user)
        headers = {"Cookie": f"sessionid={client.cookies['sessionid'].value}", "Origin": live_url}
        url = live_url.replace("http://", "ws://") + f"/ws/jobs/{job.pk}/"
        with connect(url, additional_headers=headers, open_timeout=10) as ws:
            return dict(json.loads(ws.recv(timeout=10))["job"])

    other = first(people["viewer"])
    assert other["private"] is True and FILTER not in json.dumps(other) and "secret-target" not in json.dumps(other)
    assert first(people["owner"])["params"]["filter"] == FILTER
