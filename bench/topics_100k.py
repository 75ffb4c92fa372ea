"""Topic list, search, sorts, retention compliance and throughput sampling over 100,000 topics
(300,000 partitions), next to a plain list_topics in the same run.

Run from the repository root, needing nothing running:

    .venv/bin/python bench/topics_100k.py [--topics 100000] [--partitions 3] [--n 50]

It starts its own Tansu broker (memory storage: nothing is written to disk), Redis, SQLite
database and Daphne (bench/harness.py), creates the topics with a plain AdminClient (batches
of 500, several in flight), imports the retention policies of bench/topics_10k.py, logs in as
a viewer and times, in one run:

- the baseline: `AdminClient.list_topics()` in this process (one Metadata request);
- the topic list's first page, cold (`?refresh=1` drops the cached index and enrichment)
  and warm, through the API and as the HTML page;
- a search over every name (substring and `re:`), warm;
- sorting every topic by messages (watermarks of every partition) and by size, cold and warm;
- retention compliance over every topic, through the API and as the page;
- one throughput sample of every topic (`topics.throughput.sampler`), in this process, when
  the module exists;

and reports the web process's resident memory (now and its peak). A row whose answer carries
a warning (a Kafka call that ran out of its KAFKA_TIMEOUT budget) counts as failed.

Targets (issue 17): warm first page ≤ 100 ms, cold ≤ 5 s and at most twice list_topics, search ≤ 150 ms,
sort by messages or size cold ≤ 5 s, compliance ≤ 15 s, a throughput sample ≤ 1 s.
METADATA_CACHE_TTL is 60 s here (10 s by default) so that a warm row stays warm throughout.
The test broker creates topics more slowly the more it holds (quadratic: 30,000 topics of one
partition took 335 s on 2 cores, so 100,000 take about an hour): `--topics 30000` is the quick run.
Traffic goes to 127.0.0.1 only; every loop is bounded; all processes stop at the end.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402
    CaseFailed,
    Client,
    Stack,
    console_env,
    logged_in,
    manage,
    prepare_database,
    row,
    start_broker_and_redis,
    start_web,
    timed,
)
from bench.topics_10k import POLICIES, baseline  # noqa: E402

BATCH = 500
IN_FLIGHT = 2
BASELINE = "baseline: AdminClient `list_topics` (in-process)"
COLD = "API topic list, first page, cold (`?refresh=1`)"


def create_topics(bootstrap: str, count: int, partitions: int) -> float:
    """`count` topics of `partitions` partitions, `IN_FLIGHT` CreateTopics requests at a time; seconds taken."""
    from concurrent.futures import Future

    from confluent_kafka.admin import AdminClient, NewTopic

    # A batch waits behind the ones in flight: past 20,000 topics that can exceed the default 60 s.
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 300_000})
    started = time.monotonic()
    pending: list[list[Future[None]]] = []
    for start in range(0, count, BATCH):
        # Every 50th topic carries a retention of its own, so compliance finds drift.
        batch = [
            NewTopic(f"bench-{i:05d}", partitions, 1, config={"retention.ms": "3600000"} if i % 50 == 0 else {})
            for i in range(start, min(count, start + BATCH))
        ]
        pending.append(list(admin.create_topics(batch, request_timeout=300).values()))
        if len(pending) >= IN_FLIGHT:
            for future in pending.pop(0):
                future.result(timeout=300)
        if start and start % 10_000 == 0:
            rate = start / (time.monotonic() - started)
            print(f"  {start:,} topics ({rate:,.0f}/s)", file=sys.stderr, flush=True)
    for futures in pending:
        for future in futures:
            future.result(timeout=300)
    return time.monotonic() - started


def answered(client: Client, path: str, *, sizes: list[str] | None = None) -> Callable[[], object]:
    """GET `path`: 200 and, for JSON answers, no warning; else the row fails. With `sizes`, the
    first rows' sizes are kept there and a "size unknown" warning is allowed (the order is then by name)."""

    def call() -> object:
        status, body = client.get(path)
        if status != 200:
            raise CaseFailed(f"GET {path} answered {status}: {body[:200]!r}")
        if path.startswith("/api/"):
            data = json.loads(body)
            warnings = [w for w in data.get("warnings", []) if sizes is None or not w.startswith("Size unknown")]
            if warnings:
                raise CaseFailed(f"GET {path} warned: {warnings[0][:200]}")
            if sizes is not None:
                sizes[:] = [str(r.get("size")) for r in data.get("results", [])[:3]]
        return body

    return call


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sampler_case(env: dict[str, str], broker_pid: int, broker_cpu: list[float]) -> Callable[[], object] | None:
    """One throughput sample of every topic in this process, if the sampler exists; the broker's
    CPU seconds of each call are appended to `broker_cpu`."""
    try:
        if importlib.util.find_spec("topics.throughput.sampler") is None:
            return None
    except ModuleNotFoundError:  # no topics.throughput package at all
        return None
    os.environ.update(env)
    import django

    django.setup()
    from topics.throughput import sampler

    def call() -> object:
        before = cpu_seconds(broker_pid)
        result = sampler.sample_cluster("local")
        broker_cpu.append(cpu_seconds(broker_pid) - before)
        return result

    return call


def rss(pid: int) -> str:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return f"{fields['VmRSS'].strip()} now, {fields['VmHWM'].strip()} peak"


def run(topic_count: int, partitions: int, n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="backbone-bench-") as tmp:
        stack = Stack(Path(tmp))
        try:
            bootstrap, redis_port = start_broker_and_redis(stack)
            env = console_env(stack, bootstrap, redis_port) | {"METADATA_CACHE_TTL": "60"}
            password = prepare_database(env, role="viewer", demo=False)
            print(f"creating {topic_count:,} topics of {partitions} partitions ...", file=sys.stderr, flush=True)
            created_in = create_topics(bootstrap, topic_count, partitions)
            policies = Path(tmp) / "policies.yml"
            policies.write_text(POLICIES)
            manage(env, "retention_policies", "import", str(policies))
            client = logged_in(start_web(stack, env), password, stack)

            status, body = client.get("/api/clusters/local/topics/?refresh=1&page_size=1")
            if status != 200:
                raise SystemExit(f"topic list answered {status}: {body[:300]!r}\n{stack.errors('daphne')}")
            listed = json.loads(body)["count"]

            slow = 3
            sizes: list[str] = []
            api = "/api/clusters/local/topics/"
            cases: list[tuple[str, Callable[[], object], int]] = [
                (BASELINE, baseline(bootstrap), slow * 2),
                (COLD, answered(client, api + "?refresh=1"), slow),
                ("page topic list, first page, cold", answered(client, "/clusters/local/topics/?refresh=1"), slow),
                ("API topic list, first page, warm", answered(client, api), n),
                ("page topic list, first page, warm", answered(client, "/clusters/local/topics/"), n),
                ("API search `bench-0042` (substring), warm", answered(client, api + "?search=bench-0042"), n),
                (
                    "API search `re:^bench-\\d{3}7[05]$`, warm",
                    answered(client, api + "?search=re:%5Ebench-%5Cd%7B3%7D7%5B05%5D%24"),
                    n,
                ),
                (
                    "API sort by messages, cold (all watermarks)",
                    answered(client, api + "?sort=messages&order=desc&refresh=1"),
                    slow,
                ),
                ("API sort by messages, warm", answered(client, api + "?sort=messages&order=desc"), n),
                (
                    "API sort by size, cold (all log dirs)",
                    answered(client, api + "?sort=size&order=desc&refresh=1", sizes=sizes),
                    slow,
                ),
                ("API sort by size, warm", answered(client, api + "?sort=size&order=desc", sizes=sizes), n),
                (
                    "API retention compliance, all topics",
                    answered(client, "/api/clusters/local/retention/compliance/"),
                    slow,
                ),
                (
                    "API retention compliance, drifting only",
                    answered(client, "/api/clusters/local/retention/compliance/?drifting=1"),
                    slow,
                ),
                ("page retention compliance (first page)", answered(client, "/clusters/local/retention/"), slow),
            ]
            # First: the list pages then read a sample as they do in production (the beat keeps one).
            broker_cpu: list[float] = []
            sample = sampler_case(env, stack.proc("broker").pid, broker_cpu)
            if sample is not None:
                cases.insert(1, ("throughput sample of every topic (in-process)", sample, slow))
            print("measuring ...", file=sys.stderr, flush=True)
            rows, failures, medians = [], [], {}
            for what, fn, count in cases:
                print(f"  {what}", file=sys.stderr, flush=True)
                try:
                    timed(fn, 1)
                    samples = timed(fn, count)
                    medians[what] = statistics.median(samples)
                    rows.append(row(what, samples))
                except CaseFailed as exc:
                    rows.append(f"| {what} | — | failed: {exc} | | |")
                    failures.append(str(exc))
            web_rss = rss(stack.proc("daphne").pid)
            print(
                f"\nBackbone Console with {topic_count:,} topics of {partitions} partitions ({listed:,} listed; "
                f"created in {created_in:.0f} s) — Tansu, Redis, SQLite, Daphne on 127.0.0.1; "
                f"{len(os.sched_getaffinity(0))} cores\n"
            )
            print("| what | n | p50 ms | p99 ms | mean ms |")
            print("|---|---:|---:|---:|---:|")
            print("\n".join(rows))
            base = medians.get(BASELINE)
            cold = medians.get(COLD)
            if base and cold:
                print(f"\ncold first page (API) / list_topics: {cold / base:.1f} times")
            print(f"web process (Daphne) RSS: {web_rss}")
            no_size = not sizes or all(s == "None" for s in sizes)
            if no_size:
                print("sort by size: sizes are unknown here (no DescribeLogDirs answer): the rows time a name order")
            if sample is None:
                print("throughput sample: not timed (topics.throughput.sampler does not exist yet)")
            elif broker_cpu:
                print(f"throughput sample: broker CPU per sample {statistics.median(broker_cpu):.2f} s (median)")
            if failures:
                raise SystemExit(f"\n{len(failures)} row(s) failed; the server logged:\n{stack.errors('daphne')}")
        finally:
            stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--topics", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--n", type=int, default=50, help="timed requests per warm row (default 50)")
    args = parser.parse_args()
    if not 1 <= args.topics <= 100_000 or not 1 <= args.partitions <= 10 or not 1 <= args.n <= 1000:
        parser.error("--topics must be 1..100000, --partitions 1..10 and --n 1..1000")
    run(args.topics, args.partitions, args.n)


if __name__ == "__main__":
    main()
