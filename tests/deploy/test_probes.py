"""The web pods' probes (deploy/kubernetes/web.yaml) answered by the console under the manifests' settings.

Liveness must not fail when a dependency is down (restarting every pod never brings Kafka or Redis
back); readiness follows the database and Redis but not Kafka, so the console stays up to show a
broker outage.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from tests.deploy.manifests import applied_docs, find

WEB = find(applied_docs(), "Deployment", "backbone-console-web")["spec"]["template"]["spec"]["containers"][0]
LIVE = WEB["livenessProbe"]["httpGet"]
READY = WEB["readinessProbe"]["httpGet"]
ENV = find(applied_docs(), "ConfigMap", "backbone-console-env")["data"]


def probe(http_get: dict[str, Any], host: str | None = None) -> int:
    """What the kubelet gets: plain HTTP to the pod, with the probe's Host header (status only)."""
    headers = {h["name"]: h["value"] for h in http_get.get("httpHeaders", [])}
    return Client().get(http_get["path"], HTTP_HOST=host or headers["Host"]).status_code


@pytest.fixture
def manifest_settings(settings: Any) -> None:
    # config.yaml: HTTPS=1 (plain HTTP redirects to https, /healthz excepted) and its ALLOWED_HOSTS.
    settings.ALLOWED_HOSTS = ENV["ALLOWED_HOSTS"].split(",")
    settings.SECURE_SSL_REDIRECT = ENV["HTTPS"] == "1"


@pytest.fixture
def redis_down(settings: Any) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }


@pytest.mark.django_db
def test_probes_answer_200_with_the_manifests_host_and_https_settings(manifest_settings: None) -> None:
    assert LIVE["path"] != READY["path"]
    assert probe(LIVE) == 200
    assert probe(READY) == 200
    # Why the probes send a Host header: the pod's address is not an allowed host.
    assert probe(LIVE, host="10.244.1.7:8000") == 400
    # And why /healthz is exempt from the https redirect: another page would answer 301.
    assert Client().get("/login/", HTTP_HOST="localhost").status_code == 301


@pytest.mark.django_db
def test_liveness_and_readiness_stay_up_when_the_default_cluster_is_down(
    down_cluster: str, settings: Any, manifest_settings: None
) -> None:
    settings.DEFAULT_CLUSTER = "down"
    cache.delete("cluster-health:down")
    assert probe(LIVE) == 200
    assert probe(READY) == 200
    # The full check (the image's HEALTHCHECK, load balancers) still says the cluster is down.
    assert Client().get("/healthz", HTTP_HOST="localhost").status_code == 503


@pytest.mark.django_db
def test_liveness_stays_up_and_readiness_fails_when_redis_is_down(manifest_settings: None, redis_down: None) -> None:
    assert probe(LIVE) == 200
    assert probe(READY) == 503


def test_an_unknown_probe_is_refused() -> None:
    assert Client().get("/healthz?probe=alive").status_code == 400
