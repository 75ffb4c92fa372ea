"""Filter help grounded in the data: examples written from the events on the page find some of
them, the documented examples find demo events, and a search names a JSON field absent from
every event it read (on the page, in the search's final message and in the API's notes)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from rest_framework.test import APIClient

from backbone_admin.clusters import ClusterConfig
from backbone_admin.kafka.records import Record
from streams.browse.present import filter_help, filter_path
from streams.demo import ShippingWorld
from streams.events.filters import FILTER_EXAMPLES, parse_filter
from streams.events.serialize import DecodedEvent, decode_record
from tests.streams.browse_helpers import Ev, create_topic, produce
from tests.timestamps import RECENT

CLUSTER = ClusterConfig(name="c", bootstrap_servers="b")
README = Path(__file__).resolve().parents[2] / "README.md"


def _demo(topic: str | None = None, count: int = 120) -> list[DecodedEvent]:
    world = ShippingWorld(seed=15)
    events = [e for _ in range(count) for e in world.next_events() if topic is None or e.topic == topic]
    decoded = []
    for offset, event in enumerate(events):
        key, value, headers = event.encoded()
        record = Record(event.topic, 0, offset, RECENT + offset, "create", key, value, tuple(headers.items()))
        decoded.append(decode_record(record, registry=None, cluster=CLUSTER, masked=False))
    return decoded


def _finds(text: str, events: list[DecodedEvent]) -> int:
    flt = parse_filter(text)
    return sum(1 for e in events if flt.matches(e))


@pytest.mark.parametrize("topic", ["orders", "containers", "shipments"])
def test_every_example_built_from_a_page_of_demo_events_finds_some_of_them(topic: str) -> None:
    page = _demo(topic, count=20)
    help = filter_help(page, FILTER_EXAMPLES)
    assert help.from_events == len(page)
    assert len(help.examples) >= 4
    for example, _ in help.examples:
        assert _finds(example, page), example
    for path, clause in help.fields:
        assert _finds(clause, page) and _finds(f"{path} exists", page), clause
    examples = [example for example, _ in help.examples]
    # Top-level fields as they are, never a `payload.` prefix no demo event has.
    assert not any("payload" in example for example in examples)
    assert any(example.startswith(("status == ", "eventType == ")) for example in examples), examples
    if topic == "shipments":
        assert "delayMinutes exists" in examples
        assert any(re.fullmatch(r'containers\[\*\] == "C\d+"', e) for e in examples), examples


def test_without_json_events_the_help_keeps_the_generic_examples() -> None:
    record = Record("t", 0, 0, RECENT, "create", None, b"plain text", ())
    help = filter_help([decode_record(record, registry=None, cluster=CLUSTER, masked=False)], FILTER_EXAMPLES)
    assert help.from_events == 0 and help.examples == list(FILTER_EXAMPLES) and help.fields == []


def test_the_documented_examples_find_demo_events() -> None:
    events = _demo()
    for example, _ in FILTER_EXAMPLES:
        assert _finds(example, events), example
    line = README.read_text().split("- **Filter language**", 1)[1].split("\n- ", 1)[0]
    documented = re.findall(r"`([^`]+)`", line)
    assert 'status == "delayed"' in documented
    for example in documented:
        assert _finds(example, events), example
    delayed = [e for e in events if e.record.topic == "shipments" and e.value.json["status"] == "delayed"]
    assert 0 < len(delayed) < len([e for e in events if e.record.topic == "shipments"])
    assert all(e.value.json["delayMinutes"] > 0 for e in delayed)


def test_a_json_path_is_written_so_the_filter_reads_it_back() -> None:
    cases = {
        ("status",): "status",
        ("telemetry", "temperature"): "telemetry.temperature",
        ("containers", None): "containers[*]",
        ("items", None, "sku"): "items[*].sku",
        ("offset",): "value.offset",
        ("not",): "value.not",
        ("odd name", "x"): 'value."odd name".x',
        ("a", "0"): 'a."0"',
        (None, "sku"): "value[*].sku",
    }
    doc = {"status": "s", "telemetry": {"temperature": 1}, "containers": ["c"], "items": [{"sku": "k"}]}
    doc |= {"offset": "o", "not": "n", "odd name": {"x": "y"}, "a": {"0": "z"}}
    record = Record("t", 0, 0, RECENT, "create", None, json.dumps(doc).encode(), ())
    event = decode_record(record, registry=None, cluster=CLUSTER, masked=False)
    for segments, expected in cases.items():
        assert filter_path(segments) == expected
        if segments[0] is not None:
            assert _finds(f"{expected} exists", [event]), expected


def test_a_filter_tells_which_of_its_json_fields_no_event_had() -> None:
    events = _demo("shipments", count=30)
    # `and` stops at the first false condition: the fields are looked at apart from it.
    flt = parse_filter('voyage == "none" and status == "delayed" or payload.status == "delayed"')
    for event in events:
        flt.observe(event)
    assert flt.absent_paths() == ["payload.status"]
    nothing = parse_filter("eta exists")
    nothing.observe(events[0])
    assert nothing.absent_paths() == ["eta"]


# --- on the real broker: the API's notes ---------------------------------------------------


@pytest.mark.django_db
def test_a_search_that_finds_nothing_says_the_field_was_absent_from_every_event_read(
    kafka_admin: AdminClient, kafka_bootstrap: str, topic_name: str, api_as: Callable[..., APIClient]
) -> None:
    create_topic(kafka_admin, topic_name, 2)
    values = [{"eventType": "ShipmentDeparted", "status": "on-time" if i % 3 else "delayed"} for i in range(9)]
    produce(
        kafka_bootstrap,
        topic_name,
        [Ev(i % 2, f"SHP-{i}".encode(), json.dumps(v).encode(), [], RECENT + i) for i, v in enumerate(values)],
    )
    client = api_as("reader")
    url = f"/api/clusters/local/topics/{topic_name}/messages/"

    def search(q: str) -> Any:
        body = client.get(url, {"q": q}).json()
        return len(body["results"]), body["scan"]["scanned"], body["scan"]["notes"]

    found, scanned, notes = search('payload.status == "delayed"')
    assert (found, scanned) == (0, 9)
    assert notes == [
        "the field “payload.status” was absent from every event read (9 events): check its name and nesting; "
        "without a filter the page shows the events, and a click on one of their fields puts it in the search"
    ]
    # The field is there, the value is not: nothing to say about the field.
    assert search('status == "lost"') == (0, 9, [])
    assert search('status == "delayed"')[0] == 3
