from __future__ import annotations

import time
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient

from backbone_admin.kafka.topics import create_topic


@pytest.mark.django_db
def test_cluster_api_reports_brokers_controller_and_counts(
    api_as: Any, topic_name: str, kafka_admin: AdminClient
) -> None:
    create_topic("local", topic_name, partitions=4, replication_factor=1)
    response = api_as("viewer").get("/api/clusters/local/", {"refresh": "1"})
    assert response.status_code == 200
    body = response.json()
    described = kafka_admin.describe_cluster().result(timeout=5)
    metadata = kafka_admin.list_topics(timeout=5)
    assert body["name"] == "local"
    assert body["status"] == "ok"
    assert body["cluster_id"] == described.cluster_id
    assert body["controller_id"] == described.controller.id
    assert [b["id"] for b in body["brokers"]] == sorted(n.id for n in described.nodes)
    assert body["brokers"][0]["host"] == "127.0.0.1"
    assert body["partition_count"] == sum(len(t.partitions) for t in metadata.topics.values())
    assert body["under_replicated_partitions"] == 0
    assert body["offline_partitions"] == 0
    assert body["role"] == "viewer"


@pytest.mark.django_db
def test_a_down_cluster_answers_within_5_s_and_the_others_keep_working(
    api_as: Any, client_as: Any, down_cluster: str
) -> None:
    client = api_as("viewer")
    started = time.monotonic()
    listing = client.get("/api/clusters/", {"refresh": "1"})
    assert time.monotonic() - started < 5
    by_name = {c["name"]: c for c in listing.json()}
    assert by_name["local"]["status"] == "ok"
    assert by_name["down"]["status"] == "down"
    assert f"unreachable at {down_cluster}" in by_name["down"]["error"]
    detail = client.get("/api/clusters/down/")
    assert detail.status_code == 503
    assert f"cluster `down` unreachable at {down_cluster}" in detail.json()["error"]
    page = client_as("viewer").get("/clusters/down/")
    assert page.status_code == 200
    assert "Cluster unavailable" in page.content.decode()
    assert client.get("/api/clusters/local/").status_code == 200


@pytest.mark.django_db
def test_unknown_cluster_is_404_on_page_and_api(api_as: Any, client_as: Any) -> None:
    response = api_as("admin").get("/api/clusters/nope/")
    assert response.status_code == 404
    assert response.json() == {"error": "cluster `nope` is not configured", "fields": {}}
    page = client_as("admin").get("/clusters/nope/")
    assert page.status_code == 404
    assert "cluster <code>nope</code> is not configured" in page.content.decode()  # the page shows no backticks


@pytest.mark.django_db
def test_overview_page_shows_brokers_and_topic_counts(client_as: Any, topic_name: str) -> None:
    create_topic("local", topic_name, partitions=2, replication_factor=1)
    html = client_as("viewer").get("/clusters/local/?refresh=1").content.decode()
    assert "Brokers" in html and "Under-replicated" in html
    assert "No topics yet" not in html


@pytest.mark.django_db
def test_the_cluster_list_counts_topics_and_partitions_alike_with_the_internal_ones(
    client_as: Any, topic_name: str, kafka_admin: AdminClient
) -> None:
    internal = f"__{topic_name}"
    create_topic("local", internal, partitions=5, replication_factor=1)
    create_topic("local", topic_name, partitions=2, replication_factor=1)
    html = client_as("viewer").get("/clusters/", {"refresh": "1"}).content.decode()
    metadata = kafka_admin.list_topics(timeout=5).topics
    internal_count = sum(1 for name in metadata if name.startswith("__"))
    row = html[html.index('data-cluster="local"') :]
    row = row[: row.index("</tr>")]
    topics = row[row.index('class="topic-count">') :]
    assert topics.startswith(
        f'class="topic-count">{len(metadata):,} <span class="muted small">({internal_count} internal)'
    )
    partitions = sum(len(t.partitions) for t in metadata.values())
    assert f'class="partition-count">{partitions:,}</td>' in row
    assert "both counted with the internal topics" in html


@pytest.mark.django_db
def test_secrets_never_reach_pages_or_api(client_as: Any, api_as: Any, clusters_file: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("EVENTS_API_KEY", "very-secret-api-key")
    clusters_file(
        "clusters:\n  - {name: local, bootstrap_servers: '{LOCAL}'}\n"
        "  - {name: es, bootstrap_servers: '127.0.0.1:1', security_protocol: SASL_SSL, sasl_mechanism: PLAIN,"
        " sasl_username: token, sasl_password: '${EVENTS_API_KEY}'}\n"
    )
    api = api_as("admin")
    for body in (api.get("/api/clusters/es/").content, client_as("admin").get("/clusters/es/").content):
        assert b"very-secret-api-key" not in body


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/api/clusters/down/topics/",
        "/api/clusters/down/topics/orders/",
        "/api/clusters/down/retention/compliance/",
        "/clusters/down/topics/",
        "/clusters/down/topics/orders/",
        "/clusters/down/retention/",
    ],
)
def test_a_down_cluster_answers_503_with_the_reason_on_every_read(
    path: str, api_as: Any, client_as: Any, down_cluster: str
) -> None:
    client = api_as("admin") if path.startswith("/api/") else client_as("admin")
    started = time.monotonic()
    response = client.get(path)
    assert time.monotonic() - started < 10
    assert response.status_code == 503, response.content[:300]
    assert f"unreachable at {down_cluster}" in response.content.decode()
