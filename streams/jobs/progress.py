"""A job as the API, the pages and the progress websocket show it."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from backbone_admin.models import Role
from backbone_admin.roles import has_topic_role
from streams.jobs.models import Job, JobPartition


def _percent(read: int, total: int, finished: bool) -> float:
    if total <= 0:
        return 100.0 if finished else 0.0
    return round(min(100.0, 100.0 * read / total), 1)


def partition_payload(part: JobPartition) -> dict[str, Any]:
    finished = part.status == JobPartition.Status.DONE
    remaining = max(0, part.end_offset - max(part.position, part.start_offset))
    running = part.status == JobPartition.Status.RUNNING
    return {
        "partition": part.partition,
        "status": part.status,
        "start": part.start_offset,
        "end": part.end_offset,
        "position": part.position,
        "total": part.total,
        "read": part.read,
        "done": part.done,
        "skipped": part.skipped,
        "lost": part.lost,
        "gaps": part.gaps,
        "bytes": part.bytes_done,
        "percent": _percent(part.read, part.total, finished),
        "rate": round(part.rate, 1) if running else 0.0,
        "eta_seconds": round(remaining / part.rate) if running and part.rate > 0 else None,
        "error": part.error,
    }


# What only the job's owner and admins see: a filter can hold customer data (`email == "..."`), and
# where the events went is theirs to know. Everyone else with a role on the cluster sees that the
# job exists, its range, status and progress.
PRIVATE_PARAMS = ("filter", "target_cluster", "target_topic", "target_configs")
PRIVATE_RESULT = ("target",)
HIDDEN = "(hidden: visible to the job's owner and admins)"


def private_view(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as someone other than the owner or an admin sees it."""
    params = {k: (HIDDEN if k in PRIVATE_PARAMS and v not in (None, "") else v) for k, v in payload["params"].items()}
    result = {k: (HIDDEN if k in PRIVATE_RESULT else v) for k, v in payload["result"].items()}
    return {**payload, "params": params, "result": result, "private": True}


def sees_all(user: Any, job: Job) -> bool:
    """Whether the user is the job's owner or an admin of its source topic."""
    return bool(job.created_by_id is not None and job.created_by_id == getattr(user, "pk", None)) or has_topic_role(
        user, job.cluster, job.topic, Role.ADMIN
    )


def job_payload_for(user: Any, job: Job, partitions: list[JobPartition] | None = None) -> dict[str, Any]:
    """The job as this user may see it (see PRIVATE_PARAMS)."""
    payload = job_payload(job, partitions)
    return payload if sees_all(user, job) else private_view(payload)


def _duration_seconds(job: Job) -> float | None:
    """How long a finished job ran, from its start to its end; None while it runs or if it never started."""
    if not job.finished or job.started_at is None or job.finished_at is None:
        return None
    return max(0.0, (job.finished_at - job.started_at).total_seconds())


def job_payload(job: Job, partitions: list[JobPartition] | None = None) -> dict[str, Any]:
    parts = partitions if partitions is not None else list(job.partitions.all())
    rows = [partition_payload(p) for p in parts]
    total = sum(r["total"] for r in rows)
    read = sum(r["read"] for r in rows)
    rate = sum(r["rate"] for r in rows)
    remaining = max(0, total - read)
    etas = [r["eta_seconds"] for r in rows if r["eta_seconds"] is not None]
    # A finished job's live rate is 0: what a person wants then is how long it took and how fast on average.
    duration = _duration_seconds(job)
    return {
        "id": job.pk,
        "kind": job.kind,
        "status": job.status,
        "status_label": job.get_status_display().lower(),
        "cluster": job.cluster,
        "topic": job.topic,
        "params": job.params,
        "created_by": job.created_by.get_username() if job.created_by else None,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at and job.finished else None,
        "cancel_requested": job.cancel_requested,
        "private": False,
        "attempts": job.attempts,
        "progress": {
            "events_total": total,
            "events_read": read,
            "events_done": sum(r["done"] for r in rows),
            "events_skipped": sum(r["skipped"] for r in rows),
            "offsets_lost": sum(r["lost"] for r in rows),
            "bytes_done": sum(r["bytes"] for r in rows),
            "percent": _percent(read, total, job.status in Job.COMPLETED),
            "rate": round(rate, 1),
            "eta_seconds": max(etas) if etas else (None if remaining else 0),
            "duration_seconds": round(duration, 3) if duration is not None else None,
            "average_rate": round(read / duration, 1) if duration else None,
            "partitions": rows,
        },
        "result": job.result,
        "error": job.error,
        "file": {
            "name": job.file_name.rsplit("/", 1)[-1],
            "size": job.file_size,
            "sha256": job.file_sha256,
            "expires_at": job.expires_at.isoformat() if job.expires_at else None,
            "download": reverse("api-job-download", kwargs={"job_id": job.pk}),
        }
        if job.downloadable
        else None,
    }
