"""Live tails cannot be hoarded and always say why they close (issue 14 point 12): a user has at
most TAIL_MAX_PER_USER tails open per web process (one more is closed with 4429 and the reason),
and a tail on a cluster that does not answer is accepted at once, then closed with 4503 naming
the cluster, instead of a handshake Daphne drops after 5 s.

Through a real Daphne of this module's own: cluster `local` on the test broker, cluster `down`
where nothing listens, a cluster timeout longer than Daphne's 5 s handshake timeout, and a cap
of two tails per user.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from backbone_admin.embedded import free_port
from tests.conftest import _subprocess_env, daphne_server
from tests.streams.test_tail_websocket import (
    USED_SERVERS,
    Tail,
    _closed_with,
    no_tail_of,
    open_tail,
    pump_until,
    server_pid,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)

CAP = 2
TIMEOUT = 6.0  # longer than Daphne's handshake timeout (5 s)


@pytest.fixture(scope="module")
def server(
    django_db_setup: Any, kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    path = tmp_path_factory.mktemp("tail-limits") / "clusters.yml"
    path.write_text(
        f"clusters:\n  - name: local\n    bootstrap_servers: '{kafka_bootstrap}'\n"
        f"  - name: down\n    bootstrap_servers: '127.0.0.1:{free_port()}'\n"
    )
    env = {
        **_subprocess_env(kafka_bootstrap, redis_url),
        "BACKBONE_CLUSTERS_FILE": str(path),
        "KAFKA_TIMEOUT": str(TIMEOUT),
        "TAIL_MAX_PER_USER": str(CAP),
    }
    with daphne_server(env, "daphne-tail-limits.log") as (url, _):
        yield url


@pytest.fixture
def topic(server: str, kafka_admin: AdminClient, make_user: Any) -> Iterator[str]:
    name = f"tail-cap-{uuid.uuid4().hex[:8]}"
    kafka_admin.create_topics([NewTopic(name, 1, 1)])[name].result(10)
    yield name
    # The test broker crashes a consumer fetching a deleted topic: the server's tails close first.
    wait_for(no_tail_of(server, make_user("admin"), name), timeout=15)
    kafka_admin.delete_topics([name])[name].result(10)


def _live(tail: Tail) -> None:
    pump_until([tail], lambda: any(s["status"] == "live" for s in tail.statuses), timeout=15)


def test_a_tail_on_an_unreachable_cluster_is_accepted_then_closed_with_4503_and_the_reason(
    server: str, make_user: Any
) -> None:
    started = time.monotonic()
    tail = open_tail(server, make_user("reader"), "orders", cluster="down")  # fails if the handshake is dropped
    opened = time.monotonic() - started
    code, errors = _closed_with(tail)
    closed = time.monotonic() - started
    assert opened < 2, f"the handshake took {opened:.1f} s"
    assert code == 4503
    assert errors[0]["code"] == 4503
    assert "cluster `down` unreachable" in errors[0]["error"]
    assert closed < TIMEOUT + 2


def test_a_user_has_at_most_the_cap_of_live_tails_and_is_told_so(server: str, make_user: Any, topic: str) -> None:
    pid = server_pid(server)
    user, other = make_user("reader"), make_user("reader")
    first, second = open_tail(server, user, topic), open_tail(server, user, topic)
    with first.ws, second.ws:
        _live(first)
        _live(second)
        code, errors = _closed_with(open_tail(server, user, topic))
        assert code == 4429
        assert errors[0]["error"] == (
            f"you have {CAP} live tails open on this server, at most {CAP} per user: "
            "close one (another tab or window) to open this one"
        )
        # Another user is not affected.
        third = open_tail(server, other, topic)
        with third.ws:
            _live(third)
        # Refused sockets do not count: closing one tail makes room for exactly one.
        first.ws.close()
        again = open_tail(server, user, topic)
        with again.ws:
            _live(again)
            code, _ = _closed_with(open_tail(server, user, topic))
            assert code == 4429
    assert server_pid(server) == pid
    USED_SERVERS.discard(server)  # this module's topic fixture waits for its own server
