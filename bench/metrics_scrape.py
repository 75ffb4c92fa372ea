"""A /metrics scrape at 2,000 groups and 10,000 topics, next to reading the rows it is made of.

Run from the repository root, needing nothing running:

    .venv/bin/python bench/metrics_scrape.py [--groups 2000] [--topics 10000] [--passes 120] [--n 30]

It starts its own broker, Redis, a fresh SQLite database and Daphne (bench/harness.py; the
broker is idle: a scrape never asks it). It writes what the beat would have written straight
into the database: `--passes` lag-sampler passes (30 s apart) of `--groups` groups reading 1-5
topics each, half of them lagging; the throughput sampler's last end offsets of `--topics`
topics and `--passes` samples in which a tenth of them moved; a health check; 1,000 jobs.
Then it times, in one run:

- the baselines, in this process: the two queries that read the last lag pass (its time,
  then its rows with their JSON), and `topics.throughput.latest()` (the end offsets);
- the whole collection in this process (every source, rendered as text), no HTTP;
- `GET /metrics` from the Daphne, as Prometheus would scrape it.

Target (issue 17): a scrape ≤ 1 s. Traffic goes to 127.0.0.1 only; all processes stop at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import Stack, console_env, manage, start_broker_and_redis, start_web, timed  # noqa: E402

INTERVAL = 30.0


def arrange(groups: int, topics: int, passes: int) -> tuple[int, float]:
    """Rows as the samplers write them; (group-topic pairs, seconds spent)."""
    from django.utils import timezone

    from backbone_admin.kafka import ClusterHealth, ClusterOverview
    from backbone_admin.metrics.health import remember
    from streams.jobs.models import Job
    from topics.models import LagSample
    from topics.throughput.models import ThroughputLatest, ThroughputSample

    started = time.monotonic()
    rng = random.Random(17)
    names = [f"bench.domain-{i % 40:02d}.topic-{i:05d}" for i in range(topics)]
    reads = {f"bench-service-{g:04d}": rng.sample(names, rng.randint(1, 5)) for g in range(groups)}
    pairs = sum(len(t) for t in reads.values())
    lagging = {(g, t) for g, read in reads.items() for t in read if rng.random() < 0.5}
    now = timezone.now()
    moving = names[: max(1, topics // 10)]
    ends = {t: rng.randint(0, 10_000_000) for t in names}
    for p in range(passes):
        at = now - timedelta(seconds=INTERVAL * (passes - 1 - p))
        rows = []
        for group, read in reads.items():
            lags = {t: (rng.randint(1, 50_000) if (group, t) in lagging else 0) for t in read}
            rows.append(
                LagSample(cluster="local", group=group, sampled_at=at, total_lag=sum(lags.values()), topics=lags)
            )
        LagSample.objects.bulk_create(rows, batch_size=1000)
        ThroughputSample.objects.create(
            cluster="local", sampled_at=at, seconds=INTERVAL, topics={t: rng.randint(1, 3000) for t in moving}
        )
    ThroughputLatest.objects.create(
        cluster="local", sampled_at=now, ends=ends, rates={t: rng.uniform(0.1, 100.0) for t in moving}
    )
    overview = ClusterOverview(
        name="local",
        cluster_id="bench",
        controller_id=1,
        brokers=(),
        topic_count=topics,
        internal_topic_count=1,
        partition_count=topics * 3,
        under_replicated_partitions=0,
        offline_partitions=0,
        elapsed_ms=12.5,
    )
    remember([ClusterHealth(name="local", status="ok", overview=overview, checked_at=time.time())])
    kinds, states = Job.Kind.values, Job.Status.values
    Job.objects.bulk_create(
        [
            Job(
                kind=kinds[i % 2],
                status=states[i % len(states)],
                cluster="local",
                topic=names[i % topics],
                started_at=now,
            )
            for i in range(1000)
        ]
    )
    return pairs, time.monotonic() - started


def row(what: str, samples: list[float]) -> str:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return f"| {what} | {len(samples)} | {statistics.median(samples):.1f} | {cuts[94]:.1f} | {max(samples):.1f} |"


def run(groups: int, topics: int, passes: int, n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="backbone-bench-") as tmp:
        stack = Stack(Path(tmp))
        try:
            # The broker only lets /healthz (which start_web waits for) pass: a scrape never asks it.
            bootstrap, redis_port = start_broker_and_redis(stack)
            env = console_env(stack, bootstrap, redis_port)
            env["PROMETHEUS_MULTIPROC_DIR"] = str(Path(tmp) / "metrics")
            env["METRICS_ALLOWED_NETWORKS"] = "127.0.0.1/32"
            print("setting up: migrate ...", file=sys.stderr, flush=True)
            manage(env, "migrate", "--noinput")
            os.environ.update(env)
            import django

            django.setup()
            from django.test import Client
            from prometheus_client import generate_latest

            from backbone_admin.metrics.collector import scrape_registry
            from topics.models import LagSample
            from topics.throughput import latest

            print(f"writing {passes} passes of {groups:,} groups, {topics:,} topics ...", file=sys.stderr, flush=True)
            pairs, arranged_in = arrange(groups, topics, passes)
            base = start_web(stack, env)

            def last_pass() -> object:
                at = LagSample.objects.order_by("-sampled_at").values_list("sampled_at", flat=True).first()
                return list(LagSample.objects.filter(cluster="local", sampled_at=at).values_list("group", "topics"))

            def collect() -> object:
                return generate_latest(scrape_registry())

            def http() -> object:
                import urllib.request

                with urllib.request.urlopen(f"{base}/metrics", timeout=30) as response:
                    body = response.read()
                if response.status != 200:
                    raise SystemExit(f"/metrics answered {response.status}")
                return body

            body = http()
            text = body.decode() if isinstance(body, bytes) else ""
            series = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
            lagging = text.count("backbone_group_lag_seconds{")
            if Client(HTTP_HOST="localhost").get("/metrics").status_code != 200 or lagging < pairs // 4:
                raise SystemExit(f"the scrape is not as arranged: {lagging} time lags for {pairs} pairs")
            cases: list[tuple[str, Callable[[], object]]] = [
                ("baseline: the last lag pass's rows (2 queries + JSON)", last_pass),
                ("baseline: throughput latest() (end offsets of every topic)", lambda: latest("local")),
                ("collect + render in-process (every source)", collect),
                ("GET /metrics from Daphne", http),
            ]
            rows = []
            for what, fn in cases:
                timed(fn, 2)
                rows.append(row(what, timed(fn, n)))
            print(
                f"\n/metrics at {groups:,} groups ({pairs:,} group-topic pairs), {topics:,} topics, "
                f"{LagSample.objects.count():,} lag rows; {series:,} series, {len(body) / 1e6:.1f} MB per scrape; "
                f"arranged in {arranged_in:.0f} s; {len(os.sched_getaffinity(0))} cores\n"
            )
            print("| what | n | p50 ms | p95 ms | max ms |")
            print("|---|---:|---:|---:|---:|")
            print("\n".join(rows))
        finally:
            stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=2000)
    parser.add_argument("--topics", type=int, default=10_000)
    parser.add_argument("--passes", type=int, default=120, help="lag and throughput samples kept (30 s apart)")
    parser.add_argument("--n", type=int, default=30)
    args = parser.parse_args()
    run(args.groups, args.topics, args.passes, args.n)


if __name__ == "__main__":
    main()
