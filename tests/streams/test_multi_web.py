"""One browser's requests on different web processes (issue 17): `make run` starts two Daphnes.

Two real Daphne processes on the same Redis and database, one session used on both:
- a search's next page, asked of the other process, continues exactly where the first page ended;
- a job is followed on both processes' progress sockets to its end: the worker's reports reach
  every process through Redis, and both end on the job's final state as the database holds it;
- tails of one topic opened on both processes each get every event written.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from django.test import Client, override_settings
from websockets.sync.client import ClientConnection, connect

from backbone_admin.models import Role
from streams.jobs.models import Job
from streams.jobs.progress import job_payload
from tests.conftest import _subprocess_env, daphne_server, independent_client_config
from tests.streams import jobs_helpers
from tests.streams.browse_helpers import Seen, create_topic, json_events, merged, produce, read_all
from tests.streams.test_tail_websocket import Tail, pump_until, tail_url, warm_up

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def two_webs(django_db_setup: Any, django_db_blocker: Any, kafka_bootstrap: str, redis_url: str) -> Iterator[list[str]]:
    """Two Daphne processes serving the console on the same database and Redis, as `make run` starts them."""
    env = _subprocess_env(kafka_bootstrap, redis_url)
    with daphne_server(env, "daphne-multi-a.log") as (a, _), daphne_server(env, "daphne-multi-b.log") as (b, _):
        yield [a, b]


def _cookie(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def _socket(base: str, path: str, cookie: str) -> ClientConnection:
    url = base.replace("http://", "ws://") + path
    return connect(url, additional_headers={"Cookie": cookie, "Origin": base}, open_timeout=10)


def _search(base: str, topic: str, cookie: str, params: dict[str, str]) -> dict[str, Any]:
    """One search over the page's socket on this process: its `done` message."""
    with _socket(base, f"/ws/clusters/local/topics/{topic}/search/", cookie) as ws:
        ws.send(json.dumps({"action": "search", "params": params}))
        while True:
            message = json.loads(ws.recv(timeout=30))
            if message["type"] in ("done", "error"):
                assert message["type"] == "done", message
                return message


def test_a_search_continues_on_the_other_web_process(
    two_webs: list[str], kafka_admin: AdminClient, kafka_bootstrap: str, make_user: Any
) -> None:
    topic = create_topic(kafka_admin, f"t-multi-web-{uuid.uuid4().hex[:8]}", 3)
    produce(kafka_bootstrap, topic, json_events(60, 3, base_ts=int(time.time() * 1000) - 600_000))
    seen: list[Seen] = read_all(kafka_bootstrap, topic, [0, 1, 2])
    wanted = merged([s for s in seen if json.loads(s.value or b"{}")["status"] == "DELAYED"], newest_first=True)
    assert len(wanted) > 8
    cookie = _cookie(make_user("reader"))
    a, b = two_webs
    params = {"q": 'status == "DELAYED"', "limit": "4"}
    first = _search(a, topic, cookie, params)
    assert first["order"] == [f"{p}:{o}" for p, o in wanted[:4]]
    cursor = first["pager_html"].split("cursor=", 1)[1].split('"', 1)[0]
    second = _search(b, topic, cookie, {**params, "cursor": cursor})
    assert second["order"] == [f"{p}:{o}" for p, o in wanted[4:8]]


def test_job_progress_reaches_every_web_process(
    two_webs: list[str], kafka_admin: AdminClient, kafka_bootstrap: str, redis_url: str, api_as: Any, make_user: Any
) -> None:
    source = f"t-multi-web-job-{uuid.uuid4().hex[:8]}"
    jobs_helpers.create_topic(kafka_admin, source, 2)
    jobs_helpers.create_topic(kafka_admin, f"{source}-copy", 2)
    jobs_helpers.fill(kafka_bootstrap, source, 2, 300)
    queue = f"jobs-multi-web-{uuid.uuid4().hex[:6]}"
    with override_settings(JOBS_QUEUE=queue), jobs_helpers.own_worker(kafka_bootstrap, redis_url, queue, "multi-web"):
        body = {
            "kind": "replay",
            "cluster": "local",
            "topic": source,
            "target_topic": f"{source}-copy",
            "rate_limit": 200,
        }
        response = api_as(Role.OPERATOR).post("/api/jobs/", body, format="json")
        assert response.status_code == 201, response.content
        job_id = response.json()["id"]
        cookie = _cookie(make_user(Role.ADMIN))
        sockets = [_socket(base, f"/ws/jobs/{job_id}/", cookie) for base in two_webs]
        last: list[dict[str, Any]] = [{}, {}]
        pushes = [0, 0]
        try:
            deadline = time.monotonic() + 90
            while not all(p.get("status") in Job.FINISHED for p in last):
                assert time.monotonic() < deadline, f"not finished on both: {[p.get('status') for p in last]}"
                for i, ws in enumerate(sockets):
                    try:
                        message = json.loads(ws.recv(timeout=0.1))
                    except TimeoutError:
                        continue
                    last[i] = message["job"]
                    pushes[i] += 1
        finally:
            for ws in sockets:
                ws.close()
    job = Job.objects.get(pk=job_id)
    assert job.status == Job.Status.SUCCEEDED, job.error
    # The first message is the state at connect time; the rest came from the worker through Redis.
    assert all(n >= 2 for n in pushes), pushes
    final = job_payload(job)
    for payload in last:
        assert payload["status"] == final["status"]
        assert payload["progress"] == final["progress"]


def test_tails_on_both_web_processes_get_every_event(
    two_webs: list[str], kafka_admin: AdminClient, kafka_bootstrap: str, make_user: Any
) -> None:
    topic = create_topic(kafka_admin, f"t-multi-web-tail-{uuid.uuid4().hex[:8]}", 3)
    user = make_user("reader")
    cookie = _cookie(user)
    # Not test_tail_websocket's open_tail: it notes the server for that module's clean-up, and these stop first.
    tails = [
        Tail(connect(tail_url(base, topic), additional_headers={"Cookie": cookie, "Origin": base}, open_timeout=10))
        for base in two_webs
    ]
    try:
        producer = Producer(independent_client_config(kafka_bootstrap, **{"linger.ms": 0}))
        warm_up(producer, topic, tails)  # each process's consumer of the topic reads past where it began
        values = [f"multi-{n}" for n in range(30)]
        for value in values:
            producer.produce(topic, value=value.encode())
        assert producer.flush(10) == 0
        pump_until(tails, lambda: all(len(t.events) >= len(values) for t in tails), timeout=30)
        for t in tails:
            assert sorted(t.values()) == sorted(values)
    finally:
        for t in tails:
            t.ws.close()
