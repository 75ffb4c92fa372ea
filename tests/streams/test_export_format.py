"""The JSON Lines an export writes: the fast text form is byte for byte the general one."""

from __future__ import annotations

import json

import pytest

from backbone_admin.kafka.records import Record
from streams.jobs.export import _jsonl_event, jsonl_lines, payload_bytes

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
    assert jsonl_lines([record]) == _jsonl_event(record) + b"\n"


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
