"""Log-directory sizes through kafka-python in the isolated child (backbone_admin/kafka/logdirs.py).

Whether a broker offers DescribeLogDirs is asked independently (its ApiVersions answer, read by
kafka-python directly): Apache Kafka does, the test broker does not (TEST_BROKER.md). The
console follows that answer: sizes from Kafka, a clear NotSupported from a broker without it.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from backbone_admin.clusters import ClusterConfig
from backbone_admin.kafka import ClusterUnavailable, NotSupported, isolation
from backbone_admin.kafka.logdirs import client_config, describe_log_dirs
from tests.conftest import independent_client_config

DESCRIBE_LOG_DIRS = 35  # Kafka's API key


@pytest.fixture(scope="session")
def broker_describes_log_dirs(kafka_bootstrap: str) -> bool:
    """Whether the broker lists DescribeLogDirs in its ApiVersions answer, asked by an independent client."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, bootstrap_timeout_ms=10_000)
    try:
        versions = admin._manager.broker_version_data.api_versions  # the broker's own ApiVersions answer
        return DESCRIBE_LOG_DIRS in versions
    finally:
        admin.close()


@pytest.fixture
def sized_topic(
    kafka_bootstrap: str, kafka_admin: AdminClient, topic_name: str
) -> Iterator[tuple[str, dict[int, int]]]:
    """A topic with 3 partitions holding 30, 10 and 0 events of 2,000 bytes."""
    kafka_admin.create_topics([NewTopic(topic_name, num_partitions=3, replication_factor=1)])[topic_name].result(10)
    counts = {0: 30, 1: 10, 2: 0}
    producer = Producer(independent_client_config(kafka_bootstrap, **{"linger.ms": 0}))
    for partition, count in counts.items():
        for i in range(count):
            producer.produce(
                topic_name, value=os.urandom(1000).hex().encode(), key=f"k{i}".encode(), partition=partition
            )
    assert producer.flush(10) == 0
    yield topic_name, counts
    kafka_admin.delete_topics([topic_name])[topic_name].result(10)


def test_the_cluster_settings_map_to_kafka_python() -> None:
    cluster = ClusterConfig(
        name="es",
        bootstrap_servers="b0.example:9093, b1.example:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="token",
        sasl_password="s3cret",
        ssl_ca_location="/etc/backbone/ca.pem",
    )
    conf = client_config(cluster)
    assert conf["bootstrap_servers"] == ["b0.example:9093", "b1.example:9093"]
    assert conf["security_protocol"] == "SASL_SSL"
    assert conf["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (conf["sasl_plain_username"], conf["sasl_plain_password"]) == ("token", "s3cret")
    assert conf["ssl_cafile"] == "/etc/backbone/ca.pem"
    # kafka-python refuses a setting it does not know: every key must be one of its admin client's.
    from kafka import KafkaAdminClient

    assert set(conf) <= set(KafkaAdminClient.DEFAULT_CONFIG)
    plain = client_config(ClusterConfig(name="local", bootstrap_servers="127.0.0.1:9092"))
    assert plain["security_protocol"] == "PLAINTEXT" and "sasl_mechanism" not in plain and "ssl_cafile" not in plain


def test_sizes_follow_the_brokers_own_answer_and_run_in_the_child(
    broker_describes_log_dirs: bool, sized_topic: tuple[str, dict[int, int]]
) -> None:
    topic, counts = sized_topic
    if not broker_describes_log_dirs:
        # The test broker's ApiVersions lacks the request: a clear "not supported", never a guess.
        with pytest.raises(NotSupported, match="do not offer DescribeLogDirs") as caught:
            describe_log_dirs("local", [(topic, range(3))])
        assert "cluster `local`" in caught.value.message
    else:
        found = describe_log_dirs("local", [(topic, range(3))])
        sizes = found.partition_sizes()
        assert set(sizes) == {(topic, 0), (topic, 1), (topic, 2)}
        assert sizes[(topic, 0)] > sizes[(topic, 1)] > sizes[(topic, 2)] == 0
        assert sizes[(topic, 0)] >= counts[0] * 2000  # at least the values' bytes
        assert found.answered_brokers and not found.failed_brokers
    # Asked in the cluster's child process, not in this one.
    pid = isolation.child_pid("local")
    assert pid is not None and pid != os.getpid()


@pytest.mark.real_kafka
def test_kafka_reports_every_replica_with_its_broker_and_log_dir(sized_topic: tuple[str, dict[int, int]]) -> None:
    topic, _ = sized_topic
    found = describe_log_dirs("local")  # every topic: the request with a null topic list
    mine = [r for r in found.replicas if r.topic == topic]
    assert sorted(r.partition for r in mine) == [0, 1, 2]
    assert all(r.broker in found.answered_brokers and r.log_dir and not r.future for r in mine)
    totals = found.topic_sizes()[topic]
    assert totals[0] == sum(r.size for r in mine) and totals[2] == 3


def test_a_cluster_that_does_not_answer_is_named_and_the_child_lives_on(down_cluster: str) -> None:
    with pytest.raises(ClusterUnavailable, match="cluster `down`") as caught:
        describe_log_dirs("down")
    assert "unreachable" in caught.value.message
    pid = isolation.child_pid("down")
    assert pid is not None
    # The same child answers the next request the same way: the failure stayed an answer.
    with pytest.raises(ClusterUnavailable, match="cluster `down`"):
        describe_log_dirs("down")
    assert isolation.child_pid("down") == pid


def test_a_child_killed_during_the_request_costs_one_answer(
    down_cluster: str, broker_describes_log_dirs: bool, sized_topic: tuple[str, dict[int, int]]
) -> None:
    outcome: dict[str, Any] = {}

    def ask() -> None:
        try:
            describe_log_dirs("down")
        except ClusterUnavailable as exc:
            outcome["error"] = exc.message

    thread = threading.Thread(target=ask)
    thread.start()
    deadline = time.monotonic() + 5
    while isolation.child_pid("down") is None and time.monotonic() < deadline:
        time.sleep(0.01)
    doomed = isolation.child_pid("down")
    assert doomed is not None
    time.sleep(0.2)
    os.kill(doomed, signal.SIGKILL)
    thread.join(10)
    assert "cluster `down`" in outcome["error"]
    assert "killed by SIGKILL" in outcome["error"] or "unreachable" in outcome["error"]

    # This process lives on and the other cluster still answers as its broker does.
    topic, _ = sized_topic
    if broker_describes_log_dirs:
        assert (topic, 0) in describe_log_dirs("local", [(topic, range(3))]).partition_sizes()
    else:
        with pytest.raises(NotSupported):
            describe_log_dirs("local", [(topic, range(3))])
    with pytest.raises(ClusterUnavailable, match="unreachable"):
        describe_log_dirs("down")
    assert isolation.child_pid("down") not in (None, doomed)
