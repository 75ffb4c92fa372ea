"""Celery tasks of jobs: thin, they take ids and call the runner.

`acks_late` + `reject_on_worker_lost`: a task whose worker is killed stays in the queue and
is delivered again. A worker that starts also requeues every job left running (its worker may
have died): the partitions' leases make sure only one worker works on a partition at a time.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings

from streams.jobs import runner
from streams.jobs.models import Job, JobPartition

log = logging.getLogger("backbone.jobs")
# A partition task waits this often for a lease held by another worker (or a cluster outage)
# before it gives up; the lease expires within JOBS_LEASE_SECONDS of its holder's death.
MAX_RETRIES = 60


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_job(job_id: int) -> int:
    """Start the job: one subtask per partition still to do, so more workers go faster."""
    pending = runner.job_dispatch(job_id)
    for partition in pending:
        run_partition.apply_async((job_id, partition), queue=settings.JOBS_QUEUE)
    return len(pending)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True, max_retries=MAX_RETRIES)
def run_partition(self: Any, job_id: int, partition: int) -> str:
    owner = f"{socket.gethostname()}:{os.getpid()}:{self.request.id}"
    outcome = runner.partition_run(job_id, partition, owner)
    if outcome.resume_in is not None:
        # A new task, not a retry: a paused or waiting partition is not failing.
        run_partition.apply_async((job_id, partition), countdown=max(0.5, outcome.resume_in), queue=settings.JOBS_QUEUE)
        return outcome.state
    if outcome.retry_in is not None:
        if self.request.retries >= MAX_RETRIES:
            runner.fail_partition(job_id, partition, f"gave up after {MAX_RETRIES} tries: {outcome.state}")
            return "failed"
        raise self.retry(countdown=max(1.0, outcome.retry_in))
    return outcome.state


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def finish_job(job_id: int) -> None:
    runner.job_finish(job_id, force=True)


@shared_task(ignore_result=True)
def expire_exports() -> int:
    """Delete export files older than EXPORT_DAYS."""
    from streams.jobs.export import export_expire

    expired = list(Job.objects.expired_exports())
    for job in expired:
        export_expire(job)
    return len(expired)


def requeue_left_running() -> int:
    """Send again the partitions of every job left running (by a worker that may be dead)."""
    count = 0
    for job in Job.objects.filter(status=Job.Status.RUNNING):
        pending = job.partitions.filter(status__in=[JobPartition.Status.PENDING, JobPartition.Status.RUNNING])
        partitions = list(pending.values_list("partition", flat=True))
        if not partitions:
            finish_job.apply_async((job.pk,), queue=settings.JOBS_QUEUE)
        for partition in partitions:
            run_partition.apply_async((job.pk, partition), queue=settings.JOBS_QUEUE)
            count += 1
    return count


@worker_ready.connect
def _requeue_on_start(**kwargs: Any) -> None:
    try:
        count = requeue_left_running()
    except Exception:  # a worker starts even when the database is not there yet
        log.exception("could not requeue the jobs left running")
        return
    if count:
        log.info("requeued %d partition(s) of jobs left running", count)
