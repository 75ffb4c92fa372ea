"""Topic names: any name round-trips through the console's addresses (`/`, `%`, `..`, `new`,
spaces, Unicode), the oddest names Apache Kafka holds render and link on every page, and a name
Kafka refuses is refused by the console before any broker sees it, and answered, never a 500.

Apache Kafka allows only `[a-zA-Z0-9._-]` (and neither `.` nor `..`): it refuses `odd/name`
(TOPIC_EXCEPTION), which the test broker creates. The console checks names itself
(`topics.services.topic_name_problem`), so both brokers give the same answers here.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic
from django.urls import resolve, reverse

from topics.models import RetentionPolicy

pytestmark = pytest.mark.django_db

NAMES = ["odd/name", "a%2Fb", "100%", "..", ".", "new", "with space", "q?x#y", "ünï/cödé", "x/configs", "orders.eu"]
ROUTES = ["topics:detail", "topics:configs", "topics:partitions", "topics:delete", "api-topic", "api-topic-configs"]


@pytest.mark.parametrize("name", NAMES)
def test_topic_addresses_round_trip_any_name(name: str) -> None:
    for route in ROUTES:
        url = reverse(route, kwargs={"cluster": "local", "topic": name})
        # The server decodes the path once before routing, as Daphne and the test client do.
        match = resolve(unquote(url))
        assert match.kwargs == {"cluster": "local", "topic": name}, (route, url)
        assert match.view_name == route, (route, url)
        segment = url.split("/topics/", 1)[1].split("/", 1)[0]
        assert segment not in (".", "..", "new", "%2E", "%2E%2E"), url  # nothing a browser would reinterpret


def test_names_kafka_allows_keep_plain_addresses() -> None:
    assert reverse("topics:detail", kwargs={"cluster": "local", "topic": "orders.eu_v-2"}) == (
        "/clusters/local/topics/orders.eu_v-2/"
    )


def _hrefs(page: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(r'href="([^"]+)"', page)]


def _slash_name() -> str:
    return f"odd/name-{uuid.uuid4().hex[:8]}"


@pytest.mark.real_kafka
def test_apache_kafka_refuses_a_slash_in_a_topic_name(kafka_admin: AdminClient) -> None:
    name = _slash_name()
    future = kafka_admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])[name]
    with pytest.raises(KafkaException) as refused:
        future.result(timeout=10)
    assert refused.value.args[0].code() == KafkaError.TOPIC_EXCEPTION
    assert name not in kafka_admin.list_topics(timeout=10).topics


def test_the_console_refuses_a_name_kafka_refuses_and_answers_its_pages(
    client_as: Any, api_as: Any, kafka_admin: AdminClient
) -> None:
    name = _slash_name()
    rule = "a topic name may only contain letters, digits, `.`, `_` and `-`"
    created = api_as("operator").post(
        "/api/clusters/local/topics/", {"name": name, "partitions": 1, "replication_factor": 1}, format="json"
    )
    assert created.status_code == 400 and created.json()["fields"]["name"] == rule
    client = client_as("operator")
    form = client.post("/clusters/local/topics/new/", {"name": name, "partitions": 1, "replication_factor": 1})
    assert form.status_code == 400 and html.escape(rule) in form.content.decode()
    assert name not in kafka_admin.list_topics(timeout=10).topics
    # Its addresses still work: every page answers that the cluster refuses the name, never a 500.
    for route in ("topics:detail", "topics:configs", "streams:messages"):
        page = client.get(reverse(route, kwargs={"cluster": "local", "topic": name}))
        assert page.status_code == 400, route
        assert f"<code>{html.escape(name)}</code>" in page.content.decode(), route  # a page shows no backticks
    answer = api_as("viewer").get(reverse("api-topic", kwargs={"cluster": "local", "topic": name}))
    assert answer.status_code == 400 and f"`{name}`" in answer.json()["error"]


@pytest.fixture
def odd_topic(kafka_admin: AdminClient) -> Iterator[str]:
    """A name Kafka allows that starts like a relative path segment and mixes `.`, `_` and `-`."""
    name = f"..odd_name.{uuid.uuid4().hex[:8]}-v2"
    kafka_admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])[name].result(timeout=10)
    yield name
    kafka_admin.delete_topics([name])[name].result(timeout=10)


def test_a_topic_with_an_odd_name_renders_and_links_on_every_page(client_as: Any, api_as: Any, odd_topic: str) -> None:
    RetentionPolicy.objects.create(name="odd-policy", topic_pattern="..odd_*", configs={"retention.ms": "86400000"})
    client = client_as("operator")
    tag = odd_topic.split(".")[-1]
    detail_url = reverse("topics:detail", kwargs={"cluster": "local", "topic": odd_topic})

    listing = client.get("/clusters/local/topics/", {"search": tag, "refresh": "1"})
    assert listing.status_code == 200
    assert detail_url in _hrefs(listing.content.decode())

    detail = client.get(detail_url)
    assert detail.status_code == 200
    page = detail.content.decode()
    assert html.escape(odd_topic) in page
    assert reverse("topics:configs", kwargs={"cluster": "local", "topic": odd_topic}) in _hrefs(page)
    configs = client.get(reverse("topics:configs", kwargs={"cluster": "local", "topic": odd_topic}))
    assert configs.status_code == 200

    compliance = client.get("/clusters/local/retention/", {"search": tag})
    assert compliance.status_code == 200
    assert detail_url in _hrefs(compliance.content.decode())
    preview = client.post("/clusters/local/retention/", {"topics": [odd_topic], "action": "preview"})
    assert preview.status_code == 200
    assert html.escape(odd_topic) in preview.content.decode()

    api = api_as("viewer")
    api_detail = api.get(reverse("api-topic", kwargs={"cluster": "local", "topic": odd_topic}))
    assert api_detail.status_code == 200
    assert api_detail.json()["name"] == odd_topic
    assert api_detail.json()["retention_policy"] == "odd-policy"
    api_list = api.get("/api/clusters/local/topics/", {"search": tag})
    assert [row["name"] for row in api_list.json()["results"]] == [odd_topic]
    api_compliance = api.get("/api/clusters/local/retention/compliance/", {"search": tag})
    assert [row["topic"] for row in api_compliance.json()["results"]] == [odd_topic]
