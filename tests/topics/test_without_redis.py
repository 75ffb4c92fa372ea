"""Redis holds caches and the channel layer; a Redis outage must not turn pages into 500s."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from backbone_admin.kafka import Conflict
from backbone_admin.kafka.topics import create_topic

DEAD_REDIS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/clusters/",
        "/clusters/local/",
        "/clusters/local/topics/",
        "/clusters/local/topics/orders/",
        "/clusters/local/retention/",
        "/retention/",
        "/api/clusters/local/",
        "/api/clusters/local/topics/",
        "/api/clusters/local/retention/compliance/",
    ],
)
def test_pages_and_api_keep_working_while_redis_is_down(path: str, client_as: Any, api_as: Any, settings: Any) -> None:
    with contextlib.suppress(Conflict):
        create_topic("local", "orders", partitions=1, replication_factor=1)
    settings.CACHES = DEAD_REDIS
    client = api_as("admin") if path.startswith("/api/") else client_as("admin")
    response = client.get(path)
    assert response.status_code == 200, response.content[:300]
