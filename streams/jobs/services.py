"""Starting, cancelling, retrying and downloading jobs: checked, audited, enqueued after commit."""

from __future__ import annotations

from typing import IO, Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from backbone_admin.audit import audited, record
from backbone_admin.clusters import ClusterConfig, get_cluster
from backbone_admin.kafka import Conflict, InvalidRequest, NotFound, PermissionDenied, TopicNotFound
from backbone_admin.kafka.topics import create_topic, describe_topic
from backbone_admin.models import Role
from backbone_admin.roles import has_role, require_role
from streams.events.masking import masker_for
from streams.jobs.models import Job, JobPartition
from streams.jobs.requests import JobRequest, resolve_range


def job_for_user(user: Any, job_id: int, role: str = Role.VIEWER) -> Job:
    """The job, if the user holds `role` on its source cluster; 404 when they may not even see it."""
    job = Job.objects.select_related("created_by").filter(pk=job_id).first()
    if job is None or not has_role(user, job.cluster, Role.VIEWER):
        raise NotFound(f"there is no job {job_id}")
    require_role(user, job.cluster, role)
    return job


def _check_running_limit(user: Any) -> None:
    limit = settings.JOBS_MAX_RUNNING_PER_USER
    running = list(Job.objects.running_for(user).values_list("pk", flat=True))
    if len(running) >= limit:
        ids = ", ".join(f"#{pk}" for pk in running)
        raise Conflict(
            f"you already have {len(running)} jobs queued or running ({ids}); the limit is {limit}: "
            "wait for one to finish or cancel one"
        )


def job_start(*, user: Any, ask: JobRequest, request: HttpRequest | None = None) -> Job:
    """Check the request against the clusters, then create and enqueue the job (nothing starts on error)."""
    config = require_role(user, ask.cluster, Role.OPERATOR)
    if ask.kind == Job.Kind.REPLAY:
        require_role(user, ask.target_cluster, Role.OPERATOR, change=True)
    _check_running_limit(user)
    source = describe_topic(ask.cluster, ask.topic)
    available = [p.id for p in source.partitions]
    chosen = list(ask.partitions) if ask.partitions else available
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        message = f"topic `{ask.topic}` has partitions 0 to {len(available) - 1}; there is no partition {unknown[0]}"
        raise InvalidRequest(message, fields={"partitions": message})
    ranges, _marks = resolve_range(ask.cluster, ask.topic, chosen, ask.start, ask.end)
    create_target = False
    if ask.kind == Job.Kind.REPLAY:
        create_target = _check_target(ask, len(available), max(chosen))
    params: dict[str, Any] = {
        "start": ask.start.as_json(),
        "end": ask.end.as_json(),
        "partitions": list(ask.partitions) if ask.partitions else None,
        "filter": ask.filter,
    }
    if ask.kind == Job.Kind.REPLAY:
        params.update(
            target_cluster=ask.target_cluster,
            target_topic=ask.target_topic,
            rate_limit=ask.rate_limit,
            partition_mapping=ask.mapping,
            keep_timestamps=ask.keep_timestamps,
            target_created=create_target,
        )
    else:
        # Decided once, by the creator's role now: below admin, the file holds masked contents.
        masked = masker_for(config) is not None and not has_role(user, ask.cluster, Role.ADMIN)
        params.update(format=ask.format, compression=ask.compression, masked=masked)
    target = f"{ask.topic} → {ask.target_cluster}/{ask.target_topic}" if ask.kind == Job.Kind.REPLAY else ask.topic
    with audited(
        user=user, action=f"job.{ask.kind}.start", cluster=ask.cluster, target=target, request=request
    ) as change:
        if create_target:
            create_topic(
                ask.target_cluster,
                ask.target_topic,
                partitions=len(available),
                replication_factor=source.replication_factor or 1,
            )
        with transaction.atomic():
            job = Job.objects.create(
                kind=ask.kind, cluster=ask.cluster, topic=ask.topic, params=params, created_by=user
            )
            JobPartition.objects.bulk_create(
                JobPartition(job=job, partition=p, start_offset=first, end_offset=last, position=first)
                for p, (first, last) in sorted(ranges.items())
            )
            transaction.on_commit(lambda: _enqueue(job.pk))
        change.after = {"job": job.pk, **params, "events": sum(last - first for first, last in ranges.values())}
    return job


def _check_target(ask: JobRequest, source_partitions: int, highest: int) -> bool:
    """Whether the target must be created (only when the request confirms it); 400 otherwise."""
    try:
        target = describe_topic(ask.target_cluster, ask.target_topic)
    except TopicNotFound:
        if not ask.create_target:
            message = (
                f"topic `{ask.target_topic}` does not exist on cluster `{ask.target_cluster}`: confirm "
                f"(create_target) to create it with the source's {source_partitions} partitions"
            )
            raise InvalidRequest(message, fields={"target_topic": message, "create_target": message}) from None
        return True
    if ask.mapping == "same" and len(target.partitions) <= highest:
        message = (
            f"topic `{ask.target_topic}` has {len(target.partitions)} partitions, fewer than the source's "
            f"partition {highest}: map partitions by key instead"
        )
        raise InvalidRequest(message, fields={"partition_mapping": message})
    return False


def _enqueue(job_id: int) -> None:
    from streams.jobs.tasks import run_job

    run_job.apply_async((job_id,), queue=settings.JOBS_QUEUE)


def job_cancel(*, user: Any, job: Job, request: HttpRequest | None = None) -> Job:
    """Ask the job to stop; partitions not yet started stop now, running ones at their next checkpoint."""
    require_role(user, job.cluster, Role.OPERATOR)
    with audited(
        user=user, action=f"job.{job.kind}.cancel", cluster=job.cluster, target=f"job {job.pk}", request=request
    ) as change:
        updated = Job.objects.filter(pk=job.pk, status__in=[Job.Status.QUEUED, Job.Status.RUNNING]).update(
            cancel_requested=True
        )
        if not updated:
            job.refresh_from_db()
            raise Conflict(f"job {job.pk} has already {job.status}: there is nothing to cancel")
        now = timezone.now()
        idle = JobPartition.objects.filter(job=job, status=JobPartition.Status.PENDING).exclude(lease_until__gt=now)
        idle.update(status=JobPartition.Status.CANCELLED)
        change.after = {"cancel_requested": True}
    from streams.jobs.runner import job_finish, publish

    job_finish(job.pk)
    publish(job.pk)
    job.refresh_from_db()
    return job


def job_retry(*, user: Any, job: Job, request: HttpRequest | None = None) -> Job:
    """Run a failed job again: a replay resumes from its checkpoints, an export redoes what failed."""
    require_role(user, job.cluster, Role.OPERATOR)
    if job.kind == Job.Kind.REPLAY:
        require_role(user, job.target_cluster, Role.OPERATOR, change=True)
    if job.status != Job.Status.FAILED:
        raise Conflict(f"job {job.pk} is {job.status}: only a failed job can be retried")
    _check_running_limit(user)
    with audited(
        user=user, action=f"job.{job.kind}.retry", cluster=job.cluster, target=f"job {job.pk}", request=request
    ) as change:
        with transaction.atomic():
            restart = [JobPartition.Status.FAILED, JobPartition.Status.CANCELLED]
            if job.kind == Job.Kind.EXPORT:
                restart.append(JobPartition.Status.DONE)  # the parts were removed when it failed
            job.partitions.filter(status__in=restart).update(status=JobPartition.Status.PENDING, error="")
            Job.objects.filter(pk=job.pk).update(
                status=Job.Status.QUEUED, error="", finished_at=None, cancel_requested=False
            )
            transaction.on_commit(lambda: _enqueue(job.pk))
        change.after = {"status": Job.Status.QUEUED}
    job.refresh_from_db()
    return job


def download_role(job: Job, config: ClusterConfig | None = None) -> str:
    """Reader for a masked file or a cluster without masking rules; admin for unmasked contents under rules."""
    config = config or get_cluster(job.cluster)
    if config is None or job.result.get("masked") or masker_for(config) is None:
        return Role.READER
    return Role.ADMIN


def may_download(user: Any, job: Job) -> bool:
    return has_role(user, job.cluster, download_role(job))


def job_download(*, user: Any, job: Job, request: HttpRequest | None = None) -> tuple[IO[bytes], str, int]:
    """The finished export's file (open), its name and size; reader role on the source, audited."""
    config = require_role(user, job.cluster, Role.READER)
    if job.kind != Job.Kind.EXPORT:
        raise InvalidRequest(f"job {job.pk} is a {job.kind}: only exports have a file")
    if download_role(job, config) == Role.ADMIN and not has_role(user, job.cluster, Role.ADMIN):
        # An admin's export of a cluster with masking rules holds the contents unmasked.
        raise PermissionDenied(
            f"export {job.pk} holds unmasked contents (started by an admin): downloading it needs the admin "
            f"role on cluster `{job.cluster}`"
        )
    if not job.downloadable:
        why = (
            "its file has expired"
            if job.result.get("expired_at")
            else f"it is {job.status}; the file is offered once the export has succeeded"
        )
        raise Conflict(f"export {job.pk} cannot be downloaded: {why}")
    from streams.jobs.export import export_storage

    handle = export_storage().open(job.file_name, "rb")
    record(
        user=user,
        action="job.export.download",
        cluster=job.cluster,
        target=f"job {job.pk}: {job.file_name}",
        after={"size": job.file_size, "sha256": job.file_sha256},
        request=request,
    )
    return handle, job.file_name, int(job.file_size or 0)
