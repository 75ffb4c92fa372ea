"""Size caps on untrusted values: config values, apply lists and cache refreshes.

Each case goes through the API or the page a person uses, and checks that nothing changed on
the broker (or in the shared cache) afterwards.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType
from django.core.cache import cache

from backbone_admin.kafka import InvalidRequest
from topics.configs import MAX_TEXT_LENGTH, SPECS, validate_topic_configs
from topics.models import RetentionPolicy
from topics.refresh import refresh_allowed
from topics.units import parse_duration_ms, parse_size_bytes

pytestmark = pytest.mark.django_db

API = "/api/clusters/local/topics/"
# The review's values: quadratic backtracking in the old number pattern (26 s), and a
# decimal.Overflow (500) for a million digits.
SPACES = "1" + " " * 60_000 + "!"
DIGITS = "9" * 1_000_000


def make_topic(admin: AdminClient, name: str, config: dict[str, str] | None = None) -> None:
    admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1, config=config or {})])[name].result(
        timeout=10
    )


def broker_configs(admin: AdminClient, topic: str) -> dict[str, str | None]:
    futures = admin.describe_configs([ConfigResource(ResourceType.TOPIC, topic)])
    entries = next(iter(futures.values())).result(timeout=5)
    return {name: entry.value for name, entry in entries.items()}


def broker_topics(admin: AdminClient) -> set[str]:
    return set(admin.list_topics(timeout=5).topics)


# --- config values -----------------------------------------------------------------------


@pytest.mark.parametrize("parse", [parse_duration_ms, parse_size_bytes])
# Arabic-Indic digits are digits to Python's `\d` and Decimal, but not to Kafka.
@pytest.mark.parametrize("value", [SPACES, DIGITS, "1" + " " * 60 + "!", "9" * 64, "1e5", "\u0661\u0662h"])
def test_number_parsing_refuses_fast_and_with_a_400_error(parse: Any, value: str) -> None:
    started = time.perf_counter()
    with pytest.raises(InvalidRequest):
        parse(value)
    assert time.perf_counter() - started < 0.1


def test_the_length_is_checked_before_parsing_and_not_echoed_back() -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse_duration_ms(DIGITS)
    assert refused.value.message == "value longer than 64 characters (1,000,000)"


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("retention.ms", SPACES, "retention.ms: value longer than 64 characters"),
        ("retention.ms", DIGITS, "retention.ms: value longer than 64 characters"),
        ("min.insync.replicas", DIGITS, "min.insync.replicas: value longer than 64 characters"),
        ("min.cleanable.dirty.ratio", "nan", "min.cleanable.dirty.ratio must be a finite number"),
        ("min.cleanable.dirty.ratio", "1e999", "min.cleanable.dirty.ratio must be a finite number"),
        ("compression.type", "x" * 1000, "compression.type: value longer than 64 characters"),
        ("cleanup.policy", "delete," * 5000, f"cleanup.policy: value longer than {MAX_TEXT_LENGTH:,} characters"),
    ],
)
def test_every_config_value_is_capped_and_named(name: str, value: str, says: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        validate_topic_configs({name: value})
    assert refused.value.fields[name].startswith(says)


def test_it_refuses_more_configs_than_it_knows_at_once() -> None:
    with pytest.raises(InvalidRequest) as refused:
        validate_topic_configs({f"x{i}": "1" for i in range(len(SPECS) + 1)})
    assert "at most" in refused.value.fields["configs"]


@pytest.mark.parametrize("value", [SPACES, DIGITS])
def test_the_api_answers_400_naming_the_field_and_changes_nothing(
    api_as: Any, topic_name: str, kafka_admin: AdminClient, value: str
) -> None:
    make_topic(kafka_admin, topic_name, {"retention.ms": "604800000"})
    started = time.perf_counter()
    response = api_as("operator").patch(f"{API}{topic_name}/configs/", {"retention.ms": value}, format="json")
    assert time.perf_counter() - started < 2
    assert response.status_code == 400
    assert response.json()["fields"]["retention.ms"].startswith("retention.ms: value longer than 64 characters")
    assert broker_configs(kafka_admin, topic_name)["retention.ms"] == "604800000"

    created = api_as("operator").post(
        API,
        {"name": f"{topic_name}-new", "partitions": 1, "replication_factor": 1, "configs": {"retention.bytes": value}},
        format="json",
    )
    assert created.status_code == 400
    assert "retention.bytes" in created.json()["fields"]["configs"]
    assert f"{topic_name}-new" not in broker_topics(kafka_admin)


def test_the_api_refuses_a_flood_of_config_keys(api_as: Any, topic_name: str, kafka_admin: AdminClient) -> None:
    make_topic(kafka_admin, topic_name, {"retention.ms": "604800000"})
    body = {f"unknown.{i}": None for i in range(10_000)}
    response = api_as("operator").patch(f"{API}{topic_name}/configs/", body, format="json")
    assert response.status_code == 400
    assert response.json()["fields"]["configs"].startswith(f"at most {len(SPECS)} topic configs")
    assert broker_configs(kafka_admin, topic_name)["retention.ms"] == "604800000"


@pytest.mark.parametrize("value", [SPACES, DIGITS])
def test_the_config_page_answers_400_naming_the_field_and_changes_nothing(
    client_as: Any, topic_name: str, kafka_admin: AdminClient, value: str
) -> None:
    make_topic(kafka_admin, topic_name, {"retention.ms": "604800000"})
    started = time.perf_counter()
    response = client_as("operator").post(
        f"/clusters/local/topics/{topic_name}/configs/", {"cfg:retention.ms": value, "cfg:segment.ms": "2h"}
    )
    assert time.perf_counter() - started < 2
    assert response.status_code == 400
    html = response.content.decode()
    assert "retention.ms: value longer than 64 characters" in html
    configs = broker_configs(kafka_admin, topic_name)
    assert configs["retention.ms"] == "604800000"
    assert configs.get("segment.ms") in (None, "604800000")  # all or nothing


def test_the_create_page_refuses_an_oversized_value(client_as: Any, topic_name: str, kafka_admin: AdminClient) -> None:
    response = client_as("operator").post(
        "/clusters/local/topics/new/",
        {"name": topic_name, "partitions": "1", "replication_factor": "1", "retention_time": DIGITS},
    )
    assert response.status_code == 400
    assert "retention.ms: value longer than 64 characters" in response.content.decode()
    assert topic_name not in broker_topics(kafka_admin)


def test_policy_guardrails_are_capped_too(api_as: Any) -> None:
    response = api_as("admin").post(
        "/api/retention-policies/",
        {"name": "huge-guardrail", "topic_pattern": "huge-*", "configs": {}, "max_retention": DIGITS},
        format="json",
    )
    assert response.status_code == 400
    assert "max_retention" in response.json()["fields"]
    assert not RetentionPolicy.objects.filter(name="huge-guardrail").exists()


# --- apply lists ---------------------------------------------------------------------------


def test_apply_refuses_more_topics_than_the_limit_even_as_a_dry_run(api_as: Any, client_as: Any, settings: Any) -> None:
    url = "/api/clusters/local/retention/compliance/apply/"
    names = [f"no-such-topic-{i}" for i in range(1001)]
    response = api_as("viewer").post(url, {"topics": names, "dry_run": True}, format="json")
    assert response.status_code == 400
    assert response.json()["fields"]["topics"].startswith("at most 1,000 topics in one request (1,001 given)")

    settings.RETENTION_APPLY_MAX_TOPICS = 3
    allowed = api_as("viewer").post(url, {"topics": names[:3], "dry_run": True}, format="json")
    assert allowed.status_code == 200
    assert allowed.json()["summary"]["failed"] == 3
    page = client_as("operator").post("/clusters/local/retention/", {"topics": names[:4], "action": "apply"})
    assert page.status_code == 400
    assert "at most 3 topics in one request (4 given)" in page.content.decode()


# --- refresh rate limits -------------------------------------------------------------------


@pytest.fixture
def refresh_limits(settings: Any) -> None:
    """The production limits (the suite turns them off), with clean slots for this test."""
    settings.REFRESH_USER_INTERVAL = 10
    settings.REFRESH_CLUSTER_INTERVAL = 30  # long enough that no slot expires during a test on a busy machine
    cache.delete_many(["refresh:topics:local", "refresh:health:local"])


def _clear_slots(user: Any) -> None:
    # SQLite may hand a rolled-back user's id to a new one: clear any slot a former holder left.
    cache.delete_many([f"refresh:topics:local:u{user.pk}", f"refresh:health:local:u{user.pk}"])


def _fresh_api(api_as: Any) -> Any:
    client = api_as("viewer")
    _clear_slots(client.handler._force_user)
    return client


def _fresh_page_client(client_as: Any, django_user_model: Any) -> Any:
    client = client_as("viewer")
    _clear_slots(django_user_model.objects.get(pk=client.session["_auth_user_id"]))
    return client


def test_refresh_slots_expire_after_their_interval(settings: Any) -> None:
    settings.REFRESH_USER_INTERVAL = 0
    settings.REFRESH_CLUSTER_INTERVAL = 1
    cache.delete("refresh:expiry-test:local")
    assert refresh_allowed(None, "local", what="expiry-test")
    refused = refresh_allowed(None, "local", what="expiry-test")
    assert not refused and refused.note == "Showing cached data: `local` was refreshed less than 1 s ago."
    time.sleep(1.5)
    assert refresh_allowed(None, "local", what="expiry-test")


def test_topic_list_refreshes_are_limited_per_user_and_per_cluster(
    api_as: Any, kafka_admin: AdminClient, refresh_limits: None
) -> None:
    tag = uuid.uuid4().hex[:8]
    alice, bob = _fresh_api(api_as), _fresh_api(api_as)

    def names(response: Any) -> list[str]:
        return [row["name"] for row in response.json()["results"]]

    make_topic(kafka_admin, f"refresh-{tag}-a")
    first = alice.get(API, {"search": tag, "refresh": "1"})
    assert names(first) == [f"refresh-{tag}-a"] and first.json()["warnings"] == []

    make_topic(kafka_admin, f"refresh-{tag}-b")
    again = alice.get(API, {"search": tag, "refresh": "1"})
    assert again.status_code == 200
    assert names(again) == [f"refresh-{tag}-a"]  # the cached list, not a re-read
    assert again.json()["warnings"] == ["Showing cached data: you can refresh `local` once every 10 s."]

    other = bob.get(API, {"search": tag, "refresh": "1"})
    assert names(other) == [f"refresh-{tag}-a"]
    assert other.json()["warnings"] == ["Showing cached data: `local` was refreshed less than 30 s ago."]

    cache.delete("refresh:topics:local")  # the cluster's slot expires; Bob was refused, so his own is free
    fresh = bob.get(API, {"search": tag, "refresh": "1"})
    assert names(fresh) == [f"refresh-{tag}-a", f"refresh-{tag}-b"] and fresh.json()["warnings"] == []


def test_the_topic_page_shows_the_note_instead_of_refreshing(
    client_as: Any, django_user_model: Any, refresh_limits: None
) -> None:
    client = _fresh_page_client(client_as, django_user_model)
    assert client.get("/clusters/local/topics/", {"refresh": "1"}).status_code == 200
    page = client.get("/clusters/local/topics/", {"refresh": "1"})
    assert page.status_code == 200
    assert "Showing cached data: you can refresh `local` once every 10 s." in page.content.decode()


def test_overview_and_cluster_refreshes_are_limited_with_a_note(
    api_as: Any, client_as: Any, django_user_model: Any, refresh_limits: None
) -> None:
    api = _fresh_api(api_as)
    first = api.get("/api/clusters/local/", {"refresh": "1"})
    assert first.status_code == 200 and "Warning" not in first.headers
    second = api.get("/api/clusters/local/", {"refresh": "1"})
    assert second.status_code == 200
    assert second.json()["checked_at"] == first.json()["checked_at"]  # served from the cache
    assert second.headers["Warning"].startswith('199 backbone "Showing cached data')
    listing = api.get("/api/clusters/", {"refresh": "1"})
    assert listing.status_code == 200 and "Warning" in listing.headers
    assert [c["checked_at"] for c in listing.json()] == [first.json()["checked_at"]]

    client = _fresh_page_client(client_as, django_user_model)
    page = client.get("/clusters/local/", {"refresh": "1"})
    assert page.status_code == 200
    # Pages show the cluster's name as code where the API's message has it between backticks.
    shown = "Showing cached data: <code>local</code> was refreshed less than 30 s ago."
    assert shown in page.content.decode()
    rows = client.get("/clusters/", {"refresh": "1"}, HTTP_HX_REQUEST="true")
    assert shown in rows.content.decode()
