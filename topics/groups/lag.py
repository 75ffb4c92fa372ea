"""Lag of consumer groups: every group of a cluster (cached briefly), and one group in detail.

Lag is exact: end offset - committed offset per partition; a partition without a committed
offset has no lag (None), never an invented number. The list reads, per cluster and per
cache period: the groups (one ListGroups), their descriptions and committed offsets (in
batches, in the isolated child), and the end offsets of every partition any group has
committed on (one ListOffsets per chunk of partitions, shared by all groups). A group's
time lag is the age of the next event it will consume, read from that event's timestamp.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache
from humanize import naturaldelta

from backbone_admin.kafka import BackboneError, ClusterUnavailable, GroupNotFound, InvalidRequest, TopicNotFound
from backbone_admin.kafka.groups import (
    GroupDescription,
    committed_offsets,
    describe_group,
    describe_groups,
    list_groups,
)
from backbone_admin.kafka.offsets import watermarks
from backbone_admin.kafka.records import reader
from backbone_admin.kafka.topics import describe_topic
from backbone_admin.kafka.types import Watermarks
from backbone_admin.patterns import name_filter
from topics.listing import OFFSETS_CHUNK, cluster_pool
from topics.refresh import refresh_allowed

log = logging.getLogger("backbone.groups")

Partition = tuple[str, int]
SORTS = ("name", "lag", "members", "state")
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
ACTIVE_STATES = frozenset({"Stable", "PreparingRebalance", "CompletingRebalance"})
# Time lag reads one event per lagging partition: at most this many partitions, this long.
TIME_LAG_MAX_PARTITIONS = 500
TIME_LAG_WAIT = 1.5
# Groups per describe / offsets request to the isolated child; the requests go out together.
GROUP_CHUNK = 200


@dataclass(frozen=True)
class GroupRow:
    """One line of the group list."""

    group_id: str
    state: str
    type: str
    assignor: str
    members: int
    topic_lags: dict[str, int]  # lag per topic, over the partitions with a committed offset
    committed_partitions: int
    unknown_end: int = 0  # committed partitions whose end offset could not be read

    @property
    def topics(self) -> list[str]:
        return sorted(self.topic_lags)

    @property
    def lag(self) -> int | None:
        """Total lag; None when the group has no committed offset at all."""
        return sum(self.topic_lags.values()) if self.committed_partitions else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "group_id": self.group_id,
            "state": self.state,
            "type": self.type,
            "assignor": self.assignor,
            "members": self.members,
            "topics": self.topics,
            "lag": self.lag,
            "topic_lags": dict(sorted(self.topic_lags.items())),
            "committed_partitions": self.committed_partitions,
        }


@dataclass(frozen=True)
class Snapshot:
    fetched_at: float
    rows: list[GroupRow]
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class GroupPage:
    rows: list[GroupRow]
    count: int
    total: int
    page: int
    page_size: int
    sort: str
    order: str
    fetched_at: float
    warnings: list[str]

    @property
    def pages(self) -> int:
        return max(1, -(-self.count // self.page_size))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def age_s(self) -> int:
        return max(0, int(time.time() - self.fetched_at))


# --- end offsets ---------------------------------------------------------------------------


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


# --- the list ------------------------------------------------------------------------------


def _cache_key(cluster: str) -> str:
    return f"groups:snapshot:{cluster}"


def _ttl() -> int:
    return max(1, int(settings.GROUPS_CACHE_TTL))


def _cache_get(key: str) -> Any:
    try:
        return cache.get(key)
    except Exception:  # the page works (slower) while Redis is down
        log.warning("cannot read %s from the cache", key, exc_info=True)
        return None


def _cache_set(key: str, value: Any, timeout: int) -> None:
    try:
        cache.set(key, value, timeout=timeout)
    except Exception:
        log.warning("cannot cache %s", key, exc_info=True)


def invalidate(cluster: str) -> None:
    """Forget the cached group list of a cluster (after a rewind or a delete)."""
    try:
        cache.delete_many([_cache_key(cluster)])
    except Exception:
        log.warning("cannot invalidate the group cache of %s", cluster, exc_info=True)


# The last list a cluster answered is kept longer: shown, with its age, while the cluster is down.
LAST_KNOWN_TTL = 24 * 3600


def read_snapshot(cluster: str) -> Snapshot:
    """Every group of the cluster with its state, members and lag, read now (and cached)."""
    summaries = list_groups(cluster)
    ids = [g.group_id for g in summaries]
    pool = cluster_pool(cluster)
    # Batches sent together: the isolated child serves them concurrently.
    chunks = [ids[i : i + GROUP_CHUNK] for i in range(0, len(ids), GROUP_CHUNK)]
    described_futures = [pool.submit(describe_groups, cluster, chunk) for chunk in chunks]
    committed_futures = [pool.submit(committed_offsets, cluster, chunk) for chunk in chunks]
    committed: dict[str, dict[Partition, int]] = {}
    for future in committed_futures:
        committed.update(future.result())
    warnings: list[str] = []
    partitions = sorted({tp for offsets in committed.values() for tp in offsets})
    marks = end_offsets(cluster, partitions, warnings)
    described: dict[str, GroupDescription] = {}
    try:
        for described_future in described_futures:
            described.update(described_future.result())
    except BackboneError as exc:
        warnings.append(f"Group states and members are unavailable right now: {exc.message}")
    rows = []
    for summary in summaries:
        offsets = committed.get(summary.group_id, {})
        lags: dict[str, int] = {}
        unknown = 0
        for (topic, p), offset in offsets.items():
            mark = marks.get((topic, p))
            if mark is None:
                unknown += 1
                lags.setdefault(topic, 0)
                continue
            lags[topic] = lags.get(topic, 0) + max(0, mark.high - offset)
        description = described.get(summary.group_id)
        rows.append(
            GroupRow(
                group_id=summary.group_id,
                # The description's state is the coordinator's own; ListGroups may say less.
                state=description.state if description else summary.state,
                type=summary.type,
                assignor=description.assignor if description else "",
                members=len(description.members) if description else 0,
                topic_lags=lags,
                committed_partitions=len(offsets),
                unknown_end=unknown,
            )
        )
    snapshot = Snapshot(fetched_at=time.time(), rows=rows, warnings=warnings)
    _cache_set(_cache_key(cluster), snapshot, _ttl())
    _cache_set(f"groups:last-known:{cluster}", snapshot, LAST_KNOWN_TTL)
    return snapshot


def snapshot(cluster: str, *, refresh: bool = False, warnings: list[str] | None = None) -> Snapshot:
    """The cached snapshot, or a fresh one; with `warnings`, the last known one while the cluster is down."""
    if not refresh:
        cached = _cache_get(_cache_key(cluster))
        if isinstance(cached, Snapshot):
            return cached
    try:
        return read_snapshot(cluster)
    except ClusterUnavailable as exc:
        last = _cache_get(f"groups:last-known:{cluster}") if warnings is not None else None
        if warnings is None or not isinstance(last, Snapshot):
            raise
        age = naturaldelta(max(0.0, time.time() - last.fetched_at))
        warnings.append(f"{exc.message}. Showing the groups as they were {age} ago.")
        return last


_STATE_ORDER = {"Stable": 0, "PreparingRebalance": 1, "CompletingRebalance": 1, "Empty": 2, "Dead": 3}


def group_page(
    cluster: str,
    *,
    search: str = "",
    sort: str = "name",
    order: str = "asc",
    page: int = 1,
    page_size: int = PAGE_SIZE,
    refresh: bool = False,
    user: Any = None,
) -> GroupPage:
    """One page of the cluster's groups, searched and sorted; InvalidRequest for a bad parameter."""
    if sort not in SORTS:
        raise InvalidRequest(f"sort must be one of {', '.join(SORTS)}", fields={"sort": "unknown sort"})
    if order not in ("asc", "desc"):
        raise InvalidRequest("order must be asc or desc", fields={"order": "must be asc or desc"})
    page_size = min(max(1, page_size), MAX_PAGE_SIZE)
    matches = name_filter(search)
    warnings: list[str] = []
    if refresh:
        decision = refresh_allowed(user, cluster, what="groups")
        refresh = decision.allowed
        if not refresh:
            warnings.append(decision.note)
    snap = snapshot(cluster, refresh=refresh, warnings=warnings)
    warnings.extend(snap.warnings)
    rows = [r for r in snap.rows if matches is None or matches.search(r.group_id)]
    reverse = order == "desc"
    if sort == "lag":
        # Groups without any committed offset have no lag: last, whichever the order.
        known = sorted((r for r in rows if r.lag is not None), key=lambda r: (r.lag or 0, r.group_id), reverse=reverse)
        rows = known + [r for r in rows if r.lag is None]
    elif sort == "members":
        rows.sort(key=lambda r: (r.members, r.group_id), reverse=reverse)
    elif sort == "state":
        rows.sort(key=lambda r: (_STATE_ORDER.get(r.state, 4), r.group_id), reverse=reverse)
    else:
        rows.sort(key=lambda r: r.group_id, reverse=reverse)
    count = len(rows)
    pages = max(1, -(-count // page_size))
    page = min(max(1, page), pages)
    return GroupPage(
        rows=rows[(page - 1) * page_size : page * page_size],
        count=count,
        total=len(snap.rows),
        page=page,
        page_size=page_size,
        sort=sort,
        order=order,
        fetched_at=snap.fetched_at,
        warnings=warnings,
    )


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
    described_future = pool.submit(describe_group, cluster, group_id)
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


def read_group(cluster: str, group_id: str, *, time_lag: bool = True) -> GroupDetail:
    """Members and, for every partition of the topics the group reads, committed/end offsets and lag."""
    description, offsets = require_group(cluster, group_id)
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
