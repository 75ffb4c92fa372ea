"""Fixtures on real components: the broker and Redis (tests/plugin.py), a live Daphne, a
real Celery worker and headless Chromium. Every test uses its own topic names."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient

from backbone_admin import clusters
from backbone_admin.embedded import free_port, wait_for_port
from backbone_admin.kafka import reset_clients
from tests.plugin import OUTPUT, start_services

BASE_DIR = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    return start_services().kafka_bootstrap


@pytest.fixture(scope="session")
def redis_url() -> str:
    return start_services().redis_url


def independent_client_config(bootstrap: str, **extra: Any) -> dict[str, Any]:
    # Client logs go through Python logging, so a broker stopped at the end of the session
    # does not print librdkafka's disconnect lines after pytest's summary.
    return {"bootstrap.servers": bootstrap, "logger": logging.getLogger("tests.kafka"), **extra}


def log_ends(bootstrap: str, topic: str, partitions: Iterable[int]) -> dict[int, int]:
    """Each partition's log end (read uncommitted: the high watermark, markers included once written).

    A read_committed reader has read a partition whole once its end-of-partition event comes at or
    past this: right after a commit returns, Kafka may not have written the transaction's markers
    yet, and such a reader meets its end at the last stable offset, before the transaction's events.
    """
    from confluent_kafka import IsolationLevel, TopicPartition
    from confluent_kafka.admin import OffsetSpec

    admin = AdminClient(independent_client_config(bootstrap))
    wanted = {TopicPartition(topic, p): OffsetSpec.latest() for p in partitions}
    answers = admin.list_offsets(wanted, isolation_level=IsolationLevel.READ_UNCOMMITTED, request_timeout=10)
    return {tp.partition: future.result().offset for tp, future in answers.items()}


@pytest.fixture(scope="session")
def kafka_admin(kafka_bootstrap: str) -> AdminClient:
    """An independent client to check what the console did on the broker."""
    return AdminClient(independent_client_config(kafka_bootstrap))


@pytest.fixture
def topic_name(request: pytest.FixtureRequest) -> str:
    """A topic name no other test uses."""
    return f"t-{request.node.name[:40].replace('[', '-').replace(']', '')}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def clusters_file(tmp_path: Path, settings: Any, kafka_bootstrap: str) -> Iterator[Callable[[str], Path]]:
    """Point the console at a clusters YAML file for one test."""

    def use(text: str) -> Path:
        path = tmp_path / "clusters.yml"
        path.write_text(text.replace("{LOCAL}", kafka_bootstrap))
        settings.BACKBONE_CLUSTERS_FILE = str(path)
        clusters.reset_cache()
        reset_clients()
        return path

    yield use
    clusters.reset_cache()
    reset_clients()


@pytest.fixture
def down_cluster(clusters_file: Callable[[str], Path], settings: Any) -> str:
    """A second cluster `down` where nothing listens; timeouts shortened to keep tests quick."""
    settings.KAFKA_TIMEOUT = 1.5
    port = free_port()
    clusters_file(
        f"clusters:\n  - name: local\n    bootstrap_servers: {{LOCAL}}\n"
        f"  - name: down\n    bootstrap_servers: 127.0.0.1:{port}\n"
    )
    return f"127.0.0.1:{port}"


@pytest.fixture
def make_user(django_user_model: Any) -> Callable[..., Any]:
    from backbone_admin.roles import assign_role

    def make(role: str | None = None, *, cluster: str | None = None, password: str = "pw-Backbone-1") -> Any:
        user = django_user_model.objects.create_user(username=f"u{uuid.uuid4().hex[:8]}", password=password)
        if role:
            assign_role(user, role, cluster=cluster)
        return user

    return make


@pytest.fixture
def client_as(make_user: Callable[..., Any]) -> Callable[..., Client]:
    def login(role: str | None, *, cluster: str | None = None) -> Client:
        client = Client()
        client.force_login(make_user(role, cluster=cluster))
        return client

    return login


@pytest.fixture
def api_as(make_user: Callable[..., Any]) -> Callable[..., APIClient]:
    def login(role: str | None, *, cluster: str | None = None) -> APIClient:
        client = APIClient()
        client.force_authenticate(make_user(role, cluster=cluster))
        return client

    return login


def _subprocess_env(kafka_bootstrap: str, redis_url: str) -> dict[str, str]:
    """The environment of a server or worker the tests start: the test database, never var/db.sqlite3."""
    name = str(settings.DATABASES["default"]["NAME"])
    if name != os.environ.get("TEST_DATABASE_NAME"):
        # pytest-django sets the test database up only for a run that has a django_db test.
        raise RuntimeError(f"refusing to start a server on {name}: mark the test `django_db` to get the test database")
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": f"sqlite:///{settings.DATABASES['default']['NAME']}",
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "REDIS_URL": redis_url,
            "HTTPS": "0",
            "DJANGO_SETTINGS_MODULE": "backbone_admin.settings",
        }
    )
    return env


@contextmanager
def daphne_server(env: dict[str, str], log_name: str = "daphne.log") -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A real Daphne serving the console with this environment: (base URL, process)."""
    port = free_port()
    OUTPUT.mkdir(exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "backbone_admin.asgi:application"],
        cwd=BASE_DIR,
        env=env,
        stdout=(OUTPUT / log_name).open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, proc=proc, timeout=30)
        yield f"http://127.0.0.1:{port}", proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class RestartableServer:
    """A broker or Redis of one test's own, killed and started again on the same port."""

    def __init__(self, command: Callable[[int], list[str]], log_name: str) -> None:
        self.command = command
        self.port = free_port()
        self.log_name = log_name
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        OUTPUT.mkdir(exist_ok=True)
        log = (OUTPUT / self.log_name).open("ab")
        self.proc = subprocess.Popen(self.command(self.port), stdout=log, stderr=subprocess.STDOUT)
        wait_for_port(self.port, proc=self.proc, timeout=20)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture(scope="session")
def live_url(django_db_setup: Any, django_db_blocker: Any, kafka_bootstrap: str, redis_url: str) -> Iterator[str]:
    """A real Daphne serving the console on the test database."""
    with daphne_server(_subprocess_env(kafka_bootstrap, redis_url)) as (url, _):
        yield url


@pytest.fixture(scope="session")
def celery_worker(django_db_setup: Any, kafka_bootstrap: str, redis_url: str) -> Iterator[subprocess.Popen[bytes]]:
    """A real Celery worker process on the test Redis and database."""
    OUTPUT.mkdir(exist_ok=True)
    log_path = OUTPUT / "celery-worker.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "backbone_admin",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            "2",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=BASE_DIR,
        env=_subprocess_env(kafka_bootstrap, redis_url),
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while b"ready." not in log_path.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"the Celery worker did not start; see {log_path}")
        time.sleep(0.2)
    yield proc
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright; failing to launch fails the run."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(
            f"{CHROMIUM} is missing: `make test` installs the Debian packages chromium and chromium-driver"
        )
    # Playwright's sync API keeps an event loop in this thread; the tests' own ORM calls
    # are still synchronous, so Django's async-safety guard is lifted for the session.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    yield page
    context.close()


def screenshot(page: Any, name: str) -> Path:
    OUTPUT.mkdir(exist_ok=True)
    path = OUTPUT / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# --- Secrets never leak ---------------------------------------------------------------------
# The test clusters' SASL and schema-registry passwords are unique markers. Every log record
# emitted during the session (any logger, propagating or not), every response the Django test
# client returns, the bodies tests read from live servers (`SECRET_WATCH.scan`) and the server
# logs in test-output/ are searched for them; a marker found anywhere fails the run at the end.

SECRET_MARKERS = (f"s3cr3t-sasl-{uuid.uuid4().hex[:12]}", f"s3cr3t-registry-{uuid.uuid4().hex[:12]}")
SASL_SECRET_ENV = "BACKBONE_TEST_SASL_PASSWORD"


class SecretWatch:
    def __init__(self, markers: tuple[str, ...]) -> None:
        self.markers = list(markers)
        self.leaks: list[str] = []
        self.started = time.time()

    def scan(self, text: str | bytes, where: str) -> None:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        for marker in self.markers:
            at = text.find(marker)
            if at >= 0:
                self.leaks.append(f"{where}: …{text[max(0, at - 80) : at + len(marker) + 20]!r}…")

    def scan_files(self) -> None:
        """The logs that servers started by the fixtures wrote during this session."""
        for path in sorted(OUTPUT.glob("*.log")):
            if path.stat().st_mtime >= self.started:
                for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                    self.scan(line, f"{path.name} line {number}")

    def probe(self) -> str:
        """A marker of its own for a test that proves the watch sees a leak; `forget` it after."""
        marker = f"s3cr3t-probe-{uuid.uuid4().hex[:12]}"
        self.markers.append(marker)
        return marker

    def forget(self, marker: str) -> list[str]:
        self.markers.remove(marker)
        found = [leak for leak in self.leaks if marker in leak]
        self.leaks = [leak for leak in self.leaks if marker not in leak]
        return found


SECRET_WATCH = SecretWatch(SECRET_MARKERS)
_LOG_FORMAT = logging.Formatter("%(name)s %(levelname)s %(message)s")


@pytest.fixture(scope="session", autouse=True)
def secret_watch() -> Iterator[SecretWatch]:
    """Look at every log record and every test-client response of the session."""
    from django.test.client import Client as DjangoClient

    call_handlers = logging.Logger.callHandlers
    client_request = DjangoClient.request

    def watched_call_handlers(self: logging.Logger, record: logging.LogRecord) -> None:
        try:
            text = _LOG_FORMAT.format(record)
        except Exception:  # a record that cannot be formatted still has its parts
            text = f"{record.msg!r} {record.args!r}"
        SECRET_WATCH.scan(text, f"log record of {record.name}")
        call_handlers(self, record)

    def watched_request(self: Any, **request: Any) -> Any:
        response = client_request(self, **request)
        where = f"response to {request.get('REQUEST_METHOD')} {request.get('PATH_INFO')}"
        SECRET_WATCH.scan("\n".join(f"{k}: {v}" for k, v in response.items()), where + " (headers)")
        if not getattr(response, "streaming", False):
            SECRET_WATCH.scan(response.content, where)
        return response

    logging.Logger.callHandlers = watched_call_handlers  # type: ignore[method-assign]
    DjangoClient.request = watched_request  # type: ignore[method-assign]
    yield SECRET_WATCH
    logging.Logger.callHandlers = call_handlers  # type: ignore[method-assign]
    DjangoClient.request = client_request  # type: ignore[method-assign]


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # trylast: after the session fixtures stopped Daphne and the worker, so their logs are complete.
    SECRET_WATCH.scan_files()
    if SECRET_WATCH.leaks:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = ["A test cluster's secret appeared in a log line or a response:", *SECRET_WATCH.leaks[:50]]
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_sep("=", "secrets leaked", red=True)
            for line in lines:
                reporter.write_line(line)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def secret_clusters(
    clusters_file: Callable[[str], Path], settings: Any, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Clusters on the test broker that carry the secret markers (timeouts shortened):

    `vault`: SASL_SSL + PLAIN, its password from ${BACKBONE_TEST_SASL_PASSWORD}; the test broker
    does not speak TLS, so every call fails with a TLS error. `scram`: SASL_PLAINTEXT +
    SCRAM-SHA-512, the password written literally in the file, the registry's in its URL
    (`user:password@`). Both have a schema-registry password.
    """
    settings.KAFKA_TIMEOUT = 1.5
    sasl, registry = SECRET_MARKERS
    monkeypatch.setenv(SASL_SECRET_ENV, sasl)
    path = clusters_file(
        "clusters:\n"
        "  - name: local\n    bootstrap_servers: '{LOCAL}'\n"
        "  - name: vault\n    bootstrap_servers: '{LOCAL}'\n    security_protocol: SASL_SSL\n"
        f"    sasl_mechanism: PLAIN\n    sasl_username: token\n    sasl_password: ${{{SASL_SECRET_ENV}}}\n"
        f"    schema_registry_url: http://127.0.0.1:9\n    schema_registry_username: registry\n"
        f"    schema_registry_password: {registry}\n"
        "  - name: scram\n    bootstrap_servers: '{LOCAL}'\n    security_protocol: SASL_PLAINTEXT\n"
        f"    sasl_mechanism: SCRAM-SHA-512\n    sasl_username: svc\n    sasl_password: {sasl}\n"
        f"    schema_registry_url: http://svc:{registry}@127.0.0.1:9\n"
    )
    return {"file": str(path), "sasl": sasl, "registry": registry}


@pytest.fixture
def schema_registry() -> Iterator[Any]:
    """A small test Schema Registry (tests/streams/registry_server.py, the Confluent REST subset) on 127.0.0.1.

    Point a cluster at it with `schema_registry_url: <schema_registry.url>` in `clusters_file`;
    `schema_registry.register(subject, schema)` registers as another producer would have.
    """
    from streams.events.registry import reset_registries
    from tests.streams.registry_server import RegistryServer

    server = RegistryServer().start()
    reset_registries()
    yield server
    server.stop()
    reset_registries()
