"""Topic reads and writes through the admin API: configs, partitions, creation, deletion."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from typing import Any

from confluent_kafka import TopicCollection
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource, ResourceType
from confluent_kafka.cimpl import NewPartitions, NewTopic

from backbone_admin.kafka import errors, names
from backbone_admin.kafka.client import admin_client, call, require_cluster, timeout, wait, writable_cluster
from backbone_admin.kafka.cluster import is_internal_topic
from backbone_admin.kafka.types import ConfigValue, PartitionInfo, TopicMetadata

# DescribeConfigs takes many resources per request; batches keep each request modest.
CONFIG_BATCH = 1000

_SOURCES = {
    ConfigSource.DYNAMIC_TOPIC_CONFIG.value: "topic",
    ConfigSource.DYNAMIC_BROKER_CONFIG.value: "broker",
    ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value: "broker",
    ConfigSource.STATIC_BROKER_CONFIG.value: "broker",
    ConfigSource.DEFAULT_CONFIG.value: "default",
}


def create_topic(
    cluster_name: str,
    name: str,
    *,
    partitions: int,
    replication_factor: int,
    configs: Mapping[str, str] | None = None,
    validate_only: bool = False,
) -> None:
    names.new_topic(name)
    names.configs(configs or {})
    cluster = writable_cluster(cluster_name, "creating topics")
    new = NewTopic(name, num_partitions=partitions, replication_factor=replication_factor, config=dict(configs or {}))
    futures = admin_client(cluster).create_topics(
        [new], operation_timeout=timeout(), request_timeout=timeout(), validate_only=validate_only
    )
    wait(futures[name], cluster, f"creating topic `{name}`")


def delete_topic(cluster_name: str, name: str) -> None:
    names.topic(name)
    cluster = writable_cluster(cluster_name, "deleting topics")
    futures = admin_client(cluster).delete_topics([name], operation_timeout=timeout(), request_timeout=timeout())
    wait(futures[name], cluster, f"deleting topic `{name}`")


def create_partitions(cluster_name: str, name: str, total: int) -> None:
    """Raise the topic's partition count to `total`."""
    names.topic(name)
    cluster = writable_cluster(cluster_name, "adding partitions")
    futures = admin_client(cluster).create_partitions(
        [NewPartitions(name, total)], operation_timeout=timeout(), request_timeout=timeout()
    )
    wait(futures[name], cluster, f"adding partitions to `{name}`")


def _config_value(entry: ConfigEntry) -> ConfigValue:
    raw_source: Any = entry.source  # an int at run time, typed as the enum
    source = _SOURCES.get(int(getattr(raw_source, "value", raw_source)), "unknown")
    return ConfigValue(
        name=entry.name,
        value=None if entry.is_sensitive else entry.value,
        source=source,
        is_default=bool(entry.is_default) or source == "default",
        read_only=bool(entry.is_read_only),
        sensitive=bool(entry.is_sensitive),
    )


# (name, partitions, replication factor, under-replicated partitions, offline partitions)
TopicSummary = tuple[str, int, int, int, int]


def topic_summaries(cluster_name: str) -> list[TopicSummary]:
    """Every topic's partition figures from one Metadata request, sorted by name.

    The figures of `topic_metadata` without an object per partition: at 300,000 partitions
    those objects cost more than the request itself (bench/topics_100k.py).
    """
    cluster = require_cluster(cluster_name)
    admin = admin_client(cluster)
    metadata = call(lambda: admin.list_topics(timeout=timeout()), cluster, "listing topics")
    rows = []
    for name, meta in metadata.topics.items():
        replication = under = offline = 0
        for p in meta.partitions.values():
            replicas = len(p.replicas)
            replication = max(replication, replicas)
            under += len(p.isrs) < replicas
            offline += p.leader < 0
        rows.append((name, len(meta.partitions), replication, under, offline))
    rows.sort()
    return rows


def describe_topic_configs(cluster_name: str, topics: Sequence[str]) -> dict[str, dict[str, ConfigValue]]:
    """Configs of many topics, batched; sensitive values are never returned."""
    names.topics(topics)
    cluster = require_cluster(cluster_name)
    admin = admin_client(cluster)
    pending: list[tuple[str, Future[dict[str, ConfigEntry]]]] = []
    for start in range(0, len(topics), CONFIG_BATCH):
        resources = [ConfigResource(ResourceType.TOPIC, t) for t in topics[start : start + CONFIG_BATCH]]
        request = functools.partial(admin.describe_configs, resources, request_timeout=timeout())
        futures = call(request, cluster, "describing topic configs")
        pending.extend((resource.name, future) for resource, future in futures.items())
    result: dict[str, dict[str, ConfigValue]] = {}
    for topic, future in pending:
        entries = wait(future, cluster, f"describing configs of `{topic}`")
        result[topic] = {name: _config_value(entry) for name, entry in entries.items()}
    return result


def alter_topic_configs(
    cluster_name: str, topic: str, *, set_values: Mapping[str, str], delete: Sequence[str] = ()
) -> None:
    """Incremental alter: SET the given values, DELETE (back to default) the named ones; one request."""
    names.topic(topic)
    names.configs({**set_values, **dict.fromkeys(delete)})
    cluster = writable_cluster(cluster_name, "changing topic configs")
    entries = [
        ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET) for name, value in set_values.items()
    ]
    entries += [ConfigEntry(name, None, incremental_operation=AlterConfigOpType.DELETE) for name in delete]
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=entries)
    admin = admin_client(cluster)
    futures = call(
        lambda: admin.incremental_alter_configs([resource], request_timeout=timeout()),
        cluster,
        f"changing configs of `{topic}`",
    )
    for future in futures.values():
        wait(future, cluster, f"changing configs of `{topic}`")


def describe_topic(cluster_name: str, name: str) -> TopicMetadata:
    """One topic's partitions (DescribeTopics); TopicNotFound when the cluster does not have it."""
    names.topic(name)
    cluster = require_cluster(cluster_name)
    admin = admin_client(cluster)
    what = f"describing topic `{name}`"
    futures = call(lambda: admin.describe_topics(TopicCollection([name]), request_timeout=timeout()), cluster, what)
    try:
        described = wait(futures[name], cluster, what)
    except errors.TopicNotFound:
        raise errors.TopicNotFound(f"topic `{name}` does not exist on cluster `{cluster_name}`") from None
    partitions = tuple(
        PartitionInfo(
            id=p.id,
            leader=p.leader.id if p.leader is not None else -1,
            replicas=tuple(r.id for r in p.replicas),
            isr=tuple(r.id for r in p.isr),
        )
        for p in sorted(described.partitions, key=lambda p: p.id)
    )
    return TopicMetadata(name=name, partitions=partitions, internal=is_internal_topic(name))
