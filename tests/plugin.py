"""Start the real test broker (Tansu) and a real Redis before Django reads its settings.

Loaded with `-p tests.plugin` so it runs ahead of pytest-django: the settings then point
at these servers. A broker or Redis that cannot start fails the run; nothing is skipped.
"""

from __future__ import annotations

import atexit
import os
import secrets
import subprocess
import tempfile
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from backbone_admin.embedded import broker_command, free_port, redis_command, wait_for_port

OUTPUT = Path(__file__).resolve().parent.parent / "test-output"


@dataclass
class Services:
    kafka_bootstrap: str
    redis_url: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()


SERVICES: Services | None = None


def _start(cmd: list[str], port: int, log_name: str) -> subprocess.Popen[bytes]:
    OUTPUT.mkdir(exist_ok=True)
    log = (OUTPUT / log_name).open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc=proc, timeout=30)
    except RuntimeError as exc:
        proc.kill()
        raise pytest.UsageError(
            f"cannot start {log_name.removesuffix('.log')}: {exc} (see {OUTPUT / log_name})"
        ) from exc
    return proc


def start_services() -> Services:
    global SERVICES
    if SERVICES is None:
        procs = []
        # TEST_KAFKA_BOOTSTRAP names an Apache Kafka (docker-compose.yml starts one where
        # Docker exists): the whole suite then runs against it, `real_kafka` tests included.
        kafka = os.environ.get("TEST_KAFKA_BOOTSTRAP", "")
        if not kafka:
            kafka_port = free_port()
            procs.append(_start(broker_command(kafka_port), kafka_port, "broker.log"))
            kafka = f"127.0.0.1:{kafka_port}"
            # Tansu creates a topic on a validate-only request (TEST_BROKER.md).
            os.environ["KAFKA_VALIDATE_ONLY_FIRST"] = "0"
        redis_port = free_port()
        procs.append(_start(redis_command(redis_port), redis_port, "redis.log"))
        SERVICES = Services(kafka, f"redis://127.0.0.1:{redis_port}/0", procs)
        atexit.register(SERVICES.stop)
    return SERVICES


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_load_initial_conftests(early_config: Any, parser: Any, args: Any) -> Generator[None, Any, Any]:
    services = start_services()
    os.environ["KAFKA_BOOTSTRAP_SERVERS"] = services.kafka_bootstrap
    os.environ["REDIS_URL"] = services.redis_url
    os.environ["HTTPS"] = "0"
    os.environ["DEBUG"] = "0"
    # A key of this run's own (Daphne and the worker inherit it): with DEBUG off the settings
    # refuse to start without one, as in production.
    os.environ["SECRET_KEY"] = secrets.token_urlsafe(50)
    os.environ.pop("SECRET_KEY_FILE", None)
    # Tests ask for fresh reads (`refresh=1`) many times a second; the rate limit itself is
    # tested with these settings raised (tests/topics/test_input_limits.py).
    os.environ["REFRESH_USER_INTERVAL"] = "0"
    os.environ["REFRESH_CLUSTER_INTERVAL"] = "0"
    # Request-latency files of this run's own (the Daphnes it starts inherit it), not var/metrics,
    # which a local `make run` counts from.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="backbone-metrics-")
    os.environ.pop("BACKBONE_CLUSTERS_FILE", None)
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("DEFAULT_CLUSTER", None)
    # A test database file of this run's own, so two runs on one machine never share one.
    (OUTPUT.parent / "var").mkdir(exist_ok=True)
    os.environ["TEST_DATABASE_NAME"] = str(OUTPUT.parent / "var" / f"test_db_{os.getpid()}.sqlite3")
    return (yield)


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    if os.environ.get("TEST_KAFKA_BOOTSTRAP"):
        return
    skip = pytest.mark.skip(reason="needs Apache Kafka: set TEST_KAFKA_BOOTSTRAP (see TEST_BROKER.md)")
    for item in items:
        if "real_kafka" in item.keywords:
            item.add_marker(skip)


def pytest_unconfigure(config: Any) -> None:
    if SERVICES is not None:
        SERVICES.stop()
