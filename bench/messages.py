"""Message browser and search on a large topic, next to a bare confluent-kafka consumer in the same run.

Run from the repository root, needing nothing running:

    .venv/bin/python bench/messages.py [--events 1000000] [--n 200]

It starts its own Tansu broker, Redis, SQLite database and Daphne (bench/harness.py), writes
`--events` JSON events of 200-1000 B (shipping orders; 1 in 10 DELAYED) to a 6-partition
topic with a plain Producer (the last event of each partition in a batch of its own, so
the end offsets are exact on the test broker too), logs in as a reader and measures:

Page latency (issue 8 target: p50 <= 150 ms), through the API and as the HTML page:
- baseline: a bare confluent-kafka Consumer in this process, assign one partition at a
  random offset and consume 100 events;
- a page of 100 at a random offset of a random partition (`partition=&offset=`);
- a page of 100 at a random time, all 6 partitions merged (`timestamp=`);
- the newest page of 100, all partitions merged.

Scan rate (issue 8 target: substring >= 50% of the bare loop; issue 17: substring oldest first
>= 75%, newest first >= 50%, the JSON field with the bytes pre-check >= 50%, the one that reads
every value >= 40%, the search budget checked inside batches):
- baseline: a bare confluent-kafka `consume(50000)` loop over the whole topic, no decoding, with
  the fetch settings of the console's scan reader, with larger fetches, and with librdkafka's
  defaults (whose 1 s fetch backoff after a full prefetch queue makes it slower); the fastest
  of the three is the baseline (100%);
- API search, oldest first, with a substring that occurs once (`ORD-...` of a late event);
- API search with JSON-field filters: `payload.status == "LOST"` (no event has it; the bytes
  pre-check skips most) and `amount > 1000000` (reads every value: the one field, lazily, with
  simdjson where it answers as the full parse; streams.events.predicates `lazy_json_check`);
- the substring search newest first (backwards windows).
Each search row is events scanned / seconds as the scan report gives them (the API caps a
request at SEARCH_API_MAX_SECONDS; the budget here is raised to cover the whole topic).
Traffic goes to 127.0.0.1 only; every loop is bounded; all processes stop at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import CaseFailed, Client, Stack, measure, print_table, start_console  # noqa: E402

TOPIC = "bench-messages"
PARTITIONS = 6
# Larger fetches than the console's scan reader uses (a candidate for the fastest bare loop).
LARGE_FETCHES = {
    "fetch.max.bytes": 8 * 1024 * 1024,
    "max.partition.fetch.bytes": 1024 * 1024,
    "queued.max.messages.kbytes": 8 * 1024,
}
STATUSES = ["NEW", "PICKED", "SHIPPED", "IN_TRANSIT", "DELIVERED", "DELAYED", "RETURNED", "HELD", "NEW", "PICKED"]


def event(i: int, rng: random.Random) -> bytes:
    order = {
        "order_id": f"ORD-{i:08d}",
        "customer": {"id": f"C{rng.randrange(10**6):06d}", "email": f"user{rng.randrange(10**5)}@example.com"},
        "amount": round(rng.uniform(1, 1000), 2),
        "payload": {"status": STATUSES[i % 10], "carrier": rng.choice(["DHL", "UPS", "Maersk", "CMA CGM"])},
        "items": [
            {"sku": f"SKU-{rng.randrange(10**5):05d}", "qty": rng.randrange(1, 5)} for _ in range(rng.randrange(1, 6))
        ],
    }
    body = json.dumps(order, separators=(",", ":"))
    # Pad to a size drawn from 200-1000 B.
    target = rng.randrange(200, 1001)
    if len(body) < target - 12:
        order["note"] = "n" * (target - len(body) - 12)
        body = json.dumps(order, separators=(",", ":"))
    return body.encode()


def fill(bootstrap: str, count: int) -> tuple[int, int, int]:
    """Create the topic and write `count` events; (first ms, last ms, bytes written)."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])[TOPIC].result(30)
    time.sleep(1)
    rng = random.Random(8)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "compression.type": "lz4"})
    first = int(time.time() * 1000)
    written = 0
    for i in range(count):
        value = event(i, rng)
        written += len(value)
        while True:
            try:
                producer.produce(TOPIC, key=f"k-{i % 5000}".encode(), value=value, partition=i % PARTITIONS)
                break
            except BufferError:
                producer.poll(0.2)
        if i % 10_000 == 0:
            producer.poll(0)
            print(f"\r  {i:,} events", end="", file=sys.stderr, flush=True)
    producer.flush(120)
    # The last event of each partition alone in its batch: the broker's end offset is then exact.
    for p in range(PARTITIONS):
        producer.produce(TOPIC, key=b"last", value=event(count + p, rng), partition=p)
        producer.flush(30)
    print(file=sys.stderr)
    return first, int(time.time() * 1000), written


def bare_page(bootstrap: str, ends: dict[int, int]) -> Callable[[], object]:
    from confluent_kafka import Consumer, TopicPartition

    # The console's readers wait at most 100 ms for a fetch to fill; so does this one.
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "bench-bare",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 100,
        }
    )
    rng = random.Random(1)

    def call() -> object:
        p = rng.randrange(PARTITIONS)
        consumer.assign([TopicPartition(TOPIC, p, rng.randrange(max(1, ends[p] - 100)))])
        got = 0
        deadline = time.monotonic() + 10
        while got < 100 and time.monotonic() < deadline:
            got += len(consumer.consume(100 - got, 0.05))
        if got < 100:
            raise CaseFailed(f"bare consumer read {got} of 100 events")
        return got

    return call


def scan_reader_settings() -> dict[str, object]:
    """The fetch settings of the console's scan reader (backbone_admin/kafka), without its client hooks."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backbone_admin.settings")
    os.environ.setdefault("BACKBONE_LOCAL", "1")
    import django

    django.setup()
    from backbone_admin.clusters import ClusterConfig
    from backbone_admin.kafka.records import PROFILES, _consumer_config

    conf = _consumer_config(ClusterConfig(name="bench", bootstrap_servers="-"), **PROFILES["scan"])
    fetch = ("fetch.", "max.partition.fetch.bytes", "queued.", "message.max.bytes")
    return {k: v for k, v in conf.items() if k.startswith(fetch)}


def bare_scan(bootstrap: str, extra: dict[str, object]) -> tuple[int, float]:
    """A plain consume(50000) loop over every partition to the end: (events, seconds)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "bench-scan",
            "enable.partition.eof": True,
            "enable.auto.commit": False,
            **extra,
        }
    )
    consumer.list_topics(TOPIC, timeout=10)  # connected and the topic known before the clock starts
    count, ended = 0, set[int]()
    started = time.perf_counter()
    consumer.assign([TopicPartition(TOPIC, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    deadline = time.monotonic() + 600
    # consume() waits for the whole batch or the timeout: a short timeout, as the console's reader
    # uses, so that the loop does not sit out its last second waiting for events that never come.
    while len(ended) < PARTITIONS and time.monotonic() < deadline:
        for msg in consumer.consume(50000, 0.05):
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    ended.add(msg.partition() or 0)
                continue
            count += 1
    took = time.perf_counter() - started
    consumer.close()
    return count, took


def api_page(client: Client, params: Callable[[], dict[str, object]], *, html: bool = False) -> Callable[[], object]:
    base = f"/clusters/local/topics/{TOPIC}/messages/" if html else f"/api/clusters/local/topics/{TOPIC}/messages/"

    def call() -> object:
        path = f"{base}?{urlencode(params())}"
        status, body = client.get(path)
        if status != 200:
            raise CaseFailed(f"GET {path} answered {status}: {body[:200]!r}")
        if not html and len(json.loads(body)["results"]) != 100:
            raise CaseFailed(f"GET {path} gave {len(json.loads(body)['results'])} events, not 100")
        return body

    return call


def search_rate(client: Client, q: str, direction: str, events: int) -> tuple[float, int, int, float]:
    """(events/s by the scan report, scanned, found, wall seconds) of one search over the topic."""
    params = {"q": q, "direction": direction, "limit": 500, "max_events": events + 100, "max_seconds": 25}
    started = time.perf_counter()
    status, body = client.get(f"/api/clusters/local/topics/{TOPIC}/messages/?{urlencode(params)}")
    wall = time.perf_counter() - started
    if status != 200:
        raise SystemExit(f"search {q!r} answered {status}: {body[:300]!r}")
    scan = json.loads(body)["scan"]
    return scan["scanned"] / max(scan["seconds"], 1e-9), scan["scanned"], len(json.loads(body)["results"]), wall


def run(events: int, n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="backbone-bench-") as tmp:
        stack = Stack(Path(tmp))
        try:
            client, _, bootstrap = start_console(stack, role="reader", demo=False)
            print(f"writing {events:,} events ...", file=sys.stderr, flush=True)
            first, last, written = fill(bootstrap, events)
            status, body = client.get(f"/api/clusters/local/topics/{TOPIC}/")
            if status != 200:
                raise SystemExit(f"topic detail answered {status}: {body[:300]!r}\n{stack.errors('daphne')}")
            ends = {p["id"]: p["high"] for p in json.loads(body)["partitions"]}
            rng = random.Random(2)

            def at_offset() -> dict[str, object]:
                p = rng.randrange(PARTITIONS)
                return {
                    "partition": p,
                    "offset": rng.randrange(max(1, ends[p] - 100)),
                    "direction": "oldest",
                    "limit": 100,
                }

            def at_time() -> dict[str, object]:
                return {
                    "timestamp": rng.randrange(first, max(first + 1, last - 2000)),
                    "direction": "oldest",
                    "limit": 100,
                }

            cases: list[tuple[str, Callable[[], object], int]] = [
                (
                    "baseline: bare Consumer, assign a random offset, consume 100 (in-process)",
                    bare_page(bootstrap, ends),
                    n,
                ),
                ("API page of 100 at a random offset (one partition)", api_page(client, at_offset), n),
                ("API page of 100 at a random time (6 partitions merged)", api_page(client, at_time), n),
                ("API newest page of 100 (6 partitions merged)", api_page(client, lambda: {"limit": 100}), n),
                ("HTML page of 100 at a random offset", api_page(client, at_offset, html=True), n),
                ("HTML page of 100 at a random time", api_page(client, at_time, html=True), n),
            ]
            print("measuring pages ...", file=sys.stderr, flush=True)
            rows, failures = measure(cases, warmup=3)

            print("measuring scans ...", file=sys.stderr, flush=True)
            default_total, default_took = bare_scan(bootstrap, {})
            tuned = scan_reader_settings()
            total, took = bare_scan(bootstrap, tuned)
            # The console's readers fetch little at a time to stay small; with larger fetches the
            # bare loop may be faster: the baseline is the fastest of the three loops.
            large = {**tuned, **LARGE_FETCHES}
            large_total, large_took = bare_scan(bootstrap, large)
            baseline = max(total / took, large_total / large_took, default_total / default_took)
            needle = f"ORD-{int(events * 0.9):08d}"
            scans = [
                (f"search substring `{needle}`, oldest first", needle, "oldest"),
                (
                    'search `payload.status == "LOST"` (JSON field, bytes pre-check)',
                    'payload.status == "LOST"',
                    "oldest",
                ),
                ("search `amount > 1000000` (JSON field, reads every value)", "amount > 1000000", "oldest"),
                (f"search substring `{needle}`, newest first", needle, "newest"),
            ]
            settings_text = ", ".join(f"{k}={v}" for k, v in tuned.items())
            default_rate = default_total / default_took
            large_rate = large_total / large_took
            scan_rows = [
                f"| bare confluent-kafka `consume(50000)` loop, no decoding, the console's fetch "
                f"settings ({settings_text}) | {total:,} | {total / took:,.0f} | {total / took / baseline:.0%} "
                f"| {took:.2f} |",
                f"| the same loop with larger fetches ({', '.join(f'{k}={v}' for k, v in LARGE_FETCHES.items())}) "
                f"| {large_total:,} | {large_rate:,.0f} | {large_rate / baseline:.0%} | {large_took:.2f} |",
                f"| the same loop with librdkafka's default settings | {default_total:,} | {default_rate:,.0f} "
                f"| {default_rate / baseline:.0%} | {default_took:.2f} |",
            ]
            for label, q, direction in scans:
                rate, scanned, _, wall = search_rate(client, q, direction, total)
                scan_rows.append(f"| {label} | {scanned:,} | {rate:,.0f} | {rate / baseline:.0%} | {wall:.2f} |")
            sizes = f"{written / max(1, events):.0f} B average value"
            print_table(
                f"Message browser on {events:,} events in {PARTITIONS} partitions ({sizes}) — Tansu, Redis, SQLite, "
                "Daphne on 127.0.0.1",
                rows,
                failures,
                stack,
            )
            print("\n| scan | events | events/s | of baseline | wall s |")
            print("|---|---:|---:|---:|---:|")
            print("\n".join(scan_rows))
            print(f"\n(p50 of the API page at a random offset: {_p50(rows, 1)} ms; target 150 ms)")
        finally:
            stack.stop()


def _p50(rows: list[str], index: int) -> str:
    cells = [c.strip() for c in rows[index].split("|")]
    return cells[3] if len(cells) > 3 else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--n", type=int, default=200, help="timed requests per page row (default 200)")
    args = parser.parse_args()
    if not 1000 <= args.events <= 5_000_000 or not 5 <= args.n <= 10_000:
        parser.error("--events must be 1000..5000000 and --n 5..10000")
    run(args.events, args.n)


if __name__ == "__main__":
    main()
