"""Resource-scoped grants on the topics area (issue 16): a user granted `scoped-vis-<id>-*` sees
exactly those topics in every list, count and figure; a hidden topic answers every per-topic
route as a missing one; a visible topic without the role is a 403 naming the role."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient
from websockets.sync.client import connect

from backbone_admin import access
from backbone_admin.health import check_cluster
from backbone_admin.models import Grant
from tests.conftest import screenshot
from topics import listing
from topics.groups.models import LagSample
from topics.models import RetentionPolicy, clean_policy
from topics.retention.apply import drift_refresh

pytestmark = pytest.mark.django_db


@dataclass
class Scope:
    uid: str
    visible: dict[str, int]  # name -> partitions
    hidden: dict[str, int]

    @property
    def pattern(self) -> str:
        return f"scoped-vis-{self.uid}-*"

    @property
    def missing(self) -> str:
        return f"scoped-hid-{self.uid}-nowhere"

    @property
    def any_hidden(self) -> str:
        return next(iter(self.hidden))

    @property
    def any_visible(self) -> str:
        return next(iter(self.visible))


def _create(admin: AdminClient, topics: dict[str, int]) -> None:
    futures = admin.create_topics([NewTopic(n, num_partitions=p, replication_factor=1) for n, p in topics.items()])
    for future in futures.values():
        future.result(timeout=10)


@pytest.fixture
def scope(kafka_admin: AdminClient) -> Iterator[Scope]:
    uid = uuid.uuid4().hex[:8]
    result = Scope(
        uid=uid,
        visible={f"scoped-vis-{uid}-a": 1, f"scoped-vis-{uid}-b": 2, f"scoped-vis-{uid}-c": 3},
        hidden={f"scoped-hid-{uid}-x": 4, f"scoped-hid-{uid}-y": 1},
    )
    _create(kafka_admin, result.visible | result.hidden)
    # The topics were made behind the console's back: forget what it cached of the cluster.
    listing.invalidate("local")
    check_cluster("local")
    yield result
    futures = kafka_admin.delete_topics(list(result.visible | result.hidden))
    for future in futures.values():
        future.result(timeout=10)
    listing.invalidate("local")


def _scoped_user(make_user: Callable[..., Any], scope: Scope, how: str, role: str = "reader") -> Any:
    """A user whose only access is `role` on the visible topics, granted to them or to their directory group."""
    user = make_user()
    if how == "user":
        Grant.objects.create(
            subject_type="user", subject=user.username, role=role, cluster="local", topics=[scope.pattern]
        )
    else:
        Grant.objects.create(
            subject_type="group", subject=f"team-{scope.uid}-*", role=role, cluster="local", topics=[scope.pattern]
        )
        access.set_directory_groups(user, [f"team-{scope.uid}-orders"], "oidc")
    return user


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture(params=["user", "group"])
def reader(request: pytest.FixtureRequest, make_user: Callable[..., Any], scope: Scope) -> Any:
    return _scoped_user(make_user, scope, request.param)


# --- lists, counts, search ----------------------------------------------------------


def test_a_scoped_reader_lists_exactly_the_visible_topics(reader: Any, scope: Scope) -> None:
    response = _api(reader).get("/api/clusters/local/topics/", {"page_size": "500", "internal": "true"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert sorted(r["name"] for r in body["results"]) == sorted(scope.visible)
    assert body["count"] == len(scope.visible)
    # Sorting by messages enriches only what the user sees, and pages count only that.
    by_messages = _api(reader).get("/api/clusters/local/topics/", {"sort": "messages", "page_size": "2"}).json()
    assert by_messages["count"] == 3 and by_messages["next"] is not None
    page = _client(reader).get("/clusters/local/topics/", {"page_size": 500})
    assert page.status_code == 200
    html = page.content.decode()
    for name in scope.visible:
        assert name in html
    for name in scope.hidden:
        assert name not in html


def test_search_and_regex_search_find_only_visible_topics(reader: Any, scope: Scope) -> None:
    for search in (scope.uid, f"re:scoped-(vis|hid)-{scope.uid}-.*", f"re:.*{scope.uid}-[xy]$"):
        body = _api(reader).get("/api/clusters/local/topics/", {"search": search, "page_size": "500"}).json()
        expected = sorted(n for n in scope.visible if re.search(search.removeprefix("re:"), n))
        assert sorted(r["name"] for r in body["results"]) == expected, search
        assert body["count"] == len(expected)
        html = _client(reader).get("/clusters/local/topics/", {"search": search}).content.decode()
        assert not any(name in html for name in scope.hidden)


def test_an_admin_still_sees_every_topic(make_user: Callable[..., Any], scope: Scope) -> None:
    body = _api(make_user("admin")).get("/api/clusters/local/topics/", {"search": scope.uid}).json()
    assert sorted(r["name"] for r in body["results"]) == sorted(scope.visible | scope.hidden)


def test_the_overview_counts_only_visible_topics(reader: Any, scope: Scope, make_user: Callable[..., Any]) -> None:
    body = _api(reader).get("/api/clusters/local/").json()
    assert body["topic_count"] == 3
    assert body["internal_topic_count"] == 0
    assert body["partition_count"] == 6
    assert body["under_replicated_partitions"] == 0 and body["offline_partitions"] == 0
    [listed] = _api(reader).get("/api/clusters/").json()
    assert (listed["name"], listed["topic_count"], listed["partition_count"]) == ("local", 3, 6)
    # The admin's figures are the cluster's: more topics, so the scoped ones were not just the same.
    assert _api(make_user("admin")).get("/api/clusters/local/").json()["topic_count"] >= 5
    page = _client(reader).get("/clusters/local/")
    assert page.status_code == 200
    health = page.context["health"]
    assert health.overview.topic_count == 3
    assert sorted(n for n, _ in health.overview.topics_sample) == sorted(scope.visible)
    html = page.content.decode()
    assert not any(name in html for name in scope.hidden)
    clusters = _client(reader).get("/clusters/")
    assert [h.overview.partition_count for h in clusters.context["rows"]] == [6]


def test_the_growing_lag_tile_names_only_groups_the_user_sees(reader: Any, scope: Scope) -> None:
    now = timezone.now()
    readers = {f"g-{scope.uid}-mine": scope.any_visible, f"g-{scope.uid}-theirs": scope.any_hidden}
    for group, topic in readers.items():
        for i, lag in enumerate((1, 2, 3, 4)):
            LagSample.objects.create(
                cluster="local",
                group=group,
                sampled_at=now - timedelta(seconds=30 * (4 - i)),
                total_lag=lag,
                topics={topic: lag},
            )
    growing = _client(reader).get("/clusters/local/").context["growing"]
    assert [g.group for g in growing if scope.uid in g.group] == [f"g-{scope.uid}-mine"]


def _drift_policy(scope: Scope) -> RetentionPolicy:
    policy = RetentionPolicy()
    policy.apply_clean(
        clean_policy(
            {"name": f"p-{scope.uid}", "topic_pattern": f"scoped-*-{scope.uid}-*", "configs": {"retention.ms": "1d"}}
        )
    )
    policy.save()
    return policy


def test_compliance_and_drift_count_only_visible_topics(reader: Any, scope: Scope) -> None:
    policy = _drift_policy(scope)
    body = _api(reader).get("/api/clusters/local/retention/compliance/", {"search": scope.uid}).json()
    assert sorted(r["topic"] for r in body["results"]) == sorted(scope.visible)
    assert (body["count"], body["drifting"]) == (3, 3)
    page = _client(reader).get("/clusters/local/retention/", {"search": scope.uid})
    assert (page.context["total"], page.context["drifting"]) == (3, 3)
    assert not any(name in page.content.decode() for name in scope.hidden)
    # The policy list counts what each policy governs among the user's topics.
    policies = _client(reader).get("/retention/", {"cluster": "local"})
    [row] = [r for r in policies.context["rows"] if r["policy"].pk == policy.pk]
    assert row["topics"] == 3
    # The navigation's badge and the overview's tile: the beat's drifting topics, the user's only.
    drift_refresh("local")
    overview = _client(reader).get("/clusters/local/")
    assert overview.context["drift_count"] == 3
    assert overview.context["drifting"] == 3


def test_a_preview_of_all_drifting_topics_covers_only_visible_ones(reader: Any, scope: Scope) -> None:
    _drift_policy(scope)
    body = (
        _api(reader)
        .post("/api/clusters/local/retention/compliance/apply/", {"all_drifting": True}, format="json")
        .json()
    )
    topics = {r["topic"] for r in body["results"]}
    assert set(scope.visible) <= topics
    assert not topics & set(scope.hidden)


# --- one topic ----------------------------------------------------------------------

CSRF = re.compile(r'(csrfmiddlewaretoken" value=|csrf-token" content=|X-CSRFToken": )"[^"]*"')


def _routes(topic: str) -> list[tuple[str, str, dict[str, Any]]]:
    page = f"/clusters/local/topics/{topic}/"
    api = f"/api/clusters/local/topics/{topic}/"
    return [
        ("get", page, {}),
        ("get", page + "configs/", {}),
        ("post", page + "configs/", {"cfg:retention.ms": "2d"}),
        ("get", page + "partitions/", {}),
        ("post", page + "partitions/", {"total": "9"}),
        ("get", page + "delete/", {}),
        ("post", page + "delete/", {"confirm": topic}),
        ("get", api, {}),
        ("delete", api, {"confirm": topic}),
        ("patch", api + "configs/", {"retention.ms": "2d"}),
        ("post", api + "partitions/", {"total": 9}),
    ]


def _call(user: Any, method: str, path: str, data: dict[str, Any]) -> Any:
    if path.startswith("/api/"):
        return getattr(_api(user), method)(path, data, format="json")
    client = _client(user)
    return client.post(path, data) if method == "post" else client.get(path)


def _text(response: Any, name: str) -> str:
    return CSRF.sub("CSRF", response.content.decode()).replace(name, "NAME")


def test_every_topic_route_answers_a_hidden_topic_as_a_missing_one(reader: Any, scope: Scope) -> None:
    hidden, missing = scope.any_hidden, scope.missing
    for (method, path, data), (_, missing_path, missing_data) in zip(_routes(hidden), _routes(missing), strict=True):
        answer = _call(reader, method, path, data)
        absent = _call(reader, method, missing_path, missing_data)
        assert answer.status_code == 404, (method, path, answer.status_code, answer.content[:300])
        assert absent.status_code == 404, (method, missing_path)
        assert _text(answer, hidden) == _text(absent, missing), (method, path)
        plain = re.sub(r"</?code>|`", "", answer.content.decode())
        assert f"topic {hidden} does not exist on cluster local" in plain, (method, path)


def test_a_missing_topic_reads_the_same_to_an_admin(make_user: Callable[..., Any], reader: Any, scope: Scope) -> None:
    """The text a scoped user gets for a hidden topic is the broker's answer for a missing one."""
    admin = make_user("admin")
    for method, path in (("get", "topic"), ("patch", "configs")):
        hidden_path = f"/api/clusters/local/topics/{scope.any_hidden}/" + ("configs/" if path == "configs" else "")
        missing_path = f"/api/clusters/local/topics/{scope.missing}/" + ("configs/" if path == "configs" else "")
        data = {"retention.ms": "2d"} if method == "patch" else {}
        seen = _call(reader, method, hidden_path, data)
        real = _call(admin, method, missing_path, data)
        assert (seen.status_code, real.status_code) == (404, 404)
        assert json.loads(_text(seen, scope.any_hidden)) == json.loads(_text(real, scope.missing))


def test_a_hidden_topic_in_a_retention_preview_reads_as_missing(
    reader: Any, make_user: Callable[..., Any], scope: Scope
) -> None:
    _drift_policy(scope)
    names = [scope.any_hidden, scope.missing, scope.any_visible]
    body = _api(reader).post(
        "/api/clusters/local/retention/compliance/apply/", {"topics": names, "dry_run": True}, format="json"
    )
    assert body.status_code == 200, body.content
    by_topic = {r["topic"]: r for r in body.json()["results"]}
    assert by_topic[scope.any_hidden]["status"] == by_topic[scope.missing]["status"] == "failed"
    hidden_error = by_topic[scope.any_hidden]["error"].replace(scope.any_hidden, "X")
    assert hidden_error == by_topic[scope.missing]["error"].replace(scope.missing, "X")
    assert by_topic[scope.any_visible]["status"] == "planned"
    # An admin previewing the same request is told of the hidden topic's change: it does exist.
    admin = _api(make_user("admin")).post(
        "/api/clusters/local/retention/compliance/apply/", {"topics": names, "dry_run": True}, format="json"
    )
    assert {r["topic"]: r["status"] for r in admin.json()["results"]}[scope.any_hidden] == "planned"


def _broker_retention(admin: AdminClient, topic: str) -> str | None:
    [future] = admin.describe_configs([ConfigResource(ResourceType.TOPIC, topic)]).values()
    entry = future.result(timeout=10).get("retention.ms")
    return None if entry is None else str(entry.value)


def test_a_visible_topic_without_the_role_is_a_403_naming_it(reader: Any, scope: Scope) -> None:
    topic = scope.any_visible
    assert _call(reader, "get", f"/clusters/local/topics/{topic}/", {}).status_code == 200
    assert _call(reader, "get", f"/api/clusters/local/topics/{topic}/", {}).status_code == 200
    needs = {"configs/": "operator", "partitions/": "operator", "delete/": "admin"}
    for method, path, data in _routes(topic):
        if method == "get" and not path.endswith(tuple(needs)):
            continue  # the detail page and API: a reader may read them
        answer = _call(reader, method, path, data)
        role = next((r for suffix, r in needs.items() if path.endswith(suffix)), "admin")
        assert answer.status_code == 403, (method, path, answer.status_code)
        assert f"this needs the {role} role" in answer.content.decode(), (method, path)
    body = _api(reader).post(
        "/api/clusters/local/retention/compliance/apply/", {"topics": [topic], "dry_run": False}, format="json"
    )
    assert body.status_code == 403 and "operator" in body.json()["error"]


def test_a_scoped_operator_changes_a_visible_topic(
    make_user: Callable[..., Any], scope: Scope, kafka_admin: AdminClient
) -> None:
    operator = _scoped_user(make_user, scope, "group", role="operator")
    topic = scope.any_visible
    response = _api(operator).patch(
        f"/api/clusters/local/topics/{topic}/configs/", {"retention.ms": "2d"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert _broker_retention(kafka_admin, topic) == "172800000"
    page = _client(operator).get(f"/clusters/local/topics/{topic}/")
    assert page.context["can_change"] is True and page.context["can_delete"] is False
    # Creating stays a cluster-wide operator's.
    create = _api(operator).post(
        "/api/clusters/local/topics/", {"name": f"scoped-vis-{scope.uid}-new", "partitions": 1}, format="json"
    )
    assert create.status_code == 403 and "operator role on cluster `local`" in create.json()["error"]
    # Applying retention policies (the cluster's objects) also stays a cluster-wide operator's.
    _drift_policy(scope)
    apply = _api(operator).post(
        "/api/clusters/local/retention/compliance/apply/", {"topics": [topic], "dry_run": False}, format="json"
    )
    assert apply.status_code == 403 and "operator role on cluster `local`" in apply.json()["error"]


def test_a_scoped_admin_deletes_a_visible_topic(
    make_user: Callable[..., Any], scope: Scope, kafka_admin: AdminClient
) -> None:
    admin = _scoped_user(make_user, scope, "user", role="admin")
    topic = scope.any_visible
    assert _client(admin).get(f"/clusters/local/topics/{topic}/").context["can_delete"] is True
    response = _api(admin).delete(f"/api/clusters/local/topics/{topic}/", {"confirm": topic}, format="json")
    assert response.status_code == 204, response.content
    assert topic not in kafka_admin.list_topics(timeout=5).topics
    scope.visible.pop(topic)


# --- clusters -----------------------------------------------------------------------


def test_grants_on_another_cluster_only_hide_this_one(
    make_user: Callable[..., Any], clusters_file: Callable[[str], Path], scope: Scope
) -> None:
    clusters_file(
        "clusters:\n  - name: local\n    bootstrap_servers: {LOCAL}\n  - name: second\n    bootstrap_servers: {LOCAL}\n"
    )
    user = make_user()
    Grant.objects.create(
        subject_type="user", subject=user.username, role="admin", cluster="second", topics=[scope.pattern]
    )
    api, client = _api(user), _client(user)
    for path in (
        "/api/clusters/local/",
        "/api/clusters/local/topics/",
        f"/api/clusters/local/topics/{scope.any_visible}/",
        "/api/clusters/local/retention/compliance/",
    ):
        answer = api.get(path)
        assert answer.status_code == 404, path
        assert answer.json()["error"] == "cluster `local` is not configured"
    for path in ("/clusters/local/", "/clusters/local/topics/", "/clusters/local/retention/"):
        page = client.get(path)
        assert page.status_code == 404, path
        assert "cluster <code>local</code> is not configured" in page.content.decode()
    assert [c["name"] for c in api.get("/api/clusters/").json()] == ["second"]
    assert api.get("/api/clusters/missing/").json()["error"] == "cluster `missing` is not configured"
    body = api.get("/api/clusters/second/topics/", {"search": scope.uid}).json()
    assert sorted(r["name"] for r in body["results"]) == sorted(scope.visible)


# --- websocket ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_health_socket_pushes_counts_over_visible_topics(
    make_user: Callable[..., Any], scope: Scope, live_url: str
) -> None:
    user = _scoped_user(make_user, scope, "group")
    client = _client(user)
    headers = {"Cookie": f"sessionid={client.cookies['sessionid'].value}", "Origin": live_url}
    url = live_url.replace("http://", "ws://") + "/ws/clusters/"
    with connect(url, additional_headers=headers, open_timeout=10) as ws:
        [first] = json.loads(ws.recv(timeout=15))["clusters"]
    assert (first["name"], first["topic_count"], first["partition_count"]) == ("local", 3, 6)
    assert first["offline_partitions"] == first["under_replicated_partitions"] == 0


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_scoped_reader_sees_only_their_topics_in_the_browser(
    make_user: Callable[..., Any], scope: Scope, live_url: str, browser: Any
) -> None:
    user = _scoped_user(make_user, scope, "user")
    session = _client(user).cookies["sessionid"].value
    for width, height in ((1280, 800), (390, 844)):
        context = browser.new_context(viewport={"width": width, "height": height})
        context.add_cookies([{"name": "sessionid", "value": session, "url": live_url}])
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None)
        try:
            for path, name in (("/clusters/local/", "overview"), ("/clusters/local/topics/", "list")):
                page.goto(f"{live_url}{path}?search={scope.uid}" if name == "list" else live_url + path)
                text = page.inner_text("main")
                assert all(topic in text for topic in scope.visible), (path, width)
                assert not any(topic in text for topic in scope.hidden), (path, width)
                screenshot(page, f"scoped-topics-{name}-{width}")
            assert page.locator("text=3 topics").count() == 1
        finally:
            context.close()
        assert [e for e in errors if "Content Security Policy" in e or "TypeError" in e] == []
