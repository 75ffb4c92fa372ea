"""Rewind (offset reset): plan per partition current → new, preview it, apply it to an empty group.

Kinds: `earliest`, `latest`, `timestamp` (ms since the epoch, or ISO 8601; naive = UTC),
`offset`, `shift` (±N from the committed offset) and `group` (another group's committed
offsets). Scope: every topic the group has committed offsets on, one topic, or chosen
partitions of one topic. New offsets are clamped to the log (low ≤ new ≤ high) as
kafka-consumer-groups does, with a note. A plan tells per partition how many events the
group will consume again (moved back) or skip (moved forward).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from backbone_admin.kafka import GroupNotFound, InvalidRequest
from backbone_admin.kafka.groups import GroupDescription, committed_offsets
from backbone_admin.kafka.offsets import offsets_for_time
from backbone_admin.kafka.topics import describe_topic
from topics.groups.lag import Partition, end_offsets, require_group, topic_partitions
from topics.groups.state import ACTIVE_STATES

KINDS = ("earliest", "latest", "timestamp", "offset", "shift", "group")
MAX_SHIFT = 2**62
GROUP_ID_MAX = 255


@dataclass(frozen=True)
class RewindRequest:
    to: str
    value: int | str | None = None  # timestamp ms, offset, shift, or another group's id
    topic: str | None = None  # None: every topic the group has committed offsets on
    partitions: tuple[int, ...] | None = None  # None: every partition of the topic(s)
    dry_run: bool = True


def _int(raw: Any, field_name: str, problems: dict[str, str], what: str) -> int | None:
    if isinstance(raw, bool):
        problems[field_name] = f"{what} must be a whole number"
        return None
    try:
        return int(str(raw).strip())
    except (TypeError, ValueError):
        problems[field_name] = f"{what} must be a whole number, not `{raw}`"
        return None


def _timestamp(raw: Any, problems: dict[str, str]) -> int | None:
    text = str(raw if raw is not None else "").strip()
    if not text:
        problems["value"] = "a timestamp rewind needs a time: milliseconds since the epoch or ISO 8601"
        return None
    if text.lstrip("-").isdigit():
        value = int(text)
    else:
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            problems["value"] = f"`{text[:40]}` is not a time: use milliseconds since the epoch or ISO 8601"
            return None
        value = int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp() * 1000)
    if value < 0:
        problems["value"] = "a timestamp must not be before 1970"
        return None
    return value


def parse_request(data: Mapping[str, Any]) -> RewindRequest:
    """A rewind request from JSON or form data; InvalidRequest naming every bad field."""
    problems: dict[str, str] = {}
    to = str(data.get("to") or "").strip()
    if to not in KINDS:
        problems["to"] = f"`to` must be one of {', '.join(KINDS)}"
    raw = data.get("value")
    value: int | str | None = None
    if to == "timestamp":
        value = _timestamp(raw, problems)
    elif to == "offset":
        value = _int(raw, "value", problems, "the offset")
        if value is not None and value < 0:
            problems["value"] = "an offset is 0 or more"
    elif to == "shift":
        value = _int(raw, "value", problems, "the shift")
        if value is not None and abs(value) > MAX_SHIFT:
            problems["value"] = "the shift is too large"
    elif to == "group":
        value = str(raw or "").strip()
        if not value:
            problems["value"] = "name the group whose offsets to copy"
        elif len(value) > GROUP_ID_MAX:
            problems["value"] = f"a group id is at most {GROUP_ID_MAX} characters"
    topic = str(data.get("topic") or "").strip() or None
    partitions: tuple[int, ...] | None = None
    raw_partitions = data.get("partitions")
    if isinstance(raw_partitions, str):
        raw_partitions = [p for p in raw_partitions.replace(",", " ").split() if p]
    if raw_partitions not in (None, [], ()):
        if not isinstance(raw_partitions, list | tuple):
            problems["partitions"] = "partitions is a list of partition numbers"
        else:
            numbers = [_int(p, "partitions", problems, "a partition") for p in raw_partitions]
            if "partitions" not in problems:
                partitions = tuple(sorted({n for n in numbers if n is not None}))
                if any(n < 0 for n in partitions):
                    problems["partitions"] = "partition numbers are 0 or more"
        if topic is None and "partitions" not in problems:
            problems["partitions"] = "choosing partitions needs a topic"
    dry_run = data.get("dry_run", True)
    if isinstance(dry_run, str):
        dry_run = dry_run.strip().lower() not in ("0", "false", "no", "off")
    if problems:
        raise InvalidRequest("Invalid rewind: " + "; ".join(f"{k}: {v}" for k, v in problems.items()), fields=problems)
    return RewindRequest(to=to, value=value, topic=topic, partitions=partitions, dry_run=bool(dry_run))


def _ago(ms: int, now_ms: int) -> str:
    seconds = abs(now_ms - ms) // 1000
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            n = seconds // size
            amount = f"{n} {unit}{'s' if n != 1 else ''}"
            break
    else:
        amount = f"{seconds} s"
    return f"{amount} ago" if ms <= now_ms else f"in {amount}"


def describe_target(req: RewindRequest, *, now_ms: int | None = None) -> str:
    """Where the rewind moves the group, as a person says it: a time in UTC and how long ago."""
    if req.to == "earliest":
        return "the earliest offset still stored"
    if req.to == "latest":
        return "the end of the log (latest)"
    if req.to == "timestamp" and isinstance(req.value, int):
        now = now_ms if now_ms is not None else int(datetime.now(UTC).timestamp() * 1000)
        when = datetime.fromtimestamp(req.value / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"the first event at or after {when} ({_ago(req.value, now)})"
    if req.to == "offset":
        return f"offset {req.value:,}" if isinstance(req.value, int) else "an offset"
    if req.to == "shift" and isinstance(req.value, int):
        return f"{abs(req.value):,} events {'back' if req.value < 0 else 'forward'}"
    return f"the committed offsets of group {req.value}"


@dataclass(frozen=True)
class RewindRow:
    topic: str
    partition: int
    current: int | None  # the committed offset; None: none committed
    new: int | None  # None: this partition is left as it is
    low: int
    high: int
    note: str = ""

    deleted: int = 0  # offsets the rewind asked for that retention (or delete-records) deleted first

    @property
    def _from(self) -> int | None:
        # A committed offset below the log start reads on from the log start: what lies between is gone.
        return None if self.current is None else max(self.current, self.low)

    @property
    def re_consumed(self) -> int | None:
        """Events the group will consume again (moved back)."""
        if self._from is None or self.new is None:
            return None
        return max(0, self._from - self.new)

    @property
    def skipped(self) -> int | None:
        """Events the group will never consume (moved forward)."""
        if self._from is None or self.new is None:
            return None
        return max(0, self.new - self._from)

    @property
    def lag_after(self) -> int | None:
        return None if self.new is None else max(0, self.high - self.new)

    def as_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "current": self.current,
            "new": self.new,
            "low": self.low,
            "high": self.high,
            "re_consumed": self.re_consumed,
            "skipped": self.skipped,
            "lag_after": self.lag_after,
            "deleted": self.deleted,
            "note": self.note,
        }


@dataclass(frozen=True)
class RewindPlan:
    cluster: str
    group: str
    request: RewindRequest
    description: GroupDescription
    rows: list[RewindRow]
    warnings: list[str] = field(default_factory=list)

    @property
    def target_text(self) -> str:
        return describe_target(self.request)

    @property
    def active_reason(self) -> str:
        """Why Apply cannot succeed now (the group has consumers), or ""; Apply checks again anyway."""
        description = self.description
        members = len(description.members)
        if not members and description.state not in ACTIVE_STATES:
            return ""
        who = f"{members} active member{'s' if members != 1 else ''}" if members else f"state {description.state}"
        return f"the group is active ({who}): stop its consumers, then preview again to apply"

    @property
    def changes(self) -> dict[Partition, int]:
        return {(r.topic, r.partition): r.new for r in self.rows if r.new is not None}

    @property
    def re_consumed(self) -> int:
        return sum(r.re_consumed or 0 for r in self.rows)

    @property
    def skipped(self) -> int:
        return sum(r.skipped or 0 for r in self.rows)

    @property
    def deleted(self) -> int:
        return sum(r.deleted for r in self.rows)

    def offsets(self, which: str) -> dict[str, dict[str, int | None]]:
        """Current or new offsets as {topic: {partition: offset}}, for the audit log."""
        result: dict[str, dict[str, int | None]] = {}
        for r in self.rows:
            result.setdefault(r.topic, {})[str(r.partition)] = r.current if which == "current" else r.new
        return result

    def as_dict(self, *, applied: bool = False) -> dict[str, Any]:
        req = self.request
        return {
            "group": self.group,
            "to": req.to,
            "value": req.value,
            "topic": req.topic,
            "partitions": list(req.partitions) if req.partitions is not None else None,
            "dry_run": req.dry_run,
            "applied": applied,
            "target": self.target_text,
            "active": bool(self.active_reason),
            "re_consumed": self.re_consumed,
            "skipped": self.skipped,
            "deleted": self.deleted,
            "rows": [r.as_dict() for r in self.rows],
            "warnings": self.warnings,
        }


def _targets(
    cluster: str,
    group: str,
    req: RewindRequest,
    offsets: Mapping[Partition, int],
    topic_visible: Callable[[str], bool] | None = None,
) -> list[Partition]:
    if req.topic is not None:
        ids = [p.id for p in describe_topic(cluster, req.topic).partitions]
        if req.partitions is None:
            return [(req.topic, p) for p in ids]
        unknown = [p for p in req.partitions if p not in ids]
        if unknown:
            message = (
                f"topic `{req.topic}` has partitions 0-{len(ids) - 1}; no partition {', '.join(map(str, unknown))}"
            )
            raise InvalidRequest(message, fields={"partitions": message})
        return [(req.topic, p) for p in req.partitions]
    # "Every topic" is every topic the user may see: the others are neither shown nor moved.
    topics = sorted({t for t, _ in offsets if topic_visible is None or topic_visible(t)})
    if not topics:
        message = f"group `{group}` has no committed offsets; name the topic to rewind"
        raise InvalidRequest(message, fields={"topic": message})
    known = topic_partitions(cluster, topics, [])
    return sorted({(t, p) for t, ids in known.items() for p in ids})


def _other_group(cluster: str, group: str, other: str) -> dict[Partition, int]:
    if other == group:
        raise InvalidRequest("copy offsets from another group, not from itself", fields={"value": "the same group"})
    try:
        require_group(cluster, other)
    except GroupNotFound as exc:
        raise InvalidRequest(exc.message, fields={"value": exc.message}) from exc
    return committed_offsets(cluster, [other]).get(other, {})


def plan_rewind(
    cluster: str,
    group: str,
    req: RewindRequest,
    *,
    found: tuple[GroupDescription, dict[Partition, int]] | None = None,
    topic_visible: Callable[[str], bool] | None = None,
) -> RewindPlan:
    """Current → new offset per partition; changes nothing. `found`: require_group's answer;
    with `topic_visible`, a rewind of every topic covers the visible ones only (the caller
    refuses a hidden topic named in the request)."""
    description, offsets = found or require_group(cluster, group)
    targets = _targets(cluster, group, req, offsets, topic_visible)
    warnings: list[str] = []
    marks = end_offsets(cluster, targets, warnings)
    asked: dict[Partition, int] = {}
    if req.to == "timestamp":
        assert isinstance(req.value, int)
        asked = offsets_for_time(cluster, targets, req.value)
    elif req.to == "group":
        asked = _other_group(cluster, group, str(req.value))
    rows = []
    for tp in targets:
        mark = marks.get(tp)
        if mark is None:
            continue
        current = offsets.get(tp)
        wanted, note = _wanted(req, current, mark.low, mark.high, asked.get(tp))
        new, deleted = wanted, 0
        notes = [note] if note else []
        if wanted is not None and wanted < mark.low:
            # Offsets from 0 up to the log start existed once: the rest of the way is clamping.
            new, deleted = mark.low, mark.low - max(wanted, 0)
            if deleted:
                notes.append(
                    f"offsets {max(wanted, 0):,} to {mark.low - 1:,} ({deleted:,}) were deleted by retention or "
                    f"delete-records: the group resumes at the log start, {mark.low:,}"
                )
            else:
                notes.append(f"{wanted:,} is before the log's start ({mark.low:,}): clamped to the earliest offset")
        elif wanted is not None and wanted > mark.high:
            new = mark.high
            notes.append(f"{wanted:,} is past the log's end ({mark.high:,}): clamped to the latest offset")
        elif req.to == "timestamp" and wanted == mark.low and mark.low > 0:
            notes.append(
                f"the log starts at offset {mark.low:,}: older events were deleted by retention, and those of that "
                "time among them are gone"
            )
        if current is not None and current < mark.low:
            notes.append(
                f"the committed offset {current:,} is below the log start {mark.low:,}: {mark.low - current:,} events "
                "were deleted before the group read them"
            )
        rows.append(RewindRow(tp[0], tp[1], current, new, mark.low, mark.high, "; ".join(notes), deleted))
    return RewindPlan(cluster, group, req, description, rows, warnings)


def _wanted(req: RewindRequest, current: int | None, low: int, high: int, found: int | None) -> tuple[int | None, str]:
    """(offset asked for before clamping, note); None leaves the partition as it is."""
    if req.to == "earliest":
        return low, ""
    if req.to == "latest":
        return high, ""
    if req.to == "offset":
        assert isinstance(req.value, int)
        return req.value, ""
    if req.to == "timestamp":
        if found is None or found < 0:
            return high, "no event at or after that time: moved to the end"
        return found, ""
    if req.to == "shift":
        assert isinstance(req.value, int)
        if current is None:
            return None, "no committed offset to shift from: left as it is"
        return current + req.value, ""
    # group
    if found is None:
        return None, "the other group has no committed offset here: left as it is"
    return found, ""
