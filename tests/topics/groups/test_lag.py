"""Group list and detail on the real broker: exact lag, no invented numbers, time lag, search/sort/paging, cache."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Producer

from tests.topics.groups.conftest import produce


@pytest.mark.django_db
def test_detail_shows_exact_lag_and_says_when_a_partition_has_no_committed_offset(
    api_as: Any, prefix: str, make_topic: Callable[..., str], commit: Callable[..., None]
) -> None:
    topic = make_topic(f"{prefix}.orders", [5, 3, 4])
    group = f"{prefix}-billing"
    commit(group, {(topic, 0): 2, (topic, 1): 3})

    response = api_as("viewer").get(f"/api/clusters/local/groups/{group}/")

    assert response.status_code == 200, response.content
    body = response.json()
    rows = {p["partition"]: p for p in body["partitions"]}
    assert (rows[0]["committed"], rows[0]["high"], rows[0]["lag"]) == (2, 5, 3)
    assert (rows[1]["committed"], rows[1]["high"], rows[1]["lag"]) == (3, 3, 0)
    assert rows[2]["committed"] is None and rows[2]["lag"] is None
    assert rows[2]["note"] == "no committed offset" and rows[2]["high"] == 4
    assert body["lag"] == 3
    assert body["state"] == "Empty" and body["members"] == [] and body["active"] is False
    assert body["topics"] == [topic]


@pytest.mark.django_db
def test_time_lag_is_the_age_of_the_next_event_to_consume(
    api_as: Any, prefix: str, make_topic: Callable[..., str], commit: Callable[..., None]
) -> None:
    written = int(time.time() * 1000) - 90_000  # CreateTime of every event: 90 s ago
    topic = make_topic(f"{prefix}.old", [3, 2], timestamp=written)
    group = f"{prefix}-slow"
    commit(group, {(topic, 0): 1, (topic, 1): 2})

    first = api_as("viewer").get(f"/api/clusters/local/groups/{group}/").json()
    body = api_as("viewer").get(f"/api/clusters/local/groups/{group}/").json()  # a pooled reader again

    assert first["partitions"][0]["next_timestamp"] == written and first["warnings"] == []
    assert body["warnings"] == []
    rows = {p["partition"]: p for p in body["partitions"]}
    assert rows[0]["next_timestamp"] == written
    assert 90_000 <= rows[0]["time_lag_ms"] < 90_000 + 30_000
    assert rows[1]["lag"] == 0 and rows[1]["time_lag_ms"] == 0  # caught up: no time lag
    assert body["max_time_lag_ms"] == rows[0]["time_lag_ms"]


@pytest.mark.django_db
def test_the_list_searches_sorts_by_lag_and_pages(
    api_as: Any, prefix: str, make_topic: Callable[..., str], commit: Callable[..., None]
) -> None:
    topic = make_topic(f"{prefix}.events", [10, 4])
    commit(f"{prefix}-a", {(topic, 0): 7, (topic, 1): 4})  # lag 3
    commit(f"{prefix}-b", {(topic, 0): 10})  # lag 0
    commit(f"{prefix}-c", {(topic, 0): 3, (topic, 1): 4})  # lag 7
    api = api_as("viewer")

    body = api.get(
        "/api/clusters/local/groups/", {"search": prefix, "sort": "lag", "order": "desc", "refresh": "1"}
    ).json()

    assert [(r["group_id"], r["lag"]) for r in body["results"]] == [
        (f"{prefix}-c", 7),
        (f"{prefix}-a", 3),
        (f"{prefix}-b", 0),
    ]
    first = body["results"][0]
    assert first["topics"] == [topic] and first["topic_lags"] == {topic: 7} and first["committed_partitions"] == 2
    assert first["state"] == "Empty" and first["members"] == 0

    paged = api.get("/api/clusters/local/groups/", {"search": f"re:^{prefix}-[ab]$", "page_size": 1}).json()
    assert paged["count"] == 2 and [r["group_id"] for r in paged["results"]] == [f"{prefix}-a"]
    assert paged["next"] is not None and "page=2" in paged["next"]

    bad = api.get("/api/clusters/local/groups/", {"sort": "bogus"})
    assert bad.status_code == 400 and "sort" in bad.json()["fields"]


@pytest.mark.django_db
def test_the_list_is_cached_briefly_and_refresh_reads_the_cluster(
    api_as: Any, prefix: str, make_topic: Callable[..., str], commit: Callable[..., None], producer: Producer
) -> None:
    topic = make_topic(f"{prefix}.c", [2])
    group = f"{prefix}-cached"
    commit(group, {(topic, 0): 2})
    api = api_as("viewer")
    assert api.get("/api/clusters/local/groups/", {"search": group, "refresh": "1"}).json()["results"][0]["lag"] == 0

    produce(producer, topic, [3])
    cached = api.get("/api/clusters/local/groups/", {"search": group}).json()
    fresh = api.get("/api/clusters/local/groups/", {"search": group, "refresh": "1"}).json()

    assert cached["results"][0]["lag"] == 0
    assert fresh["results"][0]["lag"] == 3


@pytest.mark.django_db
def test_an_unknown_group_is_404(api_as: Any, client_as: Any, prefix: str) -> None:
    response = api_as("viewer").get(f"/api/clusters/local/groups/{prefix}-nobody/")
    assert response.status_code == 404
    assert f"`{prefix}-nobody` does not exist" in response.json()["error"]
    assert client_as("viewer").get(f"/clusters/local/groups/{prefix}-nobody/").status_code == 404


@pytest.mark.django_db
def test_the_pages_show_groups_lag_and_links(
    client_as: Any, prefix: str, make_topic: Callable[..., str], commit: Callable[..., None]
) -> None:
    topic = make_topic(f"{prefix}.p", [6, 1])
    group = f"{prefix}-page odd+name"  # any group id renders and links
    commit(group, {(topic, 0): 1})
    client = client_as("viewer")

    listing = client.get(f"/clusters/local/groups/?search={prefix}&refresh=1").content.decode()
    assert f'data-group="{group}"' in listing and "/clusters/local/groups/g-" in listing
    rows = client.get(f"/clusters/local/groups/?search={prefix}", headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in rows and group in rows

    detail = client.get(f"/clusters/local/groups/{prefix}-page%20odd+name/")
    html = detail.content.decode()
    assert detail.status_code == 200
    assert f'data-partition="{topic}[0]"' in html and "no committed offset" in html
    assert 'id="total-lag">5<' in html
    assert "Rewind" not in html and "Delete the group" not in html  # a viewer changes nothing

    topic_page = client.get(f"/clusters/local/topics/{topic}/").content.decode()
    assert f"/clusters/local/groups/{prefix}-page%20odd+name/" in topic_page


@pytest.mark.django_db
def test_the_group_pages_and_api_work_while_redis_is_down(
    api_as: Any, client_as: Any, settings: Any, prefix: str, make_topic: Callable[..., str], commit: Callable[..., None]
) -> None:
    from tests.topics.test_without_redis import DEAD_REDIS

    topic = make_topic(f"{prefix}.r", [4])
    group = f"{prefix}-no-redis"
    commit(group, {(topic, 0): 1})
    settings.CACHES = DEAD_REDIS

    listed = api_as("viewer").get("/api/clusters/local/groups/", {"search": group})
    assert listed.status_code == 200 and listed.json()["results"][0]["lag"] == 3
    assert api_as("viewer").get(f"/api/clusters/local/groups/{group}/").json()["lag"] == 3
    assert client_as("viewer").get(f"/clusters/local/groups/?search={group}").status_code == 200
    assert client_as("viewer").get(f"/clusters/local/groups/{group}/").status_code == 200
