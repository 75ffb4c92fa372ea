"""Topic API on the real broker: every change read back with an independent client."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType

from backbone_admin.models import AuditEntry
from tests.conftest import independent_client_config
from topics.models import RetentionPolicy

pytestmark = pytest.mark.django_db

API = "/api/clusters/local/topics/"


def broker_topics(admin: AdminClient) -> set[str]:
    return set(admin.list_topics(timeout=5).topics)


def broker_configs(admin: AdminClient, topic: str) -> dict[str, str | None]:
    futures = admin.describe_configs([ConfigResource(ResourceType.TOPIC, topic)])
    entries = next(iter(futures.values())).result(timeout=5)
    return {name: entry.value for name, entry in entries.items()}


def make_topic(admin: AdminClient, name: str, partitions: int = 1, config: dict[str, str] | None = None) -> None:
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})]
    )
    futures[name].result(timeout=10)


def produce(bootstrap: str, topic: str, count: int, partition: int = 0) -> None:
    """`count` records; the last one alone in its batch so the broker's latest offset is exact."""
    producer = Producer(independent_client_config(bootstrap, **{"linger.ms": 0}))
    for i in range(count - 1):
        producer.produce(topic, key=f"k{i}", value=f"v{i}", partition=partition)
    producer.flush(10)
    producer.produce(topic, key="last", value="last", partition=partition)
    producer.flush(10)


def create(api: Any, name: str, **body: Any) -> Any:
    return api.post(API, {"name": name, "partitions": 1, "replication_factor": 1, **body}, format="json")


# --- create -------------------------------------------------------------------------


def test_it_creates_a_topic_with_configs_in_human_units(api_as: Any, topic_name: str, kafka_admin: AdminClient) -> None:
    response = create(
        api_as("operator"),
        topic_name,
        partitions=3,
        configs={"retention.ms": "7d", "retention.bytes": "500MB", "cleanup.policy": "delete"},
    )
    assert response.status_code == 201, response.json()
    assert response.json()["configs"]["retention.ms"] == "604800000"
    metadata = kafka_admin.list_topics(timeout=5).topics[topic_name]
    assert len(metadata.partitions) == 3
    configs = broker_configs(kafka_admin, topic_name)
    assert configs["retention.ms"] == "604800000"
    assert configs["retention.bytes"] == "500000000"
    entry = AuditEntry.objects.get(action="topic.create", target=topic_name)
    assert entry.result == "ok"
    assert entry.after["partitions"] == 3
    assert entry.after["configs"]["retention.bytes"] == "500000000"


def test_it_prefills_configs_from_a_retention_policy(api_as: Any, topic_name: str, kafka_admin: AdminClient) -> None:
    RetentionPolicy.objects.create(
        name=f"p-{uuid.uuid4().hex[:6]}", topic_pattern="nomatch-*", configs={"retention.ms": "86400000"}
    )
    policy = RetentionPolicy.objects.latest("id")
    response = create(api_as("operator"), topic_name, retention_policy=policy.name, configs={"segment.ms": "1h"})
    assert response.status_code == 201, response.json()
    configs = broker_configs(kafka_admin, topic_name)
    assert configs["retention.ms"] == "86400000"
    assert configs["segment.ms"] == "3600000"


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("bad name", "may only contain"),
        ("orders/eu", "may only contain"),
        (".", "`.` or `..`"),
        ("..", "`.` or `..`"),
        ("x" * 250, "at most 249"),
    ],
)
def test_it_refuses_names_kafka_would_refuse(api_as: Any, kafka_admin: AdminClient, name: str, says: str) -> None:
    response = create(api_as("operator"), name)
    assert response.status_code == 400
    assert says in response.json()["fields"]["name"]
    assert name not in broker_topics(kafka_admin)


def test_it_refuses_a_name_colliding_with_another_once_dots_become_underscores(
    api_as: Any, kafka_admin: AdminClient
) -> None:
    base = f"coll-{uuid.uuid4().hex[:8]}"
    make_topic(kafka_admin, f"{base}.orders")
    response = create(api_as("operator"), f"{base}_orders")
    assert response.status_code == 400
    body = response.json()
    assert f"collides with the existing topic `{base}.orders`" in body["error"]
    assert "`.` and `_`" in body["fields"]["name"]
    assert f"{base}_orders" not in broker_topics(kafka_admin)


def test_it_refuses_a_duplicate_with_409(api_as: Any, topic_name: str, kafka_admin: AdminClient) -> None:
    make_topic(kafka_admin, topic_name, partitions=2)
    response = create(api_as("operator"), topic_name, partitions=5)
    assert response.status_code == 409
    assert "already exists" in response.json()["error"]
    assert len(kafka_admin.list_topics(timeout=5).topics[topic_name].partitions) == 2


@pytest.mark.parametrize(("partitions", "says"), [(0, "between 1 and 10"), (11, "between 1 and 10"), (-3, "between")])
def test_it_refuses_partition_counts_outside_the_limits(
    api_as: Any, topic_name: str, kafka_admin: AdminClient, settings: Any, partitions: int, says: str
) -> None:
    settings.TOPIC_MAX_PARTITIONS = 10
    response = create(api_as("operator"), topic_name, partitions=partitions)
    assert response.status_code == 400
    assert says in response.json()["fields"]["partitions"]
    assert topic_name not in broker_topics(kafka_admin)


def test_it_refuses_a_replication_factor_above_the_broker_count(
    api_as: Any, topic_name: str, kafka_admin: AdminClient
) -> None:
    brokers = len(kafka_admin.describe_cluster().result(timeout=5).nodes)
    response = create(api_as("operator"), topic_name, replication_factor=brokers + 2)
    assert response.status_code == 400
    assert f"more than the {brokers} broker(s)" in response.json()["fields"]["replication_factor"]
    assert topic_name not in broker_topics(kafka_admin)


@pytest.mark.parametrize(
    ("configs", "field", "says"),
    [
        ({"retention.ms": "-7"}, "retention.ms", "must be ≥ -1"),
        ({"retention.ms": "a week"}, "retention.ms", "not a duration"),
        ({"cleanup.policy": "archive"}, "cleanup.policy", "delete, compact"),
        ({"retention.weeks": "2"}, "retention.weeks", "unknown topic config"),
        ({"min.insync.replicas": "0"}, "min.insync.replicas", "must be ≥ 1"),
    ],
)
def test_it_refuses_bad_configs_before_the_broker_sees_them(
    api_as: Any, topic_name: str, kafka_admin: AdminClient, configs: dict[str, str], field: str, says: str
) -> None:
    response = create(api_as("operator"), topic_name, configs=configs)
    assert response.status_code == 400
    assert says in response.json()["fields"]["configs"][field]
    assert topic_name not in broker_topics(kafka_admin)


def test_it_refuses_retention_outside_the_policy_guardrails_naming_the_policy(
    api_as: Any, topic_name: str, kafka_admin: AdminClient
) -> None:
    policy = f"audit-{uuid.uuid4().hex[:6]}"
    RetentionPolicy.objects.create(
        name=policy, topic_pattern=f"{topic_name}*", priority=100, min_retention_ms=86_400_000
    )
    response = create(api_as("operator"), topic_name, configs={"retention.ms": "1h"})
    assert response.status_code == 400
    assert f"retention policy `{policy}`" in response.json()["error"]
    assert topic_name not in broker_topics(kafka_admin)
    # An edit of an existing topic is held to the same guardrail.
    make_topic(kafka_admin, topic_name, config={"retention.ms": "172800000"})
    patch = api_as("operator").patch(f"{API}{topic_name}/configs/", {"retention.ms": "2h"}, format="json")
    assert patch.status_code == 400
    assert f"retention policy `{policy}`" in patch.json()["fields"]["retention.ms"]
    assert broker_configs(kafka_admin, topic_name)["retention.ms"] == "172800000"


# --- roles and read-only clusters ----------------------------------------------------


def test_it_refuses_a_viewer_creating_and_an_operator_deleting(
    api_as: Any, topic_name: str, kafka_admin: AdminClient
) -> None:
    response = create(api_as("viewer"), topic_name)
    assert response.status_code == 403
    assert "operator" in response.json()["error"]
    assert topic_name not in broker_topics(kafka_admin)
    make_topic(kafka_admin, topic_name)
    operator = api_as("operator")
    deleted = operator.delete(f"{API}{topic_name}/", {"confirm": topic_name}, format="json")
    assert deleted.status_code == 403
    assert topic_name in broker_topics(kafka_admin)
    assert (
        api_as("viewer").patch(f"{API}{topic_name}/configs/", {"retention.ms": "1d"}, format="json").status_code == 403
    )


def test_it_refuses_changes_on_a_read_only_cluster(
    api_as: Any, topic_name: str, kafka_admin: AdminClient, clusters_file: Any
) -> None:
    clusters_file("clusters:\n  - {name: local, bootstrap_servers: '{LOCAL}', read_only: true}\n")
    admin = api_as("admin")
    response = create(admin, topic_name)
    assert response.status_code == 403
    assert "read-only" in response.json()["error"]
    assert topic_name not in broker_topics(kafka_admin)
    assert admin.get(API, {"search": topic_name}).status_code == 200


# --- detail --------------------------------------------------------------------------


def test_detail_shows_partitions_watermarks_configs_and_group_lag(
    api_as: Any, topic_name: str, kafka_admin: AdminClient, kafka_bootstrap: str
) -> None:
    make_topic(kafka_admin, topic_name, partitions=2, config={"retention.ms": "43200000"})
    produce(kafka_bootstrap, topic_name, 5, partition=0)
    produce(kafka_bootstrap, topic_name, 2, partition=1)
    group = f"g-{uuid.uuid4().hex[:8]}"
    kafka_admin.alter_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group, [TopicPartition(topic_name, 0, 3), TopicPartition(topic_name, 1, 2)])]
    )[group].result(timeout=10)
    response = api_as("viewer").get(f"{API}{topic_name}/")
    assert response.status_code == 200
    body = response.json()
    assert [(p["id"], p["low"], p["high"], p["messages"]) for p in body["partitions"]] == [(0, 0, 5, 5), (1, 0, 2, 2)]
    assert body["messages"] == 7
    retention = next(c for c in body["configs"] if c["name"] == "retention.ms")
    assert retention["value"] == "43200000"
    assert retention["human"] == "12 h"
    groups = {g["group_id"]: g for g in body["consumer_groups"]}
    assert groups[group]["lag"] == 2
    assert {p["partition"]: p["lag"] for p in groups[group]["partitions"]} == {0: 2, 1: 0}


def test_the_largest_long_reads_as_never_or_unlimited(api_as: Any, topic_name: str, kafka_admin: AdminClient) -> None:
    long_max = "9223372036854775807"  # Kafka's "no limit" where -1 is not allowed
    make_topic(
        kafka_admin,
        topic_name,
        config={"flush.ms": long_max, "flush.messages": long_max, "max.compaction.lag.ms": long_max},
    )
    configs = {c["name"]: c for c in api_as("viewer").get(f"{API}{topic_name}/").json()["configs"]}
    assert configs["flush.ms"]["value"] == long_max
    assert configs["flush.ms"]["human"] == "never"
    assert configs["flush.messages"]["human"] == "never"
    assert configs["max.compaction.lag.ms"]["human"] == "unlimited"


@pytest.mark.real_kafka
def test_the_changed_flag_is_the_brokers_own(api_as: Any, topic_name: str, kafka_admin: AdminClient) -> None:
    """Kafka reports every config with its source; only what it says is not its default is flagged,
    whatever a given Kafka version's defaults are (message.timestamp.after.max.ms changed in 3.6/4.0)."""
    make_topic(kafka_admin, topic_name, config={"retention.ms": "43200000"})
    configs = {c["name"]: c for c in api_as("viewer").get(f"{API}{topic_name}/").json()["configs"]}
    assert (configs["retention.ms"]["source"], configs["retention.ms"]["differs_from_default"]) == ("topic", True)
    for name in ("message.timestamp.after.max.ms", "retention.bytes", "flush.ms"):
        assert configs[name]["is_default"] is True
        assert configs[name]["differs_from_default"] is False, name
    assert configs["retention.bytes"]["human"] == "unlimited"
    assert configs["flush.ms"]["human"] == "never"
    flagged = {name for name, c in configs.items() if c["differs_from_default"]}
    assert flagged == {name for name, c in configs.items() if not c["is_default"]}


def test_unknown_topic_is_404_everywhere(api_as: Any, kafka_admin: AdminClient) -> None:
    name = f"missing-{uuid.uuid4().hex[:8]}"
    admin = api_as("admin")
    assert admin.get(f"{API}{name}/").status_code == 404
    response = admin.patch(f"{API}{name}/configs/", {"retention.ms": "1d"}, format="json")
    assert response.status_code == 404
    assert f"topic `{name}` does not exist" in response.json()["error"]
    assert admin.post(f"{API}{name}/partitions/", {"total": 3}, format="json").status_code == 404
    assert admin.delete(f"{API}{name}/?confirm={name}").status_code == 404
    assert name not in broker_topics(kafka_admin)


# --- configs -------------------------------------------------------------------------


def test_it_changes_configs_in_one_request_and_audits_before_and_after(
    api_as: Any, topic_name: str, kafka_admin: AdminClient
) -> None:
    # retention.bytes is set at creation: Kafka reports every config (-1 for this one untouched),
    # the test broker only the ones set, so both then report the same `before`.
    make_topic(
        kafka_admin,
        topic_name,
        config={"retention.ms": "604800000", "retention.bytes": "1000000000", "segment.ms": "3600000"},
    )
    api = api_as("operator")
    preview = api.patch(f"{API}{topic_name}/configs/?dry_run=1", {"retention.ms": "12h"}, format="json")
    assert preview.json()["changes"] == [
        {
            "name": "retention.ms",
            "before": "604800000",
            "after": "43200000",
            "before_human": "7 d",
            "after_human": "12 h",
        }
    ]
    assert broker_configs(kafka_admin, topic_name)["retention.ms"] == "604800000"
    response = api.patch(
        f"{API}{topic_name}/configs/", {"retention.ms": "12h", "retention.bytes": "1GiB"}, format="json"
    )
    assert response.status_code == 200, response.json()
    configs = broker_configs(kafka_admin, topic_name)
    assert configs["retention.ms"] == "43200000"
    assert configs["retention.bytes"] == str(1024**3)
    entry = AuditEntry.objects.get(action="topic.configure", target=topic_name)
    assert entry.before == {"retention.ms": "604800000", "retention.bytes": "1000000000"}
    assert entry.after == {"retention.ms": "43200000", "retention.bytes": str(1024**3)}
    reverted = api.patch(f"{API}{topic_name}/configs/", {"segment.ms": None}, format="json")
    assert reverted.status_code == 200
    assert broker_configs(kafka_admin, topic_name).get("segment.ms") in (None, "604800000")


def test_it_applies_nothing_when_one_config_is_bad(api_as: Any, topic_name: str, kafka_admin: AdminClient) -> None:
    make_topic(kafka_admin, topic_name, config={"retention.ms": "604800000"})
    response = api_as("operator").patch(
        f"{API}{topic_name}/configs/",
        {"retention.ms": "1d", "retention.bytes": "lots", "segment.jitter.ms": True},
        format="json",
    )
    assert response.status_code == 400
    fields = response.json()["fields"]
    assert "segment.jitter.ms" in fields
    assert broker_configs(kafka_admin, topic_name)["retention.ms"] == "604800000"
    again = api_as("operator").patch(
        f"{API}{topic_name}/configs/", {"retention.ms": "1d", "retention.bytes": "lots"}, format="json"
    )
    assert again.status_code == 400
    assert "retention.bytes" in again.json()["fields"]
    assert broker_configs(kafka_admin, topic_name)["retention.ms"] == "604800000"
    assert not AuditEntry.objects.filter(action="topic.configure", target=topic_name).exists()


# --- partitions and delete -----------------------------------------------------------


def test_adding_partitions_reports_a_clear_not_supported_on_this_broker(
    api_as: Any, topic_name: str, kafka_admin: AdminClient, broker_adds_partitions: bool
) -> None:
    """Apache Kafka grows the topic; a broker without CreatePartitions gets a clear refusal."""
    make_topic(kafka_admin, topic_name, partitions=2)
    api = api_as("operator")
    fewer = api.post(f"{API}{topic_name}/partitions/", {"total": 2}, format="json")
    assert fewer.status_code == 400
    assert "must be more" in fewer.json()["fields"]["total"]
    response = api.post(f"{API}{topic_name}/partitions/", {"total": 4}, format="json")
    partitions = len(kafka_admin.list_topics(topic_name, timeout=5).topics[topic_name].partitions)
    entry = AuditEntry.objects.get(action="topic.add_partitions", target=topic_name)
    assert entry.before == {"partitions": 2}
    if broker_adds_partitions:
        assert response.status_code == 200, response.json()
        assert response.json() == {"name": topic_name, "partitions": 4}
        assert partitions == 4
        assert (entry.result, entry.after) == ("ok", {"partitions": 4})
    else:
        assert response.status_code == 400
        assert "not supported by cluster `local`" in response.json()["error"]
        assert partitions == 2
        assert entry.result == "error"


def test_it_deletes_only_after_the_name_is_typed(api_as: Any, topic_name: str, kafka_admin: AdminClient) -> None:
    make_topic(kafka_admin, topic_name, config={"retention.ms": "86400000"})
    admin = api_as("admin")
    wrong = admin.delete(f"{API}{topic_name}/", {"confirm": "something-else"}, format="json")
    assert wrong.status_code == 400
    assert "confirm" in wrong.json()["fields"]
    assert topic_name in broker_topics(kafka_admin)
    response = admin.delete(f"{API}{topic_name}/?confirm={topic_name}")
    assert response.status_code == 204
    assert topic_name not in broker_topics(kafka_admin)
    entry = AuditEntry.objects.get(action="topic.delete", target=topic_name)
    assert entry.before["partitions"] == 1
    assert entry.before["configs"]["retention.ms"] == "86400000"


# --- listing -------------------------------------------------------------------------


@pytest.fixture
def listed(kafka_admin: AdminClient, kafka_bootstrap: str) -> str:
    """Four topics under one unique prefix with different partitions and message counts."""
    prefix = f"ls-{uuid.uuid4().hex[:8]}"
    make_topic(kafka_admin, f"{prefix}-alpha", partitions=1, config={"retention.ms": "86400000"})
    make_topic(kafka_admin, f"{prefix}-beta", partitions=3, config={"retention.ms": "-1"})
    make_topic(kafka_admin, f"{prefix}-gamma", partitions=2, config={"retention.ms": "3600000"})
    make_topic(kafka_admin, f"{prefix}.Delta", partitions=1)
    produce(kafka_bootstrap, f"{prefix}-alpha", 2)
    produce(kafka_bootstrap, f"{prefix}-beta", 9)
    produce(kafka_bootstrap, f"{prefix}-gamma", 4)
    return prefix


def names(response: Any) -> list[str]:
    assert response.status_code == 200, response.json()
    return [row["name"] for row in response.json()["results"]]


def test_it_searches_by_substring_and_regex(api_as: Any, listed: str) -> None:
    api = api_as("viewer")
    assert names(api.get(API, {"search": listed.upper(), "refresh": "1"})) == [
        f"{listed}-alpha",
        f"{listed}-beta",
        f"{listed}-gamma",
        f"{listed}.Delta",
    ]
    assert names(api.get(API, {"search": f"re:^{listed}-(alpha|gamma)$"})) == [f"{listed}-alpha", f"{listed}-gamma"]
    assert names(api.get(API, {"search": f"re:{listed}\\.delta"})) == [f"{listed}.Delta"]
    bad = api.get(API, {"search": "re:orders(["})
    assert bad.status_code == 400
    assert "not a valid regular expression" in bad.json()["fields"]["search"]


def test_it_sorts_by_partitions_messages_and_retention(api_as: Any, listed: str) -> None:
    api = api_as("viewer")
    query = {"search": f"{listed}-", "refresh": "1"}
    assert names(api.get(API, {**query, "sort": "partitions", "order": "desc"})) == [
        f"{listed}-beta",
        f"{listed}-gamma",
        f"{listed}-alpha",
    ]
    response = api.get(API, {"search": f"{listed}-", "sort": "messages", "order": "desc"})
    assert names(response) == [f"{listed}-beta", f"{listed}-gamma", f"{listed}-alpha"]
    assert [r["messages"] for r in response.json()["results"]] == [9, 4, 2]
    by_retention = api.get(API, {"search": f"{listed}-", "sort": "retention"})
    assert names(by_retention) == [f"{listed}-gamma", f"{listed}-alpha", f"{listed}-beta"]
    assert [r["retention_ms_human"] for r in by_retention.json()["results"]] == ["1 h", "1 d", "forever"]
    assert names(api.get(API, {"search": f"{listed}-", "sort": "name", "order": "desc"}))[0] == f"{listed}-gamma"
    assert api.get(API, {"sort": "colour"}).status_code == 400


def test_it_paginates_with_next_and_previous_links(api_as: Any, listed: str) -> None:
    api = api_as("viewer")
    first = api.get(API, {"search": listed, "page_size": 3, "refresh": "1"})
    body = first.json()
    assert body["count"] == 4
    assert len(body["results"]) == 3
    assert body["previous"] is None
    assert "page=2" in body["next"]
    second = api.get(body["next"])
    assert names(second) == [f"{listed}.Delta"]
    assert second.json()["next"] is None
    assert "page=1" in second.json()["previous"]
    assert api.get(API, {"page_size": 501}).status_code == 400


def test_internal_topics_are_hidden_unless_asked_for(api_as: Any, kafka_admin: AdminClient) -> None:
    name = f"__internal-{uuid.uuid4().hex[:8]}"
    make_topic(kafka_admin, name)
    api = api_as("viewer")
    assert names(api.get(API, {"search": name, "refresh": "1"})) == []
    shown = api.get(API, {"search": name, "internal": "1"})
    assert names(shown) == [name]
    assert shown.json()["results"][0]["internal"] is True


def test_rows_carry_sizes_as_unavailable_and_the_governing_policy(
    api_as: Any, listed: str, kafka_admin: AdminClient
) -> None:
    policy = f"pol-{uuid.uuid4().hex[:6]}"
    RetentionPolicy.objects.create(name=policy, topic_pattern=f"{listed}-*", priority=5, configs={})
    body = api_as("viewer").get(API, {"search": listed, "refresh": "1"}).json()
    rows = body["results"]
    by_name = {r["name"]: r for r in rows}
    assert by_name[f"{listed}-alpha"]["retention_policy"] == policy
    assert by_name[f"{listed}.Delta"]["retention_policy"] is None
    # Sizes where the brokers report them (tests/topics/test_sizes.py), null with the reason where not.
    assert all(r["size"] == r["size_bytes"] and (r["size_bytes"] is None) == bool(body["size_unknown"]) for r in rows)
    assert by_name[f"{listed}-beta"]["partitions"] == 3
    assert by_name[f"{listed}-beta"]["retention_ms_human"] == "forever"


def test_the_cached_listing_sees_a_topic_created_through_the_console(api_as: Any, topic_name: str) -> None:
    api = api_as("operator")
    api.get(API, {"search": topic_name})  # warms the cache
    assert create(api, topic_name).status_code == 201
    assert names(api.get(API, {"search": topic_name})) == [topic_name]


def test_the_schema_documents_the_topic_api(api_as: Any) -> None:
    schema = api_as("viewer").get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content.decode()
    for path in ("/api/clusters/{cluster}/topics/", "/api/clusters/{cluster}/topics/{topic}/configs/"):
        assert path in schema
    assert "TopicCreate" in schema
