"""Searches that cannot starve anyone (issue 14, points 7 and 8), measured on a real console.

Run from the repository root, needing nothing running:

    .venv/bin/python bench/search_limits.py [--sockets 20] [--n 5]

It starts its own Tansu broker, Redis, SQLite database and Daphne (bench/harness.py), writes 300
JSON documents of ~100 KB (an array of 8,000 objects) and 20 small events, logs in two readers and
measures:

1. The time budget (point 7): an API search with a filter of 32 wildcard terms that matches
   nothing (each term walks every item of every document) and `max_seconds=1`, oldest and
   newest first: wall time and how far past its budget the scan went. Baseline, in the same run:
   what one document's filter costs (timed in this process); the clock used to be looked at
   every 256 events, so a search could run ~255 of those past its budget.
2. Fair threads (point 8): the other reader's search of 5 small events over the search
   websocket, alone (baseline), then while the first reader has `--sockets` searches of 40 s
   open on the documents. Also how many of those were queued (told their place) at once.
Traffic goes to 127.0.0.1 only; all processes stop at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402
    Client,
    Stack,
    console_env,
    logged_in,
    manage,
    prepare_database,
    start_broker_and_redis,
    start_web,
)

COSTLY = " or ".join(f"i[*].x==-{n}" for n in range(1, 33))
DOCUMENT = json.dumps({"i": [{"x": n} for n in range(8000)]}).encode()


def _ws(base: str, client: Client, topic: str) -> Any:
    from websockets.sync.client import connect

    url = base.replace("http://", "ws://") + f"/ws/clusters/local/topics/{topic}/search/"
    headers = {"Cookie": f"sessionid={client.cookie('sessionid')}", "Origin": base}
    return connect(url, additional_headers=headers, open_timeout=10)


def _search_once(base: str, client: Client, topic: str, params: dict[str, str]) -> float:
    started = time.monotonic()
    with _ws(base, client, topic) as ws:
        ws.send(json.dumps({"action": "search", "params": params}))
        while True:
            message = json.loads(ws.recv(timeout=120))
            if message["type"] == "done":
                return time.monotonic() - started
            if message["type"] == "error":
                raise SystemExit(f"search failed: {message}")


def filter_cost() -> float:
    """Seconds one document's costly filter takes here (decode + 32 terms), median of 5."""
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backbone_admin.settings")
    os.environ.setdefault("BACKBONE_LOCAL", "1")
    django.setup()
    from backbone_admin.clusters import ClusterConfig
    from backbone_admin.kafka.records import Record
    from streams.events.filters import parse_filter
    from streams.events.serialize import decode_record

    flt = parse_filter(COSTLY)
    record = Record("t", 0, 0, 0, "create", b"doc", DOCUMENT, ())
    cluster = ClusterConfig(name="local", bootstrap_servers="127.0.0.1:1")
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        flt.matches(decode_record(record, registry=None, cluster=cluster, masked=False))
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sockets", type=int, default=20)
    parser.add_argument("--n", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        stack = Stack(Path(tmp))
        try:
            bootstrap, redis_port = start_broker_and_redis(stack)
            env = console_env(stack, bootstrap, redis_port)
            password = prepare_database(env, role="reader", demo=False)
            manage(env, "backbone_user", "bench-other", "--role", "reader", "--password", password)
            base = start_web(stack, env)
            greedy = logged_in(base, password, stack)
            other = Client(base)
            other.login("bench-other", password, next_url="/")

            from confluent_kafka import Producer
            from confluent_kafka.admin import AdminClient, NewTopic

            admin = AdminClient({"bootstrap.servers": bootstrap})
            for future in admin.create_topics([NewTopic("documents", 1, 1), NewTopic("small", 1, 1)]).values():
                future.result(30)
            producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
            for _ in range(300):
                producer.produce("documents", key=b"doc", value=DOCUMENT)
                producer.poll(0)
            for i in range(20):
                producer.produce("small", key=b"k", value=json.dumps({"i": i}).encode())
            producer.flush(60)
            time.sleep(1)

            rows: list[str] = []
            cost = filter_cost()
            rows.append(
                f"| baseline: one document's filter (decode + 32 terms) | {cost:.3f} s "
                f"| 255 of them: {cost * 255:.0f} s |"
            )
            for direction in ("oldest", "newest"):
                query = urllib.parse.urlencode({"q": COSTLY, "max_seconds": "1", "direction": direction})
                started = time.monotonic()
                status, body = greedy.get(f"/api/clusters/local/topics/documents/messages/?{query}")
                wall = time.monotonic() - started
                if status != 200:
                    raise SystemExit(f"HTTP {status}: {body[:300]!r}")
                scan = json.loads(body)["scan"]
                rows.append(
                    f"| search max_seconds=1, {direction} first: {scan['scanned']} documents "
                    f"| {wall:.2f} s wall, scan {scan['seconds']:.2f} s "
                    f"| past the budget: {scan['seconds'] - 1:+.2f} s ({(scan['seconds'] - 1) * 100:+.0f}%) |"
                )

            small = {"q": "i >= 0", "limit": "5", "max_seconds": "5"}
            alone = [_search_once(base, other, "small", small) for _ in range(args.n)]
            rows.append(
                f"| baseline: the other reader's search, alone | {statistics.median(alone):.2f} s "
                f"| max {max(alone):.2f} s |"
            )
            sockets, queued = [], 0
            try:
                long = {"q": COSTLY, "max_seconds": "40", "direction": "oldest"}
                for _ in range(args.sockets):
                    ws = _ws(base, greedy, "documents")
                    sockets.append(ws)
                    ws.send(json.dumps({"action": "search", "params": long}))
                    ws.recv(timeout=10)  # started
                for ws in sockets:
                    with contextlib.suppress(TimeoutError):
                        queued += json.loads(ws.recv(timeout=2))["type"] == "queued"
                busy = [_search_once(base, other, "small", small) for _ in range(args.n)]
            finally:
                for ws in sockets:
                    ws.close()
            rows.append(
                f"| the other reader's search, {args.sockets} searches of 40 s open ({queued} queued) "
                f"| {statistics.median(busy):.2f} s | max {max(busy):.2f} s |"
            )
        finally:
            stack.stop()
    print("\nSearch time budget and fair search threads (Tansu, one Daphne)\n")
    print("| what | median / measured | note |")
    print("|---|---:|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
