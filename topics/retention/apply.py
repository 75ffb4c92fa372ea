"""Applying retention policies to topics (broker, operator role): preview with impact, apply, drift."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from backbone_admin.access import access_for
from backbone_admin.audit import audited
from backbone_admin.clusters import all_clusters
from backbone_admin.kafka import BackboneError, InvalidRequest, topic_metadata
from backbone_admin.kafka.offsets import offsets_for_time, watermarks
from backbone_admin.kafka.topics import alter_topic_configs
from backbone_admin.models import Role
from backbone_admin.roles import require_cluster_visible, require_role
from topics.configs import human
from topics.retention import ordered_policies
from topics.retention.compliance import TopicCompliance, cluster_compliance, effective_value
from topics.sizes import partition_bytes
from topics.units import format_duration_ms, format_size_bytes
from topics.visibility import topic_filter

log = logging.getLogger("backbone.retention")

# `topics: ["*drifting*"]` (or `all_drifting: true`) applies to every drifting topic.
ALL_DRIFTING = "*drifting*"
# Per-topic outcomes; `planned` only in a dry run.
STATUSES = ("planned", "applied", "unchanged", "failed", "skipped")


def drift_cache_key(cluster: str) -> str:
    return f"retention:drift:{cluster}"


def drift_names_key(cluster: str) -> str:
    # The drifting topics themselves: a user who sees only some topics is told how many of THEIRS drift.
    return f"retention:drift-names:{cluster}"


# Policies ------------------------------------------------------------------------------


@dataclass
class ConfigChange:
    name: str
    before: str | None
    after: str
    before_is_default: bool

    @property
    def before_human(self) -> str:
        return human(self.name, self.before)

    @property
    def after_human(self) -> str:
        return human(self.name, self.after)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "before": self.before,
            "before_human": self.before_human,
            "before_is_default": self.before_is_default,
            "after": self.after,
            "after_human": self.after_human,
        }


@dataclass
class Impact:
    """What the broker will delete once the change is applied, as far as offsets can tell."""

    # Events older than the new retention, summed over partitions; None when not predictable.
    events: int | None = None
    older_than_ms: int | None = None
    cutoff_ms: int | None = None
    partitions: list[dict[str, int]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Estimated bytes of those events: each partition's size times its share of events deleted.
    bytes: int | None = None
    bytes_unknown: str | None = None

    @property
    def summary(self) -> str:
        if self.events is None:
            return "; ".join(self.notes) or "nothing is deleted"
        if self.events == 0:
            return f"no event is older than {format_duration_ms(self.older_than_ms)}: nothing to delete"
        about = f", about {format_size_bytes(self.bytes)} (estimate)" if self.bytes is not None else ""
        return f"will delete ~{self.events:,} events older than {format_duration_ms(self.older_than_ms)}{about}"

    @property
    def bytes_note(self) -> str:
        if self.bytes is None:
            return f"Size of what is deleted: unknown ({self.bytes_unknown or 'no size reported'})"
        return (
            "Size estimated per partition from its size on disk and its share of events deleted "
            "(retention deletes whole segments, never the active one)"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "bytes": self.bytes,
            "bytes_human": format_size_bytes(self.bytes) if self.bytes is not None else None,
            "bytes_estimated": self.bytes is not None,
            "bytes_note": self.bytes_note,
            "older_than_ms": self.older_than_ms,
            "older_than_human": format_duration_ms(self.older_than_ms) if self.older_than_ms is not None else None,
            "cutoff_ms": self.cutoff_ms,
            "partitions": self.partitions,
            "notes": self.notes,
            "summary": self.summary,
        }


@dataclass
class TopicApply:
    topic: str
    status: str  # planned (dry run) | applied | unchanged | failed | skipped
    policy: str | None = None
    changes: list[ConfigChange] = field(default_factory=list)
    impact: Impact = field(default_factory=Impact)
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "status": self.status,
            "policy": self.policy,
            "changes": [c.as_dict() for c in self.changes],
            "impact": self.impact.as_dict(),
            "error": self.error or None,
        }


@dataclass
class ApplyReport:
    cluster: str
    dry_run: bool
    results: list[TopicApply]

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def counts(self) -> dict[str, int]:
        return {s: self.count(s) for s in STATUSES}

    @property
    def events_to_delete(self) -> int:
        return sum(r.impact.events or 0 for r in self.results)

    def as_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "dry_run": self.dry_run,
            "summary": self.counts | {"events_to_delete": self.events_to_delete},
            "results": [r.as_dict() for r in self.results],
        }


def compliance_apply(
    *,
    user: Any,
    cluster: str,
    topics: Sequence[str],
    dry_run: bool = True,
    all_drifting: bool = False,
    request: HttpRequest | None = None,
) -> ApplyReport:
    """Bring topics to their governing policy's configs; a dry run only reports changes and impact.

    `all_drifting` (or `*drifting*` among `topics`) adds every drifting topic. Each topic gets
    one incremental alter, audited; a failure on one topic does not stop the others.

    A preview is a read over the topics the user sees (a topic they may not see is reported
    word for word as a missing one); applying policies, the cluster's own objects, needs the
    operator role on the whole cluster.
    """
    if dry_run:
        config = require_cluster_visible(user, cluster)
    else:
        config = require_role(user, cluster, Role.OPERATOR, change=True)
    role_of = access_for(user).topic_roles(config.name)

    limit = int(settings.RETENTION_APPLY_MAX_TOPICS)
    if len(topics) > limit:
        message = (
            f"at most {limit:,} topics in one request ({len(topics):,} given); "
            "send them in batches, or use all_drifting for every drifting topic"
        )
        raise InvalidRequest(message, fields={"topics": message})
    names = list(dict.fromkeys(t.strip() for t in topics if t.strip() and t.strip() != ALL_DRIFTING))
    all_drifting = all_drifting or ALL_DRIFTING in topics
    if not names and not all_drifting:
        raise InvalidRequest("choose at least one topic", fields={"topics": "choose at least one topic"})

    policies = ordered_policies()
    # A hidden topic is left out here, so it reads exactly as a missing one below.
    metadata = [t for t in topic_metadata(config.name) if role_of(t.name) is not None]
    by_name = {t.name: t for t in metadata}
    rows = cluster_compliance(config.name, policies=policies, only=None if all_drifting else names, metadata=metadata)
    row_by_name = {r.topic: r for r in rows}
    if all_drifting:
        names += [r.topic for r in rows if r.drifting and r.topic not in names]

    results: list[TopicApply] = []
    for name in names:
        topic = by_name.get(name)
        row = row_by_name.get(name)
        if topic is None:
            results.append(
                TopicApply(name, "failed", error=f"topic `{name}` does not exist on cluster `{config.name}`")
            )
        elif topic.internal or row is None:
            results.append(TopicApply(name, "skipped", error=f"`{name}` is an internal topic; policies do not apply"))
        elif row.policy is None:
            results.append(TopicApply(name, "skipped", error="no retention policy governs this topic"))
        else:
            changes = [ConfigChange(c.name, c.actual, c.expected, c.actual_is_default) for c in row.checks if c.drift]
            status = "planned" if changes else "unchanged"
            results.append(TopicApply(name, status, policy=row.policy.name, changes=changes))

    _predict_impact(config.name, [(r, row_by_name[r.topic]) for r in results if r.changes])
    if not dry_run:
        for result in results:
            if result.changes:
                _apply_one(user, config.name, result, request)
        _lower_cached_drift(config.name, [r.topic for r in results if r.status == "applied"])
    return ApplyReport(cluster=config.name, dry_run=dry_run, results=results)


def _apply_one(user: Any, cluster: str, result: TopicApply, request: HttpRequest | None) -> None:
    before = {c.name: c.before for c in result.changes}
    after = {c.name: c.after for c in result.changes}
    try:
        with audited(
            user=user, action="retention.apply", cluster=cluster, target=result.topic, before=before, request=request
        ) as change:
            alter_topic_configs(cluster, result.topic, set_values=after)
            change.after = after | {"policy": result.policy}
    except BackboneError as exc:
        result.status, result.error = "failed", exc.message
    else:
        result.status = "applied"


def _retention(name: str, row: TopicCompliance, result: TopicApply, *, after: bool) -> str | None:
    for change in result.changes:
        if change.name == name:
            return change.after if after else change.before
    return effective_value(name, row.actual)[0]


def _predict_impact(cluster: str, pending: Sequence[tuple[TopicApply, TopicCompliance]]) -> None:
    """Fill each result's impact: events older than a shorter retention, from offsets-for-times."""
    by_cutoff: dict[int, list[TopicApply]] = defaultdict(list)
    partitions: dict[str, int] = {}
    now_ms = int(time.time() * 1000)
    for result, row in pending:
        old_ms = int(_retention("retention.ms", row, result, after=False) or -1)
        new_ms = int(_retention("retention.ms", row, result, after=True) or -1)
        old_policy = _retention("cleanup.policy", row, result, after=False) or "delete"
        new_policy = _retention("cleanup.policy", row, result, after=True) or "delete"
        deletes_before, deletes_after = "delete" in old_policy.split(","), "delete" in new_policy.split(",")
        notes = result.impact.notes
        if "compact" in new_policy.split(",") and "compact" not in old_policy.split(","):
            notes.append("compaction will remove older values of each key (count not predictable)")
        old_bytes = int(_retention("retention.bytes", row, result, after=False) or -1)
        new_bytes = int(_retention("retention.bytes", row, result, after=True) or -1)
        if deletes_after and new_bytes >= 0 and (old_bytes < 0 or new_bytes < old_bytes or not deletes_before):
            notes.append(
                f"retention.bytes {human('retention.bytes', str(new_bytes))} per partition: what is deleted "
                "depends on segment sizes (whole segments beyond the limit)"
            )
        shorter = new_ms >= 0 and (old_ms < 0 or new_ms < old_ms or not deletes_before)
        if deletes_after and shorter:
            result.impact.older_than_ms = new_ms
            result.impact.cutoff_ms = now_ms - new_ms
            by_cutoff[now_ms - new_ms].append(result)
            partitions[result.topic] = row.partitions
    if not by_cutoff:
        return
    wanted = [(topic, p) for topic, count in partitions.items() for p in range(count)]
    try:
        marks = watermarks(cluster, wanted)
        found: dict[tuple[str, int], int] = {}
        for cutoff, results in by_cutoff.items():
            found |= offsets_for_time(
                cluster, [(r.topic, p) for r in results for p in range(partitions[r.topic])], cutoff
            )
    except BackboneError as exc:
        # The config change stays possible; the preview says plainly that the count is missing.
        for results in by_cutoff.values():
            for result in results:
                result.impact.notes.append(f"events to delete unknown: {exc.message}")
        return
    for results in by_cutoff.values():
        for result in results:
            total = 0
            for p in range(partitions[result.topic]):
                mark = marks[(result.topic, p)]
                first_newer = found[(result.topic, p)]
                # -1: no event at or after the cutoff, so every stored event is older.
                end = mark.high if first_newer < 0 else min(max(first_newer, mark.low), mark.high)
                events = end - mark.low
                total += events
                result.impact.partitions.append(
                    {"partition": p, "low": mark.low, "high": mark.high, "first_kept": end, "events": events}
                )
            result.impact.events = total
    _estimate_bytes(cluster, [r for results in by_cutoff.values() for r in results], partitions)


def _estimate_bytes(cluster: str, results: Sequence[TopicApply], partitions: dict[str, int]) -> None:
    """Bytes of the events to delete, per partition: its size * events deleted / events stored."""
    sizes, unknown = partition_bytes(cluster, [(r.topic, partitions[r.topic]) for r in results])
    for result in results:
        impact = result.impact
        if unknown is not None or any((result.topic, row["partition"]) not in sizes for row in impact.partitions):
            impact.bytes_unknown = unknown or "a partition's size was not reported"
            continue
        total = 0
        for row in impact.partitions:
            stored = row["high"] - row["low"]
            share = sizes[(result.topic, row["partition"])] * row["events"] // stored if stored > 0 else 0
            row["bytes_estimate"] = share
            total += share
        impact.bytes = total


def _lower_cached_drift(cluster: str, fixed: list[str]) -> None:
    """Keep the navigation's drift count honest until the next beat recomputes it."""
    if not fixed:
        return
    try:
        current = cache.get(drift_cache_key(cluster))
        if current is not None:
            cache.set(drift_cache_key(cluster), max(0, int(current) - len(fixed)), timeout=drift_cache_timeout())
        names = cache.get(drift_names_key(cluster))
        if names is not None:
            cache.set(drift_names_key(cluster), sorted(set(names) - set(fixed)), timeout=drift_cache_timeout())
    except Exception:  # noqa: BLE001 - the count is advisory; Redis being down must not fail an apply
        log.warning("could not update the cached drift count of %s", cluster)


# Drift ---------------------------------------------------------------------------------


def drift_cache_timeout() -> float:
    return 2 * float(settings.RETENTION_DRIFT_INTERVAL)


def drift_refresh(cluster: str) -> int:
    """Recompute the cluster's drifting-topic count and cache it for the navigation."""
    names = [r.topic for r in cluster_compliance(cluster, drifting_only=True)]
    cache.set(drift_cache_key(cluster), len(names), timeout=drift_cache_timeout())
    cache.set(drift_names_key(cluster), names, timeout=drift_cache_timeout())
    return len(names)


def drift_remember(cluster: str, names: list[str]) -> None:
    """Cache the drifting topics a page has just found (every topic of the cluster looked at), so
    the navigation shows the same number."""
    try:
        cache.set(drift_cache_key(cluster), len(names), timeout=drift_cache_timeout())
        cache.set(drift_names_key(cluster), names, timeout=drift_cache_timeout())
    except Exception:  # noqa: BLE001 - the count is advisory; a page must render while Redis is down
        log.warning("could not cache the drift count of %s", cluster)


def drift_cached(cluster: str) -> int | None:
    """The last drift count of the cluster (beat task or a page), None when unknown or Redis is down."""
    try:
        value = cache.get(drift_cache_key(cluster))
    except Exception:  # noqa: BLE001 - advisory, as above
        return None
    return int(value) if value is not None else None


def drift_count_for(user: Any, cluster: str) -> int | None:
    """The drift count as `user` may see it: over the topics visible to them; None when unknown."""
    keep = topic_filter(user, cluster)
    if keep is None:
        return drift_cached(cluster)
    try:
        names = cache.get(drift_names_key(cluster))
    except Exception:  # noqa: BLE001 - advisory, as above
        return None
    return None if names is None else sum(1 for n in names if keep(n))


def drift_refresh_all() -> dict[str, int | str]:
    """Every cluster's drift count; a cluster that does not answer keeps its last count until it expires."""
    counts: dict[str, int | str] = {}
    for config in all_clusters():
        try:
            counts[config.name] = drift_refresh(config.name)
        except BackboneError as exc:
            log.warning("retention drift check of %s failed: %s", config.name, exc.message)
            counts[config.name] = exc.message
    return counts
