"""The group list of a cluster: every group with its state, members and lag, cached briefly.

Per cluster and per GROUPS_CACHE_TTL: the groups (one ListGroups), their descriptions and
committed offsets (in batches sent together to the isolated child), and the end offsets of
every partition any group has committed on (one ListOffsets per chunk of partitions, shared
by all groups). A Redis outage costs the cache, not the page.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache
from humanize import naturaldelta

from backbone_admin.kafka import BackboneError, ClusterUnavailable, InvalidRequest
from backbone_admin.kafka.groups import GroupDescription, committed_offsets, describe_groups, list_groups
from backbone_admin.paging import PageInfo
from backbone_admin.patterns import name_filter
from topics.groups.lag import Partition, end_offsets
from topics.listing import cache_get, cache_set, cluster_pool
from topics.refresh import refresh_allowed

log = logging.getLogger("backbone.groups")

SORTS = ("name", "lag", "members", "state")
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
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
class GroupPage(PageInfo):
    rows: list[GroupRow]
    count: int
    total: int
    page: int
    page_size: int
    sort: str
    order: str
    fetched_at: float
    warnings: list[str]


def _cache_key(cluster: str) -> str:
    return f"groups:snapshot:{cluster}"


def _ttl() -> int:
    return max(1, int(settings.GROUPS_CACHE_TTL))


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
    cache_set(_cache_key(cluster), snapshot, _ttl())
    cache_set(f"groups:last-known:{cluster}", snapshot, LAST_KNOWN_TTL)
    return snapshot


def snapshot(cluster: str, *, refresh: bool = False, warnings: list[str] | None = None) -> Snapshot:
    """The cached snapshot, or a fresh one; with `warnings`, the last known one while the cluster is down."""
    if not refresh:
        cached = cache_get(_cache_key(cluster))
        if isinstance(cached, Snapshot):
            return cached
    try:
        return read_snapshot(cluster)
    except ClusterUnavailable as exc:
        last = cache_get(f"groups:last-known:{cluster}") if warnings is not None else None
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
