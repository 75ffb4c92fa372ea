"""A finished job says how long it took and how fast it went on average; a running one keeps its live rate."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from streams.jobs.models import Job, JobPartition
from streams.jobs.progress import job_payload
from topics.templatetags.console_format import duration_text, rate_text

pytestmark = pytest.mark.django_db


def _job(status: str, *, seconds: float | None, position: int) -> Job:
    started = timezone.now() - timedelta(minutes=10)
    job = Job.objects.create(
        kind=Job.Kind.REPLAY,
        status=status,
        cluster="local",
        topic="orders",
        started_at=started,
        finished_at=started + timedelta(seconds=seconds) if seconds is not None else None,
    )
    JobPartition.objects.create(
        job=job, partition=0, start_offset=0, end_offset=2680, position=position, status="running", rate=12.5
    )
    return job


def test_a_finished_job_has_a_duration_and_an_average_rate() -> None:
    progress = job_payload(_job(Job.Status.SUCCEEDED, seconds=134, position=2680))["progress"]
    assert progress["duration_seconds"] == 134.0
    assert progress["average_rate"] == 20.0  # 2,680 events read in 134 s
    assert (duration_text(progress["duration_seconds"]), rate_text(progress["average_rate"])) == (
        "2 min 14 s",
        "20 events/s",
    )


def test_a_running_job_has_its_live_rate_and_no_duration_yet() -> None:
    progress = job_payload(_job(Job.Status.RUNNING, seconds=None, position=1000))["progress"]
    assert progress["duration_seconds"] is None and progress["average_rate"] is None
    assert progress["rate"] == 12.5 and progress["eta_seconds"] == round(1680 / 12.5)


def test_durations_and_rates_read_as_words() -> None:
    assert [duration_text(s) for s in (0.42, 9.96, 134, 3600, 90061, None)] == [
        "0.4 s",
        "10 s",
        "2 min 14 s",
        "1 h",
        "1 d 1 h",
        "—",
    ]
    assert [rate_text(r) for r in (1234.5, 99.94, 0.0, None)] == ["1,234 events/s", "99.9 events/s", "0 events/s", "—"]
