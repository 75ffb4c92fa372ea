"""Replay and export of one topic with 1, 2 and 4 Celery worker processes, next to bare loops in the same run.

Run from the repository root, needing nothing running:

    .venv/bin/python bench/jobs_workers.py [--events 600000] [--partitions 12] [--size 200] [--workers 1,2,4]

It starts its own Tansu broker, Redis and SQLite database (bench/harness.py), fills one topic with
`--events` events of `--size` bytes on `--partitions` partitions (bench/jobs.py's `fill`), and times:

- the bare loops of bench/jobs.py: export (`consume(50000)`, values joined into a file; the faster of
  large and tuned fetches is the baseline) and replay (`consume` → `produce` → flush);
- for each worker count N: a real Celery worker started with `--concurrency N` (N pool processes), an
  export job (JSON Lines) and a replay job into a fresh topic, each waited for to the end.

A job is one Celery task per partition (streams/jobs/tasks.py `run_job` → `run_partition`), each
claimed through its partition's lease by whichever process is free: the table also says how many
distinct processes held a lease during the job (sampled every 50 ms). The machine's CPU count bounds
the speed-up: every process shares it with the broker, Redis and the other processes.
Traffic goes to 127.0.0.1 only; every loop is bounded; all processes stop at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import Stack, console_env, manage, start_broker_and_redis  # noqa: E402
from bench.jobs import SOURCE, TIMEOUT, bare_export, bare_replay, fill, start_worker  # noqa: E402


def run_job(body: dict[str, Any], user: Any) -> tuple[Any, float, int]:
    """Start the job and wait for it: (job, seconds, distinct processes that held a partition's lease)."""
    from streams.jobs.models import Job, JobPartition
    from streams.jobs.requests import parse_request
    from streams.jobs.services import job_start

    os.sync()  # what earlier cases wrote is on disk before the clock starts
    started = time.monotonic()
    job = job_start(user=user, ask=parse_request(body))
    holders: set[str] = set()
    while time.monotonic() - started < TIMEOUT:
        job = Job.objects.get(pk=job.pk)
        if job.finished:
            break
        owners = JobPartition.objects.filter(job=job).exclude(lease_owner="").values_list("lease_owner", flat=True)
        # owner = host:pid:task id — the process is host:pid.
        holders.update(":".join(o.split(":")[:2]) for o in owners)
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    if job.status != Job.Status.SUCCEEDED:
        raise SystemExit(f"job {job.pk} {job.status}: {job.error}")
    return job, elapsed, len(holders)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=600_000)
    parser.add_argument("--size", type=int, default=200)
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--workers", default="1,2,4", help="worker process counts, comma-separated")
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    if not 1000 <= args.events <= 5_000_000 or not 1 <= args.partitions <= 64 or not all(1 <= w <= 16 for w in counts):
        parser.error("--events 1000..5000000, --partitions 1..64, --workers each 1..16")

    rows: list[tuple[str, int, float, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-jobs-workers-") as tmp:
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

            from backbone_admin.kafka.topics import create_topic
            from backbone_admin.roles import assign_role

            user = get_user_model().objects.create_user("bench-jobs-workers")
            assign_role(user, "operator")
            filled = fill(bootstrap, args.events, args.size, args.partitions)
            print(f"filled {args.events:,} events in {filled:.1f} s", file=sys.stderr, flush=True)

            rates: dict[str, float] = {}
            for settings in ("large", "tuned"):
                count, elapsed = bare_export(bootstrap, args.partitions, workdir / "bare.txt", settings)
                (workdir / "bare.txt").unlink()
                rates[settings] = count / elapsed
                rows.append((f"bare export ({settings} fetches), in-process", count, elapsed, ""))
            bare_export_rate = max(rates.values())
            count, elapsed = bare_replay(bootstrap, args.partitions, "bench-jobs-workers-bare-copy")
            bare_replay_rate = count / elapsed
            rows.append(("bare replay: consume(50000) → produce, flush, in-process", count, elapsed, ""))

            first: dict[str, float] = {}
            for workers in counts:
                name = f"worker-{workers}"
                print(f"{workers} worker process(es) ...", file=sys.stderr, flush=True)
                start_worker(stack, env, workers)
                try:
                    body = {"kind": "export", "cluster": "local", "topic": SOURCE, "format": "jsonl"}
                    job, elapsed, holders = run_job(body, user)
                    rate = job.result["lines"] / elapsed
                    first.setdefault("export", rate)
                    rows.append(
                        (
                            f"export job, {workers} worker process{'es' if workers > 1 else ''}",
                            job.result["lines"],
                            elapsed,
                            f"{rate / bare_export_rate:.0%} of the bare export; x{rate / first['export']:.2f} of 1 "
                            f"worker; {holders} process(es) held partitions",
                        )
                    )
                    target = f"bench-jobs-workers-copy-{workers}"
                    create_topic("local", target, partitions=args.partitions, replication_factor=1)
                    body = {"kind": "replay", "cluster": "local", "topic": SOURCE, "target_topic": target}
                    job, elapsed, holders = run_job(body, user)
                    written = job.result["target_events_written"]
                    rate = written / elapsed
                    first.setdefault("replay", rate)
                    rows.append(
                        (
                            f"replay job, {workers} worker process{'es' if workers > 1 else ''}",
                            written,
                            elapsed,
                            f"{rate / bare_replay_rate:.0%} of the bare replay; x{rate / first['replay']:.2f} of 1 "
                            f"worker; {holders} process(es) held partitions",
                        )
                    )
                finally:
                    stack.stop([name])
        finally:
            stack.stop()

    print(
        f"\n## Jobs with 1..{max(counts)} worker processes: {args.events:,} events x {args.size} B on "
        f"{args.partitions} partitions ({os.cpu_count()} CPUs)\n"
    )
    print("| case | events | seconds | events/s | note |")
    print("|---|---:|---:|---:|---|")
    for what, count, elapsed, note in rows:
        print(f"| {what} | {count:,} | {elapsed:.2f} | {count / elapsed:,.0f} | {note} |")


if __name__ == "__main__":
    main()
