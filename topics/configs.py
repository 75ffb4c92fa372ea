"""The topic configs the console knows: type, range and allowed values, checked before the broker sees them.

Values follow Apache Kafka's TopicConfig / LogConfig definitions (3.x/4.x).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from backbone_admin.kafka import InvalidRequest
from topics.units import (
    MAX_LONG,
    MAX_NUMBER_LENGTH,
    NO_LIMIT_WORDS,
    format_duration_ms,
    format_size_bytes,
    parse_duration_ms,
    parse_size_bytes,
)

MAX_INT = 2**31 - 1
# The longest list value (e.g. `leader.replication.throttled.replicas` of a topic with many
# partitions: `0:1,0:2,…`); every other value is at most MAX_NUMBER_LENGTH (64) characters.
MAX_TEXT_LENGTH = 32_768


@dataclass(frozen=True)
class TopicConfigSpec:
    name: str
    type: str  # long | int | double | boolean | enum | list
    default: str | None
    unit: str = ""  # ms | bytes | ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    doc: str = ""
    # How Long.MAX reads for this config ("never" for flush.*; "unlimited" elsewhere).
    no_limit: str = "unlimited"

    def parse(self, raw: object) -> str:
        """Kafka's string for a user's value (human units accepted); raises InvalidRequest."""
        text = str(raw).strip()
        if text == "":
            raise InvalidRequest(f"{self.name} needs a value")
        # Capped before any parsing, so no value can make parsing slow or huge.
        limit = MAX_TEXT_LENGTH if self.type == "list" else MAX_NUMBER_LENGTH
        if len(text) > limit:
            raise InvalidRequest(f"{self.name}: value longer than {limit:,} characters ({len(text):,})")
        if self.type == "long" and self.minimum is not None and self.minimum >= 0 and text.lower() in NO_LIMIT_WORDS:
            return str(MAX_LONG)  # -1 is refused here: Kafka's "no limit" is Long.MAX
        if self.type in ("long", "int"):
            if self.unit:
                parse = parse_duration_ms if self.unit == "ms" else parse_size_bytes
                try:
                    number = parse(text)
                except InvalidRequest as exc:
                    raise InvalidRequest(f"{self.name}: {exc.message}") from None
            else:
                try:
                    number = int(text)
                except ValueError:
                    raise InvalidRequest(f"{self.name} must be a whole number, not `{text}`") from None
            self._check_range(number)
            if self.type == "int" and number > MAX_INT:
                raise InvalidRequest(f"{self.name} must be ≤ {MAX_INT}")
            return str(number)
        if self.type == "double":
            try:
                value = float(text)
            except ValueError:
                raise InvalidRequest(f"{self.name} must be a number, not `{text}`") from None
            if not math.isfinite(value):
                raise InvalidRequest(f"{self.name} must be a finite number, not `{text}`")
            self._check_range(value)
            return repr(value)
        if self.type == "boolean":
            lowered = text.lower()
            if lowered not in ("true", "false"):
                raise InvalidRequest(f"{self.name} must be true or false, not `{text}`")
            return lowered
        if self.type == "enum":
            by_lower = {c.lower(): c for c in self.choices}
            if text.lower() not in by_lower:
                raise InvalidRequest(f"{self.name} must be one of {', '.join(self.choices)}, not `{text}`")
            return by_lower[text.lower()]
        if self.type == "list":
            items = [item.strip() for item in text.split(",") if item.strip()]
            if self.choices:
                bad = [i for i in items if i.lower() not in self.choices]
                if bad or not items:
                    raise InvalidRequest(f"{self.name} must be one or more of {', '.join(self.choices)}")
                items = sorted({i.lower() for i in items}, key=self.choices.index)
            return ",".join(items)
        return text

    def _check_range(self, number: float) -> None:
        if self.minimum is not None and number < self.minimum:
            low = int(self.minimum) if self.minimum == int(self.minimum) else self.minimum
            raise InvalidRequest(f"{self.name} must be ≥ {low}{self._unlimited_hint()}")
        if self.maximum is not None and number > self.maximum:
            raise InvalidRequest(f"{self.name} must be ≤ {self.maximum:g}")

    def _unlimited_hint(self) -> str:
        return " (-1 or `unlimited` for no limit)" if self.minimum == -1 else ""

    def human(self, value: str | None) -> str:
        """A value as a person reads it: `7 d`, `500 MB`, `forever`."""
        if value is None:
            return "—"
        if self.type == "long" and value == str(MAX_LONG):
            return self.no_limit
        try:
            if self.unit == "ms":
                return format_duration_ms(value)
            if self.unit == "bytes":
                return format_size_bytes(value)
        except ValueError:
            return value
        return value


def _spec(name: str, type_: str, default: str | None, **kw: object) -> TopicConfigSpec:
    return TopicConfigSpec(name=name, type=type_, default=default, **kw)  # type: ignore[arg-type]


SPECS: dict[str, TopicConfigSpec] = {
    s.name: s
    for s in [
        _spec(
            "cleanup.policy",
            "list",
            "delete",
            choices=("delete", "compact"),
            doc="delete old segments, compact to the latest value per key, or both",
        ),
        _spec(
            "compression.type",
            "enum",
            "producer",
            choices=("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"),
        ),
        _spec(
            "delete.retention.ms",
            "long",
            "86400000",
            unit="ms",
            minimum=0,
            doc="how long tombstones are kept on compacted topics",
        ),
        _spec("file.delete.delay.ms", "long", "60000", unit="ms", minimum=0),
        _spec("flush.messages", "long", str(MAX_LONG), minimum=1, no_limit="never"),
        _spec("flush.ms", "long", str(MAX_LONG), unit="ms", minimum=0, no_limit="never"),
        _spec("follower.replication.throttled.replicas", "list", ""),
        _spec("index.interval.bytes", "int", "4096", unit="bytes", minimum=0),
        _spec("leader.replication.throttled.replicas", "list", ""),
        _spec("local.retention.bytes", "long", "-2", unit="bytes", minimum=-2),
        _spec("local.retention.ms", "long", "-2", unit="ms", minimum=-2),
        _spec("max.compaction.lag.ms", "long", str(MAX_LONG), unit="ms", minimum=1),
        _spec("max.message.bytes", "int", "1048588", unit="bytes", minimum=0),
        _spec("message.downconversion.enable", "boolean", "true"),
        _spec("message.timestamp.after.max.ms", "long", "3600000", unit="ms", minimum=0),
        _spec("message.timestamp.before.max.ms", "long", str(MAX_LONG), unit="ms", minimum=0),
        _spec("message.timestamp.difference.max.ms", "long", str(MAX_LONG), unit="ms", minimum=0),
        _spec("message.timestamp.type", "enum", "CreateTime", choices=("CreateTime", "LogAppendTime")),
        _spec("min.cleanable.dirty.ratio", "double", "0.5", minimum=0, maximum=1),
        _spec("min.compaction.lag.ms", "long", "0", unit="ms", minimum=0),
        _spec("min.insync.replicas", "int", "1", minimum=1),
        _spec("preallocate", "boolean", "false"),
        _spec("remote.storage.enable", "boolean", "false"),
        _spec("retention.bytes", "long", "-1", unit="bytes", minimum=-1, doc="per partition; -1 keeps any size"),
        _spec("retention.ms", "long", "604800000", unit="ms", minimum=-1, doc="-1 keeps events forever"),
        _spec("segment.bytes", "int", "1073741824", unit="bytes", minimum=14),
        _spec("segment.index.bytes", "int", "10485760", unit="bytes", minimum=4),
        _spec("segment.jitter.ms", "long", "0", unit="ms", minimum=0),
        _spec("segment.ms", "long", "604800000", unit="ms", minimum=1),
        _spec("unclean.leader.election.enable", "boolean", "false"),
    ]
}

RETENTION_KEYS = (
    "retention.ms",
    "retention.bytes",
    "cleanup.policy",
    "min.compaction.lag.ms",
    "delete.retention.ms",
    "segment.ms",
)


def validate_topic_configs(values: Mapping[str, object]) -> dict[str, str]:
    """All values checked at once: Kafka strings out, or one InvalidRequest naming every bad field."""
    if len(values) > len(SPECS):
        message = f"at most {len(SPECS)} topic configs in one request ({len(values):,} given)"
        raise InvalidRequest(message, fields={"configs": message})
    clean: dict[str, str] = {}
    problems: dict[str, str] = {}
    for name, raw in values.items():
        spec = SPECS.get(name)
        if spec is None:
            shown = name if len(name) <= 100 else name[:100] + "…"
            problems[shown] = f"unknown topic config `{shown}`"
            continue
        try:
            clean[name] = spec.parse(raw)
        except InvalidRequest as exc:
            problems[name] = exc.message
    lag_min, lag_max = clean.get("min.compaction.lag.ms"), clean.get("max.compaction.lag.ms")
    if lag_min is not None and lag_max is not None and int(lag_min) > int(lag_max):
        problems["min.compaction.lag.ms"] = "min.compaction.lag.ms must be ≤ max.compaction.lag.ms"
    if problems:
        summary = "; ".join(problems.values())
        raise InvalidRequest(f"Invalid topic configs: {summary}", fields=problems)
    return clean


def human(name: str, value: str | None) -> str:
    spec = SPECS.get(name)
    return spec.human(value) if spec else (value if value is not None else "—")
