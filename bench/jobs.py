"""Export and replay jobs on a real Celery worker, next to bare confluent-kafka loops in the same run.

Run from the repository root, needing nothing running:

    .venv/bin/python bench/jobs.py [--events 1000000] [--size 200] [--partitions 6]

It starts its own Tansu broker, Redis and SQLite database (bench/harness.py), fills one topic
with `--events` events of `--size` bytes on `--partitions` partitions, and times, in one run:

- bare export: a confluent-kafka Consumer assigned to every partition, `consume(50000)` batches,
  raw values joined by newlines written to a file (the fastest loop; nothing else per event);
- the export job: JSON Lines with key, headers, partition, offset, timestamp, on one worker
  process and on two (`make run` starts two), and the peak RSS of a worker process sampled
  every 50 ms; both right after the bare loops, on the broker they read;
- bare replay: `consume(50000)` → `produce()` of each event (key, value, headers, timestamp,
  same partition) → flush, into a fresh topic;
- the replay job (transactions, provenance headers, checkpoints) with one and with two worker
  processes, each into a fresh topic.

Targets (issue 9): export ≥ 60% of the bare loop, worker RSS ≤ 150 MB and flat as the topic
grows (compare two sizes); replay ≥ 50% of the bare loop.
Traffic goes to 127.0.0.1 only; every loop is bounded; all processes stop at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import Stack, console_env, manage, start_broker_and_redis  # noqa: E402

SOURCE = "bench-jobs-source"
TIMEOUT = 1800.0


def fill(bootstrap: str, events: int, size: int, partitions: int) -> float:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(SOURCE, partitions, 1)])[SOURCE].result(30)
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 50, "batch.size": 1_000_000, "compression.type": "lz4"}
    )
    started = time.monotonic()
    value = b"v" * size
    headers = [("source", b"bench")]
    for i in range(events - partitions):
        producer.produce(SOURCE, value=value, key=f"key-{i}".encode(), partition=i % partitions, headers=headers)
        if i % 10000 == 0:
            producer.poll(0)
    producer.flush(120)
    for p in range(partitions):  # the last event of each partition alone: Tansu's `latest` is then exact
        producer.produce(SOURCE, value=value, key=b"last", partition=p, headers=headers)
        producer.flush(30)
    return time.monotonic() - started


# Fetch settings of the bare loops. "large": big fetches and librdkafka's other defaults (whose
# 1 s fetch backoff after a full prefetch queue slows it); "tuned": the console's own reader
# settings (backbone_admin/kafka/records.py), the fastest measured here. Both read with a short
# consume() timeout: consume() waits for the whole batch or the timeout, and a long timeout
# would make the loop sit out its last batch.
BARE_SETTINGS: dict[str, dict[str, Any]] = {
    "large": {"fetch.max.bytes": 16 * 1024 * 1024, "max.partition.fetch.bytes": 4 * 1024 * 1024},
    "tuned": {
        "fetch.wait.max.ms": 100,
        "fetch.queue.backoff.ms": 10,
        "fetch.max.bytes": 2 * 1024 * 1024,
        "max.partition.fetch.bytes": 256 * 1024,
        "queued.max.messages.kbytes": 2 * 1024,
    },
}
BARE_WAIT = 0.05


def _consumer(bootstrap: str, partitions: int, settings: str = "tuned") -> Any:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "bench-bare",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            **BARE_SETTINGS[settings],
        }
    )
    consumer.list_topics(SOURCE, timeout=10)  # connected before the clock starts
    consumer.assign([TopicPartition(SOURCE, p, OFFSET_BEGINNING) for p in range(partitions)])
    return consumer


def bare_export(bootstrap: str, partitions: int, path: Path, settings: str) -> tuple[int, float]:
    consumer = _consumer(bootstrap, partitions, settings)
    count, ended = 0, 0
    started = time.monotonic()
    with path.open("wb") as out:
        while ended < partitions and time.monotonic() - started < TIMEOUT:
            messages = consumer.consume(50000, BARE_WAIT)
            values = []
            for msg in messages:
                if msg.error():
                    ended += 1
                    continue
                values.append(msg.value())
            if values:
                out.write(b"\n".join(values))
                out.write(b"\n")
                count += len(values)
    elapsed = time.monotonic() - started
    consumer.close()
    return count, elapsed


def bare_replay(bootstrap: str, partitions: int, target: str) -> tuple[int, float]:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(target, partitions, 1)])[target].result(30)
    consumer = _consumer(bootstrap, partitions)
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 20,
            "batch.size": 1024 * 1024,
            "compression.type": "lz4",
            "enable.idempotence": True,
            "queue.buffering.max.messages": 500_000,
        }
    )
    count, ended = 0, 0
    started = time.monotonic()
    while ended < partitions and time.monotonic() - started < TIMEOUT:
        for msg in consumer.consume(50000, BARE_WAIT):
            if msg.error():
                ended += 1
                continue
            while True:
                try:
                    producer.produce(
                        target,
                        value=msg.value(),
                        key=msg.key(),
                        headers=msg.headers(),
                        partition=msg.partition(),
                        timestamp=msg.timestamp()[1],
                    )
                    break
                except BufferError:
                    producer.poll(0.05)
            count += 1
        producer.poll(0)
    producer.flush(120)
    elapsed = time.monotonic() - started
    consumer.close()
    return count, elapsed


class RssWatch:
    """Peak RSS of each pool process of a Celery worker (its children), sampled every 50 ms;
    also the peak before `half()` was called (to see whether it grows with the events exported)."""

    def __init__(self, pid: int) -> None:
        import psutil

        self.root = psutil.Process(pid)
        self.peak = 0
        self.first_half = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                for child in self.root.children(recursive=True):
                    self.peak = max(self.peak, child.memory_info().rss)
            except psutil.Error:
                pass
            time.sleep(0.05)

    def half(self) -> None:
        self.first_half = self.peak

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(timeout=5)
        return self.peak


def run_job(body: dict[str, Any], user: Any, watch: RssWatch | None = None) -> tuple[Any, float]:
    """Start the job and wait for it; with `watch`, mark when half of its events were done."""
    from streams.jobs.models import Job, JobPartition
    from streams.jobs.requests import parse_request
    from streams.jobs.services import job_start

    os.sync()  # what earlier cases wrote is on disk before the clock starts
    started = time.monotonic()
    job = job_start(user=user, ask=parse_request(body))
    halved = watch is None
    while time.monotonic() - started < TIMEOUT:
        job = Job.objects.get(pk=job.pk)
        if job.finished:
            break
        if not halved and watch is not None:
            parts = list(JobPartition.objects.filter(job=job))
            if sum(p.read for p in parts) * 2 >= sum(p.total for p in parts) > 0:
                watch.half()
                halved = True
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    if job.status != Job.Status.SUCCEEDED:
        raise SystemExit(f"job {job.pk} {job.status}: {job.error}")
    return job, elapsed


def start_worker(stack: Stack, env: dict[str, str], concurrency: int) -> Any:
    name = f"worker-{concurrency}"
    cmd = [sys.executable, "-m", "celery", "-A", "backbone_admin", "worker", "--loglevel", "WARNING",
           "--concurrency", str(concurrency), "--without-heartbeat", "--without-mingle", "--without-gossip",
           "-n", f"{name}@%h"]  # fmt: skip
    proc = stack.start(name, cmd, env)
    deadline = time.monotonic() + 60
    log = stack.workdir / f"{name}.log"
    while time.monotonic() < deadline:
        time.sleep(0.5)
        if proc.poll() is not None:
            raise SystemExit(f"the worker did not start:\n{stack.tail(name)}")
        # Celery logs "ready." at INFO; at WARNING the pool children appearing say the same.
        import psutil

        if len(psutil.Process(proc.pid).children()) >= concurrency and log.exists():
            time.sleep(1.0)
            return proc
    raise SystemExit(f"the worker did not start:\n{stack.tail(name)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--size", type=int, default=200)
    parser.add_argument("--partitions", type=int, default=6)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-jobs-") as tmp:
        workdir = Path(tmp)
        stack = Stack(workdir)
        try:
            bootstrap, redis_port = start_broker_and_redis(stack)
            env = console_env(stack, bootstrap, redis_port)
            env["EXPORT_ROOT"] = str(workdir / "exports")
            env["JOBS_MAX_RUNNING_PER_USER"] = "10"
            print("setting up: migrate, topic ...", file=sys.stderr, flush=True)
            manage(env, "migrate", "--noinput")
            os.environ.update(env)
            import django

            django.setup()
            from django.contrib.auth import get_user_model

            from backbone_admin.roles import assign_role

            user = get_user_model().objects.create_user("bench-jobs")
            assign_role(user, "operator")
            filled = fill(bootstrap, args.events, args.size, args.partitions)
            print(f"filled {args.events:,} events in {filled:.1f} s", file=sys.stderr, flush=True)

            rows: list[tuple[str, int, float, str]] = []
            rates = {}
            for settings in ("large", "tuned"):
                count, elapsed = bare_export(bootstrap, args.partitions, workdir / "bare.txt", settings)
                # Gone before its pages are written back: that writeback slowed the next case by 0.6 s.
                (workdir / "bare.txt").unlink()
                rates[settings] = count / elapsed
                rows.append(
                    (f"bare export ({settings} fetches): consume(50000), values joined by newlines", count, elapsed, "")
                )
            bare_export_rate = max(rates.values())
            fastest = -2 if rates["large"] >= rates["tuned"] else -1
            rows[fastest] = (*rows[fastest][:3], "baseline: the fastest bare loop")

            def export(workers: int) -> None:
                watch = RssWatch(worker.pid)
                body = {"kind": "export", "cluster": "local", "topic": SOURCE, "format": "jsonl"}
                job, elapsed = run_job(body, user, watch)
                peak = watch.stop()
                rate = job.result["lines"] / elapsed
                plural = "es" if workers > 1 else ""
                rows.append(
                    (
                        f"export job, JSON Lines, {workers} worker process{plural}",
                        job.result["lines"],
                        elapsed,
                        f"{100 * rate / bare_export_rate:.0f}% of the fastest bare loop; peak RSS of a worker "
                        f"process {peak / 2**20:.0f} MiB ({watch.first_half / 2**20:.0f} MiB by half-way)",
                    )
                )

            # Both exports read the topic as the bare loops did, before the replays add 2M events
            # to the (in-memory) broker.
            worker = start_worker(stack, env, 1)
            export(1)
            stack.stop(["worker-1"])
            worker = start_worker(stack, env, 2)
            export(2)

            count, elapsed = bare_replay(bootstrap, args.partitions, "bench-jobs-bare-copy")
            rows.append(("bare replay: consume(50000) → produce, flush", count, elapsed, ""))
            bare_replay_rate = count / elapsed
            for workers in (2, 1):
                if workers == 1:
                    stack.stop(["worker-2"])
                    worker = start_worker(stack, env, 1)
                target = f"bench-jobs-copy-{workers}"
                from backbone_admin.kafka.topics import create_topic

                create_topic("local", target, partitions=args.partitions, replication_factor=1)
                body = {"kind": "replay", "cluster": "local", "topic": SOURCE, "target_topic": target}
                job, elapsed = run_job(body, user)
                written = job.result["target_events_written"]
                rate = written / elapsed
                rows.append(
                    (
                        f"replay job, {workers} worker process{'es' if workers > 1 else ''}",
                        written,
                        elapsed,
                        f"{100 * rate / bare_replay_rate:.0f}% of bare",
                    )
                )
        finally:
            stack.stop()

    print(f"\n## Jobs: {args.events:,} events x {args.size} B on {args.partitions} partitions\n")
    print("| case | events | seconds | events/s | note |")
    print("|---|---:|---:|---:|---|")
    for what, count, elapsed, note in rows:
        print(f"| {what} | {count:,} | {elapsed:.2f} | {count / elapsed:,.0f} | {note} |")


if __name__ == "__main__":
    main()
