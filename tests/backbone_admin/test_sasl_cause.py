"""A real SASL listener that rejects the console's credentials: the 503 names the cause.

The test broker (Tansu) started with `--authentication` requires SASL (SCRAM) from every
client; the console's user does not exist there, so the broker rejects the authentication
exactly as Kafka rejects a wrong API key, and librdkafka reports it only through `error_cb`
while the request itself times out as a transport failure.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from backbone_admin.embedded import broker_command, free_port, wait_for_port
from backbone_admin.kafka import ClusterUnavailable
from backbone_admin.kafka.groups import list_groups

SECRET = "api-key-s3cr3t-9f2b"


@pytest.fixture
def sasl_broker(tmp_path: Path) -> Iterator[int]:
    port = free_port()
    log = (tmp_path / "tansu-sasl.log").open("wb")
    proc = subprocess.Popen([*broker_command(port), "--authentication"], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc=proc)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_rejected_sasl_credentials_are_named_and_the_secret_never_shown(
    sasl_broker: int, clusters_file: Callable[[str], Path], settings: Any, client_as: Callable[..., Any]
) -> None:
    settings.KAFKA_TIMEOUT = 3
    clusters_file(
        "clusters:\n  - name: local\n    bootstrap_servers: {LOCAL}\n"
        f"  - name: events\n    bootstrap_servers: 127.0.0.1:{sasl_broker}\n"
        "    security_protocol: SASL_PLAINTEXT\n    sasl_mechanism: SCRAM-SHA-512\n"
        f"    sasl_username: token\n    sasl_password: {SECRET}\n"
    )
    api = client_as("viewer")
    started = time.monotonic()
    response = api.get("/api/clusters/events/topics/")
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    error = response.json()["error"]
    assert f"cluster `events` at 127.0.0.1:{sasl_broker}: authentication failed (SASL SCRAM-SHA-512, user `token`)" in (
        error
    )
    assert elapsed < settings.KAFKA_TIMEOUT + 1.5
    # Pages show names as <code> where the API's text has backticks.
    causes = (
        b"authentication failed (SASL SCRAM-SHA-512, user `token`)",
        b"authentication failed (SASL SCRAM-SHA-512, user <code>token</code>)",
    )
    # The cluster's overview answers, its health saying why; its topic list has nothing to show.
    overview = api.get("/clusters/events/")
    assert overview.status_code == 200 and any(cause in overview.content for cause in causes)
    page = api.get("/clusters/events/topics/")
    assert page.status_code == 503 and any(cause in page.content for cause in causes)
    # Coordinator-bound requests run in the isolated child: it names the same cause.
    with pytest.raises(ClusterUnavailable, match=r"authentication failed \(SASL SCRAM-SHA-512, user `token`\)"):
        list_groups("events")
    for body in (response.content, overview.content, page.content):
        assert SECRET.encode() not in body
    # The other cluster is unaffected.
    assert api.get("/api/clusters/local/").status_code == 200
