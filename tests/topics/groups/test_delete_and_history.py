"""Deleting groups (admin, empty only) and lag history (the beat task run by a real worker)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from backbone_admin.models import AuditEntry
from topics.groups import history
from topics.groups.charts import sparkline
from topics.models import LagSample


@pytest.mark.django_db
def test_an_admin_deletes_an_empty_group(
    api_as: Any,
    prefix: str,
    make_topic: Callable[..., str],
    commit: Callable[..., None],
    committed: Callable[[str], dict[tuple[str, int], int]],
) -> None:
    topic = make_topic(f"{prefix}.d", [2])
    group = f"{prefix}-old"
    commit(group, {(topic, 0): 1})

    assert api_as("operator").delete(f"/api/clusters/local/groups/{group}/").status_code == 403
    assert committed(group) == {(topic, 0): 1}

    response = api_as("admin").delete(f"/api/clusters/local/groups/{group}/")

    assert response.status_code == 204, response.content
    assert committed(group) == {}
    assert api_as("viewer").get(f"/api/clusters/local/groups/{group}/").status_code == 404
    entry = AuditEntry.objects.get(action="group.delete", target=group)
    assert entry.result == AuditEntry.Result.OK and entry.before["offsets"] == {topic: {"0": 1}}


@pytest.mark.django_db
def test_deleting_an_active_group_is_409_and_keeps_it(
    api_as: Any,
    client_as: Any,
    prefix: str,
    make_topic: Callable[..., str],
    commit: Callable[..., None],
    joined: Callable[[str, str], Any],
    committed: Callable[[str], dict[tuple[str, int], int]],
) -> None:
    # Kafka refuses this itself; the test broker would delete the group: the console checks first.
    topic = make_topic(f"{prefix}.a", [1])
    group = f"{prefix}-busy"
    commit(group, {(topic, 0): 1})
    joined(group, topic)

    response = api_as("admin").delete(f"/api/clusters/local/groups/{group}/")

    assert response.status_code == 409
    assert (
        "is active" in response.json()["error"] and "stop its consumers before deleting it" in response.json()["error"]
    )
    assert committed(group) == {(topic, 0): 1}
    page = client_as("admin").post(f"/clusters/local/groups/{group}/delete/", {"confirm": group}, follow=True)
    assert "is active" in page.content.decode()
    assert committed(group) == {(topic, 0): 1}


@pytest.mark.django_db
def test_the_delete_form_needs_the_group_id_typed(
    client_as: Any,
    prefix: str,
    make_topic: Callable[..., str],
    commit: Callable[..., None],
    committed: Callable[[str], dict[tuple[str, int], int]],
) -> None:
    topic = make_topic(f"{prefix}.f", [1])
    group = f"{prefix}-form"
    commit(group, {(topic, 0): 1})
    admin = client_as("admin")
    assert "Delete the group" in admin.get(f"/clusters/local/groups/{group}/").content.decode()

    admin.post(f"/clusters/local/groups/{group}/delete/", {"confirm": "wrong"})
    assert committed(group) == {(topic, 0): 1}
    done = admin.post(f"/clusters/local/groups/{group}/delete/", {"confirm": group})
    assert done.status_code == 302 and done["Location"] == "/clusters/local/groups/"
    assert committed(group) == {}


@pytest.mark.django_db(transaction=True)
def test_the_sampling_task_run_by_a_worker_writes_samples_and_prunes_old_ones(
    celery_worker: Any, prefix: str, make_topic: Callable[..., str], commit: Callable[..., None]
) -> None:
    from topics.groups.tasks import sample_lag

    topic = make_topic(f"{prefix}.s", [5, 2])
    group = f"{prefix}-sampled"
    commit(group, {(topic, 0): 1, (topic, 1): 2})
    stale = LagSample.objects.create(
        cluster="local", group=group, sampled_at=timezone.now() - timedelta(days=8), total_lag=99, topics={}
    )
    kept = LagSample.objects.create(
        cluster="local", group=group, sampled_at=timezone.now() - timedelta(days=6), total_lag=50, topics={}
    )

    sample_lag.delay()

    deadline = time.monotonic() + 30
    while not LagSample.objects.filter(group=group, sampled_at__gt=kept.sampled_at).exists():
        assert time.monotonic() < deadline, "the worker wrote no sample (see test-output/celery-worker.log)"
        time.sleep(0.2)
    sample = LagSample.objects.filter(group=group).latest("sampled_at")
    assert sample.cluster == "local" and sample.total_lag == 4 and sample.topics == {topic: 4}
    deadline = time.monotonic() + 10
    while LagSample.objects.filter(pk=stale.pk).exists():
        assert time.monotonic() < deadline, "the sample older than LAG_HISTORY_DAYS was not pruned"
        time.sleep(0.2)
    assert LagSample.objects.filter(pk=kept.pk).exists()


@pytest.mark.django_db
def test_history_feeds_the_sparkline_and_the_chart(
    api_as: Any, client_as: Any, prefix: str, make_topic: Callable[..., str], commit: Callable[..., None]
) -> None:
    topic = make_topic(f"{prefix}.h", [3])
    group = f"{prefix}-hist"
    commit(group, {(topic, 0): 1})
    now = timezone.now()
    for minutes, lag in ((50, 10), (30, 40), (10, 20), (2, 2)):
        LagSample.objects.create(
            cluster="local",
            group=group,
            sampled_at=now - timedelta(minutes=minutes),
            total_lag=lag,
            topics={topic: lag},
        )
    LagSample.objects.create(cluster="local", group=group, sampled_at=now - timedelta(hours=3), total_lag=7, topics={})

    body = api_as("viewer").get(f"/api/clusters/local/groups/{group}/").json()
    assert [s["lag"] for s in body["lag_history"]["samples"]] == [10, 40, 20, 2]
    day = api_as("viewer").get(f"/api/clusters/local/groups/{group}/", {"history": "24h"}).json()
    assert [s["lag"] for s in day["lag_history"]["samples"]] == [7, 10, 40, 20, 2]
    assert api_as("viewer").get(f"/api/clusters/local/groups/{group}/", {"history": "1y"}).status_code == 400

    listed = api_as("viewer").get("/api/clusters/local/groups/", {"search": group, "refresh": 1}).json()
    assert listed["results"][0]["lag_trend"] == [10, 40, 20, 2]
    html = client_as("viewer").get(f"/clusters/local/groups/?search={group}").content.decode()
    assert '"spark": [10, 40, 20, 2]' in html  # the sparkline's data, drawn by charts.js
    detail = client_as("viewer").get(f"/clusters/local/groups/{group}/").content.decode()
    assert 'aria-label="total lag over the last 1h"' in detail and "at most 40 events" in detail


def test_history_downsampling_keeps_peaks() -> None:
    start = timezone.now()
    points = [(start + timedelta(seconds=i), i % 7) for i in range(1000)]
    points[500] = (points[500][0], 1000)
    reduced = history._downsample(points, start, 1000, 50)
    assert len(reduced) == 50 and max(v or 0 for _, v in reduced) == 1000
    assert sparkline("s", [None, 5], "events", "lag") is None
    drawn = sparkline("s", [0, 10], "events", "lag")
    assert drawn is not None and drawn.data["spark"] == [0, 10]
    assert drawn.summary == "lag: 0 events to 10 events, at most 10 events"
