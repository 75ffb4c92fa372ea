from __future__ import annotations

import time
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient

from backbone_admin.kafka import (
    ClusterNotFound,
    ClusterUnavailable,
    Conflict,
    ReadOnlyCluster,
    cluster_overview,
    producer,
    topic_metadata,
)
from backbone_admin.kafka.topics import create_topic


def test_overview_reads_brokers_controller_and_counts(kafka_admin: AdminClient, topic_name: str) -> None:
    create_topic("local", topic_name, partitions=3, replication_factor=1)
    overview = cluster_overview("local")
    described = kafka_admin.describe_cluster().result(timeout=5)
    assert overview.cluster_id == described.cluster_id
    assert [b.id for b in overview.brokers] == sorted(n.id for n in described.nodes)
    assert overview.controller_id == described.controller.id
    assert overview.partition_count >= 3
    assert overview.offline_partitions == 0
    topics = {t.name: t for t in topic_metadata("local")}
    assert len(topics[topic_name].partitions) == 3
    assert topics[topic_name].replication_factor == 1


def test_creating_an_existing_topic_is_a_conflict(topic_name: str) -> None:
    create_topic("local", topic_name, partitions=1, replication_factor=1)
    with pytest.raises(Conflict, match="already exists"):
        create_topic("local", topic_name, partitions=1, replication_factor=1)


def test_an_unknown_cluster_is_not_found() -> None:
    with pytest.raises(ClusterNotFound, match="cluster `nowhere` is not configured"):
        cluster_overview("nowhere")


def test_an_unreachable_cluster_times_out_with_a_clear_error(down_cluster: str, settings: Any) -> None:
    settings.KAFKA_TIMEOUT = 5.0
    started = time.monotonic()
    with pytest.raises(ClusterUnavailable) as info:
        cluster_overview("down")
    elapsed = time.monotonic() - started
    assert f"cluster `down` unreachable at {down_cluster} after 5 s" in info.value.message
    assert info.value.status == 503
    assert elapsed < 6.5


def test_a_read_only_cluster_refuses_writes(clusters_file: Any, topic_name: str, kafka_admin: AdminClient) -> None:
    clusters_file("clusters:\n  - {name: local, bootstrap_servers: '{LOCAL}', read_only: true}\n")
    with pytest.raises(ReadOnlyCluster):
        create_topic("local", topic_name, partitions=1, replication_factor=1)
    with pytest.raises(ReadOnlyCluster):
        producer.produce("local", topic_name, value=b"x")
    assert topic_name not in kafka_admin.list_topics(timeout=5).topics


def test_only_the_gateway_imports_confluent_kafka() -> None:
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    offenders = [
        str(path.relative_to(root))
        for app in ("backbone_admin", "topics", "streams")
        for path in (root / app).rglob("*.py")
        if "kafka" not in path.relative_to(root / app).parts[:1]
        and re.search(r"^\s*(from|import) confluent_kafka", path.read_text(), re.M)
    ]
    assert offenders == []


def test_a_pooled_reader_comes_back_unpaused(kafka_bootstrap: str, kafka_admin: AdminClient, topic_name: str) -> None:
    from confluent_kafka import Producer
    from confluent_kafka.admin import NewTopic

    from backbone_admin.kafka.records import reader

    kafka_admin.create_topics([NewTopic(topic_name, num_partitions=1, replication_factor=1)])[topic_name].result(10)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "linger.ms": 0})
    for i in range(3):
        producer.produce(topic_name, value=f"v{i}".encode(), partition=0)
    producer.flush(10)
    with reader("local") as first:
        first.assign(topic_name, {0: 0})
        assert first.read(1, 2.0)
        first.pause([0])
    got: list[bytes | None] = []
    with reader("local") as second:
        second.assign(topic_name, {0: 0})
        for _ in range(20):
            got += [r.value for r in second.read(10, 0.5)]
            if len(got) == 3:
                break
    assert got == [b"v0", b"v1", b"v2"]
