"""Figures shown to a user who sees only some topics, recomputed over those topics.

Counts, partitions, health and the overview's sample of topics: a hidden topic must not
show through a total, a status or a websocket push. Users who see every topic get the
cluster's figures unchanged (and this costs them nothing).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from backbone_admin.kafka import BackboneError, ClusterHealth, is_internal_topic
from backbone_admin.kafka.cluster import OVERVIEW_TOPICS
from topics.listing import index_with_offline
from topics.sizes import sizes_cached, topic_sizes
from topics.units import format_size_bytes
from topics.visibility import sees_all_topics, visible_rows


@dataclasses.dataclass(frozen=True)
class VisibleFigures:
    topic_count: int  # not internal
    internal_topic_count: int
    partition_count: int
    under_replicated_partitions: int
    offline_partitions: int
    topics_sample: tuple[tuple[str, int], ...]


def visible_figures(user: Any, cluster: str) -> VisibleFigures:
    """The figures over the topics the user sees, from the cached index (no call when cached)."""
    try:
        fetched_at, index, offline = index_with_offline(cluster)
    except BackboneError:
        fetched_at, index, offline = 0.0, [], {}
    rows = visible_rows(user, cluster, fetched_at, index)
    internal = sum(1 for r in rows if is_internal_topic(r[0]))
    return VisibleFigures(
        topic_count=len(rows) - internal,
        internal_topic_count=internal,
        partition_count=sum(r[1] for r in rows),
        under_replicated_partitions=sum(r[3] for r in rows),
        offline_partitions=sum(offline.get(r[0], 0) for r in rows),
        topics_sample=tuple((r[0], r[1]) for r in rows if not is_internal_topic(r[0]))[:OVERVIEW_TOPICS],
    )


# Above this many partitions the overview shows a total only from an answer already cached
# (a sort by size asked for every topic): one DescribeLogDirs over them all is not cheap.
OVERVIEW_SIZE_MAX_PARTITIONS = 20_000


@dataclasses.dataclass(frozen=True)
class VisibleSize:
    bytes: int | None  # one copy of every visible topic (internal ones included)
    on_disk: int | None  # every replica
    unknown: str | None  # why there is no total

    @property
    def human(self) -> str:
        return format_size_bytes(self.bytes)

    @property
    def on_disk_human(self) -> str:
        return format_size_bytes(self.on_disk)


def visible_size(user: Any, cluster: str) -> VisibleSize:
    """The total size of the topics the user sees, from the brokers' log directories (cached)."""
    try:
        fetched_at, index, _ = index_with_offline(cluster)
    except BackboneError as exc:
        return VisibleSize(None, None, exc.message)
    rows = [(r[0], r[1]) for r in visible_rows(user, cluster, fetched_at, index)]
    if sum(r[1] for r in rows) > OVERVIEW_SIZE_MAX_PARTITIONS and not sizes_cached(cluster):
        return VisibleSize(None, None, "sort the topic list by size to read the sizes of this many partitions")
    sizes = topic_sizes(cluster, rows, everything=True)
    if sizes.unknown:
        return VisibleSize(None, None, sizes.unknown)
    one = [sizes.size(name, count) for name, count in rows]
    disk = [sizes.on_disk(name, count) for name, count in rows]
    if any(s is None for s in one):
        return VisibleSize(None, None, "some topics' sizes were not reported")
    return VisibleSize(sum(s or 0 for s in one), sum(s or 0 for s in disk), None)


def scoped_health(user: Any, health: ClusterHealth) -> ClusterHealth:
    """The health as this user may see it: topic and partition figures over their visible topics.

    Brokers and the controller are the cluster's own and stay; the status is recomputed from
    the visible partitions, so a hidden topic's offline partition does not show as "degraded".
    """
    if sees_all_topics(user, health.name) or health.overview is None:
        return health
    figures = visible_figures(user, health.name)
    overview = dataclasses.replace(health.overview, **dataclasses.asdict(figures))
    status = health.status if health.status == "down" else overview.health
    return dataclasses.replace(health, overview=overview, status=status)


def scoped_healths(user: Any, healths: Iterable[ClusterHealth]) -> list[ClusterHealth]:
    return [scoped_health(user, h) for h in healths]


def scoped_message(user: Any, message: dict[str, Any]) -> dict[str, Any]:
    """A pushed health message (backbone_admin.broadcast.health_message) as this user may see it."""
    if sees_all_topics(user, message["name"]) or message.get("topic_count") is None:
        return message
    figures = visible_figures(user, message["name"])
    status = message["status"]
    if status != "down":
        degraded = not message.get("brokers") or figures.offline_partitions or figures.under_replicated_partitions
        status = "degraded" if degraded else "ok"
    return message | {
        "status": status,
        "topic_count": figures.topic_count,
        "partition_count": figures.partition_count,
        "under_replicated_partitions": figures.under_replicated_partitions,
        "offline_partitions": figures.offline_partitions,
    }
