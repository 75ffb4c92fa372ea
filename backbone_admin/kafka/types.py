"""Plain results of the Kafka gateway: nothing here refers to confluent_kafka."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class BrokerInfo:
    id: int
    host: str
    port: int
    rack: str | None = None
    is_controller: bool = False


@dataclass(frozen=True)
class PartitionInfo:
    id: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]

    @property
    def under_replicated(self) -> bool:
        return len(self.isr) < len(self.replicas)

    @property
    def offline(self) -> bool:
        return self.leader < 0


@dataclass(frozen=True)
class TopicMetadata:
    name: str
    partitions: tuple[PartitionInfo, ...]
    internal: bool = False

    @property
    def replication_factor(self) -> int:
        return max((len(p.replicas) for p in self.partitions), default=0)

    @property
    def under_replicated(self) -> int:
        return sum(1 for p in self.partitions if p.under_replicated)

    @property
    def offline(self) -> int:
        return sum(1 for p in self.partitions if p.offline)


@dataclass(frozen=True)
class ClusterOverview:
    name: str
    cluster_id: str | None
    controller_id: int | None
    brokers: tuple[BrokerInfo, ...]
    topic_count: int
    internal_topic_count: int
    partition_count: int
    under_replicated_partitions: int
    offline_partitions: int
    read_only: bool = False
    elapsed_ms: float = 0.0
    # The first topics by name (not internal) with their partition count, for the overview page.
    topics_sample: tuple[tuple[str, int], ...] = ()

    @property
    def health(self) -> str:
        if not self.brokers or self.offline_partitions:
            return "degraded"
        if self.under_replicated_partitions:
            return "degraded"
        return "ok"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["health"] = self.health
        return data


@dataclass(frozen=True)
class ClusterHealth:
    """One line of the clusters list: up with its counts, or down with the reason."""

    name: str
    status: str  # ok | degraded | down
    error: str | None = None
    overview: ClusterOverview | None = None
    checked_at: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def checked(self) -> datetime:
        return datetime.fromtimestamp(self.checked_at, tz=UTC)


@dataclass(frozen=True)
class ConfigValue:
    """One topic config as the broker reports it."""

    name: str
    value: str | None
    source: str  # topic | broker | default | unknown
    is_default: bool
    read_only: bool
    sensitive: bool


@dataclass(frozen=True)
class Watermarks:
    low: int
    high: int

    @property
    def messages(self) -> int:
        return max(0, self.high - self.low)


@dataclass(frozen=True)
class GroupSummary:
    group_id: str
    state: str  # Stable | Empty | PreparingRebalance | CompletingRebalance | Dead | Unknown
    is_simple: bool = False
    type: str = "classic"


@dataclass(frozen=True)
class GroupMember:
    member_id: str
    client_id: str
    host: str
    assignments: tuple[tuple[str, int], ...]
