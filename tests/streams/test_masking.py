"""Masking from the clusters file: JSON field paths and RE2 patterns, in keys, values and headers."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from backbone_admin.clusters import ClusterConfig, get_cluster
from backbone_admin.kafka.records import Record
from streams.events.avro import encode_avro
from streams.events.decoding import decode
from streams.events.filters import parse_filter
from streams.events.masking import WITHHELD, mask
from streams.events.registry import registry_for
from streams.events.serialize import decode_record, event_json
from tests.streams.registry_server import RegistryServer

CARD = r"\b\d{4}-\d{4}-\d{4}-\d{4}\b"
MASKING = (
    "    masking:\n"
    "      fields: [customer.email, 'items.*.card', '*.ssn', phones.0, secret]\n"
    f"      patterns: ['{CARD}', 'tok_[A-Za-z0-9]+']\n"
)
ORDER = {
    "id": "o-1",
    "customer": {"name": "Alice", "email": "alice@example.com", "ssn": "123-45-6789"},
    "billing": {"ssn": "987-65-4321", "zip": "69001"},
    "items": [{"sku": "X1", "card": "4111"}, {"sku": "Y2", "card": {"last4": "1111"}}, {"sku": "Z3"}],
    "phones": ["+33 6 00 00 00 01", "+33 6 00 00 00 02"],
    "secret": None,
    "note": "paid with 4111-1111-1111-1111 via tok_AbC123",
}


@pytest.fixture
def cluster(clusters_file: Callable[[str], Path]) -> ClusterConfig:
    clusters_file("clusters:\n  - name: local\n    bootstrap_servers: '{LOCAL}'\n" + MASKING)
    config = get_cluster("local")
    assert config is not None and config.mask_fields and config.mask_patterns
    return config


def record(value: Any, key: bytes | None = b"k-1", headers: tuple[tuple[str, bytes | None], ...] = ()) -> Record:
    raw = value if isinstance(value, bytes) or value is None else json.dumps(value).encode()
    return Record("t", 0, 5, 1_700_000_000_000, "create", key, raw, headers)


def test_json_field_paths_and_patterns_are_masked_for_readers(cluster: ClusterConfig) -> None:
    original = copy.deepcopy(ORDER)
    decoded = mask(decode(json.dumps(ORDER).encode(), registry=None), cluster)
    assert decoded.masked is True and decoded.encoding == "json"
    assert decoded.json == {
        "id": "o-1",
        "customer": {"name": "Alice", "email": "***", "ssn": "***"},
        "billing": {"ssn": "***", "zip": "69001"},
        "items": [{"sku": "X1", "card": "***"}, {"sku": "Y2", "card": "***"}, {"sku": "Z3"}],
        "phones": ["***", "+33 6 00 00 00 02"],
        "secret": "***",
        "note": "paid with *** via ***",
    }
    assert json.loads(decoded.text or "") == decoded.json
    assert "alice@example.com" not in (decoded.text or "") and "4111-1111" not in (decoded.text or "")
    assert original == ORDER  # the decoded data is copied, never changed in place


def test_text_values_keys_and_headers_are_masked_by_pattern(cluster: ClusterConfig) -> None:
    event = decode_record(
        record(
            b"card 4111-1111-1111-1111 declined",
            key=b"tok_Secret9",
            headers=(("auth", b"Bearer tok_XYZ"), ("source", b"web"), ("bin", b"\x00tok_A"), ("none", None)),
        ),
        registry=None,
        cluster=cluster,
        masked=True,
    )
    shown = event_json(event)
    assert shown["value"] == "card *** declined" and shown["value_encoding"] == "text"
    assert shown["key"] == "***"
    assert shown["headers"] == [
        {"key": "auth", "value": "Bearer ***", "encoding": "text"},
        {"key": "source", "value": "web", "encoding": "text"},
        # Binary: masking cannot read it (its base64 would show `tok_A`), so it is withheld.
        {"key": "bin", "value": WITHHELD, "encoding": "withheld"},
        {"key": "none", "value": None, "encoding": "null"},
    ]
    assert shown["masked"] is True


def test_admins_see_unmasked_events(cluster: ClusterConfig) -> None:
    raw = record(ORDER, key=b"tok_Secret9", headers=(("auth", b"Bearer tok_XYZ"),))
    shown = event_json(decode_record(raw, registry=None, cluster=cluster, masked=False))
    assert shown["masked"] is False
    assert json.loads(shown["value"]) == ORDER and shown["key"] == "tok_Secret9"
    assert shown["headers"][0]["value"] == "Bearer tok_XYZ"


def test_events_with_nothing_to_mask_are_not_flagged(cluster: ClusterConfig) -> None:
    shown = event_json(decode_record(record({"id": "o-2", "items": []}), registry=None, cluster=cluster, masked=True))
    assert shown["masked"] is False and json.loads(shown["value"]) == {"id": "o-2", "items": []}
    plain = ClusterConfig(name="plain", bootstrap_servers="b")
    unruled = event_json(decode_record(record(ORDER), registry=None, cluster=plain, masked=True))
    assert unruled["masked"] is False and json.loads(unruled["value"]) == ORDER


def test_filters_see_only_what_a_masked_reader_sees(cluster: ClusterConfig) -> None:
    raw = record(ORDER, key=b"tok_Secret9", headers=(("auth", b"Bearer tok_XYZ"),))
    masked = decode_record(raw, registry=None, cluster=cluster, masked=True)
    admin = decode_record(raw, registry=None, cluster=cluster, masked=False)
    probes = [
        '"alice@example.com"',
        'customer.email == "alice@example.com"',
        'customer.email contains "alice"',
        "customer.email ~ /^a/",
        "tok_Secret9",
        'key == "tok_Secret9"',
        'headers.auth contains "XYZ"',
        '"4111-1111"',
        'items[*].card == "4111"',
    ]
    for probe in probes:
        f = parse_filter(probe)
        assert f.matches(admin), probe
        assert not f.matches(masked), probe
    assert parse_filter('customer.email == "***"').matches(masked)
    assert parse_filter('"paid with"').matches(masked) and parse_filter('customer.name == "Alice"').matches(masked)
    # Text is looked for in what the reader sees, and only there.
    assert parse_filter('"paid with *** via"').matches(masked)


def test_avro_values_are_masked_on_their_data(
    clusters_file: Callable[[str], Path], schema_registry: RegistryServer
) -> None:
    clusters_file(
        f"clusters:\n  - name: local\n    bootstrap_servers: '{{LOCAL}}'\n"
        f"    schema_registry_url: {schema_registry.url}\n" + MASKING
    )
    cluster = get_cluster("local")
    registry = registry_for("local")
    assert cluster is not None and registry is not None
    schema = {
        "type": "record",
        "name": "Customer",
        "fields": [
            {
                "name": "customer",
                "type": {"type": "record", "name": "C", "fields": [{"name": "email", "type": "string"}]},
            },
            {"name": "note", "type": "string"},
        ],
    }
    schema_id = schema_registry.register("c-value", schema)
    data = encode_avro(registry, "c-value", {"customer": {"email": "bob@example.com"}, "note": "tok_1 paid"})
    shown = event_json(decode_record(record(data), registry=registry, cluster=cluster, masked=True))
    assert shown["value_encoding"] == "avro" and shown["schema_id"] == schema_id and shown["masked"] is True
    assert json.loads(shown["value"]) == {"customer": {"email": "***"}, "note": "*** paid"}
    assert not parse_filter('"bob@example.com"').matches(
        decode_record(record(data), registry=registry, cluster=cluster, masked=True)
    )


def test_deep_nesting_never_raises_and_never_leaks(cluster: ClusterConfig) -> None:
    for depth in (10, 500, 900, 990, 5000):
        text = '{"x": ' + "[" * depth + '"4111-1111-1111-1111"' + "]" * depth + "}"
        masked = mask(decode(text.encode(), registry=None), cluster)
        assert masked.masked is True
        assert "4111" not in (masked.text or ""), depth
