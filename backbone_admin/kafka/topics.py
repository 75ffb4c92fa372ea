"""Topic writes through the admin API."""

from __future__ import annotations

from collections.abc import Mapping

from confluent_kafka.cimpl import NewTopic

from backbone_admin.kafka import errors
from backbone_admin.kafka.client import admin_client, require_cluster, timeout, wait


def create_topic(
    cluster_name: str,
    name: str,
    *,
    partitions: int,
    replication_factor: int,
    configs: Mapping[str, str] | None = None,
    validate_only: bool = False,
) -> None:
    cluster = require_cluster(cluster_name)
    if cluster.read_only:
        raise errors.ReadOnlyCluster(f"cluster `{cluster_name}` is read-only: creating topics is refused")
    new = NewTopic(name, num_partitions=partitions, replication_factor=replication_factor, config=dict(configs or {}))
    futures = admin_client(cluster).create_topics(
        [new], operation_timeout=timeout(), request_timeout=timeout(), validate_only=validate_only
    )
    wait(futures[name], cluster, f"creating topic `{name}`")
