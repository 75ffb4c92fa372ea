"""Where a page of events starts: the partitions read, their watermarks, and a position per partition.

A position is a boundary in each partition: offsets below it are "before", offsets at or
above it "after". Reading oldest-first takes events after the boundary in ascending
offsets; reading newest-first takes events before it in descending offsets. A page read
between two boundaries gives the next and the previous page exactly: they are the opaque
cursors (base64url JSON) the API and the page hand out, checked strictly on the way back in.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from backbone_admin.kafka import InvalidRequest
from backbone_admin.kafka.groups import committed_offsets
from backbone_admin.kafka.offsets import offsets_for_time, watermarks
from backbone_admin.kafka.topics import describe_topic
from backbone_admin.kafka.types import Watermarks

Order = Literal["newest", "oldest"]  # how a page lists its events
Read = Literal["asc", "desc"]  # which side of the boundary a page is read from
STARTS = ("newest", "oldest", "offset", "timestamp", "group")
ORDERS: tuple[Order, ...] = ("newest", "oldest")
CURSOR_VERSION = 1
MAX_CURSOR_LENGTH = 64 * 1024
MAX_OFFSET = 2**63 - 1
# Timestamps the console accepts: the epoch up to the year 9999, in ms.
MAX_TIMESTAMP = 253402300799999


@dataclass(frozen=True)
class Selection:
    """The partitions one request reads and their watermarks at the time of the request."""

    topic: str
    partition_count: int
    marks: dict[int, Watermarks]

    @property
    def partitions(self) -> list[int]:
        return sorted(self.marks)


@dataclass(frozen=True)
class Cursor:
    order: Order
    read: Read
    positions: dict[int, int]

    def encode(self) -> str:
        positions = {str(p): o for p, o in self.positions.items()}
        body = {"v": CURSOR_VERSION, "o": self.order, "r": self.read, "p": positions}
        raw = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _bad_cursor(reason: str) -> InvalidRequest:
    return InvalidRequest(f"cursor is not valid: {reason}", fields={"cursor": reason})


def decode_cursor(text: str) -> Cursor:
    """The cursor a previous answer handed out; anything else is a 400 naming what is wrong."""
    if len(text) > MAX_CURSOR_LENGTH:
        raise _bad_cursor(f"longer than {MAX_CURSOR_LENGTH} characters")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        body = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise _bad_cursor("not a cursor this console handed out") from None
    if not isinstance(body, dict) or set(body) != {"v", "o", "r", "p"}:
        raise _bad_cursor("not a cursor this console handed out")
    if body["v"] != CURSOR_VERSION:
        raise _bad_cursor("from another version of the console")
    if body["o"] not in ORDERS or body["r"] not in ("asc", "desc"):
        raise _bad_cursor("unknown order or direction")
    positions = body["p"]
    if not isinstance(positions, dict) or not positions:
        raise _bad_cursor("it names no partition")
    parsed: dict[int, int] = {}
    for key, offset in positions.items():
        if not (key.isascii() and key.isdigit() and len(key) <= 9 and str(int(key)) == key):
            raise _bad_cursor(f"partition {key!r} is not a partition number")
        if type(offset) is not int or not 0 <= offset <= MAX_OFFSET:
            raise _bad_cursor(f"the position in partition {key} is not an offset")
        parsed[int(key)] = offset
    return Cursor(order=body["o"], read=body["r"], positions=parsed)


def select_partitions(
    cluster: str, topic: str, partitions: list[int] | None, *, choose: Callable[[int], list[int]] | None = None
) -> Selection:
    """The topic's partitions (all, those named, or those `choose(count)` picks) with their watermarks.

    TopicNotFound (404) for an unknown topic; a partition it does not have is a 400.
    """
    meta = describe_topic(cluster, topic)
    count = len(meta.partitions)
    if partitions is None and choose is not None and count:
        partitions = choose(count)
    if partitions is None:
        wanted = [p.id for p in meta.partitions]
    else:
        missing = [p for p in partitions if not 0 <= p < count]
        if missing:
            raise InvalidRequest(
                f"partition {missing[0]} does not exist: `{topic}` has partitions 0 to {count - 1}",
                fields={"partition": f"between 0 and {count - 1}"},
            )
        wanted = sorted(set(partitions))
    marks = watermarks(cluster, [(topic, p) for p in wanted])
    return Selection(topic=topic, partition_count=count, marks={p: marks[(topic, p)] for p in wanted})


def _clamp(selection: Selection, positions: Mapping[int, int]) -> dict[int, int]:
    """Positions inside each partition's watermarks: Kafka resets a fetch outside them to the start."""
    out = {}
    for p, offset in positions.items():
        mark = selection.marks[p]
        out[p] = min(max(offset, mark.low), max(mark.low, mark.high))
    return out


def check_cursor(selection: Selection, cursor: Cursor) -> dict[int, int]:
    if set(cursor.positions) != set(selection.marks):
        raise _bad_cursor("it belongs to other partitions than this request reads")
    return _clamp(selection, cursor.positions)


@dataclass(frozen=True)
class Start:
    """The first page's boundary and which side of it is read; notes say how it was found."""

    read: Read
    positions: dict[int, int]
    notes: tuple[str, ...] = ()


def start_positions(
    cluster: str,
    selection: Selection,
    *,
    start: str,
    order: Order,
    offset: int | None = None,
    timestamp: int | None = None,
    group: str | None = None,
) -> Start:
    """The boundary for a start (newest, oldest, offset, timestamp, group); inclusive in both orders.

    Newest-first from an offset or a time lists that event and the ones before it; oldest-first
    lists it and the ones after. A group's committed offset is the next event it will read.
    """
    read: Read = "desc" if order == "newest" else "asc"
    marks = selection.marks
    notes: list[str] = []
    # The newest events are read backwards from the end, the oldest forwards from the start,
    # whichever order the page lists them in.
    if start == "newest":
        return Start("desc", {p: m.high for p, m in marks.items()})
    if start == "oldest":
        return Start("asc", {p: m.low for p, m in marks.items()})
    if start == "offset":
        assert offset is not None and len(marks) == 1
        [(p, mark)] = marks.items()
        if not mark.low <= offset <= mark.high:
            held = f"offsets {mark.low} to {mark.high - 1}" if mark.high > mark.low else "no events"
            raise InvalidRequest(
                f"offset {offset} is outside partition {p}, which holds {held}",
                fields={"offset": f"between {mark.low} and {mark.high}"},
            )
        return Start(read, _clamp(selection, {p: offset + 1 if read == "desc" else offset}))
    if start == "timestamp":
        assert timestamp is not None
        # Newest-first includes events at the instant itself: its boundary is the first event after it.
        at = timestamp + 1 if read == "desc" else timestamp
        found = offsets_for_time(cluster, [(selection.topic, p) for p in marks], at)
        positions = {p: found[(selection.topic, p)] for p in marks}
        return Start(read, _clamp(selection, {p: o if o >= 0 else marks[p].high for p, o in positions.items()}))
    if start == "group":
        assert group
        committed = committed_offsets(cluster, [group]).get(group, {})
        positions = {}
        for p, mark in marks.items():
            got = committed.get((selection.topic, p))
            if got is None:
                notes.append(f"group `{group}` has no committed offset in partition {p}: read from its oldest event")
                positions[p] = mark.low
            else:
                positions[p] = got
        if not committed:
            raise InvalidRequest(
                f"group `{group}` has no committed offset on `{selection.topic}`",
                fields={"group": "no committed offset on this topic"},
            )
        return Start(read, _clamp(selection, positions), tuple(notes))
    raise InvalidRequest(f"unknown start {start!r}", fields={"start": f"one of {', '.join(STARTS)}"})
