"""Ranges in words: "the last N events", "the last 15 minutes", resolved to offsets per partition.

`{"last": N}` is the N most recent events of the chosen partitions together: read back from the
end of every partition at once, partitions merged by timestamp (then partition, offset) as the
message browser's "newest first" page merges them, so it is the N events that page lists first.
Each partition's share is a run of its newest events, so the range stays one offset span per
partition (a job reads offsets). `{"last_per_partition": N}` is each partition's N newest events.
Both are counted in events read, not in offsets: a transaction marker or a compacted-away offset
is never counted as an event. Both end at the log end as the job starts.

`{"ago": "15m"}` is the time that long before the request was resolved: "the last 15 minutes"
is start `{"ago": "15m"}`, end latest.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping

from backbone_admin.kafka import ClusterUnavailable, InvalidRequest
from backbone_admin.kafka.client import timeout
from backbone_admin.kafka.records import reader
from backbone_admin.kafka.types import Watermarks
from streams.browse.positions import Selection
from streams.browse.reading import LIMIT, TIME_BUDGET, Budget, PartitionScan, Scan

# Events read back to find "the last N": enough for every replay a person starts from a form; a
# larger range is a time range (one look-up per partition, no reading).
MAX_LAST = 100_000
UNITS = {"s": 1000, "m": 60_000, "min": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}
DURATION = re.compile(r"^\s*(\d{1,9})\s*(s|m|min|h|d|w)\s*$")
# At most ten years back: anything older is "earliest".
MAX_AGO_MS = 10 * 365 * 86_400_000
LAST_KINDS = ("last", "last_per_partition")


def parse_duration(value: object, name: str) -> int:
    """`"15m"`, `"1h"`, `"1d"`, `"90s"`, `"2w"` or a number of ms, as ms; InvalidRequest naming `name`."""
    ms: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        ms = value
    elif isinstance(value, str) and (match := DURATION.match(value)):
        ms = int(match.group(1)) * UNITS[match.group(2)]
    if ms is None or not 0 < ms <= MAX_AGO_MS:
        message = f'{name}: "ago" is a duration such as "15m", "1h", "1d" (or ms), more than 0 and at most 10 years'
        raise InvalidRequest(message, fields={name: message})
    return ms


def parse_count(value: object, name: str, kind: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LAST:
        message = f"{name}: {kind} is a number of events from 1 to {MAX_LAST:,}"
        raise InvalidRequest(message, fields={name: message})
    return value


def describe_duration(ms: int) -> str:
    """15 minutes, 1 hour, 2 days: how the form's presets read."""
    for size, label in ((UNITS["w"], "week"), (UNITS["d"], "day"), (UNITS["h"], "hour"), (60_000, "minute")):
        if ms >= size and ms % size == 0:
            n = ms // size
            return f"{n} {label}{'s' if n != 1 else ''}"
    return f"{ms / 1000:g} s"


def ago_to_timestamp(ms: int) -> int:
    return max(0, int(time.time() * 1000) - ms)


def last_events(
    cluster: str, topic: str, marks: Mapping[int, Watermarks], count: int, *, per_partition: bool
) -> dict[int, int]:
    """Per partition the first offset of the newest `count` events (together, or of each partition);
    the partition's end where none of them is there."""
    if per_partition and count * len(marks) > MAX_LAST:
        message = (
            f"the last {count:,} events of each of {len(marks)} partitions are more than {MAX_LAST:,} events: "
            "choose fewer, fewer partitions, or a time range"
        )
        raise InvalidRequest(message, fields={"start": message})
    selection = Selection(topic, len(marks), dict(marks))
    taken = dict.fromkeys(marks, 0)
    starts = {p: m.high for p, m in marks.items()}
    seconds = max(5.0, timeout())

    def need(part: PartitionScan) -> int:
        # Back from the end: as many as are still wanted (a partition's share of a total is not known).
        return max(1, count - (taken[part.partition] if per_partition else sum(taken.values())))

    with reader(cluster, profile="page") as r:
        scan = Scan(r, selection, dict(starts), "desc", Budget(seconds=seconds), window=need, exact=not per_partition)
        for record in scan.records():
            p = record.partition
            taken[p] += 1
            starts[p] = record.offset
            if not per_partition and sum(taken.values()) >= count:
                scan.stop_all(LIMIT)
            elif per_partition and taken[p] >= count:
                scan.partitions[p].stop(LIMIT)
    if any(s.stopped == TIME_BUDGET for s in scan.partitions.values()):
        raise ClusterUnavailable(
            f"cluster `{cluster}` did not give the last {count:,} events of `{topic}` within {seconds:g} s: "
            "try again, or choose a time range"
        )
    return starts


def as_duration(ms: int) -> str | int:
    """A duration in the API's own words ("15m", "1h", "90s"); ms when it is not whole seconds."""
    for unit in ("w", "d", "h", "m", "s"):
        if ms % UNITS[unit] == 0:
            return f"{ms // UNITS[unit]}{unit}"
    return ms
