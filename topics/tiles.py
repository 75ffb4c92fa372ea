"""What the overview's tiles count: groups whose lag keeps growing, and topics drifting from their policy.

Both read what the beat already keeps (lag samples in the database, the drift count in the cache),
so the overview costs no extra call to the cluster.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from itertools import pairwise
from typing import Any

from django.conf import settings
from django.utils import timezone

from backbone_admin.access import access_for
from topics.groups.models import LagSample
from topics.retention.apply import drift_cached, drift_count_for
from topics.throughput.pages import overview_context
from topics.visibility import topic_filter

# Lag "grows" when it rose over the group's last GROWTH_SAMPLES samples and never fell between them:
# one spike between two samples is not a trend, a consumer that keeps falling behind is.
GROWTH_SAMPLES = 4
GROWTH_WINDOW = timedelta(hours=1)
MAX_SHOWN = 5


@dataclass(frozen=True)
class GrowingLag:
    group: str
    first: int
    last: int

    @property
    def growth(self) -> int:
        return self.last - self.first


def growing_lag(cluster: str, *, user: Any = None) -> list[GrowingLag]:
    """Groups of the cluster whose unread events rose over their last samples, fastest-growing first.

    With `user`, only the groups they see (a group pattern, or reading a topic they see).
    """
    since = timezone.now() - max(GROWTH_WINDOW, timedelta(seconds=GROWTH_SAMPLES * _interval() * 2))
    rows = (
        LagSample.objects.filter(cluster=cluster, sampled_at__gte=since, total_lag__isnull=False)
        .order_by("group", "sampled_at")
        .values_list("group", "total_lag", "uncommitted", "topics")
    )
    # Unread events: lag plus the events of partitions not yet committed. A group's first commit
    # moves events from one figure to the other; counting both keeps that from reading as growth.
    lags: dict[str, list[int]] = defaultdict(list)
    read: dict[str, set[str]] = defaultdict(set)
    for group, lag, uncommitted, topics in rows.iterator():
        if lag is not None:  # excluded by the query; the column is nullable
            lags[group].append(lag + (uncommitted or 0))
            read[group].update(topics or {})
    found = []
    for group, values in lags.items():
        last = values[-GROWTH_SAMPLES:]
        if len(last) == GROWTH_SAMPLES and all(b >= a for a, b in pairwise(last)) and last[-1] > last[0]:
            found.append(GrowingLag(group, last[0], last[-1]))
    if user is not None and not access_for(user).all_groups_visible(cluster):
        access = access_for(user)
        found = [g for g in found if access.group_role(cluster, g.group, read[g.group]) is not None]
    return sorted(found, key=lambda g: (-g.growth, g.group))


def _interval() -> float:
    return float(settings.LAG_SAMPLE_INTERVAL)


def drifting_topics(cluster: str, *, user: Any = None) -> int | None:
    """The same count as the navigation's badge; None until the beat or the compliance page counted."""
    return drift_cached(cluster) if user is None else drift_count_for(user, cluster)


def throughput(cluster: str, *, user: Any = None) -> dict[str, Any]:
    """The overview's flow: events/s in and out and the busiest topics, over the topics `user` sees."""
    return overview_context(cluster, topic_filter(user, cluster))
