"""Transactional producing: what a replay needs to write each source partition exactly once.

One `TransactionalProducer` per (job, source partition), with a stable `transactional.id`:
`init()` fences any earlier producer with the same id (a worker that was killed) and aborts
its open transaction, so a resumed replay never races the dead one. Records are produced
inside `begin()` … `commit()`; a failed commit is aborted by the caller.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from backbone_admin.clusters import ClusterConfig
from backbone_admin.kafka import errors, names
from backbone_admin.kafka.client import base_config, build_client, raise_translated, timeout, writable_cluster

_FENCED = {KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH}
# Seconds a transaction may stay open before the broker aborts it (a dead worker's is aborted
# by the next `init()` anyway; this bounds how long its records block read_committed readers).
TRANSACTION_TIMEOUT_MS = 60_000


class ProducerFenced(errors.Conflict):
    """A newer producer with the same transactional id took over: this one must stop."""


class TransactionalProducer:
    """A librdkafka producer with `transactional.id`, idempotence and acks=all."""

    def __init__(self, cluster_name: str, transactional_id: str, *, tuning: dict[str, Any] | None = None) -> None:
        names.text(transactional_id, "transactional id")
        self.cluster: ClusterConfig = writable_cluster(cluster_name, "producing")
        self.transactional_id = transactional_id
        conf = base_config(self.cluster)
        conf.update(
            {
                "transactional.id": transactional_id,
                "enable.idempotence": True,
                "acks": "all",
                "transaction.timeout.ms": TRANSACTION_TIMEOUT_MS,
                "linger.ms": 20,
                "batch.size": 1024 * 1024,
                "compression.type": "lz4",
                "queue.buffering.max.messages": 500_000,
                "queue.buffering.max.kbytes": 256 * 1024,
            }
        )
        conf.update(tuning or {})
        self._producer: Producer = build_client(lambda _: Producer(conf), self.cluster)
        self._open = False

    def _fail(self, exc: BaseException, what: str) -> Any:
        if isinstance(exc, KafkaException) and isinstance(exc.args[0], KafkaError):
            err: KafkaError = exc.args[0]
            if err.code() in _FENCED or (err.fatal() and "fenced" in err.str().lower()):
                raise ProducerFenced(
                    f"replay producer `{self.transactional_id}` was fenced by a newer one on cluster "
                    f"`{self.cluster.name}`: another worker took this partition over"
                ) from exc
        raise_translated(exc, self.cluster, what)

    def init(self) -> None:
        """Register the transactional id: fences an older producer and aborts its open transaction."""
        try:
            self._producer.init_transactions(timeout() * 6)
        except KafkaException as exc:
            self._fail(exc, "starting a transactional producer")

    def begin(self) -> None:
        try:
            self._producer.begin_transaction()
        except KafkaException as exc:
            self._fail(exc, "beginning a transaction")
        self._open = True

    def produce(
        self,
        topic: str,
        *,
        value: bytes | None,
        key: bytes | None,
        headers: Sequence[tuple[str, bytes | None]],
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> None:
        """Queue one record in the open transaction; waits for room when the local queue is full."""
        names.topic(topic)
        names.payload(key, "key")
        names.payload(value, "value")
        names.headers(headers)
        kwargs: dict[str, Any] = {"value": value, "key": key, "headers": headers}
        if partition is not None:
            kwargs["partition"] = partition
        if timestamp_ms is not None and timestamp_ms >= 0:
            kwargs["timestamp"] = timestamp_ms
        while True:
            try:
                self._producer.produce(topic, **kwargs)
                return
            except BufferError:
                self._producer.poll(0.05)
            except KafkaException as exc:
                self._fail(exc, f"producing to `{topic}`")

    def poll(self) -> None:
        """Serve delivery reports and errors (cheap; call now and then while producing)."""
        self._producer.poll(0)

    def commit(self) -> None:
        """Flush and commit the open transaction; raises (the caller aborts) when it failed."""
        try:
            self._producer.commit_transaction(timeout() * 6)
        except KafkaException as exc:
            self._fail(exc, "committing a transaction")
        self._open = False

    def abort(self) -> None:
        """Abort the open transaction, if any; a failure here is left to the broker's timeout."""
        if not self._open:
            return
        self._open = False
        try:
            self._producer.abort_transaction(timeout() * 2)
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if isinstance(err, KafkaError) and err.code() in _FENCED:
                return
            self._fail(exc, "aborting a transaction")

    def close(self) -> None:
        """Abort what is open and let the client go (librdkafka closes it when it is collected)."""
        with contextlib.suppress(errors.BackboneError):
            self.abort()
        self._producer.flush(0)
