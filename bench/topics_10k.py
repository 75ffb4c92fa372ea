"""Topic list, search and retention compliance over 10,000 topics, next to a plain list_topics.

Run from the repository root, needing nothing running:

    .venv/bin/python bench/topics_10k.py [--topics 10000] [--n 200]

It starts its own Tansu broker, Redis, SQLite database and Daphne (bench/harness.py),
creates the topics with a plain AdminClient (500 per request), imports three retention
policies that govern part of them, logs in as a viewer and times, in one run:

- the baseline: `AdminClient.list_topics()` in this process (one Metadata request);
- the topic list's first page, cold (`?refresh=1` drops the cached index and enrichment)
  and warm, through the API and as the HTML page;
- a search over every name (substring and `re:`), warm;
- sorting every topic by messages (needs watermarks of all partitions), cold and warm;
- retention compliance over every topic (policies matched, batched DescribeConfigs).

Targets (issue 3): warm first page ≤ 150 ms, cold ≤ 5 s, search ≤ 150 ms, compliance ≤ 10 s.
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

from bench.harness import Stack, http_call, manage, measure, print_table, start_console  # noqa: E402

POLICIES = """\
- name: bench-short
  topic_pattern: "bench-0*"
  priority: 10
  configs: {retention.ms: 1d, cleanup.policy: delete}
- name: bench-long
  topic_pattern: "re:bench-1\\\\d+"
  priority: 5
  configs: {retention.ms: 30d}
- name: bench-default
  topic_pattern: "bench-*"
  priority: 0
  configs: {retention.ms: 7d}
"""


def create_topics(bootstrap: str, count: int) -> float:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    started = time.monotonic()
    names = [f"bench-{i:05d}" for i in range(count)]
    for start in range(0, count, 500):
        batch = names[start : start + 500]
        # A few topics carry configs of their own so compliance finds drift.
        futures = admin.create_topics(
            [NewTopic(n, 1, 1, config={"retention.ms": "3600000"} if i % 50 == 0 else {}) for i, n in enumerate(batch)],
            request_timeout=60,
        )
        for future in futures.values():
            future.result(timeout=60)
    return time.monotonic() - started


def baseline(bootstrap: str) -> Callable[[], object]:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})

    def call() -> object:
        return len(admin.list_topics(timeout=30).topics)

    return call


def run(topic_count: int, n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="backbone-bench-") as tmp:
        stack = Stack(Path(tmp))
        try:
            client, env, bootstrap = start_console(stack, role="viewer", demo=False)
            print(f"creating {topic_count} topics ...", file=sys.stderr, flush=True)
            created_in = create_topics(bootstrap, topic_count)
            policies = Path(tmp) / "policies.yml"
            policies.write_text(POLICIES)
            manage(env, "retention_policies", "import", str(policies))

            status, body = client.get("/api/clusters/local/topics/?refresh=1&page_size=1")
            if status != 200:
                raise SystemExit(f"topic list answered {status}: {body[:300]!r}\n{stack.errors('daphne')}")
            listed = json.loads(body)["count"]

            slow_n = max(3, min(10, n // 20))
            cases: list[tuple[str, Callable[[], object], int]] = [
                ("baseline: AdminClient `list_topics` (in-process)", baseline(bootstrap), slow_n * 2),
                (
                    "API topic list, first page, cold (`?refresh=1`)",
                    http_call(client, "/api/clusters/local/topics/?refresh=1"),
                    slow_n,
                ),
                ("page topic list, first page, cold", http_call(client, "/clusters/local/topics/?refresh=1"), slow_n),
                ("API topic list, first page, warm", http_call(client, "/api/clusters/local/topics/"), n),
                ("page topic list, first page, warm", http_call(client, "/clusters/local/topics/"), n),
                (
                    "API search `bench-0042` (substring), warm",
                    http_call(client, "/api/clusters/local/topics/?search=bench-0042"),
                    n,
                ),
                (
                    "API search `re:^bench-\\d{3}7[05]$`, warm",
                    http_call(client, "/api/clusters/local/topics/?search=re:%5Ebench-%5Cd%7B3%7D7%5B05%5D%24"),
                    n,
                ),
                (
                    "API sort by messages, cold (all watermarks)",
                    http_call(client, "/api/clusters/local/topics/?sort=messages&order=desc&refresh=1"),
                    slow_n,
                ),
                (
                    "API sort by messages, warm",
                    http_call(client, "/api/clusters/local/topics/?sort=messages&order=desc"),
                    n,
                ),
                (
                    "API retention compliance, all topics",
                    http_call(client, "/api/clusters/local/retention/compliance/"),
                    slow_n,
                ),
                (
                    "API retention compliance, drifting only",
                    http_call(client, "/api/clusters/local/retention/compliance/?drifting=1"),
                    slow_n,
                ),
            ]
            print("measuring ...", file=sys.stderr, flush=True)
            rows, failures = measure(cases)
            print_table(
                f"Backbone Console with {topic_count:,} topics ({listed:,} listed; created in {created_in:.1f} s) — "
                "Tansu, Redis, SQLite, Daphne on 127.0.0.1",
                rows,
                failures,
                stack,
            )
        finally:
            stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--topics", type=int, default=10_000)
    parser.add_argument("--n", type=int, default=200, help="timed requests per warm row (default 200)")
    args = parser.parse_args()
    if not 1 <= args.topics <= 50_000 or not 1 <= args.n <= 10_000:
        parser.error("--topics must be 1..50000 and --n 1..10000")
    run(args.topics, args.n)


if __name__ == "__main__":
    main()
