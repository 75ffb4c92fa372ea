"""Compliance and apply on the real broker: expected vs actual, dry run, apply, partial failure, impact, drift task."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType
from django.core.cache import cache

from backbone_admin.kafka.topics import create_topic
from backbone_admin.models import AuditEntry
from tests.conftest import independent_client_config
from topics.models import RetentionPolicy, clean_policy
from topics.retention.compliance import cluster_compliance

WEEK = "604800000"
HOUR = "3600000"


def _prefix() -> str:
    return f"rc-{uuid.uuid4().hex[:8]}"


def _policy(pattern: str, **fields: Any) -> RetentionPolicy:
    data = {"name": f"p-{uuid.uuid4().hex[:8]}", "topic_pattern": pattern} | fields
    policy = RetentionPolicy()
    policy.apply_clean(clean_policy(data))
    policy.save()
    return policy


def _broker_configs(admin: AdminClient, topic: str) -> dict[str, str]:
    [future] = admin.describe_configs([ConfigResource(ResourceType.TOPIC, topic)]).values()
    return {name: entry.value for name, entry in future.result(timeout=10).items()}


def _produce(producer: Producer, topic: str, count: int) -> None:
    for i in range(count):
        producer.produce(topic, value=f"event-{i}".encode())
    producer.flush(10)


@pytest.fixture
def arranged(kafka_admin: AdminClient) -> dict[str, str]:
    """Four topics under one prefix: compliant, drifting, at defaults, ungoverned; one policy."""
    prefix = _prefix()
    topics = {
        "ok": f"{prefix}.gov.ok",
        "drift": f"{prefix}.gov.drift",
        "defaults": f"{prefix}.gov.defaults",
        "free": f"{prefix}.free",
    }
    create_topic("local", topics["ok"], partitions=1, replication_factor=1, configs={"retention.ms": WEEK})
    create_topic(
        "local",
        topics["drift"],
        partitions=2,
        replication_factor=1,
        configs={"retention.ms": HOUR, "cleanup.policy": "compact"},
    )
    create_topic("local", topics["defaults"], partitions=1, replication_factor=1)
    create_topic("local", topics["free"], partitions=1, replication_factor=1, configs={"retention.ms": HOUR})
    _policy(f"{prefix}.gov.*", configs={"retention.ms": "7d", "cleanup.policy": "delete"})
    return topics | {"prefix": prefix}


@pytest.mark.django_db
def test_compliance_shows_expected_vs_actual_and_drift(api_as: Any, arranged: dict[str, str]) -> None:
    response = api_as("viewer").get("/api/clusters/local/retention/compliance/", {"search": arranged["prefix"]})
    assert response.status_code == 200
    body = response.json()
    rows = {r["topic"]: r for r in body["results"]}
    assert set(rows) == {arranged["ok"], arranged["drift"], arranged["defaults"], arranged["free"]}
    assert body["drifting"] == 1

    drift = rows[arranged["drift"]]
    assert drift["drifting"] is True
    assert drift["drift"] == ["cleanup.policy", "retention.ms"]
    by_key = {c["name"]: c for c in drift["configs"]}
    assert by_key["retention.ms"]["expected"] == WEEK and by_key["retention.ms"]["actual"] == HOUR
    assert by_key["retention.ms"]["expected_human"] == "7 d" and by_key["retention.ms"]["actual_human"] == "1 h"
    assert by_key["cleanup.policy"]["actual"] == "compact"

    assert rows[arranged["ok"]]["drifting"] is False
    # Not set on the topic: Kafka's default applies, and it matches the policy.
    defaults = {c["name"]: c for c in rows[arranged["defaults"]]["configs"]}
    assert defaults["retention.ms"]["actual"] == WEEK and defaults["retention.ms"]["actual_is_default"] is True
    assert rows[arranged["defaults"]]["drifting"] is False
    assert rows[arranged["free"]]["policy"] is None and rows[arranged["free"]]["configs"] == []

    only = api_as("viewer").get(
        "/api/clusters/local/retention/compliance/", {"search": arranged["prefix"], "drifting": "1"}
    )
    assert [r["topic"] for r in only.json()["results"]] == [arranged["drift"]]
    regex = api_as("viewer").get(
        "/api/clusters/local/retention/compliance/", {"search": f"re:^{arranged['prefix']}\\.gov\\.(ok|drift)$"}
    )
    assert sorted(r["topic"] for r in regex.json()["results"]) == sorted([arranged["ok"], arranged["drift"]])


@pytest.mark.django_db
def test_compliance_refuses_a_bad_regex_and_unknown_clusters(api_as: Any) -> None:
    bad = api_as("viewer").get("/api/clusters/local/retention/compliance/", {"search": "re:(("})
    assert bad.status_code == 400 and "search" in bad.json()["fields"]
    assert api_as("admin").get("/api/clusters/nope/retention/compliance/").status_code == 404
    assert api_as(None).get("/api/clusters/local/retention/compliance/").status_code == 404


@pytest.mark.django_db
def test_a_dry_run_reports_the_changes_and_changes_nothing_on_the_broker(
    api_as: Any, arranged: dict[str, str], kafka_admin: AdminClient
) -> None:
    response = api_as("operator").post(
        "/api/clusters/local/retention/compliance/apply/", {"topics": [arranged["drift"]]}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["dry_run"] is True
    [result] = body["results"]
    assert result["status"] == "planned" and result["policy"]
    changes = {c["name"]: (c["before"], c["after"]) for c in result["changes"]}
    assert changes == {"retention.ms": (HOUR, WEEK), "cleanup.policy": ("compact", "delete")}
    configs = _broker_configs(kafka_admin, arranged["drift"])
    assert configs["retention.ms"] == HOUR and configs["cleanup.policy"] == "compact"
    assert not AuditEntry.objects.filter(action="retention.apply", target=arranged["drift"]).exists()


@pytest.mark.django_db
def test_apply_changes_the_topic_configs_audited_and_reports_each_topic(
    api_as: Any, arranged: dict[str, str], kafka_admin: AdminClient
) -> None:
    unknown = f"{arranged['prefix']}.gov.missing"
    response = api_as("operator").post(
        "/api/clusters/local/retention/compliance/apply/",
        {"topics": [arranged["drift"], arranged["ok"], unknown, arranged["free"]], "dry_run": False},
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    results = {r["topic"]: r for r in body["results"]}
    assert results[arranged["drift"]]["status"] == "applied"
    assert results[arranged["ok"]]["status"] == "unchanged"
    assert results[unknown]["status"] == "failed"
    assert results[unknown]["error"] == f"topic `{unknown}` does not exist on cluster `local`"
    assert results[arranged["free"]]["status"] == "skipped"
    assert results[arranged["free"]]["error"] == "no retention policy governs this topic"
    assert body["summary"] | {"events_to_delete": 0} == {
        "planned": 0,
        "applied": 1,
        "unchanged": 1,
        "failed": 1,
        "skipped": 1,
        "events_to_delete": 0,
    }

    configs = _broker_configs(kafka_admin, arranged["drift"])
    assert configs["retention.ms"] == WEEK and configs["cleanup.policy"] == "delete"
    assert _broker_configs(kafka_admin, arranged["free"])["retention.ms"] == HOUR
    entry = AuditEntry.objects.get(action="retention.apply", target=arranged["drift"])
    assert entry.cluster == "local" and entry.result == "ok"
    assert entry.before == {"retention.ms": HOUR, "cleanup.policy": "compact"}
    assert entry.after["retention.ms"] == WEEK and entry.after["cleanup.policy"] == "delete"
    assert [r.topic for r in cluster_compliance("local", search=arranged["prefix"], drifting_only=True)] == []


@pytest.mark.django_db
def test_apply_to_all_drifting_topics(api_as: Any, kafka_admin: AdminClient) -> None:
    prefix = _prefix()
    names = [f"{prefix}-{i}" for i in range(3)]
    for name in names:
        create_topic("local", name, partitions=1, replication_factor=1, configs={"retention.ms": HOUR})
    create_topic("local", f"{prefix}-fine", partitions=1, replication_factor=1, configs={"retention.ms": "86400000"})
    _policy(f"{prefix}-*", configs={"retention.ms": "1d"})
    api = api_as("operator")
    preview = api.post(
        "/api/clusters/local/retention/compliance/apply/", {"topics": ["*drifting*"]}, format="json"
    ).json()
    assert sorted(r["topic"] for r in preview["results"]) == names
    applied = api.post(
        "/api/clusters/local/retention/compliance/apply/", {"all_drifting": True, "dry_run": False}, format="json"
    ).json()
    assert {r["topic"]: r["status"] for r in applied["results"]} == dict.fromkeys(names, "applied")
    assert all(_broker_configs(kafka_admin, n)["retention.ms"] == "86400000" for n in names)


@pytest.mark.django_db
def test_it_refuses_bad_apply_input_with_nothing_changed(
    api_as: Any, arranged: dict[str, str], kafka_admin: AdminClient
) -> None:
    api = api_as("operator")
    url = "/api/clusters/local/retention/compliance/apply/"
    for payload, field in [
        ({"topics": "not-a-list", "dry_run": False}, "topics"),
        ({"topics": [arranged["drift"]], "dry_run": "maybe"}, "dry_run"),
        ({"topics": [], "dry_run": False}, "topics"),
    ]:
        response = api.post(url, payload, format="json")
        assert response.status_code == 400, payload
        assert field in response.json()["fields"]
    assert _broker_configs(kafka_admin, arranged["drift"])["retention.ms"] == HOUR
    assert api.post("/api/clusters/nope/retention/compliance/apply/", {"topics": ["x"]}, format="json").status_code == (
        404
    )


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["viewer", "reader"])
def test_it_refuses_apply_below_operator(
    api_as: Any, arranged: dict[str, str], kafka_admin: AdminClient, role: str
) -> None:
    api = api_as(role)
    url = "/api/clusters/local/retention/compliance/apply/"
    assert api.post(url, {"topics": [arranged["drift"]]}, format="json").status_code == 200
    refused = api.post(url, {"topics": [arranged["drift"]], "dry_run": False}, format="json")
    assert refused.status_code == 403
    assert "operator role" in refused.json()["error"]
    assert _broker_configs(kafka_admin, arranged["drift"])["retention.ms"] == HOUR


@pytest.mark.django_db
def test_it_refuses_apply_on_a_read_only_cluster(api_as: Any, clusters_file: Any, kafka_admin: AdminClient) -> None:
    prefix = _prefix()
    topic = f"{prefix}.t"
    create_topic("local", topic, partitions=1, replication_factor=1, configs={"retention.ms": HOUR})
    _policy(f"{prefix}.*", configs={"retention.ms": "7d"})
    clusters_file("clusters:\n  - {name: local, bootstrap_servers: '{LOCAL}', read_only: true}\n")
    api = api_as("admin")
    url = "/api/clusters/local/retention/compliance/apply/"
    preview = api.post(url, {"topics": [topic]}, format="json")
    assert preview.status_code == 200 and preview.json()["results"][0]["status"] == "planned"
    refused = api.post(url, {"topics": [topic], "dry_run": False}, format="json")
    assert refused.status_code == 403
    assert "read-only" in refused.json()["error"]
    assert _broker_configs(kafka_admin, topic)["retention.ms"] == HOUR


@pytest.mark.django_db
def test_the_impact_preview_counts_exactly_the_events_older_than_the_new_retention(
    api_as: Any, kafka_bootstrap: str, kafka_admin: AdminClient
) -> None:
    prefix = _prefix()
    topic = f"{prefix}.events"
    create_topic("local", topic, partitions=1, replication_factor=1, configs={"retention.ms": WEEK})
    api = api_as("operator")  # before the clock starts: creating a user hashes a password
    producer = Producer(independent_client_config(kafka_bootstrap, **{"linger.ms": 0}))
    # Tansu looks timestamps up by the time a batch was stored: produce in real time.
    _produce(producer, topic, 7)  # batch A: older than the new limit
    time.sleep(3)
    boundary_ms = int(time.time() * 1000)
    _produce(producer, topic, 3)  # batch B
    _produce(producer, topic, 1)  # the final record alone, so the latest offset is exact
    # The cutoff (apply time - retention) lands 1.5 s before batch B, 1.5 s after batch A.
    retention_ms = int(time.time() * 1000) - boundary_ms + 1500
    _policy(f"{prefix}.*", configs={"retention.ms": str(retention_ms)})

    response = api.post("/api/clusters/local/retention/compliance/apply/", {"topics": [topic]}, format="json")
    [result] = response.json()["results"]
    impact = result["impact"]
    assert impact["events"] == 7
    # Bytes: estimated from the log dirs where the broker reports them (tests/topics/test_sizes.py).
    assert impact["bytes_estimated"] == (impact["bytes"] is not None)
    counted = [{k: v for k, v in p.items() if k != "bytes_estimate"} for p in impact["partitions"]]
    assert counted == [{"partition": 0, "low": 0, "high": 11, "first_kept": 7, "events": 7}]
    assert impact["summary"].startswith("will delete ~7 events older than")
    assert response.json()["summary"]["events_to_delete"] == 7
    assert _broker_configs(kafka_admin, topic)["retention.ms"] == WEEK


@pytest.mark.django_db
def test_the_impact_is_zero_when_every_event_is_newer_than_the_limit_and_bytes_are_explained(
    api_as: Any, kafka_bootstrap: str
) -> None:
    prefix = _prefix()
    topic = f"{prefix}.fresh"
    create_topic("local", topic, partitions=1, replication_factor=1, configs={"retention.ms": WEEK})
    producer = Producer(independent_client_config(kafka_bootstrap, **{"linger.ms": 0}))
    _produce(producer, topic, 4)
    _produce(producer, topic, 1)
    _policy(f"{prefix}.*", configs={"retention.ms": "1h", "retention.bytes": "10MB"})
    response = api_as("operator").post(
        "/api/clusters/local/retention/compliance/apply/", {"topics": [topic]}, format="json"
    )
    [result] = response.json()["results"]
    assert result["impact"]["events"] == 0
    assert result["impact"]["summary"] == "no event is older than 1 h: nothing to delete"
    assert any("depends on segment sizes" in n for n in result["impact"]["notes"])


# Kafka answers -1 for a time after the last event; Tansu answers 0 (TEST_BROKER.md).
@pytest.mark.real_kafka
@pytest.mark.django_db
def test_the_impact_counts_every_event_when_none_is_newer_than_the_limit(api_as: Any, kafka_bootstrap: str) -> None:
    prefix = _prefix()
    topic = f"{prefix}.old"
    create_topic("local", topic, partitions=1, replication_factor=1, configs={"retention.ms": WEEK})
    producer = Producer(independent_client_config(kafka_bootstrap, **{"linger.ms": 0}))
    _produce(producer, topic, 5)
    time.sleep(1.2)
    _policy(f"{prefix}.*", configs={"retention.ms": "1s"})
    response = api_as("operator").post(
        "/api/clusters/local/retention/compliance/apply/", {"topics": [topic]}, format="json"
    )
    assert response.json()["results"][0]["impact"]["events"] == 5


@pytest.mark.django_db
def test_the_compliance_page_previews_then_applies(
    client_as: Any, arranged: dict[str, str], kafka_admin: AdminClient
) -> None:
    client = client_as("operator")
    page = client.get(f"/clusters/local/retention/?search={arranged['prefix']}")
    assert page.status_code == 200
    html = page.content.decode()
    assert arranged["drift"] in html and 'class="line drift"' in html and "Preview apply" in html
    rows = client.get(
        f"/clusters/local/retention/?search={arranged['prefix']}&drifting=1", headers={"HX-Request": "true"}
    ).content.decode()
    assert arranged["drift"] in rows and arranged["ok"] not in rows and "<html" not in rows

    preview = client.post(
        "/clusters/local/retention/", {"topics": [arranged["drift"]], "action": "preview"}, headers={"HX-Request": "1"}
    ).content.decode()
    assert "1 h" in preview and "7 d" in preview and "Apply to 1 topic" in preview
    assert _broker_configs(kafka_admin, arranged["drift"])["retention.ms"] == HOUR

    applied = client.post(
        "/clusters/local/retention/", {"topics": [arranged["drift"]], "action": "apply"}, headers={"HX-Request": "1"}
    ).content.decode()
    assert "applied" in applied
    assert _broker_configs(kafka_admin, arranged["drift"])["retention.ms"] == WEEK

    viewer = client_as("viewer").post(
        "/clusters/local/retention/", {"topics": [arranged["ok"]], "action": "apply"}, headers={"HX-Request": "1"}
    )
    assert viewer.status_code == 403


@pytest.mark.django_db(transaction=True)
def test_the_drift_beat_task_counts_drifting_topics_into_the_navigation(
    celery_worker: Any, client_as: Any, kafka_admin: AdminClient
) -> None:
    from topics.tasks import check_retention_drift

    prefix = _prefix()
    for i in range(2):
        create_topic("local", f"{prefix}-{i}", partitions=1, replication_factor=1, configs={"retention.ms": HOUR})
    _policy(f"{prefix}-*", configs={"retention.ms": "7d"})
    cache.delete("retention:drift:local")
    check_retention_drift.delay()
    deadline = time.monotonic() + 30
    while (count := cache.get("retention:drift:local")) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert count == 2
    assert count == len(cluster_compliance("local", drifting_only=True))
    html = client_as("viewer").get("/clusters/local/retention/").content.decode()
    assert 'title="topics drifting from their retention policy">2</span>' in html
