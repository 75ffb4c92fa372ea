"""Consumer groups for a user whose grants cover only some topics and groups (issue 16).

A group is visible when a consumer-group pattern of the user's grants matches it, or when it
has committed offsets on a topic the user may see; of a visible group only the visible topics
show (partitions, lag totals, history). Everything is read on the real broker, the offsets
read back by an independent client.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from backbone_admin.access import set_directory_groups
from backbone_admin.models import AuditEntry, Grant
from tests.conftest import independent_client_config, screenshot
from tests.topics.groups.conftest import produce
from topics.groups.listing import invalidate
from topics.models import LagSample

pytestmark = pytest.mark.django_db

Offsets = dict[tuple[str, int], int]


@pytest.fixture
def commit(kafka_bootstrap: str) -> Callable[[str, Offsets], None]:
    """Commit offsets for a group without joining it: the group stays empty."""

    def do(group: str, offsets: Offsets) -> None:
        consumer = Consumer(independent_client_config(kafka_bootstrap, **{"group.id": group}))
        try:
            consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()], asynchronous=False)
        finally:
            consumer.close()

    return do


@pytest.fixture
def committed(kafka_admin: AdminClient) -> Callable[[str], Offsets]:
    """A group's committed offsets read back by an independent client."""

    def read(group: str) -> Offsets:
        future = kafka_admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group]
        return {(tp.topic, tp.partition): tp.offset for tp in future.result(10).topic_partitions if tp.offset >= 0}

    return read


@pytest.fixture
def world(kafka_admin: AdminClient, kafka_bootstrap: str, commit: Callable[[str, Offsets], None]) -> dict[str, str]:
    """Two topics, one visible to the scoped user; four groups reading them in every way."""
    p = f"sg{uuid.uuid4().hex[:8]}"
    producer = Producer(independent_client_config(kafka_bootstrap, **{"linger.ms": 0}))

    def make_topic(name: str, counts: list[int]) -> str:
        kafka_admin.create_topics([NewTopic(name, len(counts), 1)])[name].result(10)
        produce(producer, name, counts)
        return name

    names = {
        "p": p,
        "visible": make_topic(f"{p}-vis.orders", [5, 3]),
        "hidden": make_topic(f"{p}-hid.payroll", [4]),
        "both": f"{p}-both",  # reads both topics; operator by a group grant (through a directory group)
        "named": f"{p}-team-x",  # reads only the hidden topic; a group pattern names it
        "via_topic": f"{p}-visonly",  # reads only the visible topic: visible as a viewer
        "secret": f"{p}-hidonly",  # reads only the hidden topic: invisible
    }
    commit(names["both"], {(names["visible"], 0): 2, (names["visible"], 1): 3, (names["hidden"], 0): 1})
    commit(names["named"], {(names["hidden"], 0): 2})
    commit(names["via_topic"], {(names["visible"], 0): 4})
    commit(names["secret"], {(names["hidden"], 0): 3})
    invalidate("local")  # the cached list of an earlier test does not know these groups
    return names


@pytest.fixture
def scoped(make_user: Callable[..., Any], world: dict[str, str]) -> Any:
    p = world["p"]
    user = make_user(None)
    Grant.objects.create(
        subject_type="user",
        subject=user.username,
        role="viewer",
        cluster="local",
        topics=[f"{p}-vis.*"],
        groups=[f"{p}-team-*"],
    )
    Grant.objects.create(
        subject_type="group", subject=f"{p}-ops-*", role="operator", cluster="local", groups=[world["both"]]
    )
    set_directory_groups(user, [f"{p}-ops-eu"], "oidc")
    return user


def _api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _web(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _listed(api: APIClient, world: dict[str, str], **params: Any) -> dict[str, dict[str, Any]]:
    response = api.get("/api/clusters/local/groups/", {"search": world["p"], "page_size": 50, **params})
    assert response.status_code == 200, response.content
    return {r["group_id"]: r for r in response.json()["results"]}


def test_the_list_shows_the_groups_a_pattern_names_and_those_reading_a_visible_topic(
    world: dict[str, str], scoped: Any, api_as: Any
) -> None:
    api = _api(scoped)
    rows = _listed(api, world, refresh="1")

    assert set(rows) == {world["both"], world["named"], world["via_topic"]}
    both = rows[world["both"]]
    assert both["topics"] == [world["visible"]] and both["topic_lags"] == {world["visible"]: 3}
    assert (both["lag"], both["committed_partitions"]) == (3, 2)  # the hidden topic's lag (3) is not added
    assert (rows[world["named"]]["topics"], rows[world["named"]]["lag"]) == ([], None)
    assert rows[world["via_topic"]]["lag"] == 1
    by_lag = api.get("/api/clusters/local/groups/", {"search": world["p"], "sort": "lag", "order": "desc"}).json()
    assert [r["group_id"] for r in by_lag["results"]] == [world["both"], world["via_topic"], world["named"]]
    assert by_lag["count"] == 3

    admin = _listed(api_as("admin"), world)
    assert set(admin) == {world["both"], world["named"], world["via_topic"], world["secret"]}
    assert admin[world["both"]]["lag"] == 6 and admin[world["both"]]["topics"] == sorted(
        [world["visible"], world["hidden"]]
    )

    html = _web(scoped).get("/clusters/local/groups/", {"search": world["p"]}).content.decode()
    assert f'data-group="{world["both"]}"' in html and 'id="group-scope-help"' in html
    assert world["hidden"] not in html and world["secret"] not in html
    assert ">3 groups · page 1 of 1 ·" in html  # counted over the visible groups: no "of N" of the cluster


def test_a_group_reading_a_visible_and_a_hidden_topic_shows_only_the_visible_one(
    world: dict[str, str], scoped: Any, api_as: Any
) -> None:
    now = timezone.now()
    LagSample.objects.create(
        cluster="local",
        group=world["both"],
        sampled_at=now - timedelta(minutes=5),
        total_lag=6,
        uncommitted=4,
        topics={world["visible"]: 3, world["hidden"]: 3},
    )
    body = _api(scoped).get(f"/api/clusters/local/groups/{world['both']}/").json()

    assert body["topics"] == [world["visible"]]
    assert {(r["topic"], r["partition"]) for r in body["partitions"]} == {(world["visible"], 0), (world["visible"], 1)}
    assert body["lag"] == 3 and body["uncommitted"] is None
    assert [(s["lag"], s["uncommitted"]) for s in body["lag_history"]["samples"]] == [(3, None)]
    assert world["hidden"] not in str(body)
    listed = _listed(_api(scoped), world)[world["both"]]
    assert listed["lag_trend"] == [3]

    full = api_as("admin").get(f"/api/clusters/local/groups/{world['both']}/").json()
    assert full["topics"] == sorted([world["visible"], world["hidden"]]) and full["lag"] == 6
    assert [(s["lag"], s["uncommitted"]) for s in full["lag_history"]["samples"]] == [(6, 4)]

    page = _web(scoped).get(f"/clusters/local/groups/{world['both']}/")
    html = page.content.decode()
    assert page.status_code == 200 and 'id="total-lag">3<' in html
    assert world["hidden"] not in html
    assert 'id="rewind-form"' in html  # operator on this group
    assert "Delete the group" not in html  # not an admin of it

    named = _api(scoped).get(f"/api/clusters/local/groups/{world['named']}/").json()
    assert (named["topics"], named["partitions"], named["lag"]) == ([], [], None)


def _without_names(text: str, *names: str) -> str:
    for name in names:
        text = text.replace(name, "NAME")
    # What differs from one answer to the next whatever it says: nonces and CSRF tokens.
    return re.sub(r'(nonce|value)="[^"]*"|"X-CSRFToken": "[^"]*"', "", text)


def test_a_hidden_group_is_answered_exactly_as_a_missing_one(world: dict[str, str], scoped: Any) -> None:
    missing = f"{world['p']}-nosuch"
    api, web = _api(scoped), _web(scoped)

    hidden_api = api.get(f"/api/clusters/local/groups/{world['secret']}/")
    missing_api = api.get(f"/api/clusters/local/groups/{missing}/")
    assert hidden_api.status_code == missing_api.status_code == 404
    assert hidden_api.json() == {
        "error": f"consumer group `{world['secret']}` does not exist on cluster `local`",
        "fields": {},
    }
    assert _without_names(hidden_api.content.decode(), world["secret"]) == _without_names(
        missing_api.content.decode(), missing
    )

    hidden_page = web.get(f"/clusters/local/groups/{world['secret']}/")
    missing_page = web.get(f"/clusters/local/groups/{missing}/")
    assert hidden_page.status_code == missing_page.status_code == 404
    assert _without_names(hidden_page.content.decode(), world["secret"]) == _without_names(
        missing_page.content.decode(), missing
    )
    for route in ("reset-offsets/",):
        response = api.post(f"/api/clusters/local/groups/{world['secret']}/{route}", {"to": "earliest"}, format="json")
        assert response.status_code == 404 and response.json()["error"] == hidden_api.json()["error"]
    assert web.post(f"/clusters/local/groups/{world['secret']}/rewind/", {"to": "earliest"}).status_code == 404
    assert api.delete(f"/api/clusters/local/groups/{world['secret']}/").status_code == 404


def test_a_rewind_naming_a_hidden_topic_is_a_404_and_changes_nothing(
    world: dict[str, str], scoped: Any, committed: Callable[[str], Offsets]
) -> None:
    before = committed(world["both"])
    api = _api(scoped)
    url = f"/api/clusters/local/groups/{world['both']}/reset-offsets/"

    for dry_run in (True, False):
        response = api.post(url, {"topic": world["hidden"], "to": "earliest", "dry_run": dry_run}, format="json")
        assert response.status_code == 404, response.content
        assert response.json()["error"] == f"topic `{world['hidden']}` does not exist on cluster `local`"
    # The same words as a topic that does not exist (one the user's pattern would match).
    nosuch = f"{world['p']}-vis.nosuch"
    response = api.post(url, {"topic": nosuch, "to": "earliest"}, format="json")
    assert response.json()["error"] == f"topic `{nosuch}` does not exist on cluster `local`"
    page = _web(scoped).post(
        f"/clusters/local/groups/{world['both']}/rewind/",
        {"action": "apply", "topic": world["hidden"], "to": "earliest"},
    )
    assert page.status_code == 404 and world["hidden"] in page.content.decode()
    # Copying the offsets of a hidden group: answered as a group that does not exist.
    copy = api.post(url, {"to": "group", "value": world["secret"]}, format="json")
    assert copy.status_code == 400
    assert copy.json()["error"] == f"consumer group `{world['secret']}` does not exist on cluster `local`"
    assert committed(world["both"]) == before

    # "Every topic" of the group is every topic the user sees: the hidden one is not moved.
    preview = api.post(url, {"to": "earliest"}, format="json").json()
    assert {(r["topic"], r["partition"]) for r in preview["rows"]} == {(world["visible"], 0), (world["visible"], 1)}
    applied = api.post(url, {"to": "earliest", "dry_run": False}, format="json")
    assert applied.status_code == 200, applied.content
    assert committed(world["both"]) == {(world["visible"], 0): 0, (world["visible"], 1): 0, (world["hidden"], 0): 1}
    row = AuditEntry.objects.filter(action="group.reset_offsets", target=world["both"]).latest("at")
    assert isinstance(row.before, dict) and set(row.before["offsets"]) == {world["visible"]}


def test_a_viewer_of_the_topic_only_previews_and_is_refused_an_apply_naming_operator(
    world: dict[str, str], scoped: Any, committed: Callable[[str], Offsets]
) -> None:
    group = world["via_topic"]
    api = _api(scoped)
    url = f"/api/clusters/local/groups/{group}/reset-offsets/"

    preview = api.post(url, {"topic": world["visible"], "to": "earliest"}, format="json")
    assert preview.status_code == 200 and preview.json()["re_consumed"] == 4
    refused = api.post(url, {"topic": world["visible"], "to": "earliest", "dry_run": False}, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"] == f"this needs the operator role on consumer group `{group}`; you are viewer"
    page = _web(scoped).post(
        f"/clusters/local/groups/{group}/rewind/", {"action": "apply", "topic": world["visible"], "to": "earliest"}
    )
    assert page.status_code == 403 and "operator role" in page.content.decode()
    html = _web(scoped).get(f"/clusters/local/groups/{group}/").content.decode()
    assert 'id="rewind-form"' not in html
    assert committed(group) == {(world["visible"], 0): 4}
    # Deleting needs admin on the group: the group operator is refused, naming the role.
    deleted = api.delete(f"/api/clusters/local/groups/{world['both']}/")
    assert deleted.status_code == 403 and "admin role" in deleted.json()["error"]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_scoped_pages_in_a_browser(live_url: str, page: Any, world: dict[str, str], scoped: Any) -> None:
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    scoped.set_password("pw-Scoped-16")
    scoped.save()
    page.goto(live_url + "/login/")
    page.fill("#id_username", scoped.username)
    page.fill("#id_password", "pw-Scoped-16")
    page.click("button[type=submit]")
    page.wait_for_load_state()

    for width, height in ((1280, 800), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{live_url}/clusters/local/groups/?search={world['p']}&refresh=1")
        assert page.locator("#group-rows tr[data-group]").count() == 3
        assert page.locator("#group-scope-help").is_visible()
        assert world["hidden"] not in page.content()
        screenshot(page, f"scoped-groups-list-{width}")
        page.goto(f"{live_url}/clusters/local/groups/{world['both']}/")
        assert page.inner_text("#total-lag") == "3"
        assert world["hidden"] not in page.content()
        screenshot(page, f"scoped-group-detail-{width}")
    assert errors == []
