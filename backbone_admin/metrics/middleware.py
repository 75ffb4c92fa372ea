"""Request latency of the console itself: `backbone_http_request_duration_seconds`.

Several web processes answer one console (`make run` starts two on one socket; a deployment
runs replicas), and a scrape lands on any of them, so the numbers cannot live in one process.
They are kept with prometheus_client's multiprocess mode — each process writes its counts to
a memory-mapped file of its own in PROMETHEUS_MULTIPROC_DIR, and the process that answers a
scrape adds up every file — rather than in Redis: no network round trip (nor a Redis outage)
on every request, and it is the client library's documented mechanism, exact to the request.
Replicas in other containers are separate scrape targets (Prometheus adds them up), as usual;
they never share the directory: files are named by process id, the same in every container.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponseBase
from prometheus_client import CollectorRegistry, Histogram

log = logging.getLogger("backbone.metrics")

_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
if _dir:
    try:
        Path(_dir).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImproperlyConfigured(
            f"PROMETHEUS_MULTIPROC_DIR={_dir} cannot be created ({exc}): name a directory the web processes "
            "may write (all of one machine's web processes share it; e.g. an emptyDir volume)."
        ) from exc

# Used only without PROMETHEUS_MULTIPROC_DIR (one process); otherwise the files are read.
REQUESTS_REGISTRY = CollectorRegistry(auto_describe=False)
REQUEST_SECONDS = Histogram(
    "backbone_http_request_duration_seconds",
    "Time the console took to answer an HTTP request (until the response is handed over; a streamed "
    "body is not timed to its end), by method, route name and status class.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REQUESTS_REGISTRY,
)
# Anything else is counted as `other`: a label per invented method would grow without bound.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestLatencyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        response = self.get_response(request)
        try:
            match = request.resolver_match
            # The route's name, never the path: one series per route, whatever ids the URLs carry.
            route = (match.view_name or match.route) if match else "unmatched"
            method = request.method if request.method in METHODS else "other"
            status = f"{response.status_code // 100}xx"
            REQUEST_SECONDS.labels(method, route, status).observe(time.perf_counter() - started)
        except Exception:  # a metric never costs a request its answer
            log.warning("cannot count the request to %s", request.path, exc_info=True)
        return response
