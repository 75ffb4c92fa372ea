"""Shared by the jobs tests: arranged topics, waiting for a job, reading a topic independently."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from streams.jobs.models import Job
from tests.conftest import BASE_DIR, _subprocess_env, log_ends
from tests.plugin import OUTPUT
from tests.timestamps import RECENT

Event = tuple[int, int, bytes | None, bytes | None, tuple[tuple[str, bytes], ...], int]


def create_topic(admin: AdminClient, name: str, partitions: int) -> None:
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(10)


def fill(bootstrap: str, topic: str, partitions: int, per_partition: int, *, binary_every: int = 0) -> None:
    """Events with keys, headers, timestamps; each partition's last event alone in its batch, so
    the test broker's `latest` offset is exact (TEST_BROKER.md)."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "logger": logging.getLogger("tests.kafka")})
    base = RECENT  # partition p starts 1,000 s later per p: still in the past for 3 partitions (RECENT is 1 h ago)
    for p in range(partitions):
        for i in range(per_partition):
            if i == per_partition - 1:
                producer.flush(10)
            value = (
                bytes([0xFF, 0xFE, i % 256])
                if binary_every and i % binary_every == 0
                else f'{{"n": {i}, "p": {p}, "text": "é,\\"q\\""}}'.encode()
            )
            producer.produce(
                topic,
                partition=p,
                key=f"key-{p}-{i}".encode() if i % 7 else None,
                value=value,
                headers=[("source", b"test"), ("seq", str(i).encode())] if i % 3 else [],
                timestamp=base + p * 1_000_000 + i,
            )
            if i == per_partition - 1:
                producer.flush(10)
    producer.flush(10)


def read_all(
    bootstrap: str, topic: str, partitions: int, *, timeout: float = 20, isolation: str = "read_committed"
) -> list[Any]:
    """Every record of the topic, read by an independent consumer (read_committed unless told).

    read_uncommitted is for a topic that several transactional producers wrote to at once (a
    replay mapping by key) where nothing was aborted: Kafka's read_committed answer is then the
    same, and the test broker can leave its last stable offset behind committed records of
    overlapping transactions for good (reproduced: 1 in 40-60 rounds of three producers).
    """
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"check-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": isolation,
            "logger": logging.getLogger("tests.kafka"),
        }
    )
    ends = log_ends(bootstrap, topic, range(partitions))
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    out: list[Any] = []
    at_end: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(at_end) < partitions and time.monotonic() < deadline:
        for msg in consumer.consume(1000, 0.5):
            err = msg.error()
            if err is not None:
                # An end before the log's end: the last commit's markers are not written yet.
                if err.code() == KafkaError._PARTITION_EOF and (msg.offset() or 0) >= ends[msg.partition() or 0]:
                    at_end.add(msg.partition() or 0)
                continue
            at_end.discard(msg.partition() or 0)
            out.append(msg)
    consumer.close()
    return out


def as_event(msg: Any, *, without: tuple[str, ...] = ()) -> Event:
    headers = tuple((k, v) for k, v in (msg.headers() or []) if k not in without)
    return (msg.partition(), msg.offset(), msg.key(), msg.value(), headers, msg.timestamp()[1])


def wait_for(job_id: int, statuses: tuple[str, ...] = Job.FINISHED, timeout: float = 60) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = Job.objects.get(pk=job_id)
        if job.status in statuses:
            return job
        time.sleep(0.2)
    job = Job.objects.get(pk=job_id)
    parts = list(job.partitions.values("partition", "status", "position", "done", "error"))
    raise AssertionError(f"job {job_id} is still {job.status} after {timeout} s: {parts}")


@contextmanager
def own_worker(
    kafka_bootstrap: str, redis_url: str, queue: str, name: str, **env: str
) -> Iterator[subprocess.Popen[bytes]]:
    """A Celery worker of the test's own (its own process group, so it can be SIGKILLed whole)."""
    OUTPUT.mkdir(exist_ok=True)
    log_path = OUTPUT / f"celery-{name}.log"
    environment = _subprocess_env(kafka_bootstrap, redis_url)
    environment.update({"JOBS_QUEUE": queue, **env})
    with log_path.open("ab") as log:
        start = log.tell()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "backbone_admin",
                "worker",
                "-Q",
                queue,
                "--loglevel",
                "INFO",
                "--concurrency",
                "2",
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
                "-n",
                f"{name}-{uuid.uuid4().hex[:6]}@%h",
            ],
            cwd=BASE_DIR,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while b"ready." not in Path(log_path).read_bytes()[start:]:
        if proc.poll() is not None or time.monotonic() > deadline:
            kill(proc)
            raise RuntimeError(f"the Celery worker did not start; see {log_path}")
        time.sleep(0.2)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                kill(proc)


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the worker and its pool processes at once, as a crash would."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
