"""What a replay will do to its target, said before it starts: the retention impact preview of a replay.

A replay keeps the source events' timestamps unless told otherwise, and Kafka's time retention
deletes a segment once its newest timestamp is older than `retention.ms`: events from 2023
written into a topic that keeps 7 days are deleted at the next retention check, minutes after
the job reported them written. So before a replay starts the console counts the events of its
range that are older than the target's retention (per source partition, the offsets below the
first one at or after the cutoff: a ListOffsets look-up by time, as Kafka's own retention
reads time) and refuses to start, naming the count, until the request accepts the loss,
re-stamps the events (`keep_timestamps: false`) or the target keeps them long enough.

A target the console creates inherits the source's retention and cleanup settings (their
effective values) and every other topic config set on the source that a target cluster can
take (not those naming brokers or tiered storage); `target_configs` in the request overrides
them. Its replication factor is the source's, at most the target cluster's broker count.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from backbone_admin.kafka import InvalidRequest, TopicNotFound, offsets
from backbone_admin.kafka.cluster import broker_count
from backbone_admin.kafka.topics import describe_topic, describe_topic_configs
from backbone_admin.kafka.types import ConfigValue
from streams.jobs.requests import JobRequest, resolve_range
from topics.configs import SPECS, human

# Always taken from the source, default or not: what decides how long the copy is kept.
RETENTION = ("retention.ms", "retention.bytes", "cleanup.policy")
# Set on the source but never copied: they name brokers of the source cluster or need its tiered storage.
NOT_INHERITED = frozenset(
    {
        "follower.replication.throttled.replicas",
        "leader.replication.throttled.replicas",
        "remote.storage.enable",
        "local.retention.ms",
        "local.retention.bytes",
    }
)


@dataclass
class RetentionLoss:
    """Events of the range older than the target's retention: deleted right after they are written."""

    events: int
    retention_ms: int
    cutoff_ms: int
    partitions: dict[int, int]

    @property
    def message(self) -> str:
        kept = human("retention.ms", str(self.retention_ms))
        return (
            f"{self.events:,} of the events to replay are older than the target's retention ({kept}) and will be "
            "deleted right after they are written: re-stamp them with the time of the replay (untick keep "
            "timestamps), raise the target's retention first, or accept the loss"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "retention_ms": self.retention_ms,
            "cutoff_ms": self.cutoff_ms,
            "partitions": {str(p): n for p, n in sorted(self.partitions.items())},
            "message": self.message,
        }


@dataclass
class ReplayPlan:
    source_cluster: str
    source_topic: str
    target_cluster: str
    target_topic: str
    ranges: dict[int, tuple[int, int]]
    target_exists: bool
    target_partitions: int
    replication_factor: int
    # The configs a created target gets; for an existing target, its retention settings as they are.
    target_configs: dict[str, str]
    keep_timestamps: bool
    loss: RetentionLoss | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def events(self) -> int:
        return sum(last - first for first, last in self.ranges.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": f"{self.source_cluster}/{self.source_topic}",
            "target": f"{self.target_cluster}/{self.target_topic}",
            "offsets_in_range": self.events,
            "ranges": {str(p): {"start": a, "end": b} for p, (a, b) in sorted(self.ranges.items())},
            "target_exists": self.target_exists,
            "target_partitions": self.target_partitions,
            "replication_factor": self.replication_factor,
            "target_configs": self.target_configs,
            "target_configs_human": {k: human(k, v) for k, v in sorted(self.target_configs.items())},
            "keep_timestamps": self.keep_timestamps,
            "retention_loss": self.loss.as_dict() if self.loss else None,
            "notes": self.notes,
        }


def _value(configs: dict[str, ConfigValue], name: str) -> str | None:
    """The config's effective value; Kafka's default when the broker does not say (a compatible broker
    may return only the keys set on the topic)."""
    entry = configs.get(name)
    if entry is not None and entry.value is not None:
        return entry.value
    spec = SPECS.get(name)
    return spec.default if spec else None


def inherited_configs(source: dict[str, ConfigValue]) -> dict[str, str]:
    """What a target created for a replay takes from its source (see the module docstring)."""
    inherited = {name: value for name in RETENTION if (value := _value(source, name)) is not None}
    for name, entry in source.items():
        if entry.source == "topic" and name in SPECS and name not in NOT_INHERITED and entry.value is not None:
            inherited[name] = entry.value
    return inherited


def plan_replay(
    *,
    source_cluster: str,
    source_topic: str,
    source_partitions: int,
    source_replication: int,
    target_cluster: str,
    target_topic: str,
    ranges: dict[int, tuple[int, int]],
    keep_timestamps: bool,
    overrides: dict[str, str] | None = None,
) -> ReplayPlan:
    """The target as it is or will be, and the events its retention would delete at once."""
    notes: list[str] = []
    try:
        target = describe_topic(target_cluster, target_topic)
    except TopicNotFound:
        target = None
    if target is not None:
        configs = describe_topic_configs(target_cluster, [target_topic])[target_topic]
        shown = {name: value for name in RETENTION if (value := _value(configs, name)) is not None}
        partitions, replication = len(target.partitions), target.replication_factor
    else:
        source_configs = describe_topic_configs(source_cluster, [source_topic])[source_topic]
        shown = {**inherited_configs(source_configs), **(overrides or {})}
        brokers = broker_count(target_cluster)
        partitions, replication = source_partitions, max(1, min(source_replication, brokers))
        if replication < source_replication:
            notes.append(
                f"the source has {source_replication} replicas; cluster `{target_cluster}` has {brokers} broker(s), "
                f"so the target gets {replication}"
            )
        if "min.insync.replicas" in shown and int(shown["min.insync.replicas"]) > replication:
            shown["min.insync.replicas"] = str(replication)
            notes.append(f"min.insync.replicas lowered to {replication}, the target's replication factor")
    plan = ReplayPlan(
        source_cluster,
        source_topic,
        target_cluster,
        target_topic,
        ranges,
        target is not None,
        partitions,
        replication,
        shown,
        keep_timestamps,
        notes=notes,
    )
    if keep_timestamps:
        plan.loss = retention_loss(source_cluster, source_topic, ranges, plan.target_configs)
    return plan


def retention_loss(
    cluster: str, topic: str, ranges: dict[int, tuple[int, int]], target_configs: dict[str, str]
) -> RetentionLoss | None:
    """The events of the range whose timestamps are older than the target's time retention, if any."""
    policy = target_configs.get("cleanup.policy", "delete")
    retention_ms = int(target_configs.get("retention.ms", "-1"))
    wanted = [p for p, (first, last) in ranges.items() if last > first]
    if "delete" not in policy.split(",") or retention_ms < 0 or not wanted:
        return None
    now_ms = int(time.time() * 1000)
    cutoff = now_ms - retention_ms
    # Per partition the first offset at or after the cutoff: everything of the range before it is older.
    found = offsets.offsets_for_time(cluster, [(topic, p) for p in wanted], max(0, cutoff))
    older: dict[int, int] = {}
    for p in wanted:
        first, last = ranges[p]
        boundary = found[(topic, p)]
        newer_from = last if boundary < 0 else boundary
        count = max(0, min(last, newer_from) - first)
        if count:
            older[p] = count
    if not older:
        return None
    return RetentionLoss(sum(older.values()), retention_ms, cutoff, older)


@dataclass
class RangeCount:
    """What a job's range holds, shown before it starts: events and offsets per partition."""

    ask: JobRequest
    ranges: dict[int, tuple[int, int]]

    @property
    def offsets(self) -> int:
        return sum(last - first for first, last in self.ranges.values())

    @property
    def events(self) -> int:
        """Exact for the last N (read back event by event); for other ranges the offsets, which are the
        events of a topic without transactions or compaction (`exact` says which)."""
        start = self.ask.start
        if start.kind == "last":
            return min(start.value, self.offsets)
        if start.kind == "last_per_partition":
            return sum(min(start.value, last - first) for first, last in self.ranges.values())
        return self.offsets

    @property
    def exact(self) -> bool:
        return self.ask.start.kind in ("last", "last_per_partition")

    def as_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "exact": self.exact,
            "offsets_in_range": self.offsets,
            "start": self.ask.start.describe(),
            "end": self.ask.end.describe(),
            "ranges": {str(p): {"start": a, "end": b} for p, (a, b) in sorted(self.ranges.items())},
        }


def range_count(ask: JobRequest) -> RangeCount:
    """The request's range resolved now, as the job would resolve it when it starts."""
    available = [p.id for p in describe_topic(ask.cluster, ask.topic).partitions]
    chosen = [p for p in ask.partitions if p in available] if ask.partitions else available
    if not chosen:
        message = f"topic `{ask.topic}` has partitions 0 to {len(available) - 1}"
        raise InvalidRequest(message, fields={"partitions": message})
    ranges, _marks = resolve_range(ask.cluster, ask.topic, chosen, ask.start, ask.end)
    return RangeCount(ask, ranges)
