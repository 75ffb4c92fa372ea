"""How fast a consumer group consumes, from the throughput and lag histories.

consumed/s = produced/s on the group's topics - Δlag/s. Over the last few minutes this says
whether the group is catching up and when it will have caught up (lag ÷ the rate the lag
shrinks at); over a range it is a series for the group page's chart. Only topics the user
may see count, the same rule as the lag history.
"""

from __future__ import annotations

import itertools
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from topics.groups.history import CHART_POINTS, RANGES, visible_lag
from topics.groups.lag import human_ms
from topics.groups.models import LagSample
from topics.throughput.models import ThroughputSample

TopicVisible = Callable[[str], bool] | None
# The rate and the ETA are read over this window: one interval alone is too noisy.
WINDOW_SECONDS = 300


@dataclass(frozen=True)
class Flow:
    lag: int | None
    produced: float | None  # events/s appended to the group's topics
    consumed: float | None  # events/s the group committed past
    status: str  # caught up · catching up · falling behind · keeping pace · stalled · unknown
    eta_seconds: float | None = None

    @property
    def eta_human(self) -> str:
        return human_ms(int(self.eta_seconds * 1000)) if self.eta_seconds is not None else "—"

    def as_dict(self) -> dict[str, object]:
        return {
            "lag": self.lag,
            "produced_per_second": self.produced,
            "consumed_per_second": self.consumed,
            "status": self.status,
            "eta_seconds": None if self.eta_seconds is None else round(self.eta_seconds, 1),
        }


def _lag_points(
    cluster: str, group: str, since: datetime, topic_visible: TopicVisible
) -> list[tuple[datetime, int | None, list[str]]]:
    rows = LagSample.objects.of(cluster, group).since(since).values_list("sampled_at", "total_lag", "topics")
    return [
        (
            at,
            visible_lag(total, None, topics or {}, topic_visible)[0],
            [t for t in (topics or {}) if topic_visible is None or topic_visible(t)],
        )
        for at, total, topics in rows
    ]


@dataclass(frozen=True)
class Produced:
    """Events appended to a set of topics, cumulated over the throughput samples (oldest first)."""

    times: list[datetime]
    spans: list[float]
    cumulative: list[float]

    def at(self, when: datetime) -> float:
        """Events appended up to `when`; within a sample spread evenly over the seconds it covers
        (lag and throughput samples are taken at different moments)."""
        index = bisect_right(self.times, when)
        done = self.cumulative[index - 1] if index else 0.0
        if index < len(self.times):
            began = self.times[index] - timedelta(seconds=self.spans[index])
            if when > began and self.spans[index] > 0:
                part = (when - began).total_seconds() / self.spans[index]
                done += (self.cumulative[index] - done) * part
        return done

    def covered(self, start: datetime, end: datetime) -> float:
        """Seconds of [start, end] that throughput samples cover (the sampler may not have run)."""
        total = 0.0
        for at, span in zip(self.times, self.spans, strict=True):
            began = at - timedelta(seconds=span)
            overlap = (min(at, end) - max(began, start)).total_seconds()
            total += max(0.0, overlap)
        return total


def _produced(cluster: str, topics: Sequence[str], since: datetime) -> Produced:
    wanted = set(topics)
    line = Produced([], [], [])
    total = 0.0
    rows = ThroughputSample.objects.of(cluster).since(since).values_list("sampled_at", "seconds", "topics")
    for at, seconds, moved in rows:
        total += sum(n for t, n in (moved or {}).items() if t in wanted)
        line.times.append(at)
        line.spans.append(seconds)
        line.cumulative.append(total)
    return line


def flow(cluster: str, group: str, topic_visible: TopicVisible = None) -> Flow:
    """The group's consumption over the last WINDOW_SECONDS and whether (and when) it catches up."""
    now = timezone.now()
    # The last hour at most; over the window, or the last two samples when sampled less often.
    points = [p for p in _lag_points(cluster, group, now - timedelta(hours=1), topic_visible) if p[1] is not None]
    if not points:
        return Flow(lag=None, produced=None, consumed=None, status="unknown")
    t_last = points[-1][0]
    within = [p for p in points if p[0] >= t_last - timedelta(seconds=WINDOW_SECONDS)]
    points = within if len(within) >= 2 else points[-2:]
    (t0, lag0, _), (t1, lag1, topics) = points[0], points[-1]
    assert lag0 is not None and lag1 is not None
    if len(points) < 2:
        return Flow(lag=lag1, produced=None, consumed=None, status="caught up" if lag1 == 0 else "unknown")
    line = _produced(cluster, topics, t0 - timedelta(seconds=WINDOW_SECONDS))
    span = (t1 - t0).total_seconds()
    # Throughput samples covering too little of the window: production (hence consumption) unknown.
    produced = None if line.covered(t0, t1) < span / 2 else (line.at(t1) - line.at(t0)) / span
    shrink = (lag0 - lag1) / span  # events/s the lag goes down by
    consumed = None if produced is None else max(0.0, produced + shrink)
    if lag1 == 0:
        return Flow(lag=0, produced=produced, consumed=consumed, status="caught up")
    if shrink > 0:
        return Flow(lag=lag1, produced=produced, consumed=consumed, status="catching up", eta_seconds=lag1 / shrink)
    if shrink < 0:
        return Flow(lag=lag1, produced=produced, consumed=consumed, status="falling behind")
    return Flow(lag=lag1, produced=produced, consumed=consumed, status="keeping pace" if consumed else "stalled")


def series(
    cluster: str, group: str, range_name: str, topic_visible: TopicVisible = None
) -> list[tuple[datetime, float | None, float | None]]:
    """(time, produced/s, consumed/s) of the group over a named range, at most CHART_POINTS points.

    Between consecutive lag samples (the last of each time bucket): produced = events appended
    to the group's topics meanwhile, consumed = produced - the lag's change.
    """
    seconds = RANGES[range_name]
    start = timezone.now() - timedelta(seconds=seconds)
    lags = [
        (at, lag, topics) for at, lag, topics in _lag_points(cluster, group, start, topic_visible) if lag is not None
    ]
    if len(lags) < 2:
        return []
    width = seconds / CHART_POINTS
    picked: dict[int, tuple[datetime, int]] = {}
    for at, lag, _ in lags:
        assert lag is not None
        picked[int((at - start).total_seconds() / width)] = (at, lag)
    chosen = [picked[i] for i in sorted(picked)]
    if len(chosen) < 2:
        return []
    line = _produced(cluster, lags[-1][2], start - timedelta(seconds=width))
    result: list[tuple[datetime, float | None, float | None]] = []
    for (a_at, a_lag), (b_at, b_lag) in itertools.pairwise(chosen):
        dt = (b_at - a_at).total_seconds()
        if dt <= 0:
            continue
        if line.covered(a_at, b_at) < dt / 2:
            result.append((b_at, None, None))
            continue
        produced = (line.at(b_at) - line.at(a_at)) / dt
        result.append((b_at, round(produced, 3), round(max(0.0, produced - (b_lag - a_lag) / dt), 3)))
    return result


def cluster_consumed(cluster: str, topic_visible: TopicVisible = None) -> float | None:
    """Events/s all groups of a cluster consumed between the last two lag samples (the overview's "out").

    Per (group, topic): produced/s on the topic minus the lag's change, never below zero;
    None before two lag samples and a throughput sample exist.
    """
    times = list(
        LagSample.objects.filter(cluster=cluster)
        .order_by("-sampled_at")
        .values_list("sampled_at", flat=True)
        .distinct()[:2]
    )
    if len(times) < 2:
        return None
    t1, t0 = times
    dt = (t1 - t0).total_seconds()
    rows = LagSample.objects.filter(cluster=cluster, sampled_at__in=[t0, t1]).values_list(
        "group", "sampled_at", "topics"
    )
    before: dict[str, dict[str, int]] = {}
    after: dict[str, dict[str, int]] = {}
    for group, at, topics in rows:
        (after if at == t1 else before)[group] = topics or {}
    produced: dict[str, float] = {}
    covered = 0.0
    for seconds, moved in (
        ThroughputSample.objects.of(cluster)
        .since(t0 - timedelta(seconds=dt))
        .filter(sampled_at__lte=t1 + timedelta(seconds=dt))
        .values_list("seconds", "topics")
    ):
        covered += seconds
        for topic, events in (moved or {}).items():
            produced[topic] = produced.get(topic, 0.0) + events
    if covered <= 0 or dt <= 0:
        return None
    total = 0.0
    for group, lags in after.items():
        for topic, lag in lags.items():
            old = before.get(group, {}).get(topic)
            if old is None or (topic_visible is not None and not topic_visible(topic)):
                continue
            total += max(0.0, produced.get(topic, 0.0) / covered - (lag - old) / dt)
    return round(total, 3)
