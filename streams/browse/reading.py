"""Reading a topic's partitions from a boundary, forwards or backwards, within a budget.

`Scan.records()` yields records one at a time, merged across partitions by timestamp (then
partition, offset), each partition's own records in offset order (ascending forwards,
descending backwards). It reads in rounds of windows, [position, position + size) forwards
and [position - size, position) backwards — Kafka only reads forwards — and merges exactly
(`exact`, pages): a round stops where a partition's window runs out before its end of the
log, and what the others read beyond is read again. Offsets may be missing (compaction,
transaction markers), so a window can hold fewer records than its size: the next one
reaches further, until enough were found or a watermark is reached — offset arithmetic
never stands in for a count. Pages size the windows to what they still need; scans
(streams.browse.searching) grow them while the time left allows.

A yielded record counts as read: its partition's position moves past it, so stopping at any
record (page full, budget spent, cancelled) leaves positions from which the next read
continues exactly. Budgets: events and bytes read, seconds, a cancel flag; each partition
says how far it got and why it stopped. A round cut short by the time budget or a cancel is
not handed out: its partitions keep their positions.

The last offsets of a partition may hold nothing readable: a commit marker, an aborted
transaction (this reader reads committed). `newer_boundary()` moves each partition's newer
boundary over them to the end of the log, so that the page that ends at a topic's last event
offers no newer page: from what the scan read (an event at or past the boundary, or where a
read that passed the boundary met the end of the log), else by reading on from the boundary
briefly. Where the end is met before the high watermark, a transaction is still open: its
events come once it commits, and the boundary stays before them.
"""

from __future__ import annotations

import heapq
import operator
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from backbone_admin.kafka.records import Reader, Record, message_offset, message_partition
from streams.browse.positions import Read, Selection

# Records asked of the consumer at once when scanning; large batches keep Python's share small.
BATCH = 5000
# Backwards windows per partition and round when scanning: the first round's, the least and the
# most; in between they grow as long as a round fits in half of the time left.
FIRST_WINDOW = 2000
MIN_WINDOW = 500
WINDOW = 50000
# Seconds one consumer call waits for records before the loop looks at its budget again.
POLL_WAIT = 0.05
# Reading on from a page's newer boundary to learn whether anything readable is left: at most this
# long (the end of a partition takes one fetch wait, fetch.wait.max.ms), records per consumer call.
PROBE_SECONDS = 1.0
PROBE_BATCH = 100

END = "end"
LIMIT = "limit"
EVENTS_BUDGET = "events budget"
BYTES_BUDGET = "bytes budget"
TIME_BUDGET = "time budget"
CANCELLED = "cancelled"


@dataclass
class Budget:
    max_events: int | None = None
    max_bytes: int | None = None
    seconds: float = 5.0
    cancel: threading.Event | None = None
    deadline: float = field(init=False, default=0.0)

    def start(self) -> None:
        self.deadline = time.monotonic() + self.seconds

    def as_dict(self) -> dict[str, Any]:
        return {"max_events": self.max_events, "max_bytes": self.max_bytes, "max_seconds": self.seconds}


@dataclass
class PartitionScan:
    partition: int
    low: int
    high: int
    start: int
    position: int
    read: Read
    scanned: int = 0
    bytes: int = 0
    matched: int = 0
    stopped: str | None = None
    window: int = 0  # the next backwards window's size (grows where offsets are missing)

    @property
    def total(self) -> int:
        """Offsets between the start and the end this partition is read towards."""
        return max(0, self.high - self.start) if self.read == "asc" else max(0, self.start - self.low)

    @property
    def covered(self) -> int:
        return max(0, self.position - self.start) if self.read == "asc" else max(0, self.start - self.position)

    def stop(self, reason: str) -> None:
        if self.stopped is None:
            self.stopped = reason

    def summary(self) -> str:
        reason = self.stopped or "not finished"
        return f"scanned {self.scanned:,} of {self.total:,} events in partition {self.partition}; stopped: {reason}"

    def report(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "low": self.low,
            "high": self.high,
            "direction": self.read,
            "start": self.start,
            "position": self.position,
            "scanned": self.scanned,
            "bytes": self.bytes,
            "total": self.total,
            "covered": self.covered,
            "matched": self.matched,
            "stopped": self.stopped,
            "summary": self.summary(),
        }


class Scan:
    """One pass over a selection's partitions from their positions; see the module docstring."""

    def __init__(
        self,
        reader: Reader,
        selection: Selection,
        positions: dict[int, int],
        read: Read,
        budget: Budget,
        *,
        window: Callable[[PartitionScan], int] | None = None,
        batch: int = BATCH,
        exact: bool = False,
    ) -> None:
        self.reader = reader
        self.topic = selection.topic
        self.read = read
        self.budget = budget
        self.batch = batch
        self.window = window or _default_window
        # Pages merge partitions exactly (rounds of windows, re-reading what a round read too far);
        # scans read forwards in one stream and hand out whole backwards rounds.
        self.exact = exact
        self.events = 0
        self.bytes = 0
        # The budget as plain numbers, compared once per record.
        self._max_events = budget.max_events if budget.max_events is not None else float("inf")
        self._max_bytes = budget.max_bytes if budget.max_bytes is not None else float("inf")
        self.halted = False  # every partition was stopped at once (page full, budget, cancelled)
        self.on_progress: Callable[[Scan], None] | None = None  # called now and then while searching
        self.started = time.monotonic()
        self.elapsed = 0.0
        self.partitions = {
            p: PartitionScan(p, m.low, m.high, positions[p], positions[p], read) for p, m in selection.marks.items()
        }
        for part in self.partitions.values():
            at_end = part.position >= part.high if read == "asc" else part.position <= part.low
            if at_end:
                part.stop(END)
        # What reading learnt of each partition beyond the events handed out (`newer_boundary`): the
        # highest offset of an event read, and (from, end) where a read from `from` met the end of the log.
        self.seen: dict[int, int] = {}
        self.ends: dict[int, tuple[int, int]] = {}
        self._assigned: dict[int, int] = {}
        # Partitions whose end the reader met with events before it this scan did not take (a search
        # stopped inside a batch): no end is noted for them.
        self.unread_ends: set[int] = set()
        self._cut: dict[int, int] = {}  # this round: where a window's read met the end of the log
        # Reading backwards, the first round reads on past each start to the next event (or the end).
        self._look_past = {p for p, s in self.partitions.items() if read == "desc" and s.start < s.high}

    # -- stopping ---------------------------------------------------------------------------

    def active(self) -> list[PartitionScan]:
        return [s for s in self.partitions.values() if s.stopped is None]

    def stop_all(self, reason: str) -> None:
        self.halted = True
        for part in self.active():
            part.stop(reason)

    def _spent(self) -> str | None:
        """Why the budget allows no more reading, if it does not."""
        budget = self.budget
        if budget.max_events is not None and self.events >= budget.max_events:
            return EVENTS_BUDGET
        if budget.max_bytes is not None and self.bytes >= budget.max_bytes:
            return BYTES_BUDGET
        return None

    def _out_of_time(self) -> str | None:
        if self.budget.cancel is not None and self.budget.cancel.is_set():
            return CANCELLED
        if time.monotonic() >= self.budget.deadline:
            return TIME_BUDGET
        return None

    def report(self) -> dict[str, Any]:
        parts = [self.partitions[p].report() for p in sorted(self.partitions)]
        return {
            "direction": self.read,
            "scanned": self.events,
            "bytes": self.bytes,
            "seconds": round(self.elapsed, 3),
            "budget": self.budget.as_dict(),
            "finished": all(s.stopped in (END, LIMIT) for s in self.partitions.values()),
            "partitions": parts,
        }

    # -- reading ----------------------------------------------------------------------------

    def records(self) -> Iterator[Record]:
        """The records, merged across partitions by timestamp (then partition, offset), each
        partition's own in offset order: ascending when reading forwards, descending backwards."""
        if self.budget.deadline == 0.0:
            self.budget.start()
        try:
            yield from self._rounds()
        finally:
            self.elapsed = time.monotonic() - self.started

    def _assign(self, starts: dict[int, int]) -> None:
        self.reader.assign(self.topic, starts)
        self._assigned = dict(starts)

    def _note_ends(self) -> None:
        """Where the reader met the end of a partition: every event between where it was assigned and
        there has been read (and is in `seen`), so nothing else is readable in between."""
        for p in self.reader.at_end:
            start, end = self._assigned.get(p), self.reader.positions.get(p)
            if start is None or end is None or p in self.unread_ends:
                continue
            known = self.ends.get(p)
            if known is None or start < known[0] or (start == known[0] and end > known[1]):
                self.ends[p] = (start, end)

    def _saw(self, partition: int, offset: int) -> None:
        if offset > self.seen.get(partition, -1):
            self.seen[partition] = offset

    def _stop_reason(self, count: int) -> str | None:
        """Why reading must stop now, if it must (time is looked at every 256 records)."""
        if count & 255 == 255:
            reason = self._out_of_time()
            if reason:
                return reason
        if self.events >= self._max_events or self.bytes >= self._max_bytes:
            return self._spent()
        return None

    def _take(self, part: PartitionScan, record: Record, position: int) -> None:
        part.position = position
        size = record.size
        part.scanned += 1
        part.bytes += size
        self.events += 1
        self.bytes += size

    # -- backwards: windows below each position, round by round --------------------------------

    def _rounds(self) -> Iterator[Record]:
        """Rounds of windows: backwards always, forwards for pages (`exact`), whose windows hold
        just what the page still needs from each partition."""
        while (round_ := self._next_round()) is not None:
            yield from self._hand_out(*round_)

    def _next_round(self, *, raw: bool = False) -> tuple[dict[int, tuple[int, int]], dict[int, list[Any]]] | None:
        """The next round's window per partition still being read, and the records read in each (with
        `raw`, the client's messages: a search builds records only for candidates); None when every
        partition has stopped (or the budget, the time or a cancel stops them)."""
        active = self.active()
        if not active:
            return None
        reason = self._out_of_time() or self._spent()
        if reason:
            self.stop_all(reason)
            return None
        share = None
        if self.budget.max_events is not None:
            share = max(1, (self.budget.max_events - self.events) // len(active))
        windows: dict[int, tuple[int, int]] = {}
        for part in active:
            size = max(1, part.window or self.window(part))
            if share is not None:
                size = min(size, share)
            if self.read == "asc":
                windows[part.partition] = (part.position, min(part.high, part.position + size))
            else:
                windows[part.partition] = (max(part.low, part.position - size), part.position)
        past, self._look_past = self._look_past, set()
        for p in past - set(windows):  # nothing older to read here, but something newer to know of
            windows[p] = (self.partitions[p].start, self.partitions[p].start)
        began = time.monotonic()
        collected = self._read_windows(windows, past, raw=raw)
        if collected is None:
            return None
        self._pace(windows, collected, time.monotonic() - began)
        return windows, collected

    def _hand_out(self, windows: dict[int, tuple[int, int]], collected: dict[int, list[Record]]) -> Iterator[Record]:
        """A round's records in merge order. With `exact`, the round stops where a partition's window
        runs out before its end of the log: what the other partitions read beyond is read again
        next round, so the merge never passes events that partition has not read yet."""
        asc = self.read == "asc"

        def finish(p: int) -> bool:
            """The partition's whole window is done (missing offsets included); True if at its end."""
            part = self.partitions[p]
            start, end = windows[p]
            cut = self._cut.get(p) if asc else None
            if cut is not None:
                # The read met the end of the log: there (before `high` while a transaction is open,
                # whose events come once it commits), not at the window's end.
                part.position = max(start, min(part.high, cut))
                part.stop(END)
                return True
            part.position = end if asc else start
            if (part.position >= part.high) if asc else (part.position <= part.low):
                part.stop(END)
                return True
            return False

        short = False
        for p, records in collected.items():
            if not records and self.partitions[p].stopped is None and not finish(p):
                short = True
        if short and self.exact:
            return
        # Each partition's records in the order handed out, consumed from the end of the list.
        queues = {p: (records[::-1] if asc else records) for p, records in collected.items() if records}
        key = merge_key if asc else _desc_key
        heap = [(key(queue[-1]), p) for p, queue in queues.items()]
        heapq.heapify(heap)
        count = 0
        while heap:
            _, p = heapq.heappop(heap)
            queue = queues[p]
            record = queue.pop()
            part = self.partitions[p]
            if part.stopped is not None:
                continue
            count += 1
            reason = self._stop_reason(count)
            if reason:
                self.stop_all(reason)
                return
            self._take(part, record, record.offset + 1 if asc else record.offset)
            yield record
            if self.halted or (part.stopped is not None and not self.active()):
                if not queue:
                    finish(p)  # nothing readable is left in its window: the boundary moves past it all
                return
            if queue:
                heapq.heappush(heap, (key(queue[-1]), p))
            elif not finish(p) and self.exact:
                return

    def _pace(self, windows: dict[int, tuple[int, int]], collected: dict[int, list[Any]], took: float) -> None:
        """Size the next windows: wider where offsets were missing; for scans, growing while the
        time left allows (a round cut short by the time budget is not handed out)."""
        left = max(0.0, self.budget.deadline - time.monotonic())
        for p, (start, end) in windows.items():
            part = self.partitions[p]
            span, got = end - start, len(collected[p])
            sparse = got < span // 2
            if self.window is not _default_window:
                part.window = span * 2 if sparse else 0  # pages ask for what they still need
                continue
            rate = got / took if took > 0 else float(WINDOW)
            fits = int(rate * left / 2)
            part.window = max(MIN_WINDOW, min(WINDOW, span * 4, fits))
            if sparse:
                part.window = max(part.window, span * 2)

    def _read_windows(
        self, windows: dict[int, tuple[int, int]], past: set[int] | None = None, *, raw: bool = False
    ) -> dict[int, list[Any]] | None:
        """Each partition's records in [start, end) (with `raw`, the client's messages); None when time
        ran out or the scan was cancelled. For the partitions in `past`, reading goes on to the next
        event at or after `end`, or the end of the log (`seen`, `ends`), for at most PROBE_SECONDS once
        the window itself is read."""
        past = past or set()
        collected: dict[int, list[Any]] = {p: [] for p in windows}
        read = self.reader.read_messages if raw else self.reader.read
        partition_of, offset_of = (_MESSAGE_PARTITION, _MESSAGE_OFFSET) if raw else (_PARTITION, _OFFSET)
        self._cut = {}
        pending = {p for p, (start, end) in windows.items() if start < end or p in past}
        if not pending:
            return collected
        # Partitions in `past` whose window is read: only what lies beyond is awaited.
        beyond = {p for p in past if windows[p][0] == windows[p][1]}
        beyond_until: float | None = None

        def noted() -> None:
            for p, records in collected.items():
                if records:
                    self._saw(p, offset_of(records[-1]))

        self._assign({p: windows[p][0] for p in pending})
        wasted = 0
        while pending:
            if pending <= beyond:
                beyond_until = beyond_until or time.monotonic() + PROBE_SECONDS
                if time.monotonic() >= beyond_until or self._out_of_time():
                    break  # the windows are read; what lies beyond stays unknown
            reason = self._out_of_time()
            if reason:
                self.stop_all(reason)
                noted()
                return None
            wanted = sum(windows[p][1] - max(windows[p][0], self.reader.positions.get(p, 0)) for p in pending)
            # The client hands records out in runs per partition: a run wholly inside its window (short
            # of its last offset) is taken at once, any other record by record.
            for p, records in groupby(read(min(self.batch, max(1, wanted)), POLL_WAIT), partition_of):
                run = list(records)
                start, end = windows.get(p, (0, 0))
                if p in pending and offset_of(run[0]) >= start and offset_of(run[-1]) < end - 1:
                    collected[p].extend(run)
                    continue
                for record in run:
                    offset = offset_of(record)
                    if p not in pending or offset >= end:
                        pending.discard(p)
                        wasted += 1
                        self._saw(p, offset)
                        continue
                    if offset < start:
                        continue
                    collected[p].append(record)
                    if offset >= end - 1:
                        if p in past:
                            beyond.add(p)
                        else:
                            pending.discard(p)
            if self.reader.at_end:
                self._note_ends()  # before a new assignment forgets where the reader met the ends
                for p in pending & self.reader.at_end:
                    self._cut[p] = self.reader.positions.get(p, windows[p][1])
                pending -= self.reader.at_end
            # Partitions whose window is complete are still fetched; once that costs more than
            # what is left to read, assign only the pending ones (which drops what was prefetched).
            if pending and wasted > max(MIN_WINDOW, wanted):
                self._assign({p: self.reader.positions.get(p, windows[p][0]) for p in pending})
                wasted = 0
        noted()
        return collected

    # -- the newer boundary: past what is not readable -----------------------------------------

    def newer_boundary(self) -> dict[int, int]:
        """Each partition's boundary toward newer events — where reading forwards stopped, where reading
        backwards began — moved to the end of the log where nothing readable lies in between (see the
        module docstring). Reading forwards, the partitions' positions move with it."""
        asc = self.read == "asc"
        boundary = {p: part.position if asc else part.start for p, part in self.partitions.items()}
        self._note_ends()
        unknown = set()
        for p, at in boundary.items():
            if at >= self.partitions[p].high or self.seen.get(p, -1) >= at:
                continue  # at the end already, or an event was read at or past it
            end = self._end_after(p, at)
            if end is None:
                unknown.add(p)
            else:
                boundary[p] = end
        # One partition with something left to read (or a transaction still open) makes a newer page:
        # read on only when that is not known of any.
        high = {p: part.high for p, part in self.partitions.items()}
        if unknown and all(at >= high[p] for p, at in boundary.items() if p not in unknown):
            self._probe(boundary, unknown)
        if asc:
            for p, at in boundary.items():
                part = self.partitions[p]
                if at > part.position:
                    part.position = at
                    if at >= part.high:
                        part.stop(END)
        return boundary

    def _end_after(self, partition: int, at: int) -> int | None:
        """Where readable events end after `at` (no event read at or past it), if a read from at or
        before it met the end of the log; capped at `high` (later events are for later pages)."""
        known = self.ends.get(partition)
        if known is None or known[0] > at:
            return None
        return max(at, min(self.partitions[partition].high, known[1]))

    def _probe(self, boundary: dict[int, int], unknown: set[int]) -> None:
        """Read on from these partitions' boundaries until one has an event or a transaction still open
        (there is a newer page), or each met the end of the log (its boundary moves there); one not
        answered in time keeps its boundary."""
        deadline = min(self.budget.deadline, time.monotonic() + PROBE_SECONDS)
        reader = self.reader
        if self._out_of_time():
            return
        # Where the reader stands exactly at the boundaries, what it fetched already answers: no new fetch.
        if any(
            self._assigned.get(p, boundary[p] + 1) > boundary[p] or reader.positions.get(p) != boundary[p]
            for p in unknown
        ):
            self._assign({p: boundary[p] for p in unknown})
        while unknown and not self._out_of_time() and time.monotonic() < deadline:
            for msg in reader.read_messages(PROBE_BATCH, 0) or reader.read_messages(1, POLL_WAIT):
                p: int = msg.partition()  # type: ignore[assignment]
                offset: int = msg.offset()  # type: ignore[assignment]
                self._saw(p, offset)
                if p in unknown and offset >= boundary[p]:
                    return
            self._note_ends()
            for p in list(unknown):
                end = self._end_after(p, boundary[p])
                if end is not None:
                    boundary[p] = end
                    unknown.discard(p)
                    if end < self.partitions[p].high:
                        return


# How `_read_windows` reads a record's partition and offset, or a client message's.
_PARTITION: Callable[[Any], int] = operator.attrgetter("partition")
_OFFSET: Callable[[Any], int] = operator.attrgetter("offset")
_MESSAGE_PARTITION = message_partition
_MESSAGE_OFFSET = message_offset


def _desc_key(record: Record) -> tuple[int, int, int]:
    return (-record.timestamp, -record.partition, -record.offset)


def _default_window(part: PartitionScan) -> int:
    return FIRST_WINDOW


def merge_key(record: Record) -> tuple[int, int, int]:
    """How pages merge partitions: by timestamp, then partition, then offset."""
    return (record.timestamp, record.partition, record.offset)
