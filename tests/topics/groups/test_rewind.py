"""Rewinds on the real broker: every kind previewed with exact numbers and nothing changed by a
preview (read back by an independent client), apply, 409 on an active group, roles, bad input."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from backbone_admin.kafka import Conflict
from backbone_admin.kafka.groups import alter_offsets
from backbone_admin.models import AuditEntry
from tests.topics.groups.conftest import produce


@pytest.fixture
def arranged(prefix: str, make_topic: Callable[..., str], commit: Callable[..., None]) -> dict[str, str]:
    """`orders`: partition 0 holds offsets 0-9, partition 1 holds 0-5; the group is at 4 and 6."""
    topic = make_topic(f"{prefix}.orders", [10, 6])
    group = f"{prefix}-shipping"
    commit(group, {(topic, 0): 4, (topic, 1): 6})
    return {"topic": topic, "group": group, "prefix": prefix}


def _preview(api: Any, group: str, **body: Any) -> Any:
    return api.post(f"/api/clusters/local/groups/{group}/reset-offsets/", body, format="json")


def _rows(response: Any) -> dict[int, tuple[int | None, int | None, int | None, int | None]]:
    assert response.status_code == 200, response.content
    return {r["partition"]: (r["current"], r["new"], r["re_consumed"], r["skipped"]) for r in response.json()["rows"]}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "expected", "re_consumed", "skipped"),
    [
        ({"to": "earliest"}, {0: (4, 0, 4, 0), 1: (6, 0, 6, 0)}, 10, 0),
        ({"to": "latest"}, {0: (4, 10, 0, 6), 1: (6, 6, 0, 0)}, 0, 6),
        ({"to": "offset", "value": 8, "partitions": [0]}, {0: (4, 8, 0, 4)}, 0, 4),
        ({"to": "offset", "value": 2}, {0: (4, 2, 2, 0), 1: (6, 2, 4, 0)}, 6, 0),
        ({"to": "shift", "value": -3}, {0: (4, 1, 3, 0), 1: (6, 3, 3, 0)}, 6, 0),
        ({"to": "shift", "value": 5}, {0: (4, 9, 0, 5), 1: (6, 6, 0, 0)}, 0, 5),
    ],
    ids=["earliest", "latest", "offset-one-partition", "offset", "shift-back", "shift-forward-clamped"],
)
def test_a_preview_gives_exact_numbers_and_changes_nothing(
    api_as: Any,
    arranged: dict[str, str],
    committed: Callable[[str], dict[tuple[str, int], int]],
    body: dict[str, Any],
    expected: dict[int, tuple[int, ...]],
    re_consumed: int,
    skipped: int,
) -> None:
    topic, group = arranged["topic"], arranged["group"]
    if "partitions" in body:
        body = body | {"topic": topic}

    response = _preview(api_as("viewer"), group, **body)

    assert _rows(response) == expected
    assert response.json()["re_consumed"] == re_consumed and response.json()["skipped"] == skipped
    assert response.json()["dry_run"] is True and response.json()["applied"] is False
    assert committed(group) == {(topic, 0): 4, (topic, 1): 6}


@pytest.mark.django_db
def test_offsets_outside_the_log_are_clamped_with_a_note(api_as: Any, arranged: dict[str, str]) -> None:
    response = _preview(api_as("viewer"), arranged["group"], to="shift", value=-20)
    rows = {r["partition"]: r for r in response.json()["rows"]}
    assert (rows[0]["new"], rows[1]["new"]) == (0, 0)
    assert "clamped to the earliest offset" in rows[0]["note"]

    rows = {
        r["partition"]: r for r in _preview(api_as("viewer"), arranged["group"], to="offset", value=50).json()["rows"]
    }
    assert (rows[0]["new"], rows[1]["new"]) == (10, 6)
    assert "clamped to the latest offset" in rows[1]["note"]


@pytest.mark.django_db
def test_a_timestamp_rewind_starts_at_the_first_event_at_or_after_that_time(
    api_as: Any,
    prefix: str,
    make_topic: Callable[..., str],
    commit: Callable[..., None],
    producer: Producer,
    committed: Callable[[str], dict[tuple[str, int], int]],
) -> None:
    topic = make_topic(f"{prefix}.ts", [3])  # batch A: offsets 0-2
    time.sleep(1.2)
    moment = int(time.time() * 1000)
    time.sleep(0.3)
    produce(producer, topic, [2])  # batch B: offsets 3-4
    group = f"{prefix}-ts"
    commit(group, {(topic, 0): 5})

    response = _preview(api_as("viewer"), group, to="timestamp", value=moment, topic=topic)

    assert _rows(response) == {0: (5, 3, 2, 0)}
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(moment / 1000)) + f".{moment % 1000:03d}Z"
    assert _rows(_preview(api_as("viewer"), group, to="timestamp", value=iso)) == {0: (5, 3, 2, 0)}
    assert committed(group) == {(topic, 0): 5}


@pytest.mark.django_db
def test_a_rewind_can_copy_another_groups_offsets(
    api_as: Any, arranged: dict[str, str], commit: Callable[..., None]
) -> None:
    topic, other = arranged["topic"], f"{arranged['prefix']}-audit"
    commit(other, {(topic, 0): 7})

    response = _preview(api_as("viewer"), arranged["group"], to="group", value=other)

    assert _rows(response) == {0: (4, 7, 0, 3), 1: (6, None, None, None)}
    assert "no committed offset here" in response.json()["rows"][1]["note"]
    same = _preview(api_as("viewer"), arranged["group"], to="group", value=arranged["group"])
    assert same.status_code == 400 and "value" in same.json()["fields"]
    unknown = _preview(api_as("viewer"), arranged["group"], to="group", value=f"{arranged['prefix']}-nobody")
    assert unknown.status_code == 400 and "does not exist" in unknown.json()["fields"]["value"]


@pytest.mark.django_db
def test_apply_commits_the_new_offsets_and_audits_before_and_after(
    api_as: Any, arranged: dict[str, str], committed: Callable[[str], dict[tuple[str, int], int]]
) -> None:
    topic, group = arranged["topic"], arranged["group"]

    response = _preview(api_as("operator"), group, to="shift", value=-2, dry_run=False)

    assert response.status_code == 200, response.content
    assert response.json()["applied"] is True and response.json()["re_consumed"] == 4
    assert committed(group) == {(topic, 0): 2, (topic, 1): 4}
    entry = AuditEntry.objects.filter(action="group.reset_offsets", target=group).get()
    assert entry.result == AuditEntry.Result.OK
    assert entry.before["offsets"] == {topic: {"0": 4, "1": 6}}
    assert entry.after["offsets"] == {topic: {"0": 2, "1": 4}}
    detail = api_as("viewer").get(f"/api/clusters/local/groups/{group}/").json()
    assert {p["partition"]: p["committed"] for p in detail["partitions"]} == {0: 2, 1: 4}


@pytest.mark.django_db
def test_apply_on_an_active_group_is_409_and_changes_nothing(
    api_as: Any,
    prefix: str,
    make_topic: Callable[..., str],
    commit: Callable[..., None],
    joined: Callable[[str, str], Any],
    committed: Callable[[str], dict[tuple[str, int], int]],
) -> None:
    topic = make_topic(f"{prefix}.live", [3])
    group = f"{prefix}-live"
    commit(group, {(topic, 0): 2})
    joined(group, topic)

    response = _preview(api_as("operator"), group, to="earliest", dry_run=False)

    assert response.status_code == 409, response.content
    assert f"consumer group `{group}` on cluster `local` is active" in response.json()["error"]
    assert "stop its consumers" in response.json()["error"]
    assert committed(group) == {(topic, 0): 2}
    entry = AuditEntry.objects.get(action="group.reset_offsets", target=group)
    assert entry.result == AuditEntry.Result.ERROR
    # The broker itself refuses a commit for an active group; the gateway answers 409 too.
    with pytest.raises(Conflict, match="the consumer group is active"):
        alter_offsets("local", group, {(topic, 0): 0})
    assert committed(group) == {(topic, 0): 2}


# The test broker describes an active group without its members (TEST_BROKER.md).
@pytest.mark.real_kafka
@pytest.mark.django_db
def test_the_409_names_the_active_members(
    api_as: Any, prefix: str, make_topic: Callable[..., str], commit: Callable[..., None], joined: Callable[..., Any]
) -> None:
    topic = make_topic(f"{prefix}.members", [2, 2])  # two partitions: the one member is assigned both
    group = f"{prefix}-members"
    commit(group, {(topic, 0): 1})
    joined(group, topic)

    response = _preview(api_as("operator"), group, to="earliest", dry_run=False)

    assert response.status_code == 409
    assert f"{group}-member" in response.json()["error"]
    assert [m["client_id"] for m in response.json()["fields"]["members"]] == [f"{group}-member"]
    detail = api_as("viewer").get(f"/api/clusters/local/groups/{group}/").json()
    assert detail["state"] == "Stable" and detail["members"][0]["client_id"] == f"{group}-member"
    assert {(a["topic"], a["partition"]) for a in detail["members"][0]["assignments"]} == {(topic, 0), (topic, 1)}


@pytest.mark.django_db
def test_roles_and_read_only_clusters(
    api_as: Any,
    arranged: dict[str, str],
    clusters_file: Callable[[str], Path],
    committed: Callable[[str], dict[tuple[str, int], int]],
) -> None:
    group = arranged["group"]
    assert _preview(api_as("viewer"), group, to="earliest").status_code == 200
    assert _preview(api_as("reader"), group, to="earliest", dry_run=False).status_code == 403
    assert _preview(api_as("viewer"), group, to="earliest", dry_run=False).status_code == 403
    clusters_file(
        "clusters:\n  - name: local\n    bootstrap_servers: '{LOCAL}'\n"
        "  - name: ro\n    bootstrap_servers: '{LOCAL}'\n    read_only: true\n"
    )
    refused = api_as("admin").post(
        f"/api/clusters/ro/groups/{group}/reset-offsets/", {"to": "earliest", "dry_run": False}, format="json"
    )
    assert refused.status_code == 403 and "read-only" in refused.json()["error"]
    assert committed(group) == {(arranged["topic"], 0): 4, (arranged["topic"], 1): 6}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"to": "yesterday"}, "to", 400),
        ({"to": "offset"}, "value", 400),
        ({"to": "offset", "value": -1}, "value", 400),
        ({"to": "shift", "value": "a lot"}, "value", 400),
        ({"to": "timestamp", "value": "last tuesday"}, "value", 400),
        ({"to": "earliest", "partitions": [0]}, "partitions", 400),
        ({"to": "earliest", "topic": "TOPIC", "partitions": [7]}, "partitions", 400),
        ({"to": "earliest", "topic": "no-such-topic"}, None, 404),
    ],
)
def test_bad_requests_are_refused_before_anything_changes(
    api_as: Any,
    arranged: dict[str, str],
    committed: Callable[[str], dict[tuple[str, int], int]],
    body: dict[str, Any],
    field: str | None,
    status: int,
) -> None:
    if body.get("topic") == "TOPIC":
        body = body | {"topic": arranged["topic"]}
    response = _preview(api_as("operator"), arranged["group"], **body, dry_run=False)
    assert response.status_code == status, response.content
    if field:
        assert field in response.json()["fields"]
    assert committed(arranged["group"]) == {(arranged["topic"], 0): 4, (arranged["topic"], 1): 6}
    unknown = _preview(api_as("operator"), f"{arranged['prefix']}-nobody", to="earliest")
    assert unknown.status_code == 404


@pytest.mark.django_db
def test_the_page_previews_then_applies(
    client_as: Any, arranged: dict[str, str], committed: Callable[[str], dict[tuple[str, int], int]]
) -> None:
    topic, group = arranged["topic"], arranged["group"]
    client = client_as("operator")
    url = f"/clusters/local/groups/{group}/rewind/"
    html = client.get(f"/clusters/local/groups/{group}/").content.decode()
    assert 'id="rewind-form"' in html and "Delete the group" not in html

    preview = client.post(url, {"action": "preview", "to": "earliest", "topic": topic}, headers={"HX-Request": "1"})
    fragment = preview.content.decode()
    assert preview.status_code == 200 and "<html" not in fragment
    assert 'id="plan-re-consumed">10<' in fragment and "Apply to 2 partitions" in fragment
    assert committed(group) == {(topic, 0): 4, (topic, 1): 6}

    applied = client.post(url, {"action": "apply", "to": "earliest", "topic": topic}, headers={"HX-Request": "1"})
    assert applied.status_code == 204 and applied["HX-Redirect"] == f"/clusters/local/groups/{group}/"
    assert committed(group) == {(topic, 0): 0, (topic, 1): 0}

    bad = client.post(url, {"action": "preview", "to": "offset", "value": "x"}, headers={"HX-Request": "1"})
    assert "the offset must be a whole number" in bad.content.decode()
    viewer = client_as("viewer").post(url, {"action": "apply", "to": "latest"}, headers={"HX-Request": "1"})
    assert viewer.status_code == 403
    assert committed(group) == {(topic, 0): 0, (topic, 1): 0}
