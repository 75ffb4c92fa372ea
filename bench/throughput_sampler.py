"""The throughput sampler's cost per interval at 1,000 and 10,000 topics, next to a bare list_offsets.

Run from the repository root, needing nothing running:

    .venv/bin/python bench/throughput_sampler.py [--topics 1000,10000] [--n 10]

It starts its own Tansu broker, Redis and SQLite database (bench/harness.py), creates the
topics with a plain AdminClient (500 per request, one partition each, as bench/topics_10k.py
does) and, in this process, times for each topic count, in one run:

- the baseline: confluent-kafka `AdminClient.list_offsets(latest)` of the same partitions,
  in one request, and in chunks of 1,000 sent together (what the sampler sends);
- the sampler's read of every topic's end offsets (`read_ends`, topic index cached);
- one whole interval (`sample_cluster`: read, subtract, one sample row + the latest row
  written), with the topic index cached and with it re-read (a Metadata request), as the
  beat task meets it when the index's METADATA_CACHE_TTL has passed.

Before each interval 1% of the topics get an event, so each sample row holds real deltas.
Traffic goes to 127.0.0.1 only; every loop is bounded; all processes stop at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402
    CaseFailed,
    Stack,
    console_env,
    manage,
    measure,
    print_table,
    row,
    start_broker_and_redis,
)

CHUNK = 1000


def create_topics(bootstrap: str, start: int, stop: int) -> float:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    began = time.monotonic()
    names = [f"bench-{i:05d}" for i in range(start, stop)]
    for first in range(0, len(names), 500):
        futures = admin.create_topics([NewTopic(n, 1, 1) for n in names[first : first + 500]], request_timeout=60)
        for future in futures.values():
            future.result(timeout=60)
    return time.monotonic() - began


def bare_list_offsets(bootstrap: str, count: int, *, chunked: bool) -> Callable[[], object]:
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import AdminClient, OffsetSpec

    admin = AdminClient({"bootstrap.servers": bootstrap})
    partitions = [TopicPartition(f"bench-{i:05d}", 0) for i in range(count)]
    chunks = [partitions[i : i + CHUNK] for i in range(0, count, CHUNK)] if chunked else [partitions]
    pool = ThreadPoolExecutor(max_workers=8)

    def one(chunk: list[TopicPartition]) -> int:
        futures = admin.list_offsets({tp: OffsetSpec.latest() for tp in chunk}, request_timeout=60)  # type: ignore[no-untyped-call]
        return sum(f.result(timeout=60).offset for f in futures.values())

    def call() -> object:
        return sum(pool.map(one, chunks))

    return call


def producer_of(bootstrap: str, count: int) -> Callable[[], None]:
    """Before an interval: one event on every 100th topic (1%), so the sample has deltas to write."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})

    def produce() -> None:
        for i in range(0, count, 100):
            producer.produce(f"bench-{i:05d}", b"x")
        producer.flush(30)

    return produce


def timed_intervals(produce: Callable[[], None], interval: Callable[[], object], n: int) -> list[float]:
    """ms per interval; the 1% produced before each one is not timed."""
    samples = []
    for _ in range(n):
        produce()
        started = time.perf_counter()
        interval()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def measure_count(bootstrap: str, count: int, n: int) -> tuple[list[str], list[str]]:
    from topics.listing import invalidate, topic_index
    from topics.throughput.sampler import read_ends, sample_cluster

    invalidate("local")  # the topics just created: the index is read again
    produce = producer_of(bootstrap, count)

    def ends() -> object:
        found = read_ends("local")
        if len(found) < count:
            raise CaseFailed(f"read {len(found)} topics of {count}")
        return found

    def cached() -> object:
        topic_index("local")  # the index is cached (as within METADATA_CACHE_TTL): offsets and database only
        return sample_cluster("local")

    def cold() -> object:
        invalidate("local")  # as the beat meets it after METADATA_CACHE_TTL: a Metadata request too
        return sample_cluster("local")

    label = f"{count:,} topics"
    rows, failures = measure(
        [
            (
                f"{label}: baseline, bare `list_offsets(latest)`, one request",
                bare_list_offsets(bootstrap, count, chunked=False),
                n,
            ),
            (
                f"{label}: baseline, bare `list_offsets(latest)`, chunks of {CHUNK:,} sent together",
                bare_list_offsets(bootstrap, count, chunked=True),
                n,
            ),
            (f"{label}: sampler `read_ends` (index cached)", ends, n),
        ]
    )
    ends()  # warm
    rows.append(
        row(
            f"{label}: sampler, one interval: read, subtract, write (index cached)", timed_intervals(produce, cached, n)
        )
    )
    rows.append(
        row(f"{label}: sampler, one interval: read, subtract, write (index re-read)", timed_intervals(produce, cold, n))
    )
    return rows, failures


def run(counts: list[int], n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="backbone-bench-") as tmp:
        stack = Stack(Path(tmp))
        try:
            bootstrap, redis_port = start_broker_and_redis(stack)
            env = console_env(stack, bootstrap, redis_port)
            manage(env, "migrate", "--noinput")
            os.environ.update(env)
            import django

            django.setup()
            from topics.throughput.models import ThroughputSample

            rows: list[str] = []
            failures: list[str] = []
            made = 0
            notes = []
            for count in counts:
                print(f"creating topics up to {count:,} ...", file=sys.stderr, flush=True)
                took = create_topics(bootstrap, made, count)
                made = count
                print(f"measuring {count:,} topics ...", file=sys.stderr, flush=True)
                found, failed = measure_count(bootstrap, count, n)
                rows += found
                failures += failed
                last = ThroughputSample.objects.order_by("-sampled_at").first()
                size = len(json.dumps(last.topics)) if last is not None else 0
                moved = len(last.topics) if last is not None else 0
                notes.append(
                    f"{count:,} topics: +{took:.0f} s to create, a sample row {moved} moved topics / {size:,} B"
                )
            print_table(
                f"Throughput sampler, one cluster ({'; '.join(notes)}) — Tansu, Redis, SQLite on 127.0.0.1",
                rows,
                failures,
                stack,
            )
        finally:
            stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--topics", default="1000,10000", help="comma-separated topic counts, ascending")
    parser.add_argument("--n", type=int, default=10, help="timed intervals per row (default 10)")
    args = parser.parse_args()
    counts = sorted({int(c) for c in args.topics.split(",")})
    if not counts or counts[0] < 1 or counts[-1] > 50_000 or not 2 <= args.n <= 1000:
        parser.error("--topics must be 1..50000 each and --n 2..1000")
    run(counts, args.n)


if __name__ == "__main__":
    main()
