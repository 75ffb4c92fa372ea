"""The console under load: many logged-in users, one or two web processes, a broker that restarts.

Run from the repository root, needing nothing running:

    .venv/bin/python bench/load.py [--duration 60] [--clients 20] [--web-processes 1|2]
                                   [--only isolation|load|restarts|two-web] [--n 200]

It starts its own Tansu broker `local` (A), Redis, a fresh SQLite database and Daphne
(bench/harness.py) — and, for the restarts section, a second Tansu broker `second` (B),
both named in a clusters file. Each broker gets 6 topics of 3 partitions with events, two
retention policies that part of them drift from, and 3 consumer groups with committed
offsets on every partition (so the topic page reads every group's offsets). No Celery
worker or beat runs: none of these pages needs one. Each client is a thread with its own
session (logged in through the real form) that asks, one request after another, for a
page picked at random: overview `/clusters/<c>/`, topic list `/clusters/<c>/topics/`,
topic detail `/clusters/<c>/topics/<t>/` and retention compliance `/clusters/<c>/retention/`,
a new connection each time. Latencies cover every request; an error is any answer but
200 (503 is counted apart where a broker is down on purpose), a connection failure, or an
answer slower than KAFKA_TIMEOUT + 1 s ("slow"). Sections, in the order they run:

- isolation: the topic detail page (a topic read by 3 groups), page and API, one client,
  `--n` requests each, next to what the group reads cost in-process with a plain
  AdminClient. `--only isolation` runs just this, to compare two versions of the gateway.
- load: `--clients` clients for `--duration` s next to one client for as long, after
  `--warmup` s not counted, on `--web-processes` Daphne processes.
- restarts: the clients split over A and B, once as they are and once while B is killed
  (SIGKILL) every `--restart-every` s (default 15: at 15, 30 and 45 s of a 60 s run) and
  started again `--down` s later (default 6: longer than KAFKA_TIMEOUT, so pages asked for
  meanwhile answer 503) on the same port; A's p99
  against the run without restarts, B's 503s and other errors, whether the web processes
  kept their PIDs. Tansu keeps nothing on disk, so the bench creates B's topics
  and groups again after each start; a 404 of B's topic page in that window is counted
  apart, not as an error.
- two-web: the load section again with 2 Daphne processes sharing one listening socket
  that the bench opens and passes to each as `daphne --fd N`; skipped when
  `--web-processes 2`. `make run` does the same with supervisor's `[fcgi-program]` handing its
  socket to WEB_PROCESSES processes `daphne --fd 0` (2 by default on 2 or more cores); in
  production, that or several `web` containers behind a reverse proxy (README, "Using your own services").

Every section is bounded in time; every process it starts is stopped at the end, on
Ctrl-C or failure too. Traffic goes to 127.0.0.1 only. Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402
    WARMUP,
    CaseFailed,
    Stack,
    console_env,
    logged_in,
    manage,
    measure,
    prepare_database,
    start_broker_and_redis,
    start_web,
    web_names,
)

SECTIONS = ("isolation", "load", "restarts", "two-web")
PAGES = ("overview", "topic list", "topic detail", "compliance")
TOPICS = [f"load-{i:02d}" for i in range(6)]
PARTITIONS = 3
EVENTS = 20  # per partition
GROUPS = [f"load-group-{g}" for g in range(3)]
DETAIL_TOPIC = TOPICS[0]
RESEED_SLACK = 1.0  # s; see section_restarts
REFERENCE = (
    "Measured before issue 6 (one Daphne, 2 shared cores, 20 clients, 60 s): 52 req/s, p50 383 ms, p99 650 ms, "
    "0 errors; before sessions were saved at most once a minute and the cache kept its Redis connections: "
    "66 req/s, p50 295 ms, p99 517 ms. Target: p99 ≤ 500 ms, 0 errors."
)
POLICIES = """\
- name: load-short
  topic_pattern: "load-0[0-2]"
  priority: 10
  configs: {retention.ms: 1d, cleanup.policy: delete}
- name: load-default
  topic_pattern: "load-*"
  priority: 0
  configs: {retention.ms: 7d}
"""


def seed(bootstrap: str) -> None:
    """Topics with events (every other one with its own retention), groups with committed offsets."""
    from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    quiet: dict[str, str | int | float | bool] = {
        "bootstrap.servers": bootstrap,
        "log.connection.close": False,
        "log_level": 4,
    }
    admin = AdminClient(quiet)
    topics = [
        NewTopic(t, PARTITIONS, 1, config={"retention.ms": "3600000"} if i % 2 else {}) for i, t in enumerate(TOPICS)
    ]
    for future in admin.create_topics(topics, request_timeout=20).values():
        try:
            future.result(timeout=25)
        except KafkaException as exc:
            if "already exists" not in str(exc).lower():
                raise
    producer = Producer({**quiet, "linger.ms": 0})
    for topic in TOPICS:
        for p in range(PARTITIONS):
            for i in range(EVENTS):
                producer.produce(topic, key=f"k{i}", value=f'{{"n": {i}}}', partition=p)
    if producer.flush(20):
        raise SystemExit(f"seeding {bootstrap}: events not delivered in 20 s")
    for g, group in enumerate(GROUPS):
        offsets = [TopicPartition(t, p, 5 * (g + 1)) for t in TOPICS for p in range(PARTITIONS)]
        request = [ConsumerGroupTopicPartitions(group, offsets)]
        admin.alter_consumer_group_offsets(request, request_timeout=20)[group].result(timeout=25)
    # No client outlives the seeding: a broker killed under a coordinator request could abort
    # this process (issue 6), so nothing is left connected when B goes down.
    del admin, producer


def page_path(cluster: str, page: str, rng: random.Random) -> str:
    return {
        "overview": f"/clusters/{cluster}/",
        "topic list": f"/clusters/{cluster}/topics/",
        "topic detail": f"/clusters/{cluster}/topics/{rng.choice(TOPICS)}/",
        "compliance": f"/clusters/{cluster}/retention/",
    }[page]


@dataclass(frozen=True)
class Answer:
    cluster: str
    page: str
    started: float  # time.monotonic()
    ms: float
    outcome: str  # "ok", "503", "HTTP 500", "slow (503)", "timeout", "ConnectionRefusedError", ...


@dataclass
class Web:
    """The console as the clients see it."""

    stack: Stack
    base: str
    processes: int
    sessions: list[str]  # session cookies, one per client
    slow_ms: float

    def pids(self) -> dict[str, int | None]:
        """PID of each web process, None for one that has exited."""
        procs = {name: self.stack.proc(name) for name in web_names(self.processes)}
        return {name: proc.pid if proc.poll() is None else None for name, proc in procs.items()}

    def cpu(self) -> dict[str, float]:
        """CPU seconds each live web process has used so far (Linux /proc)."""
        used = {}
        for name, pid in self.pids().items():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            used[name] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
        return used

    def exits(self) -> str:
        codes = {name: self.stack.proc(name).poll() for name in web_names(self.processes)}
        return ", ".join(f"{name} exited with {code}" for name, code in codes.items() if code is not None)


def get(base: str, path: str, session: str, timeout: float) -> tuple[int, bytes]:
    """GET on a new connection, as the given session."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("GET", path, headers={"Cookie": f"sessionid={session}", "Connection": "close"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def run_load(
    web: Web, clusters: list[str], seconds: float, stop: threading.Event, *, outlive_web: bool = False
) -> tuple[list[Answer], float]:
    """One client per entry of `clusters` (the cluster it asks about) for `seconds`; (answers, elapsed).

    Ends early when `stop` is set or every web process is gone (SystemExit unless `outlive_web`).
    """
    answers: list[Answer] = []
    lock = threading.Lock()
    started = time.monotonic()
    deadline = started + seconds
    timeout = web.slow_ms / 1000 + 10

    def client(i: int, cluster: str) -> None:
        rng = random.Random(i)  # a reproducible page mix
        while not stop.is_set() and not dead.is_set() and time.monotonic() < deadline:
            page = rng.choice(PAGES)
            path = page_path(cluster, page, rng)
            t0 = time.monotonic()
            failed = False
            try:
                status, _ = get(web.base, path, web.sessions[i], timeout)
                outcome = "ok" if status == 200 else "503" if status == 503 else f"HTTP {status}"
            except TimeoutError:
                outcome = "timeout"
            except (OSError, http.client.HTTPException) as exc:
                outcome, failed = type(exc).__name__, True
            ms = (time.monotonic() - t0) * 1000
            if ms > web.slow_ms and outcome != "timeout":
                outcome = f"slow ({'200' if outcome == 'ok' else outcome})"
            with lock:
                answers.append(Answer(cluster, page, t0, ms, outcome))
            if failed:  # no connection (a web process gone?): do not spin
                time.sleep(0.1)

    dead = threading.Event()
    threads = [threading.Thread(target=client, args=(i, c), daemon=True) for i, c in enumerate(clusters)]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        if not any(web.pids().values()):
            dead.set()
        time.sleep(0.2)
    if dead.is_set() and not outlive_web:
        raise SystemExit(f"every web process died: {web.exits()}\n{web.stack.errors('daphne')}")
    return answers, time.monotonic() - started


def pct(samples: list[float], q: int) -> float:
    if len(samples) < 2:
        return samples[0] if samples else float("nan")
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


@dataclass
class Figures:
    requests: int
    rps: float
    p50: float
    p99: float
    n503: int
    errors: int
    why: Counter[str] = field(default_factory=Counter)
    worst: dict[str, float] = field(default_factory=dict)  # slowest answer of each kind of error


def figures(answers: Iterable[Answer], seconds: float, *, allow_503: bool = False) -> Figures:
    answers = list(answers)
    ms = [a.ms for a in answers]
    n503 = sum(a.outcome == "503" for a in answers)
    fine = {"ok", "404 while re-seeding"} | ({"503"} if allow_503 else set())
    bad = [a for a in answers if a.outcome not in fine]
    why = Counter(f"{a.page}: {a.outcome}" for a in bad)
    worst: dict[str, float] = {}
    for a in bad:
        worst[f"{a.page}: {a.outcome}"] = max(a.ms, worst.get(f"{a.page}: {a.outcome}", 0.0))
    return Figures(len(answers), len(answers) / seconds, pct(ms, 50), pct(ms, 99), n503, len(bad), why, worst)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def table_row(*cells: object) -> None:
    print("| " + " | ".join(f"{c:.0f}" if isinstance(c, float) else str(c) for c in cells) + " |")


def load_table(title: str, runs: list[tuple[str, list[Answer], float]]) -> dict[str, Figures]:
    """Print rows per page and overall for each run; the overall figures by run."""
    print(f"\n{title}\n")
    print("| run | page | requests | req/s | p50 ms | p99 ms | errors |")
    print("|---|---|---:|---:|---:|---:|---:|")
    overall = {}
    for run, answers, seconds in runs:
        for page in (*PAGES, "overall"):
            f = figures([a for a in answers if page in (a.page, "overall")], seconds)
            table_row(run, page, f.requests, f"{f.rps:.1f}", f.p50, f.p99, f.errors)
        overall[run] = figures(answers, seconds)
    explain([(run, figures(answers, seconds)) for run, answers, _ in runs])
    return overall


def explain(figs: list[tuple[str, Figures]]) -> None:
    for run, f in figs:
        if f.why:
            kinds = (f"{why} x {n} (slowest {f.worst[why]:.0f} ms)" for why, n in f.why.most_common())
            print(f"\nerrors of {run}: " + ", ".join(kinds))


class Checks:
    def __init__(self) -> None:
        self.results: list[tuple[str, bool]] = []

    def add(self, what: str, ok: bool) -> None:
        self.results.append((what, ok))

    def report(self) -> bool:
        print("\nChecks\n")
        for what, ok in self.results:
            print(f"- {'ok    ' if ok else 'FAILED'} {what}")
        return all(ok for _, ok in self.results)


@dataclass
class Bench:
    stack: Stack
    env: dict[str, str]
    password: str
    args: argparse.Namespace
    stop: threading.Event
    checks: Checks
    bootstrap_b: str = ""
    web: Web | None = None

    @property
    def kafka_timeout(self) -> float:
        return float(self.env["KAFKA_TIMEOUT"])

    def start_web(self, processes: int) -> Web:
        if self.web is not None:
            self.stack.stop(web_names(self.web.processes))
        progress(f"starting {processes} web process(es) ...")
        base = start_web(self.stack, self.env, processes=processes)
        # Sessions live in the database: they outlast the web processes.
        sessions = self.web.sessions if self.web else []
        self.web = Web(self.stack, base, processes, sessions, (self.kafka_timeout + 1) * 1000)
        self.log_in(1)
        return self.web

    def log_in(self, clients: int) -> None:
        """Give each of this many clients its own session, through the login form."""
        assert self.web is not None
        if len(self.web.sessions) < clients:
            progress(f"logging in {clients - len(self.web.sessions)} client(s) ...")
        while len(self.web.sessions) < clients:
            self.web.sessions.append(logged_in(self.web.base, self.password, self.stack).cookie("sessionid"))

    def load(self, clusters: list[str], seconds: float) -> tuple[list[Answer], float]:
        assert self.web is not None
        self.log_in(len(clusters))
        return run_load(self.web, clusters, seconds, self.stop)


def sanity(web: Web, clusters: list[str]) -> None:
    """Every page answers 200 before anything is timed, and the topic page shows the groups."""
    for cluster in clusters:
        for page in PAGES:
            path = page_path(cluster, page, random.Random(0))
            status, body = get(web.base, path, web.sessions[0], 30)
            if status != 200:
                raise SystemExit(f"GET {path} answered {status}\n{web.stack.errors('daphne')}")
        _, body = get(web.base, f"/clusters/{cluster}/topics/{DETAIL_TOPIC}/", web.sessions[0], 30)
        missing = [g for g in GROUPS if g not in body.decode(errors="replace")]
        if missing:
            raise SystemExit(f"the topic page of {cluster} does not show the groups {missing}")


def group_reads(bootstrap: str) -> Callable[[], object]:
    """What the topic page asks about groups, in this process: list them, then every group's offsets at once."""
    from confluent_kafka import ConsumerGroupTopicPartitions
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "log.connection.close": False})

    def call() -> object:
        listed = admin.list_consumer_groups(request_timeout=5).result(timeout=6)
        pending = [
            future
            for group in listed.valid
            for future in admin.list_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(group.group_id)], request_timeout=5
            ).values()
        ]
        return [future.result(timeout=6) for future in pending]

    return call


def section_isolation(bench: Bench) -> None:
    web = bench.web
    assert web is not None

    def page(path: str) -> Callable[[], object]:
        def call() -> object:
            status, body = get(web.base, path, web.sessions[0], 30)
            if status != 200:
                raise CaseFailed(f"GET {path} answered {status}")
            return body

        return call

    n = bench.args.n
    detail = f"/clusters/local/topics/{DETAIL_TOPIC}/"
    cases: list[tuple[str, Callable[[], object], int]] = [
        (f"page `{detail}`", page(detail), n),
        (f"API `GET /api{detail}`", page(f"/api{detail}"), n),
        (
            f"baseline: AdminClient list groups + offsets of {len(GROUPS)} groups (in-process)",
            group_reads(bench.env["KAFKA_BOOTSTRAP_SERVERS"]),
            n,
        ),
    ]
    progress(f"isolation: {WARMUP} warm-up + {n} timed calls each ...")
    rows, failures = measure(cases, warmup=WARMUP)
    del cases  # the baseline's client closes here, before any broker stops
    print(
        f"\n## Isolation cost: topic detail (a topic of {PARTITIONS} partitions read by {len(GROUPS)} groups), "
        f"one client, {web.processes} web process(es), {len(os.sched_getaffinity(0))} cores\n"
    )
    print("| what | n | p50 ms | p99 ms | mean ms |")
    print("|---|---:|---:|---:|---:|")
    print("\n".join(rows))
    bench.checks.add("isolation: every topic detail request answered 200", not failures)


def section_load(bench: Bench, title: str) -> None:
    web = bench.web
    assert web is not None
    args = bench.args
    many = ["local"] * args.clients
    progress(f"{title}: warm-up {args.warmup:g} s, then 1 and {args.clients} clients for {args.duration:g} s each ...")
    bench.load(many, args.warmup)
    pids = web.pids()
    one = bench.load(["local"], args.duration)
    cpu_before, own_before = web.cpu(), time.process_time()
    loaded = bench.load(many, args.duration)
    cpu = {name: used - cpu_before.get(name, 0.0) for name, used in web.cpu().items()}
    cpu["the clients (this bench)"] = time.process_time() - own_before
    label = f"{args.clients} clients"
    cores = len(os.sched_getaffinity(0))
    figs = load_table(
        f"## {title}: {web.processes} Daphne process(es), {cores} cores, {args.duration:g} s per run",
        [("1 client (baseline)", *one), (label, *loaded)],
    )
    print(f"\nCPU used in the {label} run: " + ", ".join(f"{n} {s:.1f} s" for n, s in cpu.items()))
    print(f"\n{REFERENCE}")
    f = figs[label]
    tag = f"{title} ({web.processes} web)"
    bench.checks.add(f"{tag}: {label} p99 {f.p99:.0f} ms ≤ 500 ms", f.p99 <= 500)
    bench.checks.add(
        f"{tag}: 0 errors (1 client: {figs['1 client (baseline)'].errors}, {label}: {f.errors})",
        f.errors == 0 and figs["1 client (baseline)"].errors == 0,
    )
    bench.checks.add(f"{tag}: web process PIDs unchanged", web.pids() == pids)


class BrokerRestarts(threading.Thread):
    """Kill broker B every `every` s and start it again `down` s later on the same port."""

    def __init__(self, bench: Bench, seconds: float) -> None:
        super().__init__(daemon=True)
        self.bench, self.seconds = bench, seconds
        self.done = threading.Event()
        self.windows: list[tuple[float, float, float]] = []  # (killed, listening again, topics back)
        self.error = ""
        self.began = time.monotonic()

    def run(self) -> None:
        from backbone_admin.embedded import broker_command, wait_for_port

        args, stack = self.bench.args, self.bench.stack
        port = int(self.bench.bootstrap_b.rsplit(":", 1)[1])
        self.began = time.monotonic()
        kill_at = self.began + args.restart_every
        try:
            while kill_at < self.began + self.seconds and not self.done.wait(kill_at - time.monotonic()):
                killed = time.monotonic()
                stack.kill("broker-b")
                self.done.wait(max(0.0, killed + args.down - time.monotonic()))
                # Started again even when the run is over, so B is up for what follows.
                proc = stack.start("broker-b", broker_command(port), append=True)
                wait_for_port(port, proc=proc, timeout=20)
                listening = time.monotonic()
                seed(self.bench.bootstrap_b)
                self.windows.append((killed, listening, time.monotonic()))
                kill_at += args.restart_every
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"


def section_restarts(bench: Bench) -> None:
    web = bench.web
    assert web is not None
    args = bench.args
    half = max(1, args.clients // 2)
    split = ["local"] * half + ["second"] * (args.clients - half or 1)
    progress(
        f"restarts: warm-up {args.warmup:g} s, then {len(split)} clients on A and B for {args.duration:g} s, twice"
    )
    bench.load(split, args.warmup)
    pids = web.pids()
    calm = bench.load(split, args.duration)
    restarts = BrokerRestarts(bench, args.duration)
    restarts.start()
    try:
        # A web process that dies here is what this section looks for: report it with the figures.
        bench.log_in(len(split))
        answers, elapsed = run_load(web, split, args.duration, bench.stop, outlive_web=True)
    finally:
        restarts.done.set()
        restarts.join(timeout=args.down + 60)
    pids_after = web.pids()

    # Tansu forgets B's topics on a restart: the bench creates them again, and a topic page
    # asked for in that window may rightly answer 404. The bench sees B listening by polling its
    # port, so the page may meet the empty broker a moment before `up` (or its metadata a moment
    # after `seeded`): the window is widened by RESEED_SLACK on both sides.
    def reseeding(a: Answer) -> bool:
        return any(
            a.started <= seeded + RESEED_SLACK and a.started + a.ms / 1000 >= up - RESEED_SLACK
            for _, up, seeded in restarts.windows
        )

    answers = [
        Answer(a.cluster, a.page, a.started, a.ms, "404 while re-seeding")
        if a.cluster == "second" and a.outcome == "HTTP 404" and reseeding(a)
        else a
        for a in answers
    ]
    print(
        f"\n## Broker restarts: {len(split)} clients ({half} on A `local`, {len(split) - half} on B `second`), "
        f"{web.processes} Daphne process(es), {args.duration:g} s per run; B killed every {args.restart_every:g} s, "
        f"down {args.down:g} s; slow = over {web.slow_ms / 1000:g} s\n"
    )
    print("| run | cluster | requests | req/s | p50 ms | p99 ms | 503 | 404 while re-seeding | errors (not 503) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    figs: dict[tuple[str, str], Figures] = {}
    for run, run_answers, seconds in (("no restarts", *calm), ("B restarts", answers, elapsed)):
        for cluster in ("local", "second"):
            mine = [a for a in run_answers if a.cluster == cluster]
            f = figures(mine, seconds, allow_503=(cluster == "second" and run == "B restarts"))
            reseed = sum(a.outcome == "404 while re-seeding" for a in mine)
            figs[(run, cluster)] = f
            table_row(run, cluster, f.requests, f"{f.rps:.1f}", f.p50, f.p99, f.n503, reseed, f.errors)
    explain([(f"{run} / {cluster}", f) for (run, cluster), f in figs.items()])
    downs = ", ".join(
        f"killed at {k - restarts.began:.1f} s, listening again {u - k:.1f} s later, topics back {s - u:.2f} s later"
        for k, u, s in restarts.windows
    )
    print(f"\nB restarts: {len(restarts.windows)} ({downs or 'none: --duration shorter than --restart-every'})")
    if restarts.error:
        print(f"restarting B failed: {restarts.error}")
    print(f"web PIDs before: {pids}, after: {pids_after}" + (f" ({web.exits()})" if web.exits() else ""))
    calm_p99, hit_p99 = figs[("no restarts", "local")].p99, figs[("B restarts", "local")].p99
    change = (hit_p99 / calm_p99 - 1) * 100 if calm_p99 else float("nan")
    bench.checks.add("restarts: B was restarted without a bench error", not restarts.error and bool(restarts.windows))
    bench.checks.add(
        "restarts: no errors on A in either run",
        figs[("no restarts", "local")].errors == 0 and figs[("B restarts", "local")].errors == 0,
    )
    bench.checks.add(
        f"restarts: B's errors other than 503: {figs[('B restarts', 'second')].errors} (must be 0)",
        figs[("B restarts", "second")].errors == 0,
    )
    bench.checks.add(
        f"restarts: A's p99 {hit_p99:.0f} ms within 20% of {calm_p99:.0f} ms without restarts ({change:+.0f}%)",
        hit_p99 <= calm_p99 * 1.2,
    )
    bench.checks.add("restarts: web process PIDs unchanged", pids_after == pids)


def run(args: argparse.Namespace) -> bool:
    sections = [s for s in SECTIONS if s in (args.only or SECTIONS)]
    if args.web_processes == 2 and "two-web" in sections and "load" in sections:
        sections.remove("two-web")  # the load section already runs two
    stop = threading.Event()
    with tempfile.TemporaryDirectory(prefix="backbone-bench-") as tmp:
        workdir = Path(tmp)
        stack = Stack(workdir)
        try:
            from backbone_admin.embedded import broker_command, free_port, wait_for_port

            bootstrap, redis_port = start_broker_and_redis(stack)
            env = console_env(stack, bootstrap, redis_port)
            env["KAFKA_TIMEOUT"] = os.environ.get("KAFKA_TIMEOUT", "5")
            clusters = f"clusters:\n  - {{name: local, bootstrap_servers: '{bootstrap}'}}\n"
            bootstrap_b = ""
            if "restarts" in sections:
                port_b = free_port()
                wait_for_port(port_b, proc=stack.start("broker-b", broker_command(port_b)))
                bootstrap_b = f"127.0.0.1:{port_b}"
                clusters += f"  - {{name: second, bootstrap_servers: '{bootstrap_b}'}}\n"
            (workdir / "clusters.yml").write_text(clusters)
            env["BACKBONE_CLUSTERS_FILE"] = str(workdir / "clusters.yml")
            password = prepare_database(env, role="viewer", demo=False)
            (workdir / "policies.yml").write_text(POLICIES)
            manage(env, "retention_policies", "import", str(workdir / "policies.yml"))
            for each in filter(None, (bootstrap, bootstrap_b)):
                seed(each)

            bench = Bench(stack, env, password, args, stop, Checks(), bootstrap_b)
            web = bench.start_web(2 if sections == ["two-web"] else args.web_processes)
            sanity(web, ["local", "second"] if bootstrap_b else ["local"])
            if "isolation" in sections:
                section_isolation(bench)
            if "load" in sections:
                section_load(bench, "Load")
            if "restarts" in sections:
                section_restarts(bench)
            if "two-web" in sections:
                if web.processes != 2:
                    web = bench.start_web(2)
                section_load(bench, "Two web processes")
            return bench.checks.report()
        finally:
            stop.set()
            stack.stop()


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM stops the bench as Ctrl-C does: the finally blocks stop every process."""
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=60, help="seconds per timed run (default 60)")
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients (default 20)")
    parser.add_argument(
        "--web-processes", type=int, default=1, help="Daphne processes of the load and restarts sections (default 1)"
    )
    parser.add_argument("--only", action="append", choices=SECTIONS, help="run only this section (repeatable)")
    parser.add_argument("--n", type=int, default=200, help="timed requests per isolation row (default 200)")
    parser.add_argument(
        "--warmup", type=float, default=3, help="seconds of load before each timed pair, not counted (default 3)"
    )
    parser.add_argument(
        "--restart-every", type=float, default=15, help="seconds between kills of broker B (default 15)"
    )
    parser.add_argument("--down", type=float, default=6, help="seconds broker B stays down each time (default 6)")
    args = parser.parse_args()
    if not (
        1 <= args.duration <= 3600
        and 1 <= args.clients <= 200
        and 1 <= args.web_processes <= 8
        and 1 <= args.n <= 10_000
    ):
        parser.error("--duration must be 1..3600, --clients 1..200, --web-processes 1..8, --n 1..10000")
    if not (0 <= args.warmup <= 600 and 0 < args.down < args.restart_every):
        parser.error("--warmup must be 0..600 and 0 < --down < --restart-every")
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        ok = run(args)
    except KeyboardInterrupt:
        print("\ninterrupted; every process this bench started is stopped", file=sys.stderr)
        raise SystemExit(130) from None
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
