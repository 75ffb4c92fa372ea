"""The group list reads per page: only the shown groups unless the order needs every match, exact either way."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache

from topics.groups import listing

pytestmark = pytest.mark.django_db


def _cached(cluster: str = "local") -> listing.Snapshot:
    snap = listing.cache_get(listing._cache_key(cluster))
    assert isinstance(snap, listing.Snapshot)
    return snap


def test_a_name_ordered_page_reads_only_its_own_groups_and_later_pages_stay_exact(
    api_as: Any, prefix: str, make_topic: Callable[..., str], commit: Callable[..., None]
) -> None:
    topic = make_topic(f"{prefix}.t", [9, 5])
    lags = {"a": 4, "b": 0, "c": 9, "d": 2, "e": 5}  # committed = end - lag on partition 0
    for name, lag in lags.items():
        commit(f"{prefix}-{name}", {(topic, 0): 9 - lag})
    api = api_as("viewer")

    first = api.get("/api/clusters/local/groups/", {"search": prefix, "page_size": 2, "refresh": "1"}).json()

    assert [(r["group_id"], r["lag"]) for r in first["results"]] == [(f"{prefix}-a", 4), (f"{prefix}-b", 0)]
    assert first["count"] == 5 and "page=2" in first["next"]
    mine = {g for g, _, _ in _cached().index if g.startswith(prefix)}
    assert len(mine) == 5
    assert mine & _cached().lags.keys() == {f"{prefix}-a", f"{prefix}-b"}  # the page only
    assert mine & _cached().described.keys() == {f"{prefix}-a", f"{prefix}-b"}

    second = api.get("/api/clusters/local/groups/", {"search": prefix, "page_size": 2, "page": 2}).json()
    assert [(r["group_id"], r["lag"]) for r in second["results"]] == [(f"{prefix}-c", 9), (f"{prefix}-d", 2)]
    assert second["fetched_at"] == first["fetched_at"]  # filled into the same cached snapshot
    assert all(r["state"] == "Empty" and r["members"] == 0 and r["lag_read"] for r in second["results"])

    by_lag = api.get(
        "/api/clusters/local/groups/", {"search": prefix, "sort": "lag", "order": "desc", "page_size": 3}
    ).json()
    assert [(r["group_id"], r["lag"]) for r in by_lag["results"]] == [
        (f"{prefix}-c", 9),
        (f"{prefix}-e", 5),
        (f"{prefix}-a", 4),
    ]
    assert mine <= _cached().lags.keys()  # sorting by lag read every match

    by_members = api.get(
        "/api/clusters/local/groups/", {"search": prefix, "sort": "members", "order": "desc", "page_size": 5}
    ).json()
    assert [r["group_id"] for r in by_members["results"]] == [f"{prefix}-{n}" for n in "edcba"]
    assert mine <= _cached().described.keys()
    assert [r["lag"] for r in by_members["results"]] == [5, 2, 9, 0, 4]


def test_groups_read_into_a_cached_list_never_extend_its_life(
    api_as: Any, settings: Any, prefix: str, make_topic: Callable[..., str], commit: Callable[..., None]
) -> None:
    settings.GROUPS_CACHE_TTL = 3
    topic = make_topic(f"{prefix}.ttl", [2])
    for name in "ab":
        commit(f"{prefix}-{name}", {(topic, 0): 1})
    api = api_as("viewer")
    first = api.get("/api/clusters/local/groups/", {"search": prefix, "page_size": 1, "refresh": "1"}).json()
    time.sleep(1.2)
    second = api.get("/api/clusters/local/groups/", {"search": prefix, "page_size": 1, "page": 2}).json()
    assert second["fetched_at"] == first["fetched_at"] and second["results"][0]["lag"] == 1

    time.sleep(max(0.0, first["fetched_at"] + 3.2 - time.time()))
    third = api.get("/api/clusters/local/groups/", {"search": prefix, "page_size": 1, "page": 2}).json()

    assert third["fetched_at"] > first["fetched_at"]  # the list was read again: no number older than the TTL


def test_a_list_filled_in_after_an_invalidation_is_not_cached_again(
    api_as: Any, prefix: str, make_topic: Callable[..., str], commit: Callable[..., None]
) -> None:
    topic = make_topic(f"{prefix}.inv", [3])
    group = f"{prefix}-g"
    commit(group, {(topic, 0): 1})
    api_as("viewer").get("/api/clusters/local/groups/", {"search": f"{prefix}-nothing", "refresh": "1"})
    snap, source = listing.snapshot("local")
    assert source == listing.CACHED and group not in snap.lags

    listing.invalidate("local")  # as a rewind or a delete does while a page is being read
    assert listing.fill("local", snap, lag=[group], describe=[group]) is True
    listing.store("local", snap, fresh=False)

    assert cache.get(listing._cache_key("local")) is None
    assert snap.lags[group] == ({topic: 2}, 1, 0)


def test_a_down_cluster_shows_its_last_known_groups_and_says_which_lags_were_never_read(
    down_cluster: str, api_as: Any, client_as: Any
) -> None:
    seen = listing.Snapshot(
        fetched_at=time.time() - 120,
        index=[("billing", "Empty", "classic"), ("shipping", "Stable", "classic")],
        described={"billing": ("Empty", "", 0)},
        lags={"billing": ({"orders": 7}, 2, 0)},
    )
    listing.store("down", seen, fresh=True)
    listing.invalidate("down")  # the short-lived cache is gone; only the last known list is left

    started = time.monotonic()
    response = api_as("viewer").get("/api/clusters/down/groups/")
    elapsed = time.monotonic() - started

    assert response.status_code == 200, response.content
    body = response.json()
    rows = {r["group_id"]: r for r in body["results"]}
    assert (rows["billing"]["lag"], rows["billing"]["lag_read"], rows["billing"]["topics"]) == (7, True, ["orders"])
    assert (rows["shipping"]["lag"], rows["shipping"]["lag_read"], rows["shipping"]["state"]) == (None, False, "Stable")
    assert any(
        "cluster `down` unreachable" in w and "Showing the groups as they were 2 minutes ago" in w
        for w in body["warnings"]
    )
    assert any("The lag of 1 group(s) on this page was not read" in w for w in body["warnings"])
    assert elapsed < 1.5 + 1.5  # one cluster timeout (1.5 s here) + 1 s, plus slack: no read of the rows

    html = client_as("viewer").get("/clusters/down/groups/").content.decode()
    assert 'data-group="shipping"' in html and 'title="not read: the cluster did not answer">?<' in html
