"""One topic: partitions with watermarks, every config, the consumer groups reading it."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from backbone_admin.access import access_for
from backbone_admin.kafka import BackboneError
from backbone_admin.kafka.groups import committed_offsets, list_groups
from backbone_admin.kafka.logdirs import ReplicaLog
from backbone_admin.kafka.offsets import watermarks
from backbone_admin.kafka.topics import describe_topic, describe_topic_configs
from backbone_admin.kafka.types import GroupSummary
from topics.configs import SPECS, human
from topics.groups import state as group_state
from topics.listing import cluster_pool
from topics.retention import governing_policy, ordered_policies
from topics.sizes import PartitionSizes, partition_sizes
from topics.units import format_size_bytes


@dataclass(frozen=True)
class PartitionRow:
    id: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    low: int | None
    high: int | None
    size: int | None = None  # bytes, the largest live replica's (topics/sizes.py)
    replica_sizes: tuple[ReplicaLog, ...] = ()

    @property
    def messages(self) -> int | None:
        return max(0, self.high - self.low) if self.low is not None and self.high is not None else None

    @property
    def size_human(self) -> str:
        return format_size_bytes(self.size)

    @property
    def replicas_human(self) -> list[tuple[int, str, bool]]:
        """(broker, size in units, is a future log being moved) per replica."""
        return [(r.broker, format_size_bytes(r.size), r.future) for r in self.replica_sizes]

    @property
    def under_replicated(self) -> bool:
        return len(self.isr) < len(self.replicas)


@dataclass(frozen=True)
class ConfigRow:
    name: str
    value: str | None
    source: str
    is_default: bool
    read_only: bool
    sensitive: bool
    differs_from_default: bool
    human: str
    doc: str = ""


@dataclass(frozen=True)
class GroupLag:
    group_id: str
    state: str
    lag: int  # over the partitions with a commit
    # (partition, committed offset, high watermark, lag)
    partitions: tuple[tuple[int, int, int | None, int | None], ...]
    members: int = 0
    assignor: str = ""
    # (partition, events from the log start) of the partitions without a commit
    uncommitted: tuple[tuple[int, int | None], ...] = ()

    @property
    def uncommitted_events(self) -> int | None:
        return sum(n or 0 for _, n in self.uncommitted) if self.uncommitted else None

    @property
    def members_label(self) -> str:
        return group_state.members_label(self.state, self.members)

    @property
    def state_label(self) -> str:
        return group_state.state_label(self.state, self.members)

    @property
    def assignor_short(self) -> str:
        return group_state.short_assignor(self.assignor)


@dataclass(frozen=True)
class TopicDetail:
    name: str
    internal: bool
    partitions: list[PartitionRow]
    configs: list[ConfigRow]
    groups: list[GroupLag]
    policy: str | None
    warnings: list[str]
    sizes: PartitionSizes | None = None

    @property
    def size_bytes(self) -> int | None:
        return self.sizes.total([p.id for p in self.partitions]) if self.sizes is not None else None

    @property
    def size_human(self) -> str:
        return format_size_bytes(self.size_bytes)

    @property
    def replication_factor(self) -> int:
        return max((len(p.replicas) for p in self.partitions), default=0)

    @property
    def messages(self) -> int | None:
        counts = [p.messages for p in self.partitions]
        return None if any(c is None for c in counts) else sum(c or 0 for c in counts)

    def config(self, name: str) -> ConfigRow | None:
        return next((c for c in self.configs if c.name == name), None)


def config_rows(raw: dict[str, Any]) -> list[ConfigRow]:
    """The broker's configs of a topic, marked where they differ from Kafka's default."""
    rows = []
    for name in sorted(raw):
        c = raw[name]
        spec = SPECS.get(name)
        # The broker says whether a value is its default (the config's source): defaults move
        # between Kafka versions, so no table of one version's defaults can tell.
        differs = not c.is_default
        rows.append(
            ConfigRow(
                name=name,
                value=c.value,
                source=c.source,
                is_default=c.is_default,
                read_only=c.read_only,
                sensitive=c.sensitive,
                differs_from_default=differs and not c.sensitive,
                human="(hidden)" if c.sensitive else human(name, c.value),
                doc=spec.doc if spec else "",
            )
        )
    return rows


def _reading_groups(
    cluster: str, topic: str, listed: Future[list[GroupSummary]], partitions: list[PartitionRow], warnings: list[str]
) -> list[GroupLag]:
    """The groups with a commit on the topic or a member assigned to it, with their lag.

    Their state comes from the group's description, as on the group pages; only groups that
    committed here or may have members (not listed Empty or Dead) are described.
    """
    try:
        summaries = {g.group_id: g for g in listed.result()}
        committed = committed_offsets(cluster, list(summaries)) if summaries else {}
        mine = {g: {p: o for (t, p), o in offsets.items() if t == topic} for g, offsets in committed.items()}
        candidates = [g for g, s in summaries.items() if mine.get(g) or s.state not in ("Empty", "Dead")]
        described = group_state.describe(cluster, candidates)
    except BackboneError as exc:
        warnings.append(f"Consumer groups are unavailable: {exc.message}")
        return []
    groups: list[GroupLag] = []
    for group_id in candidates:
        offsets = mine.get(group_id, {})
        d = described.get(group_id)
        assigned = d is not None and any(t == topic for m in d.members for t, _ in m.assignments)
        if not offsets and not assigned:
            continue
        rows = []
        uncommitted = []
        for p in partitions:
            off = offsets.get(p.id)
            if off is None:
                uncommitted.append((p.id, p.messages))
            else:
                rows.append((p.id, off, p.high, max(0, p.high - off) if p.high is not None else None))
        groups.append(
            GroupLag(
                group_id=group_id,
                # A group whose description failed shows its listed state.
                state=d.state if d is not None else summaries[group_id].state,
                lag=sum(r[3] or 0 for r in rows),
                partitions=tuple(rows),
                members=len(d.members) if d is not None else 0,
                assignor=d.assignor if d is not None else "",
                uncommitted=tuple(uncommitted),
            )
        )
    return groups


def read_topic(cluster: str, topic: str, user: Any = None) -> TopicDetail:
    """Everything the detail page shows; TopicNotFound for an unknown topic. With `user`, only
    the consumer groups that user may see (backbone_admin/access.py)."""
    meta = describe_topic(cluster, topic)
    warnings: list[str] = []
    wanted = [(topic, p.id) for p in meta.partitions]
    pool = cluster_pool(cluster)
    marks_future = pool.submit(watermarks, cluster, wanted)
    configs_future = pool.submit(describe_topic_configs, cluster, [topic])
    groups_future = pool.submit(list_groups, cluster)
    sizes_future = pool.submit(partition_sizes, cluster, topic, [p.id for p in meta.partitions])
    try:
        marks = marks_future.result()
    except BackboneError as exc:
        marks = {}
        warnings.append(f"Watermarks are unavailable: {exc.message}")
    sizes = sizes_future.result()
    warnings.extend(sizes.warnings)
    partitions = [
        PartitionRow(
            id=p.id,
            leader=p.leader,
            replicas=p.replicas,
            isr=p.isr,
            low=marks[(topic, p.id)].low if (topic, p.id) in marks else None,
            high=marks[(topic, p.id)].high if (topic, p.id) in marks else None,
            size=sizes.size(p.id),
            replica_sizes=tuple(sizes.replicas.get(p.id, ())),
        )
        for p in meta.partitions
    ]
    configs = config_rows(configs_future.result().get(topic, {}))
    groups = _reading_groups(cluster, topic, groups_future, partitions, warnings)
    if user is not None and not access_for(user).all_groups_visible(cluster):
        access = access_for(user)
        # A group that committed on this (visible) topic is visible; one only assigned to it
        # shows when a group pattern of the user's grants names it.
        groups = [g for g in groups if g.partitions or access.group_role(cluster, g.group_id) is not None]
    policy = governing_policy(topic, ordered_policies())
    return TopicDetail(
        name=topic,
        internal=meta.internal,
        partitions=partitions,
        configs=configs,
        groups=groups,
        policy=policy.name if policy else None,
        warnings=warnings,
        sizes=sizes,
    )
