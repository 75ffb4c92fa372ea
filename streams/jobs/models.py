"""Jobs: replays and exports run by Celery workers, one row per job and one per source partition.

Each partition has its own row, so per-partition subtasks running in several workers update
their own progress and checkpoint without overwriting each other's.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone


class JobQuerySet(models.QuerySet["Job"]):
    def on_clusters(self, names: list[str]) -> JobQuerySet:
        return self.filter(cluster__in=names)

    def active(self) -> JobQuerySet:
        return self.filter(status__in=[Job.Status.QUEUED, Job.Status.RUNNING])

    def running_for(self, user: Any) -> JobQuerySet:
        return self.active().filter(created_by=user)

    def expired_exports(self) -> JobQuerySet:
        return self.filter(kind=Job.Kind.EXPORT, expires_at__lte=timezone.now()).exclude(file_name="")


class Job(models.Model):
    class Kind(models.TextChoices):
        REPLAY = "replay", "Replay"
        EXPORT = "export", "Export"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        # Every partition ran to the end of its range, but the broker had deleted some of the
        # range (retention, delete-records) before the job read it: `result["gaps"]` says where.
        COMPLETED_WITH_GAPS = "completed_with_gaps", "Completed with gaps"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    FINISHED = (Status.SUCCEEDED, Status.COMPLETED_WITH_GAPS, Status.FAILED, Status.CANCELLED)
    # Ran to the end of the range: an export of either is offered for download.
    COMPLETED = (Status.SUCCEEDED, Status.COMPLETED_WITH_GAPS)

    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.QUEUED)
    cluster = models.CharField(max_length=63, help_text="the source cluster")
    topic = models.CharField(max_length=300, help_text="the source topic")
    params = models.JSONField(default=dict, help_text="what was asked, offsets resolved per partition")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    attempts = models.PositiveIntegerField(
        default=0,
        help_text="runs: the first start, each retry of a failed job, and each partition resumed after its "
        "worker died or retried after the cluster was unavailable",
    )
    # Exports: the finished file in EXPORT_ROOT (empty until it is complete, and after expiry).
    file_name = models.CharField(max_length=300, blank=True)
    file_size = models.BigIntegerField(null=True, blank=True)
    file_sha256 = models.CharField(max_length=64, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "created_by"]), models.Index(fields=["cluster", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} of {self.cluster}/{self.topic} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def target_cluster(self) -> str:
        return str(self.params.get("target_cluster") or self.cluster)

    @property
    def target_topic(self) -> str:
        return str(self.params.get("target_topic") or "")

    @property
    def downloadable(self) -> bool:
        return self.kind == self.Kind.EXPORT and self.status in self.COMPLETED and bool(self.file_name)

    def default_expiry(self) -> Any:
        return timezone.now() + timedelta(days=settings.EXPORT_DAYS)


class JobPartition(models.Model):
    """One source partition of a job: its range, progress and checkpoint."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="partitions")
    partition = models.IntegerField()
    start_offset = models.BigIntegerField()
    end_offset = models.BigIntegerField(help_text="exclusive: the first offset not selected")
    position = models.BigIntegerField(help_text="the next source offset to read (checkpoint)")
    done = models.BigIntegerField(default=0, help_text="events written (replayed or exported)")
    skipped = models.BigIntegerField(default=0, help_text="events read and left out by the filter")
    bytes_done = models.BigIntegerField(default=0)
    rate = models.FloatField(default=0.0, help_text="source events per second, lately")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # Replays: target partition → offset from which this job's uncommitted records could be.
    checkpoint = models.JSONField(default=dict, blank=True)
    # Ranges [first, end) of the partition's range that the broker had deleted (retention,
    # delete-records) when the job came to read them: gone, neither written nor filtered out.
    gaps = models.JSONField(default=list, blank=True)
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["partition"]
        constraints = [models.UniqueConstraint(fields=["job", "partition"], name="one_row_per_job_partition")]

    def __str__(self) -> str:
        return f"job {self.job_id} partition {self.partition}"

    @property
    def total(self) -> int:
        return max(0, self.end_offset - self.start_offset)

    @property
    def lost(self) -> int:
        """Offsets of the range the broker had deleted before the job read them."""
        return sum(end - first for first, end in self.gaps)

    @property
    def read(self) -> int:
        """Source events read so far (written or filtered out)."""
        return max(0, min(self.position, self.end_offset) - self.start_offset)

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED, self.Status.CANCELLED)
