"""The shared live tail: per process, one Kafka consumer per (cluster, topic) that has viewers.

A `TopicTail` owns one group-less consumer (`records.tail_consumer`) assigned to every
partition of its topic at the end offset — nothing committed, no consumer group — and a
thread that reads it and fans each batch out to the topic's viewers. The end offsets are
looked up before the viewers are told `live`: whatever is produced after that arrives.
Each viewer (one per websocket, `viewer.Viewer`) has its own filter, masking level, rate
limit with sampling and bounded queue; the thread hands a viewer its matching events and
moves on, it never waits for a browser. New partitions are picked up on a metadata refresh
and read from their beginning. The consumer closes when its last viewer leaves, and when
the topic goes: before the console deletes a topic, its tails in every web process close
(streams/tail/control.py); a topic deleted by someone else is looked up again as soon as
the consumer reports it missing.

Why not the channel layer: the point is one Kafka consumer per process whatever the number
of viewers, and every viewer of a topic in this process is served by this process's tail,
so fan-out is a loop over in-memory viewers. Going through Redis would copy every event
once per viewer through another server (a stalled viewer's channel would fill there and
drop events we could not count), add latency, and make the tail stop whenever Redis does.
Viewers in other web processes have their own tail there: one consumer per process.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings

from backbone_admin import broadcast
from backbone_admin.kafka.errors import BackboneError, TopicNotFound
from backbone_admin.kafka.records import Reader, Record, close_reader, tail_consumer
from backbone_admin.kafka.tailing import add_partitions, end_offsets, partitions_of
from streams.tail.control import TailControl
from streams.tail.viewer import Chunk, Item, Viewer

if TYPE_CHECKING:
    from backbone_admin.clusters import ClusterConfig
    from streams.events.filters import Filter
    from streams.events.serialize import DecodedEvent

log = logging.getLogger("backbone.tail")

# The Kafka thread waits this long for a first record, then takes what else is there (up to
# BATCH): a record goes out as soon as it arrives, and a stop is noticed within POLL_WAIT.
POLL_WAIT = 0.5
BATCH = 2000
# Records larger than this are written as event JSON (values cut) in the Kafka thread, so a
# queue keeps the short text and never the record.
BIG_RECORD = 64 * 1024
RETRY_MAX = 10.0

# Close codes the tail page knows (the other 44xx codes are in backbone_admin.broadcast).
CLOSE_BAD_REQUEST = 4400
CLOSE_NOT_FOUND = 4404
CLOSE_UNAVAILABLE = 4503
CLOSE_TOO_MANY = 4429

# Names this process's tails in the registry every web process shares (backbone_admin.broadcast).
_PROCESS = f"{socket.gethostname()}:{os.getpid()}"
_serial = itertools.count(1)


class EventCodec:
    """Decodes and masks a record and writes its event JSON as DESIGN.md has it."""

    def __init__(self, cluster: ClusterConfig, *, max_value: int) -> None:
        from streams.events.registry import registry_for

        self.cluster = cluster
        self.max_value = max_value
        self.registry = registry_for(cluster.name)

    def decode(self, record: Record, *, masked: bool) -> DecodedEvent:
        from streams.events.serialize import decode_record

        return decode_record(record, registry=self.registry, cluster=self.cluster, masked=masked)

    def dumps(self, event: DecodedEvent) -> str:
        from streams.events.serialize import event_json

        try:
            data = event_json(event, max_value=self.max_value)
            return json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        except Exception as exc:  # noqa: BLE001 — one event that cannot be written never stops a tail
            record = event.record
            # One line, no traceback: an event like it may come many times a second.
            log.warning(
                "live tail of %s/%s: event %s:%s cannot be shown: %s",
                self.cluster.name,
                record.topic,
                record.partition,
                record.offset,
                type(exc).__name__,
            )
            return json.dumps(unshowable(record, type(exc).__name__), separators=(",", ":"), ensure_ascii=False)


def unshowable(record: Record, reason: str) -> dict[str, Any]:
    """The event JSON of a record that could not be written: where it is and its size, none of its contents."""
    error = f"this event could not be shown ({reason}); open it on its own page"
    return {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp,
        "timestamp_type": record.timestamp_type,
        "key": None,
        "key_encoding": "withheld",
        "value": f"could not be shown ({record.size:,} bytes)",
        "value_encoding": "withheld",
        "headers": [],
        "size": record.size,
        "truncated": False,
        "schema_id": None,
        "key_schema_id": None,
        "key_error": error,
        "value_error": error,
        "masked": False,
    }


@dataclass
class Counters:
    records: int = 0
    batches: int = 0
    started_at: float = 0.0


class TopicTail:
    """One topic's consumer, its thread and its viewers."""

    def __init__(self, hub: TailHub, cluster: str, topic: str) -> None:
        self.hub = hub
        self.cluster = cluster
        self.topic = topic
        self.viewers: tuple[Viewer, ...] = ()  # replaced, never mutated: the thread reads it without a lock
        self.partitions: list[int] = []
        self.status: dict[str, Any] | None = None  # the last status told to the viewers
        self.counters = Counters(started_at=time.time())
        self.member = f"{_PROCESS}:{next(_serial)}"
        self._stop = threading.Event()
        self._check_topic = threading.Event()  # the consumer reported the topic missing: look it up now
        self._read = False  # the consumer was assigned: the topic existed
        self._thread = threading.Thread(target=self._run, name=f"tail {cluster}/{topic}", daemon=True)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # --- viewers (called under the hub's lock) ------------------------------------------------

    def add(self, viewer: Viewer) -> None:
        self.viewers = (*self.viewers, viewer)
        if self.status is not None:
            viewer.post(self.status)

    def remove(self, viewer: Viewer) -> None:
        self.viewers = tuple(v for v in self.viewers if v is not viewer)

    # --- the Kafka thread -------------------------------------------------------------------

    def _tell(self, status: dict[str, Any]) -> None:
        if status == self.status:
            return
        self.status = status
        for viewer in self.viewers:
            viewer.post(status)

    def _live(self) -> dict[str, Any]:
        return {"status": "live", "partitions": self.partitions}

    def _run(self) -> None:
        reader: Reader | None = None
        retry = 0.5
        try:
            if broadcast.tail_opened(self.member, self.cluster, self.topic):
                self.finish(CLOSE_NOT_FOUND, deleted_message(self.cluster, self.topic))
                return
            codec = None
            refresh_at = 0.0
            while not self._stop.is_set():
                try:
                    if reader is None:
                        reader = self._start_reading()
                        codec = EventCodec(reader.cluster, max_value=settings.TAIL_MAX_VALUE)
                        refresh_at = time.monotonic() + settings.TAIL_METADATA_INTERVAL
                        self._tell(self._live())
                    records = reader.read(1, POLL_WAIT)
                    if records:
                        records += reader.read(BATCH, 0)
                        assert codec is not None
                        self._dispatch(records, codec)
                    if self._check_topic.is_set() or time.monotonic() >= refresh_at:
                        self._check_topic.clear()
                        self._refresh(reader)
                        refresh_at = time.monotonic() + settings.TAIL_METADATA_INTERVAL
                    if self.status is not None and self.status["status"] != "live":
                        self._tell(self._live())
                    retry = 0.5
                except TopicNotFound:
                    if self._read:
                        message = f"topic deleted: `{self.topic}` no longer exists on cluster `{self.cluster}`"
                    else:
                        message = f"topic `{self.topic}` does not exist on cluster `{self.cluster}`"
                    self.finish(CLOSE_NOT_FOUND, message)
                    return
                except BackboneError as exc:
                    # The consumer reconnects by itself; the viewers are told why nothing arrives.
                    self._tell({"status": "unavailable", "error": exc.message})
                    self._stop.wait(retry)
                    retry = min(RETRY_MAX, retry * 2)
        except Exception:
            log.exception("live tail of %s/%s failed", self.cluster, self.topic)
            self.finish(1011, "the live tail failed on the server; it has been logged")
        finally:
            if reader is not None:
                close_reader(reader)
            self.hub._closed(self)

    def _start_reading(self) -> Reader:
        """A consumer assigned to every partition at its end offset now (closed again if that fails)."""
        reader = tail_consumer(self.cluster, on_topic_gone=self._check_topic.set)
        try:
            partitions = partitions_of(reader, self.topic)
            reader.assign(self.topic, end_offsets(reader, self.topic, partitions))
        except BaseException:
            close_reader(reader)
            raise
        self.partitions = partitions
        self._read = True
        return reader

    def finish(self, code: int, message: str) -> None:
        """Stop for good and close every viewer's socket with the reason; a viewer that comes
        later starts a new tail (the hub's lock makes the two exclusive)."""
        with self.hub.lock:
            self._stop.set()
            viewers = self.viewers
        for viewer in viewers:
            viewer.close_with(code, {"error": message, "fields": {}})

    def _refresh(self, reader: Reader) -> None:
        """Start reading partitions added to the topic since the tail started."""
        current = partitions_of(reader, self.topic)
        new = sorted(set(current) - set(self.partitions))
        if new:
            add_partitions(reader, new)
            self.partitions = sorted(set(self.partitions) | set(new))
            log.info("live tail of %s/%s: now also reading partitions %s", self.cluster, self.topic, new)
            self._tell(self._live())

    def _dispatch(self, records: list[Record], codec: EventCodec) -> None:
        self.counters.records += len(records)
        self.counters.batches += 1
        viewers = self.viewers
        if not viewers:
            return
        # One Item per record and masking level, shared by every viewer that sees it that way.
        variants = {masked: [Item(r, codec, masked=masked) for r in records] for masked in {v.masked for v in viewers}}
        # Each viewer's filter is read once, with its generation: a viewer that changes its
        # filter meanwhile ignores what was matched under the old one (Viewer.set_options).
        groups: dict[tuple[bool, str | None], list[tuple[Viewer, Filter | None, int]]] = {}
        for viewer in viewers:
            generation = viewer.generation  # first: set_options assigns the filter, then bumps it
            flt = viewer.filter
            key = (viewer.masked, flt.text if flt else None)
            groups.setdefault(key, []).append((viewer, flt, generation))
        # Every filter runs before any viewer gets an event: a viewer's task may write an
        # offered event's JSON (and drop its decoded form) at once.
        matched: dict[tuple[bool, str | None], Chunk] = {}
        for key, members in groups.items():
            items = variants[key[0]]
            flt = members[0][1]
            matched[key] = Chunk(items if flt is None else [item for item in items if _matches(flt, item)])
        for chunk in matched.values():
            for item in chunk.items:
                if item.size > BIG_RECORD:
                    item.text()
        for key, members in groups.items():
            for viewer, _, generation in members:
                viewer.offer(matched[key], generation=generation)


def deleted_message(cluster: str, topic: str) -> str:
    return f"topic deleted: `{topic}` is being deleted from cluster `{cluster}`"


def _matches(flt: Filter, item: Item) -> bool:
    try:
        return flt.matches(item.decoded())
    except Exception:  # a filter must never stop the tail; the event simply does not match
        log.exception("filter %r failed on an event", flt.text)
        return False


class TooManyTails(BackboneError):
    """The user has TAIL_MAX_PER_USER live tails open in this process already."""

    status = 429


class TailHub:
    """The process's tails, keyed by (cluster, topic)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._tails: dict[tuple[str, str], TopicTail] = {}
        self._held: dict[object, int] = {}  # live tail sockets per user (`reserve` … `release`)
        self._open: set[TopicTail] = set()  # started and not yet closed (stopping ones included)
        self.control = TailControl(self.lock, self._registered, self.topic_deleting)

    def reserve(self, owner: object) -> None:
        """Count one more live tail socket for `owner`; TooManyTails when TAIL_MAX_PER_USER are open.

        Per process, like the tails themselves: each viewer costs its process a queue and a
        share of a consumer, and a user opening hundreds (one consumer per topic) would cost
        the process a thread and a Kafka client each.
        """
        limit = int(settings.TAIL_MAX_PER_USER)
        with self.lock:
            held = self._held.get(owner, 0)
            if held >= limit:
                raise TooManyTails(
                    f"you have {held} live tails open on this server, at most {limit} per user: "
                    "close one (another tab or window) to open this one",
                    fields={"tails": f"at most {limit} per user"},
                )
            self._held[owner] = held + 1

    def release(self, owner: object) -> None:
        with self.lock:
            held = self._held.pop(owner, 0) - 1
            if held > 0:
                self._held[owner] = held

    def join(self, cluster: str, topic: str, viewer: Viewer) -> TopicTail:
        with self.lock:
            tail = self._tails.get((cluster, topic))
            if tail is None or tail.stopping:
                tail = self._tails[(cluster, topic)] = TopicTail(self, cluster, topic)
                self._open.add(tail)
                tail.start()
                self.control.ensure_running()
            tail.add(viewer)
            return tail

    def leave(self, tail: TopicTail, viewer: Viewer) -> None:
        with self.lock:
            tail.remove(viewer)
            if not tail.viewers:
                tail.stop()
                if self._tails.get((tail.cluster, tail.topic)) is tail:
                    del self._tails[(tail.cluster, tail.topic)]

    def _closed(self, tail: TopicTail) -> None:
        with self.control.registry:
            with self.lock:
                self._open.discard(tail)
                if self._tails.get((tail.cluster, tail.topic)) is tail:
                    # The thread ended by itself (topic deleted, failure): the next viewer starts anew.
                    del self._tails[(tail.cluster, tail.topic)]
            broadcast.tail_closed(tail.member, tail.cluster, tail.topic)

    def _registered(self) -> list[tuple[str, str, str]]:
        """What the heartbeat renews (called under the lock): every tail whose consumer may be open."""
        return [(t.member, t.cluster, t.topic) for t in self._open]

    def topic_deleting(self, cluster: str, topic: str) -> None:
        """The topic is being deleted: close its tails here with 4404 (their consumers close after)."""
        with self.lock:
            tails = [t for t in self._open if t.cluster == cluster and t.topic == topic and not t.stopping]
        for tail in tails:
            log.info("live tail of %s/%s: closed, the topic is being deleted", cluster, topic)
            tail.finish(CLOSE_NOT_FOUND, deleted_message(cluster, topic))

    def close_all(self, timeout: float = 5.0) -> bool:
        """Stop every tail and wait for their consumers to close (tests, shutdown)."""
        with self.lock:
            for tail in self._tails.values():
                tail.stop()
            self._tails.clear()
        return self.wait_closed(timeout)

    def active_consumers(self) -> int:
        """Kafka consumers this process has open for tails (one per (cluster, topic) with viewers)."""
        with self.lock:
            return len(self._open)

    def wait_closed(self, timeout: float) -> bool:
        """Wait until every stopped tail has closed its consumer (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if not any(t.stopping for t in self._open):
                    return True
            time.sleep(0.02)
        return False

    def stats(self) -> dict[str, Any]:
        with self.lock:
            tails = sorted(self._open, key=lambda t: (t.cluster, t.topic))
        return {
            "consumers": len(tails),
            "tails": [
                {
                    "cluster": t.cluster,
                    "topic": t.topic,
                    "stopping": t.stopping,
                    "partitions": t.partitions,
                    "records": t.counters.records,
                    "started_at": t.counters.started_at,
                    "status": (t.status or {}).get("status", "starting"),
                    "viewers": [_viewer_stats(v) for v in t.viewers],
                }
                for t in tails
            ],
        }


def _viewer_stats(viewer: Viewer) -> dict[str, Any]:
    return {
        "viewer": viewer.label,
        "filter": viewer.filter.text if viewer.filter else None,
        "rate": viewer.rate,
        "masked": viewer.masked,
        "paused": viewer.paused,
        **viewer.counts(),
    }


hub = TailHub()
