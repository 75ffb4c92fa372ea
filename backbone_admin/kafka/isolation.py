"""Coordinator-bound admin requests run in one child process per cluster.

librdkafka can abort the whole process (an assertion in C, SIGABRT) in admin requests sent
to a group coordinator when a connection drops — ListConsumerGroupOffsets,
DescribeConsumerGroups and friends (librdkafka issues 4605, 3663). Python cannot catch
that, so those requests never run in a web, worker or beat process: each cluster gets a
child (`isolated_child.py`, only confluent_kafka inside) that serves them concurrently. A
child that dies costs the requests in flight a 503 naming the cause; the next request
starts a new child. One cluster's child never serves another cluster. ACL and SCRAM
requests (`security.py`) run there too: a broker's CreateAcls answer can abort librdkafka
the same way (TEST_BROKER.md).
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from backbone_admin.clusters import ClusterConfig
from backbone_admin.kafka import errors
from backbone_admin.kafka.client import base_config, note_cause, raise_translated, timeout, unreachable
from backbone_admin.kafka.isolated_child import read_frame, write_frame

log = logging.getLogger("backbone.kafka.isolation")
CHILD_SCRIPT = Path(__file__).with_name("isolated_child.py")


class _ChildProcess:
    """One running child, the requests it has in flight, and the thread reading its answers."""

    def __init__(self, cluster: ClusterConfig) -> None:
        self.cluster = cluster
        conf = {k: v for k, v in base_config(cluster).items() if not callable(v) and k != "logger"}
        conf["backbone.cluster"] = cluster.name
        # -P: do not put the gateway's folder first on sys.path (its types.py would shadow the stdlib's).
        self.proc = subprocess.Popen(
            [sys.executable, "-P", str(CHILD_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,
            close_fds=True,
            start_new_session=True,  # a Ctrl-C meant for the console reaches the child through us
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin = self.proc.stdin
        self.stdout = self.proc.stdout
        self.lock = threading.Lock()
        self.pending: dict[int, Future[Any]] = {}
        self.last_heard = time.monotonic()
        self.dead = False
        write_frame(self.stdin, conf)
        threading.Thread(target=self._read, name=f"isolated-{cluster.name}", daemon=True).start()

    def submit(self, request_id: int, op: str, args: tuple[Any, ...]) -> Future[Any]:
        future: Future[Any] = Future()
        with self.lock:
            if self.dead:
                raise BrokenPipeError("child is gone")
            self.pending[request_id] = future
            try:
                write_frame(self.stdin, (request_id, op, args))
            except OSError:
                self.pending.pop(request_id, None)
                raise
        return future

    def _read(self) -> None:
        while True:
            try:
                message = read_frame(self.stdout)
            except Exception:  # noqa: BLE001 - a torn frame means the child died mid-write
                message = None
            if message is None:
                break
            request_id, answer, cause = message
            self.last_heard = time.monotonic()
            if cause is not None:
                note_cause(self.cluster.name, cause[0], cause[1], cause[2])
            with self.lock:
                future = self.pending.pop(request_id, None)
            if future is not None and not future.done():
                future.set_result((answer, cause))
        self._died()

    def _died(self) -> None:
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        reason = describe_exit(code)
        with self.lock:
            self.dead = True
            pending, self.pending = self.pending, {}
        if pending or code not in (0, -signal.SIGTERM, -signal.SIGKILL):
            log.error(
                "Kafka client child for cluster %s ended (%s); %d requests failed",
                self.cluster.name,
                reason,
                len(pending),
            )
        for future in pending.values():
            if not future.done():
                future.set_exception(ChildDied(reason))

    def kill(self) -> None:
        with self.lock:
            self.dead = True
        if self.proc.poll() is None:
            self.proc.kill()

    def alive(self) -> bool:
        return not self.dead and self.proc.poll() is None


class ChildDied(Exception):
    pass


def describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


_children: dict[str, _ChildProcess] = {}
_children_lock = threading.Lock()
_ids = itertools.count(1)


def _child(cluster: ClusterConfig) -> _ChildProcess:
    with _children_lock:
        child = _children.get(cluster.name)
        if child is None or not child.alive() or child.cluster != cluster:
            if child is not None:
                child.kill()
            child = _children[cluster.name] = _ChildProcess(cluster)
        return child


def run(cluster: ClusterConfig, op: str, *args: Any, what: str) -> Any:
    """Run one operation of `isolated_child.Child` for the cluster; translate every failure."""
    limit = timeout()
    try:
        child = _child(cluster)
        future = child.submit(next(_ids), op, (*args, limit))
    except OSError as exc:
        raise errors.ClusterUnavailable(
            f"cluster `{cluster.name}`: the Kafka client could not be started for {what} ({exc})"
        ) from exc
    try:
        answer, _cause = future.result(timeout=limit + 1)
    except FutureTimeout:
        # A child that has said nothing for the whole wait is stuck: replace it.
        if time.monotonic() - child.last_heard > limit + 1:
            child.kill()
        unreachable(cluster, what)
    except ChildDied as exc:
        raise errors.ClusterUnavailable(
            f"cluster `{cluster.name}`: the Kafka client failed during {what} ({exc}); "
            "the console restarted it, try again"
        ) from exc
    return unpack(answer, cluster, what)


def unpack(answer: tuple[Any, ...], cluster: ClusterConfig, what: str) -> Any:
    kind = answer[0]
    if kind == "ok":
        return answer[1]
    if kind == "kafka":
        raise_translated(KafkaException(KafkaError(answer[1], answer[2])), cluster, what)
    if kind == "timeout":
        unreachable(cluster, what)
    raise_translated(_rebuild(answer[1], answer[2]), cluster, what)


def _rebuild(type_name: str, message: str) -> Exception:
    if type_name in ("ValueError", "TypeError"):
        return ValueError(message)
    return RuntimeError(f"{type_name}: {message}")


def child_pid(cluster_name: str) -> int | None:
    """The running child's pid (tests kill it to prove that costs one answer)."""
    child = _children.get(cluster_name)
    return child.proc.pid if child is not None and child.alive() else None


def shutdown() -> None:
    with _children_lock:
        for child in _children.values():
            child.kill()
        _children.clear()


def _after_fork_in_child() -> None:
    # A forked process (Celery's prefork pool) must not share its parent's pipes or locks.
    global _children_lock
    _children.clear()
    _children_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)
