"""One viewer of a live tail: its filter, its rate limit with sampling, its bounded queue.

The topic's Kafka thread calls `offer()` with the events of a batch that passed the viewer's
filter (a `Chunk`, shared by every viewer with the same filter and masking level); the
viewer's websocket task calls `rotate()` and `take()`. They share only a short lock, so the
Kafka thread never waits for a browser. A viewer that gets every event of a chunk keeps the
chunk itself, whose JSON is written once for all of them: a hundred viewers of a topic cost
a hundred joins of a few strings per push, not a hundred copies of every event.

Rate limit: events flow in windows of at least `window` seconds (the push interval). A window
may keep as many events as the viewer's credit allows — `rate` per second, saved up to one
second's worth while the topic is quiet — and when more arrive it keeps a uniform random
sample of them (reservoir sampling: every event of the window has the same chance), in
arrival order. What a window cannot keep is counted as dropped. A closed window's events
wait in a queue bounded in events and bytes; a viewer that does not read (a stalled
browser) loses the oldest ones, counted too. Every push says how many events the viewer
did not get since the previous one, and why (over the rate, queue full, paused).

A viewer may change its filter and rate while it runs (`set_options`): from then on the Kafka
thread's offers matched under the old filter are ignored (each offer names the generation of
the filter it was matched under), and what the old filter had matched but not yet sent is
let go, so that everything pushed after the change notice matches the new filter.
"""

from __future__ import annotations

import itertools
import math
import random
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from backbone_admin.kafka.records import Record
    from streams.events.filters import Filter
    from streams.events.serialize import DecodedEvent


class Codec(Protocol):
    """Decodes a record (masked or not) and writes the event JSON a viewer receives."""

    def decode(self, record: Record, *, masked: bool) -> DecodedEvent: ...

    def dumps(self, event: DecodedEvent) -> str: ...


class Item:
    """One record as one kind of viewer sees it (masked or not), shared by every such viewer.

    Decoded at most once (when a filter asks, or when it is first sent) and written as JSON
    at most once; after that only the JSON text is kept, so a queued event costs its text,
    not its record.
    """

    __slots__ = ("_codec", "_decoded", "_record", "_text", "masked", "offset", "partition", "size")

    def __init__(self, record: Record, codec: Codec, *, masked: bool) -> None:
        self._record: Record | None = record
        self._codec = codec
        self.masked = masked
        self.partition = record.partition
        self.offset = record.offset
        self.size = record.size
        self._decoded: DecodedEvent | None = None
        self._text: str | None = None

    def decoded(self) -> DecodedEvent:
        """The decoded event, for filters (only while the JSON text is not written yet)."""
        if self._decoded is None:
            assert self._record is not None, "decoded() after text(): filters run before events are offered"
            self._decoded = self._codec.decode(self._record, masked=self.masked)
        return self._decoded

    def text(self) -> str:
        text = self._text
        if text is None:
            text = self._text = self._codec.dumps(self.decoded())
            self._record = self._decoded = None
            self.size = len(text)
        return text


class Chunk:
    """Events in arrival order — a batch's matches, a window's sample, part of either — and their JSON."""

    __slots__ = ("_text", "items", "size")

    def __init__(self, items: list[Item]) -> None:
        self.items = items
        self.size = sum(item.size for item in items)  # as counted in queues (fixed: a queue adds and removes it)
        self._text: str | None = None

    def __len__(self) -> int:
        return len(self.items)

    def text(self) -> str:
        """The events' JSON objects joined by commas (written once, by the first viewer that sends them)."""
        if self._text is None:
            self._text = ",".join([item.text() for item in self.items])
        return self._text

    def split(self, at: int) -> tuple[Chunk, Chunk]:
        return Chunk(self.items[:at]), Chunk(self.items[at:])


class Viewer:
    """A viewer's server-side state; `notify` wakes its websocket task (called from any thread)."""

    def __init__(
        self,
        *,
        filter: Filter | None,
        rate: float,
        masked: bool,
        window: float,
        queue_events: int,
        queue_bytes: int,
        notify: Callable[[], None],
        label: str = "",
        clock: Callable[[], float],
    ) -> None:
        self.filter = filter
        self.rate = float(rate)
        self.masked = masked
        self.window = window
        self.queue_events = queue_events
        self.queue_bytes = queue_bytes
        self.notify = notify
        self.label = label
        self.clock = clock
        self.paused = False
        self._lock = threading.Lock()
        # Credit: how many events the viewer may still receive; earned at `rate` per second,
        # saved up to one second's worth (at least one event).
        self._burst = max(1.0, self.rate)
        self._credit = self._burst
        self._credited_at = clock()
        # The current window: whole chunks while they fit its capacity, else a sample of events
        # with their arrival index (reservoir sampling).
        self._capacity = 0  # set when the window's first event arrives
        self._whole: list[Chunk] = []
        self._sample: list[tuple[int, Item]] | None = None
        self._seen = 0  # events offered in the current window
        self._queue: deque[Chunk] = deque()
        self._queued_events = 0
        self._queued_bytes = 0
        self._dropped = {"rate": 0, "queue": 0, "paused": 0}  # since the last push
        self._messages: list[dict[str, Any]] = []
        self._close: tuple[int, dict[str, Any]] | None = None
        self._notified = False
        self._seq = 0
        # Bumped by set_options: an offer matched under an older filter is ignored.
        self.generation = 0
        # Totals since the viewer joined, for the stats page and the tests.
        self.offered = 0
        self.sent = 0
        self.dropped_total = 0

    # --- the Kafka thread -------------------------------------------------------------------

    def offer(self, chunk: Chunk, *, generation: int | None = None) -> None:
        """Events of the topic that passed this viewer's filter (of `generation`), in arrival order."""
        if not chunk.items:
            return
        with self._lock:
            if generation is not None and generation != self.generation:
                return  # matched under a filter the viewer has replaced since
            self.offered += len(chunk)
            if self.paused:
                self._dropped["paused"] += len(chunk)
            else:
                if not self._seen:
                    self._open()
                self._add(chunk)
            wake = not self._notified
            self._notified = True
        if wake:
            self.notify()

    def _add(self, chunk: Chunk) -> None:
        seen, capacity, items = self._seen, self._capacity, chunk.items
        self._seen = seen + len(items)
        if self._sample is None:
            if self._seen <= capacity:
                self._whole.append(chunk)
                return
            # More than the window may keep: from here on, a sample of its events.
            kept = itertools.chain.from_iterable(c.items for c in self._whole)
            self._sample = list(enumerate(kept))
            self._whole = []
        sample = self._sample
        start = 0
        if seen < capacity:
            start = capacity - seen
            sample.extend((seen + i, item) for i, item in enumerate(items[:start]))
        if capacity:
            # Reservoir sampling (algorithm R): the n-th event replaces a kept one with chance capacity/n.
            rand = random.random
            for i in range(start, len(items)):
                n = seen + i + 1
                if rand() * n < capacity:
                    sample[int(rand() * capacity)] = (n - 1, items[i])

    def post(self, message: dict[str, Any]) -> None:
        """A status message (live, unavailable, …) sent ahead of the next push."""
        with self._lock:
            self._messages.append(message)
        self.notify()

    def close_with(self, code: int, message: dict[str, Any]) -> None:
        """Ask the websocket task to send `message` and close the socket with `code`."""
        with self._lock:
            self._close = (code, message)
        self.notify()

    # --- the websocket task -----------------------------------------------------------------

    def _earn(self) -> None:
        now = self.clock()
        self._credit = min(self._burst, self._credit + self.rate * max(0.0, now - self._credited_at))
        self._credited_at = now

    def _open(self) -> None:
        # A window may keep what the credit will be by the end of a window of the shortest length.
        # A window closed sooner (the first event after a quiet spell goes out at once) leaves the
        # credit negative: the debt is paid before the next window keeps anything.
        self._earn()
        self._capacity = max(
            0, min(self.queue_events, math.floor(min(self._burst, self._credit + self.rate * self.window)))
        )

    def window_pending(self) -> bool:
        """Whether anything was offered since the last rotate, so the websocket task must rotate.

        Asked of the wake-up flag itself, not of what waits: a push taken between a rotate and
        the next wake-up may already carry the paused count that woke it, and a window left
        unrotated would keep the flag set, so no later offer would wake the task again.
        """
        with self._lock:
            return self._notified

    def rotate(self) -> None:
        """Close the current window: what it kept joins the queue, the rest counts as dropped."""
        with self._lock:
            self._notified = False
            seen, sample = self._seen, self._sample
            if sample is None:
                kept = self._whole
            else:
                sample.sort(key=lambda pair: pair[0])
                kept = [Chunk([item for _, item in sample])] if sample else []
            count = sum(len(c) for c in kept)
            if seen:
                self._earn()
                self._credit -= count
            self._dropped["rate"] += seen - count
            self._whole, self._sample, self._seen = [], None, 0
            for chunk in kept:
                self._queue.append(chunk)
                self._queued_events += len(chunk)
                self._queued_bytes += chunk.size
            self._trim()

    def _trim(self) -> None:
        """Drop the oldest queued events while the queue holds more than its bounds allow."""
        queue = self._queue
        while queue and (self._queued_events > self.queue_events or self._queued_bytes > self.queue_bytes):
            head = queue.popleft()
            self._queued_events -= len(head)
            self._queued_bytes -= head.size
            over_events = self._queued_events + len(head) - self.queue_events
            over_bytes = self._queued_bytes + head.size - self.queue_bytes
            drop = max(0, over_events)
            dropped_bytes = sum(item.size for item in head.items[:drop])
            for item in head.items[drop:]:
                if dropped_bytes >= over_bytes:
                    break
                dropped_bytes += item.size
                drop += 1
            if drop < len(head):
                rest = head.split(drop)[1]
                queue.appendleft(rest)
                self._queued_events += len(rest)
                self._queued_bytes += rest.size
            self._dropped["queue"] += min(drop, len(head))

    def take_messages(self) -> tuple[list[dict[str, Any]], tuple[int, dict[str, Any]] | None]:
        with self._lock:
            messages, self._messages = self._messages, []
            return messages, self._close

    def take(self, *, max_events: int, max_bytes: int) -> str | None:
        """The next push as JSON text — queued events and what was dropped — or None if nothing is due."""
        with self._lock:
            chunks: list[Chunk] = []
            count = size = 0
            queue = self._queue
            while queue and count < max_events:
                head = queue[0]
                room = max_events - count
                if len(head) <= room and size + head.size <= max_bytes:
                    queue.popleft()
                    taken = head
                    self._queued_bytes -= head.size
                else:
                    # The part that fits; at least one event per push, so a push always moves on.
                    fit = part = 0
                    for item in head.items[:room]:
                        if (count or fit) and size + part + item.size > max_bytes:
                            break
                        part += item.size
                        fit += 1
                    if not fit:
                        break
                    taken, rest = head.split(fit)
                    queue[0] = rest
                    self._queued_bytes += rest.size - head.size
                self._queued_events -= len(taken)
                chunks.append(taken)
                count += len(taken)
                size += taken.size
            dropped = dict(self._dropped)
            total = sum(dropped.values())
            if not chunks and not total:
                return None
            self._dropped = {"rate": 0, "queue": 0, "paused": 0}
            self._seq += 1
            seq = self._seq
            self.sent += count
            self.dropped_total += total
        # Written outside the lock: the Kafka thread keeps offering meanwhile.
        events = ",".join(chunk.text() for chunk in chunks)
        return (
            f'{{"seq":{seq},"events":[{events}],"dropped":{total},'
            f'"dropped_by":{{"rate":{dropped["rate"]},"queue":{dropped["queue"]},"paused":{dropped["paused"]}}}}}'
        )

    def set_options(self, *, filter: Filter | None, rate: float, notice: dict[str, Any]) -> None:
        """Run `filter` at `rate` from now on; `notice` goes out before any event matched by it.

        The window and queue hold events the old filter matched: they are let go, not counted
        as dropped (the viewer asked for other events), so that a divider the page draws at the
        notice separates the two filters exactly. The credit earned so far is kept, up to the
        new rate's one second's worth.
        """
        with self._lock:
            self.filter = filter
            self.generation += 1
            self.rate = float(rate)
            self._burst = max(1.0, self.rate)
            self._credit = min(self._credit, self._burst)
            self._whole, self._sample, self._seen = [], None, 0
            self._queue.clear()
            self._queued_events = self._queued_bytes = 0
            self._messages.append(notice)
        self.notify()

    def set_paused(self, paused: bool) -> None:
        with self._lock:
            self.paused = paused

    def counts(self) -> dict[str, int]:
        """Totals since the viewer joined and what waits now, for the stats view and the tests."""
        with self._lock:
            in_window = self._seen if self._sample is None else len(self._sample)
            return {
                "offered": self.offered,
                "sent": self.sent,
                # Pushed counts, and the ones the next push will carry.
                "dropped": self.dropped_total + sum(self._dropped.values()) + self._seen - in_window,
                "queued_events": self._queued_events,
                "queued_bytes": self._queued_bytes,
                "window_events": in_window,
            }
