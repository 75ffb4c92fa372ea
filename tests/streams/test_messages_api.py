"""GET /api/clusters/{c}/topics/{t}/messages/: the answer's shape, every bad parameter a 400 naming it
(a tampered cursor too, never a 500), 403/404/503, masking below admin, POST produces, OpenAPI."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from rest_framework.test import APIClient

from tests.streams.browse_helpers import Ev, create_topic, ids, produce, read_all
from tests.timestamps import RECENT

pytestmark = pytest.mark.django_db


def _url(topic: str, cluster: str = "local") -> str:
    return f"/api/clusters/{cluster}/topics/{topic}/messages/"


@pytest.fixture
def topic(kafka_admin: AdminClient, kafka_bootstrap: str, topic_name: str) -> str:
    create_topic(kafka_admin, topic_name, 2)
    events = [
        Ev(
            i % 2,
            f"k{i}".encode(),
            json.dumps({"i": i, "customer": {"email": f"c{i}@example.com", "name": f"C{i}"}}).encode(),
            [("source", b"web")],
            RECENT + i,
        )
        for i in range(6)
    ]
    produce(kafka_bootstrap, topic_name, events)
    return topic_name


def test_an_answer_has_events_cursors_and_a_scan_report(topic: str, api_as: Callable[..., APIClient]) -> None:
    body = api_as("reader").get(_url(topic), {"limit": 4}).json()
    assert set(body) == {"results", "next", "previous", "next_url", "previous_url", "scan"}
    assert ids(body) == [(1, 2), (0, 2), (1, 1), (0, 1)]
    event = body["results"][0]
    assert event["partition"] == 1 and event["offset"] == 2 and event["timestamp"] == RECENT + 5
    assert event["timestamp_type"] == "create"
    assert event["key"] == "k5" and event["key_encoding"] == "text"
    assert json.loads(event["value"])["i"] == 5 and event["value_encoding"] == "json"
    assert event["headers"] == [{"key": "source", "value": "web", "encoding": "text"}]
    assert event["truncated"] is False and event["masked"] is False and event["schema_id"] is None
    assert (
        event["size"]
        == len(b"k5")
        + len(json.dumps({"i": 5, "customer": {"email": "c5@example.com", "name": "C5"}}))
        + len(b"source")
        + 3
    )
    scan = body["scan"]
    assert scan["merged"] is True and scan["key_partitions"] is None
    assert [(p["partition"], p["low"], p["high"], p["scanned"]) for p in scan["partitions"]] == [
        (0, 0, 3, 2),
        (1, 0, 3, 2),
    ]
    assert body["next_url"].startswith("http://testserver/api/clusters/local/topics/") and "cursor=" in body["next_url"]
    assert body["previous"] is None and body["previous_url"] is None
    following = api_as("reader").get(body["next_url"]).json()
    assert ids(following) == [(1, 0), (0, 0)]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"partition": "7"}, "partition"),
        ({"partition": "-1"}, "partition"),
        ({"partition": "one"}, "partition"),
        ({"offset": "3"}, "offset"),  # an offset needs one partition
        ({"partition": "0", "offset": "-1"}, "offset"),
        ({"partition": "0", "offset": "99"}, "offset"),
        ({"partition": "0", "offset": "1e3"}, "offset"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"timestamp": "-5"}, "timestamp"),
        ({"start": "middle"}, "start"),
        ({"start": "offset", "partition": "0"}, "offset"),
        ({"direction": "sideways"}, "direction"),
        ({"q": 'payload.status == "open'}, "q"),
        ({"q": "amount >"}, "q"),
        ({"q": "x" * 600}, "q"),
        ({"q": "key ~ /(a/"}, "q"),
        ({"max_seconds": "3600"}, "max_seconds"),
        ({"max_events": "0"}, "max_events"),
        ({"key": "k" * 5000}, "key"),
    ],
)
def test_bad_parameters_are_400s_naming_the_field(
    topic: str, api_as: Callable[..., APIClient], params: dict[str, str], field: str
) -> None:
    response = api_as("reader").get(_url(topic), params)
    assert response.status_code == 400, response.json()
    body = response.json()
    assert field in body["fields"], body
    assert body["error"]


def test_a_filter_error_points_at_the_column(topic: str, api_as: Callable[..., APIClient]) -> None:
    body = api_as("reader").get(_url(topic), {"q": "amount > and x"}).json()
    assert "column" in body["error"] and "column" in body["fields"]["q"]


def _b64(data: Any) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        "%%%",
        _b64(b"\xff\xfe"),
        _b64([1, 2]),
        _b64({"v": 1, "o": "newest", "r": "desc"}),
        _b64({"v": 2, "o": "newest", "r": "desc", "p": {"0": 1}}),
        _b64({"v": 1, "o": "sideways", "r": "desc", "p": {"0": 1}}),
        _b64({"v": 1, "o": "newest", "r": "up", "p": {"0": 1}}),
        _b64({"v": 1, "o": "newest", "r": "desc", "p": {}}),
        _b64({"v": 1, "o": "newest", "r": "desc", "p": {"zero": 1}}),
        _b64({"v": 1, "o": "newest", "r": "desc", "p": {"0": -1}}),
        _b64({"v": 1, "o": "newest", "r": "desc", "p": {"0": "1"}}),
        _b64({"v": 1, "o": "newest", "r": "desc", "p": {"0": 1.5}}),
        _b64({"v": 1, "o": "newest", "r": "desc", "p": {"0": True}}),
        _b64({"v": 1, "o": "newest", "r": "desc", "p": {"0": 2**70}}),
        _b64({"v": 1, "o": "newest", "r": "desc", "p": {"01": 1}}),
        _b64({"v": 1, "o": "newest", "r": "desc", "p": {"9": 1}}),  # no such partition
        _b64({"v": 1, "o": "newest", "r": "desc", "p": {"0": 1}, "x": 1}),
        "A" * 70_000,
    ],
)
def test_a_tampered_cursor_is_a_400_never_a_500(topic: str, api_as: Callable[..., APIClient], cursor: str) -> None:
    response = api_as("reader").get(_url(topic), {"cursor": cursor})
    assert response.status_code == 400, response.content
    assert set(response.json()["fields"]) & {"cursor", "partition"}


def test_a_cursor_for_other_partitions_than_asked_is_a_400(topic: str, api_as: Callable[..., APIClient]) -> None:
    api = api_as("reader")
    body = api.get(_url(topic), {"partition": 0, "limit": 1}).json()
    response = api.get(_url(topic), {"partition": 1, "cursor": body["next"]})
    assert response.status_code == 400 and "cursor" in response.json()["fields"]


def test_a_cursor_past_the_watermarks_is_kept_inside_them(topic: str, api_as: Callable[..., APIClient]) -> None:
    # Kafka would reset a fetch outside the log to its start; the cursor is clamped instead.
    cursor = _b64({"v": 1, "o": "oldest", "r": "asc", "p": {"0": 10**12, "1": 0}})
    body = api_as("reader").get(_url(topic), {"cursor": cursor, "limit": 10}).json()
    assert ids(body) == [(1, 0), (1, 1), (1, 2)]


def test_unknown_topic_404_viewer_403_anonymous_refused(api_as: Callable[..., APIClient]) -> None:
    missing = api_as("reader").get(_url("no-such-topic-here"))
    assert missing.status_code == 404 and "does not exist" in missing.json()["error"]
    assert api_as("reader").get(_url("x", cluster="nowhere")).status_code == 404
    viewer = api_as("viewer").get(_url("no-such-topic-here"))
    assert viewer.status_code == 403 and "reader role" in viewer.json()["error"]
    assert APIClient().get(_url("no-such-topic-here")).status_code in (401, 403)


def test_a_down_cluster_is_a_503_naming_it(down_cluster: str, api_as: Callable[..., APIClient]) -> None:
    response = api_as("admin").get(_url("orders", cluster="down"))
    assert response.status_code == 503
    assert "down" in response.json()["error"]


def test_values_are_masked_below_admin_in_the_api_and_pages(
    clusters_file: Callable[[str], Path], topic: str, api_as: Callable[..., APIClient], client_as: Callable[..., Any]
) -> None:
    clusters_file(
        "clusters:\n  - name: local\n    bootstrap_servers: '{LOCAL}'\n"
        "    masking: {fields: [customer.email], patterns: ['k[0-9]']}\n"
    )
    reader = api_as("reader").get(_url(topic), {"limit": 1}).json()["results"][0]
    assert json.loads(reader["value"])["customer"] == {"email": "***", "name": "C5"}
    assert reader["key"] == "***" and reader["masked"] is True
    admin = api_as("admin").get(_url(topic), {"limit": 1}).json()["results"][0]
    assert json.loads(admin["value"])["customer"]["email"] == "c5@example.com" and admin["key"] == "k5"
    # A search cannot find what the role may not see.
    assert api_as("reader").get(_url(topic), {"q": "c5@example.com"}).json()["results"] == []
    assert len(api_as("admin").get(_url(topic), {"q": "c5@example.com"}).json()["results"]) == 1
    page = client_as("reader").get(f"/clusters/local/topics/{topic}/messages/", {"limit": 2}).content.decode()
    assert "c5@example.com" not in page and "***" in page and "are masked" in page
    detail = client_as("reader").get(f"/clusters/local/topics/{topic}/messages/event/?partition=1&offset=2")
    assert "c5@example.com" not in detail.content.decode()
    download = client_as("reader").get(f"/clusters/local/topics/{topic}/messages/event/download/?partition=1&offset=2")
    assert b"c5@example.com" not in download.content and b"***" in download.content


def test_post_produces_and_the_event_reads_back(
    topic: str, api_as: Callable[..., APIClient], kafka_bootstrap: str
) -> None:
    refused = api_as("reader").post(_url(topic), {"key": "p1", "value": '{"new": true}'}, format="json")
    assert refused.status_code == 403
    produced = api_as("operator").post(
        _url(topic), {"key": "p1", "value": '{"new": true}', "partition": 0}, format="json"
    )
    assert produced.status_code == 201, produced.json()
    assert produced.json()["partition"] == 0 and produced.json()["offset"] == 3
    [record] = [s for s in read_all(kafka_bootstrap, topic, [0]) if s.offset == 3]
    assert record.key == b"p1" and json.loads(record.value) == {"new": True}
    back = api_as("reader").get(_url(topic), {"partition": 0, "offset": 3, "direction": "oldest"}).json()
    assert back["results"][0]["key"] == "p1"


def test_the_openapi_document_describes_browse_search_and_produce(api_as: Callable[..., APIClient]) -> None:
    schema = api_as("viewer").get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    path = schema["paths"]["/api/clusters/{cluster}/topics/{topic}/messages/"]
    names = {p["name"] for p in path["get"]["parameters"]}
    assert {"partition", "offset", "timestamp", "key", "q", "limit", "direction", "cursor", "group"} <= names
    assert {"max_events", "max_bytes", "max_seconds", "start", "all_partitions"} <= names
    ok = path["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    page = schema["components"]["schemas"][ok.rsplit("/", 1)[1]]
    assert {"results", "next", "previous", "scan"} <= set(page["properties"])
    assert {"400", "403", "404", "503"} <= set(path["get"]["responses"])
    assert "post" in path and "201" in path["post"]["responses"]
    produce_body = path["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert "value" in schema["components"]["schemas"][produce_body.rsplit("/", 1)[1]]["properties"]
