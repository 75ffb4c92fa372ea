"""Filter evaluation rate over in-memory records, next to a bare loop over the same records.

Run from the repository root, needing nothing running:

    .venv/bin/python bench/filters.py [--n 200000] [--repeat 3]

Builds N records with 200-1000 B JSON values (shipping orders; 1 in 1000 carries the
searched order id, 1 in 10 is DELAYED), then times, in one run and best of `--repeat`:

- the baselines: a bare `for` loop over the records, wrapping each in a DecodedEvent, and
  `json.loads` of every value (what any JSON field filter must at least pay);
- a plain substring filter (`ORD-0001234`, bytes-level, never parses JSON);
- JSON-field filters: a selective string equality (`payload.status == "DELAYED"`, whose
  bytes-level pre-check skips events that cannot match) and a numeric comparison
  (`amount > 900`, parses every value);
- the substring filter for a reader on a cluster with masking rules (every value is
  decoded, masked and searched as shown).

Prints events/s per row and its share of the bare loop. Issue 8's end-to-end search target
(>= 50% of a bare confluent-kafka consume loop) is measured by the search bench; this one
shows the filter is never the bottleneck: a plain consumer loop here reads 250-340k msg/s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backbone_admin.settings")
os.environ.setdefault("BACKBONE_LOCAL", "1")

import django  # noqa: E402

django.setup()

from backbone_admin.clusters import ClusterConfig  # noqa: E402
from backbone_admin.kafka.records import Record  # noqa: E402
from streams.events.filters import parse_filter  # noqa: E402
from streams.events.serialize import decode_record  # noqa: E402

STATUSES = ["NEW", "PICKED", "SHIPPED", "IN_TRANSIT", "DELIVERED", "DELAYED", "RETURNED", "LOST", "HELD", "NEW"]


def make_records(n: int) -> list[Record]:
    rng = random.Random(8)
    records = []
    for i in range(n):
        order = {
            "order_id": f"ORD-{i:07d}",
            "customer": {"id": f"C{rng.randrange(10**6):06d}", "email": f"user{rng.randrange(10**5)}@example.com"},
            "amount": round(rng.uniform(1, 1000), 2),
            "currency": rng.choice(["EUR", "USD", "GBP"]),
            "payload": {"status": STATUSES[i % 10], "carrier": rng.choice(["DHL", "UPS", "Maersk", "CMA CGM"])},
            "items": [
                {"sku": f"SKU-{rng.randrange(10**5):05d}", "qty": rng.randrange(1, 5)}
                for _ in range(rng.randrange(1, 12))
            ],
            "note": "x" * rng.randrange(0, 300),
        }
        value = json.dumps(order).encode()
        records.append(
            Record(
                "bench", i % 6, i // 6, 1_700_000_000_000 + i, "create", f"k-{i}".encode(), value, (("source", b"web"),)
            )
        )
    return records


def best_rate(run: Callable[[], int], n: int, repeat: int) -> tuple[float, int]:
    best, found = float("inf"), 0
    for _ in range(repeat):
        started = time.perf_counter()
        found = run()
        best = min(best, time.perf_counter() - started)
    return n / best, found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    records = make_records(args.n)
    sizes = sorted(len(r.value or b"") for r in records)
    plain = ClusterConfig(name="bench", bootstrap_servers="-")
    masking = ClusterConfig(
        name="bench-masked", bootstrap_servers="-", mask_fields=("customer.email",), mask_patterns=(r"C\d{6}",)
    )

    def bare() -> int:
        count = 0
        for _ in records:
            count += 1
        return count

    def wrap() -> int:
        count = 0
        for r in records:
            decode_record(r, registry=None, cluster=plain, masked=False)
            count += 1
        return count

    def loads() -> int:
        count = 0
        for r in records:
            json.loads(r.value or b"")
            count += 1
        return count

    def with_filter(text: str, cluster: ClusterConfig, masked: bool) -> Callable[[], int]:
        matches = parse_filter(text).matches

        def run() -> int:
            found = 0
            for r in records:
                if matches(decode_record(r, registry=None, cluster=cluster, masked=masked)):
                    found += 1
            return found

        return run

    rows: list[tuple[str, Callable[[], int]]] = [
        ("bare loop over the records (baseline)", bare),
        ("wrap each in a DecodedEvent (no filter)", wrap),
        ("json.loads of every value (baseline for JSON filters)", loads),
        ("substring `ORD-0001234`", with_filter("ORD-0001234", plain, False)),
        ('JSON field `payload.status == "DELAYED"`', with_filter('payload.status == "DELAYED"', plain, False)),
        ("JSON field `amount > 900`", with_filter("amount > 900", plain, False)),
        ("substring `ORD-0001234`, reader with masking", with_filter("ORD-0001234", masking, True)),
    ]
    print(
        f"\nFilter evaluation over {args.n:,} in-memory records, values {sizes[0]}-{sizes[-1]} B "
        f"(median {sizes[len(sizes) // 2]} B); best of {args.repeat}; {len(os.sched_getaffinity(0))} cores\n"
    )
    print("| what | events/s | of bare loop | matched |")
    print("|---|---:|---:|---:|")
    baseline = 0.0
    for name, run in rows:
        rate, found = best_rate(run, args.n, args.repeat)
        baseline = baseline or rate
        print(f"| {name} | {rate:,.0f} | {rate / baseline:.1%} | {found:,} |")


if __name__ == "__main__":
    main()
