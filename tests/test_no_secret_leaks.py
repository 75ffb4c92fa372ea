"""The test clusters' SASL and schema-registry passwords appear in no page, API answer or log line.

The session-wide watch (tests/conftest.py, SECRET_WATCH) checks every log record and every
test-client response of the whole suite and the server logs in test-output/, and fails the run
at its end. These tests make sure the secrets really flow through the code that could leak
them — clients built with them, failing health checks, error pages, the clusters' repr, the
system checks, a live Daphne — and that the watch itself sees a leak when there is one.
"""

from __future__ import annotations

import io
import logging
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from django.core.cache import cache
from django.core.management import call_command

from backbone_admin.clusters import ClusterConfigError, all_clusters, get_cluster, parse_clusters_yaml
from backbone_admin.embedded import free_port, wait_for_port
from backbone_admin.health import check_cluster, console_health
from backbone_admin.models import ApiToken
from backbone_admin.roles import assign_role
from tests.conftest import BASE_DIR, SASL_SECRET_ENV, SECRET_MARKERS, SECRET_WATCH, SecretWatch, _subprocess_env
from tests.plugin import OUTPUT

log = logging.getLogger("tests.secrets")


def _no_new_leaks(before: int) -> None:
    new = SECRET_WATCH.leaks[before:]
    assert not new, "a secret leaked:\n" + "\n".join(new)


@pytest.mark.django_db
def test_the_watch_sees_a_secret_in_a_log_line_and_in_a_response(secret_watch: SecretWatch, client_as: Any) -> None:
    probe = secret_watch.probe()
    try:
        logging.getLogger("backbone.anything").warning("connecting with password %s", probe)
        quiet = logging.getLogger("tests.secrets.quiet")
        quiet.propagate = False  # a logger that does not reach the root handlers is watched too
        quiet.error("token=%s", probe)
        page = client_as("viewer").get("/clusters/local/topics/", {"search": probe})  # the page echoes the search
        assert page.status_code == 200
    finally:
        found = secret_watch.forget(probe)
    assert any("log record of backbone.anything" in leak for leak in found)
    assert any("log record of tests.secrets.quiet" in leak for leak in found)
    assert any("response to GET /clusters/local/topics/" in leak for leak in found)


def test_the_watch_reads_the_server_logs_of_the_session(secret_watch: SecretWatch) -> None:
    probe = secret_watch.probe()
    path = OUTPUT / f"secret-probe-{uuid.uuid4().hex[:6]}.log"
    try:
        path.write_text(f"starting\nsasl.password={probe}\n")
        secret_watch.scan_files()
    finally:
        path.unlink()
        found = secret_watch.forget(probe)
    assert found and found[0].startswith(f"{path.name} line 2")


def test_the_markers_are_in_the_clusters_the_code_builds_clients_from(secret_clusters: dict[str, str]) -> None:
    vault, scram = get_cluster("vault"), get_cluster("scram")
    assert vault is not None and scram is not None
    assert vault.librdkafka_config()["sasl.password"] == secret_clusters["sasl"]  # through ${ENV} interpolation
    assert vault.schema_registry_password == secret_clusters["registry"]
    assert scram.librdkafka_config()["sasl.password"] == secret_clusters["sasl"]  # written in the file


@pytest.mark.django_db
def test_cluster_pages_and_api_show_the_failure_but_never_the_secret(
    secret_clusters: dict[str, str], client_as: Any, api_as: Any
) -> None:
    before = len(SECRET_WATCH.leaks)
    cache.delete_many(["cluster-health:vault", "cluster-health:scram"])
    page, api = client_as("admin"), api_as("admin")
    listed = page.get("/clusters/")
    assert listed.status_code == 200 and b"vault" in listed.content and b"scram" in listed.content
    rows = {row["name"]: row for row in api.get("/api/clusters/").json()}
    assert rows["vault"]["status"] == "down" and rows["vault"]["error"]
    assert rows["vault"]["sasl_mechanism"] == "PLAIN"
    assert rows["scram"]["status"] == "down" and "scram" in rows["scram"]["error"]
    for name in ("vault", "scram"):
        detail = api.get(f"/api/clusters/{name}/")
        assert detail.status_code == 503 and name in detail.json()["error"]
        overview = page.get(f"/clusters/{name}/")
        assert overview.status_code == 200 and name.encode() in overview.content
        assert api.get(f"/api/clusters/{name}/topics/").status_code == 503
    assert page.get("/clusters/vault/topics/").status_code == 503
    assert api.get("/api/clusters/vault/retention/compliance/").status_code == 503
    created = api.post("/api/clusters/vault/topics/", {"name": "t-secret", "partitions": 1}, format="json")
    assert created.status_code == 503, created.content
    form = page.post("/clusters/vault/topics/new/", {"name": "t-secret", "partitions": 1, "replication_factor": 1})
    assert form.status_code in (400, 503)
    _no_new_leaks(before)


@pytest.mark.django_db
def test_health_checks_the_beat_task_and_healthz_never_show_the_secret(
    secret_clusters: dict[str, str], settings: Any, client_as: Any
) -> None:
    from backbone_admin.tasks import check_clusters

    before = len(SECRET_WATCH.leaks)
    health = check_cluster("vault")
    assert health.status == "down" and health.error and "vault" in health.error
    log.info("health of vault: %r", health)
    assert check_clusters() == 3  # the beat task's body, as the worker runs it
    settings.DEFAULT_CLUSTER = "scram"
    ok, checks = console_health()
    assert not ok and checks["cluster:scram"].startswith("unavailable")
    healthz = client_as("viewer").get("/healthz")
    assert healthz.status_code == 503 and "cluster:scram" in healthz.json()["checks"]
    _no_new_leaks(before)


def test_the_clusters_config_never_shows_the_secret(secret_clusters: dict[str, str]) -> None:
    before = len(SECRET_WATCH.leaks)
    for cluster in all_clusters():
        log.info("cluster %r / %s / public %s", cluster, cluster, cluster.public())
        try:
            raise RuntimeError(f"cannot use {cluster!r}")
        except RuntimeError:
            log.exception("a failure that names the cluster")
    out, err = io.StringIO(), io.StringIO()
    call_command("check", stdout=out, stderr=err)  # backbone.W001: PLAIN without TLS on `scram`
    SECRET_WATCH.scan(out.getvalue() + err.getvalue(), "manage.py check")
    _no_new_leaks(before)


@pytest.mark.parametrize(
    "line",
    [
        "    sasl_password: {secret}: oops",  # a colon where YAML does not allow one
        '    sasl_password: "{secret}',  # an unterminated quote
        "    sasl_password: {secret}\n  bad indentation: [",
    ],
)
def test_a_broken_clusters_file_is_reported_without_the_password(line: str) -> None:
    secret = f"s3cr3t-{uuid.uuid4().hex[:8]}"
    text = "clusters:\n  - name: a\n    bootstrap_servers: x:1\n" + line.format(secret=secret) + "\n"
    with pytest.raises(ClusterConfigError) as caught:
        parse_clusters_yaml(text, source="BACKBONE_CLUSTERS_FILE c.yml")
    message = str(caught.value)
    assert "not valid YAML" in message and "at line" in message
    assert secret not in message


@pytest.fixture
def secret_daphne(
    secret_clusters: dict[str, str], django_db_setup: Any, kafka_bootstrap: str, redis_url: str
) -> Iterator[tuple[str, Path]]:
    """A real Daphne on the secret clusters file, logging to test-output/daphne-secrets.log."""
    port = free_port()
    OUTPUT.mkdir(exist_ok=True)
    log_path = OUTPUT / "daphne-secrets.log"
    env = _subprocess_env(kafka_bootstrap, redis_url)
    env.update(
        {
            "BACKBONE_CLUSTERS_FILE": secret_clusters["file"],
            SASL_SECRET_ENV: secret_clusters["sasl"],
            "KAFKA_TIMEOUT": "1.5",
            "LOG_LEVEL": "DEBUG",
        }
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "backbone_admin.asgi:application"],
        cwd=BASE_DIR,
        env=env,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, proc=proc, timeout=30)
        yield f"http://127.0.0.1:{port}", log_path
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.django_db(transaction=True)
def test_a_live_server_on_secret_clusters_never_shows_or_logs_them(
    secret_daphne: tuple[str, Path], django_user_model: Any
) -> None:
    url, log_path = secret_daphne
    before = len(SECRET_WATCH.leaks)
    user = django_user_model.objects.create(username=f"s{uuid.uuid4().hex[:8]}")
    assign_role(user, "admin")
    _, key = ApiToken.issue(user)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    answers = {}
    for path in (
        "/api/clusters/",
        "/api/clusters/vault/",
        "/api/clusters/scram/topics/",
        "/api/clusters/vault/retention/compliance/",
        "/healthz",
        "/api/schema/",
    ):
        started = time.monotonic()
        response = session.get(url + path, timeout=10)
        assert time.monotonic() - started < 1.5 + 1 + 1, path  # the cluster timeout + 1 s, + slack for the first call
        answers[path] = response.status_code
        SECRET_WATCH.scan(response.text, f"live response to GET {path}")
    assert answers["/api/clusters/"] == 200 and answers["/api/clusters/vault/"] == 503
    assert answers["/api/clusters/scram/topics/"] == 503
    SECRET_WATCH.scan(log_path.read_text(errors="replace"), log_path.name)
    _no_new_leaks(before)


@pytest.mark.django_db
def test_schema_registry_credentials_never_show_in_clusters_or_registry_errors(
    clusters_file: Any, api_as: Any, client_as: Any, kafka_admin: Any, topic_name: str
) -> None:
    from confluent_kafka.admin import NewTopic

    from streams.events.registry import reset_registries
    from tests.streams.registry_server import RegistryServer

    before = len(SECRET_WATCH.leaks)
    _, registry_secret = SECRET_MARKERS
    server = RegistryServer(username="registry", password="the-right-one").start()
    reset_registries()
    try:
        host = server.url.removeprefix("http://")
        clusters_file(
            "clusters:\n"
            f"  - name: inurl\n    bootstrap_servers: '{{LOCAL}}'\n"
            f"    schema_registry_url: http://registry:{registry_secret}@{host}\n"
            f"  - name: fields\n    bootstrap_servers: '{{LOCAL}}'\n    schema_registry_url: {server.url}\n"
            f"    schema_registry_username: registry\n    schema_registry_password: {registry_secret}\n"
        )
        kafka_admin.create_topics([NewTopic(topic_name, 1, 1)])[topic_name].result(10)
        api = api_as("operator")
        listed = api.get("/api/clusters/")
        assert listed.status_code == 200 and {c["name"] for c in listed.json()} == {"inurl", "fields"}
        assert client_as("operator").get("/clusters/").status_code == 200
        for name in ("inurl", "fields"):
            assert api.get(f"/api/clusters/{name}/").status_code == 200
            produced = api.post(
                f"/api/clusters/{name}/topics/{topic_name}/messages/",
                {"value": "{}", "value_format": "avro", "subject": "orders-value"},
                format="json",
            )
            assert produced.status_code in (400, 503), produced.content  # the registry refused the password
            assert "schema_registry" in produced.json()["error"] or "registry" in produced.json()["error"]
        assert server.requests, "the registry was never asked"
    finally:
        server.stop()
        reset_registries()
        kafka_admin.delete_topics([topic_name])[topic_name].result(10)
    _no_new_leaks(before)
