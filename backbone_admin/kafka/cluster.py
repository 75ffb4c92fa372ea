"""Cluster-level reads: brokers, controller, topic and partition metadata."""

from __future__ import annotations

import time

from backbone_admin.kafka.client import admin_client, call, require_cluster, timeout, wait
from backbone_admin.kafka.types import BrokerInfo, ClusterOverview, PartitionInfo, TopicMetadata

OVERVIEW_TOPICS = 100


def is_internal_topic(name: str) -> bool:
    # Kafka's own topics (__consumer_offsets, __transaction_state) and the
    # double-underscore convention other tools follow for theirs.
    return name.startswith("__")


def topic_metadata(cluster_name: str) -> list[TopicMetadata]:
    """Every topic of the cluster with its partitions, sorted by name."""
    cluster = require_cluster(cluster_name)
    admin = admin_client(cluster)
    metadata = call(lambda: admin.list_topics(timeout=timeout()), cluster, "listing topics")
    topics = []
    for name, meta in metadata.topics.items():
        partitions = tuple(
            PartitionInfo(id=p.id, leader=p.leader, replicas=tuple(p.replicas), isr=tuple(p.isrs))
            for p in sorted(meta.partitions.values(), key=lambda p: p.id)
        )
        topics.append(TopicMetadata(name=name, partitions=partitions, internal=is_internal_topic(name)))
    topics.sort(key=lambda t: t.name)
    return topics


def describe_brokers(cluster_name: str) -> tuple[str | None, int | None, tuple[BrokerInfo, ...]]:
    """(cluster id, controller id, brokers) from one DescribeCluster."""
    cluster = require_cluster(cluster_name)
    admin = admin_client(cluster)
    future = call(lambda: admin.describe_cluster(request_timeout=timeout()), cluster, "describing the cluster")
    described = wait(future, cluster, "describing the cluster")
    controller_id = described.controller.id if described.controller is not None else None
    brokers = tuple(
        BrokerInfo(id=n.id, host=n.host, port=n.port, rack=n.rack or None, is_controller=n.id == controller_id)
        for n in sorted(described.nodes, key=lambda n: n.id)
    )
    return described.cluster_id, controller_id, brokers


def broker_count(cluster_name: str) -> int:
    """How many brokers the cluster has now: the ceiling for a replication factor."""
    return len(describe_brokers(cluster_name)[2])


def cluster_overview(cluster_name: str) -> ClusterOverview:
    cluster = require_cluster(cluster_name)
    started = time.monotonic()
    cluster_id, controller_id, brokers = describe_brokers(cluster_name)
    topics = topic_metadata(cluster_name)
    partitions = [p for t in topics for p in t.partitions]
    return ClusterOverview(
        name=cluster.name,
        cluster_id=cluster_id,
        controller_id=controller_id,
        brokers=brokers,
        topic_count=sum(1 for t in topics if not t.internal),
        internal_topic_count=sum(1 for t in topics if t.internal),
        partition_count=len(partitions),
        under_replicated_partitions=sum(1 for p in partitions if p.under_replicated),
        offline_partitions=sum(1 for p in partitions if p.offline),
        read_only=cluster.read_only,
        elapsed_ms=round((time.monotonic() - started) * 1000, 1),
        topics_sample=tuple((t.name, len(t.partitions)) for t in topics if not t.internal)[:OVERVIEW_TOPICS],
    )
