"""Cluster health as the beat last measured it, kept for scrapes (which never ask a cluster themselves).

The health beat (backbone_admin.tasks.check_clusters) hands its answers to `remember`. They are
kept longer than the pages' short health cache: a scrape between two beats still has them, and
`backbone_cluster_check_age_seconds` shows a beat that stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.conf import settings
from django.core.cache import cache
from prometheus_client.core import GaugeMetricFamily, Metric

from backbone_admin.kafka import ClusterHealth
from backbone_admin.metrics.collector import Scrape

log = logging.getLogger("backbone.metrics")


def _key(name: str) -> str:
    return f"metrics:cluster-health:{name}"


def remember(healths: list[ClusterHealth]) -> None:
    # Ten beats: after that a cluster's health is unknown (left out) rather than shown stale.
    keep = max(60, int(10 * float(settings.CLUSTER_HEALTH_INTERVAL)))
    try:
        cache.set_many({_key(h.name): h for h in healths}, timeout=keep)
    except Exception:  # the beat's own work (pushing health to the pages) goes on
        log.warning("cannot keep cluster health for /metrics", exc_info=True)


def clusters(scrape: Scrape) -> Iterator[Metric]:
    kept = cache.get_many([_key(name) for name in scrape.clusters])
    labels = ["cluster"]
    up = GaugeMetricFamily(
        "backbone_cluster_up", "1 when the cluster answered the last health check, else 0.", labels=labels
    )
    seconds = GaugeMetricFamily(
        "backbone_cluster_response_seconds", "How long the cluster took to answer the last health check.", labels=labels
    )
    age = GaugeMetricFamily(
        "backbone_cluster_check_age_seconds", "Seconds since the last health check of the cluster.", labels=labels
    )
    brokers = GaugeMetricFamily("backbone_cluster_brokers", "Brokers in the cluster's metadata.", labels=labels)
    offline = GaugeMetricFamily(
        "backbone_cluster_offline_partitions", "Partitions without a leader at the last check.", labels=labels
    )
    under = GaugeMetricFamily(
        "backbone_cluster_under_replicated_partitions",
        "Partitions with fewer in-sync replicas than replicas.",
        labels=labels,
    )
    for name in scrape.clusters:
        health = kept.get(_key(name))
        if not isinstance(health, ClusterHealth):
            continue  # never checked, or not for ten beats: unknown, not down
        up.add_metric([name], 0 if health.status == "down" else 1)
        age.add_metric([name], max(0.0, scrape.now - health.checked_at))
        overview = health.overview
        if health.status != "down" and overview is not None:
            seconds.add_metric([name], overview.elapsed_ms / 1000)
            brokers.add_metric([name], len(overview.brokers))
            offline.add_metric([name], overview.offline_partitions)
            under.add_metric([name], overview.under_replicated_partitions)
    return iter([up, seconds, age, brokers, offline, under])
