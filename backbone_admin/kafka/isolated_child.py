"""The child side of `isolation.py`: runs coordinator-bound admin requests for one cluster.

Started as `python -P isolated_child.py` so that it imports neither Django nor the
console: only confluent_kafka. It reads pickled requests from stdin and writes pickled
answers to a private copy of stdout (fd 1 is pointed at stderr, so nothing librdkafka
prints can corrupt the protocol). Requests run concurrently in a thread pool; each answer
carries the request's id. Results are plain tuples and dicts, never client objects.

If librdkafka aborts here (issues 4605 and 3663: ListConsumerGroupOffsets and friends when
a connection drops), only this process ends; the parent fails the requests in flight
with a 503 and starts a new child.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
import struct
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ConfigResource,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

HEADER = struct.Struct("!I")
# librdkafka reports the real cause of a connection failure only through error_cb.
CAUSE_CODES = {KafkaError._AUTHENTICATION, KafkaError._SSL, KafkaError.SASL_AUTHENTICATION_FAILED}


class RepeatFilter(logging.Filter):
    """One of each librdkafka line per minute (a down broker repeats the same one per retry)."""

    def __init__(self, window: float = 60.0) -> None:
        super().__init__()
        self.window = window
        self.seen: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = re.sub(r"\(after \d+ms[^)]*\)|\d+ms|#\d+|-\d+\]", "", record.getMessage())
        now = time.monotonic()
        if now - self.seen.get(key, float("-inf")) < self.window:
            return False
        if len(self.seen) > 1000:
            self.seen.clear()
        self.seen[key] = now
        return True


def read_frame(stream: IO[bytes]) -> Any:
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (size,) = HEADER.unpack(header)
    body = stream.read(size)
    if len(body) < size:
        return None
    return pickle.loads(body)  # noqa: S301 - our own parent process on a private pipe


def write_frame(stream: IO[bytes], message: Any) -> None:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(HEADER.pack(len(body)) + body)
    stream.flush()


class Child:
    def __init__(self, conf: dict[str, Any]) -> None:
        self.cause: tuple[int, str, float] | None = None
        conf = dict(conf)
        conf["error_cb"] = self._on_error
        self.admin = AdminClient(conf)

    def _on_error(self, err: KafkaError) -> None:
        if err.code() in CAUSE_CODES:
            self.cause = (err.code(), err.str(), time.time())

    # Each operation returns plain data; `timeout` is the request timeout in seconds.

    def list_groups(self, timeout: float) -> list[tuple[str, str, bool, str]]:
        result = self.admin.list_consumer_groups(request_timeout=timeout).result(timeout=timeout + 1)
        if result.errors and not result.valid:
            # Every broker failed to answer: that is the cluster's error, not an empty list.
            first = result.errors[0]
            raise first if isinstance(first, KafkaException) else KafkaException(first)
        return [
            (
                g.group_id,
                getattr(g.state, "name", str(g.state)),
                bool(g.is_simple_consumer_group),
                getattr(getattr(g, "type", None), "name", "CLASSIC"),
            )
            for g in result.valid
        ]

    def list_group_offsets(self, group_ids: list[str], timeout: float) -> dict[str, Any]:
        """Committed offsets per group; a group that failed carries its error instead."""
        pending: list[tuple[str, Any]] = []
        for group_id in group_ids:
            futures = self.admin.list_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(group_id)], request_timeout=timeout
            )
            pending.extend((group_id, f) for f in futures.values())
        result: dict[str, Any] = {}
        for group_id, future in pending:
            try:
                offsets = future.result(timeout=timeout + 1)
            except KafkaException as exc:
                result[group_id] = _kafka_error(exc)
                continue
            result[group_id] = [(tp.topic, tp.partition, tp.offset) for tp in offsets.topic_partitions or []]
        return result

    def describe_groups(self, group_ids: list[str], timeout: float) -> dict[str, Any]:
        futures = self.admin.describe_consumer_groups(group_ids, request_timeout=timeout)
        result: dict[str, Any] = {}
        for group_id, future in futures.items():
            try:
                d = future.result(timeout=timeout + 1)
            except KafkaException as exc:
                result[group_id] = _kafka_error(exc)
                continue
            result[group_id] = {
                "state": getattr(d.state, "name", str(d.state)),
                "is_simple": bool(d.is_simple_consumer_group),
                "assignor": d.partition_assignor or "",
                "coordinator": d.coordinator.id if d.coordinator is not None else None,
                "members": [
                    (
                        m.member_id,
                        m.client_id,
                        m.host,
                        [(tp.topic, tp.partition) for tp in (m.assignment.topic_partitions if m.assignment else [])],
                    )
                    for m in d.members
                ],
            }
        return result

    def alter_group_offsets(self, group_id: str, offsets: list[tuple[str, int, int]], timeout: float) -> None:
        request = ConsumerGroupTopicPartitions(group_id, [TopicPartition(t, p, o) for t, p, o in offsets])
        for future in self.admin.alter_consumer_group_offsets([request], request_timeout=timeout).values():
            answer = future.result(timeout=timeout + 1)
            # The broker refuses per partition (UNKNOWN_MEMBER_ID for an active group): the
            # future succeeds and the refusal is only in each partition's error.
            for tp in answer.topic_partitions or []:
                if tp.error is not None:
                    raise KafkaException(tp.error)

    def delete_groups(self, group_ids: list[str], timeout: float) -> None:
        futures = self.admin.delete_consumer_groups(group_ids, request_timeout=timeout)
        for future in futures.values():
            future.result(timeout=timeout + 1)

    # ACLs and SCRAM credentials (security.py): the test broker's create_acls aborts librdkafka.
    # An ACL travels as (resource_type, name, pattern_type, principal, host, operation, permission)
    # of enum names; Kafka's CLUSTER resource is librdkafka's BROKER.

    def describe_acls(self, spec: tuple[Any, ...], timeout: float) -> list[tuple[str, ...]]:
        found = self.admin.describe_acls(_acl(AclBindingFilter, spec), request_timeout=timeout)
        return [_acl_tuple(b) for b in found.result(timeout=timeout + 1)]

    def authorizer(self, timeout: float) -> str | None:
        """A broker's `authorizer.class.name` ("" for none), or None when the broker does not say.

        librdkafka drops the SECURITY_DISABLED of a DescribeAcls answer and returns no ACLs: an
        empty list is told apart from a cluster without an authorizer by asking this.
        """
        brokers = self.admin.list_topics(timeout=timeout).brokers
        if not brokers:
            return None
        resource = ConfigResource(ResourceType.BROKER, str(min(brokers)))
        entries = self.admin.describe_configs([resource], request_timeout=timeout)[resource].result(timeout=timeout + 1)
        entry = entries.get("authorizer.class.name")
        return None if entry is None else (entry.value or "")

    def create_acls(self, specs: list[tuple[Any, ...]], timeout: float) -> list[Any]:
        """None per created binding, or its Kafka error."""
        bindings = [_acl(AclBinding, spec) for spec in specs]
        futures = self.admin.create_acls(bindings, request_timeout=timeout)
        return [_outcome(futures[b], timeout) for b in bindings]

    def delete_acls(self, specs: list[tuple[Any, ...]], timeout: float) -> list[Any]:
        """The bindings each filter deleted, or its Kafka error."""
        filters = [_acl(AclBindingFilter, spec) for spec in specs]
        futures = self.admin.delete_acls(filters, request_timeout=timeout)
        answers: list[Any] = []
        for f in filters:
            try:
                answers.append([_acl_tuple(b) for b in futures[f].result(timeout=timeout + 1)])
            except KafkaException as exc:
                answers.append(_kafka_error(exc))
        return answers

    def describe_scram(self, timeout: float) -> dict[str, list[tuple[str, int]]]:
        future: Any = self.admin.describe_user_scram_credentials(request_timeout=timeout)  # one future for all users
        found = future.result(timeout=timeout + 1)
        return {
            user: [(c.mechanism.name, c.iterations) for c in description.scram_credential_infos]
            for user, description in found.items()
        }

    def alter_scram(self, changes: list[tuple[Any, ...]], timeout: float) -> dict[str, Any]:
        """("upsert", user, mechanism, iterations, password) or ("delete", user, mechanism) each;
        None per user that succeeded, or its Kafka error."""
        alterations: list[Any] = []
        for change in changes:
            if change[0] == "upsert":
                _, user, mechanism, iterations, password = change
                info = ScramCredentialInfo(ScramMechanism[mechanism], iterations)
                alterations.append(UserScramCredentialUpsertion(user, info, password))
            else:
                alterations.append(UserScramCredentialDeletion(change[1], ScramMechanism[change[2]]))
        futures = self.admin.alter_user_scram_credentials(alterations, request_timeout=timeout)
        return {user: _outcome(future, timeout) for user, future in futures.items()}

    # DescribeLogDirs (logdirs.py): librdkafka has no such request, so kafka-python asks it, here,
    # where a client that hangs or dies costs one answer. Built on first use, kept for the child's life.
    _kp_admin: Any = None
    _kp_lock = threading.Lock()

    def describe_log_dirs(
        self, conf: dict[str, Any], topics: list[tuple[str, list[int]]] | None, timeout: float
    ) -> tuple[Any, ...]:
        """("unsupported", reason), or ("ok", [(broker, error or None, [(dir, error_code, [(topic,
        [(partition, size, offset_lag, is_future)])])])]): one request per broker, sent together."""
        end = time.monotonic() + timeout  # the import and the bootstrap of a new client spend it too
        import kafka.errors as kerrors
        from kafka.future import Future as KafkaFuture
        from kafka.protocol.admin import DescribeLogDirsRequest

        def left_ms() -> int:
            return max(100, int((end - time.monotonic()) * 1000))

        try:
            with self._kp_lock:
                if self._kp_admin is None:
                    self._kp_admin = _kafka_python_admin(conf, left_ms())
            manager = self._kp_admin._manager
            manager.broker_version_data.api_version(DescribeLogDirsRequest)
        except kerrors.IncompatibleBrokerVersion as exc:
            return ("unsupported", str(exc))
        except kerrors.KafkaTimeoutError as exc:
            raise TimeoutError(str(exc)) from exc
        brokers = sorted(b.node_id for b in manager.cluster.brokers())
        ms = left_ms()

        async def ask() -> list[tuple[Any, ...]]:
            request = DescribeLogDirsRequest(topics=topics)

            def send(broker: int) -> Any:
                try:
                    return manager.send(request, node_id=broker, request_timeout_ms=ms)
                except Exception as exc:  # noqa: BLE001 - answered as that broker's failure below
                    return KafkaFuture().failure(exc)

            sent = [(b, send(b)) for b in brokers]
            answers: list[tuple[Any, ...]] = []
            for broker, future in sent:
                try:
                    r = await manager.wait_for(future, ms)
                except kerrors.IncompatibleBrokerVersion as exc:
                    answers.append((broker, ("unsupported", str(exc)), None))
                    continue
                except Exception as exc:  # noqa: BLE001 - one broker's failure is part of the answer
                    answers.append((broker, (type(exc).__name__, str(exc)), None))
                    continue
                top = getattr(r, "error_code", 0) or 0  # v3+: CLUSTER_AUTHORIZATION_FAILED lands here
                if top:
                    answers.append((broker, ("code", top), None))
                    continue
                dirs = [
                    (
                        d.log_dir,
                        d.error_code,
                        [
                            (
                                t.name,
                                [
                                    (p.partition_index, p.partition_size, p.offset_lag, bool(p.is_future_key))
                                    for p in t.partitions
                                ],
                            )
                            for t in d.topics
                        ],
                    )
                    for d in r.results
                ]
                answers.append((broker, None, dirs))
            return answers

        return ("ok", manager.run(ask))


def _kafka_python_admin(conf: dict[str, Any], ms: int) -> Any:
    from kafka import KafkaAdminClient

    # Its failures come back as answers; its lines per retry would flood the log while a cluster is down.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)

    class Admin(KafkaAdminClient):
        def __init__(self, **configs: Any) -> None:
            try:
                super().__init__(**configs)
            except BaseException:
                # Its IO thread starts before the bootstrap: a cluster that never answers would
                # leave one running per failed try.
                if getattr(self, "_net", None) is not None:
                    self._client.close()
                    self._net.stop()
                raise

    return Admin(**conf, request_timeout_ms=ms, bootstrap_timeout_ms=ms)


def _acl(kind: Any, spec: tuple[Any, ...]) -> Any:
    resource_type, name, pattern_type, principal, host, operation, permission = spec
    resource = ResourceType.BROKER if resource_type == "CLUSTER" else ResourceType[resource_type]
    return kind(
        resource,
        name,
        ResourcePatternType[pattern_type],
        principal,
        host,
        AclOperation[operation],
        AclPermissionType[permission],
    )


def _acl_tuple(b: AclBinding) -> tuple[str, ...]:
    resource_type = "CLUSTER" if b.restype == ResourceType.BROKER else _name(b.restype)
    return (
        resource_type,
        b.name,
        _name(b.resource_pattern_type),
        b.principal,
        b.host,
        _name(b.operation),
        _name(b.permission_type),
    )


def _name(value: Any) -> str:
    """An enum's name (the bindings' attributes are typed as enum, str or int)."""
    return str(getattr(value, "name", value))


def _outcome(future: Any, timeout: float) -> Any:
    try:
        future.result(timeout=timeout + 1)
    except KafkaException as exc:
        return _kafka_error(exc)
    return None


def _kafka_error(exc: KafkaException) -> tuple[str, int, str]:
    err = exc.args[0] if exc.args else None
    if isinstance(err, KafkaError):
        return ("kafka", err.code(), err.str())
    return ("kafka", KafkaError._FAIL, str(exc))


def handle(child: Child, op: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
    method: Callable[..., Any] | None = getattr(child, op, None) if not op.startswith("_") else None
    if method is None:
        return ("error", "ValueError", f"unknown operation {op}")
    try:
        return ("ok", method(*args))
    except KafkaException as exc:
        return _kafka_error(exc)
    except TimeoutError:
        return ("timeout",)
    except Exception as exc:  # noqa: BLE001 - everything goes back to the parent as an answer
        return ("error", type(exc).__name__, str(exc))


def main() -> None:
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray writes to stdout go to stderr, never into the protocol
    source = sys.stdin.buffer
    first = read_frame(source)
    if first is None:
        return
    name = first.pop("backbone.cluster", "?")
    logging.basicConfig(format=f"%(asctime)s %(levelname)s isolated Kafka client ({name}): %(message)s")
    first["logger"] = logging.getLogger(f"backbone.kafka.{name}")
    first["logger"].addFilter(RepeatFilter())
    lock = threading.Lock()
    try:
        child = Child(first)
    except Exception as exc:  # noqa: BLE001 - e.g. an unreadable CA file: answer every request with it
        failure = ("error", type(exc).__name__, str(exc))
        while (request := read_frame(source)) is not None:
            with lock:
                write_frame(out, (request[0], failure, None))
        return
    pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="isolated")
    # kafka-python (log-dir sizes) takes a second to import on a busy machine: not on the first request's time.
    pool.submit(__import__, "kafka.admin")

    def run(request_id: int, op: str, args: tuple[Any, ...]) -> None:
        answer = handle(child, op, args)
        child.admin.poll(0)  # serves error_cb: the cause of a failure is known before we answer
        if answer[0] == "ok":
            child.cause = None  # the cluster answered: an earlier failure no longer explains anything
        with lock:
            write_frame(out, (request_id, answer, child.cause))

    while (request := read_frame(source)) is not None:
        request_id, op, args = request
        pool.submit(run, request_id, op, args)
    pool.shutdown(wait=False, cancel_futures=True)


if __name__ == "__main__":
    main()
