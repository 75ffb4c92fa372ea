from __future__ import annotations

from datetime import datetime

from django.db import models


class ThroughputSampleQuerySet(models.QuerySet["ThroughputSample"]):
    def of(self, cluster: str) -> ThroughputSampleQuerySet:
        return self.filter(cluster=cluster)

    def since(self, when: datetime) -> ThroughputSampleQuerySet:
        return self.filter(sampled_at__gte=when).order_by("sampled_at")

    def older_than(self, when: datetime) -> ThroughputSampleQuerySet:
        return self.filter(sampled_at__lt=when)


class ThroughputSample(models.Model):
    """Events appended to each topic of a cluster since the previous sample.

    One compact row per (cluster, sample): `seconds` since the previous sample and a sparse
    `{topic: events}` holding only the topics that moved (a quiet topic costs nothing), so
    10,000 topics of which 50 are busy write 50 numbers per interval. Written by the beat
    task every THROUGHPUT_SAMPLE_INTERVAL, deleted after LAG_HISTORY_DAYS with the lag history.
    """

    cluster = models.CharField(max_length=63)
    sampled_at = models.DateTimeField()
    seconds = models.FloatField(help_text="since the previous sample of this cluster")
    topics = models.JSONField(default=dict)

    objects = ThroughputSampleQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["cluster", "sampled_at"], name="throughput_cluster_time")]

    def __str__(self) -> str:
        return f"{self.cluster} at {self.sampled_at:%Y-%m-%d %H:%M:%S}: {len(self.topics)} topics moved"


class ThroughputLatest(models.Model):
    """The last sample of a cluster, one row per cluster: the end offsets the next sample
    subtracts from (summed per topic) and the rates of the last interval.

    In the database rather than a process: several web processes and the worker read it.
    """

    cluster = models.CharField(max_length=63, primary_key=True)
    sampled_at = models.DateTimeField()
    ends = models.JSONField(default=dict, help_text="{topic: sum of the partitions' end offsets}")
    rates = models.JSONField(default=dict, help_text="{topic: events/s over the last interval}, moving topics only")

    def __str__(self) -> str:
        return f"{self.cluster} at {self.sampled_at:%Y-%m-%d %H:%M:%S}"
