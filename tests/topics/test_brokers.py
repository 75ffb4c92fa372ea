"""Brokers and their configs: the list, the sources of every value, who may change what.

Reads are checked against an independent client's DescribeCluster / DescribeConfigs. The
test broker answers DescribeConfigs for a broker with nothing (TEST_BROKER.md): the page then
says so, and the tests of Kafka's real answer (sources, changes, refusals) carry `real_kafka`.
"""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, ConfigEntry, ConfigResource, ResourceType

from backbone_admin.models import AuditEntry, Role

pytestmark = pytest.mark.django_db


def _brokers(kafka_admin: AdminClient) -> list[Any]:
    return sorted(kafka_admin.describe_cluster(request_timeout=10).result(10).nodes, key=lambda n: n.id)


def _broker_id(kafka_admin: AdminClient) -> int:
    return int(_brokers(kafka_admin)[0].id)


def _describe(kafka_admin: AdminClient, broker: int) -> dict[str, ConfigEntry]:
    resource = ConfigResource(ResourceType.BROKER, str(broker))
    [future] = kafka_admin.describe_configs([resource], request_timeout=10).values()
    return dict(future.result(10))


# --- What any broker answers ----------------------------------------------------------------


def test_the_brokers_page_lists_every_broker_with_its_address_and_the_controller(
    client_as: Any, kafka_admin: AdminClient
) -> None:
    described = kafka_admin.describe_cluster(request_timeout=10).result(10)
    response = client_as(Role.VIEWER).get("/clusters/local/brokers/")
    assert response.status_code == 200
    html = response.content.decode()
    for node in described.nodes:
        assert f"{node.host}:{node.port}" in html
        assert f'href="/clusters/local/brokers/{node.id}/configs/"' in html
    assert html.count('badge ok">controller') == (1 if described.controller is not None else 0)
    assert 'href="/clusters/local/brokers/default/configs/"' in html


def test_the_api_lists_the_brokers(api_as: Any, kafka_admin: AdminClient) -> None:
    described = kafka_admin.describe_cluster(request_timeout=10).result(10)
    response = api_as(Role.VIEWER).get("/api/clusters/local/brokers/")
    assert response.status_code == 200
    controller = described.controller.id if described.controller is not None else None
    assert response.json() == [
        {"id": n.id, "host": n.host, "port": n.port, "rack": n.rack or None, "is_controller": n.id == controller}
        for n in sorted(described.nodes, key=lambda n: n.id)
    ]


def test_a_broker_the_cluster_does_not_have_is_a_404(client_as: Any, api_as: Any) -> None:
    for name in ("99999", "abc", "-1"):
        page = client_as(Role.VIEWER).get(f"/clusters/local/brokers/{name}/configs/")
        assert page.status_code == 404
        assert "is not in cluster" in page.content.decode()
        assert api_as(Role.VIEWER).get(f"/api/clusters/local/brokers/{name}/configs/").status_code == 404


def test_the_config_page_shows_what_the_broker_answered_or_says_it_did_not(
    client_as: Any, kafka_admin: AdminClient
) -> None:
    broker = _broker_id(kafka_admin)
    independent = _describe(kafka_admin, broker)
    html = client_as(Role.VIEWER).get(f"/clusters/local/brokers/{broker}/configs/").content.decode()
    if not independent:
        # A cluster without broker configs (the test broker): said plainly, no empty editor.
        assert 'id="no-answer"' in html
        assert f"did not answer DescribeConfigs for broker {broker}" in html
        assert 'name="cfg:' not in html
    else:
        assert 'id="no-answer"' not in html
        assert f"of {len(independent)} configs" in html


def test_without_a_role_on_the_cluster_broker_pages_are_a_404(client_as: Any, api_as: Any) -> None:
    # The cluster is not even named to someone without a role on it (the matrix asks scoped grants).
    assert client_as(None).get("/clusters/local/brokers/").status_code == 404
    assert api_as(None).get("/api/clusters/local/brokers/default/configs/").status_code == 404


def test_viewers_and_operators_may_not_change_broker_configs(client_as: Any, api_as: Any) -> None:
    for role in (Role.VIEWER, Role.READER, Role.OPERATOR):
        page = client_as(role).post("/clusters/local/brokers/default/configs/", {"cfg:log.cleaner.threads": "2"})
        assert page.status_code == 403
        assert "needs the admin role" in page.content.decode()
        api = api_as(role).patch(
            "/api/clusters/local/brokers/default/configs/", {"log.cleaner.threads": "2"}, format="json"
        )
        assert api.status_code == 403
    assert not AuditEntry.objects.filter(action="broker.configure").exists()


def test_a_read_only_cluster_refuses_every_change(clusters_file: Any, client_as: Any, api_as: Any) -> None:
    clusters_file("clusters:\n  - {name: local, bootstrap_servers: '{LOCAL}', read_only: true}\n")
    page = client_as(Role.ADMIN).post("/clusters/local/brokers/default/configs/", {"reset:log.cleaner.threads": "1"})
    assert page.status_code == 403
    assert "read-only" in page.content.decode()
    api = api_as(Role.ADMIN).patch(
        "/api/clusters/local/brokers/default/configs/?dry_run=1", {"log.cleaner.threads": "2"}, format="json"
    )
    assert api.status_code == 403
    assert "read-only" in api.json()["error"]
    # Reading stays open, and the page offers no editor.
    html = client_as(Role.ADMIN).get("/clusters/local/brokers/default/configs/").content.decode()
    assert 'name="cfg:' not in html
    assert not AuditEntry.objects.filter(action="broker.configure").exists()


def test_a_config_the_broker_does_not_report_is_refused_before_kafka_is_asked(api_as: Any) -> None:
    response = api_as(Role.ADMIN).patch(
        "/api/clusters/local/brokers/default/configs/", {"no.such.broker.config": "1"}, format="json"
    )
    assert response.status_code == 400
    assert "unknown broker config `no.such.broker.config`" in response.json()["error"]
    assert not AuditEntry.objects.filter(action="broker.configure").exists()


def test_a_patch_must_be_an_object_of_names_to_values(api_as: Any) -> None:
    client = api_as(Role.ADMIN)
    assert client.patch("/api/clusters/local/brokers/default/configs/", [1], format="json").status_code == 400
    bad = client.patch("/api/clusters/local/brokers/default/configs/", {"x": {"a": 1}}, format="json")
    assert bad.status_code == 400
    assert "must be a string, a number, a boolean or null" in bad.json()["error"]
    empty = client.patch("/api/clusters/local/brokers/default/configs/", {}, format="json")
    assert empty.status_code == 400
    assert "Nothing to change" in empty.json()["error"]


def test_a_cluster_that_does_not_answer_is_named_with_the_cause_never_a_500(
    down_cluster: str, client_as: Any, api_as: Any
) -> None:
    for url in (
        "/clusters/down/brokers/",
        "/clusters/down/brokers/default/configs/",
        "/clusters/down/brokers/1/configs/",
    ):
        page = client_as(Role.VIEWER).get(url)
        assert page.status_code == 503
        assert f"unreachable at {down_cluster}" in page.content.decode()
    api = api_as(Role.ADMIN).patch("/api/clusters/down/brokers/1/configs/", {"log.cleaner.threads": "2"}, format="json")
    assert api.status_code == 503
    assert "unreachable" in api.json()["error"]
