"""The group list of a cluster: every group with its state, members and lag, cached briefly.

One snapshot per cluster in the Django cache (Redis) for GROUPS_CACHE_TTL, filled in layers:

- the *index*: one ListGroups (group id, state as listed, type) — cheap;
- *descriptions* (state, assignor, members) and *lags*, which cost a coordinator request
  per group (DescribeGroups, OffsetFetch, each after a FindCoordinator: librdkafka sends
  one group per request), plus one ListOffsets per chunk of partitions, shared by all groups.

Only the groups on the page are described and have their lag read when sorting by name;
sorting by lag reads the lag of every group that passed the search (and describes only
the page), sorting by members or state describes every match (and reads only the page's
lag). What a page fills in joins the cached snapshot without extending its life, so no
number is older than the TTL. A Redis outage costs the cache, not the page.

A group's lag here covers the topics it has committed on (the list does not describe every
group to learn its assignments): their partitions without a commit are counted apart, as
events not yet committed (end - log start), never added to the lag.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache
from humanize import naturaldelta

from backbone_admin.kafka import BackboneError, ClusterUnavailable, InvalidRequest
from backbone_admin.kafka.groups import committed_offsets, list_groups
from backbone_admin.paging import PageInfo
from backbone_admin.patterns import name_filter
from topics.groups import state as group_state
from topics.groups.lag import Partition, end_offsets, topic_partitions
from topics.groups.scope import GroupScope
from topics.groups.snapshot import GroupRow as GroupRow  # re-exported with Snapshot: callers read the list here
from topics.groups.snapshot import Snapshot as Snapshot
from topics.listing import cache_get, cache_set, cluster_pool, topic_index
from topics.refresh import refresh_allowed

log = logging.getLogger("backbone.groups")
_T = TypeVar("_T")

SORTS = ("name", "lag", "members", "state")
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
# Groups per describe / offsets request to the isolated child; the requests go out together.
GROUP_CHUNK = 200


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
    return f"groups:snapshot:v4:{cluster}"


def _last_known_key(cluster: str) -> str:
    return f"groups:last-known:v4:{cluster}"


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


def _chunks(ids: Sequence[str]) -> list[list[str]]:
    return [list(ids[i : i + GROUP_CHUNK]) for i in range(0, len(ids), GROUP_CHUNK)]


def fill(cluster: str, snap: Snapshot, *, describe: Iterable[str] = (), lag: Iterable[str] = ()) -> bool:
    """Describe and read the lag of the given groups where the snapshot lacks them; whether it read any.

    Raises BackboneError when the offsets cannot be read; a failed description is a
    warning of the snapshot (the row shows the listed state) and is asked again next time.
    """
    to_describe = [g for g in dict.fromkeys(describe) if g not in snap.described]
    to_read = [g for g in dict.fromkeys(lag) if g not in snap.lags]
    if not to_describe and not to_read:
        return False
    pool = cluster_pool(cluster)
    # Batches sent together: the isolated child serves them concurrently.
    described_futures = [pool.submit(group_state.describe, cluster, chunk) for chunk in _chunks(to_describe)]
    committed_futures = [pool.submit(committed_offsets, cluster, chunk) for chunk in _chunks(to_read)]
    committed: dict[str, dict[Partition, int]] = {}
    for future in committed_futures:
        committed.update(future.result())
    _read_partitions(cluster, snap, {t for offsets in committed.values() for t, _ in offsets})
    wanted = {tp for offsets in committed.values() for tp in offsets} | {
        (t, p) for offsets in committed.values() for t in {t for t, _ in offsets} for p in snap.partitions.get(t) or []
    }
    unread = sorted(wanted - snap.highs.keys())
    if unread:
        marks = end_offsets(cluster, unread, snap.warnings)
        snap.highs.update({tp: marks[tp].high if tp in marks else None for tp in unread})
        snap.lows.update({tp: marks[tp].low if tp in marks else None for tp in unread})
    for group_id, offsets in committed.items():
        snap.lags[group_id] = snap.lag_of(offsets)
        snap.uncommitted[group_id] = snap.uncommitted_of(offsets)
        snap.per_topic[group_id] = snap.detail_of(offsets)
    listed = {entry[0]: entry[1] for entry in snap.index} if to_describe else {}
    for chunk, described_future in zip(_chunks(to_describe), described_futures, strict=True):
        try:
            answered = described_future.result()
        except BackboneError as exc:
            note = f"Group states and members are unavailable right now: {exc.message}"
            if note not in snap.warnings:
                snap.warnings.append(note)
            continue
        for group_id in chunk:
            d = answered.get(group_id)
            # A group whose own description failed shows its listed state, as before.
            snap.described[group_id] = (
                (d.state, d.assignor, len(d.members)) if d is not None else (listed.get(group_id, "Unknown"), "", 0)
            )
    return True


def _read_partitions(cluster: str, snap: Snapshot, topics: set[str]) -> None:
    """Partition ids of the topics the snapshot lacks: from the cached topic index, else described."""
    missing = topics - snap.partitions.keys()
    if not missing:
        return
    try:
        counts = {row[0]: row[1] for row in topic_index(cluster)[1] if row[0] in missing}
    except BackboneError:
        counts = {}
    snap.partitions.update({t: list(range(n)) for t, n in counts.items()})
    # A topic created since the index was cached: described now (a deleted one is None).
    unknown = missing - counts.keys()
    if unknown:
        described = topic_partitions(cluster, unknown, snap.warnings)
        snap.partitions.update({t: described.get(t) for t in unknown})


def store(cluster: str, snap: Snapshot, *, fresh: bool) -> None:
    """Cache the snapshot for what is left of its TTL (a fresh one replaces any other).

    A snapshot filled in from the cache is only written back over the same snapshot (what
    another request filled in meanwhile is kept): never over a newer one, nor after an
    invalidation.
    """
    remaining = _ttl() - (time.time() - snap.fetched_at)
    if not fresh:
        current = cache_get(_cache_key(cluster))
        if not isinstance(current, Snapshot) or current.fetched_at != snap.fetched_at:
            return
        snap.described = {**current.described, **snap.described}
        snap.lags = {**current.lags, **snap.lags}
        snap.uncommitted = {**current.uncommitted, **snap.uncommitted}
        snap.per_topic = {**current.per_topic, **snap.per_topic}
        snap.highs = {**current.highs, **snap.highs}
        snap.lows = {**current.lows, **snap.lows}
        snap.partitions = {**current.partitions, **snap.partitions}
        snap.warnings = list(dict.fromkeys(current.warnings + snap.warnings))
    if remaining >= 1:
        cache_set(_cache_key(cluster), snap, remaining)
    cache_set(_last_known_key(cluster), snap, LAST_KNOWN_TTL)


def read_index(cluster: str) -> Snapshot:
    """A snapshot with the groups as listed now and nothing read about them yet."""
    return Snapshot(fetched_at=time.time(), index=[(g.group_id, g.state, g.type) for g in list_groups(cluster)])


def read_snapshot(cluster: str) -> Snapshot:
    """Every group of the cluster with its lag, read now (and cached); states as listed, no members.

    For the lag history: describing every group would double the coordinator requests.
    """
    snap = read_index(cluster)
    fill(cluster, snap, lag=[entry[0] for entry in snap.index])
    store(cluster, snap, fresh=True)
    return snap


# Where a snapshot came from: the cache, the cluster just now, or the last known one (cluster down).
CACHED, READ, LAST_KNOWN = "cached", "read", "last-known"


def snapshot(cluster: str, *, refresh: bool = False, warnings: list[str] | None = None) -> tuple[Snapshot, str]:
    """(snapshot, source): the cached one, or a new index; with `warnings`, the last known
    one while the cluster is down (nothing more is read from it then)."""
    if not refresh:
        cached = cache_get(_cache_key(cluster))
        if isinstance(cached, Snapshot):
            return cached, CACHED
    try:
        return read_index(cluster), READ
    except ClusterUnavailable as exc:
        last = cache_get(_last_known_key(cluster)) if warnings is not None else None
        if warnings is None or not isinstance(last, Snapshot):
            raise
        age = naturaldelta(max(0.0, time.time() - last.fetched_at))
        warnings.append(f"{exc.message}. Showing the groups as they were {age} ago.")
        return last, LAST_KNOWN


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
    scope: GroupScope | None = None,
) -> GroupPage:
    """One page of the cluster's groups, searched and sorted; InvalidRequest for a bad parameter.

    With the `scope` of a user who does not see the whole cluster, only the groups visible to
    them (scope.py) are listed, counted and sorted, their lag over the topics they may see.
    """
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
    snap, source = snapshot(cluster, refresh=refresh, warnings=warnings)
    live = source != LAST_KNOWN
    changed = False

    def read(describe: Iterable[str] = (), lag: Iterable[str] = ()) -> None:
        nonlocal changed, live
        if not live:
            return
        try:
            changed = fill(cluster, snap, describe=describe, lag=lag) or changed
        except BackboneError as exc:
            live = False  # one failure per request: the rest is shown as far as it is known
            warnings.append(f"Lag is unavailable right now: {exc.message}")

    entries = [e for e in snap.index if matches is None or matches.search(e[0])]
    total = len(snap.index)
    topic_visible = scope.topic_filter if scope is not None else None
    if scope is not None and topic_visible is not None:
        # Whether a group reads a visible topic needs its committed offsets: read (and cached)
        # for every group no pattern of the user names. Unread (cluster down) = not shown.
        read(lag=[e[0] for e in snap.index if not scope.group_named(e[0])])
        visible = {
            e[0]
            for e in snap.index
            if scope.group_named(e[0]) or (e[0] in snap.lags and scope.group_visible(e[0], snap.lags[e[0]][0]))
        }
        total = len(visible)
        entries = [e for e in entries if e[0] in visible]
    reverse = order == "desc"
    # Orders that need every match's lag or description read them first; the page's rows
    # get the rest after the slice.
    if sort == "lag":
        read(lag=[e[0] for e in entries])
    elif sort in ("members", "state"):
        read(describe=[e[0] for e in entries])
    if sort == "name":
        if reverse:
            entries = entries[::-1]  # the index is sorted by group id
        count = len(entries)
        shown = _page_slice(entries, page, page_size)
        read(describe=[e[0] for e in shown], lag=[e[0] for e in shown])
        rows = [snap.row(e, topic_visible) for e in shown]
    else:
        all_rows = [snap.row(e, topic_visible) for e in entries]
        if sort == "lag":
            # Groups without any committed offset have no lag: last, whichever the order.
            known = sorted(
                (r for r in all_rows if r.lag is not None), key=lambda r: (r.lag or 0, r.group_id), reverse=reverse
            )
            all_rows = known + [r for r in all_rows if r.lag is None]
        elif sort == "members":
            all_rows.sort(key=lambda r: (r.members, r.group_id), reverse=reverse)
        else:
            all_rows.sort(key=lambda r: (_STATE_ORDER.get(r.state, 4), r.group_id), reverse=reverse)
        count = len(all_rows)
        shown_rows = _page_slice(all_rows, page, page_size)
        read(describe=[r.group_id for r in shown_rows], lag=[r.group_id for r in shown_rows])
        by_id = {e[0]: e for e in entries}
        rows = [snap.row(by_id[r.group_id], topic_visible) for r in shown_rows]
    if changed or source == READ:
        store(cluster, snap, fresh=source == READ)
    unread = sum(1 for r in rows if not r.lag_read)
    if unread and source == LAST_KNOWN:
        warnings.append(f"The lag of {unread} group(s) on this page was not read before the cluster stopped answering.")
    warnings.extend(w for w in snap.warnings if w not in warnings)
    if scope is not None:
        warnings = scope.clean_warnings(warnings)
    pages = max(1, -(-count // page_size))
    return GroupPage(
        rows=rows,
        count=count,
        total=total,
        page=min(max(1, page), pages),
        page_size=page_size,
        sort=sort,
        order=order,
        fetched_at=snap.fetched_at,
        warnings=warnings,
    )


def _page_slice(items: Sequence[_T], page: int, page_size: int) -> list[_T]:
    pages = max(1, -(-len(items) // page_size))
    page = min(max(1, page), pages)
    return list(items[(page - 1) * page_size : page * page_size])
