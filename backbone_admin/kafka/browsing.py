"""Pooled record readers tuned for the message browser: small fetches for pages, large for scans.

Both are `records.Reader`s (assign, read, positions, at_end), with two consumer settings
changed from the general reader:

- `fetch.queue.backoff.ms` 10 (librdkafka: 1000): a partition whose prefetch queue was full,
  or that is assigned again (pages and scans re-assign to stop fetching what they no longer
  need), otherwise waits up to a second before its next fetch. Measured on the test broker:
  a page of 100 merged from 6 partitions at a time 1.2 s → 0.26 s (p50), a 300,000-event
  scan 2.4 s → 0.6 s.
- pages fetch at most 64 KiB per partition: a page needs ~100 events of each partition, and a
  4 MiB fetch per partition is mostly read only to be dropped (p50 0.26 s → 0.16 s).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from confluent_kafka import Consumer

from backbone_admin.clusters import ClusterConfig
from backbone_admin.kafka import records
from backbone_admin.kafka.client import build_client, require_cluster
from backbone_admin.kafka.records import Reader

PAGE_CONFIG: dict[str, Any] = {
    "fetch.queue.backoff.ms": 10,
    "max.partition.fetch.bytes": 64 * 1024,
    "fetch.max.bytes": 1024 * 1024,
}
SCAN_CONFIG: dict[str, Any] = {"fetch.queue.backoff.ms": 10}


class _Pool(records._Pool):
    """The general reader pool, building its consumers with these settings."""

    def __init__(self, extra: dict[str, Any]) -> None:
        super().__init__()
        self.extra = extra

    def take(self, cluster: ClusterConfig) -> Consumer:
        with self.lock:
            idle = self.idle.get(cluster.name, [])
            while idle:
                config, consumer = idle.pop()
                if config == cluster:
                    return consumer
                consumer.close()
        return build_client(lambda _: Consumer(records._consumer_config(cluster, **self.extra)), cluster)


_pools = {"page": _Pool(PAGE_CONFIG), "scan": _Pool(SCAN_CONFIG)}


@contextmanager
def browse_reader(cluster_name: str, *, scan: bool = False) -> Iterator[Reader]:
    """A Reader for a page (small fetches) or a scan (large fetches), returned to its pool after."""
    cluster = require_cluster(cluster_name)
    pool = _pools["scan" if scan else "page"]
    consumer = pool.take(cluster)
    ok = False
    try:
        yield Reader(cluster, consumer)
        ok = True
    finally:
        if ok:
            pool.give_back(cluster, consumer)
        else:
            consumer.close()


def reset_browse_readers() -> None:
    for pool in _pools.values():
        pool.clear()
