from __future__ import annotations

from datetime import datetime

from django.db import models


class LagSampleQuerySet(models.QuerySet["LagSample"]):
    def of(self, cluster: str, group: str) -> LagSampleQuerySet:
        return self.filter(cluster=cluster, group=group)

    def since(self, when: datetime) -> LagSampleQuerySet:
        return self.filter(sampled_at__gte=when).order_by("sampled_at")

    def older_than(self, when: datetime) -> LagSampleQuerySet:
        return self.filter(sampled_at__lt=when)


class LagSample(models.Model):
    """One group's lag at one moment: the total and the lag per topic (`{"orders": 12}`), and
    the events not yet committed on partitions of its topics without a commit.

    One compact row per (cluster, group, sample) — a beat task writes one for every group
    every LAG_SAMPLE_INTERVAL and deletes those older than LAG_HISTORY_DAYS.
    """

    cluster = models.CharField(max_length=63)
    group = models.CharField(max_length=255)
    sampled_at = models.DateTimeField(db_index=True)
    total_lag = models.BigIntegerField(null=True, help_text="None: no committed offset to measure from")
    # Kept apart from the lag: counted into it, a partition's first commit made the chart jump.
    uncommitted = models.BigIntegerField(
        null=True, help_text="events on partitions of its topics without a commit, from the log start; None: none such"
    )
    topics = models.JSONField(default=dict)

    objects = LagSampleQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["cluster", "group", "sampled_at"], name="lagsample_group_time")]

    def __str__(self) -> str:
        return f"{self.cluster}/{self.group} at {self.sampled_at:%Y-%m-%d %H:%M:%S}: {self.total_lag}"
