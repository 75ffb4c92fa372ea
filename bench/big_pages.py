"""Big plain pages: a page of 1 MB JSON values, its time and what it costs the web process.

Run from the repository root, needing nothing running:

    .venv/bin/python bench/big_pages.py [--events 300] [--value-kb 1000] [--n 2]

It starts its own Tansu broker, Redis, SQLite database and two Daphnes (bench/harness.py) with
one cluster whose masking rules (a field path and a pattern) apply to readers, writes
`--events` JSON values of `--value-kb` KB each (orders with customer e-mails and card numbers,
the shape masking works on) to a one-partition topic, and measures, in one run:

- baseline: the same pages on a Daphne without the page's bytes bound
  (bench/unbounded_settings.py: BROWSE_MAX_PAGE_BYTES = 0, the page as it was before);
- now: the API page `limit=--events` as a reader (masked) and as an admin (unmasked), the
  HTML page as a reader, one event's own page and its value download, as a reader;
- for scale: a bare confluent-kafka consumer in this process reading the newest `--events`
  events and parsing each value with json.loads.

Each row: wall seconds (median of `--n`), events and bytes the answer carries, and that Daphne
process's RSS before the request and its peak while the request ran (sampled every 10 ms).
The baseline runs last, so its growth does not inflate the rows of the bounded server.
Traffic goes to 127.0.0.1 only; every process it starts is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402
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

TOPIC = "bench-big-pages"
CLUSTERS = """clusters:
  - name: local
    bootstrap_servers: '{bootstrap}'
    masking:
      fields: ['orders.*.customer.email']
      patterns: ['\\b\\d{{4}}-\\d{{4}}-\\d{{4}}-\\d{{4}}\\b']
"""


def value(i: int, size: int, rng: random.Random) -> bytes:
    """A JSON document of about `size` bytes: a batch of orders."""
    orders = []
    length = 40
    while length < size - 400:
        order = {
            "order_id": f"ORD-{i:05d}-{len(orders):06d}",
            "customer": {"id": f"C{rng.randrange(10**6):06d}", "email": f"user{rng.randrange(10**5)}@example.com"},
            "card": f"{rng.randrange(10**4):04d}-{rng.randrange(10**4):04d}-4242-{rng.randrange(10**4):04d}",
            "amount": round(rng.uniform(1, 1000), 2),
            "status": rng.choice(["NEW", "PICKED", "SHIPPED", "DELAYED"]),
            "items": [{"sku": f"SKU-{rng.randrange(10**5):05d}", "qty": rng.randrange(1, 5)} for _ in range(2)],
        }
        orders.append(order)
        length += len(json.dumps(order, separators=(",", ":"))) + 1
    body = json.dumps({"batch": i, "orders": orders}, separators=(",", ":")).encode()
    return body + b" " * max(0, size - len(body))


def fill(bootstrap: str, count: int, size: int) -> int:
    """Create the topic and write `count` values; bytes written."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(TOPIC, 1, 1)])[TOPIC].result(30)
    time.sleep(1)
    rng = random.Random(9)
    variants = [value(i, size, rng) for i in range(8)]
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "message.max.bytes": 4 * size + 100_000})
    written = 0
    for i in range(count):
        data = variants[i % len(variants)]
        producer.produce(TOPIC, key=f"batch-{i}".encode(), value=data)
        written += len(data)
        producer.flush(30)  # one record per batch: the end offset is exact on the test broker too
    return written


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Sampler:
    """The peak RSS of a process while a call runs (sampled every 10 ms)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def run(self, fn: Callable[[], tuple[int, int]]) -> tuple[float, int, int, float, float]:
        """(seconds, events, bytes, RSS before, peak RSS) of one call."""
        before = peak = rss_mib(self.pid)
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.wait(0.01):
                peak = max(peak, rss_mib(self.pid))

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        started = time.perf_counter()
        try:
            events, size = fn()
        finally:
            took = time.perf_counter() - started
            done.set()
            thread.join()
        return took, events, size, before, max(peak, rss_mib(self.pid))


def bare_page(bootstrap: str, count: int) -> Callable[[], tuple[int, int]]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "bench-big-bare",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 100,
        }
    )

    def call() -> tuple[int, int]:
        _, high = consumer.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=10)
        consumer.assign([TopicPartition(TOPIC, 0, max(0, high - count))])
        got = size = 0
        deadline = time.monotonic() + 60
        while got < count and time.monotonic() < deadline:
            for msg in consumer.consume(count - got, 0.1):
                if msg.error():
                    continue
                data = msg.value() or b""
                json.loads(data)
                got += 1
                size += len(data)
        return got, size

    return call


# Unbounded pages of earlier versions took ~20 s: time them rather than give up.
harness.HTTP_TIMEOUT = 180.0
_ROWS = re.compile(rb'<tr data-id="')


def page(client: Client, path: str, *, api: bool) -> Callable[[], tuple[int, int]]:
    def call() -> tuple[int, int]:
        status, body = client.get(path)
        if status != 200:
            raise SystemExit(f"GET {path} answered {status}: {body[:300]!r}")
        events = len(json.loads(body)["results"]) if api else len(_ROWS.findall(body))
        return events, len(body)

    return call


def one(client: Client, path: str) -> Callable[[], tuple[int, int]]:
    def call() -> tuple[int, int]:
        status, body = client.get(path)
        if status != 200:
            raise SystemExit(f"GET {path} answered {status}: {body[:300]!r}")
        return 1, len(body)

    return call


def run(count: int, size: int, n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="backbone-bench-") as tmp:
        stack = Stack(Path(tmp))
        try:
            bootstrap, redis_port = start_broker_and_redis(stack)
            env = console_env(stack, bootstrap, redis_port)
            (stack.workdir / "clusters.yml").write_text(CLUSTERS.format(bootstrap=bootstrap))
            env["BACKBONE_CLUSTERS_FILE"] = str(stack.workdir / "clusters.yml")
            password = prepare_database(env, role="reader", demo=False)
            manage(env, "backbone_user", "bench-admin", "--role", "admin", "--password", password)
            base = start_web(stack, env)
            bounded = Sampler(stack.proc("daphne").pid)
            old_base = start_web(stack, {**env, "DJANGO_SETTINGS_MODULE": "bench.unbounded_settings"})
            unbounded = Sampler(stack.proc("daphne").pid)
            reader = logged_in(base, password, stack)
            old_reader = logged_in(old_base, password, stack)
            admin = Client(base)
            admin.login("bench-admin", password, next_url="/")
            print(f"writing {count + 10} values of {size:,} B ...", file=sys.stderr, flush=True)
            written = fill(bootstrap, count + 10, size)
            api = f"/api/clusters/local/topics/{TOPIC}/messages/?{urlencode({'limit': count})}"
            html = f"/clusters/local/topics/{TOPIC}/messages/?{urlencode({'limit': count})}"
            detail = f"/clusters/local/topics/{TOPIC}/messages/event/?partition=0&offset=5"
            download = f"/clusters/local/topics/{TOPIC}/messages/event/download/?partition=0&offset=5&part=value"
            cases: list[tuple[str, Sampler | None, Callable[[], tuple[int, int]]]] = [
                (f"now: API page `limit={count}`, reader (masked)", bounded, page(reader, api, api=True)),
                (f"now: HTML page `limit={count}`, reader (masked)", bounded, page(reader, html, api=False)),
                (f"now: API page `limit={count}`, admin (unmasked)", bounded, page(admin, api, api=True)),
                ("now: one event's page, reader (masked)", bounded, one(reader, detail)),
                ("now: one event's value download, reader (masked)", bounded, one(reader, download)),
                (
                    f"baseline, no bytes bound: API page `limit={count}`, reader",
                    unbounded,
                    page(old_reader, api, api=True),
                ),
                (
                    f"baseline, no bytes bound: HTML page `limit={count}`, reader",
                    unbounded,
                    page(old_reader, html, api=False),
                ),
                (f"for scale: bare Consumer, newest {count} + json.loads", None, bare_page(bootstrap, count)),
            ]
            rows = []
            for what, sampler, fn in cases:
                print(f"measuring {what} ...", file=sys.stderr, flush=True)
                results = [(sampler or Sampler(os.getpid())).run(fn) for _ in range(n)]
                took = statistics.median(r[0] for r in results)
                events, body = results[-1][1], results[-1][2]
                before = min(r[3] for r in results)
                peak = max(r[4] for r in results)
                growth = max(r[4] - r[3] for r in results)
                in_process = sampler is None
                rss = "—" if in_process else f"{before:,.0f} → {peak:,.0f} (+{growth:,.0f})"
                rows.append(f"| {what} | {n} | {took:.2f} | {events} | {body / 1e6:,.1f} | {rss} |")
            print(
                f"\nPages of {size / 1e6:.1f} MB JSON values ({count + 10} events, {written / 1e6:,.0f} MB) — "
                "Tansu, Redis, SQLite, two Daphnes on 127.0.0.1\n"
            )
            print("| what | n | median s | events | answer MB | Daphne RSS MiB: before → peak (+growth) |")
            print("|---|---:|---:|---:|---:|---|")
            print("\n".join(rows))
        finally:
            stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=300, help="page size and events written (+10)")
    parser.add_argument("--value-kb", type=int, default=1000, help="size of each JSON value in KB (1000 B)")
    parser.add_argument("--n", type=int, default=2, help="requests per row (default 2)")
    args = parser.parse_args()
    if not 1 <= args.events <= 500 or not 1 <= args.value_kb <= 1000 or not 1 <= args.n <= 20:
        parser.error("--events must be 1..500, --value-kb 1..1000 and --n 1..20")
    run(args.events, args.value_kb * 1000, args.n)


if __name__ == "__main__":
    main()
