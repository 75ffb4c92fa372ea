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
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from backbone_admin.kafka.records import Reader, Record
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

    def _next_round(self) -> tuple[dict[int, tuple[int, int]], dict[int, list[Record]]] | None:
        """The next round's window per partition still being read, and the records read in each;
        None when every partition has stopped (or the budget, the time or a cancel stops them)."""
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
        began = time.monotonic()
        collected = self._read_windows(windows)
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
                return
            if queue:
                heapq.heappush(heap, (key(queue[-1]), p))
            elif not finish(p) and self.exact:
                return

    def _pace(self, windows: dict[int, tuple[int, int]], collected: dict[int, list[Record]], took: float) -> None:
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

    def _read_windows(self, windows: dict[int, tuple[int, int]]) -> dict[int, list[Record]] | None:
        """Each partition's records in [start, end); None when time ran out or the scan was cancelled."""
        collected: dict[int, list[Record]] = {p: [] for p in windows}
        pending = {p for p, (start, end) in windows.items() if start < end}
        if not pending:
            return collected
        self._assign({p: windows[p][0] for p in pending})
        wasted = 0
        while pending:
            reason = self._out_of_time()
            if reason:
                self.stop_all(reason)
                return None
            wanted = sum(windows[p][1] - max(windows[p][0], self.reader.positions.get(p, 0)) for p in pending)
            for record in self.reader.read(min(self.batch, max(1, wanted)), POLL_WAIT):
                p = record.partition
                start, end = windows.get(p, (0, 0))
                if p not in pending or record.offset >= end:
                    pending.discard(p)
                    wasted += 1
                    continue
                if record.offset < start:
                    continue
                collected[p].append(record)
                if record.offset >= end - 1:
                    pending.discard(p)
            pending -= self.reader.at_end
            # Partitions whose window is complete are still fetched; once that costs more than
            # what is left to read, assign only the pending ones (which drops what was prefetched).
            if pending and wasted > max(MIN_WINDOW, wanted):
                self._assign({p: self.reader.positions.get(p, windows[p][0]) for p in pending})
                wasted = 0
        return collected


def _desc_key(record: Record) -> tuple[int, int, int]:
    return (-record.timestamp, -record.partition, -record.offset)


def _default_window(part: PartitionScan) -> int:
    return FIRST_WINDOW


def merge_key(record: Record) -> tuple[int, int, int]:
    """How pages merge partitions: by timestamp, then partition, then offset."""
    return (record.timestamp, record.partition, record.offset)
