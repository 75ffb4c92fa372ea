"""Throughput: every topic's end offsets sampled on the beat → events/s per topic and per cluster.

Public interface (the Prometheus endpoint codes against it): `latest(cluster)` → `Latest`.
The sampler is `topics.throughput.sampler`, the series for charts `topics.throughput.series`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["Latest", "latest"]


@dataclass(frozen=True)
class Latest:
    """A cluster's last throughput sample.

    `ends`: the sum of the end offsets of each topic's partitions; `rates`: events/s per topic
    over the interval before `at` (a topic that did not move may be absent: read it as 0.0).
    """

    at: datetime
    ends: dict[str, int] = field(default_factory=dict)
    rates: dict[str, float] = field(default_factory=dict)

    @property
    def total_rate(self) -> float:
        return sum(self.rates.values())


def latest(cluster: str) -> Latest | None:
    """The last sample of a cluster; None before the first one (or for an unknown cluster)."""
    from topics.throughput.models import ThroughputLatest  # models load after the app registry

    row = ThroughputLatest.objects.filter(cluster=cluster).first()
    if row is None:
        return None
    return Latest(
        at=row.sampled_at,
        ends={t: int(v) for t, v in (row.ends or {}).items()},
        rates={t: float(v) for t, v in (row.rates or {}).items()},
    )
