from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client


def _logged_in(make_user: Any) -> Client:
    # The checks (addresses, error texts) are for logged-in callers; anonymous probes get the status only.
    client = Client()
    client.force_login(make_user(None))
    return client


@pytest.mark.django_db
def test_healthz_is_ok_when_database_redis_and_cluster_answer(make_user: Any) -> None:
    response = _logged_in(make_user).get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok", "cluster:local": "ok"}}


@pytest.mark.django_db
def test_healthz_is_503_with_the_reason_when_the_default_cluster_is_down(
    down_cluster: str, settings: Any, make_user: Any
) -> None:
    settings.DEFAULT_CLUSTER = "down"
    cache.delete("cluster-health:down")
    response = _logged_in(make_user).get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert f"unreachable at {down_cluster}" in body["checks"]["cluster:down"]


@pytest.mark.django_db
def test_healthz_is_503_when_redis_is_down(settings: Any, make_user: Any) -> None:
    client = _logged_in(make_user)  # the session is in the database, not in Redis
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"].startswith("unavailable")
