"""Topic sizes on disk per cluster, cached briefly like the other topic figures.

One DescribeLogDirs answer per cluster (one request per broker, backbone_admin/kafka/logdirs.py)
is kept in the Django cache for METADATA_CACHE_TTL. Pages sorted by name ask only for the
topics they show (pages asked later join the cached answer but never extend its life);
sorting by size asks for every topic once. A cluster that cannot tell sizes is remembered
longer, so its pages do not ask again on every view: they say "size unknown on this cluster".
Callers pass only the topics the user may see; nothing here lists a topic.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache

from backbone_admin.kafka import BackboneError, NotSupported
from backbone_admin.kafka.logdirs import LogDirs, ReplicaLog, describe_log_dirs

log = logging.getLogger("backbone.topics")

# What the pages say for a cluster that cannot tell sizes; they look for it in the reason
# (a passing failure reads "Size unknown right now" and shows a dash with the reason).
SIZE_UNKNOWN = "size unknown on this cluster"
# A cluster that lacks the request (or refuses it) does not change its mind within minutes.
UNKNOWN_TTL = 300.0
# Asking for every topic pays off over asking for a page's topics one page at a time.
ASK_ALL_ABOVE = 200

# (bytes of one copy, bytes on disk over all replicas, partitions seen) per topic
Totals = tuple[int, int, int]


@dataclass(frozen=True)
class TopicSizes:
    totals: dict[str, Totals]
    unknown: str | None = None  # why no size is known on this cluster; None when sizes are known
    warnings: list[str] = field(default_factory=list)

    def size(self, topic: str, partitions: int) -> int | None:
        """Bytes of one copy of the topic, or None unless every partition was reported."""
        found = self.totals.get(topic)
        return found[0] if found is not None and found[2] >= partitions else None

    def on_disk(self, topic: str, partitions: int) -> int | None:
        found = self.totals.get(topic)
        return found[1] if found is not None and found[2] >= partitions else None


def _key(cluster: str) -> str:
    return f"topics:sizes:{cluster}"


def _ttl() -> float:
    return max(1.0, float(settings.METADATA_CACHE_TTL))


def _get(cluster: str) -> dict[str, Any] | None:
    try:
        blob = cache.get(_key(cluster))
    except Exception:  # a Redis outage costs the cache only
        log.warning("cannot read the topic sizes of %s from the cache", cluster, exc_info=True)
        return None
    return blob if isinstance(blob, dict) else None


def _set(cluster: str, blob: dict[str, Any], timeout: float) -> None:
    try:
        cache.set(_key(cluster), blob, timeout=max(1, int(timeout)))
    except Exception:
        log.warning("cannot cache the topic sizes of %s", cluster, exc_info=True)


def invalidate(cluster: str) -> None:
    try:
        cache.delete(_key(cluster))
    except Exception:
        log.warning("cannot invalidate the topic sizes of %s", cluster, exc_info=True)


def sizes_cached(cluster: str) -> bool:
    """Whether a fresh answer for every topic (or a remembered "unknown") is in the cache."""
    blob = _get(cluster)
    return blob is not None and (bool(blob.get("unknown")) or (blob["complete"] and time.time() - blob["at"] < _ttl()))


def _unknown_reason(exc: BackboneError) -> str:
    if isinstance(exc, NotSupported):
        return f"{SIZE_UNKNOWN.capitalize()}: {exc.message}."
    return f"Size unknown right now: {exc.message}"


def topic_sizes(cluster: str, rows: Sequence[tuple[str, int]], *, everything: bool = False) -> TopicSizes:
    """Sizes of the given (topic, partition count) rows; `everything` asks for every topic at once."""
    now = time.time()
    blob = _get(cluster)
    if blob is not None and blob.get("unknown"):
        return TopicSizes({}, unknown=blob["unknown"])
    at, totals, complete, notes = now, {}, False, []
    if blob is not None and now - blob["at"] < _ttl():
        at, totals, complete, notes = blob["at"], blob["totals"], blob["complete"], blob["warnings"]
    missing = [] if complete else [(name, count) for name, count in rows if name not in totals]
    if missing:
        ask_all = everything or len(missing) > ASK_ALL_ABOVE
        try:
            answer = describe_log_dirs(cluster, None if ask_all else [(n, range(c)) for n, c in missing])
        except BackboneError as exc:
            reason = _unknown_reason(exc)
            # Unsupported or refused: remembered; a cluster that did not answer is asked again soon.
            lasting = isinstance(exc, NotSupported) or exc.status == 403
            _set(cluster, {"at": now, "unknown": reason}, UNKNOWN_TTL if lasting else _ttl())
            return TopicSizes({}, unknown=reason)
        totals = {**totals, **answer.topic_sizes()}
        if not ask_all:
            # A topic the brokers did not report (no replica answered) stays unknown, not asked again.
            totals.update({name: totals.get(name, (0, 0, 0)) for name, _ in missing})
        complete = complete or ask_all
        notes = sorted(set(notes) | set(answer.warnings()))
        _set(
            cluster,
            {"at": at, "unknown": None, "totals": totals, "complete": complete, "warnings": notes},
            _ttl() - (time.time() - at),
        )
    return TopicSizes(totals, warnings=[f"Sizes may be incomplete: {n}." for n in notes])


@dataclass(frozen=True)
class PartitionSizes:
    """One topic's sizes per partition and per replica, for its page and API."""

    replicas: dict[int, list[ReplicaLog]]
    unknown: str | None = None
    warnings: list[str] = field(default_factory=list)

    def size(self, partition: int) -> int | None:
        live = [r.size for r in self.replicas.get(partition, []) if not r.future]
        return max(live) if live else None

    def total(self, partitions: Sequence[int]) -> int | None:
        sizes = [self.size(p) for p in partitions]
        return None if self.unknown or any(s is None for s in sizes) else sum(s or 0 for s in sizes)


def partition_sizes(cluster: str, topic: str, partitions: Sequence[int]) -> PartitionSizes:
    """Every replica's size of the topic's partitions (asked for this topic only, not cached)."""
    blob = _get(cluster)
    if blob is not None and blob.get("unknown"):
        return PartitionSizes({}, unknown=blob["unknown"])
    try:
        answer: LogDirs = describe_log_dirs(cluster, [(topic, partitions)])
    except BackboneError as exc:
        reason = _unknown_reason(exc)
        if isinstance(exc, NotSupported):
            _set(cluster, {"at": time.time(), "unknown": reason}, UNKNOWN_TTL)
        return PartitionSizes({}, unknown=reason)
    replicas: dict[int, list[ReplicaLog]] = {}
    for r in sorted(answer.replicas, key=lambda r: (r.partition, r.broker, r.future)):
        if r.topic == topic:
            replicas.setdefault(r.partition, []).append(r)
    return PartitionSizes(replicas, warnings=[f"Sizes may be incomplete: {n}." for n in answer.warnings()])


def partition_bytes(cluster: str, topics: Sequence[tuple[str, int]]) -> tuple[dict[tuple[str, int], int], str | None]:
    """(bytes per (topic, partition), None) for the given topics, or ({}, why unknown)."""
    blob = _get(cluster)
    if blob is not None and blob.get("unknown"):
        return {}, blob["unknown"]
    try:
        answer = describe_log_dirs(cluster, [(name, range(count)) for name, count in topics])
    except BackboneError as exc:
        return {}, _unknown_reason(exc)
    return answer.partition_sizes(), None
