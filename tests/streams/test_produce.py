"""Produce (API and page) on the real broker: every event read back by an independent consumer,
every refused request checked to have produced nothing (the topic's end offsets did not move)."""

from __future__ import annotations

import io
import json
import time
import uuid
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import fastavro
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from django.test import Client

from backbone_admin.kafka.partitioner import murmur2
from backbone_admin.models import AuditEntry
from tests.conftest import independent_client_config

pytestmark = pytest.mark.django_db


def api_path(topic: str, cluster: str = "local") -> str:
    return f"/api/clusters/{cluster}/topics/{topic}/messages/"


def page_path(topic: str, cluster: str = "local") -> str:
    return f"/clusters/{cluster}/topics/{topic}/produce/"


def make_topic(admin: AdminClient, name: str, partitions: int = 3) -> str:
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])[name].result(timeout=10)
    return name


def end_offsets(bootstrap: str, topic: str, partitions: int) -> list[int]:
    consumer = Consumer(independent_client_config(bootstrap, **{"group.id": f"check-{uuid.uuid4().hex[:8]}"}))
    try:
        return [consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)]
    finally:
        consumer.close()


def read_back(bootstrap: str, topic: str, partition: int, offset: int) -> Any:
    """The record at (partition, offset), read by a consumer that shares nothing with the console."""
    consumer = Consumer(
        independent_client_config(
            bootstrap, **{"group.id": f"check-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False}
        )
    )
    try:
        consumer.assign([TopicPartition(topic, partition, offset)])
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            assert message.offset() == offset
            return message
        raise AssertionError(f"nothing at {topic}/{partition}@{offset}")
    finally:
        consumer.close()


def produce_api(api: Any, topic: str, body: dict[str, Any], cluster: str = "local") -> Any:
    return api.post(api_path(topic, cluster), body, format="json")


def headers_of(message: Any) -> list[tuple[str, bytes]]:
    return list(message.headers() or [])


# --- the API --------------------------------------------------------------------------------


def test_it_produces_through_the_api_and_an_independent_consumer_reads_it_back(
    api_as: Any, topic_name: str, kafka_admin: AdminClient, kafka_bootstrap: str
) -> None:
    make_topic(kafka_admin, topic_name, 3)
    value = '{\n  "order": 42,\n  "status": "PAID"\n}'
    response = produce_api(
        api_as("operator"),
        topic_name,
        {
            "key": "order-42",
            "value": value,
            "value_format": "json",
            "headers": [
                {"key": "source", "value": "web"},
                {"key": "trace", "value": "t-1"},
                {"key": "source", "value": ""},
            ],
            "partition": 2,
        },
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == {"partition", "offset", "timestamp"}
    assert body["partition"] == 2
    assert body["offset"] == 0
    assert abs(body["timestamp"] - time.time() * 1000) < 60_000
    message = read_back(kafka_bootstrap, topic_name, 2, body["offset"])
    assert message.key() == b"order-42"
    assert message.value() == value.encode()  # the text as written, not re-serialised
    assert headers_of(message) == [("source", b"web"), ("trace", b"t-1"), ("source", b"")]
    assert message.timestamp()[1] == body["timestamp"]
    entry = AuditEntry.objects.get(action="topic.produce", target=topic_name)
    assert entry.result == "ok"
    assert entry.cluster == "local"
    assert entry.after == {"topic": topic_name, "partition": 2, "offset": 0, "timestamp": body["timestamp"]}
    assert entry.before["headers"] == ["source", "trace", "source"]
    assert "PAID" not in json.dumps(entry.before)  # the audit keeps the shape, never the contents


def test_by_key_it_lands_where_the_default_partitioner_puts_the_key(
    api_as: Any, topic_name: str, kafka_admin: AdminClient, kafka_bootstrap: str
) -> None:
    make_topic(kafka_admin, topic_name, 6)
    api = api_as("operator")
    for key in ("order-1", "order-2", "customer-77", "x"):
        response = produce_api(api, topic_name, {"key": key, "value": "v"})
        assert response.status_code == 201, response.json()
        expected = zlib.crc32(key.encode()) % 6  # librdkafka's consistent_random
        assert response.json()["partition"] == expected, key
        assert read_back(kafka_bootstrap, topic_name, expected, response.json()["offset"]).key() == key.encode()


def test_by_key_it_follows_the_partitioner_the_cluster_names(
    api_as: Any,
    topic_name: str,
    kafka_admin: AdminClient,
    kafka_bootstrap: str,
    clusters_file: Callable[[str], Path],
) -> None:
    clusters_file("clusters:\n  - name: local\n    bootstrap_servers: '{LOCAL}'\n    partitioner: murmur2\n")
    make_topic(kafka_admin, topic_name, 6)
    api = api_as("operator")
    landed = set()
    for key in ("order-1", "order-2", "customer-77", "x"):
        response = produce_api(api, topic_name, {"key": key, "value": "v"})
        assert response.status_code == 201, response.json()
        expected = (murmur2(key.encode()) & 0x7FFFFFFF) % 6  # the Java client's default
        assert response.json()["partition"] == expected, key
        assert read_back(kafka_bootstrap, topic_name, expected, response.json()["offset"]).key() == key.encode()
        landed.add(expected != zlib.crc32(key.encode()) % 6)
    assert True in landed  # at least one key where the two partitioners disagree


def test_a_tombstone_without_a_key_and_text_kept_byte_for_byte(
    api_as: Any, topic_name: str, kafka_admin: AdminClient, kafka_bootstrap: str
) -> None:
    make_topic(kafka_admin, topic_name, 1)
    api = api_as("operator")
    tombstone = produce_api(api, topic_name, {"key": "gone", "value": None})
    assert tombstone.status_code == 201, tombstone.json()
    message = read_back(kafka_bootstrap, topic_name, 0, tombstone.json()["offset"])
    assert (message.key(), message.value()) == (b"gone", None)
    text = "  not json: {  ünïcödé 🚢\n"
    keyless = produce_api(api, topic_name, {"value": text})
    assert keyless.status_code == 201, keyless.json()
    message = read_back(kafka_bootstrap, topic_name, 0, keyless.json()["offset"])
    assert message.key() is None
    assert message.value() == text.encode()


BAD_BODIES: list[tuple[str, dict[str, Any], str, str]] = [
    ("invalid-json", {"value": '{\n  "a": 1,\n  "b": }', "value_format": "json"}, "value", "line 3, column 8"),
    ("json-trailing", {"value": '{"a": 1} x', "value_format": "json"}, "value", "line 1, column 10"),
    ("no-such-partition", {"value": "v", "partition": 3}, "partition", "partitions 0 to 2"),
    ("negative-partition", {"value": "v", "partition": -1}, "partition", "from 0"),
    ("partition-not-a-number", {"value": "v", "partition": "two"}, "partition", "integer"),
    ("value-over-the-cap", {"value": "x" * 2001}, "value", "at most 2,000 bytes"),
    ("key-over-the-cap", {"key": "k" * 2001, "value": "v"}, "key", "at most 2,000 bytes"),
    ("header-without-name", {"value": "v", "headers": [{"key": "", "value": "x"}]}, "headers", "blank"),
    ("headers-not-a-list", {"value": "v", "headers": {"a": "b"}}, "headers", "list"),
    (
        "too-many-headers",
        {"value": "v", "headers": [{"key": f"h{i}", "value": ""} for i in range(101)]},
        "headers",
        "100",
    ),
    ("unknown-format", {"value": "v", "value_format": "xml"}, "value_format", "valid choice"),
    ("avro-without-subject", {"value": "{}", "value_format": "avro"}, "subject", "subject"),
    ("no-value-given", {"key": "k"}, "value", "required"),
    ("deeply-nested-json", {"value": "[" * 100_000 + "]" * 100_000, "value_format": "json"}, "value", "JSON"),
]


@pytest.mark.parametrize(("body", "field", "says"), [b[1:] for b in BAD_BODIES], ids=[b[0] for b in BAD_BODIES])
def test_each_bad_input_is_a_400_naming_the_field_and_produces_nothing(
    body: dict[str, Any],
    field: str,
    says: str,
    api_as: Any,
    topic_name: str,
    kafka_admin: AdminClient,
    kafka_bootstrap: str,
    settings: Any,
) -> None:
    settings.PRODUCE_MAX_BYTES = 2000
    if body.get("value", "").startswith("[["):
        settings.PRODUCE_MAX_BYTES = 1024 * 1024
    make_topic(kafka_admin, topic_name, 3)
    api = api_as("operator")
    assert produce_api(api, topic_name, {"key": "first", "value": "first", "partition": 1}).status_code == 201
    before = end_offsets(kafka_bootstrap, topic_name, 3)
    response = produce_api(api, topic_name, body)
    assert response.status_code == 400, response.json()
    payload = response.json()
    assert field in payload["fields"], payload
    assert says in json.dumps(payload), payload
    assert end_offsets(kafka_bootstrap, topic_name, 3) == before == [0, 1, 0]
    assert AuditEntry.objects.filter(action="topic.produce", target=topic_name).count() == 1


def test_an_unknown_topic_is_a_404_and_is_not_created(api_as: Any, topic_name: str, kafka_admin: AdminClient) -> None:
    response = produce_api(api_as("operator"), topic_name, {"key": "k", "value": "v"})
    assert response.status_code == 404, response.json()
    assert topic_name in response.json()["error"]
    time.sleep(0.5)
    assert topic_name not in kafka_admin.list_topics(timeout=5).topics
    assert not AuditEntry.objects.filter(action="topic.produce", target=topic_name).exists()


@pytest.mark.parametrize("role", ["viewer", "reader"])
def test_viewers_and_readers_may_not_produce(
    role: str, api_as: Any, client_as: Any, topic_name: str, kafka_admin: AdminClient, kafka_bootstrap: str
) -> None:
    make_topic(kafka_admin, topic_name, 1)
    response = produce_api(api_as(role), topic_name, {"value": "v"})
    assert response.status_code == 403, response.json()
    assert "operator" in response.json()["error"]
    page = client_as(role)
    assert page.get(page_path(topic_name)).status_code == 403
    assert page.post(page_path(topic_name), {"value": "v"}).status_code == 403
    assert end_offsets(kafka_bootstrap, topic_name, 1) == [0]


def test_a_role_granted_on_the_cluster_is_enough(api_as: Any, topic_name: str, kafka_admin: AdminClient) -> None:
    make_topic(kafka_admin, topic_name, 1)
    assert produce_api(api_as("operator", cluster="local"), topic_name, {"value": "v"}).status_code == 201
    assert produce_api(api_as("operator", cluster="elsewhere"), topic_name, {"value": "v"}).status_code == 404


def test_a_read_only_cluster_refuses_whatever_the_role(
    api_as: Any,
    client_as: Any,
    topic_name: str,
    kafka_admin: AdminClient,
    kafka_bootstrap: str,
    clusters_file: Callable[[str], Path],
) -> None:
    clusters_file(
        "clusters:\n  - name: local\n    bootstrap_servers: '{LOCAL}'\n"
        "  - name: ro\n    bootstrap_servers: '{LOCAL}'\n    read_only: true\n"
    )
    make_topic(kafka_admin, topic_name, 1)
    response = produce_api(api_as("admin"), topic_name, {"value": "v"}, cluster="ro")
    assert response.status_code == 403
    assert "read-only" in response.json()["error"]
    page = client_as("admin")
    assert page.get(page_path(topic_name, "ro")).status_code == 403
    assert page.post(page_path(topic_name, "ro"), {"value": "v"}).status_code == 403
    detail = page.get(f"/clusters/ro/topics/{topic_name}/").content.decode()
    assert "/produce/" not in detail
    assert end_offsets(kafka_bootstrap, topic_name, 1) == [0]


def test_a_down_cluster_is_a_503_within_the_timeout(api_as: Any, down_cluster: str) -> None:
    started = time.monotonic()
    response = produce_api(api_as("operator"), "orders", {"value": "v"}, cluster="down")
    assert response.status_code == 503, response.json()
    assert "down" in response.json()["error"]
    assert time.monotonic() - started < 1.5 + 1


# --- Avro with the cluster's Schema Registry -------------------------------------------------

ORDER_SCHEMA = {
    "type": "record",
    "name": "Order",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "amount", "type": "double"},
        {"name": "note", "type": ["null", "string"], "default": None},
    ],
}
ORDER_V2 = {
    **ORDER_SCHEMA,
    "fields": [*ORDER_SCHEMA["fields"], {"name": "channel", "type": "string", "default": "web"}],
}


def with_registry(clusters_file: Callable[[str], Path], url: str) -> None:
    clusters_file(f"clusters:\n  - name: local\n    bootstrap_servers: '{{LOCAL}}'\n    schema_registry_url: {url}\n")


def avro_of(message: Any, schema: dict[str, Any]) -> tuple[int, Any]:
    """(schema id, datum) of a Confluent wire-format value, read with fastavro directly."""
    data = message.value()
    assert data[0] == 0  # the magic byte
    parsed = fastavro.parse_schema(schema)
    return int.from_bytes(data[1:5], "big"), fastavro.schemaless_reader(io.BytesIO(data[5:]), parsed)


def test_it_encodes_avro_with_the_subjects_latest_schema(
    api_as: Any,
    topic_name: str,
    kafka_admin: AdminClient,
    kafka_bootstrap: str,
    clusters_file: Callable[[str], Path],
    schema_registry: Any,
) -> None:
    first_id = schema_registry.register("orders-value", ORDER_SCHEMA)
    with_registry(clusters_file, schema_registry.url)
    make_topic(kafka_admin, topic_name, 1)
    api = api_as("operator")
    body = {"key": "o-1", "value": '{"id": "o-1", "amount": 12.5}', "value_format": "avro", "subject": "orders-value"}
    response = produce_api(api, topic_name, body)
    assert response.status_code == 201, response.json()
    message = read_back(kafka_bootstrap, topic_name, 0, response.json()["offset"])
    assert avro_of(message, ORDER_SCHEMA) == (first_id, {"id": "o-1", "amount": 12.5, "note": None})
    entry = AuditEntry.objects.get(action="topic.produce", target=topic_name)
    assert (entry.before["subject"], entry.before["schema_id"]) == ("orders-value", first_id)
    # A newer version of the subject is used as soon as it is registered.
    second_id = schema_registry.register("orders-value", ORDER_V2)
    again = produce_api(api, topic_name, {**body, "value": '{"id": "o-2", "amount": 1, "note": "gift"}'})
    assert again.status_code == 201, again.json()
    message = read_back(kafka_bootstrap, topic_name, 0, again.json()["offset"])
    assert avro_of(message, ORDER_V2) == (second_id, {"id": "o-2", "amount": 1.0, "note": "gift", "channel": "web"})


AVRO_BAD: list[tuple[str, dict[str, Any], str, str]] = [
    ("missing-field", {"value": '{"amount": 1}', "subject": "orders-value"}, "value", "id"),
    ("wrong-type", {"value": '{"id": "o", "amount": "lots"}', "subject": "orders-value"}, "value", "amount"),
    ("unknown-subject", {"value": '{"id": "o", "amount": 1}', "subject": "nobody-value"}, "subject", "nobody-value"),
    ("not-json", {"value": "{id: o}", "subject": "orders-value"}, "value", "line 1, column 2"),
    ("tombstone", {"value": None, "subject": "orders-value"}, "value", "tombstone"),
]


@pytest.mark.parametrize(("body", "field", "says"), [b[1:] for b in AVRO_BAD], ids=[b[0] for b in AVRO_BAD])
def test_avro_that_does_not_fit_is_a_400_and_produces_nothing(
    body: dict[str, Any],
    field: str,
    says: str,
    api_as: Any,
    topic_name: str,
    kafka_admin: AdminClient,
    kafka_bootstrap: str,
    clusters_file: Callable[[str], Path],
    schema_registry: Any,
) -> None:
    schema_registry.register("orders-value", ORDER_SCHEMA)
    with_registry(clusters_file, schema_registry.url)
    make_topic(kafka_admin, topic_name, 1)
    response = produce_api(api_as("operator"), topic_name, {"value_format": "avro", **body})
    assert response.status_code == 400, response.json()
    assert field in response.json()["fields"], response.json()
    assert says in response.json()["fields"][field]
    assert end_offsets(kafka_bootstrap, topic_name, 1) == [0]


def test_avro_on_a_cluster_without_a_registry_is_a_400(
    api_as: Any, topic_name: str, kafka_admin: AdminClient, kafka_bootstrap: str
) -> None:
    make_topic(kafka_admin, topic_name, 1)
    body = {"value": '{"id": "o"}', "value_format": "avro", "subject": "orders-value"}
    response = produce_api(api_as("operator"), topic_name, body)
    assert response.status_code == 400
    assert "has no schema registry" in response.json()["fields"]["value_format"]
    assert end_offsets(kafka_bootstrap, topic_name, 1) == [0]


def test_the_page_previews_avro_decoded_with_its_schema_then_sends_it(
    client_as: Any,
    topic_name: str,
    kafka_admin: AdminClient,
    kafka_bootstrap: str,
    clusters_file: Callable[[str], Path],
    schema_registry: Any,
) -> None:
    schema_id = schema_registry.register(f"{topic_name}-value", ORDER_SCHEMA)
    with_registry(clusters_file, schema_registry.url)
    make_topic(kafka_admin, topic_name, 1)
    client = client_as("operator")
    form = {"value": '{"id": "o-9", "amount": 3}', "value_format": "avro", "subject": f"{topic_name}-value"}
    preview = client.post(page_path(topic_name), {**form, "preview": "1"}, HTTP_HX_REQUEST="true").content.decode()
    assert f"schema id {schema_id}" in preview
    assert "&quot;note&quot;: null" in preview  # decoded back: the schema's default is there
    assert end_offsets(kafka_bootstrap, topic_name, 1) == [0]
    sent = client.post(page_path(topic_name), form)
    assert sent.status_code == 200
    assert 'data-partition="0" data-offset="0"' in sent.content.decode()
    assert avro_of(read_back(kafka_bootstrap, topic_name, 0, 0), ORDER_SCHEMA) == (
        schema_id,
        {"id": "o-9", "amount": 3.0, "note": None},
    )


# --- the page -------------------------------------------------------------------------------


def test_the_topic_page_offers_produce_to_operators_only(
    client_as: Any, topic_name: str, kafka_admin: AdminClient
) -> None:
    make_topic(kafka_admin, topic_name, 1)
    link = f'href="{page_path(topic_name)}"'
    assert link in client_as("operator").get(f"/clusters/local/topics/{topic_name}/").content.decode()
    assert link not in client_as("reader").get(f"/clusters/local/topics/{topic_name}/").content.decode()


def test_the_page_is_prefilled_from_a_produce_a_copy_link(
    client_as: Any, topic_name: str, kafka_admin: AdminClient
) -> None:
    make_topic(kafka_admin, topic_name, 3)
    query = urlencode(
        {
            "key": "order-7",
            "value": '{"id": 7, "note": "<b>&"}',
            "headers": json.dumps([{"key": "source", "value": "web"}, {"key": "trace-id", "value": "abc"}]),
            "partition": "2",
        }
    )
    response = client_as("operator").get(f"{page_path(topic_name)}?{query}")
    assert response.status_code == 200
    form = response.context["form"]
    assert form["key"].value() == "order-7"
    assert form["value"].value() == '{"id": 7, "note": "<b>&"}'
    assert form["partition"].value() == 2
    assert form["value_format"].value() == "json"  # the copied value is JSON: checked as such
    assert response.context["headers"] == [("source", "web"), ("trace-id", "abc")]
    html = response.content.decode()
    assert 'value="trace-id"' in html
    assert "&lt;b&gt;&amp;" in html and "<b>&" not in html  # escaped, never markup
    avro = client_as("operator").get(f"{page_path(topic_name)}?value=%7B%7D&value_format=avro&subject=orders-value")
    assert avro.context["form"]["value_format"].value() == "avro"
    assert avro.context["form"]["subject"].value() == "orders-value"
    broken = client_as("operator").get(f"{page_path(topic_name)}?headers=not-json&partition=x")
    assert broken.status_code == 200
    assert "headers are not a JSON list" in broken.content.decode()
    assert "is not a number" in broken.content.decode()


def test_the_preview_shows_what_will_be_sent_and_sends_nothing(
    client_as: Any, topic_name: str, kafka_admin: AdminClient, kafka_bootstrap: str
) -> None:
    make_topic(kafka_admin, topic_name, 4)
    client = client_as("operator")
    form = {
        "key": "order-9",
        "value": '{"id":9,"items":[1,2]}',
        "value_format": "json",
        "partition": "",
        "header_key": ["source", ""],
        "header_value": ["web", ""],
        "preview": "1",
    }
    response = client.post(page_path(topic_name), form, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    expected = zlib.crc32(b"order-9") % 4
    assert f"by key → partition {expected}" in html
    assert "CRC-32" in html
    assert 'source</span> = <span class="mono">web' in html
    assert "&quot;items&quot;: [\n    1," in html  # the decoded value, pretty-printed (and escaped)
    assert "<form" not in html  # only the preview fragment
    assert "7 B" in html  # the key's size
    without_js = client.post(page_path(topic_name), form)  # a plain form post: the whole page with its preview
    assert without_js.status_code == 200
    assert "<form" in without_js.content.decode() and "What will be sent" in without_js.content.decode()
    assert end_offsets(kafka_bootstrap, topic_name, 4) == [0, 0, 0, 0]
    bad = client.post(page_path(topic_name), {**form, "value": '{"id": 9,,}'}, HTTP_HX_REQUEST="true")
    assert bad.status_code == 200  # htmx swaps 2xx only: the fragment carries the error
    assert "Nothing would be sent" in bad.content.decode()
    assert "line 1, column 10" in bad.content.decode()
    assert end_offsets(kafka_bootstrap, topic_name, 4) == [0, 0, 0, 0]
    assert not AuditEntry.objects.filter(action="topic.produce", target=topic_name).exists()


def test_the_page_sends_and_shows_where_it_was_written(
    client_as: Any, topic_name: str, kafka_admin: AdminClient, kafka_bootstrap: str
) -> None:
    make_topic(kafka_admin, topic_name, 3)
    client: Client = client_as("operator")
    response = client.post(
        page_path(topic_name),
        {
            "key": "",
            "value": "hello",
            "value_format": "text",
            "partition": "1",
            "header_key": ["a", "b", ""],
            "header_value": ["1", "2", ""],
        },
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-partition="1" data-offset="0"' in html
    message = read_back(kafka_bootstrap, topic_name, 1, 0)
    assert (message.key(), message.value(), headers_of(message)) == (None, b"hello", [("a", b"1"), ("b", b"2")])
    entry = AuditEntry.objects.get(action="topic.produce", target=topic_name)
    assert (entry.after["partition"], entry.after["offset"]) == (1, 0)


def test_the_page_refuses_bad_json_with_the_line_and_column_and_sends_nothing(
    client_as: Any, topic_name: str, kafka_admin: AdminClient, kafka_bootstrap: str
) -> None:
    make_topic(kafka_admin, topic_name, 1)
    client = client_as("operator")
    response = client.post(page_path(topic_name), {"value": '{\n"a": tru\n}', "value_format": "json"})
    assert response.status_code == 400
    assert "line 2, column 6" in response.content.decode()
    orphan = client.post(page_path(topic_name), {"value": "v", "header_key": [""], "header_value": ["lost"]})
    assert orphan.status_code == 400
    assert "header 1 has a value but no name" in orphan.content.decode()
    gone = client.post(page_path(topic_name), {"value": "v", "partition": "5"})
    assert gone.status_code == 400
    assert "no partition 5" in gone.content.decode()
    assert end_offsets(kafka_bootstrap, topic_name, 1) == [0]


def test_the_page_of_an_unknown_topic_is_a_404_and_creates_nothing(
    client_as: Any, topic_name: str, kafka_admin: AdminClient
) -> None:
    client = client_as("operator")
    assert client.get(page_path(topic_name)).status_code == 404
    assert client.post(page_path(topic_name), {"value": "v"}).status_code == 404
    assert topic_name not in kafka_admin.list_topics(timeout=5).topics
