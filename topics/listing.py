"""The topic index of a cluster: search, sort and paginate thousands of topics quickly.

Two cached layers per cluster, both in the Django cache (Redis) for METADATA_CACHE_TTL:

- the *index*: one Metadata request turned into compact tuples (name, partitions,
  replication factor, under-replicated count) — cheap to fetch, cheap to unpickle;
- the *enrichment*: message counts (Σ high - low watermark) and the retention configs,
  which cost a ListOffsets over every partition and a DescribeConfigs per topic.

Only the rows on the page are enriched when sorting by name or partitions; sorting by
messages or retention enriches every topic that passed the search, once per TTL.
Everything is per cluster, so one slow cluster never holds up another.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, cast

from django.conf import settings
from django.core.cache import cache
from humanize import naturaldelta

from backbone_admin.kafka import (
    BackboneError,
    ClusterUnavailable,
    InvalidRequest,
    TopicMetadata,
    is_internal_topic,
    topic_metadata,
)
from backbone_admin.kafka.client import ContextPool
from backbone_admin.kafka.offsets import watermarks
from backbone_admin.kafka.topics import describe_topic_configs
from backbone_admin.paging import PageInfo
from backbone_admin.patterns import name_filter
from topics.refresh import refresh_allowed
from topics.retention import governing_policy, ordered_policies
from topics.units import format_duration_ms, format_size_bytes
from topics.visibility import visible_rows

log = logging.getLogger("backbone.topics")

SORTS = ("name", "partitions", "messages", "size", "retention")
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
SIZE_UNAVAILABLE = (
    "Size needs DescribeLogDirs, which this console's Kafka client (confluent-kafka 2.16) does not offer; "
    "it is not available from this cluster/client."
)

# (name, partitions, replication factor, under-replicated partitions)
IndexRow = tuple[str, int, int, int]
# (messages, retention.ms, retention.bytes, cleanup.policy); None where unknown
Enrichment = tuple[int | None, int | None, int | None, str | None]

# ListOffsets slows down more than linearly with the partitions in one request (10,000
# partitions: 4.4 s in one request, 0.9 s as ten requests of 1,000 sent together).
OFFSETS_CHUNK = 1000
# A pool per cluster, so a cluster that does not answer only ties up its own threads.
_pools: dict[str, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def cluster_pool(cluster: str) -> ThreadPoolExecutor:
    with _pools_lock:
        pool = _pools.get(cluster)
        if pool is None:
            pool = _pools[cluster] = ContextPool(max_workers=8, thread_name_prefix=f"topics-{cluster}")
        return pool


@dataclass(frozen=True)
class TopicRow:
    name: str
    partitions: int
    replication_factor: int
    under_replicated: int
    internal: bool
    messages: int | None
    size: int | None
    retention_ms: int | None
    retention_bytes: int | None
    cleanup_policy: str | None
    policy: str | None

    @property
    def retention_ms_human(self) -> str:
        return format_duration_ms(self.retention_ms) if self.retention_ms is not None else "—"

    @property
    def retention_bytes_human(self) -> str:
        return format_size_bytes(self.retention_bytes) if self.retention_bytes is not None else "—"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "partitions": self.partitions,
            "replication_factor": self.replication_factor,
            "under_replicated": self.under_replicated,
            "internal": self.internal,
            "messages": self.messages,
            "size": self.size,
            "retention_ms": self.retention_ms,
            "retention_bytes": self.retention_bytes,
            "retention_ms_human": self.retention_ms_human,
            "retention_bytes_human": self.retention_bytes_human,
            "cleanup_policy": self.cleanup_policy,
            "retention_policy": self.policy,
        }


@dataclass(frozen=True)
class TopicPage(PageInfo):
    rows: list[TopicRow]
    count: int
    page: int
    page_size: int
    sort: str
    order: str
    fetched_at: float
    warnings: list[str] = field(default_factory=list)


def _index_key(cluster: str) -> str:
    return f"topics:index:{cluster}"


def _enrich_key(cluster: str) -> str:
    return f"topics:enrich:{cluster}"


def _ttl() -> int:
    return max(1, int(settings.METADATA_CACHE_TTL))


def cache_get(key: str) -> Any:
    """The cached value, or None; a Redis outage only costs the cache."""
    try:
        return cache.get(key)
    except Exception:  # the listing works (slower) while Redis is down
        log.warning("cannot read %s from the cache", key, exc_info=True)
        return None


def cache_set(key: str, value: Any, timeout: float | None = None) -> None:
    try:
        cache.set(key, value, timeout=max(1, int(timeout if timeout is not None else _ttl())))
    except Exception:
        log.warning("cannot cache %s", key, exc_info=True)


def invalidate(cluster: str) -> None:
    """Forget the cached index and enrichment of a cluster (after a change)."""
    try:
        cache.delete_many([_index_key(cluster), _enrich_key(cluster), _offline_key(cluster)])
    except Exception:
        log.warning("cannot invalidate the topic cache of %s", cluster, exc_info=True)


# The last index a cluster answered is kept much longer than the cache: while the cluster
# is down, the list is shown as it was, saying how old it is, instead of nothing at all.
LAST_KNOWN_TTL = 7 * 24 * 3600


def _last_known_key(cluster: str) -> str:
    return f"topics:last-known:{cluster}"


def _offline_key(cluster: str) -> str:
    return f"topics:offline:{cluster}"


def store_index(cluster: str, topics: Sequence[TopicMetadata]) -> tuple[float, list[IndexRow]]:
    rows = [(t.name, len(t.partitions), t.replication_factor, t.under_replicated) for t in topics]
    blob = (time.time(), rows)
    cache_set(_index_key(cluster), blob)
    cache_set(_last_known_key(cluster), blob, LAST_KNOWN_TTL)
    # Beside the index (whose rows keep their shape): what a scoped user's health counts as offline.
    cache_set(_offline_key(cluster), {t.name: t.offline for t in topics if t.offline})
    return blob


def index_with_offline(cluster: str) -> tuple[float, list[IndexRow], dict[str, int]]:
    """(fetched_at, index rows, offline partitions per topic with some), read together."""
    blob, offline = cache_get(_index_key(cluster)), cache_get(_offline_key(cluster))
    if blob is None or offline is None:
        blob = store_index(cluster, topic_metadata(cluster))
        offline = cache_get(_offline_key(cluster)) or {}
    return blob[0], blob[1], offline


def topic_index(
    cluster: str, *, refresh: bool = False, warnings: list[str] | None = None
) -> tuple[float, list[IndexRow]]:
    """(fetched_at, rows sorted by name) from the cache, or from the cluster.

    With `warnings`, a cluster that does not answer yields its last known index (and a
    warning naming the cause and the age) when there is one.
    """
    if not refresh:
        cached = cache_get(_index_key(cluster))
        if cached is not None:
            return cached
    try:
        return store_index(cluster, topic_metadata(cluster))
    except ClusterUnavailable as exc:
        last = cache_get(_last_known_key(cluster)) if warnings is not None else None
        if warnings is None or last is None:
            raise
        age = naturaldelta(max(0.0, time.time() - last[0]))
        warnings.append(f"{exc.message}. Showing the topics as they were {age} ago.")
        return cast(tuple[float, list[IndexRow]], last)


def _fetch_enrichment(cluster: str, rows: Sequence[IndexRow]) -> dict[str, Enrichment]:
    """Watermarks and retention configs of the given topics, both asked at once."""
    names = [r[0] for r in rows]
    partitions = [(name, p) for name, count, _, _ in rows for p in range(count)]
    pool = cluster_pool(cluster)
    configs_future = pool.submit(describe_topic_configs, cluster, names)
    chunks = [
        # Counts for thousands of topics: the brokers' ListOffsets answers, one round trip.
        pool.submit(watermarks, cluster, partitions[start : start + OFFSETS_CHUNK], exact=False)
        for start in range(0, len(partitions), OFFSETS_CHUNK)
    ]
    messages: dict[str, int] = dict.fromkeys(names, 0)
    for chunk in chunks:
        for (topic, _), mark in chunk.result().items():
            messages[topic] += mark.messages
    configs = configs_future.result()
    result: dict[str, Enrichment] = {}
    for name in names:
        conf = configs.get(name, {})
        ms, size, cleanup = conf.get("retention.ms"), conf.get("retention.bytes"), conf.get("cleanup.policy")
        result[name] = (
            messages[name],
            _int_or_none(ms.value if ms else None),
            _int_or_none(size.value if size else None),
            cleanup.value if cleanup else None,
        )
    return result


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _enriched(cluster: str, rows: Sequence[IndexRow], warnings: list[str]) -> dict[str, Enrichment]:
    """Enrichment for `rows`: from the cache, fetching only what is missing."""
    # (started_at, data): pages enriched later join the blob but never extend its life,
    # so no count is older than the TTL.
    blob = cache_get(_enrich_key(cluster))
    now = time.time()
    started, cached = blob if blob and now - blob[0] < _ttl() else (now, {})
    missing = [r for r in rows if r[0] not in cached]
    if missing:
        try:
            fresh = _fetch_enrichment(cluster, missing)
        except BackboneError as exc:
            # The names and partitions are still worth showing; counts come back on refresh.
            warnings.append(f"Message counts and retention are unavailable right now: {exc.message}")
            return cached
        cached = {**cached, **fresh}
        cache_set(_enrich_key(cluster), (started, cached), timeout=_ttl() - (time.time() - started))
    return cached


def _retention_key(value: int | None) -> float:
    return float("inf") if value is not None and value < 0 else float(value or 0)


def topic_page(
    cluster: str,
    *,
    search: str = "",
    sort: str = "name",
    order: str = "asc",
    page: int = 1,
    page_size: int = PAGE_SIZE,
    internal: bool = False,
    refresh: bool = False,
    user: Any = None,
) -> TopicPage:
    """One page of the cluster's topics; raises InvalidRequest for a bad search or parameter.

    Only the topics `user` may see are listed, counted, sorted and enriched (None: every topic,
    for internal callers). `refresh` re-reads the cluster when `user` is within the refresh rate
    limits; otherwise the cached data is served with a warning saying so.
    """
    if sort not in SORTS:
        raise InvalidRequest(f"sort must be one of {', '.join(SORTS)}", fields={"sort": "unknown sort"})
    if order not in ("asc", "desc"):
        raise InvalidRequest("order must be asc or desc", fields={"order": "must be asc or desc"})
    page_size = min(max(1, page_size), MAX_PAGE_SIZE)
    matches = name_filter(search)
    warnings: list[str] = []
    if refresh:
        decision = refresh_allowed(user, cluster, what="topics")
        refresh = decision.allowed
        if not refresh:
            warnings.append(decision.note)
    if refresh:
        invalidate(cluster)
    fetched_at, index = topic_index(cluster, refresh=refresh, warnings=warnings)
    # Visibility first: nothing below (counts, sorting by messages, enrichment) sees a hidden topic.
    if user is not None:
        index = visible_rows(user, cluster, fetched_at, index)
    rows = [r for r in index if (internal or not is_internal_topic(r[0])) and (matches is None or matches.search(r[0]))]
    reverse = order == "desc"
    enrichment: dict[str, Enrichment] = {}
    if sort in ("messages", "retention"):
        # These orders need every matching topic's numbers; unknown values go last either way.
        enrichment = _enriched(cluster, rows, warnings)

        def value(row: IndexRow) -> float | None:
            data = enrichment.get(row[0])
            if data is None:
                return None
            raw = data[0] if sort == "messages" else data[1]
            if raw is None:
                return None
            return _retention_key(raw) if sort == "retention" else float(raw)

        known = [r for r in rows if value(r) is not None]
        unknown = [r for r in rows if value(r) is None]
        known.sort(key=lambda r: (value(r), r[0]), reverse=reverse)
        rows = known + unknown
    elif sort == "partitions":
        rows.sort(key=lambda r: (r[1], r[0]), reverse=reverse)
    elif reverse:  # name, and size (not available, so by name)
        rows.reverse()
    count = len(rows)
    pages = max(1, -(-count // page_size))
    page = min(max(1, page), pages)
    shown = rows[(page - 1) * page_size : page * page_size]
    if not enrichment:
        enrichment = _enriched(cluster, shown, warnings)
    policies = ordered_policies()
    result = []
    for name, partitions, rf, under in shown:
        messages, ms, size, cleanup = enrichment.get(name, (None, None, None, None))
        policy = governing_policy(name, policies)
        result.append(
            TopicRow(
                name=name,
                partitions=partitions,
                replication_factor=rf,
                under_replicated=under,
                internal=is_internal_topic(name),
                messages=messages,
                size=None,
                retention_ms=ms,
                retention_bytes=size,
                cleanup_policy=cleanup,
                policy=policy.name if policy else None,
            )
        )
    return TopicPage(
        rows=result,
        count=count,
        page=page,
        page_size=page_size,
        sort=sort,
        order=order,
        fetched_at=fetched_at,
        warnings=warnings,
    )
