"""Human units and the known-config table: what the console accepts before the broker sees anything."""

from __future__ import annotations

import pytest

from backbone_admin.kafka import InvalidRequest
from topics.configs import SPECS, validate_topic_configs
from topics.services import topic_name_problem
from topics.units import format_duration_ms, format_size_bytes, parse_duration_ms, parse_size_bytes


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("7d", 604_800_000),
        ("12h", 43_200_000),
        ("30m", 1_800_000),
        ("90s", 90_000),
        ("1w", 604_800_000),
        ("250", 250),
        ("1.5h", 5_400_000),
        ("unlimited", -1),
        ("forever", -1),
        ("-1", -1),
        (" 2 d ", 172_800_000),
    ],
)
def test_it_reads_durations_in_human_units(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize(
    ("text", "size"),
    [("500MB", 500_000_000), ("2GiB", 2 * 1024**3), ("1kb", 1000), ("1024", 1024), ("unlimited", -1)],
)
def test_it_reads_sizes_in_human_units(text: str, size: int) -> None:
    assert parse_size_bytes(text) == size


@pytest.mark.parametrize("text", ["7 days and more", "7x", "1.5ms", "abc", ""])
def test_it_refuses_durations_it_cannot_read(text: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_duration_ms(text)


def test_it_shows_retention_the_way_people_read_it() -> None:
    assert format_duration_ms(604_800_000) == "7 d"
    assert format_duration_ms(43_200_000) == "12 h"
    assert format_duration_ms(-1) == "forever"
    assert format_duration_ms(1500) == "1500 ms"
    assert format_size_bytes(500_000_000) == "500 MB"
    assert format_size_bytes(1024**3) == "1 GiB"
    assert format_size_bytes(-1) == "unlimited"


def test_it_turns_human_config_values_into_kafka_strings() -> None:
    clean = validate_topic_configs(
        {
            "retention.ms": "7d",
            "retention.bytes": "500MB",
            "cleanup.policy": "compact, delete",
            "min.insync.replicas": 2,
        }
    )
    assert clean == {
        "retention.ms": "604800000",
        "retention.bytes": "500000000",
        "cleanup.policy": "delete,compact",
        "min.insync.replicas": "2",
    }


@pytest.mark.parametrize(
    ("configs", "field", "says"),
    [
        ({"retention.ms": "-5"}, "retention.ms", "must be ≥ -1"),
        ({"retention.ms": "soon"}, "retention.ms", "not a duration"),
        ({"cleanup.policy": "shred"}, "cleanup.policy", "one or more of delete, compact"),
        ({"compression.type": "brotli"}, "compression.type", "must be one of"),
        ({"min.insync.replicas": "0"}, "min.insync.replicas", "must be ≥ 1"),
        ({"min.cleanable.dirty.ratio": "1.5"}, "min.cleanable.dirty.ratio", "must be ≤ 1"),
        ({"preallocate": "yes"}, "preallocate", "true or false"),
        ({"max.message.bytes": "3GiB"}, "max.message.bytes", "≤ 2147483647"),
        ({"retention.msec": "1"}, "retention.msec", "unknown topic config"),
    ],
)
def test_it_refuses_bad_config_values_naming_the_field(configs: dict[str, str], field: str, says: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        validate_topic_configs(configs)
    assert says in caught.value.fields[field]


def test_it_reports_every_bad_config_at_once() -> None:
    with pytest.raises(InvalidRequest) as caught:
        validate_topic_configs({"retention.ms": "x", "segment.ms": "0", "retention.bytes": "1GB"})
    assert set(caught.value.fields) == {"retention.ms", "segment.ms"}


def test_every_known_config_default_passes_its_own_validation() -> None:
    for spec in SPECS.values():
        if spec.default not in (None, ""):
            spec.parse(spec.default)


def test_the_largest_long_reads_as_never_or_unlimited_and_back() -> None:
    long_max = "9223372036854775807"
    assert format_duration_ms(long_max) == "unlimited"
    assert format_size_bytes(long_max) == "unlimited"
    assert SPECS["flush.ms"].human(long_max) == "never"
    assert SPECS["flush.messages"].human(long_max) == "never"
    assert SPECS["max.compaction.lag.ms"].human(long_max) == "unlimited"
    assert SPECS["message.timestamp.before.max.ms"].human(long_max) == "unlimited"
    # Where -1 is refused, "unlimited" / "never" mean Kafka's Long.MAX, so the shown value reads back.
    assert SPECS["flush.ms"].parse("never") == long_max
    assert SPECS["flush.messages"].parse("never") == long_max
    assert SPECS["max.compaction.lag.ms"].parse("unlimited") == long_max
    assert SPECS["retention.ms"].parse("unlimited") == "-1"
    assert SPECS["retention.bytes"].human("-1") == "unlimited"


def test_it_keeps_the_largest_kafka_long_exact() -> None:
    assert SPECS["flush.ms"].parse("9223372036854775807") == "9223372036854775807"
    with pytest.raises(InvalidRequest, match="too large"):
        SPECS["flush.ms"].parse("9223372036854775808")


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "needs a name"),
        (".", "`.` or `..`"),
        ("..", "`.` or `..`"),
        ("a" * 250, "at most 249"),
        ("orders/eu", "may only contain"),
        ("orders eu", "may only contain"),
        ("ördérs", "may only contain"),
    ],
)
def test_it_refuses_topic_names_kafka_would_refuse(name: str, problem: str) -> None:
    assert problem in (topic_name_problem(name) or "")


@pytest.mark.parametrize("name", ["orders", "orders.eu-1_v2", "a" * 249, "..x", "_private"])
def test_it_accepts_legal_topic_names(name: str) -> None:
    assert topic_name_problem(name) is None
