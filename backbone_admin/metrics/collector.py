"""One scrape: every source of settings.METRICS_SOURCES, read from the database and the cache only.

A source is a function `(Scrape) -> iterable of metric families` kept in the app whose tables it
reads (topics.metrics, streams.jobs.metrics, backbone_admin.metrics.health): the sources are
named in settings, so this floor never imports the apps above it. No source calls Kafka —
the beat measured everything already — so a scrape costs the same whether a cluster answers or not.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string
from prometheus_client import CollectorRegistry, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from backbone_admin.clusters import all_clusters

log = logging.getLogger("backbone.metrics")


@dataclass(frozen=True)
class Scrape:
    now: float  # time.time() at the start of the scrape: ages are counted from it
    clusters: tuple[str, ...]  # the configured clusters; rows of others are left out
    memo: dict[str, Any] = field(default_factory=dict)  # what several sources read, read once per scrape


Source = Callable[[Scrape], Iterable[Metric]]


@lru_cache(maxsize=1)
def configured_sources() -> dict[str, Source]:
    return {name: import_string(path) for name, path in settings.METRICS_SOURCES.items()}


class ConsoleCollector(Collector):
    """The console's own metrics; a failing source shows as `backbone_metrics_source_up` 0, the others still count."""

    def __init__(self, sources: Mapping[str, Source]) -> None:
        self.sources = dict(sources)

    def collect(self) -> Iterator[Metric]:
        scrape = Scrape(now=time.time(), clusters=tuple(c.name for c in all_clusters()))
        up = GaugeMetricFamily(
            "backbone_metrics_source_up",
            "1 when the source's numbers were read for this scrape, 0 when it failed.",
            labels=["source"],
        )
        for name, source in self.sources.items():
            try:
                families = list(source(scrape))
            except Exception:
                log.exception("metrics source %s failed", name)
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            yield from families
        yield up


def scrape_registry(sources: Mapping[str, Source] | None = None) -> CollectorRegistry:
    """A registry for one scrape: the request histograms of every web process, and the console's sources."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Every web process writes its own file; this reads them all, whichever process answers.
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        from backbone_admin.metrics.middleware import REQUESTS_REGISTRY

        registry.register(_Forward(REQUESTS_REGISTRY))
    registry.register(ConsoleCollector(configured_sources() if sources is None else sources))
    return registry


class _Forward(Collector):
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        return iter(self.registry.collect())
