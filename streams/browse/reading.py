"""Reading a topic's partitions from a boundary, forwards or backwards, within a budget.

`Scan.records()` yields records one at a time, merged across partitions by timestamp (then
partition, offset), each partition's own records in offset order (ascending forwards,
descending backwards). Pages (`exact`) read in rounds of windows, [position, position + need)
forwards and [position - need, position) backwards — Kafka only reads forwards — and merge
exactly: a round stops where a partition's window runs out before its end of the log, and
what the others read beyond is read again. Offsets may be missing (compaction, transaction
markers), so a window can hold fewer records than its size: the next one reaches further,
until enough were found or a watermark is reached — offset arithmetic never stands in for a
count. Scans read forwards in one stream of large batches, and backwards in rounds whose
windows grow while the time left allows.

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
from collections import deque
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
# Matches a search holds back while a lagging partition has not been read up to their time;
# beyond this it hands them out anyway.
LOOSE_MATCHES = 5_000
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
        # Record.size, without its generator for the common record without headers.
        size = len(record.key or b"") + len(record.value or b"")
        if record.headers:
            size += sum(len(k.encode()) + len(v or b"") for k, v in record.headers)
        part.scanned += 1
        part.bytes += size
        self.events += 1
        self.bytes += size

    # -- searches: records filtered as they are read, matches merged ---------------------------

    def find(self, matcher: Callable[[Record], Any | None], limit: int) -> Iterator[tuple[Record, Any]]:
        """(record, what `matcher` returned) for the first `limit` matches, merged across partitions.

        Records are filtered as they are read — in one stream of large batches forwards, in rounds
        of windows backwards — and only the matches are merged: a match is handed out once every
        other partition still being read has been read past its time, so pages of matches come in
        time order. Where the page fills, each partition continues at its first match not handed
        out (or where its reading stopped); a budget, a cancel or the end hands out what was found.
        """
        if self.budget.deadline == 0.0:
            self.budget.start()
        pending: dict[int, deque[tuple[Record, Any]]] = {p: deque() for p in self.partitions}
        # Per partition, the time up to which it has been read (forwards) or back to which (backwards).
        frontier: dict[int, int] = {}
        try:
            reading = self._find_forward if self.read == "asc" else self._find_backward
            yield from self._merge_matches(reading(matcher, pending, frontier), pending, frontier, limit)
        finally:
            self.elapsed = time.monotonic() - self.started

    def _merge_matches(
        self,
        batches: Iterator[None],
        pending: dict[int, deque[tuple[Record, Any]]],
        frontier: dict[int, int],
        limit: int,
    ) -> Iterator[tuple[Record, Any]]:
        asc = self.read == "asc"
        sign = 1 if asc else -1
        heap: list[tuple[tuple[int, int, int], int]] = []
        in_heap: set[int] = set()
        emitted = 0
        finished = False
        while not finished:
            finished = next(batches, True) is True  # each step reads (and filters) one batch or round
            for p, queue in pending.items():
                if queue and p not in in_heap:
                    record = queue[0][0]
                    heapq.heappush(heap, ((sign * record.timestamp, sign * p, sign * record.offset), p))
                    in_heap.add(p)
            # Partitions still being read bound what may be handed out: nothing they have not read yet
            # may come before it.
            reading = [frontier.get(p) for p, part in self.partitions.items() if part.stopped is None]
            bound = (
                None
                if finished or self.halted or not reading
                else min(sign * (f if f is not None else -sign * 2**62) for f in reading)
            )
            waiting = sum(len(q) for q in pending.values())
            while heap and emitted < limit:
                key, p = heap[0]
                if bound is not None and key[0] > bound and waiting < LOOSE_MATCHES:
                    break
                heapq.heappop(heap)
                in_heap.discard(p)
                record, event = pending[p].popleft()
                waiting -= 1
                if pending[p]:
                    nxt = pending[p][0][0]
                    heapq.heappush(heap, ((sign * nxt.timestamp, sign * p, sign * nxt.offset), p))
                    in_heap.add(p)
                self.partitions[p].matched += 1
                emitted += 1
                yield record, event
            if emitted >= limit:
                self.stop_all(LIMIT)
                break
        # Matches found but not handed out are found again by the next page: each partition
        # continues at its first one.
        for p, queue in pending.items():
            if queue:
                part = self.partitions[p]
                part.position = queue[0][0].offset if asc else queue[0][0].offset + 1
                part.stopped = LIMIT if emitted >= limit else part.stopped

    def _find_forward(
        self,
        matcher: Callable[[Record], Any | None],
        pending: dict[int, deque[tuple[Record, Any]]],
        frontier: dict[int, int],
    ) -> Iterator[None]:
        """Read oldest first, filter each record, keep the matches in `pending`; one step per batch."""
        partitions = self.partitions
        active = {p for p, part in partitions.items() if part.stopped is None}
        if not active:
            return
        self._assign({p: partitions[p].position for p in active})
        max_events, max_bytes = self._max_events, self._max_bytes
        count = 0
        while active:
            reason = self._out_of_time() or self._spent()
            if reason:
                self.stop_all(reason)
                return
            reassign = False
            for record in self.reader.read(self.batch, POLL_WAIT):
                p = record.partition
                part = partitions.get(p)
                if part is None or part.stopped is not None:
                    reassign = True
                    continue
                offset = record.offset
                if offset < part.position:
                    continue
                if offset >= part.high:
                    part.stop(END)  # events written after the request began wait for the next page
                    reassign = True
                    continue
                count += 1
                if count & 255 == 255:
                    reason = self._out_of_time()
                    if reason:
                        self.stop_all(reason)
                        return
                    if self.on_progress is not None and count & 4095 == 4095:
                        self.on_progress(self)
                if self.events >= max_events or self.bytes >= max_bytes:
                    self.stop_all(self._spent() or EVENTS_BUDGET)
                    return
                # The record's size, inline: this loop runs for every event a search reads.
                size = len(record.key or b"") + len(record.value or b"")
                if record.headers:
                    size += sum(len(k.encode()) + len(v or b"") for k, v in record.headers)
                part.position = offset + 1
                part.scanned += 1
                part.bytes += size
                self.events += 1
                self.bytes += size
                frontier[p] = record.timestamp
                found = matcher(record)
                if found is not None:
                    pending[p].append((record, found))
                if offset >= part.high - 1:
                    part.stop(END)
            for p in self.reader.at_end & active:
                part = partitions[p]
                if part.stopped is None:
                    part.position = max(part.position, part.high)
                    part.stop(END)
            still = {p for p in active if partitions[p].stopped is None}
            if reassign and still and still != active:
                self._assign({p: partitions[p].position for p in still})
            active = still
            yield None

    def _find_backward(
        self,
        matcher: Callable[[Record], Any | None],
        pending: dict[int, deque[tuple[Record, Any]]],
        frontier: dict[int, int],
    ) -> Iterator[None]:
        """Read newest first in rounds of windows, filter each record, keep the matches; one step per round."""
        partitions = self.partitions
        count = 0
        while True:
            active = self.active()
            if not active:
                return
            reason = self._out_of_time() or self._spent()
            if reason:
                self.stop_all(reason)
                return
            share = None
            if self.budget.max_events is not None:
                share = max(1, (self.budget.max_events - self.events) // len(active))
            windows: dict[int, tuple[int, int]] = {}
            for part in active:
                size = max(1, part.window or self.window(part))
                windows[part.partition] = (max(part.low, part.position - min(size, share or size)), part.position)
            began = time.monotonic()
            collected = self._read_windows(windows)
            if collected is None:
                return
            self._pace(windows, collected, time.monotonic() - began)
            for p, records in collected.items():
                part = partitions[p]
                for record in reversed(records):
                    count += 1
                    if count & 255 == 255:
                        reason = self._out_of_time()
                        if reason:
                            self.stop_all(reason)
                            return
                        if self.on_progress is not None and count & 4095 == 4095:
                            self.on_progress(self)
                    if self.events >= self._max_events or self.bytes >= self._max_bytes:
                        self.stop_all(self._spent() or EVENTS_BUDGET)
                        return
                    self._take(part, record, record.offset)
                    found = matcher(record)
                    if found is not None:
                        pending[p].append((record, found))
                start = windows[p][0]
                part.position = start  # the whole window is done, missing offsets included
                if records:
                    frontier[p] = records[0].timestamp
                if start <= part.low:
                    part.stop(END)
            yield None

    # -- backwards: windows below each position, round by round --------------------------------

    def _rounds(self) -> Iterator[Record]:
        """Rounds of windows: backwards always, forwards for pages (`exact`), whose windows hold
        just what the page still needs from each partition."""
        asc = self.read == "asc"
        while True:
            active = self.active()
            if not active:
                return
            reason = self._out_of_time() or self._spent()
            if reason:
                self.stop_all(reason)
                return
            share = None
            if self.budget.max_events is not None:
                share = max(1, (self.budget.max_events - self.events) // len(active))
            windows: dict[int, tuple[int, int]] = {}
            for part in active:
                size = max(1, part.window or self.window(part))
                if share is not None:
                    size = min(size, share)
                if asc:
                    windows[part.partition] = (part.position, min(part.high, part.position + size))
                else:
                    windows[part.partition] = (max(part.low, part.position - size), part.position)
            began = time.monotonic()
            collected = self._read_windows(windows)
            if collected is None:
                return
            self._pace(windows, collected, time.monotonic() - began)
            yield from self._hand_out(windows, collected)

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
