"""One viewer of a live tail: its filter, its rate limit with sampling, its bounded queue.

The topic's Kafka thread calls `offer()` with the events that passed the viewer's filter;
the viewer's websocket task calls `rotate()` and `take()`. They share only a short lock, so
the Kafka thread never waits for a browser.

Rate limit: events flow in windows of at least `window` seconds (the push interval). A window
may keep as many events as the viewer's credit allows — `rate` per second, saved up to one
second's worth while the topic is quiet — and when more arrive it keeps a uniform random
sample of them (reservoir sampling: every event of the window has the same chance), in
arrival order. What a window cannot keep is counted as dropped. A closed window's events
wait in a queue bounded in events and bytes; a viewer that does not read (a stalled
browser) loses the oldest ones, counted too. Every push says how many events the viewer
did not get since the previous one, and why (over the rate, queue full, paused).
"""

from __future__ import annotations

import math
import random
import threading
from collections import deque
from collections.abc import Callable, Sequence
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
        self._capacity = 0  # set when the window's first event arrives
        self._sample: list[tuple[int, Item]] = []
        self._seen = 0  # events offered in the current window
        self._queue: deque[tuple[Item, int]] = deque()  # with the size it was counted at
        self._queued_bytes = 0
        self._dropped = {"rate": 0, "queue": 0, "paused": 0}  # since the last push
        self._messages: list[dict[str, Any]] = []
        self._close: tuple[int, dict[str, Any]] | None = None
        self._notified = False
        self._seq = 0
        # Totals since the viewer joined, for the stats page and the tests.
        self.offered = 0
        self.sent = 0
        self.dropped_total = 0

    # --- the Kafka thread -------------------------------------------------------------------

    def offer(self, items: Sequence[Item]) -> None:
        """Events of the topic that passed this viewer's filter, in arrival order."""
        if not items:
            return
        with self._lock:
            self.offered += len(items)
            if self.paused:
                self._dropped["paused"] += len(items)
            else:
                if not self._seen:
                    self._open()
                self._add(items)
            wake = not self._notified
            self._notified = True
        if wake:
            self.notify()

    def _add(self, items: Sequence[Item]) -> None:
        capacity, sample, seen = self._capacity, self._sample, self._seen
        start = 0
        if seen < capacity:
            start = min(len(items), capacity - seen)
            sample.extend((seen + i, item) for i, item in enumerate(items[:start]))
        if capacity:
            # Reservoir sampling (algorithm R): the n-th event replaces a kept one with chance capacity/n.
            rand = random.random
            for i in range(start, len(items)):
                n = seen + i + 1
                if rand() * n < capacity:
                    sample[int(rand() * capacity)] = (n - 1, items[i])
        self._seen = seen + len(items)

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
        with self._lock:
            return self._seen > 0 or self._dropped["paused"] > 0

    def rotate(self) -> None:
        """Close the current window: its sample joins the queue, the rest counts as dropped."""
        with self._lock:
            sample, seen = self._sample, self._seen
            self._notified = False
            if seen:
                self._earn()
                self._credit -= len(sample)
            self._dropped["rate"] += seen - len(sample)
            self._sample, self._seen = [], 0
            sample.sort(key=lambda pair: pair[0])
            for _, item in sample:
                self._queue.append((item, item.size))
                self._queued_bytes += item.size
            while self._queue and (len(self._queue) > self.queue_events or self._queued_bytes > self.queue_bytes):
                self._queued_bytes -= self._queue.popleft()[1]
                self._dropped["queue"] += 1

    def take_messages(self) -> tuple[list[dict[str, Any]], tuple[int, dict[str, Any]] | None]:
        with self._lock:
            messages, self._messages = self._messages, []
            return messages, self._close

    def take(self, *, max_events: int, max_bytes: int) -> str | None:
        """The next push as JSON text — queued events and what was dropped — or None if nothing is due."""
        with self._lock:
            items: list[Item] = []
            size = 0
            while self._queue and len(items) < max_events and (not items or size + self._queue[0][1] <= max_bytes):
                item, item_size = self._queue.popleft()
                self._queued_bytes -= item_size
                size += item_size
                items.append(item)
            dropped = dict(self._dropped)
            total = sum(dropped.values())
            if not items and not total:
                return None
            self._dropped = {"rate": 0, "queue": 0, "paused": 0}
            self._seq += 1
            seq = self._seq
            self.sent += len(items)
            self.dropped_total += total
        # Written outside the lock: the Kafka thread keeps offering meanwhile.
        events = ",".join(item.text() for item in items)
        return (
            f'{{"seq":{seq},"events":[{events}],"dropped":{total},'
            f'"dropped_by":{{"rate":{dropped["rate"]},"queue":{dropped["queue"]},"paused":{dropped["paused"]}}}}}'
        )

    def set_paused(self, paused: bool) -> None:
        with self._lock:
            self.paused = paused

    def counts(self) -> dict[str, int]:
        """Totals since the viewer joined and what waits now, for the stats view and the tests."""
        with self._lock:
            return {
                "offered": self.offered,
                "sent": self.sent,
                # Pushed counts, and the ones the next push will carry.
                "dropped": self.dropped_total + sum(self._dropped.values()) + self._seen - len(self._sample),
                "queued_events": len(self._queue),
                "queued_bytes": self._queued_bytes,
                "window_events": len(self._sample),
            }
