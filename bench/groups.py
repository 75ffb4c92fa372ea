"""Consumer group list with 2,000 groups and a group detail with 100 partitions, next to bare AdminClient loops.

Run from the repository root, needing nothing running:

    .venv/bin/python bench/groups.py [--groups 2000] [--partitions 100] [--n 50]

It starts its own Tansu broker, Redis, SQLite database and Daphne (bench/harness.py), then
with a plain client: 100 topics of 4 partitions (one event each), `--groups` empty groups
each with committed offsets on one of them, and one topic of `--partitions` partitions (three
events each, each flushed on its own so end offsets are exact) with a group one event behind
on every partition. Logged in as a viewer it times, in one run:

- the baselines, in this process: `list_consumer_groups` + `list_consumer_group_offsets` of
  every group (all requests sent together) + `list_offsets` (latest) of their partitions; and
  for one group: `describe_consumer_groups` + `list_consumer_group_offsets` + `list_offsets`;
- the group list through the API and as the page: cold (`?refresh=1`: ListGroups, then
  describe and offsets of the page's groups, end offsets of their partitions), cold sorted
  by lag (offsets of every group, in batches sent together; end offsets per partition
  chunk) and by members (every group described), and warm (cached), sorted by lag;
- the group detail (members, offsets, end offsets, lag and time lag: one event read per
  lagging partition) through the API and as the page.

Targets (issue 9): list p50/p99 ≤ 1 s, detail ≤ 300 ms.
Traffic goes to 127.0.0.1 only; every loop is bounded; all processes stop at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import CaseFailed, Stack, http_call, measure, print_table, start_console  # noqa: E402

LIST_TOPICS = 100
LIST_PARTITIONS = 4
DETAIL_TOPIC = "bench-wide"
DETAIL_GROUP = "bench-wide-reader"


def arrange(bootstrap: str, groups: int, partitions: int) -> float:
    from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    started = time.monotonic()
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = [f"bench-t{i:03d}" for i in range(LIST_TOPICS)]
    new = [NewTopic(t, LIST_PARTITIONS, 1) for t in topics] + [NewTopic(DETAIL_TOPIC, partitions, 1)]
    for future in admin.create_topics(new, request_timeout=60).values():
        future.result(timeout=60)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for t in topics:
        for p in range(LIST_PARTITIONS):
            producer.produce(t, value=b"x" * 100, partition=p)
    producer.flush(60)
    for _ in range(3):  # one event per batch: the test broker's end offset is exact then
        for p in range(partitions):
            producer.produce(DETAIL_TOPIC, value=b"y" * 100, partition=p)
        producer.flush(60)
    # Committing through the admin API creates the (empty) groups; requests go out together.
    pending = []
    for g in range(groups):
        topic = topics[g % LIST_TOPICS]
        offsets = [TopicPartition(topic, p, g % 2) for p in range(LIST_PARTITIONS)]
        pending.extend(
            admin.alter_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(f"bench-g{g:05d}", offsets)], request_timeout=60
            ).values()
        )
        if len(pending) >= 200:
            for future in pending:
                future.result(timeout=60)
            pending = []
    wide = [TopicPartition(DETAIL_TOPIC, p, 2) for p in range(partitions)]
    pending.extend(
        admin.alter_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(DETAIL_GROUP, wide)], request_timeout=60
        ).values()
    )
    for future in pending:
        future.result(timeout=60)
    return time.monotonic() - started


def baseline_list(bootstrap: str) -> Callable[[], object]:
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
    from confluent_kafka.admin import AdminClient, OffsetSpec

    admin = AdminClient({"bootstrap.servers": bootstrap})

    def call() -> object:
        ids = [g.group_id for g in admin.list_consumer_groups(request_timeout=30).result(timeout=30).valid]
        futures = [
            f for gid in ids for f in admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(gid)]).values()
        ]
        partitions = {(tp.topic, tp.partition) for f in futures for tp in f.result(timeout=30).topic_partitions}
        ends = admin.list_offsets({TopicPartition(t, p): OffsetSpec.latest() for t, p in partitions})
        return sum(f.result(timeout=30).offset for f in ends.values())

    return call


def baseline_detail(bootstrap: str) -> Callable[[], object]:
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
    from confluent_kafka.admin import AdminClient, OffsetSpec

    admin = AdminClient({"bootstrap.servers": bootstrap})

    def call() -> object:
        described = admin.describe_consumer_groups([DETAIL_GROUP])[DETAIL_GROUP]
        offsets = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(DETAIL_GROUP)])[DETAIL_GROUP]
        tps = offsets.result(timeout=30).topic_partitions
        ends = admin.list_offsets({TopicPartition(tp.topic, tp.partition): OffsetSpec.latest() for tp in tps})
        described.result(timeout=30)
        return sum(f.result(timeout=30).offset for f in ends.values())

    return call


def run(groups: int, partitions: int, n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="backbone-bench-") as tmp:
        stack = Stack(Path(tmp))
        try:
            client, _env, bootstrap = start_console(stack, role="viewer", demo=False)
            print(f"creating {groups} groups and a {partitions}-partition topic ...", file=sys.stderr, flush=True)
            arranged_in = arrange(bootstrap, groups, partitions)

            status, body = client.get("/api/clusters/local/groups/?refresh=1&page_size=1")
            if status != 200:
                raise SystemExit(f"group list answered {status}: {body[:300]!r}\n{stack.errors('daphne')}")
            listed = json.loads(body)["count"]
            status, body = client.get(f"/api/clusters/local/groups/{DETAIL_GROUP}/")
            detail = json.loads(body) if status == 200 else {}
            lagging = sum(1 for p in detail.get("partitions", []) if p["lag"] == 1)
            timed_lag = sum(1 for p in detail.get("partitions", []) if p["time_lag_ms"] is not None)
            if lagging != partitions or timed_lag != partitions:
                raise SystemExit(f"group detail is not as arranged ({status}): {lagging} lagging, {timed_lag} timed")

            slow_n = max(3, min(10, n // 5))

            def detail_call(path: str) -> Callable[[], object]:
                fetch = http_call(client, path)

                def call() -> object:
                    body = fetch()
                    if isinstance(body, bytes) and b"time lag unknown" in body:
                        raise CaseFailed("time lag was not read in time")
                    return body

                return call

            cases: list[tuple[str, Callable[[], object], int]] = [
                (f"baseline: AdminClient list + {groups:,} offsets + end offsets", baseline_list(bootstrap), slow_n),
                (
                    "API group list, cold (`?refresh=1`)",
                    http_call(client, "/api/clusters/local/groups/?refresh=1"),
                    slow_n,
                ),
                ("page group list, cold", http_call(client, "/clusters/local/groups/?refresh=1"), slow_n),
                (
                    "API group list sorted by lag, cold (lag of every group)",
                    http_call(client, "/api/clusters/local/groups/?refresh=1&sort=lag&order=desc"),
                    slow_n,
                ),
                (
                    "API group list sorted by members, cold (every group described)",
                    http_call(client, "/api/clusters/local/groups/?refresh=1&sort=members&order=desc"),
                    slow_n,
                ),
                ("API group list, warm", http_call(client, "/api/clusters/local/groups/"), n),
                (
                    "API group list sorted by lag, warm",
                    http_call(client, "/api/clusters/local/groups/?sort=lag&order=desc"),
                    n,
                ),
                ("page group list, warm", http_call(client, "/clusters/local/groups/"), n),
                (
                    f"baseline: AdminClient describe + offsets + end offsets ({partitions} partitions)",
                    baseline_detail(bootstrap),
                    n,
                ),
                (
                    f"API group detail, {partitions} partitions, time lag",
                    detail_call(f"/api/clusters/local/groups/{DETAIL_GROUP}/"),
                    n,
                ),
                (
                    f"page group detail, {partitions} partitions",
                    detail_call(f"/clusters/local/groups/{DETAIL_GROUP}/"),
                    n,
                ),
            ]
            print("measuring ...", file=sys.stderr, flush=True)
            rows, failures = measure(cases)
            print_table(
                f"Consumer groups: {listed:,} groups listed, detail of {partitions} partitions (arranged in "
                f"{arranged_in:.1f} s) — Tansu, Redis, SQLite, Daphne on 127.0.0.1",
                rows,
                failures,
                stack,
            )
        finally:
            stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--groups", type=int, default=2000)
    parser.add_argument("--partitions", type=int, default=100)
    parser.add_argument("--n", type=int, default=50, help="timed requests per warm row (default 50)")
    args = parser.parse_args()
    if not 1 <= args.groups <= 20_000 or not 1 <= args.partitions <= 1000 or not 1 <= args.n <= 10_000:
        parser.error("--groups must be 1..20000, --partitions 1..1000 and --n 1..10000")
    run(args.groups, args.partitions, args.n)


if __name__ == "__main__":
    main()
