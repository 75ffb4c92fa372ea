"""Avro values are decoded within bounds (issue 14, points 5 and 6).

A value nested deeper than MAX_DEPTH (a linked list `Node{v, next: [null, Node]}` of 500 nodes
takes 1 KB) is shown as "too deeply nested" with its size on every read path — page, API,
search, event detail, live tail — and never ends a request or a tail; one of 100,000 levels
never ends the process (fastavro's C reader would). A value that expands (an array of a
5,000-character enum symbol takes one byte per item) is cut with a "cut at N" marker at a
budget proportional to its size. The bounded reader gives what fastavro gave for everything else.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import io
import json
import math
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastavro
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from django.test import Client
from rest_framework.test import APIClient

from streams.events.decoding import decode
from streams.events.registry import Registry, registry_for
from streams.tail.hub import TailHub
from tests.conftest import independent_client_config
from tests.streams.registry_server import RegistryServer
from tests.streams.test_tail_hub import Collector, create_topic, make_viewer, poll_until

NODE = {
    "type": "record",
    "name": "Node",
    "namespace": "t",
    "fields": [{"name": "v", "type": "int"}, {"name": "next", "type": ["null", "Node"]}],
}
LONG_SYMBOL = "S" * 5000
BOMB = {
    "type": "record",
    "name": "Bomb",
    "fields": [
        {"name": "items", "type": {"type": "array", "items": {"type": "enum", "name": "E", "symbols": [LONG_SYMBOL]}}}
    ],
}


def varint(n: int) -> bytes:
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def nested(levels: int) -> bytes:
    """A Node list `levels` deep: each node is v (1 byte) and the union's branch (1 byte)."""
    return b"\x00\x02" * (levels - 1) + b"\x00\x00"


def bomb(items: int) -> bytes:
    """An array of `items` copies of the 5,000-character symbol: one byte each."""
    return varint(items) + b"\x00" * items + b"\x00"


def wire(schema_id: int, payload: bytes) -> bytes:
    return b"\x00" + schema_id.to_bytes(4, "big") + payload


@pytest.fixture
def registry(clusters_file: Callable[[str], Path], schema_registry: RegistryServer) -> Registry:
    clusters_file(
        "clusters:\n  - name: local\n    bootstrap_servers: '{LOCAL}'\n"
        f"    schema_registry_url: {schema_registry.url}\n"
    )
    found = registry_for("local")
    assert found is not None
    return found


# --- decoding ------------------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [500, 129])
def test_a_value_nested_too_deeply_is_shown_as_such_with_its_size(
    registry: Registry, schema_registry: RegistryServer, levels: int
) -> None:
    schema_id = schema_registry.register("deep-value", NODE)
    data = wire(schema_id, nested(levels))
    decoded = decode(data, registry=registry)
    assert decoded.encoding == "withheld" and decoded.schema_id == schema_id
    assert decoded.text == f"too deeply nested to show ({len(data):,} bytes)"
    assert decoded.error is not None and "more than 128 levels" in decoded.error
    shallow = decode(wire(schema_id, nested(128)), registry=registry)
    assert shallow.encoding == "avro" and shallow.error is None
    depth, node = 0, shallow.json
    while node is not None:
        depth, node = depth + 1, node["next"]
    assert depth == 128


def test_a_value_nested_100000_levels_does_not_end_the_process(
    registry: Registry, schema_registry: RegistryServer
) -> None:
    # fastavro's compiled reader recurses in C: 5,000 levels are a segmentation fault.
    schema_id = schema_registry.register("deeper-value", NODE)
    started = time.monotonic()
    decoded = decode(wire(schema_id, nested(100_000)), registry=registry)
    assert decoded.encoding == "withheld" and "too deeply nested" in (decoded.text or "")
    assert time.monotonic() - started < 1


def test_an_expansion_bomb_is_cut_at_a_budget_with_a_marker(
    registry: Registry, schema_registry: RegistryServer
) -> None:
    schema_id = schema_registry.register("bomb-value", BOMB)
    data = wire(schema_id, bomb(40_000))  # 40 KB that would be 200 MB of symbols
    started = time.monotonic()
    decoded = decode(data, registry=registry)
    took = time.monotonic() - started
    assert decoded.encoding == "avro" and decoded.schema_id == schema_id
    assert took < 0.5, took
    text = decoded.text or ""
    # 16 characters per byte of payload: 640,000 for 40 KB.
    assert 600_000 < len(text) < 700_000
    items = decoded.json["items"]
    assert items[:3] == [LONG_SYMBOL] * 3
    assert items[-1] == "…cut at 640,064 characters"
    assert decoded.error is not None and decoded.error.startswith("cut at 640,064 characters: a value of 40,")
    assert json.loads(text) == decoded.json


def test_arrays_past_the_item_budget_are_cut_with_a_marker(registry: Registry, schema_registry: RegistryServer) -> None:
    # A record of 20 null fields and a boolean takes one byte and holds 21 values.
    fields = [{"name": chr(ord("a") + i), "type": "null"} for i in range(20)] + [{"name": "z", "type": "boolean"}]
    schema = {"type": "array", "items": {"type": "record", "name": "W", "fields": fields}}
    schema_id = schema_registry.register("wide-value", schema)
    decoded = decode(wire(schema_id, varint(1000) + b"\x01" * 1000 + b"\x00"), registry=registry)
    items = decoded.json
    # 1,003 bytes may hold 10,000 items (the floor): 454 records of 22 items, and the marker.
    assert len(items) == 455 and items[-1] == "…cut at 10,000 items"
    assert items[0] == {**{f["name"]: None for f in fields}, "z": True}
    assert (decoded.error or "").startswith("cut at 10,000 items: a value of 1,003 bytes")


def test_producing_a_value_nested_too_deeply_is_refused(registry: Registry, schema_registry: RegistryServer) -> None:
    from backbone_admin.kafka.errors import InvalidRequest
    from streams.events.avro import encode_avro

    schema_registry.register("deep-in-value", NODE)
    value: dict[str, Any] = {"v": 1, "next": None}
    for _ in range(200):
        value = {"v": 1, "next": value}
    with pytest.raises(InvalidRequest, match="nested deeper than 128 levels"):
        encode_avro(registry, "deep-in-value", value)


# --- the bounded reader gives what fastavro gave ---------------------------------------------

EVERYTHING = {
    "type": "record",
    "name": "All",
    "namespace": "shop",
    "fields": [
        {"name": "n", "type": "null"},
        {"name": "b", "type": "boolean"},
        {"name": "i", "type": "int"},
        {"name": "l", "type": "long"},
        {"name": "f", "type": "float"},
        {"name": "d", "type": "double"},
        {"name": "nan", "type": "double"},
        {"name": "s", "type": "string"},
        {"name": "by", "type": "bytes"},
        {"name": "fx", "type": {"type": "fixed", "name": "F4", "size": 4}},
        {"name": "e", "type": {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN"]}},
        {"name": "arr", "type": {"type": "array", "items": ["null", "string", "long"]}},
        {"name": "m", "type": {"type": "map", "values": {"type": "array", "items": "F4"}}},
        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "tsu", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "lts", "type": {"type": "long", "logicalType": "local-timestamp-millis"}},
        {"name": "date", "type": {"type": "int", "logicalType": "date"}},
        {"name": "tm", "type": {"type": "int", "logicalType": "time-millis"}},
        {"name": "tmu", "type": {"type": "long", "logicalType": "time-micros"}},
        {"name": "u", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "dec", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}},
        {"name": "dec_long", "type": {"type": "bytes", "logicalType": "decimal", "precision": 30, "scale": 10}},
        {
            "name": "fdec",
            "type": {"type": "fixed", "name": "FD", "size": 8, "logicalType": "decimal", "precision": 12, "scale": 3},
        },
        {"name": "other", "type": {"type": "string", "logicalType": "mine"}},
        {
            "name": "tree",
            "type": [
                "null",
                {"type": "record", "name": "T", "fields": [{"name": "kids", "type": {"type": "array", "items": "T"}}]},
            ],
        },
        {"name": "again", "type": "Color"},
    ],
}
DATUM = {
    "n": None,
    "b": True,
    "i": -123456,
    "l": 2**62,
    "f": 1.5,
    "d": -2.25e300,
    "nan": math.nan,
    "s": 'Zoë ✓ \u0000 "quoted"',
    "by": b"\x00\xff\x10",
    "fx": b"\x01\x02\x03\x04",
    "e": "GREEN",
    "arr": [None, "x", 5, -7],
    "m": {"a": [b"abcd"], "": []},
    "ts": datetime.datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=datetime.UTC),
    "tsu": datetime.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=datetime.UTC),
    "lts": datetime.datetime(2024, 2, 29, 1, 2, 3, 4000),
    "date": datetime.date(1901, 1, 2),
    "tm": datetime.time(23, 59, 58, 999000),
    "tmu": datetime.time(0, 0, 0, 1),
    "u": str(uuid.UUID(int=42)),
    "dec": decimal.Decimal("-1234567.89"),
    "dec_long": decimal.Decimal("12345678901234567890.0123456789"),
    "fdec": decimal.Decimal("123456789.123"),
    "other": "plain",
    "tree": {"kids": [{"kids": []}, {"kids": [{"kids": []}]}]},
    "again": "RED",
}


def _old_jsonable(value: Any) -> Any:
    """How the console turned fastavro's datum into JSON before the bounded reader."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(k): _old_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_old_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, decimal.Decimal):
        as_float = float(value)
        return as_float if math.isfinite(as_float) and decimal.Decimal(repr(as_float)) == value else str(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    return str(value)


def test_the_bounded_reader_gives_what_fastavro_gave(registry: Registry, schema_registry: RegistryServer) -> None:
    schema_id = schema_registry.register("all-value", EVERYTHING)
    parsed = fastavro.parse_schema(EVERYTHING)
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, parsed, DATUM)
    payload = buffer.getvalue()
    expected = _old_jsonable(fastavro.schemaless_reader(io.BytesIO(payload), parsed, None))
    decoded = decode(wire(schema_id, payload), registry=registry)
    assert (decoded.encoding, decoded.error) == ("avro", None)
    assert decoded.json == expected
    assert json.loads(decoded.text or "") == expected
    # Blocks with a negative count carry their size in bytes (as Java writers write them).
    ints = schema_registry.register("blocks-value", {"type": "array", "items": "long"})
    blocked = varint(-2) + varint(2) + varint(3) + varint(-4) + varint(1) + varint(5) + b"\x00"
    assert decode(wire(ints, blocked), registry=registry).json == [3, -4, 5]
    # Corrupt data falls back to base64 with the reason, as before.
    cut = decode(wire(schema_id, payload[:-3]), registry=registry)
    assert cut.encoding == "base64" and "not Avro of schema" in (cut.error or "")
    assert base64.b64decode(cut.text or "") == wire(schema_id, payload[:-3])


# --- every read path -----------------------------------------------------------------------------


@pytest.fixture
def avro_topic(
    registry: Registry, schema_registry: RegistryServer, kafka_admin: AdminClient, kafka_bootstrap: str, topic_name: str
) -> tuple[str, dict[str, bytes]]:
    """One partition: offset 0 a plain node, 1 a 1 KB value 500 levels deep, 2 a bomb, 3 a plain node."""
    create_topic(kafka_admin, topic_name, 1)
    node_id = schema_registry.register(f"{topic_name}-value", NODE)
    bomb_id = schema_registry.register(f"{topic_name}-bomb", BOMB)
    values = {
        "plain": wire(node_id, nested(3)),
        "deep": wire(node_id, nested(500)),
        "bomb": wire(bomb_id, bomb(40_000)),
        "last": wire(node_id, nested(2)),
    }
    producer = Producer(independent_client_config(kafka_bootstrap, **{"linger.ms": 0}))
    for name, data in values.items():
        producer.produce(topic_name, key=name.encode(), value=data, partition=0)
        producer.flush(10)
    # Not deleted afterwards: pooled page readers may still know it (TEST_BROKER.md).
    return topic_name, values


def _check_shown(events: list[dict[str, Any]], values: dict[str, bytes]) -> None:
    by_key = {e["key"]: e for e in events}
    assert set(by_key) == set(values)
    deep = by_key["deep"]
    assert deep["value_encoding"] == "withheld"
    assert deep["value"] == f"too deeply nested to show ({len(values['deep']):,} bytes)"
    assert "too deeply nested" in deep["value_error"]
    shown_bomb = by_key["bomb"]
    assert shown_bomb["value_encoding"] == "avro" and "cut at 640,064 characters" in shown_bomb["value_error"]
    assert json.loads(by_key["last"]["value"]) == {"v": 0, "next": {"v": 0, "next": None}}


@pytest.mark.django_db
def test_the_api_page_and_a_search_show_them(avro_topic: tuple[str, dict[str, bytes]], api_as: Any) -> None:
    topic, values = avro_topic
    client: APIClient = api_as("reader")
    url = f"/api/clusters/local/topics/{topic}/messages/"
    page = client.get(url, {"limit": 10})
    assert page.status_code == 200, page.content[:500]
    _check_shown(page.json()["results"], values)
    found = client.get(url, {"q": "v == 0", "limit": 10})
    assert found.status_code == 200, found.content[:500]
    assert sorted(e["key"] for e in found.json()["results"]) == ["last", "plain"]
    text = client.get(url, {"q": "deeply", "limit": 10})
    assert text.status_code == 200, text.content[:500]


@pytest.mark.django_db
def test_the_html_page_and_the_event_page_show_them(avro_topic: tuple[str, dict[str, bytes]], make_user: Any) -> None:
    topic, values = avro_topic
    client = Client()
    client.force_login(make_user("reader"))
    page = client.get(f"/clusters/local/topics/{topic}/messages/", {"limit": 10})
    assert page.status_code == 200
    assert f"too deeply nested to show ({len(values['deep']):,} bytes)" in page.content.decode()
    detail = client.get(f"/clusters/local/topics/{topic}/messages/event/", {"partition": 0, "offset": 1})
    assert detail.status_code == 200
    body = detail.content.decode()
    assert f"too deeply nested to show ({len(values['deep']):,} bytes)" in body
    assert "more than 128 levels" in body
    bombed = client.get(f"/clusters/local/topics/{topic}/messages/event/", {"partition": 0, "offset": 2})
    assert bombed.status_code == 200 and "cut at 640,064 characters" in bombed.content.decode()


def test_a_tail_shows_them_and_goes_on(avro_topic: tuple[str, dict[str, bytes]], kafka_bootstrap: str) -> None:
    topic, values = avro_topic
    hub = TailHub()
    try:
        reader, admin = make_viewer(masked=True), make_viewer(masked=False)
        tail = hub.join("local", topic, reader)
        hub.join("local", topic, admin)
        collectors = [Collector(reader), Collector(admin)]
        producer = Producer(independent_client_config(kafka_bootstrap, **{"linger.ms": 0}))
        _warm_up(producer, topic, collectors)
        for name, data in values.items():
            producer.produce(topic, key=name.encode(), value=data, partition=0)
        producer.flush(10)

        def shown(c: Collector) -> list[dict[str, Any]]:
            return [e for e in c.events if e["key"] != "warm-up"]

        poll_until(collectors, lambda: all(len(shown(c)) == len(values) for c in collectors))
        for c in collectors:
            _check_shown(shown(c), values)
        hub.leave(tail, reader)
        hub.leave(tail, admin)
    finally:
        assert hub.close_all(10)


def _warm_up(producer: Producer, topic: str, collectors: list[Collector]) -> None:
    """Markers until every viewer got one: the shared consumer then reads past its start."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        producer.produce(topic, key=b"warm-up", value=b"warm-up", partition=0)
        producer.flush(5)
        time.sleep(0.3)
        for c in collectors:
            c.poll()
        if all(c.events for c in collectors):
            for c in collectors:
                c.events.clear()
            return
    raise AssertionError("the tail never delivered the warm-up events")


def test_an_event_that_cannot_be_written_does_not_stop_the_tail(
    kafka_admin: AdminClient, kafka_bootstrap: str, topic_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import streams.events.serialize

    create_topic(kafka_admin, topic_name, 1)
    real = streams.events.serialize.event_json

    def event_json(e: Any, *, max_value: int | None = None) -> dict[str, Any]:
        if e.record.key == b"bad":
            raise RecursionError("maximum recursion depth exceeded")
        return real(e, max_value=max_value)

    monkeypatch.setattr(streams.events.serialize, "event_json", event_json)
    hub = TailHub()
    try:
        viewer = make_viewer(masked=False)
        tail = hub.join("local", topic_name, viewer)
        collector = Collector(viewer)
        producer = Producer(independent_client_config(kafka_bootstrap, **{"linger.ms": 0}))
        _warm_up(producer, topic_name, [collector])
        for key in (b"before", b"bad", b"after"):
            producer.produce(topic_name, key=key, value=b'{"secret": "x"}', partition=0)
            producer.flush(10)
        poll_until([collector], lambda: len([e for e in collector.events if e["key"] != "warm-up"]) == 3)
        before, bad, after = [e for e in collector.events if e["key"] != "warm-up"]
        assert (before["key"], after["key"]) == ("before", "after")
        assert bad["value"] == "could not be shown (18 bytes)" and bad["key"] is None
        assert "RecursionError" in bad["value_error"] and "secret" not in json.dumps(bad)
        assert not tail.stopping
        hub.leave(tail, viewer)
    finally:
        assert hub.close_all(10)


@pytest.mark.django_db
def test_downloads_give_admins_the_bytes_and_never_unmasked_bytes_below_admin(
    avro_topic: tuple[str, dict[str, bytes]],
    make_user: Any,
    clusters_file: Callable[[str], Path],
    schema_registry: RegistryServer,
) -> None:
    topic, values = avro_topic
    url = f"/clusters/local/topics/{topic}/messages/event/download/"
    admin = Client()
    admin.force_login(make_user("admin"))
    deep = admin.get(url, {"partition": 0, "offset": 1, "part": "value"})
    assert deep.status_code == 200 and deep.content == values["deep"]
    clusters_file(
        "clusters:\n  - name: local\n    bootstrap_servers: '{LOCAL}'\n"
        f"    schema_registry_url: {schema_registry.url}\n    masking: {{fields: [secret]}}\n"
    )
    reader = Client()
    reader.force_login(make_user("reader"))
    assert reader.get(url, {"partition": 0, "offset": 1, "part": "value"}).status_code == 403
    cut = reader.get(url, {"partition": 0, "offset": 2, "part": "value"})
    assert cut.status_code == 200 and cut.content != values["bomb"]
    assert json.loads(cut.content)["items"][-1] == "…cut at 640,064 characters"
