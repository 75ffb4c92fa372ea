"""The shared live tail: produce→browser latency, and one Kafka consumer for 100 viewers.

Run from the repository root, needing nothing running:

    .venv/bin/python bench/tail.py [--rate 1000] [--seconds 20] [--viewers 100] [--crowd-seconds 60]

It starts its own Tansu broker, Redis, a fresh SQLite database and one Daphne
(bench/harness.py), creates a topic of 6 partitions, and produces `--rate` events/s
(200-1000 B JSON values, 10 every 10 ms, `linger.ms=0`) while it measures, in one run:

- baseline: a bare confluent-kafka consumer in this process, assigned at the end of every
  partition (no group), with the tail consumer's fetch settings (`fetch.wait.max.ms=50`):
  latency from each record's produce timestamp (CreateTime, set by the producer) to the
  moment `poll()` returns it;
- one viewer: a websocket client of the tail (`rate=--rate`, acknowledging each push as the
  page does) for `--seconds` s: latency from the record's produce timestamp to the moment
  the client has the push (targets p50 ≤ 100 ms, p99 ≤ 300 ms), and what it did not get;
- `--viewers` viewers at once for `--crowd-seconds` s (one asyncio thread of clients): Kafka
  consumers in the Daphne process — the hub's own count (`/tail/stats/`, an admin's JSON)
  and, independently, the librdkafka clients in the process (one `rdk:main` thread each)
  before the viewers came and while they are connected —, events/s each viewer got
  (min / median / max), latency sampled on 5 of them, and Daphne's RSS growth from the
  start of the window to its end (and its peak).

Latencies are wall-clock on one machine (producer, broker, Daphne and clients share its
cores), p50/p99 over every event of the window after a warm-up second. Every process it
starts is stopped at the end, on Ctrl-C or failure too. Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_END, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from harness import Stack, console_env, logged_in, prepare_database, start_broker_and_redis, start_web

TOPIC = "bench-tail"
PARTITIONS = 6
SAMPLED = 5  # viewers of the crowd whose latency is measured (the others only count)
_SEQ = re.compile(rb'^\{"seq":(\d+),')
_DROPPED = re.compile(rb'"dropped":(\d+),"dropped_by"')


def quantile(samples: list[float], q: int) -> float:
    if len(samples) < 2:
        return samples[0] if samples else float("nan")
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def values(rng: random.Random, n: int) -> list[bytes]:
    out = []
    for i in range(n):
        note = "x" * rng.randrange(0, 700)
        out.append(
            json.dumps(
                {"order_id": f"ORD-{i:07d}", "status": rng.choice(["NEW", "SHIPPED", "DELAYED"]), "note": note}
            ).encode()
        )
    return out


class Load:
    """Produces `rate` events/s in a thread until stopped; the record timestamp is the produce time."""

    def __init__(self, bootstrap: str, rate: int) -> None:
        self.producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "acks": 1})
        self.rate = rate
        self.stop = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.payloads = values(random.Random(8), 512)

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self.producer.flush(10)
        del self.producer  # gone before the broker stops: no reconnect noise at the end

    def _run(self) -> None:
        per_tick = max(1, self.rate // 100)
        started = time.perf_counter()
        tick = 0
        while not self.stop.is_set():
            for _ in range(per_tick):
                self.producer.produce(
                    TOPIC, value=self.payloads[self.sent % len(self.payloads)], partition=self.sent % PARTITIONS
                )
                self.sent += 1
            self.producer.poll(0)
            tick += 1
            delay = started + tick * 0.01 - time.perf_counter()
            if delay > 0:
                time.sleep(delay)


def baseline(bootstrap: str, rate: int, seconds: float) -> list[float]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "bench-baseline",  # required by the client; never joined, nothing committed
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 50,
        }
    )
    consumer.assign([TopicPartition(TOPIC, p, OFFSET_END) for p in range(PARTITIONS)])
    lags: list[float] = []
    with Load(bootstrap, rate):
        warm_until = time.time() + 1
        end = warm_until + seconds
        while time.time() < end:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            now = time.time()
            if now >= warm_until:
                lags.append(now * 1000 - msg.timestamp()[1])
    consumer.close()
    return lags


@dataclass
class Viewer:
    measured: bool
    events: int = 0
    dropped: int = 0
    lags: list[float] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    counting: bool = False


async def watch(url: str, headers: dict[str, str], viewer: Viewer, stop: asyncio.Event) -> None:
    from websockets.asyncio.client import connect

    async with connect(url, additional_headers=headers, max_size=None, open_timeout=30) as ws:
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(decode=False), timeout=0.5)
            except TimeoutError:
                continue
            now = time.time() * 1000
            match = _SEQ.match(raw)
            if match is None:
                status = json.loads(raw)
                viewer.statuses.append(status.get("status") or status.get("error") or "?")
                continue
            await ws.send(f'{{"ack":{match.group(1).decode()}}}')
            if not viewer.counting:
                continue
            dropped = _DROPPED.search(raw)
            viewer.dropped += int(dropped.group(1)) if dropped else 0
            if viewer.measured:
                events = json.loads(raw)["events"]
                viewer.events += len(events)
                viewer.lags += [now - e["timestamp"] for e in events]
            else:
                viewer.events += raw.count(b'{"topic":')


class Crowd:
    """`n` websocket viewers on one asyncio loop in a thread."""

    def __init__(self, url: str, headers: dict[str, str], n: int) -> None:
        self.viewers = [Viewer(measured=i < SAMPLED) for i in range(n)]
        self.url, self.headers = url, headers
        self.loop = asyncio.new_event_loop()
        self.stop = asyncio.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def main() -> None:
            results = await asyncio.gather(
                *(watch(self.url, self.headers, v, self.stop) for v in self.viewers), return_exceptions=True
            )
            self.errors += [r for r in results if isinstance(r, BaseException)]

        self.loop.run_until_complete(main())

    def __enter__(self) -> Crowd:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not all(v.statuses for v in self.viewers):
            if self.errors or time.monotonic() > deadline:
                raise SystemExit(f"viewers did not connect: {self.errors[:3]}")
            time.sleep(0.1)
        return self

    def count(self, on: bool) -> None:
        for v in self.viewers:
            v.counting = on

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(timeout=30)


def rdk_clients(pid: int) -> int:
    count = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            if Path(f"/proc/{pid}/task/{task}/comm").read_text().strip() == "rdk:main":
                count += 1
        except OSError:
            continue
    return count


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(args: argparse.Namespace) -> bool:
    checks: list[tuple[str, bool]] = []
    with tempfile.TemporaryDirectory(prefix="backbone-bench-") as tmp:
        stack = Stack(Path(tmp))
        try:
            bootstrap, redis_port = start_broker_and_redis(stack)
            env = console_env(stack, bootstrap, redis_port)
            env["TAIL_MAX_RATE"] = str(max(args.rate, 1000))
            password = prepare_database(env, role="admin", demo=False)
            admin = AdminClient({"bootstrap.servers": bootstrap})
            admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])[TOPIC].result(15)
            base = start_web(stack, env)
            client = logged_in(base, password, stack)
            pid = stack.proc("daphne").pid
            headers = {"Cookie": f"sessionid={client.cookie('sessionid')}", "Origin": base}
            url = f"{base.replace('http://', 'ws://')}/ws/clusters/local/topics/{TOPIC}/tail/?rate={args.rate}"

            def stats() -> dict[str, Any]:
                status, body = client.get("/tail/stats/")
                if status != 200:
                    raise SystemExit(f"/tail/stats/ answered {status}")
                return dict(json.loads(body))

            print(f"baseline: bare consumer, {args.seconds:g} s at {args.rate} events/s ...", file=sys.stderr)
            base_lags = baseline(bootstrap, args.rate, args.seconds)

            print(f"one viewer: {args.seconds:g} s at {args.rate} events/s ...", file=sys.stderr)
            with Crowd(url, headers, 1) as one, Load(bootstrap, args.rate) as load:
                time.sleep(1)  # warm-up: the consumer finds the ends of the partitions
                one.count(True)
                sent_at_start = load.sent
                time.sleep(args.seconds)
                one.count(False)
                sent_one = load.sent - sent_at_start
            [single] = one.viewers

            wait_closed(stats)
            # Kafka clients of the idle process (its AdminClient among them), with no tail open.
            clients_before = rdk_clients(pid)
            print(f"{args.viewers} viewers: {args.crowd_seconds:g} s at {args.rate} events/s ...", file=sys.stderr)
            with Crowd(url, headers, args.viewers) as crowd, Load(bootstrap, args.rate) as load:
                time.sleep(2)
                consumers = stats()["consumers"]
                clients_with = rdk_clients(pid)
                rss_start = rss_peak = rss_mib(pid)
                cpu_start = cpu_seconds(pid), cpu_seconds(os.getpid()), cpu_seconds(stack.proc("broker").pid)
                crowd.count(True)
                started = time.monotonic()
                series = [rss_start]
                while time.monotonic() - started < args.crowd_seconds:
                    time.sleep(1)
                    rss_peak = max(rss_peak, rss_mib(pid))
                    if round(time.monotonic() - started) % 10 == 0:
                        series.append(rss_mib(pid))
                crowd.count(False)
                elapsed = time.monotonic() - started
                cpu = [
                    (cpu_seconds(p) - before) / elapsed * 100
                    for p, before in zip((pid, os.getpid(), stack.proc("broker").pid), cpu_start, strict=True)
                ]
                rss_end = rss_mib(pid)
                viewers_in_stats = sum(len(t["viewers"]) for t in stats()["tails"])
            wait_closed(stats)
            clients_after = rdk_clients(pid)
        finally:
            stack.stop()

    rates = [v.events / elapsed for v in crowd.viewers]
    crowd_lags = [lag for v in crowd.viewers if v.measured for lag in v.lags]
    cores = len(os.sched_getaffinity(0))
    print(f"\nLive tail, {args.rate} events/s produced to {PARTITIONS} partitions; {cores} cores\n")
    print("| what | events | p50 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    print(lat_row("baseline: bare confluent-kafka consumer (poll)", base_lags))
    print(lat_row("tail, 1 viewer: produce → websocket client", single.lags))
    print(lat_row(f"tail, {args.viewers} viewers: produce → client ({SAMPLED} sampled)", crowd_lags))
    print(f"\n| {args.viewers} viewers, {elapsed:.0f} s | value |")
    print("|---|---:|")
    print(f"| Kafka consumers for tails in the process (hub count) | {consumers} |")
    print(
        f"| librdkafka clients in Daphne: no viewer → {args.viewers} viewers → none | "
        f"{clients_before} → {clients_with} → {clients_after} |"
    )
    print(f"| viewers the server held | {viewers_in_stats} |")
    print(
        f"| events/s each viewer got: min / median / max | {min(rates):.0f} / {statistics.median(rates):.0f} / "
        f"{max(rates):.0f} |"
    )
    print(f"| events not sent (dropped), all viewers | {sum(v.dropped for v in crowd.viewers)} |")
    print(f"| Daphne RSS at start → end of window (peak) | {rss_start:.0f} → {rss_end:.0f} MiB ({rss_peak:.0f}) |")
    print(f"| Daphne RSS growth over the window | {rss_end - rss_start:+.1f} MiB |")
    print(f"| Daphne RSS every 10 s, MiB | {' '.join(f'{r:.0f}' for r in series)} |")
    print(
        f"| CPU over the window: Daphne / this bench (producer + clients) / broker | "
        f"{cpu[0]:.0f}% / {cpu[1]:.0f}% / {cpu[2]:.0f}% of a core |"
    )
    print(f"\none viewer: {single.events} events of {sent_one} produced in the window, {single.dropped} dropped")

    p50, p99 = quantile(single.lags, 50), quantile(single.lags, 99)
    checks.append((f"one viewer p50 {p50:.0f} ms ≤ 100 ms", p50 <= 100))
    checks.append((f"one viewer p99 {p99:.0f} ms ≤ 300 ms", p99 <= 300))
    checks.append((f"Kafka consumers for {args.viewers} viewers: {consumers} (must be 1)", consumers == 1))
    checks.append(
        (
            f"librdkafka clients with {args.viewers} viewers: {clients_with - clients_before} more than with none "
            "(must be 1)",
            clients_with - clients_before == 1,
        )
    )
    checks.append(
        (f"the consumer closed after the viewers left ({clients_after} clients)", clients_after == clients_before)
    )
    print()
    for text, ok in checks:
        print(("ok   " if ok else "FAIL ") + text)
    return all(ok for _, ok in checks)


def lat_row(what: str, lags: list[float]) -> str:
    if not lags:
        return f"| {what} | 0 | — | — | — |"
    return f"| {what} | {len(lags)} | {quantile(lags, 50):.1f} | {quantile(lags, 99):.1f} | {max(lags):.1f} |"


def wait_closed(stats: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while stats()["consumers"]:
        if time.monotonic() > deadline:
            raise SystemExit("the tail consumer did not close after its viewers left")
        time.sleep(0.2)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rate", type=int, default=1000, help="events/s produced (default 1000)")
    parser.add_argument("--seconds", type=float, default=20, help="seconds of the baseline and one-viewer runs")
    parser.add_argument("--viewers", type=int, default=100, help="concurrent viewers (default 100)")
    parser.add_argument("--crowd-seconds", type=float, default=60, help="seconds of the many-viewer run (default 60)")
    args = parser.parse_args()
    if not (100 <= args.rate <= 20_000 and 1 <= args.seconds <= 600 and 1 <= args.viewers <= 500):
        parser.error("--rate must be 100..20000, --seconds 1..600, --viewers 1..500")
    if not 1 <= args.crowd_seconds <= 3600:
        parser.error("--crowd-seconds must be 1..3600")
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        ok = run(args)
    except KeyboardInterrupt:
        print("\ninterrupted; every process this bench started is stopped", file=sys.stderr)
        raise SystemExit(130) from None
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
