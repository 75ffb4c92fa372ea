"""The filter language: every operator and field kind, precedence, errors with columns, caps, RE2."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from backbone_admin.clusters import ClusterConfig
from backbone_admin.kafka.errors import InvalidRequest
from backbone_admin.kafka.records import Record
from streams.events.avro import encode_avro
from streams.events.filters import MAX_DEPTH, MAX_LENGTH, MAX_TERMS, parse_filter
from streams.events.registry import registry_for
from streams.events.serialize import DecodedEvent, decode_record
from tests.streams.registry_server import RegistryServer

CLUSTER = ClusterConfig(name="c", bootstrap_servers="b")
ORDER = {
    "payload": {"status": "DELAYED", "eta": None, "late": True},
    "amount": 150,
    "price": 99.5,
    "currency": "EUR",
    "items": [{"sku": "X1", "qty": 2}, {"sku": "Y2", "qty": 1}],
    "tags": ["urgent", "eu", 7],
    "odd key": "yes",
    "offset": "json-offset",
    "0": "zero",
}


def event(
    value: Any = ORDER,
    *,
    key: bytes | None = b"order-123",
    headers: tuple[tuple[str, bytes | None], ...] = (("source", b"web"), ("x-retry", b"3")),
    partition: int = 1,
    offset: int = 42,
    timestamp: int = 1_714_557_600_000,  # 2024-05-01T10:00:00Z
) -> DecodedEvent:
    raw = value if isinstance(value, bytes) or value is None else json.dumps(value).encode()
    record = Record("t", partition, offset, timestamp, "create", key, raw, headers)
    return decode_record(record, registry=None, cluster=CLUSTER, masked=False)


def matches(text: str, e: DecodedEvent | None = None) -> bool:
    return parse_filter(text).matches(e if e is not None else event())


# --- plain text --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("order-123", True),  # in the key
        ("DELAYED", True),  # in the value
        ("delayed", False),  # case-sensitive
        ("payment failed", False),
        ("web", False),  # headers are not searched by plain text
        ("not found", False),  # keywords alone: still plain text
        ('"X1"', True),
        ('"order-12"', True),
        ('"nowhere"', False),
    ],
)
def test_plain_text_is_a_substring_of_key_or_value(text: str, expected: bool) -> None:
    f = parse_filter(text)
    assert f.matches(event()) is expected
    assert f.needs_json is False


def test_plain_text_matches_bytes_of_binary_and_unicode_values() -> None:
    assert matches("PNG", event(b"\x89PNG\r\n\x1a\n\x00"))
    assert matches("café", event("tarte café".encode()))
    assert matches("payment failed", event(b"ERROR payment failed for ORD-1"))
    assert parse_filter("payment failed").plain is True
    assert not matches("anything", event(None, key=None))


def test_blank_filter_matches_everything() -> None:
    f = parse_filter("   ")
    assert f.matches(event(None, key=None)) and f.needs_json is False and f.text == "   "


# --- comparisons on JSON fields ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('payload.status == "DELAYED"', True),
        ('payload.status == "delayed"', False),
        ('payload.status != "DONE"', True),
        ('payload.status != "DELAYED"', False),
        ("amount == 150", True),
        ("amount == 150.0", True),
        ('amount == "150"', False),  # number vs string: false, never an error
        ("amount != 151", True),
        ("amount > 100", True),
        ("amount >= 150", True),
        ("amount < 150", False),
        ("amount <= 150", True),
        ("price < 100", True),
        ('currency > "A"', True),
        ('currency < "EUR"', False),
        ("currency > 5", False),  # string vs number: false
        ('amount > "1"', False),
        ("payload.late == true", True),
        ("payload.late == 1", False),  # a JSON boolean is not a number
        ("payload.eta == null", True),
        ("payload.eta != null", False),
        ("payload.eta > 1", False),
        ("missing == null", False),  # missing is not null
        ("missing != 1", False),  # missing is false, whatever the operator
        ("payload.missing.deeper == 1", False),
        ("amount.sub == 1", False),  # a path through a number
        ('items[0].sku == "X1"', True),
        ('items.1.sku == "Y2"', True),
        ('items[2].sku == "X1"', False),
        ('items[*].sku == "Y2"', True),
        ("items[*].qty > 1", True),
        ("items[*].qty > 2", False),
        ('value."odd key" == "yes"', True),
        ('value["odd key"] == "yes"', True),
        ('value.offset == "json-offset"', True),  # a JSON field named like a reserved word
        ('value.0 == "zero"', True),  # a numeric segment reads an object key too
        ("tags[2] == 7", True),
    ],
)
def test_json_field_comparisons(text: str, expected: bool) -> None:
    f = parse_filter(text)
    assert f.matches(event()) is expected
    assert f.needs_json is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('payload.status contains "LAY"', True),
        ('tags contains "eu"', True),  # list membership
        ('tags contains "e"', False),  # not a substring of an element
        ("tags contains 7", True),
        ('payload contains "status"', True),  # an object's key
        ('amount contains "1"', False),
        ("payload.status ~ /^DEL/", True),
        ("payload.status ~ /^del/i", True),
        ('payload.status ~ "^DEL"', True),
        ("payload.status ~ /^LAY/", False),
        ("amount ~ /150/", False),  # a regex reads strings only
        ("payload.eta exists", True),  # present, although null
        ("payload.nothing exists", False),
        ("items[1].qty exists", True),
        ("items[5] exists", False),
    ],
)
def test_contains_regex_and_exists_on_json(text: str, expected: bool) -> None:
    assert matches(text) is expected


def test_json_fields_of_a_value_that_is_not_json_are_false() -> None:
    for value in (b"plain text status", b"\x00\x01", None, b"[1, 2]", b'"a string"'):
        e = event(value)
        assert not matches('status == "x"', e)
        assert not matches("status exists", e)
        assert matches("not status exists", e)


def test_a_string_that_only_escapes_hide_is_still_found() -> None:
    # The bytes-level pre-check must not reject what JSON escapes hide.
    escaped = event(b'{"payload": {"status": "\\u0044ELAYED"}}')
    assert matches('payload.status == "DELAYED"', escaped)
    assert matches('payload.status contains "ELAY"', escaped)
    assert not matches('payload.status == "DELAYED"', event(b'{"payload": {"status": "DONE"}, "note": "D"}'))
    assert matches('note == "a/b"', event(b'{"note": "a\\/b"}'))
    assert matches('note == "x\\"y"', event(b'{"note": "x\\"y"}'))


def test_key_paths_read_a_json_key() -> None:
    e = event(key=b'{"tenant": "acme", "id": 7}')
    assert matches('key.tenant == "acme"', e) and matches("key.id > 5", e)
    assert not matches('key.tenant == "acme"', event())


# --- key, value, record fields, headers --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('key == "order-123"', True),
        ('key != "order-123"', False),
        ('key contains "der-1"', True),
        (r"key ~ /^order-1\d+$/", True),
        (r"key ~ /^ORDER/i", True),
        ('key > "order"', True),
        ("key exists", True),
        ("key == null", False),
        ('value contains "DELAYED"', True),
        (r'value ~ /"amount": 1\d\d/', True),
        ("value exists", True),
        ("value == null", False),
        ("partition == 1", True),
        ("partition != 1", False),
        ("offset >= 42", True),
        ("offset < 42", False),
        ("timestamp == 1714557600000", True),
        ('timestamp >= "2024-05-01T10:00:00Z"', True),
        ('timestamp > "2024-05-01T10:00:00Z"', False),
        ('timestamp < "2024-05-01T12:00:00+02:00"', False),  # 10:00Z == 12:00+02:00
        ('timestamp <= "2024-05-01T12:00:00+02:00"', True),
        ('timestamp < "2024-05-02"', True),
        ('headers.source == "web"', True),
        ('header.source == "web"', True),
        ('headers."source" == "web"', True),
        ('headers.source != "web"', False),
        ('headers.source contains "e"', True),
        ("headers.source ~ /^w/", True),
        ("headers.x-retry == 3", True),  # dashes in a name; numeric text compares as a number
        ('headers."x-retry" >= 2', True),
        ('headers.x-retry == "3"', True),
        ("headers.source exists", True),
        ("headers.missing exists", False),
        ('headers.missing != "web"', False),
        ('headers.* == "web"', True),
    ],
)
def test_key_value_record_and_header_fields(text: str, expected: bool) -> None:
    f = parse_filter(text)
    assert f.matches(event()) is expected
    assert f.needs_json is False


def test_tombstones_null_keys_and_null_or_repeated_headers() -> None:
    tomb = event(None, key=None, headers=(("h", None), ("h", b"two")))
    assert matches("value == null", tomb) and matches("key == null", tomb)
    assert not matches("value exists", tomb) and matches("value != null", event())
    assert matches("headers.h == null", tomb) and matches('headers.h == "two"', tomb)
    assert not matches('key == "x"', tomb) and not matches('key != "x"', tomb)
    assert not matches('key contains "x"', tomb) and not matches("key ~ /x/", tomb)


def test_binary_keys_differ_from_any_text_but_match_bytes() -> None:
    e = event(key=b"\xff\xfeAB")
    assert not matches('key == "AB"', e)
    assert matches('key != "AB"', e)
    assert matches('key contains "AB"', e)


# --- combinations and precedence ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('amount > 100 and headers.source == "web"', True),
        ('amount > 100 and headers.source == "app"', False),
        ('amount > 1000 or headers.source == "web"', True),
        ("not amount > 1000", True),
        ("not not amount > 1000", False),
        # `and` binds tighter than `or`: true or (false and false)
        ("amount == 150 or amount == 1 and amount == 2", True),
        ("(amount == 150 or amount == 1) and amount == 2", False),
        # `not` binds tighter than `and`: (not true) and true
        ("not amount == 150 and partition == 1", False),
        ("not (amount == 1 and partition == 1)", True),
        ('"DELAYED" and not "DONE"', True),
        ("amount > 100 AND NOT payload.late == false OR partition == 9", True),
        ("((((amount == 150))))", True),
        ("partition == 0 or partition == 1 or partition == 2", True),
        ("offset > 1 and offset > 2 and offset > 50", False),
    ],
)
def test_precedence_and_combinations(text: str, expected: bool) -> None:
    assert matches(text) is expected


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("payload.status == ", "expected a value after `==` at column 19, found the end of the filter"),
        ("amount > 100 and payload.status ==", "expected a value after `==` at column 35"),
        ("amount = 5", "unknown operator `=` at column 8; compare with `==`"),
        ("amount > 5 && x == 1", "unknown operator `&&` at column 12; use `and`"),
        ("amount ! 5", "unexpected `!` at column 8"),
        ("status == 'x'", "unexpected `'` at column 11; strings take double quotes"),
        ('status == "open', "unterminated string starting at column 11"),
        ("key ~ /abc", "unterminated regular expression starting at column 7"),
        ("key ~ /abc/g", "unknown regex flag `g` at column 12"),
        ("key ~ 5", 'expected a regular expression (/…/ or "…") after `~` at column 7'),
        ("key ~ /(unclosed/", "is not a valid regular expression"),
        ("(amount > 1", "missing `)` for the `(` at column 1: found the end of the filter at column 12"),
        ("amount > 1)", "unexpected `)` at column 11: no `(` to close"),
        ("amount > 1 partition == 2", "unexpected `partition` at column 12; join conditions with `and` or `or`"),
        ("amount > 1 and", "expected a condition after `and` at column 15, found the end of the filter"),
        ("and amount > 1", "expected a condition at column 1, found `and`"),
        ("amount > 1 and not", "expected a condition after `not` at column 19"),
        ("amount > 1 or or x == 1", "expected a condition after `or` at column 15, found `or`"),
        ("status == DELAYED", 'expected a value after `==` at column 11, found `DELAYED`; quote text: "DELAYED"'),
        ("status DELAYED == 1", "expected an operator after `status` at column 8"),
        ('"status" == "x"', '"status" at column 1 is text to search for, not a field'),
        ('partition > "x"', '`partition` is a number: compare it with a number, not "x" (column 13)'),
        ('timestamp > "yesterday"', '"yesterday" at column 13 is not a date-time'),
        (
            "partition.x == 1",
            "`partition` at column 1 is a number and has no fields; a JSON field called partition is value.partition.x",
        ),
        ("offset exists", "`offset` always exists (column 8)"),
        ("offset contains 1", "`offset` is a number: `contains` does not apply"),
        ("headers == 1", 'name the header at column 1: headers.<name> or headers."x-y"'),
        ("amount > true", "`>` compares numbers or strings, not true (column 10)"),
        ("items[x] == 1", 'expected an index, `*` or a "quoted" name after `[` at column 7'),
        ("items[0 == 1", "expected `]` at column 8"),
        ("items. == 1", "expected a name after `.` at column 7"),
        ('status == "bad \\q escape"', "invalid escape in the string at column 11"),
        ("amount > 1 ; drop", "unexpected `;` at column 12"),
    ],
)
def test_bad_filters_are_refused_pointing_at_the_column(text: str, message: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_filter(text, field="filter")
    assert message in caught.value.message, caught.value.message
    assert caught.value.fields == {"filter": caught.value.message}
    assert caught.value.status == 400


def test_length_nesting_and_condition_caps() -> None:
    with pytest.raises(InvalidRequest, match=f"filter longer than {MAX_LENGTH} characters"):
        parse_filter("x" * (MAX_LENGTH + 1))
    parse_filter("(" * MAX_DEPTH + "a == 1" + ")" * MAX_DEPTH)
    with pytest.raises(InvalidRequest, match=f"nested deeper than {MAX_DEPTH} levels at column {MAX_DEPTH + 1}"):
        parse_filter("(" * (MAX_DEPTH + 1) + "a == 1" + ")" * (MAX_DEPTH + 1))
    with pytest.raises(InvalidRequest, match=f"nested deeper than {MAX_DEPTH}"):
        parse_filter("not " * (MAX_DEPTH + 1) + "a == 1")
    parse_filter(" or ".join(["a == 1"] * MAX_TERMS))
    with pytest.raises(InvalidRequest, match=f"more than {MAX_TERMS} conditions"):
        parse_filter(" or ".join(["a == 1"] * (MAX_TERMS + 1)))


def test_regexes_go_through_the_linear_time_engine_with_its_limits() -> None:
    with pytest.raises(InvalidRequest, match="pattern longer than 200 characters"):
        parse_filter("key ~ /" + "a" * 201 + "/")
    with pytest.raises(InvalidRequest, match="too large once compiled"):
        parse_filter("key ~ /.{1000}/")
    # Catastrophic for a backtracking engine; linear for RE2.
    hostile = parse_filter(r"value ~ /(a*)*b/ or note ~ /(x+x+)+y/ or key ~ /(.*){10}\d/")
    e = event({"note": "x" * 50_000}, key=b"a" * 50_000 + b"!")
    started = time.monotonic()
    assert hostile.matches(e) is False
    assert time.monotonic() - started < 0.5


def test_filters_never_raise_on_odd_events() -> None:
    filters = [
        parse_filter(t)
        for t in (
            'a.b[3].c == "x"',
            "a > 1",
            'a contains "x"',
            "a ~ /x/",
            "a[*].b exists",
            'key == "x"',
            "key > 1",
            'headers.h == "x"',
            "value ~ /x/",
            '"x"',
        )
    ]
    odd = [
        event(b"\x00\x01\x02"),
        event(b"[]"),
        event(b'{"a": {"b": "not a list"}}'),
        event(b'{"a": [1, "x", null, {"b": 2}]}'),
        event(b'{"a": 1e308, "b": -0}'),
        event(b'{"a": 123456789012345678901234567890}'),
        event(None, key=None, headers=(("h", None), ("h", b"\xff"))),
        event(b'"just a string"', key=b"\xff"),
    ]
    for f in filters:
        for e in odd:
            assert f.matches(e) in (True, False)


def test_avro_values_are_filtered_on_their_decoded_data(
    clusters_file: Callable[[str], Path], schema_registry: RegistryServer
) -> None:
    schema = {
        "type": "record",
        "name": "Shipment",
        "fields": [
            {"name": "status", "type": {"type": "enum", "name": "S", "symbols": ["NEW", "DELAYED"]}},
            {"name": "weight", "type": "int"},
        ],
    }
    schema_registry.register("ship-value", schema)
    clusters_file(
        "clusters:\n  - name: local\n    bootstrap_servers: '{LOCAL}'\n"
        f"    schema_registry_url: {schema_registry.url}\n"
    )
    registry = registry_for("local")
    assert registry is not None
    data = encode_avro(registry, "ship-value", {"status": "DELAYED", "weight": 12})
    e = decode_record(Record("t", 0, 0, 0, "create", b"k", data, ()), registry=registry, cluster=CLUSTER, masked=False)
    # An enum is stored as an index: the raw bytes do not hold "DELAYED", the decoded event does.
    assert b"DELAYED" not in data
    assert parse_filter('status == "DELAYED"').matches(e)
    assert parse_filter('"DELAYED"').matches(e)
    assert parse_filter("weight > 10 and weight < 13").matches(e)
    assert not parse_filter('status == "NEW"').matches(e)
