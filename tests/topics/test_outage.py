"""While a cluster is down, the topic list shows what it last knew, saying why and how old."""

from __future__ import annotations

import time
from typing import Any

import pytest

from backbone_admin.kafka.types import PartitionInfo, TopicMetadata
from topics import listing

pytestmark = pytest.mark.django_db


def test_a_down_cluster_lists_its_last_known_topics_with_the_cause_and_age(
    down_cluster: str, client_as: Any, api_as: Any
) -> None:
    # The console saw these topics on `down` when it last answered.
    seen = [
        TopicMetadata(name=name, partitions=(PartitionInfo(id=0, leader=1, replicas=(1,), isr=(1,)),), internal=False)
        for name in ("orders-eu", "payments")
    ]
    listing.store_index("down", seen)
    listing.invalidate("down")  # the short-lived cache is gone; only the last known index is left

    started = time.monotonic()
    page = client_as("viewer").get("/clusters/down/topics/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "orders-eu" in html and "payments" in html
    assert "unreachable" in html and "Showing the topics as they were" in html
    assert time.monotonic() - started < 1.5 + 1.5  # the cluster timeout (1.5 s here) + 1 s, plus slack

    api = api_as("viewer").get("/api/clusters/down/topics/")
    assert api.status_code == 200
    body = api.json()
    assert [t["name"] for t in body["results"]] == ["orders-eu", "payments"]
    assert any("cluster `down` unreachable" in w and "ago" in w for w in body["warnings"])


def test_a_down_cluster_never_seen_answers_503(down_cluster: str, api_as: Any) -> None:
    from django.core.cache import cache

    listing.invalidate("down")
    cache.delete(listing._last_known_key("down"))
    response = api_as("viewer").get("/api/clusters/down/topics/")
    assert response.status_code == 503
    assert "cluster `down` unreachable" in response.json()["error"]
