"""What a replay or export asks for, checked before anything starts, and its offsets resolved.

`parse_request` takes the API body (or the page form turned into the same shape) and raises
InvalidRequest naming the field (a filter in the message browser's language is compiled here,
so a bad one is refused with its column before anything starts); `resolve_range` turns
start/end into concrete offsets per partition: `start` inclusive, `end` exclusive (the first
offset not selected). A start may also be a consumer group's committed offsets
(`{"group": "<id>"}`): per partition the group's committed offset, earliest where it has none.
Ranges in words (`streams.jobs.ranges`): a start `{"last": N}` (the N most recent events of the
chosen partitions together) or `{"last_per_partition": N}`, which end at the log end, and
`{"ago": "15m"}` (a time that long before now) for a start or an end. A time may be given as ms
or as ISO 8601 text (no zone = UTC). A time after a partition's last event is its log end.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from backbone_admin.kafka import GroupNotFound, InvalidRequest, offsets
from backbone_admin.kafka.types import Watermarks
from streams.jobs import ranges
from streams.jobs.selection import check_filter
from topics.configs import validate_topic_configs
from topics.groups.lag import require_group
from topics.services import topic_name_problem

KINDS = ("replay", "export")
FORMATS = ("jsonl", "csv")
COMPRESSIONS = ("none", "gzip")
MAPPINGS = ("same", "key")
MAX_NAME = 249  # Kafka's longest topic name
MAX_GROUP = 255
# The slowest replay: one event every ten seconds (a paused partition gives its worker back meanwhile).
MIN_RATE = 0.1


@dataclass(frozen=True)
class Position:
    """earliest | latest | an offset | a timestamp (ms) | a consumer group's committed offsets |
    the last N events (together, or of each partition) | a time that long ago (`value` ms)."""

    kind: str
    value: int = 0
    group: str = ""

    def as_json(self) -> Any:
        if self.kind == "group":
            return {"group": self.group}
        if self.kind == "ago":
            return {"ago": ranges.as_duration(self.value)}
        return self.kind if self.kind in ("earliest", "latest") else {self.kind: self.value}

    def describe(self) -> str:
        if self.kind == "group":
            return f"the committed offsets of group `{self.group}`"
        if self.kind == "last":
            return f"the last {self.value:,} events"
        if self.kind == "last_per_partition":
            return f"the last {self.value:,} events of each partition"
        if self.kind == "ago":
            return f"{ranges.describe_duration(self.value)} ago"
        if self.kind == "timestamp":
            when = datetime.fromtimestamp(self.value / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            return f"time {when} ({self.value} ms)"
        return self.kind if self.kind in ("earliest", "latest") else f"{self.kind} {self.value}"


@dataclass(frozen=True)
class JobRequest:
    kind: str
    cluster: str
    topic: str
    start: Position
    end: Position
    partitions: tuple[int, ...] | None = None
    filter: str = ""
    # replay
    target_cluster: str = ""
    target_topic: str = ""
    rate_limit: float | None = None
    mapping: str = "same"
    keep_timestamps: bool = True
    create_target: bool = False
    accept_retention_loss: bool = False
    target_configs: dict[str, str] = field(default_factory=dict)  # a created target's, over the inherited ones
    # both: only say what would happen (the preview), start nothing
    dry_run: bool = False
    # export
    format: str = "jsonl"
    compression: str = "none"
    extra: dict[str, Any] = field(default_factory=dict)


def _text(data: Mapping[str, Any], name: str, problems: dict[str, str], *, required: bool = False) -> str:
    value = data.get(name)
    if value is None or value == "":
        if required:
            problems[name] = "this field is required"
        return ""
    if not isinstance(value, str):
        problems[name] = "must be a string"
        return ""
    if len(value) > MAX_NAME:
        problems[name] = f"at most {MAX_NAME} characters"
        return ""
    return value.strip()


def parse_position(value: Any, name: str, default: str, *, group: bool = False) -> Position:
    """`"earliest"`, `"latest"`, `{"offset": n}`, `{"timestamp": ms or ISO 8601}`, `{"ago": "15m"}`;
    with `group` (the start) also `{"group": "<id>"}`, `{"last": N}`, `{"last_per_partition": N}`;
    InvalidRequest otherwise."""
    if value is None or value == "":
        return Position(default)
    if value in ("earliest", "latest"):
        return Position(str(value))
    if isinstance(value, Mapping) and len(value) == 1:
        ((kind, number),) = value.items()
        if kind in ("group", *ranges.LAST_KINDS) and not group:
            what = "a consumer group's offsets" if kind == "group" else f"the last N events ({kind})"
            message = f"{name} cannot be {what} (only the start can)"
            raise InvalidRequest(message, fields={name: message})
        if kind == "group":
            if not isinstance(number, str) or not number.strip() or len(number) > MAX_GROUP:
                message = f"{name}: the group must be a consumer group id (at most {MAX_GROUP} characters)"
                raise InvalidRequest(message, fields={name: message})
            return Position("group", group=number)
        if kind in ranges.LAST_KINDS:
            return Position(kind, ranges.parse_count(number, name, kind))
        if kind == "ago":
            return Position("ago", ranges.parse_duration(number, name))
        if kind == "timestamp" and isinstance(number, str):
            number = _iso_time(number, name)
        if kind in ("offset", "timestamp"):
            if isinstance(number, bool) or not isinstance(number, int):
                raise InvalidRequest(
                    f"{name}: the {kind} must be a whole number", fields={name: f"{kind} must be an integer"}
                )
            if number < 0:
                raise InvalidRequest(
                    f"{name}: the {kind} must be ≥ 0 (got {number})", fields={name: f"{kind} must be ≥ 0"}
                )
            return Position(kind, number)
    also = ', {"group": "<id>"}, {"last": N}, {"last_per_partition": N}' if group else ""
    message = f'{name} must be "earliest", "latest", {{"offset": n}}, {{"timestamp": ms}}, {{"ago": "15m"}}{also}'
    raise InvalidRequest(message, fields={name: message})


def _iso_time(text: str, name: str) -> int:
    """ISO 8601 text as ms (no zone = UTC); InvalidRequest naming `name`."""
    try:
        moment = datetime.fromisoformat(text.strip()[:64])
    except ValueError:
        message = f"{name}: `{text[:40]}` is not a time: use ms since the epoch or ISO 8601 (2024-05-01T12:00:00Z)"
        raise InvalidRequest(message, fields={name: message}) from None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp() * 1000)


def parse_request(data: Any) -> JobRequest:
    """The job the body asks for, or InvalidRequest listing every problem by field."""
    if not isinstance(data, Mapping):
        raise InvalidRequest("the body must be a JSON object")
    problems: dict[str, str] = {}
    kind = data.get("kind")
    if kind not in KINDS:
        problems["kind"] = 'must be "replay" or "export"'
    cluster = _text(data, "cluster", problems, required=True)
    topic = _text(data, "topic", problems, required=True)
    positions: dict[str, Position] = {}
    for name, default in (("start", "earliest"), ("end", "latest")):
        try:
            positions[name] = parse_position(data.get(name), name, default, group=name == "start")
        except InvalidRequest as exc:
            problems.update(exc.fields)
    start, end = positions.get("start", Position("earliest")), positions.get("end", Position("latest"))
    if start.kind in ranges.LAST_KINDS and "end" in positions and end.kind != "latest":
        problems["end"] = f'{start.describe()} end at the log\'s end: leave the end out or make it "latest"'
    # Ago counts back from now: the larger one is the earlier time.
    backwards = start.kind == end.kind == "ago" and start.value < end.value
    if backwards or (start.kind == end.kind and start.kind in ("offset", "timestamp") and start.value > end.value):
        problems["end"] = f"the end ({end.describe()}) is before the start ({start.describe()})"
    partitions = _partitions(data.get("partitions"), problems)
    filter_text = data.get("filter") or ""
    if not isinstance(filter_text, str) or len(filter_text) > settings.PATTERN_MAX_LENGTH:
        problems["filter"] = f"a text of at most {settings.PATTERN_MAX_LENGTH} characters"
        filter_text = ""
    else:
        try:
            check_filter(filter_text)
        except InvalidRequest as exc:
            problems["filter"] = str(exc.fields.get("filter") or exc.message)
    request = JobRequest(
        kind=str(kind),
        cluster=cluster,
        topic=topic,
        start=start,
        end=end,
        partitions=partitions,
        filter=filter_text,
        dry_run=_flag(data, "dry_run", False, problems),
    )
    if kind == "replay":
        request = _replay(data, request, problems)
    elif kind == "export":
        request = _export(data, request, problems)
    if problems:
        raise InvalidRequest("Invalid job: " + "; ".join(f"{k}: {v}" for k, v in problems.items()), fields=problems)
    return request


def _partitions(value: Any, problems: dict[str, str]) -> tuple[int, ...] | None:
    if value is None or value == [] or value == "":
        return None
    if not isinstance(value, list) or not all(isinstance(p, int) and not isinstance(p, bool) for p in value):
        problems["partitions"] = "a list of partition numbers"
        return None
    if any(p < 0 for p in value) or len(value) > settings.TOPIC_MAX_PARTITIONS:
        problems["partitions"] = "partition numbers are ≥ 0"
        return None
    return tuple(sorted(set(value)))


def _replay(data: Mapping[str, Any], request: JobRequest, problems: dict[str, str]) -> JobRequest:
    target_cluster = _text(data, "target_cluster", problems) or request.cluster
    target_topic = _text(data, "target_topic", problems, required=True)
    if target_topic and target_cluster == request.cluster and target_topic == request.topic:
        problems["target_topic"] = "the target is the source topic on the same cluster: choose another topic"
    elif target_topic and (problem := topic_name_problem(target_topic)):
        problems["target_topic"] = problem
    rate = data.get("rate_limit")
    rate_limit: float | None = None
    if rate is not None and rate != "":
        if isinstance(rate, bool) or not isinstance(rate, int | float):
            problems["rate_limit"] = "events per second, a number > 0"
        elif rate < MIN_RATE:
            problems["rate_limit"] = f"at least {MIN_RATE:g} events per second (got {rate:g})"
        else:
            rate_limit = float(rate)
    mapping = data.get("partition_mapping") or "same"
    if mapping not in MAPPINGS:
        problems["partition_mapping"] = '"same" (source partition = target partition) or "key"'
    return _with(
        request,
        target_cluster=target_cluster,
        target_topic=target_topic,
        rate_limit=rate_limit,
        mapping=str(mapping),
        keep_timestamps=_flag(data, "keep_timestamps", True, problems),
        create_target=_flag(data, "create_target", False, problems),
        accept_retention_loss=_flag(data, "accept_retention_loss", False, problems),
        target_configs=_target_configs(data.get("target_configs"), problems),
    )


def _target_configs(value: Any, problems: dict[str, str]) -> dict[str, str]:
    """Topic configs for a target the replay creates, checked as the topic form checks them."""
    if value is None or value == {} or value == "":
        return {}
    if not isinstance(value, Mapping):
        problems["target_configs"] = 'topic configs as an object, e.g. {"retention.ms": "-1"}'
        return {}
    try:
        return validate_topic_configs(value)
    except InvalidRequest as exc:
        problems["target_configs"] = exc.message
        return {}


def _export(data: Mapping[str, Any], request: JobRequest, problems: dict[str, str]) -> JobRequest:
    fmt = data.get("format") or "jsonl"
    if fmt not in FORMATS:
        problems["format"] = '"jsonl" or "csv"'
    compression = data.get("compression") or "none"
    if compression not in COMPRESSIONS:
        problems["compression"] = '"gzip" or none'
    return _with(request, format=str(fmt), compression=str(compression))


def _with(request: JobRequest, **changes: Any) -> JobRequest:
    return JobRequest(**{**request.__dict__, **changes})


def _flag(data: Mapping[str, Any], name: str, default: bool, problems: dict[str, str]) -> bool:
    value = data.get(name, default)
    if isinstance(value, bool):
        return value
    if value in ("true", "on", "1", 1):
        return True
    if value in ("false", "off", "0", 0, "", None):
        return False
    problems[name] = "true or false"
    return default


def resolve_range(
    cluster: str, topic: str, partitions: list[int], start: Position, end: Position
) -> tuple[dict[int, tuple[int, int]], dict[int, Watermarks]]:
    """Per partition (first offset selected, first offset not selected), and the watermarks read."""
    keys = [(topic, p) for p in partitions]
    marks = {p: w for (_, p), w in offsets.watermarks(cluster, keys).items()}

    def at(position: Position, p: int, found: dict[int, int]) -> int:
        low, high = marks[p].low, marks[p].high
        if position.kind == "earliest":
            return low
        if position.kind == "latest":
            return high
        if position.kind == "offset":
            return min(max(position.value, low), high)
        if position.kind in ranges.LAST_KINDS:
            return found[p]
        if position.kind == "group":
            committed = found.get(p)
            return low if committed is None else min(max(committed, low), high)
        offset = found.get(p, -1)
        return high if offset < 0 else min(max(offset, low), high)

    if start.kind in ranges.LAST_KINDS:
        per_partition = start.kind == "last_per_partition"
        found_start = ranges.last_events(cluster, topic, marks, start.value, per_partition=per_partition)
    elif start.kind == "group":
        found_start = _by_group(cluster, topic, start)
    else:
        found_start = _by_time(cluster, keys, start)
    found_end = _by_time(cluster, keys, end)
    chosen: dict[int, tuple[int, int]] = {}
    for p in partitions:
        first, last = at(start, p, found_start), at(end, p, found_end)
        if first > last:
            message = (
                f"the range selects nothing valid in partition {p}: it starts at offset {first} "
                f"({start.describe()}) after it ends at {last} ({end.describe()})"
            )
            raise InvalidRequest(message, fields={"end": message})
        chosen[p] = (first, last)
    return chosen, marks


def _by_time(cluster: str, keys: list[tuple[str, int]], position: Position) -> dict[int, int]:
    """Per partition the first offset at or after the position's time; -1 where every event is older."""
    if position.kind == "ago":
        moment = ranges.ago_to_timestamp(position.value)
    elif position.kind == "timestamp":
        moment = position.value
    else:
        return {}
    return {p: o for (_, p), o in offsets.offsets_for_time(cluster, keys, moment).items()}


def _by_group(cluster: str, topic: str, position: Position) -> dict[int, int]:
    """The group's committed offsets on the topic by partition; 404 naming `start` for an unknown group."""
    try:
        _description, committed = require_group(cluster, position.group)
    except GroupNotFound as exc:
        raise GroupNotFound(exc.message, fields={"start": exc.message}) from None
    return {p: offset for (t, p), offset in committed.items() if t == topic}
