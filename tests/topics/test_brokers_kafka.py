"""Broker configs on Apache Kafka: sources in words, per-broker and cluster-wide changes, refusals.

Every answer is checked against an independent client's DescribeConfigs. Kafka applies a
dynamic change to its brokers just after it answers, so the checks wait for the new state.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from html import unescape
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, ConfigEntry, ConfigResource, ConfigSource, ResourceType

from backbone_admin.kafka import BackboneError
from backbone_admin.kafka.brokers import alter_broker_configs
from backbone_admin.models import AuditEntry, Role

pytestmark = [pytest.mark.django_db, pytest.mark.real_kafka]

SOURCE_WORDS = {
    ConfigSource.DYNAMIC_BROKER_CONFIG.value: "dynamic for this broker",
    ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value: "dynamic cluster-wide default",
    ConfigSource.STATIC_BROKER_CONFIG.value: "static in server.properties",
    ConfigSource.DEFAULT_CONFIG.value: "Kafka's default",
}
PER_BROKER, CLUSTER_DEFAULT = ConfigSource.DYNAMIC_BROKER_CONFIG.value, ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value


def _broker(kafka_admin: AdminClient) -> int:
    nodes = kafka_admin.describe_cluster(request_timeout=10).result(10).nodes
    return int(min(n.id for n in nodes))


def _describe(kafka_admin: AdminClient, broker: int) -> dict[str, ConfigEntry]:
    [future] = kafka_admin.describe_configs([ConfigResource(ResourceType.BROKER, str(broker))]).values()
    return dict(future.result(10))


def _source(entry: ConfigEntry) -> int:
    raw: Any = entry.source
    return int(getattr(raw, "value", raw))


def _until(kafka_admin: AdminClient, broker: int, name: str, check: Callable[[ConfigEntry], bool]) -> ConfigEntry:
    entry = _describe(kafka_admin, broker)[name]
    for _ in range(100):
        if check(entry):
            return entry
        time.sleep(0.1)
        entry = _describe(kafka_admin, broker)[name]
    raise AssertionError(f"{name} on broker {broker} never reached the expected state: {entry.value} {entry.source}")


def _row(body: dict[str, Any], name: str) -> dict[str, Any]:
    [row] = [c for c in body["configs"] if c["name"] == name]
    return row


@pytest.fixture
def restore(kafka_admin: AdminClient) -> Iterator[list[tuple[int | None, str]]]:
    """(broker id, or None for the cluster-wide default; config) to reset after the test, whatever happened."""
    touched: list[tuple[int | None, str]] = []
    yield touched
    for broker, name in touched:
        with contextlib.suppress(BackboneError):  # the cluster gone: nothing to put back
            alter_broker_configs("local", broker, delete=[name])


def test_configs_carry_their_source_in_words_and_hide_sensitive_values(
    api_as: Any, client_as: Any, kafka_admin: AdminClient
) -> None:
    broker = _broker(kafka_admin)
    independent = _describe(kafka_admin, broker)
    body = api_as(Role.VIEWER).get(f"/api/clusters/local/brokers/{broker}/configs/").json()
    assert len(body["configs"]) == len(independent)
    for name in ("log.retention.hours", "log.cleaner.threads", "num.partitions", "message.max.bytes"):
        row, entry = _row(body, name), independent[name]
        assert (row["value"], row["source_words"], row["read_only"]) == (
            entry.value,
            SOURCE_WORDS[_source(entry)],
            entry.is_read_only,
        )
    hours = _row(body, "log.retention.hours")
    assert hours["read_only"] and not hours["editable"]
    assert "hours to keep a log file" in hours["doc"]  # Kafka's documentation line
    assert _row(body, "message.max.bytes")["value_human"] == "1.0 MB"  # 1048588 bytes, in human units
    sensitive = [n for n, e in independent.items() if e.is_sensitive]
    assert sensitive
    for name in sensitive:
        assert (_row(body, name)["value"], _row(body, name)["sensitive"]) == ("hidden", True)
    # Searched on the server by name or value.
    found = api_as(Role.VIEWER).get(f"/api/clusters/local/brokers/{broker}/configs/?q=log.retention").json()
    names = {c["name"] for c in found["configs"]}
    assert "log.retention.hours" in names and "num.partitions" not in names
    assert all("log.retention" in c["name"] or "log.retention" in str(c["value"]) for c in found["configs"])
    html = client_as(Role.VIEWER).get(f"/clusters/local/brokers/{broker}/configs/?q=retention.hours").content.decode()
    assert 'data-config="log.retention.hours"' in html and 'data-config="num.partitions"' not in html


def test_an_admin_sets_a_config_on_one_broker_with_a_preview_then_resets_it(
    client_as: Any, api_as: Any, kafka_admin: AdminClient, restore: list[tuple[int | None, str]]
) -> None:
    broker, name = _broker(kafka_admin), "log.cleaner.threads"
    before = _describe(kafka_admin, broker)[name]
    assert _source(before) != PER_BROKER
    new = str(int(before.value or 1) + 1)  # Kafka allows at most doubling the cleaner threads at once
    restore.append((broker, name))
    admin = client_as(Role.ADMIN)
    url = f"/clusters/local/brokers/{broker}/configs/"

    preview = admin.post(url, {f"cfg:{name}": new, "preview": "1"}, HTTP_HX_REQUEST="true")
    assert preview.status_code == 200
    html = unescape(preview.content.decode())
    assert f'<tr data-config="{name}">' in html and f'<td class="after">{new}</td>' in html
    assert f"not set ({SOURCE_WORDS[_source(before)]}: {before.value})" in html
    assert _describe(kafka_admin, broker)[name].value == before.value  # a preview changes nothing
    assert not AuditEntry.objects.filter(action="broker.configure").exists()

    applied = admin.post(url, {f"cfg:{name}": new})
    assert applied.status_code == 302
    _until(kafka_admin, broker, name, lambda e: (_source(e), e.value) == (PER_BROKER, new))
    audit = AuditEntry.objects.get(action="broker.configure")
    assert (audit.target, audit.before, audit.after, audit.result) == (
        f"broker {broker}",
        {name: None},
        {name: new},
        "ok",
    )
    assert (
        _row(api_as(Role.VIEWER).get(f"/api/clusters/local/brokers/{broker}/configs/").json(), name)["source_words"]
        == "dynamic for this broker"
    )

    api = api_as(Role.ADMIN)
    dry = api.patch(f"/api/clusters/local/brokers/{broker}/configs/?dry_run=1", {name: None}, format="json")
    assert dry.status_code == 200
    assert dry.json()["applied"] is False
    [change] = dry.json()["changes"]
    assert (change["before"], change["after"]) == (new, None)
    assert SOURCE_WORDS[_source(before)] in change["then"]
    reset = api.patch(f"/api/clusters/local/brokers/{broker}/configs/", {name: None}, format="json")
    assert reset.status_code == 200
    _until(kafka_admin, broker, name, lambda e: (e.value, _source(e)) == (before.value, _source(before)))
    last = AuditEntry.objects.filter(action="broker.configure").latest("id")
    assert (last.before, last.after) == ({name: new}, {name: None})


def test_an_admin_sets_the_cluster_wide_default_and_the_brokers_follow(
    api_as: Any, kafka_admin: AdminClient, restore: list[tuple[int | None, str]]
) -> None:
    broker, name = _broker(kafka_admin), "log.cleaner.backoff.ms"
    before = _describe(kafka_admin, broker)[name]
    restore.append((None, name))
    api = api_as(Role.ADMIN)
    response = api.patch("/api/clusters/local/brokers/default/configs/", {name: "20s"}, format="json")
    assert response.status_code == 200, response.json()
    [change] = response.json()["changes"]
    assert (change["after"], change["after_human"]) == ("20000", "20 s")
    _until(kafka_admin, broker, name, lambda e: (_source(e), e.value) == (CLUSTER_DEFAULT, "20000"))
    row = _row(api.get("/api/clusters/local/brokers/default/configs/").json(), name)
    assert (row["value"], row["value_human"], row["source_words"]) == ("20000", "20 s", "dynamic cluster-wide default")
    audit = AuditEntry.objects.get(action="broker.configure")
    assert (audit.target, audit.before, audit.after) == (
        "brokers (cluster-wide default)",
        {name: None},
        {name: "20000"},
    )

    reset = api.patch("/api/clusters/local/brokers/default/configs/", {name: None}, format="json")
    assert reset.status_code == 200
    _until(kafka_admin, broker, name, lambda e: (e.value, _source(e)) == (before.value, _source(before)))


def test_a_static_only_config_is_refused_with_a_clear_message(api_as: Any, kafka_admin: AdminClient) -> None:
    broker = _broker(kafka_admin)
    before = _describe(kafka_admin, broker)["log.retention.hours"]
    response = api_as(Role.ADMIN).patch(
        f"/api/clusters/local/brokers/{broker}/configs/", {"log.retention.hours": "100"}, format="json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert "log.retention.hours is not dynamically updatable" in error and "server.properties" in error
    assert _describe(kafka_admin, broker)["log.retention.hours"].value == before.value
    assert not AuditEntry.objects.filter(action="broker.configure").exists()


def test_a_value_kafka_rejects_changes_nothing(api_as: Any, kafka_admin: AdminClient) -> None:
    broker, name = _broker(kafka_admin), "log.cleaner.threads"
    before = _describe(kafka_admin, broker)[name]
    too_many = str(int(before.value or 1) * 10 + 10)  # more than double: Kafka's own check refuses it
    response = api_as(Role.ADMIN).patch(
        f"/api/clusters/local/brokers/{broker}/configs/", {name: too_many}, format="json"
    )
    assert response.status_code == 400
    assert "rejected" in response.json()["error"] and "cleaner threads" in response.json()["error"].lower()
    after = _describe(kafka_admin, broker)[name]
    assert (after.value, _source(after)) == (before.value, _source(before))
    audit = AuditEntry.objects.get(action="broker.configure")
    assert audit.result == "error" and audit.after is None


def test_values_the_console_can_check_are_refused_before_kafka(api_as: Any, kafka_admin: AdminClient) -> None:
    broker = _broker(kafka_admin)
    url = f"/api/clusters/local/brokers/{broker}/configs/"
    api = api_as(Role.ADMIN)
    size = api.patch(url, {"message.max.bytes": "lots"}, format="json")
    assert size.status_code == 400
    assert "message.max.bytes: `lots` is not a size" in size.json()["error"]
    secret = api.patch(url, {"ssl.keystore.password": "x"}, format="json")
    assert secret.status_code == 400 and "sensitive" in secret.json()["error"]
    nothing = api.patch(url, {"log.cleaner.threads": None}, format="json")
    assert nothing.status_code == 400
    assert f"value of its own on broker {broker} to reset" in nothing.json()["error"]
    assert not AuditEntry.objects.filter(action="broker.configure").exists()
