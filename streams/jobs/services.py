"""Starting, cancelling, retrying and downloading jobs: checked, audited, enqueued after commit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from backbone_admin.access import access_for
from backbone_admin.audit import audited, record
from backbone_admin.clusters import ClusterConfig, all_clusters, get_cluster
from backbone_admin.kafka import (
    Conflict,
    GroupNotFound,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    ReadOnlyCluster,
)
from backbone_admin.kafka.topics import describe_topic
from backbone_admin.kafka.types import TopicMetadata
from backbone_admin.models import Role
from backbone_admin.roles import has_topic_role, require_cluster_visible, require_group_role, require_topic_role
from streams.events.masking import masker_for
from streams.jobs.models import Job, JobPartition
from streams.jobs.preview import ReplayPlan, plan_replay
from streams.jobs.progress import sees_all
from streams.jobs.requests import JobRequest, resolve_range
from streams.jobs.runner import PAUSED
from streams.jobs.storage import check_room
from streams.permissions import job_topics_visible, masked_for, sees_every_topic, topic_roles
from topics.groups.lag import require_group
from topics.services import topic_create


def job_visible(user: Any, job: Job) -> bool:
    """Whether the user sees every topic the job touches (streams.permissions): its owner too."""
    return job_topics_visible(
        topic_roles(user),
        cluster=job.cluster,
        topic=job.topic,
        kind=job.kind,
        target_cluster=job.target_cluster,
        target_topic=job.target_topic,
    )


def visible_jobs(user: Any, clusters: list[str]) -> QuerySet[Job]:
    """The jobs on these clusters the user may see: all of them for someone who sees every topic
    (a replay's target may be on any cluster); otherwise those whose topics the user sees (decided
    in Python, one row of names each)."""
    jobs = Job.objects.on_clusters(clusters)
    if sees_every_topic(user, [c.name for c in all_clusters()]):
        return jobs
    role_of = topic_roles(user)
    rows = jobs.values_list("pk", "cluster", "topic", "kind", "params__target_cluster", "params__target_topic")
    keep = [
        pk
        for pk, cluster, topic, kind, target_cluster, target_topic in rows.iterator(chunk_size=2000)
        if job_topics_visible(
            role_of,
            cluster=cluster,
            topic=topic,
            kind=kind,
            target_cluster=target_cluster,
            target_topic=target_topic,
        )
    ]
    return jobs.filter(pk__in=keep)


def job_for_user(user: Any, job_id: int, role: str = Role.VIEWER) -> Job:
    """The job, if the user holds `role` on its source topic; 404, as for a job that does not
    exist, when they may not see one of its topics."""
    job = Job.objects.select_related("created_by").filter(pk=job_id).first()
    if job is None or not job_visible(user, job):
        raise NotFound(f"there is no job {job_id}")
    require_topic_role(user, job.cluster, job.topic, role)
    return job


def require_target(user: Any, cluster: str, topic: str) -> None:
    """A replay writes to its target: the operator role on that topic (a hidden one is a 404 as a
    missing one) of a writable cluster. A form without a target topic yet: the cluster's checks."""
    if topic:
        require_topic_role(user, cluster, topic, Role.OPERATOR, change=True)
        return
    config = require_cluster_visible(user, cluster)
    if config.read_only:
        raise ReadOnlyCluster(f"cluster `{config.name}` is read-only: changes are refused")


def check_start_group(user: Any, ask: JobRequest) -> None:
    """A start at a consumer group's offsets names the group: one the user may not see is refused
    exactly as a group that does not exist (404 naming `start`), before its offsets are read."""
    if ask.start.kind != "group" or access_for(user).all_groups_visible(ask.cluster):
        return
    try:
        _description, committed = require_group(ask.cluster, ask.start.group)
        require_group_role(user, ask.cluster, ask.start.group, Role.VIEWER, topics={t for t, _ in committed})
    except GroupNotFound as exc:
        raise GroupNotFound(exc.message, fields={"start": exc.message}) from None


def _check_running_limit(user: Any) -> None:
    limit = settings.JOBS_MAX_RUNNING_PER_USER
    running = list(Job.objects.running_for(user).values_list("pk", flat=True))
    if len(running) >= limit:
        ids = ", ".join(f"#{pk}" for pk in running)
        raise Conflict(
            f"you already have {len(running)} jobs queued or running ({ids}); the limit is {limit}: "
            "wait for one to finish or cancel one"
        )


@dataclass
class Prepared:
    """A request checked against the clusters: its source, offsets per partition and, for a replay, its plan."""

    config: ClusterConfig
    source: TopicMetadata
    ranges: dict[int, tuple[int, int]]
    plan: ReplayPlan | None


def _prepare(user: Any, ask: JobRequest, *, preview: bool = False) -> Prepared:
    config = require_topic_role(user, ask.cluster, ask.topic, Role.OPERATOR)
    if ask.kind == Job.Kind.REPLAY:
        require_target(user, ask.target_cluster, ask.target_topic)
        _check_masked_copy(user, config, ask.topic, ask.target_cluster)
    source = describe_topic(ask.cluster, ask.topic)
    check_start_group(user, ask)
    available = [p.id for p in source.partitions]
    chosen = list(ask.partitions) if ask.partitions else available
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        message = f"topic `{ask.topic}` has partitions 0 to {len(available) - 1}; there is no partition {unknown[0]}"
        raise InvalidRequest(message, fields={"partitions": message})
    ranges, _marks = resolve_range(ask.cluster, ask.topic, chosen, ask.start, ask.end)
    plan = None
    if ask.kind == Job.Kind.REPLAY:
        plan = plan_replay(
            source_cluster=ask.cluster,
            source_topic=ask.topic,
            source_partitions=len(available),
            source_replication=source.replication_factor or 1,
            target_cluster=ask.target_cluster,
            target_topic=ask.target_topic,
            ranges=ranges,
            keep_timestamps=ask.keep_timestamps,
            overrides=ask.target_configs,
        )
        _check_target(ask, plan, max(chosen), preview=preview)
    return Prepared(config, source, ranges, plan)


def _check_masked_copy(user: Any, source: ClusterConfig, topic: str, target: str) -> None:
    """Below admin, a replay copies a masked cluster's events only where the same masking rules apply
    (403 otherwise): a copy on a cluster without them would show that user what masking hides."""
    if masker_for(source) is None or not masked_for(user, source.name, topic):
        return
    other = get_cluster(target)
    rules = (source.mask_fields, source.mask_patterns)
    if other is not None and (other.name == source.name or (other.mask_fields, other.mask_patterns) == rules):
        return
    raise PermissionDenied(
        f"events of cluster `{source.name}` are masked for your role: copying them to cluster `{target}`, "
        f"where the same masking rules do not apply, takes the admin role on `{topic}`"
    )


def job_preview(*, user: Any, ask: JobRequest) -> dict[str, Any]:
    """What the job would read and, for a replay, do to its target; nothing is started or created."""
    prepared = _prepare(user, ask, preview=True)
    return {
        "dry_run": True,
        "kind": ask.kind,
        "cluster": ask.cluster,
        "topic": ask.topic,
        "offsets_in_range": sum(last - first for first, last in prepared.ranges.values()),
        "ranges": {str(p): {"start": a, "end": b} for p, (a, b) in sorted(prepared.ranges.items())},
        "replay": prepared.plan.as_dict() if prepared.plan else None,
    }


def job_start(*, user: Any, ask: JobRequest, request: HttpRequest | None = None) -> Job:
    """Check the request against the clusters, then create and enqueue the job (nothing starts on error)."""
    require_topic_role(user, ask.cluster, ask.topic, Role.OPERATOR)
    if ask.kind == Job.Kind.REPLAY:
        require_target(user, ask.target_cluster, ask.target_topic)
    _check_running_limit(user)
    if ask.kind == Job.Kind.EXPORT:
        check_room(user=user, doing="no export can start now", extra=1)
    prepared = _prepare(user, ask)
    config, plan, ranges = prepared.config, prepared.plan, prepared.ranges
    params: dict[str, Any] = {
        "start": ask.start.as_json(),
        "end": ask.end.as_json(),
        "partitions": list(ask.partitions) if ask.partitions else None,
        "filter": ask.filter,
    }
    if plan is not None:
        if plan.loss is not None and not ask.accept_retention_loss:
            message = plan.loss.message
            raise InvalidRequest(message, fields={"accept_retention_loss": message, "keep_timestamps": message})
        params.update(
            target_cluster=ask.target_cluster,
            target_topic=ask.target_topic,
            rate_limit=ask.rate_limit,
            partition_mapping=ask.mapping,
            keep_timestamps=ask.keep_timestamps,
            target_created=not plan.target_exists,
            # Below admin its filter sees the masked events (it still copies them as written).
            masked=masker_for(config) is not None and masked_for(user, ask.cluster, ask.topic),
        )
        if not plan.target_exists:
            params["target_configs"] = plan.target_configs
        if plan.loss is not None:
            params["retention_loss_accepted"] = plan.loss.events
    else:
        # Decided once, by the creator's role now: below admin, the file holds masked contents.
        masked = masker_for(config) is not None and masked_for(user, ask.cluster, ask.topic)
        params.update(format=ask.format, compression=ask.compression, masked=masked)
    target = f"{ask.topic} → {ask.target_cluster}/{ask.target_topic}" if plan is not None else ask.topic
    with audited(
        user=user, action=f"job.{ask.kind}.start", cluster=ask.cluster, target=target, request=request
    ) as change:
        if plan is not None and not plan.target_exists:
            topic_create(
                user=user,
                cluster=ask.target_cluster,
                name=ask.target_topic,
                partitions=plan.target_partitions,
                replication_factor=plan.replication_factor,
                configs=plan.target_configs,
                request=request,
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


def _check_target(ask: JobRequest, plan: ReplayPlan, highest: int, *, preview: bool) -> None:
    """A missing target needs the request's confirmation (a preview says so); an existing one enough
    partitions. 400 otherwise."""
    if not plan.target_exists:
        if preview and not ask.create_target:
            plan.notes.append(
                f"topic `{ask.target_topic}` does not exist on cluster `{ask.target_cluster}`: confirm create_target "
                "to create it as shown"
            )
        elif not ask.create_target:
            message = (
                f"topic `{ask.target_topic}` does not exist on cluster `{ask.target_cluster}`: confirm "
                f"(create_target) to create it with the source's {plan.target_partitions} partitions and "
                "retention settings"
            )
            raise InvalidRequest(message, fields={"target_topic": message, "create_target": message})
        return
    if ask.mapping == "same" and plan.target_partitions <= highest:
        message = (
            f"topic `{ask.target_topic}` has {plan.target_partitions} partitions, fewer than the source's "
            f"partition {highest}: map partitions by key instead"
        )
        raise InvalidRequest(message, fields={"partition_mapping": message})


def _enqueue(job_id: int) -> None:
    from streams.jobs.tasks import run_job

    run_job.apply_async((job_id,), queue=settings.JOBS_QUEUE)


def require_owner(user: Any, job: Job, doing: str) -> None:
    """The job's owner or an admin of its cluster may `doing` it; 403 for anyone else."""
    if not sees_all(user, job):
        owner = job.created_by.get_username() if job.created_by else "someone else"
        raise PermissionDenied(
            f"job {job.pk} was started by {owner}: only they or an admin of `{job.cluster}` can {doing} it"
        )


def job_cancel(*, user: Any, job: Job, request: HttpRequest | None = None) -> Job:
    """Ask the job to stop; partitions not yet started stop now, running ones at their next checkpoint."""
    require_topic_role(user, job.cluster, job.topic, Role.OPERATOR)
    require_owner(user, job, "cancel")
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
        # Partitions no worker holds: never started, or paused by a rate limit until their next batch.
        pending = JobPartition.objects.filter(job=job, status=JobPartition.Status.PENDING)
        idle = pending.filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now) | Q(lease_owner=PAUSED))
        idle.update(status=JobPartition.Status.CANCELLED, lease_owner="", lease_until=None)
        change.after = {"cancel_requested": True}
    from streams.jobs.runner import job_finish, publish

    job_finish(job.pk)
    publish(job.pk)
    job.refresh_from_db()
    return job


def job_retry(*, user: Any, job: Job, request: HttpRequest | None = None) -> Job:
    """Run a failed job again: a replay resumes from its checkpoints, an export redoes what failed."""
    # Checked again as at the start: the grants may have changed since (a hidden topic is a 404).
    if not job_visible(user, job):
        raise NotFound(f"there is no job {job.pk}")
    require_topic_role(user, job.cluster, job.topic, Role.OPERATOR)
    require_owner(user, job, "retry")
    if job.kind == Job.Kind.REPLAY:
        require_target(user, job.target_cluster, job.target_topic)
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


def _unmasked_under_rules(job: Job) -> bool:
    """An export holding raw contents of a cluster with masking rules (started by an admin)."""
    config = get_cluster(job.cluster)
    return config is not None and not job.result.get("masked") and masker_for(config) is not None


def may_download(user: Any, job: Job) -> bool:
    """The owner (still a reader of the cluster) or an admin, as `job_download` decides."""
    if not (has_topic_role(user, job.cluster, job.topic, Role.READER) and sees_all(user, job)):
        return False
    return not _unmasked_under_rules(job) or not masked_for(user, job.cluster, job.topic)


def job_download(*, user: Any, job: Job, request: HttpRequest | None = None) -> tuple[IO[bytes], str, int]:
    """The finished export's file (open), its name and size, audited: for its owner (a reader of the
    source) or an admin; a file of unmasked contents under masking rules for admins only."""
    require_topic_role(user, job.cluster, job.topic, Role.READER)
    if job.kind != Job.Kind.EXPORT:
        raise InvalidRequest(f"job {job.pk} is a {job.kind}: only exports have a file")
    require_owner(user, job, "download")
    if _unmasked_under_rules(job) and masked_for(user, job.cluster, job.topic):
        raise PermissionDenied(
            f"export {job.pk} holds unmasked contents (started by an admin): downloading it needs the admin "
            f"role on topic `{job.topic}`"
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
