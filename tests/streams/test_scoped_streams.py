"""Resource-scoped grants on the streams pages, API and sockets (issue 16), on the real broker.

A user granted `scoped-vis-*` (directly, or through a directory-group glob) reads, tails,
produces, replays and exports those topics; every other topic is answered word for word as a
topic that does not exist, on every page and API route (a socket is refused at the handshake,
whether the topic exists or not); a visible topic under a viewer-only grant is a 403 naming
the role needed. Jobs follow their topics: source and target are checked at the start and at
a retry, and a job on a hidden topic is a missing job.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect
from rest_framework.test import APIClient
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from backbone_admin import broadcast
from backbone_admin.access import set_directory_groups
from backbone_admin.models import Grant, Role
from streams.jobs.models import Job
from streams.templatetags.job_tiles import failed_jobs
from tests.conftest import screenshot
from tests.streams.jobs_helpers import create_topic, fill, read_all, wait_for
from topics.listing import topic_index

pytestmark = pytest.mark.django_db(transaction=True)

# A push-less socket is re-checked every WATCH_INTERVAL seconds; allow some scheduling on a busy machine.
CLOSE_WITHIN = broadcast.ViewerConsumer.WATCH_INTERVAL + 4.0


@dataclass(frozen=True)
class Topics:
    visible: str  # matches the user's reader/operator grant
    hidden: str  # exists, matches no grant of the user
    viewonly: str  # matches a viewer-only grant
    missing: str  # matches the reader/operator grant, exists nowhere
    suffix: str


@pytest.fixture
def topics(kafka_admin: AdminClient, kafka_bootstrap: str) -> Topics:
    suffix = uuid.uuid4().hex[:8]
    arranged = Topics(
        visible=f"scoped-vis-{suffix}",
        hidden=f"scoped-hid-{suffix}",
        viewonly=f"scoped-view-{suffix}",
        missing=f"scoped-vis-gone-{suffix}",
        suffix=suffix,
    )
    for name in (arranged.visible, arranged.hidden, arranged.viewonly):
        create_topic(kafka_admin, name, 3)
        fill(kafka_bootstrap, name, 3, 10)
    topic_index("local", refresh=True)  # the lists and suggestions know the new topics
    return arranged


def scoped(make_user: Any, role: str, *, via: str) -> Any:
    """A user with `role` on scoped-vis-* and viewer on scoped-view-* of `local`, through a
    grant naming the user or through a directory group matched by a grant's glob."""
    user = make_user(None)
    if via == "group":
        team = f"team-{uuid.uuid4().hex[:6]}"
        subject: dict[str, str] = {"subject_type": "group", "subject": f"{team}-*"}
        set_directory_groups(user, [f"{team}-orders"], "oidc")
    else:
        subject = {"subject_type": "user", "subject": user.username}
    Grant.objects.create(**subject, role=role, cluster="local", topics=["scoped-vis-*"])
    Grant.objects.create(**subject, role=Role.VIEWER, cluster="local", topics=["scoped-view-*"])
    return user


def page_client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def api_client(user: Any) -> APIClient:
    client = APIClient()
    client.force_login(user)  # the user is loaded per request, as in production: grants changed meanwhile count
    return client


def message_of(response: Any) -> str:
    """The error a page or an API answer says."""
    if response.get("Content-Type", "").startswith("application/json"):
        return str(response.json()["error"])
    return str(response.context["message"])


def assert_as_missing(hidden: Any, missing: Any, t: Topics) -> None:
    """A hidden topic's answer is the missing topic's, names aside."""
    assert missing.status_code == 404, missing.content[:300]
    assert hidden.status_code == 404, hidden.content[:300]
    assert message_of(hidden).replace(t.hidden, "T") == message_of(missing).replace(t.missing, "T")
    assert message_of(hidden) == f"topic `{t.hidden}` does not exist on cluster `local`"


@pytest.fixture(params=["user", "group"])
def via(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# --- a visible topic works -----------------------------------------------------------------------


def test_a_scoped_reader_browses_searches_and_opens_events_of_a_visible_topic(
    topics: Topics, make_user: Any, via: str
) -> None:
    user = scoped(make_user, Role.READER, via=via)
    client, api = page_client(user), api_client(user)
    base = f"/clusters/local/topics/{topics.visible}"
    page = client.get(f"{base}/messages/")
    assert page.status_code == 200 and len(page.context["rows"]) == 30
    searched = client.get(f"{base}/messages/?q=key-1-3&sync=1")
    assert searched.status_code == 200 and [r["key"] for r in searched.context["rows"]] == ["key-1-3"]
    body = api.get(f"/api{base}/messages/?limit=50").json()
    assert len(body["results"]) == 30 and {e["topic"] for e in body["results"]} == {topics.visible}
    event = client.get(f"{base}/messages/event/?partition=2&offset=4")
    assert event.status_code == 200 and event.context["event"]["key"] == "key-2-4"
    # A reader is offered neither produce nor replay on it.
    assert event.context["copy_url"] is None and event.context["replay_url"] is None
    download = client.get(f"{base}/messages/event/download/?partition=2&offset=4&part=key")
    assert download.status_code == 200 and download.content == b"key-2-4"
    assert client.get(f"{base}/tail/").status_code == 200


def test_the_key_timeline_reads_and_suggests_only_visible_topics(topics: Topics, make_user: Any, via: str) -> None:
    user = scoped(make_user, Role.READER, via=via)
    names = [topics.visible, topics.hidden, topics.viewonly, topics.missing]
    query = "&".join(f"topic={quote(n)}" for n in names)
    response = page_client(user).get(f"/clusters/local/key-timeline/?key=key-0-3&all_partitions=1&{query}")
    assert response.status_code == 200
    ctx = response.context
    assert {row["topic"] for row in ctx["rows"]} == {topics.visible} and len(ctx["rows"]) == 1
    reports = {r["topic"]: r for r in ctx["topic_reports"]}
    assert reports[topics.visible]["found"] == 1 and reports[topics.visible]["error"] is None
    # The hidden topic's line says what the missing topic's says; the viewer-only one names the role.
    assert reports[topics.hidden]["error"].replace(topics.hidden, "T") == reports[topics.missing]["error"].replace(
        topics.missing, "T"
    )
    assert reports[topics.hidden]["found"] == 0 and reports[topics.hidden]["scan"] is None
    assert "reader role" in reports[topics.viewonly]["error"]
    suggestions = set(ctx["suggestions"])
    assert topics.visible in suggestions
    assert not suggestions & {topics.hidden, topics.viewonly}
    assert all(n.startswith("scoped-vis-") for n in suggestions)


def test_a_scoped_operator_produces_to_a_visible_topic(topics: Topics, make_user: Any, via: str) -> None:
    user = scoped(make_user, Role.OPERATOR, via=via)
    api = api_client(user)
    produced = api.post(
        f"/api/clusters/local/topics/{topics.visible}/messages/", {"key": "k", "value": "v"}, format="json"
    )
    assert produced.status_code == 201, produced.content
    page = page_client(user).post(
        f"/clusters/local/topics/{topics.visible}/produce/", {"key": "k2", "value": "v2", "value_format": "text"}
    )
    assert page.status_code == 200 and page.context["produced"] is not None
    # A scoped reader is refused, naming the role needed (the topic is visible to them).
    reader = api_client(scoped(make_user, Role.READER, via=via))
    refused = reader.post(f"/api/clusters/local/topics/{topics.visible}/messages/", {"value": "x"}, format="json")
    assert refused.status_code == 403 and "needs the operator role on topic" in refused.json()["error"]


# --- a hidden topic is a missing topic everywhere --------------------------------------------------

READ_ROUTES = [
    "/clusters/local/topics/{t}/messages/",
    "/clusters/local/topics/{t}/messages/?q=key&sync=1",
    "/clusters/local/topics/{t}/messages/?key=key-0-1",
    "/clusters/local/topics/{t}/messages/event/?partition=0&offset=1",
    "/clusters/local/topics/{t}/messages/event/download/?partition=0&offset=1",
    "/clusters/local/topics/{t}/tail/",
    "/api/clusters/local/topics/{t}/messages/",
    "/api/clusters/local/topics/{t}/messages/?q=key&limit=5",
]
OPERATE_ROUTES = [
    ("get", "/clusters/local/topics/{t}/produce/", None),
    ("post", "/clusters/local/topics/{t}/produce/", {"key": "k", "value": "v", "value_format": "text"}),
    ("get", "/clusters/local/topics/{t}/replay/", None),
    ("get", "/clusters/local/topics/{t}/export/", None),
    ("post", "/clusters/local/topics/{t}/export/", {"range": "all", "format": "jsonl"}),
    ("api", "/api/clusters/local/topics/{t}/messages/", {"key": "k", "value": "v"}),
]


def test_every_read_route_answers_a_hidden_topic_as_a_missing_one(topics: Topics, make_user: Any, via: str) -> None:
    user = scoped(make_user, Role.READER, via=via)
    client = page_client(user)
    for route in READ_ROUTES:
        hidden = client.get(route.format(t=topics.hidden))
        missing = client.get(route.format(t=topics.missing))
        assert_as_missing(hidden, missing, topics)


def test_every_operator_route_answers_a_hidden_topic_as_a_missing_one(topics: Topics, make_user: Any, via: str) -> None:
    user = scoped(make_user, Role.OPERATOR, via=via)
    client, api = page_client(user), api_client(user)
    for method, route, data in OPERATE_ROUTES:
        answers: list[Any] = []
        for name in (topics.hidden, topics.missing):
            path = route.format(t=name)
            if method == "api":
                answers.append(api.post(path, data, format="json"))
            elif method == "post":
                answers.append(client.post(path, data))
            else:
                answers.append(client.get(path))
        assert_as_missing(answers[0], answers[1], topics)
    assert Job.objects.count() == 0


def test_a_viewer_only_grant_gets_a_403_naming_the_reader_role(topics: Topics, make_user: Any, via: str) -> None:
    client = page_client(scoped(make_user, Role.READER, via=via))
    for route in READ_ROUTES:
        response = client.get(route.format(t=topics.viewonly))
        assert response.status_code == 403, route
        assert "reader role" in message_of(response), route


# --- websockets -----------------------------------------------------------------------------------


def _cookie(user: Any) -> str:
    return f"sessionid={page_client(user).cookies['sessionid'].value}"


def _ws(live_url: str, user: Any, path: str) -> ClientConnection:
    headers = {"Cookie": _cookie(user), "Origin": live_url}
    return connect(live_url.replace("http://", "ws://") + path, additional_headers=headers, open_timeout=10)


def _tail_refusal(live_url: str, user: Any, topic: str) -> tuple[dict[str, Any], int]:
    with _ws(live_url, user, f"/ws/clusters/local/topics/{topic}/tail/") as ws:
        first = json.loads(ws.recv(timeout=15))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=15)
    assert closed.value.rcvd is not None
    return first, closed.value.rcvd.code


def _search_answer(live_url: str, user: Any, topic: str) -> list[dict[str, Any]]:
    with _ws(live_url, user, f"/ws/clusters/local/topics/{topic}/search/") as ws:
        ws.send(json.dumps({"action": "search", "params": {"q": "key", "limit": "5"}}))
        messages: list[dict[str, Any]] = []
        while not messages or messages[-1]["type"] not in ("done", "error"):
            messages.append(json.loads(ws.recv(timeout=30)))
    return messages


def _handshake_refusal(live_url: str, user: Any, path: str) -> tuple[int, bytes]:
    with pytest.raises(InvalidStatus) as refused:
        _ws(live_url, user, path)
    return refused.value.response.status_code, bytes(refused.value.response.body or b"")


def test_the_sockets_refuse_a_hidden_topic_whether_it_exists_or_not(
    live_url: str, topics: Topics, make_user: Any, via: str
) -> None:
    # The sockets refuse a topic the user may not see before the handshake completes (the
    # authorization matrix's "refused"): the same answer for a hidden topic that exists, one that
    # does not and one seen without the reader role, so the refusal confirms no topic.
    user = scoped(make_user, Role.READER, via=via)
    for kind in ("tail", "search"):
        answers = {
            name: _handshake_refusal(live_url, user, f"/ws/clusters/local/topics/{name}/{kind}/")
            for name in (topics.hidden, f"scoped-hid-nowhere-{topics.suffix}", topics.viewonly)
        }
        assert set(answers.values()) == {answers[topics.hidden]}, answers
        assert answers[topics.hidden][0] == 403
        assert topics.hidden.encode() not in answers[topics.hidden][1]
    # A visible topic streams; a missing one the user could see is said on the open socket (4404),
    # as for anyone with a role on every topic.
    visible_search = _search_answer(live_url, user, topics.visible)
    assert visible_search[-1]["type"] == "done" and visible_search[-1]["found"] == 5
    missing, code = _tail_refusal(live_url, user, topics.missing)
    assert code == 4404 and missing["error"] == f"topic `{topics.missing}` does not exist on cluster `local`"
    missing_search = _search_answer(live_url, user, topics.missing)
    assert [m["type"] for m in missing_search] == ["started", "error"]


def _closed_within(ws: ClientConnection, deadline: float) -> int:
    """The close code the server sends before `deadline` (monotonic), reading past any pushes."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            ws.recv(timeout=max(0.1, deadline - time.monotonic()))
    assert time.monotonic() < deadline
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


def test_open_sockets_close_once_the_grant_is_gone(live_url: str, topics: Topics, make_user: Any, via: str) -> None:
    user = scoped(make_user, Role.READER, via=via)
    bystander = scoped(make_user, Role.READER, via="user")
    job = _job(user, topics.visible)
    with (
        _ws(live_url, user, f"/ws/clusters/local/topics/{topics.visible}/tail/") as tail,
        _ws(live_url, user, f"/ws/clusters/local/topics/{topics.visible}/search/") as search,
        _ws(live_url, user, f"/ws/jobs/{job.pk}/") as progress,
        _ws(live_url, bystander, f"/ws/clusters/local/topics/{topics.visible}/tail/") as other,
    ):
        assert json.loads(tail.recv(timeout=15))["status"] == "live"
        assert json.loads(other.recv(timeout=15))["status"] == "live"
        assert json.loads(progress.recv(timeout=15))["job"]["id"] == job.pk
        if via == "group":
            set_directory_groups(user, [], "oidc")  # left the group at the identity provider
        else:
            Grant.objects.filter(subject=user.username).delete()
        # Nothing is produced and the job is finished: the tail and the job's socket close on the
        # periodic re-check, not on a push.
        deadline = time.monotonic() + CLOSE_WITHIN
        for ws in (tail, progress):
            assert _closed_within(ws, deadline) == broadcast.CLOSE_ACCESS_GONE
        # An idle search socket is sent nothing; the next search it asks for re-checks and closes it.
        search.send(json.dumps({"action": "search", "params": {}}))
        assert _closed_within(search, time.monotonic() + 10) == broadcast.CLOSE_ACCESS_GONE
        # Someone whose grant holds keeps the tail open past the re-check.
        with pytest.raises(TimeoutError):
            other.recv(timeout=broadcast.ViewerConsumer.WATCH_INTERVAL + 1)


# --- jobs -----------------------------------------------------------------------------------------


def _replay(source: str, target: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "replay", "cluster": "local", "topic": source, "target_topic": target, **extra}


def test_replays_and_exports_check_the_source_and_the_target(
    topics: Topics, make_user: Any, kafka_admin: AdminClient, via: str
) -> None:
    api = api_client(scoped(make_user, Role.OPERATOR, via=via))
    # Into a hidden target: the missing-topic 404, whether it exists or not, and no job, no topic.
    created_hidden = f"scoped-hid-new-{topics.suffix}"
    for target, extra in ((topics.hidden, {}), (created_hidden, {"create_target": True})):
        refused = api.post("/api/jobs/", _replay(topics.visible, target, **extra), format="json")
        assert refused.status_code == 404, refused.content
        assert refused.json()["error"] == f"topic `{target}` does not exist on cluster `local`"
    dry = api.post("/api/jobs/", _replay(topics.visible, topics.hidden, dry_run=True), format="json")
    assert dry.status_code == 404
    # From a hidden source, and an export of one: the same.
    for body in (
        _replay(topics.hidden, f"scoped-vis-copy-{topics.suffix}", create_target=True),
        {"kind": "export", "cluster": "local", "topic": topics.hidden, "format": "jsonl"},
    ):
        refused = api.post("/api/jobs/", body, format="json")
        assert refused.status_code == 404
        assert refused.json()["error"] == f"topic `{topics.hidden}` does not exist on cluster `local`"
    # A viewer-only target is a 403 naming the role.
    viewonly = api.post("/api/jobs/", _replay(topics.visible, topics.viewonly), format="json")
    assert viewonly.status_code == 403 and "operator role on topic" in viewonly.json()["error"]
    assert Job.objects.count() == 0
    assert created_hidden not in kafka_admin.list_topics(timeout=10).topics


def test_a_scoped_operator_replays_and_exports_a_visible_topic(
    celery_worker: Any, topics: Topics, make_user: Any, kafka_admin: AdminClient, kafka_bootstrap: str
) -> None:
    user = scoped(make_user, Role.OPERATOR, via="group")
    api = api_client(user)
    # Creating a topic is a cluster-wide action (topics app): a scoped operator replays into an existing one.
    created = f"scoped-vis-new-{topics.suffix}"
    refused = api.post("/api/jobs/", _replay(topics.visible, created, create_target=True), format="json")
    assert refused.status_code == 403 and "operator role on cluster `local`" in refused.json()["error"]
    assert not Job.objects.exists() and created not in kafka_admin.list_topics(timeout=10).topics
    target = f"scoped-vis-copy-{topics.suffix}"
    create_topic(kafka_admin, target, 3)
    replay = api.post("/api/jobs/", _replay(topics.visible, target), format="json")
    export = api.post(
        "/api/jobs/", {"kind": "export", "cluster": "local", "topic": topics.visible, "format": "jsonl"}, format="json"
    )
    assert replay.status_code == 201 and export.status_code == 201, (replay.content, export.content)
    assert wait_for(replay.json()["id"]).status == Job.Status.SUCCEEDED
    assert wait_for(export.json()["id"]).status == Job.Status.SUCCEEDED
    assert len(read_all(kafka_bootstrap, target, 3)) == 30
    download = api.get(f"/api/jobs/{export.json()['id']}/download/")
    assert download.status_code == 200
    lines = b"".join(download.streaming_content).splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 30
    listed = {j["id"] for j in api.get("/api/jobs/").json()["results"]}
    assert {replay.json()["id"], export.json()["id"]} <= listed


def _job(user: Any, topic: str, *, target: str | None = None, status: str = Job.Status.FAILED) -> Job:
    params: dict[str, Any] = {"start": "earliest", "end": "latest", "partitions": None, "filter": ""}
    if target is not None:
        params.update(target_cluster="local", target_topic=target, rate_limit=None, partition_mapping="same")
    kind = Job.Kind.REPLAY if target is not None else Job.Kind.EXPORT
    return Job.objects.create(
        kind=kind,
        cluster="local",
        topic=topic,
        params=params,
        created_by=user,
        status=status,
        finished_at=timezone.now(),
    )


def test_jobs_on_hidden_topics_are_missing_jobs_on_every_route(
    live_url: str, topics: Topics, make_user: Any, via: str
) -> None:
    user = scoped(make_user, Role.OPERATOR, via=via)
    admin = make_user(Role.ADMIN)
    visible = _job(admin, topics.visible)
    on_hidden = _job(admin, topics.hidden)
    into_hidden = _job(user, topics.visible, target=topics.hidden)  # the user's own, its target now hidden
    nowhere = Job.objects.order_by("-pk").first().pk + 1000  # type: ignore[union-attr]
    api, client = api_client(user), page_client(user)
    listed = {j["id"] for j in api.get("/api/jobs/").json()["results"]}
    assert listed == {visible.pk}
    assert [j["id"] for j in client.get("/jobs/").context["jobs"]] == [visible.pk]
    for job in (on_hidden, into_hidden):
        for path in ("/api/jobs/{}/", "/api/jobs/{}/download/", "/jobs/{}/"):
            hidden, missing = client.get(path.format(job.pk)), client.get(path.format(nowhere))
            assert hidden.status_code == missing.status_code == 404, path
            assert message_of(hidden).replace(str(job.pk), "N") == message_of(missing).replace(str(nowhere), "N")
        for path in ("/api/jobs/{}/retry/", "/api/jobs/{}/cancel/", "/jobs/{}/retry/"):
            assert client.post(path.format(job.pk)).status_code == 404, path
        for job_id in (job.pk, nowhere):
            with pytest.raises(InvalidStatus) as refused:
                _ws(live_url, user, f"/ws/jobs/{job_id}/")
            assert refused.value.response.status_code == 403
    with _ws(live_url, user, f"/ws/jobs/{visible.pk}/") as ws:
        assert json.loads(ws.recv(timeout=15))["job"]["id"] == visible.pk
    # The overview's failed-jobs tile counts only the jobs the user sees.
    assert failed_jobs({"request": SimpleNamespace(user=user)}, "local").count == 1
    assert failed_jobs({"request": SimpleNamespace(user=admin)}, "local").count == 3
    assert Job.objects.filter(status=Job.Status.FAILED).count() == 3  # nothing retried


def test_a_retry_checks_the_source_and_the_target_again(topics: Topics, make_user: Any) -> None:
    user = scoped(make_user, Role.OPERATOR, via="user")
    api = api_client(user)
    target = f"scoped-vis-copy-{topics.suffix}"
    replay = _job(user, topics.visible, target=target)
    export = _job(user, topics.visible)
    # The grant shrinks to the source alone: the replay's target is hidden, the replay a missing job.
    Grant.objects.filter(subject=user.username, role=Role.OPERATOR).update(topics=[topics.visible])
    refused = api.post(f"/api/jobs/{replay.pk}/retry/")
    assert refused.status_code == 404 and refused.json()["error"] == f"there is no job {replay.pk}"
    # Down to reader on the source: a 403 naming the operator role.
    Grant.objects.filter(subject=user.username, role=Role.OPERATOR).update(role=Role.READER)
    refused = api.post(f"/api/jobs/{export.pk}/retry/")
    assert refused.status_code == 403 and "needs the operator role on topic" in refused.json()["error"]
    # Grant removed: the job is missing.
    Grant.objects.filter(subject=user.username).delete()
    refused = api.post(f"/api/jobs/{export.pk}/retry/")
    assert refused.status_code == 404 and refused.json()["error"] == f"there is no job {export.pk}"
    assert set(Job.objects.values_list("status", flat=True)) == {Job.Status.FAILED}


def test_a_retry_within_the_grant_runs_again(topics: Topics, make_user: Any) -> None:
    user = scoped(make_user, Role.OPERATOR, via="group")
    export = _job(user, topics.visible)
    retried = api_client(user).post(f"/api/jobs/{export.pk}/retry/")
    assert retried.status_code == 200, retried.content
    export.refresh_from_db()
    assert export.status in (Job.Status.QUEUED, Job.Status.RUNNING, *Job.FINISHED)


# --- in the browser -------------------------------------------------------------------------------


@pytest.mark.browser
def test_in_the_browser_a_scoped_reader_tails_browses_and_follows_a_key_on_visible_topics_only(
    live_url: str, page: Any, topics: Topics, make_user: Any
) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "404" not in m.text else None)
    user = scoped(make_user, Role.READER, via="group")
    host = live_url.split("//", 1)[1].split(":", 1)[0]
    page.context.add_cookies(
        [{"name": "sessionid", "value": _cookie(user).split("=", 1)[1], "domain": host, "path": "/"}]
    )
    for width, height in ((1280, 800), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{live_url}/clusters/local/topics/{topics.visible}/tail/")
        expect(page.locator("#tail-state")).to_have_text("live", timeout=15_000)
        screenshot(page, f"scoped-tail-{width}")
        page.goto(f"{live_url}/clusters/local/topics/{topics.visible}/messages/")
        expect(page.locator("table.events tbody tr")).to_have_count(30)
        screenshot(page, f"scoped-messages-{width}")
        query = f"key=key-0-3&all_partitions=1&topic={topics.visible}&topic={topics.hidden}"
        page.goto(f"{live_url}/clusters/local/key-timeline/?{query}")
        expect(page.locator("table.timeline-events tbody tr")).to_have_count(1)
        hidden_row = page.locator(f'table.timeline-topics tr[data-topic="{topics.hidden}"]')
        expect(hidden_row).to_contain_text(f"topic {topics.hidden} does not exist on cluster local")
        options = page.locator("#topic-names option").evaluate_all("els => els.map(e => e.value)")
        assert topics.visible in options and topics.hidden not in options
        screenshot(page, f"scoped-key-timeline-{width}")
        response = page.goto(f"{live_url}/clusters/local/topics/{topics.hidden}/messages/")
        assert response is not None and response.status == 404
        expect(page.locator("body")).to_contain_text("does not exist on cluster")
        screenshot(page, f"scoped-hidden-404-{width}")
    assert [e for e in errors if "Content Security Policy" in e or "TypeError" in e or "ReferenceError" in e] == []


def test_a_start_at_a_hidden_groups_offsets_is_refused_as_a_missing_group(
    topics: Topics, make_user: Any, kafka_admin: AdminClient
) -> None:
    hidden_group, visible_group = f"g-scoped-hid-{topics.suffix}", f"g-scoped-vis-{topics.suffix}"
    for group, topic in ((hidden_group, topics.hidden), (visible_group, topics.visible)):
        offsets = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0, 5)])
        kafka_admin.alter_consumer_group_offsets([offsets])[group].result(10)
    api = api_client(scoped(make_user, Role.OPERATOR, via="user"))

    def export_from(group: str) -> Any:
        body = {"kind": "export", "cluster": "local", "topic": topics.visible, "format": "jsonl"}
        return api.post("/api/jobs/", {**body, "start": {"group": group}, "dry_run": True}, format="json")

    hidden, missing = export_from(hidden_group), export_from(f"g-scoped-nowhere-{topics.suffix}")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"] == f"consumer group `{hidden_group}` does not exist on cluster `local`"
    assert json.dumps(hidden.json()).replace(hidden_group, "G") == json.dumps(missing.json()).replace(
        f"g-scoped-nowhere-{topics.suffix}", "G"
    )
    # A group that reads a visible topic is visible: its offsets start the range.
    seen = export_from(visible_group)
    assert seen.status_code == 200, seen.content
    assert seen.json()["ranges"]["0"]["start"] == 5
