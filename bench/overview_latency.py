"""How long the cluster overview takes, next to what the broker itself costs.

Run from the repository root, needing nothing running:

    .venv/bin/python bench/overview_latency.py [--n 200]

It starts its own embedded broker (Tansu) and Redis on free ports, a fresh SQLite
database in a temporary directory, and Daphne; logs in as a viewer through the real
login form; then times, in one run:

- the overview page `/clusters/local/` and `GET /api/clusters/local/` as a browser or
  script sees them (cluster health is cached in Redis for METADATA_CACHE_TTL, so most
  of these are cache hits),
- the same API call with `?refresh=1`, which asks the broker every time,
- the baseline: a plain confluent_kafka AdminClient doing `list_topics()` +
  `describe_cluster()` in this process (what one uncached overview costs at least),
- `/healthz` (database + Redis + cached cluster health).

Traffic goes to 127.0.0.1 only; every loop is bounded; all processes are stopped at
the end.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import WARMUP, Stack, http_call, measure, print_table, start_console  # noqa: E402


def raw_overview(admin: Any) -> Callable[[], object]:
    def call() -> object:
        admin.list_topics(timeout=5)
        return admin.describe_cluster(request_timeout=5).result(timeout=6)

    return call


def run(n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="backbone-bench-") as tmp:
        workdir = Path(tmp)
        stack = Stack(workdir)
        try:
            client, env, bootstrap = start_console(stack, role="viewer")
            daphne = next(proc for name, proc in stack.procs if name == "daphne")

            # The baseline, in this process: what the gateway asks the broker for one uncached overview.
            from confluent_kafka.admin import AdminClient

            admin = AdminClient({"bootstrap.servers": bootstrap, "log.connection.close": False})

            cases: list[tuple[str, Callable[[], object]]] = [
                ("page `/clusters/local/` (cached health)", http_call(client, "/clusters/local/")),
                ("API `GET /api/clusters/local/` (cached health)", http_call(client, "/api/clusters/local/")),
                ("baseline: AdminClient `list_topics` + `describe_cluster` (in-process)", raw_overview(admin)),
                (
                    "API `GET /api/clusters/local/?refresh=1` (uncached)",
                    http_call(client, "/api/clusters/local/?refresh=1"),
                ),
                ("`/healthz`", http_call(client, "/healthz")),
            ]

            print(f"measuring: {WARMUP} warm-up + {n} timed calls each ...", file=sys.stderr, flush=True)
            rows, failures = measure([(what, fn, n) for what, fn in cases], warmup=WARMUP)
            del admin, cases  # the client closes before the broker stops
            if daphne.poll() is not None:
                raise SystemExit(f"daphne died during the run:\n{stack.tail('daphne')}")

            print_table(
                "Backbone Console overview latency — Tansu broker, Redis, SQLite, Daphne on 127.0.0.1; "
                f"METADATA_CACHE_TTL={env.get('METADATA_CACHE_TTL', '10')} s",
                rows,
                failures,
                stack,
            )
        finally:
            stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=200, help="timed requests per row (default 200)")
    args = parser.parse_args()
    if not 1 <= args.n <= 10_000:
        parser.error("--n must be between 1 and 10000")
    run(args.n)


if __name__ == "__main__":
    main()
