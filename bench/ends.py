"""What exact log ends cost: the gateway's watermarks from ListOffsets alone, and confirmed by a fetch response.

Run from the repository root, needing nothing running:

    .venv/bin/python bench/ends.py [--n 200] [--bootstrap HOST:PORT]

Without `--bootstrap` it starts its own Tansu broker (bench/harness.py); with it, it uses that
cluster (e.g. an Apache Kafka on 127.0.0.1). It writes, with a plain producer, 200 events per
partition in large batches (linger 200 ms) to topics of 1, 6 and 100 partitions and to 10
topics of 100 partitions (1,000 partitions), then times in this process, for each:

- the baseline: `offsets.watermarks(exact=False)`: ListOffsets earliest and latest (what the
  topic list uses for thousands of topics);
- `offsets.watermarks()` (exact): the same, then one fetch per partition from its ListOffsets
  end, whose response carries the high watermark (what pages, lag, replays and exports use).

and says per case how many partitions' `latest` each got right (a broker whose ListOffsets
stops at its last batch's first offset + 1, like the test broker, gets none of these right
with ListOffsets; Kafka all). A partition whose fetch does not answer within ENDS_WAIT (2 s)
keeps its ListOffsets answer: the test broker serves a fetch of 1,000 partitions that all
have a batch to return slower than that. Traffic goes to 127.0.0.1 only; all processes stop at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import Stack, start_broker_and_redis  # noqa: E402

PER_PARTITION = 200
CASES = [("1 partition", 1, 1), ("6 partitions", 1, 6), ("100 partitions", 1, 100), ("1,000 partitions", 10, 100)]


def arrange(bootstrap: str) -> dict[str, list[tuple[str, int]]]:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 200, "batch.num.messages": 10000})
    cases: dict[str, list[tuple[str, int]]] = {}
    run = uuid.uuid4().hex[:6]
    for name, topics, partitions in CASES:
        names = [f"bench-ends-{run}-{len(cases)}-{t}" for t in range(topics)]
        for future in admin.create_topics([NewTopic(t, partitions, 1) for t in names]).values():
            future.result(60)
        time.sleep(1)
        for t in names:
            for i in range(PER_PARTITION):
                for p in range(partitions):
                    producer.produce(t, partition=p, value=b'{"n": %d}' % i)
            producer.flush(60)
        cases[name] = [(t, p) for t in names for p in range(partitions)]
    return cases


def timed(fn: object, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="calls per case")
    parser.add_argument("--bootstrap", default="", help="an existing cluster instead of a Tansu of its own")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ends-") as tmp:
        stack = Stack(Path(tmp))
        try:
            bootstrap = args.bootstrap
            if not bootstrap:
                bootstrap, _redis = start_broker_and_redis(stack)
            os.environ.update(
                {
                    "DJANGO_SETTINGS_MODULE": "backbone_admin.settings",
                    "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                    "DATABASE_URL": f"sqlite:///{Path(tmp) / 'bench.sqlite3'}",
                    "HTTPS": "0",
                    "SECRET_KEY": uuid.uuid4().hex * 2,
                    "LOG_LEVEL": "WARNING",
                }
            )
            import django

            django.setup()
            from backbone_admin.kafka import offsets

            print("setting up: topics and events ...", file=sys.stderr, flush=True)
            cases = arrange(bootstrap)
            broker = "Apache Kafka at " + bootstrap if args.bootstrap else "Tansu (embedded test broker)"
            print(f"\nLog ends on {broker}, {PER_PARTITION} events per partition in large batches, n={args.n}\n")
            print(
                "| case | partitions | ListOffsets p50 ms | p99 ms | exact p50 ms | p99 ms "
                "| ListOffsets right | exact right |"
            )
            print("|---|---|---|---|---|---|---|---|")
            for name, partitions in cases.items():
                offsets.watermarks("local", partitions)  # warm: leaders known, pooled consumers built
                listed = offsets.watermarks("local", partitions, exact=False)
                exact = offsets.watermarks("local", partitions)
                right = sum(1 for tp in partitions if listed[tp].high == PER_PARTITION)
                confirmed = sum(1 for tp in partitions if exact[tp].high == PER_PARTITION)
                base = timed(lambda p=partitions: offsets.watermarks("local", p, exact=False), args.n)
                full = timed(lambda p=partitions: offsets.watermarks("local", p), args.n)
                print(
                    f"| {name} | {len(partitions):,} | {statistics.median(base):.1f} | {_p99(base):.1f} "
                    f"| {statistics.median(full):.1f} | {_p99(full):.1f} | {right:,} of {len(partitions):,} "
                    f"| {confirmed:,} of {len(partitions):,} |"
                )
        finally:
            stack.stop()


def _p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[98]


if __name__ == "__main__":
    main()
