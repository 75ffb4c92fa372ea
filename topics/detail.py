"""One topic: partitions with watermarks, every config, the consumer groups reading it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backbone_admin.kafka import BackboneError
from backbone_admin.kafka.groups import committed_offsets, list_groups
from backbone_admin.kafka.offsets import watermarks
from backbone_admin.kafka.topics import describe_topic, describe_topic_configs
from topics.configs import SPECS, human
from topics.listing import cluster_pool
from topics.retention import governing_policy, ordered_policies


@dataclass(frozen=True)
class PartitionRow:
    id: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    low: int | None
    high: int | None

    @property
    def messages(self) -> int | None:
        return max(0, self.high - self.low) if self.low is not None and self.high is not None else None

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
    lag: int
    # (partition, committed offset, high watermark, lag)
    partitions: tuple[tuple[int, int, int | None, int | None], ...]


@dataclass(frozen=True)
class TopicDetail:
    name: str
    internal: bool
    partitions: list[PartitionRow]
    configs: list[ConfigRow]
    groups: list[GroupLag]
    policy: str | None
    warnings: list[str]

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


def read_topic(cluster: str, topic: str) -> TopicDetail:
    """Everything the detail page shows; TopicNotFound for an unknown topic."""
    meta = describe_topic(cluster, topic)
    warnings: list[str] = []
    wanted = [(topic, p.id) for p in meta.partitions]
    pool = cluster_pool(cluster)
    marks_future = pool.submit(watermarks, cluster, wanted)
    configs_future = pool.submit(describe_topic_configs, cluster, [topic])
    groups_future = pool.submit(list_groups, cluster)
    try:
        marks = marks_future.result()
    except BackboneError as exc:
        marks = {}
        warnings.append(f"Watermarks are unavailable: {exc.message}")
    partitions = [
        PartitionRow(
            id=p.id,
            leader=p.leader,
            replicas=p.replicas,
            isr=p.isr,
            low=marks[(topic, p.id)].low if (topic, p.id) in marks else None,
            high=marks[(topic, p.id)].high if (topic, p.id) in marks else None,
        )
        for p in meta.partitions
    ]
    configs = config_rows(configs_future.result().get(topic, {}))
    groups: list[GroupLag] = []
    try:
        summaries = {g.group_id: g for g in groups_future.result()}
        committed = committed_offsets(cluster, list(summaries)) if summaries else {}
    except BackboneError as exc:
        warnings.append(f"Consumer groups are unavailable: {exc.message}")
        committed = {}
    highs = {p.id: p.high for p in partitions}
    for group_id, offsets in committed.items():
        mine = sorted((p, off) for (t, p), off in offsets.items() if t == topic)
        if not mine:
            continue
        rows = []
        for p, off in mine:
            high = highs.get(p)
            rows.append((p, off, high, max(0, high - off) if high is not None else None))
        groups.append(
            GroupLag(
                group_id=group_id,
                state=summaries[group_id].state,
                lag=sum(r[3] or 0 for r in rows),
                partitions=tuple(rows),
            )
        )
    policy = governing_policy(topic, ordered_policies())
    return TopicDetail(
        name=topic,
        internal=meta.internal,
        partitions=partitions,
        configs=configs,
        groups=groups,
        policy=policy.name if policy else None,
        warnings=warnings,
    )
