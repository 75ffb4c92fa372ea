"""Lag of one consumer group: members, and per partition committed offset, end offset, lag, time lag.

Lag is exact: end offset - committed offset per partition; a partition without a committed
offset has no lag (None), never an invented number. Its events are counted apart, as "not
yet committed": end - log start, what a consumer reads there with auto.offset.reset=earliest
(with latest it reads nothing), so a group that committed on one partition out of three does
not look caught up. Time lag is the age of the next event
the group will consume, read from that event's timestamp (one event per lagging partition).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from backbone_admin.kafka import BackboneError, GroupNotFound, TopicNotFound
from backbone_admin.kafka.groups import GroupDescription, committed_offsets
from backbone_admin.kafka.offsets import watermarks
from backbone_admin.kafka.records import reader
from backbone_admin.kafka.topics import describe_topic
from backbone_admin.kafka.types import Watermarks
from topics.groups.state import ACTIVE_STATES, describe_one, members_label, short_assignor, state_label
from topics.listing import OFFSETS_CHUNK, cluster_pool

Partition = tuple[str, int]
# Time lag reads one event per lagging partition: at most this many partitions, this long.
TIME_LAG_MAX_PARTITIONS = 500
TIME_LAG_WAIT = 1.5


def end_offsets(cluster: str, partitions: Sequence[Partition], warnings: list[str]) -> dict[Partition, Watermarks]:
    """Watermarks of the partitions, in chunks sent together; a deleted topic is left out with a warning."""
    pool = cluster_pool(cluster)
    chunks = [list(partitions[i : i + OFFSETS_CHUNK]) for i in range(0, len(partitions), OFFSETS_CHUNK)]
    futures = [(chunk, pool.submit(watermarks, cluster, chunk)) for chunk in chunks]
    result: dict[Partition, Watermarks] = {}
    for chunk, future in futures:
        try:
            result.update(future.result())
        except TopicNotFound:
            # A group keeps its offsets on a topic deleted since: read the chunk topic by topic.
            result.update(_by_topic(cluster, chunk, warnings))
    return result


def _by_topic(cluster: str, chunk: Sequence[Partition], warnings: list[str]) -> dict[Partition, Watermarks]:
    per_topic: dict[str, list[Partition]] = defaultdict(list)
    for tp in chunk:
        per_topic[tp[0]].append(tp)
    result: dict[Partition, Watermarks] = {}
    for topic, wanted in sorted(per_topic.items()):
        try:
            result.update(watermarks(cluster, wanted))
        except TopicNotFound:
            warnings.append(f"topic `{topic}` no longer exists: offsets committed on it have no lag")
    return result


def human_ms(ms: int | None) -> str:
    """A duration for people: `—` unknown, `0 s`, `850 ms`, `4 min 12 s`, `3 h 5 min`, `2 d 4 h`."""
    if ms is None:
        return "—"
    if ms < 1000:
        return "0 s" if ms == 0 else f"{ms} ms"
    seconds = ms // 1000
    for unit, size, sub, sub_size in (("d", 86400, "h", 3600), ("h", 3600, "min", 60), ("min", 60, "s", 1)):
        if seconds >= size:
            rest = (seconds % size) // sub_size
            return f"{seconds // size} {unit}" + (f" {rest} {sub}" if rest else "")
    return f"{seconds} s"


# --- one group -----------------------------------------------------------------------------


@dataclass
class PartitionLag:
    topic: str
    partition: int
    committed: int | None  # None: the group has no committed offset here
    low: int | None
    high: int | None
    client_id: str = ""  # the member it is assigned to, if any
    next_timestamp: int | None = None  # ms; the next event's timestamp
    now_ms: int = 0

    @property
    def lag(self) -> int | None:
        if self.committed is None or self.high is None:
            return None
        return max(0, self.high - self.committed)

    @property
    def uncommitted(self) -> int | None:
        """Events a consumer reads here from the log start (no commit yet); None when committed or unknown."""
        if self.committed is not None or self.high is None or self.low is None:
            return None
        return max(0, self.high - self.low)

    @property
    def time_lag_ms(self) -> int | None:
        """Age of the next event to consume; 0 when caught up; None when unknown."""
        if self.lag == 0:
            return 0
        if self.next_timestamp is None or self.next_timestamp < 0:
            return None
        return max(0, self.now_ms - self.next_timestamp)

    @property
    def time_lag_human(self) -> str:
        return human_ms(self.time_lag_ms)

    def as_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "committed": self.committed,
            "low": self.low,
            "high": self.high,
            "lag": self.lag,
            "time_lag_ms": self.time_lag_ms,
            "next_timestamp": self.next_timestamp,
            "client_id": self.client_id,
            "note": None if self.committed is not None else "no committed offset",
            "uncommitted_events": self.uncommitted,
        }


@dataclass
class GroupDetail:
    group_id: str
    description: GroupDescription
    partitions: list[PartitionLag]
    warnings: list[str]

    @property
    def state(self) -> str:
        return self.description.state

    @property
    def active(self) -> bool:
        return bool(self.description.members) or self.description.state in ACTIVE_STATES

    @property
    def lag(self) -> int | None:
        lags = [p.lag for p in self.partitions if p.lag is not None]
        return sum(lags) if lags else None

    @property
    def uncommitted_partitions(self) -> list[PartitionLag]:
        return [p for p in self.partitions if p.committed is None]

    @property
    def uncommitted(self) -> int | None:
        """Events on the partitions without a commit, from the log start; None when every partition has one."""
        rows = self.uncommitted_partitions
        return sum(p.uncommitted or 0 for p in rows) if rows else None

    @property
    def state_label(self) -> str:
        return state_label(self.state, len(self.description.members))

    @property
    def members_label(self) -> str:
        return members_label(self.state, len(self.description.members))

    @property
    def assignor_short(self) -> str:
        return short_assignor(self.description.assignor)

    @property
    def max_time_lag_ms(self) -> int | None:
        lags = [p.time_lag_ms for p in self.partitions if p.time_lag_ms is not None]
        return max(lags) if lags else None

    @property
    def max_time_lag_human(self) -> str:
        return human_ms(self.max_time_lag_ms)

    @property
    def topics(self) -> list[str]:
        return sorted({p.topic for p in self.partitions})

    def committed(self) -> dict[Partition, int]:
        return {(p.topic, p.partition): p.committed for p in self.partitions if p.committed is not None}


def require_group(cluster: str, group_id: str) -> tuple[GroupDescription, dict[Partition, int]]:
    """(description, committed offsets); GroupNotFound when the cluster has no such group.

    Kafka describes any group id, known or not (state Dead, or Empty with nothing in it), so
    a group with no member and no committed offset is one that does not exist.
    """
    pool = cluster_pool(cluster)
    described_future = pool.submit(describe_one, cluster, group_id)
    offsets = committed_offsets(cluster, [group_id]).get(group_id, {})
    description = described_future.result()
    if not description.members and not offsets and description.state in ("Dead", "Empty", "Unknown"):
        raise GroupNotFound(f"consumer group `{group_id}` does not exist on cluster `{cluster}`")
    return description, offsets


def topic_partitions(cluster: str, topics: Iterable[str], warnings: list[str]) -> dict[str, list[int]]:
    """Partition ids per topic, described together; a deleted topic is left out with a warning."""
    pool = cluster_pool(cluster)
    futures = {t: pool.submit(describe_topic, cluster, t) for t in sorted(set(topics))}
    result: dict[str, list[int]] = {}
    for topic, future in futures.items():
        try:
            result[topic] = [p.id for p in future.result().partitions]
        except TopicNotFound:
            warnings.append(f"topic `{topic}` no longer exists")
    return result


def read_group(
    cluster: str,
    group_id: str,
    *,
    time_lag: bool = True,
    found: tuple[GroupDescription, dict[Partition, int]] | None = None,
    topic_visible: Callable[[str], bool] | None = None,
) -> GroupDetail:
    """Members and, for every partition of the topics the group reads, committed/end offsets and lag.

    `found`: what require_group answered (not asked again). With `topic_visible`, the topics
    the user may not see are left out before anything is read of them: partitions, members'
    assignments, and so every total.
    """
    description, offsets = found if found is not None else require_group(cluster, group_id)
    if topic_visible is not None:
        offsets = {tp: o for tp, o in offsets.items() if topic_visible(tp[0])}
        members = tuple(
            replace(m, assignments=tuple(tp for tp in m.assignments if topic_visible(tp[0])))
            for m in description.members
        )
        description = replace(description, members=members)
    warnings: list[str] = []
    owners = {tp: m.client_id for m in description.members for tp in m.assignments}
    topics = {t for t, _ in offsets} | {t for t, _ in owners}
    known = topic_partitions(cluster, topics, warnings)
    wanted = sorted({(t, p) for t, ids in known.items() for p in ids} | set(offsets))
    marks = end_offsets(cluster, [tp for tp in wanted if tp[0] in known], warnings)
    now_ms = int(time.time() * 1000)
    rows = [
        PartitionLag(
            topic=t,
            partition=p,
            committed=offsets.get((t, p)),
            low=marks[(t, p)].low if (t, p) in marks else None,
            high=marks[(t, p)].high if (t, p) in marks else None,
            client_id=owners.get((t, p), ""),
            now_ms=now_ms,
        )
        for t, p in wanted
    ]
    detail = GroupDetail(group_id=group_id, description=description, partitions=rows, warnings=warnings)
    if time_lag:
        read_time_lag(cluster, detail)
    return detail


def read_time_lag(cluster: str, detail: GroupDetail) -> None:
    """Fill in the timestamp of the next event to consume on each lagging partition (bounded)."""
    lagging = [p for p in detail.partitions if p.lag and p.committed is not None]
    if len(lagging) > TIME_LAG_MAX_PARTITIONS:
        detail.warnings.append(
            f"time lag is shown for the first {TIME_LAG_MAX_PARTITIONS} of {len(lagging)} lagging partitions"
        )
        lagging = lagging[:TIME_LAG_MAX_PARTITIONS]
    per_topic: dict[str, dict[int, PartitionLag]] = defaultdict(dict)
    for row in lagging:
        per_topic[row.topic][row.partition] = row
    # No pause() of partitions already read: the pooled consumer would keep them paused.
    # Each waiting partition has at least one event before its end, so asking for as many
    # events as partitions wait returns as soon as they are fetched, not after the wait.
    deadline = time.monotonic() + TIME_LAG_WAIT
    missing = 0
    try:
        with reader(cluster) as r:
            for topic, rows in sorted(per_topic.items()):
                r.assign(topic, {p: row.committed for p, row in rows.items() if row.committed is not None})
                waiting = set(rows)
                while waiting and time.monotonic() < deadline:
                    for record in r.read(len(waiting), min(0.2, max(0.01, deadline - time.monotonic()))):
                        if record.partition in waiting:
                            rows[record.partition].next_timestamp = record.timestamp
                            waiting.discard(record.partition)
                missing += len(waiting)
    except BackboneError as exc:
        detail.warnings.append(f"Time lag is unavailable right now: {exc.message}")
        return
    if missing:
        detail.warnings.append(f"time lag unknown on {missing} partition(s): their next event was not read in time")
