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


def _topic_of_three(kafka_admin: AdminClient, bootstrap: str, name: str) -> None:
    """A one-partition topic holding the values v0, v1, v2 at offsets 0 to 2."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import NewTopic

    kafka_admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])[name].result(10)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for i in range(3):
        producer.produce(name, value=f"v{i}".encode(), partition=0)
    producer.flush(10)


def test_a_pooled_reader_comes_back_unpaused(kafka_bootstrap: str, kafka_admin: AdminClient, topic_name: str) -> None:
    from backbone_admin.kafka.records import reader

    _topic_of_three(kafka_admin, kafka_bootstrap, topic_name)
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


def _read_until_end(r: Any, partition: int, timeout: float = 10) -> list[Any]:
    got: list[Any] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got += r.read(100, 0.2)
        if partition in r.at_end:
            return got
    raise AssertionError(f"partition {partition} did not reach its end within {timeout} s")


def test_a_reader_knows_where_a_partition_ended(
    kafka_bootstrap: str, kafka_admin: AdminClient, topic_name: str
) -> None:
    from backbone_admin.kafka.records import reader

    _topic_of_three(kafka_admin, kafka_bootstrap, topic_name)
    with reader("local") as r:
        r.assign(topic_name, {0: 1})
        assert [rec.offset for rec in _read_until_end(r, 0)] == [1, 2]
        assert r.positions[0] == 3
        assert r.read_to(0, 3) and not r.read_to(0, 4)


@pytest.mark.real_kafka
def test_a_partition_read_to_its_last_stable_offset_is_not_read_to_its_high_watermark(
    kafka_bootstrap: str, kafka_admin: AdminClient, topic_name: str
) -> None:
    """A job's range ends at the high watermark; events of a transaction still open before it
    are not past the range's end (a replay or export waits for them instead of skipping them)."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import NewTopic

    from backbone_admin.kafka.offsets import watermarks
    from backbone_admin.kafka.records import reader
    from tests.conftest import independent_client_config

    kafka_admin.create_topics([NewTopic(topic_name, num_partitions=1, replication_factor=1)])[topic_name].result(10)
    plain = Producer(independent_client_config(kafka_bootstrap, **{"linger.ms": 0}))
    plain.produce(topic_name, value=b"before", partition=0)
    plain.flush(10)
    tx = Producer(independent_client_config(kafka_bootstrap, **{"transactional.id": f"tx-{topic_name}"}))
    tx.init_transactions(10)
    tx.begin_transaction()
    for i in range(3):
        tx.produce(topic_name, value=f"open {i}".encode(), partition=0)
    tx.flush(10)
    end = watermarks("local", [(topic_name, 0)])[(topic_name, 0)].high
    assert end == 4
    with reader("local") as r:
        r.assign(topic_name, {0: 0})
        assert [rec.value for rec in _read_until_end(r, 0)] == [b"before"]
        assert r.positions[0] == 1 and not r.read_to(0, end)
        tx.commit_transaction(10)
        got: list[Any] = []
        deadline = time.monotonic() + 10
        while not r.read_to(0, end) and time.monotonic() < deadline:
            got += r.read(100, 0.2)
    assert [rec.value for rec in got] == [b"open 0", b"open 1", b"open 2"]
