"""`make run` with real processes: scripts/run.sh under supervisord on free ports, its own
broker, Redis and SQLite file. A killed process comes back while the others keep running;
stopping supervisord leaves no process behind. And the demo producer's start on a down broker."""

from __future__ import annotations

import configparser
import contextlib
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import xmlrpc.client
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient
from supervisor.xmlrpc import SupervisorTransport

from backbone_admin.embedded import TerminalFilter, broker_command, free_port, wait_for_port
from tests.conftest import independent_client_config
from tests.plugin import OUTPUT

BASE_DIR = Path(__file__).resolve().parent.parent
# The web program is a pool of WEB_PROCESSES Daphne processes on one socket: web_00, web_01.
WEB = ("web_00", "web_01")
DEMO_SERVICES = ("order-service", "analytics", "invoicing")
PROGRAMS = ("broker", "redis", *WEB, "worker", "beat", "demo", *DEMO_SERVICES)
DEMO_TOPICS = ("orders", "containers", "shipments")
# The suite's own settings and servers must not leak into the stack under test.
SUITE_ONLY = (
    "KAFKA_BOOTSTRAP_SERVERS",
    "REDIS_URL",
    "DATABASE_URL",
    "TEST_DATABASE_NAME",
    "BACKBONE_CLUSTERS_FILE",
    "DEFAULT_CLUSTER",
    "KAFKA_VALIDATE_ONLY_FIRST",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    "DEBUG",
    "SECRET_KEY",
    "SECRET_KEY_FILE",
    "PORT",
    "BACKBONE_RUN_DIR",
    "BACKBONE_WEB_PORT",
    "EMBEDDED_KAFKA",
    "WEB_PROCESSES",
)


def _free_ports(count: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < count:
        port = free_port()
        if port not in (8000, 9092, 6379):
            ports.add(port)
    return sorted(ports)


def wait_until(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(interval)


@dataclass
class Stack:
    run_dir: Path
    web_port: int
    kafka_port: int
    log_path: Path
    proc: subprocess.Popen[bytes]
    env: dict[str, str]

    def supervisor(self) -> Any:
        # The same settings supervisorctl uses: the socket and its credentials, from the generated config.
        config = configparser.RawConfigParser()
        config.read(self.run_dir / "supervisord.conf")
        ctl = config["supervisorctl"]
        transport = SupervisorTransport(ctl["username"], ctl["password"], ctl["serverurl"])
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor

    def running(self) -> dict[str, int]:
        """Pid of every program supervisord reports RUNNING (started and up for `startsecs`)."""
        try:
            infos = self.supervisor().getAllProcessInfo()
        except (OSError, KeyError, xmlrpc.client.Error):
            return {}  # not written or not listening yet
        return {info["name"]: info["pid"] for info in infos if info["statename"] == "RUNNING"}

    def healthz(self) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/healthz", timeout=3) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return 0

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def listening(self) -> set[str]:
        """The socket inode(s) listening on the web port (Linux /proc/net/tcp: state 0A)."""
        found = set()
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1].endswith(f":{self.web_port:04X}") and fields[3] == "0A":
                found.add(f"socket:[{fields[9]}]")
        return found

    def sockets_of(self, pid: int) -> set[str]:
        found = set()
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                found.add(os.readlink(fd))
        return found

    def leftovers(self) -> list[str]:
        """Every process still alive that was started for this stack (they all carry its run dir)."""
        marker = f"BACKBONE_RUN_DIR={self.run_dir}\0".encode()
        found = []
        for proc_dir in Path("/proc").iterdir():
            if not proc_dir.name.isdigit():
                continue
            try:
                if marker in (proc_dir / "environ").read_bytes():
                    cmdline = (proc_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                    found.append(f"{proc_dir.name}: {cmdline.strip()}")
            except OSError:
                continue  # gone meanwhile, or not ours to read
        return found

    def kill_leftovers(self) -> None:
        for line in self.leftovers():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(line.split(":", 1)[0]), signal.SIGKILL)


@pytest.fixture
def stack() -> Iterator[Stack]:
    # A short path: supervisord's unix socket name must fit in 108 bytes.
    run_dir = Path(tempfile.mkdtemp(prefix="bbrun-"))
    web_port, kafka_port, redis_port = _free_ports(3)
    env = {key: value for key, value in os.environ.items() if key not in SUITE_ONLY}
    env.update(
        {
            "BACKBONE_RUN_DIR": str(run_dir),
            "DATABASE_URL": f"sqlite:///{run_dir / 'db.sqlite3'}",
            "PORT": str(web_port),
            "EMBEDDED_KAFKA_PORT": str(kafka_port),
            "EMBEDDED_REDIS_PORT": str(redis_port),
            "DEMO_EVENTS": "1",
            "WEB_PROCESSES": str(len(WEB)),
            "DJANGO_SUPERUSER_PASSWORD": "pw-MakeRun-1",
        }
    )
    OUTPUT.mkdir(exist_ok=True)
    log_path = OUTPUT / "make-run.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(BASE_DIR / "scripts" / "run.sh")],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack = Stack(run_dir, web_port, kafka_port, log_path, proc, env)
    try:
        yield stack
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        stack.kill_leftovers()
        shutil.rmtree(run_dir, ignore_errors=True)


def _demo_topics(bootstrap: str) -> dict[str, tuple[int, int]]:
    """Partition count and total high watermark of each demo topic, by an independent client."""
    admin = AdminClient(independent_client_config(bootstrap))
    metadata = admin.list_topics(timeout=5)
    consumer = Consumer(independent_client_config(bootstrap, **{"group.id": "make-run-check"}))
    try:
        found = {}
        for topic in DEMO_TOPICS:
            if topic not in metadata.topics:
                continue
            partitions = list(metadata.topics[topic].partitions)
            events = sum(
                consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5, cached=False)[1] for p in partitions
            )
            found[topic] = (len(partitions), events)
        return found
    finally:
        consumer.close()


def _demo_groups(bootstrap: str) -> dict[str, set[tuple[str, int]]]:
    """The partitions each demo service's group has committed an offset on, by an independent client."""
    admin = AdminClient(independent_client_config(bootstrap))
    found = {}
    for name in DEMO_SERVICES:
        answer = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(name)], request_timeout=10)
        committed = answer[name].result().topic_partitions or []
        found[name] = {(tp.topic, tp.partition) for tp in committed if tp.offset >= 0}
    return found


def test_a_killed_process_comes_back_while_the_others_keep_running(stack: Stack) -> None:
    started = time.monotonic()
    wait_until("/healthz 200 after start", lambda: stack.healthz() == 200, timeout=60, interval=0.5)
    pids = wait_until("every program RUNNING", lambda: (p := stack.running()).keys() >= set(PROGRAMS) and p, 20)
    # run.sh migrated and created the admin in the stack's own database.
    assert (stack.run_dir / "db.sqlite3").stat().st_size > 0
    # The config (it holds the socket's password) and the socket are the owner's only.
    assert stat.S_IMODE((stack.run_dir / "supervisord.conf").stat().st_mode) == 0o600
    assert stat.S_IMODE((stack.run_dir / "supervisor.sock").stat().st_mode) == 0o700
    # What the README tells a developer to type.
    status = subprocess.run(
        [str(BASE_DIR / ".venv" / "bin" / "supervisorctl"), "-c", str(stack.run_dir / "supervisord.conf"), "status"],
        capture_output=True,
        text=True,
        timeout=20,
    ).stdout
    for web in WEB:
        assert re.search(rf"^web:{web}\s+RUNNING\s+pid {pids[web]},", status, re.MULTILINE), status
    # Every web process accepts on the one socket supervisord listens on.
    [listening] = stack.listening()
    assert all(listening in stack.sockets_of(pids[web]) for web in WEB)
    # A second `make run` on the same var/ says so and leaves the first alone.
    again = subprocess.run(
        [str(BASE_DIR / "scripts" / "run.sh")], cwd=BASE_DIR, env=stack.env, capture_output=True, text=True, timeout=30
    )
    assert again.returncode == 1 and "already running" in again.stderr, again
    assert "Backbone Console is up" in wait_until(
        "the banner", lambda: "Backbone Console is up" in stack.output() and stack.output(), 20
    )

    worker_log = stack.run_dir / "log" / "worker.log"
    wait_until("the worker ready", lambda: " ready." in worker_log.read_text(), 20)
    # Once beat has sent tasks and the worker has run them, the terminal still ends with the
    # login: Celery's routine INFO lines are in the log files only.
    wait_until("a task run by the worker", lambda: worker_log.read_text().count(" succeeded in ") >= 2, 40, 0.5)
    beat_log = (stack.run_dir / "log" / "beat.log").read_text()
    assert "INFO/MainProcess] Scheduler: Sending due task" in beat_log
    terminal = stack.output()
    assert re.findall(r"^(?:worker|beat) +\| \[[^]]*: INFO/(?!MainProcess\] celery@\S+ ready\.$)", terminal, re.M) == []
    assert re.search(r"^worker +\| \[[^]]*: INFO/MainProcess\] celery@\S+ ready\.$", terminal, re.M)
    assert "Created admin account admin" in "\n".join(terminal.splitlines()[-25:]), terminal
    # Fixed: WhiteNoise's missing STATIC_ROOT. Explained once: Redis's overcommit warning.
    assert "No directory at" not in terminal
    assert "Memory overcommit must be enabled" not in terminal
    assert terminal.count("vm.overcommit_memory is off: harmless here") == 1
    assert "Memory overcommit must be enabled" in (stack.run_dir / "log" / "redis.log").read_text()
    for name in ("web_00", "worker", "redis"):
        old = pids[name]
        readies = worker_log.read_text().count(" ready.")
        killed_at = time.monotonic()
        os.kill(old, signal.SIGKILL)
        if name == "web_00":
            # The other web process answers meanwhile: the socket stays open in supervisord.
            assert stack.running().get("web_01") == pids["web_01"]
            wait_until("/healthz 200 while web_00 restarts", lambda: stack.healthz() == 200, timeout=2, interval=0.1)

        def back(name: str = name, old: int = old) -> dict[str, int] | None:
            now = stack.running()
            return now if now.get(name, old) != old and stack.healthz() == 200 else None

        now = wait_until(f"{name} back with a new pid and /healthz 200", back, timeout=15)
        if name == "worker":
            # The new worker is connected to Redis and consuming, not just alive.
            wait_until("the new worker ready", lambda n=readies: worker_log.read_text().count(" ready.") > n, 15)
        print(f"{name}: back in {time.monotonic() - killed_at:.1f} s")
        others = {p: pid for p, pid in pids.items() if p in PROGRAMS and p != name}
        assert {p: now.get(p) for p in others} == others, f"killing {name} disturbed other processes"
        pids = now
        # supervisord said what happened, in the terminal of `make run`.
        assert f"exited: {name} (terminated by SIGKILL; not expected)" in stack.output()
        assert f"spawned: '{name}' with pid {now[name]}" in stack.output()

    # The demo created its topics with their partitions and produced into them.
    topics = wait_until(
        "demo events in every demo topic",
        lambda: (
            (t := _demo_topics(f"127.0.0.1:{stack.kafka_port}")).keys() == set(DEMO_TOPICS)
            and all(events for _, events in t.values())
            and t
        ),
        timeout=15,
        interval=0.5,
    )
    assert {topic: partitions for topic, (partitions, _) in topics.items()} == dict.fromkeys(DEMO_TOPICS, 3)
    # The demo's services are consumer groups with offsets committed on every topic they read.
    reads = {"order-service": {"orders"}, "analytics": set(DEMO_TOPICS), "invoicing": {"orders", "shipments"}}

    def committed_topics() -> dict[str, set[str]]:
        return {name: {t for t, _ in tps} for name, tps in _demo_groups(f"127.0.0.1:{stack.kafka_port}").items()}

    wait_until("the demo's groups with committed offsets", lambda: committed_topics() == reads, timeout=30, interval=1)
    # Program output reaches the terminal with a name prefix.
    for name in ("web_00", "web_01", "worker", "order-service"):
        assert re.search(rf"^{name} +\| ", stack.output(), re.M), name

    stack.proc.send_signal(signal.SIGTERM)
    assert stack.proc.wait(timeout=30) == 0
    assert "stopped: web_00" in stack.output() and "stopped: web_01" in stack.output()
    assert stack.leftovers() == []
    assert not (stack.run_dir / "supervisor.sock").exists()
    assert time.monotonic() - started < 90


def test_demo_producer_waits_for_a_down_broker_then_creates_its_topics_before_producing(tmp_path: Path) -> None:
    port = _free_ports(1)[0]
    env = dict(os.environ)
    env.update(
        {
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
            "KAFKA_TIMEOUT": "1",
            "KAFKA_VALIDATE_ONLY_FIRST": "0",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        }
    )
    log_path = OUTPUT / "demo-events.log"
    with log_path.open("wb") as log:
        demo = subprocess.Popen(
            [sys.executable, "manage.py", "demo_events", "--count", "5", "--rate", "20"],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    broker: subprocess.Popen[bytes] | None = None
    try:

        def retrying() -> bool:
            assert demo.poll() is None, log_path.read_text()
            return "trying again in" in log_path.read_text()

        wait_until("a retry line", retrying, timeout=30)
        broker = subprocess.Popen(broker_command(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(port, proc=broker)
        assert demo.wait(timeout=60) == 0, log_path.read_text()
        assert _demo_topics(f"127.0.0.1:{port}") == dict.fromkeys(DEMO_TOPICS, (3, 5))
        assert f"cluster `local` unreachable at 127.0.0.1:{port}" in log_path.read_text()
    finally:
        for proc in (demo, broker):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


def test_the_terminal_shows_celery_warnings_and_errors_but_not_its_routine_lines() -> None:
    terminal = TerminalFilter("var/log")
    started = ["/x/celery/platforms.py:893: SecurityWarning: You're running the worker as root", "  warn()"]
    assert terminal.lines("worker", "worker", started) == started
    routine = [
        "[2026-12-07 14:49:38,787: INFO/MainProcess] Connected to redis://:**@127.0.0.1:55475/0",
        "[2026-12-07 14:49:40,001: INFO/MainProcess] Task backbone_admin.tasks.check_clusters[1] received",
        "[2026-12-07 14:49:40,101: INFO/ForkPoolWorker-1] Task backbone_admin.tasks.check_clusters[1] succeeded",
    ]
    assert terminal.lines("worker", "worker", routine) == []
    ready = "[2026-12-07 14:49:39,823: INFO/MainProcess] celery@vm ready."
    assert terminal.lines("worker", "worker", [ready]) == [ready]
    failed = [
        "[2026-12-07 14:49:41,000: ERROR/ForkPoolWorker-2] Task streams.jobs.tasks.run_job[2] raised",
        "Traceback (most recent call last):",
        "ValueError: boom",
    ]
    assert terminal.lines("worker", "worker", [*failed, routine[1], "a line of the INFO record"]) == failed
    assert terminal.lines("beat", "beat", ["[2026-12-07 14:49:41,000: INFO/MainProcess] beat: Starting..."]) == []
    # After an exit, the next start's first lines (an import error) are shown again.
    terminal.exited("worker")
    assert terminal.lines("worker", "worker", ["Traceback (most recent call last):"]) == [
        "Traceback (most recent call last):"
    ]
    # Other programs are shown as they are, Redis's overcommit warning in words.
    web = ["2026-12-07 14:49:37,975 INFO daphne.cli: Starting server at fd:fileno=0"]
    assert terminal.lines("web_00", "web", web) == web
    [redis] = terminal.lines("redis", "redis", ["1:M 07 Dec # WARNING Memory overcommit must be enabled! Without it"])
    assert "harmless here" in redis and "var/log/redis.log" in redis
