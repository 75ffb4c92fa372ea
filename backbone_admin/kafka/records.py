"""Reading records: a group-less consumer assigned to chosen partitions at chosen offsets.

Nothing here joins a consumer group or commits: browsing, searching, tailing, exporting
and replaying read with `assign()` and explicit positions. Consumers are pooled per
cluster (building one costs a metadata round trip), and a `Reader` is used by one thread
at a time. Producing with a delivery report lives here too (the produce form writes the
partition and offset it got into the audit log).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, KafkaException, Message, TopicPartition

from backbone_admin.clusters import ClusterConfig
from backbone_admin.kafka import errors, names
from backbone_admin.kafka.client import base_config, build_client, raise_translated, require_cluster, timeout

# Consumers kept per cluster between requests; more are built when more readers run at once.
POOL_SIZE = 4
EARLIEST = OFFSET_BEGINNING
LATEST = OFFSET_END
_TIMESTAMP_TYPES = {0: "none", 1: "create", 2: "log_append"}
# The client's own message, as `Reader.read_messages` hands it out (no error among them).
RawMessage = Message

# A raw message's unbound accessors (C methods), for the search's scan: called from C (groupby
# keys, map), they cost no Python step per record.
message_partition: Callable[[Any], int] = cast(Any, Message.partition)
message_offset: Callable[[Any], int] = cast(Any, Message.offset)
message_key: Callable[[Any], bytes | None] = cast(Any, Message.key)
message_value: Callable[[Any], bytes | None] = cast(Any, Message.value)
message_headers: Callable[[Any], list[tuple[str, bytes | None]] | None] = cast(Any, Message.headers)


# Not frozen: a frozen dataclass sets each field through object.__setattr__, which made building
# a record cost ~1 µs, a third of all a scan spends per event. Treat records as read-only.
@dataclass(slots=True)
class Record:
    topic: str
    partition: int
    offset: int
    timestamp: int  # ms since the epoch; -1 when the record carries none
    timestamp_type: str  # create | log_append | none
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]

    @property
    def size(self) -> int:
        """Bytes of key, value and headers (what the record carries, not its batch overhead)."""
        size = len(self.key or b"") + len(self.value or b"")
        return size + headers_size(self.headers) if self.headers else size


def to_record(topic: str, msg: RawMessage) -> Record:
    """The record a message of `read_messages` carries."""
    ts_type, ts = msg.timestamp()
    headers = msg.headers()
    # Positional, one call per event: this runs for every event of every scan, export and replay.
    return Record(
        topic,
        msg.partition(),  # type: ignore[arg-type]
        msg.offset(),  # type: ignore[arg-type]
        ts if ts_type else -1,
        _TIMESTAMP_TYPES.get(ts_type, "none"),
        msg.key(),
        msg.value(),
        tuple(headers) if headers else (),  # type: ignore[arg-type]
    )


def timestamp_of(msg: RawMessage) -> int:
    """A message's timestamp in ms, -1 when it carries none (as `Record.timestamp`)."""
    ts_type, ts = msg.timestamp()
    return ts if ts_type else -1


def headers_size(headers: Iterable[tuple[str, bytes | None]]) -> int:
    """Bytes of header names and values: `Record.size`'s share of them (loops that count every
    event call this only for records that have headers)."""
    size = 0
    for name, value in headers:  # a plain loop: 2.5x faster than sum() over a generator here
        size += len(name) if name.isascii() else len(name.encode())
        if value is not None:
            size += len(value)
    return size


def _consumer_config(cluster: ClusterConfig, **extra: Any) -> dict[str, Any]:
    conf = base_config(cluster)
    conf.update(
        {
            # A group id is required by the client but never used: no subscribe, no commit.
            "group.id": "backbone-console-reader",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 100,
            # librdkafka waits a whole second (its default) before fetching again for a partition
            # whose queue was full or that was just assigned again; readers re-assign often.
            "fetch.queue.backoff.ms": 10,
            # What one fetch returns is compressed: it is held decompressed, with a librdkafka op per
            # record, until read. 200 B values that compress 24:1 made a 2 MB fetch 35 MB of queued
            # records (~110 MB RSS); a worker or web process must stay small. The test broker ignores
            # the per-partition limit and fills the whole fetch; Kafka honours both. Measured reading
            # 1M such events in one process: 2 MB fetches +115 MiB, 512 KB +60 MiB, 256 KB with a
            # 512 KB queue and 1,000-record batches +28 MiB, all at the same rate (~210k events/s).
            "fetch.max.bytes": 256 * 1024,
            "max.partition.fetch.bytes": 128 * 1024,
            # A consumer's requests are small; this only has to stay below fetch.max.bytes.
            "message.max.bytes": 128 * 1024,
            # Prefetch is what a reader holds besides its own batch: new fetches wait below 512 KB.
            "queued.max.messages.kbytes": 512,
        }
    )
    conf.update(extra)
    return conf


class Reader:
    """One pooled consumer; `assign` positions it, `read` returns the next records."""

    def __init__(self, cluster: ClusterConfig, consumer: Consumer, known: set[str] | None = None) -> None:
        self.cluster = cluster
        self.consumer = consumer
        # Topics whose leaders this consumer has looked up (kept with the consumer in its pool).
        self.known = known if known is not None else set()
        self.topic = ""
        self.positions: dict[int, int] = {}
        self.at_end: set[int] = set()
        # Partitions whose position the broker no longer holds (a reader with the "job" profile):
        # partition -> the offset that was gone. Such a partition reads nothing more until
        # `resume` moves it; other readers jump to the log start as librdkafka does by itself.
        self.deleted: dict[int, int] = {}

    def assign(self, topic: str, starts: Mapping[int, int]) -> None:
        """Read `topic` from these offsets per partition (EARLIEST / LATEST allowed)."""
        names.topic(topic)
        self.topic = topic
        self.positions = dict(starts)
        self.at_end = set()
        self.deleted = {}
        partitions = [TopicPartition(topic, p, o) for p, o in sorted(starts.items())]
        try:
            if topic not in self.known:
                # Assigned before it knows the partition's leader, librdkafka retries the first
                # offset look-up only after a fixed 500 ms (measured: the first events of a fresh
                # reader came 0.51 s after assign, 0.03 s once the leader was known).
                self.consumer.list_topics(topic, timeout=timeout())
                self.known.add(topic)
            self.consumer.assign(partitions)
        except KafkaException as exc:
            raise_translated(exc, self.cluster, f"reading `{topic}`")

    def resume(self, partition: int, offset: int) -> None:
        """Read `partition` again from `offset` (after its position was deleted); the others keep theirs."""
        tp = TopicPartition(self.topic, partition, offset)
        try:
            self.consumer.incremental_unassign([TopicPartition(self.topic, partition)])
            self.consumer.incremental_assign([tp])
        except KafkaException as exc:
            raise_translated(exc, self.cluster, f"reading `{self.topic}`")
        self.deleted.pop(partition, None)
        self.at_end.discard(partition)
        self.positions[partition] = offset

    def pause(self, partitions: list[int]) -> None:
        if partitions:
            self.consumer.pause([TopicPartition(self.topic, p) for p in partitions])

    def read(self, max_records: int, wait: float) -> list[Record]:
        """Up to `max_records` records, waiting at most `wait` seconds for the first ones."""
        topic = self.topic
        return [to_record(topic, msg) for msg in self.read_messages(max_records, wait)]

    def read_messages(self, max_records: int, wait: float) -> list[RawMessage]:
        """As `read`, but the client's own messages (none carrying an error), for a writer that
        formats each event once, straight from them: building a Record first cost an export a
        quarter of its rate. Positions and ends are kept as `read` keeps them."""
        out: list[RawMessage] = []
        append = out.append
        last: dict[int, int] = {}
        for msg in self._consume(max_records, wait):
            err = msg.error()
            if err is not None:
                self._failed(msg, err, last)
                continue
            last[msg.partition()] = msg.offset()  # type: ignore[index,assignment]
            append(msg)
        self._advance(last)
        return out

    def read_to(self, partition: int, offset: int) -> bool:
        """Whether the partition was read to its end and nothing before `offset` is left to read.

        An end short of `offset` (a transaction still open before it) is not the end of a range
        that reaches `offset`: its events come once the transaction ends.
        """
        return partition in self.at_end and self.positions.get(partition, -1) >= offset

    def _consume(self, max_records: int, wait: float) -> list[Message]:
        try:
            return self.consumer.consume(num_messages=max(1, max_records), timeout=wait)
        except KafkaException as exc:
            raise_translated(exc, self.cluster, f"reading `{self.topic}`")

    def _advance(self, last: dict[int, int]) -> None:
        """Each partition read in a batch continues after its last record, and is no longer at its end."""
        for partition, offset in last.items():
            self.positions[partition] = offset + 1
        self.at_end.difference_update(last)

    def _failed(self, msg: Any, err: KafkaError, last: dict[int, int]) -> None:
        """A message carrying an error: end of a partition, a retriable transport error or a failure."""
        if err.code() == KafkaError._PARTITION_EOF:
            partition = int(msg.partition() or 0)
            if partition in last:  # records of this batch came before its end: record where they stopped
                self.positions[partition] = last.pop(partition) + 1
            # Where the end was reached: the high watermark, or for this read_committed reader the
            # last stable offset, which stays behind the high watermark while a transaction is open.
            end = msg.offset()
            if end is not None and end > self.positions.get(partition, -1):
                self.positions[partition] = end
            self.at_end.add(partition)
            return
        if err.code() == KafkaError._AUTO_OFFSET_RESET:
            # auto.offset.reset=error: the broker no longer holds this position (retention or
            # delete-records moved the log start past it). librdkafka stops fetching the partition
            # and tells us which offset was gone; the caller decides what that means.
            partition = int(msg.partition() or 0)
            if partition in last:
                self.positions[partition] = last.pop(partition) + 1
            offset = msg.offset()
            self.deleted[partition] = offset if offset is not None and offset >= 0 else self.positions.get(partition, 0)
            return
        if err.code() == KafkaError.OFFSET_OUT_OF_RANGE:
            raise errors.InvalidRequest(
                f"offset out of range in partition {msg.partition()} of `{self.topic}`: "
                "the events there were deleted by retention or do not exist yet"
            )
        if err.code() in (KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE):
            return  # the consumer retries by itself; the caller's deadline bounds the wait
        raise_translated(KafkaException(err), self.cluster, f"reading `{self.topic}`")


class _Pool:
    def __init__(self, extra: dict[str, Any] | None = None) -> None:
        self.lock = threading.Lock()
        self.idle: dict[str, list[tuple[ClusterConfig, Consumer, set[str]]]] = {}
        self.extra = extra or {}

    def take(self, cluster: ClusterConfig) -> tuple[Consumer, set[str]]:
        with self.lock:
            idle = self.idle.get(cluster.name, [])
            while idle:
                config, consumer, known = idle.pop()
                if config == cluster:
                    return consumer, known
                consumer.close()
        return build_client(lambda _: Consumer(_consumer_config(cluster, **self.extra)), cluster), set()

    def give_back(self, cluster: ClusterConfig, consumer: Consumer, known: set[str]) -> None:
        try:
            # A paused partition stays paused in librdkafka across assignments: resume first,
            # or the next reader of this consumer silently gets nothing from it.
            assigned = consumer.assignment()
            if assigned:
                consumer.resume(assigned)
            consumer.unassign()
        except KafkaException:
            consumer.close()
            return
        with self.lock:
            idle = self.idle.setdefault(cluster.name, [])
            if len(idle) < POOL_SIZE:
                idle.append((cluster, consumer, known))
                return
        consumer.close()

    def clear(self) -> None:
        with self.lock:
            pools, self.idle = self.idle, {}
        for idle in pools.values():
            for _, consumer, _known in idle:
                consumer.close()


# The base settings suit a job's reader (one partition, a worker that must stay small). Pages need
# ~100 events per partition. A search reads every partition at once as fast as it can: small
# fetches halved its rate (measured: a bare loop over 6 partitions of 1M JSON events ran at 489k
# events/s with these, 199k/s with the base settings), so it holds up to one 2 MB fetch.
PROFILES: dict[str, dict[str, Any]] = {
    "general": {},
    # Replays and exports: a position the broker no longer holds is reported (`Reader.deleted`),
    # never skipped silently as auto.offset.reset=earliest does.
    "job": {"auto.offset.reset": "error"},
    # Log ends as a fetch response states them (`fetched_watermarks`): the broker answers at once.
    "ends": {
        "fetch.wait.max.ms": 1,
        "isolation.level": "read_uncommitted",
        "max.partition.fetch.bytes": 1024,
    },
    "page": {"max.partition.fetch.bytes": 64 * 1024, "fetch.max.bytes": 1024 * 1024},
    "scan": {
        "fetch.max.bytes": 2 * 1024 * 1024,
        "max.partition.fetch.bytes": 256 * 1024,
        "queued.max.messages.kbytes": 2 * 1024,
    },
}
_pools = {name: _Pool(extra) for name, extra in PROFILES.items()}


@contextmanager
def reader(cluster_name: str, *, profile: str = "general") -> Iterator[Reader]:
    """A Reader for the cluster, returned to its pool afterwards (closed if it failed)."""
    cluster = require_cluster(cluster_name)
    pool = _pools[profile]
    consumer, known = pool.take(cluster)
    ok = False
    try:
        yield Reader(cluster, consumer, known)
        ok = True
    finally:
        if ok:
            pool.give_back(cluster, consumer, known)
        else:
            consumer.close()


# A fetch's answer for partitions that do not answer within this is not waited for.
ENDS_WAIT = 2.0


def fetched_watermarks(
    cluster_name: str, hints: Mapping[tuple[str, int], int]
) -> dict[tuple[str, int], tuple[int, int]]:
    """(low, high) watermarks of the partitions as their leaders state them in a fetch response.

    Every Kafka fetch response carries the partition's log start offset and high watermark,
    exact on any broker that serves fetches, whatever its ListOffsets answers. Each partition is
    fetched from its hint (its ListOffsets end, where Kafka answers at once with nothing to
    read); what a fetch returns is dropped. Partitions whose leader does not answer within
    ENDS_WAIT are left out: the caller keeps what it had.
    """
    names.topics({t for t, _ in hints})
    cluster = require_cluster(cluster_name)
    wanted = {tp: hint for tp, hint in hints.items() if hint >= 0}
    if not wanted:
        return {}
    pool = _pools["ends"]
    consumer, known = pool.take(cluster)
    ok = False
    try:
        topics = {t for t, _ in wanted} - known
        if topics:
            # Leaders first: assigned before it knows them, librdkafka waits 500 ms to retry.
            metadata = consumer.list_topics(next(iter(topics)) if len(topics) == 1 else None, timeout=timeout())
            known.update(t for t in topics if t in metadata.topics)
        consumer.assign([TopicPartition(t, p, o) for (t, p), o in wanted.items()])
        answered: set[tuple[str, int]] = set()
        deadline = time.monotonic() + min(ENDS_WAIT, timeout())
        while len(answered) < len(wanted) and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=10000, timeout=0.002):
                answered.add((msg.topic(), msg.partition()))  # type: ignore[arg-type]
        result = {}
        for t, p in answered:
            low, high = consumer.get_watermark_offsets(TopicPartition(t, p), cached=True)
            if low >= 0 and high >= 0:
                result[(t, p)] = (low, high)
        ok = True
        return result
    except KafkaException as exc:
        raise_translated(exc, cluster, "reading log ends")
    finally:
        if ok:
            pool.give_back(cluster, consumer, known)
        else:
            consumer.close()


# What a tail's consumer reports (to its error callback, not as records) once its topic is gone.
# Kafka answers its fetches with UNKNOWN_TOPIC_ID and librdkafka looks the topic up again, but it
# says the topic is missing only after topic.metadata.propagation.max.ms (30 s by default).
TAIL_TOPIC_GONE = frozenset(
    {
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError.UNKNOWN_TOPIC_ID,
        KafkaError._UNKNOWN_TOPIC,
        KafkaError._UNKNOWN_PARTITION,
    }
)
TAIL_PROPAGATION_MS = 2000


def tail_consumer(cluster_name: str, *, on_topic_gone: Callable[[], None] | None = None) -> Reader:
    """A dedicated (unpooled) Reader for a live tail; the caller closes it with `close_reader`.

    `on_topic_gone` is called (inside `read`) when the consumer reports its topic or a partition
    missing: the caller confirms with a metadata look-up (`tailing.partitions_of`).
    """
    cluster = require_cluster(cluster_name)

    def build(_: dict[str, Any]) -> Consumer:
        conf = _consumer_config(
            cluster,
            **{
                "enable.partition.eof": False,
                "fetch.wait.max.ms": 50,
                "topic.metadata.propagation.max.ms": TAIL_PROPAGATION_MS,
            },
        )
        if on_topic_gone is not None:
            noted = conf["error_cb"]

            def error_cb(err: KafkaError) -> None:
                noted(err)
                if err.code() in TAIL_TOPIC_GONE:
                    on_topic_gone()

            conf["error_cb"] = error_cb
        return Consumer(conf)

    return Reader(cluster, build_client(build, cluster))


def close_reader(reader_: Reader) -> None:
    reader_.consumer.close()


def reset_readers() -> None:
    for pool in _pools.values():
        pool.clear()


def deadline_after(seconds: float | None = None) -> float:
    return time.monotonic() + (seconds if seconds is not None else timeout())
