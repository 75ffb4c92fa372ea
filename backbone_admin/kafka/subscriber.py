"""A consumer group member: subscribe, poll, commit what was processed, leave.

The console's own readers assign partitions and commit nothing. A program that consumes the
way a service does (the demo's services, `streams/demo_consumers.py`) uses this instead: a real
group with committed offsets, where every call is bounded in time — a commit is sent
asynchronously and waited for with a deadline, and closing runs beside the caller with a
deadline too, so a stop during an outage still ends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from backbone_admin.kafka import names
from backbone_admin.kafka.client import base_config, build_client, raise_translated, writable_cluster

log = logging.getLogger("backbone.kafka.subscriber")

Partition = tuple[str, int]


@dataclass(frozen=True)
class Consumed:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class Subscriber:
    """One member of consumer group `group_id`, subscribed to `topics`.

    Offsets are committed only for what the caller said it processed (`processed`), so the
    group's committed offsets — and the lag the console shows — are the service's real progress.
    """

    def __init__(
        self,
        cluster_name: str,
        group_id: str,
        topics: Sequence[str],
        *,
        client_id: str,
        session_timeout: float = 10.0,
        prefetch_kbytes: int = 1024,
    ) -> None:
        names.group(group_id)
        names.topics(topics)
        # Joining a group and committing offsets write to the cluster: never on a read-only one.
        self.cluster = writable_cluster(cluster_name, f"consuming as group `{group_id}`")
        self.group_id = group_id
        # Set when the client failed for good (a fatal error): the caller builds a new member.
        # Anything else — brokers unreachable, restarted, the group forgotten — librdkafka rides
        # out by itself: it reconnects, joins again and resumes from the committed offsets.
        self.lost = threading.Event()
        self._processed: dict[Partition, int] = {}
        self._sent: dict[Partition, int] = {}
        self._inflight = 0
        self._last_problem = ""
        conf = base_config(self.cluster)
        cluster_error_cb: Callable[[KafkaError], None] = conf["error_cb"]

        def on_error(err: KafkaError) -> None:
            cluster_error_cb(err)
            if err.fatal():
                self.lost.set()

        conf.update(
            {
                "group.id": group_id,
                "client.id": client_id,
                # Commits are ours: only what was processed, never what was merely fetched.
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                # A member that dies is replaced in seconds, not in Kafka's default 45 s.
                "session.timeout.ms": int(session_timeout * 1000),
                "heartbeat.interval.ms": int(session_timeout * 1000 / 4),
                # A coordinator may hold a join or sync request up to a session timeout (waiting
                # for the other members): KAFKA_TIMEOUT, meant for a page's answer, is too short.
                "socket.timeout.ms": max(int(conf["socket.timeout.ms"]), int(session_timeout * 2000)),
                # A topic created after the member joined (a restarted broker, a demo started
                # before its producer) is picked up within 10 s rather than librdkafka's 5 min.
                "topic.metadata.refresh.interval.ms": 10_000,
                # A service that falls behind holds little in memory: prefetch stays small.
                "queued.max.messages.kbytes": prefetch_kbytes,
                "fetch.max.bytes": 512 * 1024,
                "max.partition.fetch.bytes": 256 * 1024,
                # A consumer's own requests are small; this only has to stay below fetch.max.bytes.
                "message.max.bytes": 128 * 1024,
                "error_cb": on_error,
                "on_commit": self._on_commit,
            }
        )
        self._consumer: Consumer = build_client(lambda _: Consumer(conf), self.cluster)
        try:
            self._consumer.subscribe(list(topics), on_revoke=self._on_revoke, on_lost=self._on_lost)
        except KafkaException as exc:
            raise_translated(exc, self.cluster, f"subscribing group `{group_id}` to {', '.join(topics)}")

    # --- consuming -----------------------------------------------------------------------

    def poll(self, max_records: int, wait: float) -> list[Consumed]:
        """Up to `max_records` events, waiting at most `wait` s for the first."""
        try:
            messages = self._consumer.consume(num_messages=max_records, timeout=wait)
        except KafkaException as exc:
            raise_translated(exc, self.cluster, f"consuming as group `{self.group_id}`")
        records = []
        for msg in messages:
            err = msg.error()
            if err is not None:
                self._problem(err)
                continue
            records.append(self._consumed(msg))
        return records

    @staticmethod
    def _consumed(msg: Message) -> Consumed:
        return Consumed(
            topic=msg.topic() or "",
            partition=msg.partition() or 0,
            offset=msg.offset() or 0,
            key=msg.key(),
            value=msg.value(),
        )

    def _problem(self, err: KafkaError) -> None:
        # A missing topic or a lost connection repeats on every poll: said once until it changes.
        text = err.str()
        if text != self._last_problem:
            self._last_problem = text
            log.warning("group `%s` on cluster `%s`: %s", self.group_id, self.cluster.name, text)
        if err.fatal():
            self.lost.set()

    def processed(self, records: Sequence[Consumed]) -> None:
        """Mark these events done: the next commit covers them."""
        for record in records:
            key = (record.topic, record.partition)
            if record.offset + 1 > self._processed.get(key, -1):
                self._processed[key] = record.offset + 1

    @property
    def processed_offsets(self) -> dict[Partition, int]:
        return dict(self._processed)

    # --- committing ----------------------------------------------------------------------

    def commit(self) -> None:
        """Send the offsets processed since the last commit, without waiting for the answer."""
        changed = {tp: o for tp, o in self._processed.items() if self._sent.get(tp) != o}
        self._send(changed)

    def _send(self, offsets: dict[Partition, int]) -> None:
        if not offsets:
            return
        try:
            self._consumer.commit(
                offsets=[TopicPartition(t, p, o) for (t, p), o in sorted(offsets.items())], asynchronous=True
            )
        except KafkaException as exc:
            # Not a member right now (rebalancing, coordinator moving): the next commit carries them.
            log.info("group `%s`: commit postponed: %s", self.group_id, exc.args[0])
            return
        self._inflight += 1
        self._sent.update(offsets)

    def _on_commit(self, err: KafkaError | None, partitions: list[TopicPartition]) -> None:
        self._inflight = max(0, self._inflight - 1)
        if err is not None and err.code() != KafkaError._NO_OFFSET:
            # Sent again by the next commit: forget that these were sent.
            for tp in partitions:
                self._sent.pop((tp.topic, tp.partition), None)
            self._problem(err)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Another member (or this one, after a rejoin) takes these over from what was committed.
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        self._send({tp: o for tp, o in self._processed.items() if tp in revoked and self._sent.get(tp) != o})
        for tp in revoked:
            self._processed.pop(tp, None)
            self._sent.pop(tp, None)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # The group no longer knows this member (its session expired, or a restarted broker forgot
        # the group): the partitions may be someone else's already, so nothing is committed for
        # them; after joining again they start from the committed offsets, whatever the cluster kept.
        log.info("group `%s`: %d partition(s) lost; joining again", self.group_id, len(partitions))
        for tp in partitions:
            self._processed.pop((tp.topic, tp.partition), None)
            self._sent.pop((tp.topic, tp.partition), None)

    def commit_and_wait(self, wait: float) -> bool:
        """Commit what was processed and wait up to `wait` s for the answer; whether it came."""
        self.commit()
        deadline = time.monotonic() + wait
        try:
            # No more events while waiting: only the commit's answer is served.
            self._consumer.pause(self._consumer.assignment())
        except KafkaException as exc:
            log.info("group `%s`: could not pause before the last commit: %s", self.group_id, exc.args[0])
        while self._inflight and time.monotonic() < deadline:
            try:
                self._consumer.poll(min(0.1, max(0.0, deadline - time.monotonic())))
            except KafkaException as exc:
                log.info("group `%s`: %s", self.group_id, exc.args[0])
                break
        return self._inflight == 0 and all(self._sent.get(tp) == o for tp, o in self._processed.items())

    # --- the cluster and the end ---------------------------------------------------------

    def close(self, wait: float) -> bool:
        """Leave the group (nothing more is committed) within `wait` s; whether it finished.

        librdkafka's close has no timeout of its own and waits for the coordinator: it runs in
        a thread of its own, so a close during an outage cannot hold up a stop.
        """
        done = threading.Event()

        def close() -> None:
            try:
                self._consumer.close()
            except (KafkaException, RuntimeError) as exc:
                log.info("group `%s`: close: %s", self.group_id, exc)
            finally:
                done.set()

        threading.Thread(target=close, name=f"close-{self.group_id}", daemon=True).start()
        finished = done.wait(wait)
        if not finished:
            log.warning("group `%s`: the cluster did not answer the leave within %g s", self.group_id, wait)
        return finished
