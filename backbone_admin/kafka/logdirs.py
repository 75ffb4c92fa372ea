"""Topic sizes on disk, from the brokers' log directories (Kafka's DescribeLogDirs).

librdkafka (and so confluent-kafka) has no DescribeLogDirs, so this one request is asked
through kafka-python's admin client, inside the cluster's isolated child
(`isolated_child.Child.describe_log_dirs`): a second Kafka client library that hangs or dies
there costs one answer, never the console process. One request goes to every broker at
once; each answers for the replicas it holds. A cluster whose brokers do not offer the
request (compatible brokers, old Kafka) raises NotSupported, which the pages show as
"size unknown on this cluster".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from backbone_admin.clusters import ClusterConfig
from backbone_admin.kafka import errors
from backbone_admin.kafka.client import require_cluster
from backbone_admin.kafka.isolation import run

# Kafka error codes of a DescribeLogDirs answer that have a meaning of their own.
CLUSTER_AUTHORIZATION_FAILED = 31
KAFKA_STORAGE_ERROR = 56
NOT_SUPPORTED_REASON = "its brokers do not offer DescribeLogDirs (Kafka's request for log-directory sizes)"


@dataclass(frozen=True)
class ReplicaLog:
    """One replica of a partition in one broker's log directory."""

    topic: str
    partition: int
    broker: int
    log_dir: str
    size: int
    offset_lag: int  # how far the log end is ahead of the high watermark (or, future logs, behind)
    future: bool  # a copy being moved to another directory (AlterReplicaLogDirs), not the live log


@dataclass(frozen=True)
class LogDirs:
    """What the brokers answered; brokers that did not answer are in `failed_brokers` with the reason."""

    replicas: list[ReplicaLog]
    answered_brokers: tuple[int, ...]
    failed_brokers: dict[int, str] = field(default_factory=dict)
    # (broker, directory, reason) of directories the broker reports offline: their replicas are missing.
    offline_dirs: list[tuple[int, str, str]] = field(default_factory=list)

    def partition_sizes(self) -> dict[tuple[str, int], int]:
        """Bytes per partition: its largest live replica (the leader's, as a lagging follower's is smaller)."""
        sizes: dict[tuple[str, int], int] = {}
        for r in self.replicas:
            if not r.future:
                key = (r.topic, r.partition)
                sizes[key] = max(r.size, sizes.get(key, 0))
        return sizes

    def topic_sizes(self) -> dict[str, tuple[int, int, int]]:
        """(bytes of one copy = Σ partition sizes, bytes on disk over every replica, partitions seen) per topic."""
        totals: dict[str, tuple[int, int, int]] = {}
        for (topic, _), size in self.partition_sizes().items():
            one, disk, seen = totals.get(topic, (0, 0, 0))
            totals[topic] = (one + size, disk, seen + 1)
        for r in self.replicas:
            one, disk, seen = totals.get(r.topic, (0, 0, 0))
            totals[r.topic] = (one, disk + r.size, seen)
        return totals

    def warnings(self) -> list[str]:
        notes = [
            f"broker {b} did not report its log directories ({why})" for b, why in sorted(self.failed_brokers.items())
        ]
        notes += [f"log directory {d} of broker {b} is offline ({why})" for b, d, why in self.offline_dirs]
        return notes


def client_config(cluster: ClusterConfig) -> dict[str, Any]:
    """The cluster's connection settings in kafka-python's terms (secrets included: never log this)."""
    conf: dict[str, Any] = {
        "bootstrap_servers": [s.strip() for s in cluster.bootstrap_servers.split(",") if s.strip()],
        "security_protocol": cluster.security_protocol,
        "client_id": "backbone-console-logdirs",
        # Brokers come and go: a stale broker list would ask a gone broker and miss a new one.
        "metadata_max_age_ms": 60_000,
        "reconnect_backoff_max_ms": 2000,
    }
    if cluster.sasl_mechanism:
        conf["sasl_mechanism"] = cluster.sasl_mechanism
        conf["sasl_plain_username"] = cluster.sasl_username or ""
        conf["sasl_plain_password"] = cluster.sasl_password or ""
    if cluster.ssl_ca_location:
        conf["ssl_cafile"] = cluster.ssl_ca_location
    return conf


def describe_log_dirs(cluster_name: str, topics: Iterable[tuple[str, Sequence[int]]] | None = None) -> LogDirs:
    """Every replica's size in the brokers' log directories (of `topics`' partitions, or of all).

    NotSupported when the cluster lacks the request; PermissionDenied when the console's
    credentials may not describe the cluster; ClusterUnavailable when no broker answers.
    """
    cluster = require_cluster(cluster_name)
    what = "reading the brokers' log directories"
    wanted = None if topics is None else [(name, list(parts)) for name, parts in topics]
    answer = run(cluster, "describe_log_dirs", client_config(cluster), wanted, what=what)
    return parse(cluster, answer)


def parse(cluster: ClusterConfig, answer: tuple[Any, ...]) -> LogDirs:
    """Turn the child's answer (plain tuples of the raw DescribeLogDirs responses) into LogDirs."""
    if answer[0] == "unsupported":
        raise errors.NotSupported(f"topic sizes are not available on cluster `{cluster.name}`: {NOT_SUPPORTED_REASON}")
    replicas: list[ReplicaLog] = []
    answered: list[int] = []
    failed: dict[int, str] = {}
    offline: list[tuple[int, str, str]] = []
    unsupported = 0
    for broker, error, dirs in answer[1]:
        if error is not None:
            kind, detail = error
            if kind == "unsupported":
                unsupported += 1
                failed[broker] = "does not offer DescribeLogDirs"
            elif kind == "code" and detail == CLUSTER_AUTHORIZATION_FAILED:
                raise errors.PermissionDenied(
                    f"cluster `{cluster.name}` refused to describe its log directories: the console's "
                    "credentials lack DESCRIBE on the cluster resource (CLUSTER_AUTHORIZATION_FAILED)"
                )
            else:
                failed[broker] = f"error code {detail}" if kind == "code" else f"{kind}: {detail}"
            continue
        answered.append(broker)
        for log_dir, code, topics in dirs:
            if code:
                why = "KAFKA_STORAGE_ERROR" if code == KAFKA_STORAGE_ERROR else f"error code {code}"
                offline.append((broker, log_dir, why))
                continue
            for topic, partitions in topics:
                replicas.extend(
                    ReplicaLog(topic, p, broker, log_dir, max(0, size), lag, future)
                    for p, size, lag, future in partitions
                )
    if not answered:
        if unsupported and unsupported == len(failed):
            raise errors.NotSupported(
                f"topic sizes are not available on cluster `{cluster.name}`: {NOT_SUPPORTED_REASON}"
            )
        reasons = "; ".join(f"broker {b}: {why}" for b, why in sorted(failed.items())) or "no brokers known"
        raise errors.ClusterUnavailable(
            f"cluster `{cluster.name}` at {cluster.bootstrap_servers}: "
            f"no broker reported its log directories ({reasons})"
        )
    return LogDirs(replicas=replicas, answered_brokers=tuple(answered), failed_brokers=failed, offline_dirs=offline)
