"""Searching: a scan that filters records as it reads them and merges only the matches.

Records are filtered as they are read — forwards in one stream of large batches, backwards
in rounds of windows (streams.browse.reading) — and only the matches are merged across
partitions: a match is handed out once every other partition still being read has been
read past its time, so a page of matches comes in time order without a merge step per
record. Where the page fills, each partition continues at its first match not handed out
(or where its reading stopped); a budget, a cancel or the end hands out what was found.
"""

from __future__ import annotations

import heapq
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from backbone_admin.kafka.records import Record, headers_size, timestamp_of, to_record
from streams.browse.reading import END, EVENTS_BUDGET, LIMIT, POLL_WAIT, Scan

# Matches held back while a lagging partition has not been read up to their time; beyond
# this they are handed out anyway.
LOOSE_MATCHES = 5_000
# Bytes read between looks at the clock when no filter runs (text or key candidates pass over most
# events without one); after a filter the clock is looked at every time.
CHECK_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Candidates:
    """What a record's raw bytes must hold for the matcher to be asked at all: looked at before a
    record is built or decoded, so a search for text or a key builds records only for candidates.

    Never where masking applies (streams.browse.query `_candidates`): the bytes as written must
    not decide what a user below admin finds."""

    key: bytes | None = None  # exactly this key
    needle: bytes = b""  # these bytes somewhere in the key or the value

    def passes(self, key: bytes | None, value: bytes | None) -> bool:
        if self.key is not None and key != self.key:
            return False
        needle = self.needle
        return not needle or (value is not None and needle in value) or (key is not None and needle in key)


class SearchScan(Scan):
    """A Scan whose `find` filters as it reads (see the module docstring)."""

    def find(
        self, matcher: Callable[[Record], Any | None], limit: int, candidates: Candidates | None = None
    ) -> Iterator[tuple[Record, Any]]:
        """(record, what `matcher` returned) for the first `limit` matches, merged across partitions;
        the matcher sees only records that pass `candidates`.

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
            passes = candidates.passes if candidates is not None else None
            yield from self._merge_matches(reading(matcher, passes, pending, frontier), pending, frontier, limit)
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
        passes: Callable[[bytes | None, bytes | None], bool] | None,
        pending: dict[int, deque[tuple[Record, Any]]],
        frontier: dict[int, int],
    ) -> Iterator[None]:
        """Read oldest first, filter each record, keep the matches in `pending`; one step per batch.

        This reads the client's messages and builds a record only for a candidate: for a text or
        key search most events are counted and passed over without one (scan rate +15%).
        """
        partitions = self.partitions
        active = {p for p, part in partitions.items() if part.stopped is None}
        if not active:
            return
        self._assign({p: partitions[p].position for p in active})
        max_events, max_bytes = self._max_events, self._max_bytes
        read, topic = self.reader.read_messages, self.topic
        next_check = self.bytes + CHECK_BYTES
        while active:
            reason = self._out_of_time() or self._spent()
            if reason:
                self.stop_all(reason)
                return
            reassign = False
            # This loop runs for every event a search reads: counters live in locals and are
            # written back before anything else looks at them; a batch never exceeds the events
            # budget, so only the bytes budget is compared per event.
            events, nbytes = self.events, self.bytes
            left = max_events - events
            batch = read(int(min(self.batch, left)), POLL_WAIT)
            last: dict[int, Any] = {}  # per partition, the last message read: its time is the frontier
            try:
                for msg in batch:
                    p: int = msg.partition()  # type: ignore[assignment]
                    part = partitions.get(p)
                    if part is None or part.stopped is not None:
                        reassign = True
                        continue
                    offset: int = msg.offset()  # type: ignore[assignment]
                    if offset < part.position:
                        continue
                    if offset >= part.high:
                        part.stop(END)  # events written after the request began wait for the next page
                        reassign = True
                        continue
                    if events & 255 == 255 or nbytes >= next_check:
                        next_check = nbytes + CHECK_BYTES
                        self.events, self.bytes = events, nbytes
                        reason = self._out_of_time()
                        if reason:
                            self.stop_all(reason)
                            return
                        if self.on_progress is not None and events & 4095 == 4095:
                            self.on_progress(self)
                    if nbytes >= max_bytes:
                        self.events, self.bytes = events, nbytes
                        self.stop_all(self._spent() or EVENTS_BUDGET)
                        return
                    key, value = msg.key(), msg.value()
                    size = (len(key) if key is not None else 0) + (len(value) if value is not None else 0)
                    headers = msg.headers()
                    if headers:
                        size += headers_size(headers)  # type: ignore[arg-type]
                    part.position = offset + 1
                    part.scanned += 1
                    part.bytes += size
                    events += 1
                    nbytes += size
                    last[p] = msg
                    if offset >= part.high - 1:
                        part.stop(END)
                    if passes is not None and not passes(key, value):
                        continue
                    record = to_record(topic, msg)
                    found = matcher(record)
                    if found is not None:
                        pending[p].append((record, found))
                    # A filter may cost far more than reading (wildcards over big documents): the
                    # clock is looked at after each one, not every 256 events.
                    if (reason := self._out_of_time()) is not None:
                        self.stop_all(reason)
                        return
            finally:
                self.events, self.bytes = events, nbytes
                for p, msg in last.items():
                    frontier[p] = timestamp_of(msg)
                    self._saw(p, msg.offset())
            self._note_ends()
            for p in self.reader.at_end & active:
                part = partitions[p]
                if part.stopped is None:
                    # Where the reader met the end: before `high` while a transaction is open there,
                    # so the next page reads its events once committed.
                    part.position = max(part.position, min(part.high, self.reader.positions.get(p, part.high)))
                    part.stop(END)
            still = {p for p in active if partitions[p].stopped is None}
            if reassign and still and still != active:
                self._assign({p: partitions[p].position for p in still})
            active = still
            yield None

    def _find_backward(
        self,
        matcher: Callable[[Record], Any | None],
        passes: Callable[[bytes | None, bytes | None], bool] | None,
        pending: dict[int, deque[tuple[Record, Any]]],
        frontier: dict[int, int],
    ) -> Iterator[None]:
        """Read newest first in rounds of windows, filter each record, keep the matches; one step per round."""
        partitions = self.partitions
        count = 0
        while (round_ := self._next_round()) is not None:
            windows, collected = round_
            for p, records in collected.items():
                part = partitions[p]
                for record in reversed(records):
                    count += 1
                    reason = self._stop_reason(count)
                    if reason:
                        self.stop_all(reason)
                        return
                    if self.on_progress is not None and count & 4095 == 4095:
                        self.on_progress(self)
                    self._take(part, record, record.offset)
                    if passes is not None and not passes(record.key, record.value):
                        continue
                    found = matcher(record)
                    if found is not None:
                        pending[p].append((record, found))
                    if (reason := self._out_of_time()) is not None:  # after each filter (as forwards)
                        self.stop_all(reason)
                        return
                start = windows[p][0]
                part.position = start  # the whole window is done, missing offsets included
                if records:
                    frontier[p] = records[0].timestamp
                if start <= part.low:
                    part.stop(END)
            yield None
