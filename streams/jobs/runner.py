"""Running a job's partitions: leases, checkpoints, progress, cancel and the end of a job.

A partition is worked on by whoever holds its lease (renewed at every checkpoint); a task
that finds the lease held by a live worker waits and tries again, one that finds it expired
(its worker was killed) takes over and resumes from the checkpoint. The last partition to
finish finishes the job (exactly once, by a conditional update).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from backbone_admin import audit, broadcast
from backbone_admin.kafka.errors import BackboneError, ClusterUnavailable
from backbone_admin.kafka.transactions import ProducerFenced
from backbone_admin.models import AuditEntry
from streams.jobs import gaps
from streams.jobs.models import Job, JobPartition
from streams.jobs.progress import job_payload

log = logging.getLogger("backbone.jobs")


class Cancelled(Exception):
    """The job was cancelled: stop at once, leaving nothing half-done behind."""


class Paused(Exception):
    """The partition has nothing to do for `seconds` (a rate limit): give the worker back until then."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"paused for {seconds:.1f} s")
        self.seconds = seconds


@dataclass
class Outcome:
    """What the task should do next: nothing, try again after `retry_in` seconds (a retry), or run
    again after `resume_in` seconds (not a retry: paused by a rate limit, or waiting for a fair share)."""

    state: str
    retry_in: float | None = None
    resume_in: float | None = None


class Context:
    """Handed to the replay or export loop: saves checkpoints, renews the lease, sees a cancel."""

    def __init__(self, job: Job, part: JobPartition, owner: str) -> None:
        self.job = job
        self.part = part
        self.owner = owner
        self._rate_mark = (time.monotonic(), part.position)

    def checkpoint(
        self,
        *,
        position: int,
        done: int,
        skipped: int,
        bytes_done: int,
        checkpoint: dict[str, int] | None = None,
    ) -> None:
        """Record progress (and, for a replay, the confirmed state after a commit); raise Cancelled."""
        now = time.monotonic()
        mark_time, mark_position = self._rate_mark
        rate = (position - mark_position) / (now - mark_time) if now > mark_time else 0.0
        if now - mark_time >= 1.0:
            self._rate_mark = (now, position)
        changes: dict[str, Any] = {
            "position": position,
            "done": done,
            "skipped": skipped,
            "bytes_done": bytes_done,
            "rate": max(0.0, rate),
            "lease_until": _lease_end(),
            "updated_at": timezone.now(),
        }
        if checkpoint is not None:
            changes["checkpoint"] = checkpoint
        updated = JobPartition.objects.filter(pk=self.part.pk, lease_owner=self.owner).update(**changes)
        for name, value in changes.items():
            setattr(self.part, name, value)
        if not updated:
            # Another worker took the partition over (this one was presumed dead): stop here.
            raise ProducerFenced(f"job {self.job.pk} partition {self.part.partition} was taken over by another worker")
        publish(self.job.pk)
        if Job.objects.filter(pk=self.job.pk, cancel_requested=True).exists():
            raise Cancelled()

    def record_gap(self, first: int, end: int) -> None:
        """Save at once that offsets [first, end) were deleted before this job read them."""
        from streams.jobs.gaps import merged

        self.set_gaps(merged(self.part.gaps, first, end))
        log.warning(
            "job %s partition %s: offsets %s-%s were deleted by the broker before the job read them",
            self.job.pk,
            self.part.partition,
            first,
            end - 1,
        )

    def set_gaps(self, gaps: list[list[int]]) -> None:
        updated = JobPartition.objects.filter(pk=self.part.pk, lease_owner=self.owner).update(gaps=gaps)
        if not updated:
            raise ProducerFenced(f"job {self.job.pk} partition {self.part.partition} was taken over by another worker")
        self.part.gaps = gaps
        publish(self.job.pk)

    def keep_alive(self) -> None:
        """Renew the lease during a long wait (a slow rate limit, a long scan); raise Cancelled."""
        JobPartition.objects.filter(pk=self.part.pk, lease_owner=self.owner).update(lease_until=_lease_end())
        if Job.objects.filter(pk=self.job.pk, cancel_requested=True).exists():
            raise Cancelled()


def _lease_end() -> Any:
    return timezone.now() + timedelta(seconds=settings.JOBS_LEASE_SECONDS)


def publish(job_id: int) -> None:
    """Push the job's state to its open pages; a missing channel layer never stops a job."""
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        return
    try:
        broadcast.job_progress(job_id, job_payload(job))
    except Exception as exc:  # noqa: BLE001 - progress is best effort; the page also reloads it
        log.warning("job %s: progress not pushed: %s", job_id, exc)


def job_dispatch(job_id: int) -> list[int]:
    """Mark the job running and return the partitions still to do."""
    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.finished:
        return []
    Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(
        status=Job.Status.RUNNING, started_at=timezone.now(), attempts=F("attempts") + 1
    )
    pending = list(
        job.partitions.exclude(
            status__in=[JobPartition.Status.DONE, JobPartition.Status.FAILED, JobPartition.Status.CANCELLED]
        ).values_list("partition", flat=True)
    )
    publish(job_id)
    if not pending:
        job_finish(job_id)
    return pending


PAUSED = "(paused)"
FAIR_SHARE_WAIT = 2.0


def _over_fair_share(part: JobPartition) -> bool:
    """Whether this partition must let someone else's go first: its owner already has a partition
    running, and another user's partitions wait with none of theirs running.

    Workers take partitions first come, first served: one user's many partitions (or long jobs)
    would otherwise hold every worker while others get none. A deferred partition goes to the
    back of the queue, behind the starved user's.
    """
    owner = part.job.created_by_id
    now = timezone.now()
    active = Q(job__status__in=[Job.Status.QUEUED, Job.Status.RUNNING], job__cancel_requested=False)
    running = JobPartition.objects.filter(active, status=JobPartition.Status.RUNNING, lease_until__gt=now)
    owners = set(running.exclude(pk=part.pk).values_list("job__created_by_id", flat=True))
    if owner not in owners:
        return False
    # Paused partitions (a rate limit) hold a lease into the future: they are not waiting for a worker.
    waiting = JobPartition.objects.filter(active, status=JobPartition.Status.PENDING).exclude(lease_until__gt=now)
    others = waiting.exclude(job__created_by_id__in=[o for o in owners if o is not None])
    return others.exclude(job__created_by_id=None).exists()


def _claim(part_id: int, owner: str) -> bool:
    now = timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now) | Q(lease_owner=owner)
    unfinished = Q(status__in=[JobPartition.Status.PENDING, JobPartition.Status.RUNNING])
    return (
        JobPartition.objects.filter(free, unfinished, pk=part_id).update(
            lease_owner=owner, lease_until=_lease_end(), status=JobPartition.Status.RUNNING, started_at=now
        )
        == 1
    )


def partition_run(job_id: int, partition: int, owner: str) -> Outcome:
    """Work on one partition of a job until it is done, failed, cancelled or taken over."""
    part = JobPartition.objects.select_related("job").filter(job_id=job_id, partition=partition).first()
    if part is None or part.finished or part.job.finished:
        return Outcome("nothing to do")
    if part.lease_owner and part.lease_owner != owner and part.lease_until and part.lease_until > timezone.now():
        return Outcome("busy", retry_in=(part.lease_until - timezone.now()).total_seconds() + 1)
    # A run that picks up where another ended without settling (its worker died) or that tries
    # again after the cluster was unavailable is one more attempt of the job.
    resumed = (part.status == JobPartition.Status.RUNNING and part.lease_owner != owner) or (
        part.status == JobPartition.Status.PENDING and bool(part.error)
    )
    if _over_fair_share(part):
        return Outcome("waiting for a fair share", resume_in=FAIR_SHARE_WAIT)
    if not _claim(part.pk, owner):
        return Outcome("busy", retry_in=float(settings.JOBS_LEASE_SECONDS))
    if resumed:
        Job.objects.filter(pk=job_id).update(attempts=F("attempts") + 1)
    part.refresh_from_db()
    job = part.job
    if job.status == Job.Status.QUEUED:
        Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED).update(
            status=Job.Status.RUNNING, started_at=timezone.now()
        )
    context = Context(job, part, owner)
    try:
        if job.cancel_requested:
            raise Cancelled()
        _work(job, part, context)
    except Cancelled:
        _settle(part, owner, JobPartition.Status.CANCELLED)
    except ProducerFenced as exc:
        log.info("job %s partition %s: %s", job_id, partition, exc)
        return Outcome("taken over")
    except Paused as exc:
        # Nobody claims it before it is due: its lease names no worker and ends then.
        until = timezone.now() + timedelta(seconds=exc.seconds)
        JobPartition.objects.filter(pk=part.pk, lease_owner=owner).update(
            status=JobPartition.Status.PENDING, lease_owner=PAUSED, lease_until=until, updated_at=timezone.now()
        )
        publish(job_id)
        return Outcome("paused", resume_in=exc.seconds)
    except ClusterUnavailable as exc:
        _settle(part, owner, JobPartition.Status.PENDING, error=exc.message)
        return Outcome("cluster unavailable", retry_in=10.0)
    except BackboneError as exc:
        _settle(part, owner, JobPartition.Status.FAILED, error=exc.message)
    except Exception as exc:
        log.exception("job %s partition %s failed", job_id, partition)
        _settle(part, owner, JobPartition.Status.FAILED, error=f"{type(exc).__name__}: {exc}")
    else:
        _settle(part, owner, JobPartition.Status.DONE)
    job_finish(job_id)
    return Outcome(part.status)


def _work(job: Job, part: JobPartition, context: Context) -> None:
    # Imported here: the runners pull in the Kafka gateway, which the web process needs only lazily.
    if job.kind == Job.Kind.REPLAY:
        from streams.jobs.replay import replay_partition

        replay_partition(job, part, context)
    else:
        from streams.jobs.export import export_partition

        export_partition(job, part, context)


def _settle(part: JobPartition, owner: str, status: str, *, error: str = "") -> None:
    JobPartition.objects.filter(pk=part.pk, lease_owner=owner).update(
        status=status, error=error, lease_owner="", lease_until=None, updated_at=timezone.now()
    )
    part.status = status
    publish(part.job_id)


def fail_partition(job_id: int, partition: int, message: str) -> None:
    """A partition whose task gave up (retries exhausted): failed, and the job finished if it was the last."""
    JobPartition.objects.filter(
        job_id=job_id, partition=partition, status__in=[JobPartition.Status.PENDING, JobPartition.Status.RUNNING]
    ).update(status=JobPartition.Status.FAILED, error=message, lease_owner="", lease_until=None)
    job_finish(job_id)


def job_finish(job_id: int, *, force: bool = False) -> None:
    """Finish the job once every partition has: the caller that wins the conditional update does it."""
    parts = list(JobPartition.objects.filter(job_id=job_id))
    if any(not p.finished for p in parts):
        return
    claimed = Job.objects.filter(pk=job_id, status__in=[Job.Status.QUEUED, Job.Status.RUNNING])
    if not force:
        claimed = claimed.filter(finished_at__isnull=True)
    if not claimed.update(finished_at=timezone.now()):
        return
    job = Job.objects.get(pk=job_id)
    failed = [p for p in parts if p.status == JobPartition.Status.FAILED]
    cancelled = job.cancel_requested or any(p.status == JobPartition.Status.CANCELLED for p in parts)
    totals = {
        "source_events": sum(p.total for p in parts),
        "events_written": sum(p.done for p in parts),
        "events_filtered_out": sum(p.skipped for p in parts),
        "bytes": sum(p.bytes_done for p in parts),
    }
    result: dict[str, Any] = {**job.result, **totals}
    error = ""
    status = Job.Status.SUCCEEDED
    try:
        if job.kind == Job.Kind.EXPORT:
            from streams.jobs.export import export_discard, export_finish

            if failed or cancelled:
                export_discard(job)
            else:
                result.update(export_finish(job, parts))
        elif not (failed or cancelled):
            from streams.jobs.replay import replay_report

            result.update(replay_report(job, parts))
    except BackboneError as exc:
        failed, error = [], exc.message
        status = Job.Status.FAILED
    if failed:
        status = Job.Status.FAILED
        error = "; ".join(f"partition {p.partition}: {p.error}" for p in failed)
    elif cancelled and status != Job.Status.FAILED:
        status = Job.Status.CANCELLED
    lost = gaps.report(parts)
    result.update(lost)
    if lost and status == Job.Status.SUCCEEDED:
        status = Job.Status.COMPLETED_WITH_GAPS
    with transaction.atomic():
        Job.objects.filter(pk=job_id).update(status=status, result=result, error=error, finished_at=timezone.now())
        _audit_end(job, status, result, error)
    publish(job_id)


def _audit_end(job: Job, status: str, result: dict[str, Any], error: str) -> None:
    """The audit row of how a job ended, next to the row of its start: gaps and failures included."""
    outcome: str = AuditEntry.Result.OK
    if status == Job.Status.FAILED:
        outcome = AuditEntry.Result.ERROR
    elif status == Job.Status.COMPLETED_WITH_GAPS:
        outcome = AuditEntry.Result.GAPS
    target = job.topic
    if job.kind == Job.Kind.REPLAY:
        target = f"{job.topic} → {job.target_cluster}/{job.target_topic}"
    kept = ("events_written", "events_filtered_out", "source_events", "offsets_lost", "gaps", "file", "sha256")
    audit.record(
        user=job.created_by,
        action=f"job.{job.kind}.end",
        cluster=job.cluster,
        target=target,
        after={"job": job.pk, "status": status, **{k: result[k] for k in kept if k in result}},
        result=outcome,
        error=error or str(result.get("warning") or ""),
    )
