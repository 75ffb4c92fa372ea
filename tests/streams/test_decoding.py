"""Decoding keys, values and headers: JSON, text, base64, Avro in the Confluent wire format.

Avro goes through the product's Schema Registry client against the small test registry
(tests/streams/registry_server.py), and at least one round trip goes through the real test
broker: produced by an independent client, read back with the gateway's reader, decoded.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from backbone_admin.embedded import free_port
from backbone_admin.kafka.errors import ClusterUnavailable, InvalidRequest
from backbone_admin.kafka.records import EARLIEST, Record, reader
from streams.events.avro import encode_avro
from streams.events.decoding import decode, decode_text
from streams.events.registry import Registry, registry_for
from streams.events.serialize import decode_record, event_json
from tests.conftest import SECRET_MARKERS, independent_client_config
from tests.streams.registry_server import RegistryServer

ORDER_SCHEMA = {
    "type": "record",
    "name": "Order",
    "namespace": "shop",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "amount", "type": "double"},
        {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "DELAYED", "DONE"]}},
        {"name": "email", "type": ["null", "string"], "default": None},
        {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []},
        {"name": "created", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "blob", "type": "bytes", "default": ""},
    ],
}
ORDER = {
    "id": "o-1",
    "amount": 12.5,
    "status": "DELAYED",
    "email": "a@example.com",
    "tags": ["x"],
    "created": "2024-05-01T10:00:00+00:00",
    "blob": "\x00\xff",
}


def use_registry(clusters_file: Callable[[str], Path], url: str, extra: str = "") -> Registry:
    clusters_file(
        f"clusters:\n  - name: local\n    bootstrap_servers: '{{LOCAL}}'\n    schema_registry_url: {url}\n{extra}"
    )
    registry = registry_for("local")
    assert registry is not None
    return registry


# --- without a registry ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "parsed"),
    [
        (b'{"a": [1, 2.5, null, true]}', {"a": [1, 2.5, None, True]}),
        (b"  [1, 2]", [1, 2]),
        (b'"quoted"', "quoted"),
        (b"-12", -12),
        (b"3.5e2", 350.0),
        (b"true", True),
        (b"null", None),
        ('{"name": "Zoë"}'.encode(), {"name": "Zoë"}),
    ],
)
def test_it_decodes_json_and_keeps_the_original_text(data: bytes, parsed: Any) -> None:
    decoded = decode(data, registry=None)
    assert decoded.encoding == "json"
    assert decoded.json == parsed
    assert decoded.text == data.decode()
    assert decoded.error is None


@pytest.mark.parametrize(
    "data",
    [b"hello world", b"{not json", b"nothing", b"NaN", b"-Infinity", b"12 apples", b"", "naïve café".encode()],
)
def test_text_that_is_not_json_is_text(data: bytes) -> None:
    decoded = decode(data, registry=None)
    assert (decoded.encoding, decoded.text, decoded.json) == ("text", data.decode(), None)


def test_deeply_nested_json_does_not_raise_and_is_shown_as_text() -> None:
    data = b"[" * 100_000 + b"]" * 100_000
    decoded = decode(data, registry=None)
    assert decoded.encoding == "text"


@pytest.mark.parametrize("data", [b"\xff\xfe\x00binary", b"ab\x00cd", b"\x01\x02\x03", b"\x00\x00\x00\x00\x07payload"])
def test_binary_is_base64(data: bytes) -> None:
    decoded = decode(data, registry=None)
    assert decoded.encoding == "base64"
    assert base64.b64decode(decoded.text or "") == data
    assert decoded.error is None  # no registry: nothing claimed to be Avro


def test_null_and_header_values() -> None:
    assert decode(None, registry=None).encoding == "null"
    assert decode(None, registry=None).text is None
    assert decode_text(b'{"a": 1}').encoding == "text"  # header values are text, never parsed
    assert decode_text(b"\xff").encoding == "base64"
    assert decode_text(None).encoding == "null"


def test_event_json_has_the_design_shape_and_cuts_long_values_in_lists() -> None:
    from backbone_admin.clusters import ClusterConfig

    record = Record(
        topic="t",
        partition=2,
        offset=7,
        timestamp=1_700_000_000_000,
        timestamp_type="create",
        key=b"\xff\x00",
        value=json.dumps({"note": "x" * 300}).encode(),
        headers=(("source", b"web"), ("bin", b"\x00\x01"), ("empty", None)),
    )
    event = decode_record(record, registry=None, cluster=ClusterConfig(name="c", bootstrap_servers="b"), masked=True)
    full = event_json(event)
    assert full["partition"] == 2 and full["offset"] == 7 and full["timestamp"] == 1_700_000_000_000
    assert full["timestamp_type"] == "create"
    assert (full["key"], full["key_encoding"]) == (base64.b64encode(b"\xff\x00").decode(), "base64")
    assert full["value_encoding"] == "json" and json.loads(full["value"]) == {"note": "x" * 300}
    assert full["headers"] == [
        {"key": "source", "value": "web", "encoding": "text"},
        {"key": "bin", "value": base64.b64encode(b"\x00\x01").decode(), "encoding": "base64"},
        {"key": "empty", "value": None, "encoding": "null"},
    ]
    assert full["size"] == record.size
    assert (full["truncated"], full["schema_id"], full["masked"]) == (False, None, False)
    cut = event_json(event, max_value=100)
    assert cut["truncated"] is True and cut["value"] == full["value"][:100]


# --- Avro with the test registry -----------------------------------------------------------


def test_it_decodes_avro_in_the_wire_format_and_caches_the_schema(
    clusters_file: Callable[[str], Path], schema_registry: RegistryServer
) -> None:
    schema_id = schema_registry.register("orders-value", ORDER_SCHEMA)
    registry = use_registry(clusters_file, schema_registry.url)

    data = encode_avro(registry, "orders-value", ORDER)
    assert data[0] == 0 and int.from_bytes(data[1:5], "big") == schema_id

    decoded = decode(data, registry=registry)
    assert (decoded.encoding, decoded.schema_id, decoded.error) == ("avro", schema_id, None)
    assert decoded.json == {**ORDER, "created": "2024-05-01T10:00:00+00:00"}
    assert json.loads(decoded.text or "") == decoded.json

    calls = [r for r in schema_registry.requests if r[1] == f"/schemas/ids/{schema_id}"]
    for _ in range(50):
        decode(data, registry=registry)
    assert [r for r in schema_registry.requests if r[1] == f"/schemas/ids/{schema_id}"] == calls
    assert len(calls) <= 1  # encode_avro had the schema from the subject already


def test_an_unknown_schema_id_falls_back_to_base64_with_a_note(
    clusters_file: Callable[[str], Path], schema_registry: RegistryServer
) -> None:
    registry = use_registry(clusters_file, schema_registry.url)
    data = b"\x00" + (42).to_bytes(4, "big") + b"\x02x"
    decoded = decode(data, registry=registry)
    assert decoded.encoding == "base64" and base64.b64decode(decoded.text or "") == data
    assert decoded.error is not None and "schema 42 not found in the schema registry" in decoded.error
    decode(data, registry=registry)
    assert schema_registry.requests.count(("GET", "/schemas/ids/42")) == 1  # not asked again for a while


def test_corrupt_avro_or_trailing_bytes_fall_back_with_a_note(
    clusters_file: Callable[[str], Path], schema_registry: RegistryServer
) -> None:
    schema_id = schema_registry.register(
        "n-value", {"type": "record", "name": "N", "fields": [{"name": "n", "type": "long"}]}
    )
    registry = use_registry(clusters_file, schema_registry.url)
    header = b"\x00" + schema_id.to_bytes(4, "big")
    assert decode(header + b"\x04", registry=registry).json == {"n": 2}
    truncated = decode(header, registry=registry)
    assert truncated.encoding == "base64" and f"not Avro of schema {schema_id}" in (truncated.error or "")
    extra = decode(header + b"\x04\x04\x04", registry=registry)
    assert extra.encoding == "base64" and "2 byte(s) left over" in (extra.error or "")


def test_a_schema_whose_arrays_hold_empty_items_is_not_decoded(
    clusters_file: Callable[[str], Path], schema_registry: RegistryServer
) -> None:
    # Ten bytes could claim 2**60 nulls: decoding would never end and fill the memory.
    empty = {"type": "record", "name": "E", "fields": [{"name": "n", "type": "null"}]}
    schema = {"type": "record", "name": "R", "fields": [{"name": "xs", "type": {"type": "array", "items": empty}}]}
    schema_id = schema_registry.register("e-value", schema)
    ok_id = schema_registry.register("b-value", {"type": "array", "items": "boolean"})
    registry = use_registry(clusters_file, schema_registry.url)
    huge_count = b"\x80\x80\x80\x80\x80\x80\x80\x80\x02"  # zigzag varint of 2**56
    started = time.monotonic()
    decoded = decode(b"\x00" + schema_id.to_bytes(4, "big") + huge_count + b"\x00", registry=registry)
    assert time.monotonic() - started < 1
    assert decoded.encoding == "base64" and "arrays of empty items" in (decoded.error or "")
    lying = decode(b"\x00" + ok_id.to_bytes(4, "big") + huge_count + b"\x00", registry=registry)
    assert lying.encoding == "base64" and "not Avro of schema" in (lying.error or "")


def test_json_schema_values_in_the_wire_format_are_json(
    clusters_file: Callable[[str], Path], schema_registry: RegistryServer
) -> None:
    schema_id = schema_registry.register("j-value", '{"type": "object"}', schema_type="JSON")
    registry = use_registry(clusters_file, schema_registry.url)
    decoded = decode(b"\x00" + schema_id.to_bytes(4, "big") + b'{"a": 1}', registry=registry)
    assert (decoded.encoding, decoded.json, decoded.schema_id) == ("json", {"a": 1}, schema_id)


def test_schema_references_resolve(clusters_file: Callable[[str], Path], schema_registry: RegistryServer) -> None:
    address = {"type": "record", "name": "Address", "namespace": "shop", "fields": [{"name": "city", "type": "string"}]}
    schema_registry.register("shop.Address", address)
    customer = {
        "type": "record",
        "name": "Customer",
        "namespace": "shop",
        "fields": [{"name": "home", "type": "shop.Address"}],
    }
    refs = [{"name": "shop.Address", "subject": "shop.Address", "version": 1}]
    schema_id = schema_registry.register("customers-value", customer, references=refs)
    registry = use_registry(clusters_file, schema_registry.url)
    data = encode_avro(registry, "customers-value", {"home": {"city": "Lyon"}})
    decoded = decode(data, registry=registry)
    assert (decoded.encoding, decoded.json, decoded.schema_id) == ("avro", {"home": {"city": "Lyon"}}, schema_id)


def test_encode_avro_refuses_values_that_do_not_fit_naming_the_field(
    clusters_file: Callable[[str], Path], schema_registry: RegistryServer
) -> None:
    schema_registry.register("orders-value", ORDER_SCHEMA)
    schema_registry.register("j-value", '{"type": "object"}', schema_type="JSON")
    registry = use_registry(clusters_file, schema_registry.url)
    cases = [
        ({**ORDER, "amount": "12"}, "value.amount must be a number"),
        ({**ORDER, "status": "LOST"}, "value.status must be one of NEW, DELAYED, DONE"),
        ({**ORDER, "colour": "red"}, "value.colour is not a field of record shop.Order"),
        ({**ORDER, "email": 5}, "value.email matches none of null or string"),
        ({**ORDER, "created": "yesterday"}, "'yesterday' is not a valid timestamp-millis"),
        ([1], "value must be an object"),
    ]
    for value, message in cases:
        with pytest.raises(InvalidRequest) as caught:
            encode_avro(registry, "orders-value", value)
        assert message in caught.value.message, caught.value.message
        assert caught.value.fields["value"] == caught.value.message
    with pytest.raises(InvalidRequest) as missing:
        encode_avro(registry, "nope-value", ORDER)
    assert "subject `nope-value` has no versions" in missing.value.message and "subject" in missing.value.fields
    with pytest.raises(InvalidRequest, match="holds a JSON schema"):
        encode_avro(registry, "j-value", {})
    # Avro's JSON encoding of a union is accepted too, and the missing defaulted field is written.
    assert (
        decode(encode_avro(registry, "orders-value", {**ORDER, "email": {"string": "b@x"}}), registry=registry).json[
            "email"
        ]
        == "b@x"
    )


def test_register_posts_a_schema_and_refuses_an_invalid_one(
    clusters_file: Callable[[str], Path], schema_registry: RegistryServer
) -> None:
    registry = use_registry(clusters_file, schema_registry.url)
    schema_id = registry.register("new-value", json.dumps({"type": "record", "name": "R", "fields": []}))
    assert registry.latest("new-value").schema.schema_id == schema_id
    with pytest.raises(InvalidRequest, match="refused the schema: Invalid schema"):
        registry.register("new-value", '{"type": "nonsense"}')


def test_basic_auth_is_sent_and_a_refusal_names_the_settings_not_the_password(
    clusters_file: Callable[[str], Path], settings: Any
) -> None:
    secret = SECRET_MARKERS[1]
    server = RegistryServer(username="registry", password=secret).start()
    try:
        good = use_registry(
            clusters_file,
            server.url,
            f"    schema_registry_username: registry\n    schema_registry_password: {secret}\n",
        )
        schema_id = server.register("a-value", {"type": "record", "name": "A", "fields": []})
        assert good.schema(schema_id).schema_id == schema_id
        bad = use_registry(
            clusters_file, server.url, "    schema_registry_username: registry\n    schema_registry_password: wrong\n"
        )
        with pytest.raises(ClusterUnavailable) as caught:
            bad.schema(schema_id)
        message = caught.value.message
        assert "refused the credentials (HTTP 401)" in message and "schema_registry_password" in message
        assert "wrong" not in message and secret not in message and "cluster `local`" in message
        assert secret not in repr(good) and secret not in good.url
    finally:
        server.stop()


def test_credentials_in_the_url_are_used_but_never_shown(clusters_file: Callable[[str], Path]) -> None:
    server = RegistryServer(username="u", password="p@ss").start()
    try:
        host = server.url.removeprefix("http://")
        registry = use_registry(clusters_file, f"http://u:p%40ss@{host}")
        schema_id = server.register("a-value", {"type": "record", "name": "A", "fields": []})
        assert registry.schema(schema_id).schema_id == schema_id
        assert registry.url == server.url and "p%40ss" not in registry.where
    finally:
        server.stop()


def test_a_registry_that_does_not_answer_times_out_and_is_not_asked_again_at_once(
    clusters_file: Callable[[str], Path], settings: Any
) -> None:
    settings.KAFKA_TIMEOUT = 0.5
    server = RegistryServer(delay=3.0).start()
    try:
        registry = use_registry(clusters_file, server.url)
        data = b"\x00\x00\x00\x00\x01\x02"
        started = time.monotonic()
        first = decode(data, registry=registry)
        assert time.monotonic() - started < 2.0
        assert first.encoding == "base64" and "did not answer within 0.5 s" in (first.error or "")
        started = time.monotonic()
        for _ in range(100):
            again = decode(data, registry=registry)
        assert time.monotonic() - started < 0.5
        assert "not asked again" in (again.error or "")
    finally:
        server.stop()


def test_an_unreachable_registry_says_so(clusters_file: Callable[[str], Path]) -> None:
    registry = use_registry(clusters_file, f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ClusterUnavailable) as caught:
        registry.schema(1)
    assert "schema registry of cluster `local` at http://127.0.0.1:" in caught.value.message
    assert "connection refused" in caught.value.message


def test_a_registry_url_that_is_not_http_is_refused_at_start_up(clusters_file: Callable[[str], Path]) -> None:
    from backbone_admin.clusters import ClusterConfigError

    with pytest.raises(ClusterConfigError, match="schema_registry_url must be an http:// or https:// URL"):
        use_registry(clusters_file, "ftp://registry.example")


def test_no_registry_for_a_cluster_without_a_url(clusters_file: Callable[[str], Path]) -> None:
    clusters_file("clusters:\n  - name: local\n    bootstrap_servers: '{LOCAL}'\n")
    assert registry_for("local") is None


# --- through the real broker -----------------------------------------------------------------


def test_round_trip_through_the_broker_json_text_binary_and_avro(
    clusters_file: Callable[[str], Path],
    schema_registry: RegistryServer,
    kafka_admin: AdminClient,
    kafka_bootstrap: str,
    topic_name: str,
) -> None:
    schema_registry.register("orders-value", ORDER_SCHEMA)
    registry = use_registry(clusters_file, schema_registry.url)
    kafka_admin.create_topics([NewTopic(topic_name, num_partitions=1, replication_factor=1)])[topic_name].result(10)
    values = [
        (b"k-json", b'{"status": "DELAYED", "amount": 150}'),
        (b"k-text", b"plain text line"),
        (b"\xff\xfe", b"\x89PNG\r\n\x1a\n\x00\x00"),
        (None, encode_avro(registry, "orders-value", ORDER)),
        (b"k-tomb", None),
    ]
    producer = Producer(independent_client_config(kafka_bootstrap, **{"linger.ms": 0}))
    for key, value in values:
        producer.produce(topic_name, key=key, value=value, headers=[("source", b"web"), ("bin", b"\x00")])
        producer.flush(10)

    records: list[Record] = []
    deadline = time.monotonic() + 20
    with reader("local") as r:
        r.assign(topic_name, {0: EARLIEST})
        while len(records) < len(values) and time.monotonic() < deadline:
            records.extend(r.read(100, 1.0))
    assert [(rec.key, rec.value) for rec in records] == values

    from backbone_admin.clusters import get_cluster

    cluster = get_cluster("local")
    assert cluster is not None
    events = [event_json(decode_record(rec, registry=registry, cluster=cluster, masked=False)) for rec in records]
    assert [(e["key_encoding"], e["value_encoding"]) for e in events] == [
        ("text", "json"),
        ("text", "text"),
        ("base64", "base64"),
        ("null", "avro"),
        ("text", "null"),
    ]
    assert json.loads(events[0]["value"]) == {"status": "DELAYED", "amount": 150}
    assert base64.b64decode(events[2]["value"]) == values[2][1]
    assert json.loads(events[3]["value"])["status"] == "DELAYED" and events[3]["schema_id"] == 1
    assert events[4]["value"] is None
    assert events[0]["headers"][0] == {"key": "source", "value": "web", "encoding": "text"}
    assert events[0]["headers"][1]["encoding"] == "base64"
    assert all(e["offset"] == i and e["partition"] == 0 for i, e in enumerate(events))
