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
from itertools import groupby
from typing import Any

from backbone_admin.kafka.records import (
    RawMessage,
    Record,
    headers_size,
    message_headers,
    message_key,
    message_partition,
    message_value,
    timestamp_of,
    to_record,
)
from streams.browse.candidates import Candidates
from streams.browse.reading import END, EVENTS_BUDGET, LIMIT, POLL_WAIT, PartitionScan, Scan

# Matches held back while a lagging partition has not been read up to their time; beyond
# this they are handed out anyway.
LOOSE_MATCHES = 5_000
# Records of one partition taken at once: a chunk without a candidate is counted as a whole, and the
# clock is looked at before each chunk (and after each filter), so within a batch too.
CHUNK = 1024
Matcher = Callable[[Record], Any | None]


class SearchScan(Scan):
    """A Scan whose `find` filters as it reads (see the module docstring)."""

    def find(self, matcher: Matcher, limit: int, candidates: Candidates | None = None) -> Iterator[tuple[Record, Any]]:
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
            yield from self._merge_matches(reading(matcher, candidates, pending, frontier), pending, frontier, limit)
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
        matcher: Matcher,
        candidates: Candidates | None,
        pending: dict[int, deque[tuple[Record, Any]]],
        frontier: dict[int, int],
    ) -> Iterator[None]:
        """Read oldest first, filter each record, keep the matches in `pending`; one step per batch.

        A batch is taken in chunks of one partition's consecutive records (the client hands them out
        in runs per partition). A chunk without a candidate is counted as a whole, in a few C-level
        passes over its keys and values, and no record is built; the records of any other chunk
        (candidates, the partition's end, a stale offset, the bytes budget reached) are taken one by
        one. The time budget is looked at before each chunk and after each filter: inside a batch.
        """
        partitions = self.partitions
        active = {p for p, part in partitions.items() if part.stopped is None}
        if not active:
            return
        self._assign({p: partitions[p].position for p in active})
        read = self.reader.read_messages
        while active:
            reason = self._out_of_time() or self._spent()
            if reason:
                self.stop_all(reason)
                return
            # A batch never exceeds the events budget: only the bytes budget is compared per record.
            batch = read(int(min(self.batch, self._max_events - self.events)), POLL_WAIT)
            reassign = False
            last: dict[int, Any] = {}  # per partition, the last message read: its time is the frontier
            try:
                for p, run in groupby(batch, _partition_of):
                    part = partitions.get(p)
                    if part is None or part.stopped is not None:
                        reassign = True
                        continue
                    messages = list(run)
                    for at in range(0, len(messages), CHUNK):
                        if part.stopped is not None:
                            reassign = True  # its end was met: what follows is for later pages
                            break
                        chunk = messages[at : at + CHUNK]
                        reason = self._forward_chunk(part, chunk, matcher, candidates, pending[p], last)
                        if reason:
                            self.stop_all(reason)
                            self._unread_ends()
                            return
            finally:
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

    def _unread_ends(self) -> None:
        """Reading stopped inside a batch: where the reader met a partition's end, the events before it
        that this scan did not take are unread — that end must not move the newer boundary past them
        (a budget-cut page would otherwise skip the rest of a partition the reader had read to its end)."""
        positions = self.reader.positions
        taken = {p: part.position for p, part in self.partitions.items()}
        self.unread_ends.update(p for p in self.reader.at_end if taken.get(p, 0) < positions.get(p, 0))

    def _forward_chunk(
        self,
        part: PartitionScan,
        chunk: list[RawMessage],
        matcher: Matcher,
        candidates: Candidates | None,
        found: deque[tuple[Record, Any]],
        last: dict[int, Any],
    ) -> str | None:
        """One chunk of a partition's consecutive records, oldest first (see `_find_forward`); why
        reading must stop, if it must."""
        reason = self._out_of_time()
        if reason:
            return reason
        keys, values, size = _contents(chunk)
        picked = candidates.pick(keys, values) if candidates is not None else None
        end: int = chunk[-1].offset()  # type: ignore[assignment]
        first: int = chunk[0].offset()  # type: ignore[assignment]
        if first < part.position or end >= part.high - 1 or self.bytes + size >= self._max_bytes:
            return self._forward_each(part, chunk, matcher, picked, found, last)
        topic = self.topic
        for i in picked if picked is not None else range(len(chunk)):
            record = to_record(topic, chunk[i])
            match = matcher(record)
            if match is not None:
                found.append((record, match))
            # A filter may cost far more than reading (wildcards over big documents): the clock is
            # looked at after each one; what was read up to it is counted.
            if (reason := self._out_of_time()) is not None:
                self._count(part, chunk[: i + 1], _contents(chunk[: i + 1])[2], forwards=True)
                last[part.partition] = chunk[i]
                return reason
        self._count(part, chunk, size, forwards=True)
        last[part.partition] = chunk[-1]
        return None

    def _count(self, part: PartitionScan, chunk: list[RawMessage], size: int, *, forwards: bool) -> None:
        """A chunk's consecutive records (`size` bytes) are read: the partition continues past them."""
        before = self.events
        part.position = chunk[-1].offset() + 1 if forwards else chunk[0].offset()  # type: ignore[assignment,operator]
        part.scanned += len(chunk)
        part.bytes += size
        self.events += len(chunk)
        self.bytes += size
        if self.on_progress is not None and before >> 12 != self.events >> 12:
            self.on_progress(self)

    def _forward_each(
        self,
        part: PartitionScan,
        chunk: list[RawMessage],
        matcher: Matcher,
        picked: list[int] | None,
        found: deque[tuple[Record, Any]],
        last: dict[int, Any],
    ) -> str | None:
        """A chunk's records one by one, oldest first; `picked`: the candidates' indices (None: all)."""
        chosen = set(picked) if picked is not None else None
        topic, p, max_bytes = self.topic, part.partition, self._max_bytes
        # Counters live in locals and are written back before anything else looks at them.
        events, nbytes = self.events, self.bytes
        try:
            for i, msg in enumerate(chunk):
                offset: int = msg.offset()  # type: ignore[assignment]
                if offset < part.position:
                    continue
                if offset >= part.high:
                    part.stop(END)  # events written after the request began wait for the next page
                    return None
                if nbytes >= max_bytes:
                    self.events, self.bytes = events, nbytes
                    return self._spent() or EVENTS_BUDGET
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
                if self.on_progress is not None and events & 4095 == 0:
                    self.events, self.bytes = events, nbytes
                    self.on_progress(self)
                if chosen is not None and i not in chosen:
                    continue
                record = to_record(topic, msg)
                match = matcher(record)
                if match is not None:
                    found.append((record, match))
                # A filter may cost far more than reading (wildcards over big documents): the clock
                # is looked at after each one.
                if (reason := self._out_of_time()) is not None:
                    return reason
        finally:
            self.events, self.bytes = events, nbytes
        return None

    def _find_backward(
        self,
        matcher: Matcher,
        candidates: Candidates | None,
        pending: dict[int, deque[tuple[Record, Any]]],
        frontier: dict[int, int],
    ) -> Iterator[None]:
        """Read newest first in rounds of windows, filter each record, keep the matches; one step per round.

        A window's records are the client's messages (a record is built for a candidate only), taken
        newest first in chunks as forwards: a chunk without a candidate is counted as a whole."""
        partitions = self.partitions
        while (round_ := self._next_round(raw=True)) is not None:
            windows, collected = round_
            for p, messages in collected.items():
                part = partitions[p]
                for stop in range(len(messages), 0, -CHUNK):
                    chunk = messages[max(0, stop - CHUNK) : stop]
                    reason = self._backward_chunk(part, chunk, matcher, candidates, pending[p])
                    if reason:
                        self.stop_all(reason)
                        return
                start = windows[p][0]
                part.position = start  # the whole window is done, missing offsets included
                if messages:
                    frontier[p] = timestamp_of(messages[0])
                if start <= part.low:
                    part.stop(END)
            yield None

    def _backward_chunk(
        self,
        part: PartitionScan,
        chunk: list[RawMessage],
        matcher: Matcher,
        candidates: Candidates | None,
        found: deque[tuple[Record, Any]],
    ) -> str | None:
        """One chunk of a window, newest first (see `_find_backward`); why reading must stop, if it must."""
        reason = self._out_of_time()
        if reason:
            return reason
        keys, values, size = _contents(chunk)
        picked = candidates.pick(keys, values) if candidates is not None else None
        if self.bytes + size >= self._max_bytes or self.events + len(chunk) > self._max_events:
            return self._backward_each(part, chunk, matcher, picked, found)
        topic = self.topic
        for i in reversed(picked if picked is not None else range(len(chunk))):
            record = to_record(topic, chunk[i])
            match = matcher(record)
            if match is not None:
                found.append((record, match))
            if (reason := self._out_of_time()) is not None:  # after each filter (as forwards)
                self._count(part, chunk[i:], _contents(chunk[i:])[2], forwards=False)
                return reason
        self._count(part, chunk, size, forwards=False)
        return None

    def _backward_each(
        self,
        part: PartitionScan,
        chunk: list[RawMessage],
        matcher: Matcher,
        picked: list[int] | None,
        found: deque[tuple[Record, Any]],
    ) -> str | None:
        """A chunk's records one by one, newest first; `picked`: the candidates' indices (None: all)."""
        chosen = set(picked) if picked is not None else None
        topic = self.topic
        for i in range(len(chunk) - 1, -1, -1):
            if self.events >= self._max_events or self.bytes >= self._max_bytes:
                return self._spent()
            msg = chunk[i]
            key, value = msg.key(), msg.value()
            size = (len(key) if key is not None else 0) + (len(value) if value is not None else 0)
            headers = msg.headers()
            if headers:
                size += headers_size(headers)  # type: ignore[arg-type]
            part.position = msg.offset()  # type: ignore[assignment]
            part.scanned += 1
            part.bytes += size
            self.events += 1
            self.bytes += size
            if self.on_progress is not None and self.events & 4095 == 0:
                self.on_progress(self)
            if chosen is not None and i not in chosen:
                continue
            record = to_record(topic, msg)
            match = matcher(record)
            if match is not None:
                found.append((record, match))
            if (reason := self._out_of_time()) is not None:  # after each filter (as forwards)
                return reason
        return None


# The client's accessors, called from C (groupby, map): no Python step per record.
_partition_of = message_partition
_key_of = message_key
_value_of = message_value
_headers_of = message_headers


def _contents(chunk: list[RawMessage]) -> tuple[list[bytes | None], list[bytes | None], int]:
    """The keys and values of a chunk of messages, and the bytes they carry with their headers
    (`Record.size` summed): C-level passes, no Python step per record."""
    keys = list(map(_key_of, chunk))
    values = list(map(_value_of, chunk))
    size: int = sum(map(len, filter(None, keys))) + sum(map(len, filter(None, values)))
    headers = list(map(_headers_of, chunk))
    if any(headers):
        size += sum(headers_size(h) for h in headers if h)
    return keys, values, size
