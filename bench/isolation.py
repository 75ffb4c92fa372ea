"""What isolating coordinator-bound admin requests in a child process costs per call.

    .venv/bin/python bench/isolation.py [-n 300] [--groups 5]

Starts its own test broker, commits offsets for a few groups, then times the same reads
two ways in one run: the baseline, confluent-kafka's AdminClient in this process (what the
console did before), and the console's gateway, which sends them to the cluster's isolated
child process (`backbone_admin/kafka/isolation.py`).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backbone_admin.embedded import broker_command, free_port, wait_for_port  # noqa: E402


def timed(fn: Callable[[], object], n: int) -> tuple[float, float]:
    for _ in range(10):
        fn()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=300)
    parser.add_argument("--groups", type=int, default=5)
    args = parser.parse_args()

    port = free_port()
    broker = subprocess.Popen(broker_command(port), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc=broker)
        bootstrap = f"127.0.0.1:{port}"
        os.environ.update(
            {
                "DJANGO_SETTINGS_MODULE": "backbone_admin.settings",
                "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-" + uuid.uuid4().hex),
            }
        )
        import django

        django.setup()
        from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
        from confluent_kafka.admin import AdminClient, NewTopic

        from backbone_admin.kafka.groups import committed_offsets, list_groups

        quiet = logging.getLogger("bench.kafka")
        admin = AdminClient({"bootstrap.servers": bootstrap, "logger": quiet})
        topic = f"bench-{uuid.uuid4().hex[:6]}"
        admin.create_topics([NewTopic(topic, num_partitions=6, replication_factor=1)])[topic].result(10)
        from confluent_kafka import Consumer

        groups = [f"g{i}-{uuid.uuid4().hex[:6]}" for i in range(args.groups)]
        for group in groups:
            consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "logger": quiet})
            consumer.commit(offsets=[TopicPartition(topic, p, 0) for p in range(6)], asynchronous=False)
            consumer.close()

        def direct_offsets() -> None:
            futures = [
                f
                for g in groups
                for f in admin.list_consumer_group_offsets(
                    [ConsumerGroupTopicPartitions(g)], request_timeout=5
                ).values()
            ]
            for f in futures:
                f.result(6)

        def direct_list() -> None:
            admin.list_consumer_groups(request_timeout=5).result(6)

        rows = [
            (
                f"committed offsets of {args.groups} groups: in-process AdminClient (baseline)",
                timed(direct_offsets, args.n),
            ),
            (
                f"committed offsets of {args.groups} groups: isolated child (console)",
                timed(lambda: committed_offsets("local", groups), args.n),
            ),
            ("list groups: in-process AdminClient (baseline)", timed(direct_list, args.n)),
            ("list groups: isolated child (console)", timed(lambda: list_groups("local"), args.n)),
        ]
        width = max(len(r[0]) for r in rows)
        print(f"\n{'what':<{width}}  {'p50 ms':>8}  {'p99 ms':>8}")
        for name, (p50, p99) in rows:
            print(f"{name:<{width}}  {p50:>8.2f}  {p99:>8.2f}")
        print(f"\n(n={args.n} calls each, 1 topic x 6 partitions, broker: Tansu on 127.0.0.1)")
    finally:
        from backbone_admin.kafka import isolation

        isolation.shutdown()
        broker.kill()
        broker.wait()


if __name__ == "__main__":
    main()
