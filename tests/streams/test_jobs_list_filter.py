"""The jobs list narrowed by status and cluster, as the overview's failed-jobs tile links to it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.utils import timezone

from backbone_admin.models import Role
from streams.jobs.models import Job

pytestmark = pytest.mark.django_db


def _job(status: str, topic: str) -> Job:
    return Job.objects.create(
        kind=Job.Kind.EXPORT, status=status, cluster="local", topic=topic, finished_at=timezone.now()
    )


def test_the_list_shows_only_the_failed_jobs_of_the_cluster(client_as: Any, clusters_file: Any) -> None:
    clusters_file("clusters:\n  - name: local\n    bootstrap_servers: 127.0.0.1:1\n")
    failed, done = _job(Job.Status.FAILED, "jl-failed"), _job(Job.Status.SUCCEEDED, "jl-done")
    client = client_as(Role.VIEWER)

    page = client.get("/jobs/", {"status": "failed", "cluster": "local"}).content.decode()
    assert f"#{failed.pk}<" in page and f"#{done.pk}<" not in page
    assert '<option value="failed" selected>' in page and "all jobs" in page
    # The header's cluster switcher still lists the clusters (the filter's own list has another name).
    assert re.search(r'id="cluster-switch"[^>]*>\s*<option value="local"', page)

    page = client.get("/jobs/").content.decode()
    assert f"#{failed.pk}<" in page and f"#{done.pk}<" in page


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ({"status": "exploded"}, "There is no job status “exploded”"),
        ({"cluster": "elsewhere"}, "no cluster “elsewhere”"),
    ],
)
def test_an_unknown_status_or_cluster_is_a_clear_400(
    client_as: Any, clusters_file: Any, query: dict[str, str], said: str
) -> None:
    clusters_file("clusters:\n  - name: local\n    bootstrap_servers: 127.0.0.1:1\n")
    _job(Job.Status.FAILED, "jl-any")
    response = client_as(Role.VIEWER).get("/jobs/", query)
    assert response.status_code == 400
    page = response.content.decode()
    assert said in page and "jl-any" not in page
