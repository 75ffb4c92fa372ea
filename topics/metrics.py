"""Lag and throughput for /metrics (backbone_admin.metrics): the beat's last samples, read from the database.

Time lag is not sampled (the group page reads it from the next event's timestamp, a Kafka call
per lagging partition). Here it is estimated the way kafka-lag-exporter does, from what the
beat already keeps: the topic's end-offset history (the throughput sampler's increments walked
back from its last end offsets) tells when the topic's end was where the group's committed
position is now; the time lag is the time since then. It is a per-topic estimate: the history
and the lag are both sums over the topic's partitions.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import pairwise

from django.db.models import Max
from prometheus_client.core import GaugeMetricFamily, Metric

from backbone_admin.metrics.collector import Scrape
from topics.groups.models import LagSample
from topics.throughput import Latest, latest
from topics.throughput.models import ThroughputSample

# How much end-offset history the estimate reads (older positions are extrapolated at its mean rate).
TIME_LAG_HISTORY = timedelta(hours=1)

Point = tuple[float, int]  # (unix time, sum of the topic's end offsets then)


def _latest(scrape: Scrape, cluster: str) -> Latest | None:
    """The cluster's last throughput sample, read once per scrape (lag and throughput both need it)."""
    key = f"throughput:{cluster}"
    if key not in scrape.memo:
        scrape.memo[key] = latest(cluster)
    found = scrape.memo[key]
    return found if isinstance(found, Latest) else None


class EndHistory:
    """A cluster's end offsets over the last TIME_LAG_HISTORY, per topic on demand."""

    def __init__(self, latest_at: float, ends: dict[str, int], steps: list[tuple[float, float, dict[str, int]]]):
        self.latest_at = latest_at
        self.ends = ends
        self.steps = steps  # newest first: (sampled at, seconds it covers, events appended per moving topic)
        self._points: dict[str, list[Point] | None] = {}
        self._moved: set[str] | None = None

    @classmethod
    def load(cls, found: Latest, cluster: str) -> EndHistory:
        rows = (
            ThroughputSample.objects.of(cluster)
            .filter(sampled_at__gte=found.at - TIME_LAG_HISTORY, sampled_at__lte=found.at)
            .order_by("-sampled_at")
            .values_list("sampled_at", "seconds", "topics")
        )
        steps = [(at.timestamp(), float(seconds), moved or {}) for at, seconds, moved in rows]
        return cls(found.at.timestamp(), found.ends, steps)

    def points(self, topic: str) -> list[Point] | None:
        """(time, end) newest first; None for a topic the throughput sampler does not know."""
        if topic not in self._points:
            end = self.ends.get(topic)
            if self._moved is None:
                self._moved = {t for _, _, moved in self.steps for t in moved}
            if end is None:
                self._points[topic] = None
            elif topic not in self._moved:  # no event in the whole history: one flat segment
                oldest = self.steps[-1][0] - self.steps[-1][1] if self.steps else self.latest_at
                self._points[topic] = [(self.latest_at, end), (oldest, end)]
            else:
                points: list[Point] = [(self.latest_at, end)]
                for at, seconds, moved in self.steps:
                    if at < points[-1][0]:
                        points.append((at, end))  # nothing moved between two samples
                    end -= int(moved.get(topic, 0))
                    points.append((at - seconds, end))
                self._points[topic] = points
        return self._points[topic]

    def time_lag(self, topic: str, at: float, lag: int) -> float | None:
        points = self.points(topic)
        return None if points is None else estimate_time_lag(points, at, lag)


def _end_at(points: list[Point], when: float) -> float:
    if when >= points[0][0]:
        return points[0][1]
    for (t_new, e_new), (t_old, e_old) in pairwise(points):
        if t_old <= when <= t_new:
            return e_old + (e_new - e_old) * ((when - t_old) / (t_new - t_old) if t_new > t_old else 1.0)
    return points[-1][1]


def estimate_time_lag(points: list[Point], at: float, lag: int) -> float | None:
    """Seconds between `at` and when the topic's end was at the group's position (`lag` events behind it at `at`).

    Linear between history points; before the oldest, extrapolated at the history's mean rate;
    None when the history cannot tell (no events appended in it).
    """
    if lag <= 0:
        return 0.0
    position = _end_at(points, at) - lag
    for (t_new, e_new), (t_old, e_old) in pairwise(points):
        if e_old <= position < e_new:
            return max(0.0, at - (t_old + (position - e_old) / (e_new - e_old) * (t_new - t_old)))
    (t_first, e_first), (t_last, e_last) = points[0], points[-1]
    if position < e_last and t_first > t_last and e_first > e_last:
        rate = (e_first - e_last) / (t_first - t_last)
        return max(0.0, at - (t_last - (e_last - position) / rate))
    return None


def _last_pass(cluster: str, newest: datetime | None) -> datetime | None:
    """When the sampler last wrote the cluster's groups: one pass writes every cluster with one time.

    The newest pass of all is found on the time index alone, whatever the history's length
    (asked "the newest of this cluster", SQLite walks every row of the cluster). Only a
    cluster that missed it (it did not answer the sampler) needs its own, older, newest.
    """
    if newest is None:
        return None
    if LagSample.objects.filter(sampled_at=newest, cluster=cluster).exists():
        return newest
    found = LagSample.objects.filter(cluster=cluster).aggregate(last=Max("sampled_at"))["last"]
    return found if isinstance(found, datetime) else None


def lag(scrape: Scrape) -> Iterator[Metric]:
    """Every group's lag per topic at the cluster's last lag sample (a group gone since is not shown)."""
    group_topic = ["cluster", "group", "topic"]
    lag_events = GaugeMetricFamily(
        "backbone_group_lag",
        "Events the group has yet to consume on the topic (end - committed offset, summed over the partitions "
        "it committed on), at the last lag sample.",
        labels=group_topic,
    )
    lag_seconds = GaugeMetricFamily(
        "backbone_group_lag_seconds",
        "Estimated age of the next event the group will consume on the topic (from the topic's end-offset "
        "history), at the last lag sample.",
        labels=group_topic,
    )
    uncommitted = GaugeMetricFamily(
        "backbone_group_uncommitted",
        "Events on partitions of the group's topics where it has no committed offset (from the log start).",
        labels=["cluster", "group"],
    )
    age = GaugeMetricFamily(
        "backbone_lag_sample_age_seconds",
        "Seconds since the cluster's last lag sample (+Inf before the first): a stalled sampler shows here.",
        labels=["cluster"],
    )
    newest = LagSample.objects.order_by("-sampled_at").values_list("sampled_at", flat=True).first()
    for cluster in scrape.clusters:
        last = _last_pass(cluster, newest)
        if last is None:
            age.add_metric([cluster], math.inf)
            continue
        at = last.timestamp()
        age.add_metric([cluster], max(0.0, scrape.now - at))
        # One pass of the sampler writes every group of the cluster with the same time.
        rows = LagSample.objects.filter(cluster=cluster, sampled_at=last).values_list("group", "uncommitted", "topics")
        history: EndHistory | None = None
        found = _latest(scrape, cluster)
        for group, not_committed, topics in rows:
            if not_committed is not None:
                uncommitted.add_metric([cluster, group], not_committed)
            for topic, events in (topics or {}).items():
                lag_events.add_metric([cluster, group, topic], events)
                if found is None:
                    continue
                if history is None:
                    history = EndHistory.load(found, cluster)
                seconds = history.time_lag(topic, at, int(events))
                if seconds is not None:
                    lag_seconds.add_metric([cluster, group, topic], seconds)
    return iter([lag_events, lag_seconds, uncommitted, age])


def throughput(scrape: Scrape) -> Iterator[Metric]:
    """Every topic's end offset and rate at the cluster's last throughput sample."""
    ends = GaugeMetricFamily(
        "backbone_topic_end_offset",
        "Sum of the end offsets of the topic's partitions at the last throughput sample (rate() of it: events/s).",
        labels=["cluster", "topic"],
    )
    rates = GaugeMetricFamily(
        "backbone_topic_events_per_second",
        "Events appended to the topic per second over the last throughput sampling interval.",
        labels=["cluster", "topic"],
    )
    age = GaugeMetricFamily(
        "backbone_throughput_sample_age_seconds",
        "Seconds since the cluster's last throughput sample (+Inf before the first).",
        labels=["cluster"],
    )
    for cluster in scrape.clusters:
        found = _latest(scrape, cluster)
        if found is None:
            age.add_metric([cluster], math.inf)
            continue
        age.add_metric([cluster], max(0.0, scrape.now - found.at.timestamp()))
        for topic, end in found.ends.items():
            ends.add_metric([cluster, topic], end)
            rates.add_metric([cluster, topic], found.rates.get(topic, 0.0))  # a topic that did not move is absent
    return iter([ends, rates, age])
