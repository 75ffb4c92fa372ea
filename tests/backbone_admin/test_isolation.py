"""Coordinator-bound admin requests run in a child process per cluster: a Kafka client that
dies there costs one answer, never the console process (issue: librdkafka 4605/3663)."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from backbone_admin.kafka import ClusterUnavailable, isolation
from backbone_admin.kafka.groups import committed_offsets, list_groups
from tests.conftest import independent_client_config


def _topic_with_group(kafka_bootstrap: str, kafka_admin: AdminClient, topic: str, group: str, commit: int) -> None:
    kafka_admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])[topic].result(10)
    producer = Producer(independent_client_config(kafka_bootstrap, **{"linger.ms": 0}))
    for i in range(5):
        producer.produce(topic, value=f"v{i}".encode(), partition=0)
        producer.flush(10)
    consumer = Consumer(
        independent_client_config(
            kafka_bootstrap, **{"group.id": group, "enable.auto.commit": False, "session.timeout.ms": 6000}
        )
    )
    from confluent_kafka import TopicPartition

    consumer.commit(offsets=[TopicPartition(topic, 0, commit)], asynchronous=False)
    consumer.close()


def test_committed_offsets_are_read_exactly_through_the_child(
    kafka_bootstrap: str, kafka_admin: AdminClient, topic_name: str
) -> None:
    group = f"g-{uuid.uuid4().hex[:8]}"
    _topic_with_group(kafka_bootstrap, kafka_admin, topic_name, group, commit=3)

    assert committed_offsets("local", [group]) == {group: {(topic_name, 0): 3}}
    assert group in {g.group_id for g in list_groups("local")}
    # The requests ran in a separate process, not in this one.
    pid = isolation.child_pid("local")
    assert pid is not None and pid != os.getpid()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGABRT])
def test_a_child_that_dies_mid_request_costs_one_answer_not_the_process(
    down_cluster: str, kafka_bootstrap: str, kafka_admin: AdminClient, topic_name: str, sig: signal.Signals
) -> None:
    # A request to a cluster that does not answer stays in flight in its child for the
    # whole timeout; the child is then killed as librdkafka's assertion would (SIGABRT).
    outcome: dict[str, Any] = {}

    def ask() -> None:
        started = time.monotonic()
        try:
            list_groups("down")
        except ClusterUnavailable as exc:
            outcome["error"] = exc.message
        outcome["elapsed"] = time.monotonic() - started

    thread = threading.Thread(target=ask)
    thread.start()
    deadline = time.monotonic() + 5
    while isolation.child_pid("down") is None and time.monotonic() < deadline:
        time.sleep(0.01)
    doomed = isolation.child_pid("down")
    assert doomed is not None
    time.sleep(0.2)
    os.kill(doomed, sig)
    thread.join(10)

    assert "the Kafka client failed" in outcome["error"]
    assert f"killed by {sig.name}" in outcome["error"]
    assert "cluster `down`" in outcome["error"]
    assert outcome["elapsed"] < 1.5  # answered when the child died, not after the timeout

    # This process lives on; the other cluster's child was never touched and still answers;
    # the dead cluster gets a fresh child on its next request.
    group = f"g-{uuid.uuid4().hex[:8]}"
    _topic_with_group(kafka_bootstrap, kafka_admin, topic_name, group, commit=2)
    assert committed_offsets("local", [group]) == {group: {(topic_name, 0): 2}}
    with pytest.raises(ClusterUnavailable, match="unreachable"):
        list_groups("down")
    assert isolation.child_pid("down") not in (None, doomed)


def test_the_topic_page_answers_503_then_200_around_a_dead_child(
    client_as: Callable[..., Any], kafka_bootstrap: str, kafka_admin: AdminClient, topic_name: str
) -> None:
    group = f"g-{uuid.uuid4().hex[:8]}"
    _topic_with_group(kafka_bootstrap, kafka_admin, topic_name, group, commit=4)
    client = client_as("viewer")
    response = client.get(f"/clusters/local/topics/{topic_name}/")
    assert response.status_code == 200
    assert group in response.content.decode()

    pid = isolation.child_pid("local")
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)

    # The next request starts a new child and the page is whole again, groups included.
    response = client.get(f"/clusters/local/topics/{topic_name}/")
    assert response.status_code == 200
    assert group in response.content.decode()
    assert isolation.child_pid("local") not in (None, pid)


def _self_signed(tmp_path: Path, name: str) -> tuple[Path, Path]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def _tls_listener(cert: Path, key: Path) -> tuple[int, Callable[[], None]]:
    """A real TLS listener (the handshake is all librdkafka gets to) on a free port."""
    import socket
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass

    threading.Thread(target=serve, daemon=True).start()

    def close() -> None:
        stop.set()
        server.close()

    return server.getsockname()[1], close


def test_an_untrusted_broker_certificate_is_named_as_the_cause(
    tmp_path: Path, clusters_file: Callable[[str], Path], settings: Any, client_as: Callable[..., Any]
) -> None:
    settings.KAFKA_TIMEOUT = 2
    broker_cert, broker_key = _self_signed(tmp_path, "broker")
    other_ca, _ = _self_signed(tmp_path, "other-ca")
    port, close = _tls_listener(broker_cert, broker_key)
    try:
        clusters_file(
            "clusters:\n  - name: local\n    bootstrap_servers: {LOCAL}\n"
            f"  - name: tls\n    bootstrap_servers: 127.0.0.1:{port}\n"
            f"    security_protocol: SSL\n    ssl_ca_location: {other_ca}\n"
        )
        api = client_as("viewer")
        started = time.monotonic()
        response = api.get("/api/clusters/tls/")
        elapsed = time.monotonic() - started
        assert response.status_code == 503
        assert "TLS: the broker's certificate is not trusted (check `ssl_ca_location`)" in response.json()["error"]
        assert "cluster `tls`" in response.json()["error"]
        assert elapsed < settings.KAFKA_TIMEOUT + 1.5
        # The coordinator-bound requests in the child say the same.
        with pytest.raises(ClusterUnavailable, match="certificate is not trusted"):
            list_groups("tls")
        # The other cluster is unaffected.
        assert api.get("/api/clusters/local/").status_code == 200
    finally:
        close()


def test_a_ca_file_that_is_not_a_certificate_breaks_only_its_cluster(
    tmp_path: Path, clusters_file: Callable[[str], Path], client_as: Callable[..., Any]
) -> None:
    bad_ca = tmp_path / "ca.pem"
    bad_ca.write_text("this is not a certificate\n")
    clusters_file(
        "clusters:\n  - name: local\n    bootstrap_servers: {LOCAL}\n"
        f"  - name: broken\n    bootstrap_servers: 127.0.0.1:1\n"
        f"    security_protocol: SSL\n    ssl_ca_location: {bad_ca}\n"
    )
    client = client_as("viewer")
    page = client.get("/clusters/")
    assert page.status_code == 200
    assert "misconfigured" in page.content.decode()
    listing = client.get("/api/clusters/")
    assert listing.status_code == 200
    rows = {row["name"]: row for row in listing.json()}
    assert rows["broken"]["status"] == "down"
    assert "misconfigured" in rows["broken"]["error"]
    assert rows["local"]["status"] == "ok"
    detail = client.get("/api/clusters/broken/")
    assert detail.status_code == 503
    assert "cluster `broken` is misconfigured" in detail.json()["error"]
    assert client.get("/api/clusters/local/").status_code == 200

    from backbone_admin.checks import check_clusters

    messages = [str(m.msg) for m in check_clusters(None)]
    assert any("broken" in m and "ssl_ca_location" in m for m in messages)


def test_auth_failures_name_the_mechanism_and_user_never_the_secret() -> None:
    from confluent_kafka import KafkaError

    from backbone_admin.clusters import ClusterConfig
    from backbone_admin.kafka.client import cause_message

    cluster = ClusterConfig(
        name="events",
        bootstrap_servers="b1:29094",
        security_protocol="SASL_SSL",
        sasl_mechanism="PLAIN",
        sasl_username="token",
        sasl_password="s3cr3t-key",
    )
    message = cause_message(
        cluster,
        KafkaError._AUTHENTICATION,
        "SASL authentication error: Authentication failed: Invalid username or password s3cr3t-key",
    )
    assert (
        message
        == "cluster `events` at b1:29094: authentication failed (SASL PLAIN, user `token`): check the credentials"
    )
    tls = cause_message(cluster, KafkaError._SSL, "SSL handshake failed: s3cr3t-key odd")
    assert tls is not None and "s3cr3t-key" not in tls
