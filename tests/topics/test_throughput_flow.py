"""A group's consumption from the lag and throughput histories: consumed/s = produced/s - Δlag/s,
whether it catches up and when; the cluster's events/s out."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from topics.groups.models import LagSample
from topics.throughput import consumption, series
from topics.throughput.models import ThroughputSample

pytestmark = pytest.mark.django_db


def _produce_steadily(now: datetime, topic: str, per_second: float, minutes: int = 10) -> None:
    """Throughput samples every 30 s, as the sampler writes them, `per_second` events/s on `topic`."""
    for step in range(minutes * 2, -1, -1):
        ThroughputSample.objects.create(
            cluster="local",
            sampled_at=now - timedelta(seconds=30 * step + 7),  # not aligned with the lag samples
            seconds=30,
            topics={topic: int(per_second * 30), "other": 999},
        )


def _lag(now: datetime, group: str, topic: str, points: list[tuple[int, int]]) -> None:
    for seconds_ago, lag in points:
        LagSample.objects.create(
            cluster="local",
            group=group,
            sampled_at=now - timedelta(seconds=seconds_ago),
            total_lag=lag,
            topics={topic: lag},
        )


def test_a_group_whose_lag_shrinks_is_catching_up_with_an_eta() -> None:
    now = timezone.now()
    _produce_steadily(now, "orders", 10)
    _lag(now, "billing", "orders", [(240, 1000), (150, 700), (60, 400)])

    flow = consumption.flow("local", "billing")

    assert flow.status == "catching up" and flow.lag == 400
    assert flow.produced == pytest.approx(10, rel=0.02)
    # 600 events fewer in 180 s while 10/s arrive: it consumed 10 + 3.33 events/s.
    assert flow.consumed == pytest.approx(10 + 600 / 180, rel=0.02)
    assert flow.eta_seconds == pytest.approx(400 / (600 / 180), rel=0.01) and flow.eta_human == "2 min"


def test_a_group_whose_lag_grows_is_falling_behind_and_a_caught_up_one_says_so() -> None:
    now = timezone.now()
    _produce_steadily(now, "orders", 10)
    _lag(now, "analytics", "orders", [(200, 100), (20, 1000)])
    _lag(now, "orders-service", "orders", [(200, 5), (20, 0)])

    behind = consumption.flow("local", "analytics")
    assert behind.status == "falling behind" and behind.eta_seconds is None
    assert behind.consumed == pytest.approx(10 - 900 / 180, rel=0.02)
    caught = consumption.flow("local", "orders-service")
    assert (caught.status, caught.lag) == ("caught up", 0)
    assert consumption.flow("local", "nobody").status == "unknown"


def test_only_visible_topics_count_and_the_series_and_cluster_total_follow() -> None:
    now = timezone.now()
    _produce_steadily(now, "orders", 10, minutes=60)
    for seconds_ago in range(3000, -1, -300):
        LagSample.objects.create(
            cluster="local",
            group="billing",
            sampled_at=now - timedelta(seconds=seconds_ago + 3),
            total_lag=50,
            topics={"orders": 50, "secret": 0},
        )

    points = consumption.series("local", "billing", "1h")
    assert len(points) == 10
    assert all(p == pytest.approx(10, rel=0.02) and c == pytest.approx(10, rel=0.02) for _, p, c in points)
    # A user who may not see `orders` sees no production and no consumption on it.
    hidden = consumption.series("local", "billing", "1h", topic_visible=lambda t: t != "orders")
    assert all(p == 0 and c == 0 for _, p, c in hidden)
    assert consumption.flow("local", "billing").status == "keeping pace"
    assert consumption.cluster_consumed("local") == pytest.approx(10, rel=0.05)
    assert consumption.cluster_consumed("local", lambda t: t == "secret") == 0


def test_the_sparklines_and_the_topic_series_read_each_topic_out_of_the_sparse_rows() -> None:
    now = timezone.now()
    for step in range(4, 0, -1):
        ThroughputSample.objects.create(
            cluster="local",
            sampled_at=now - timedelta(seconds=300 * step - 1),  # each in a bucket of its own
            seconds=300,
            topics={"orders.eu": 300 * step, "__consumer_offsets": 30},
        )
    trends = series.recent("local", ["orders.eu", "quiet", "__consumer_offsets"])
    assert trends["orders.eu"] == [4.0, 3.0, 2.0, 1.0]
    assert trends["quiet"] == [0.0, 0.0, 0.0, 0.0]  # sampled and not moving: zero, not unknown
    assert [v for _, v in series.topic_series("local", "orders.eu", "1h")] == [4.0, 3.0, 2.0, 1.0]
    # Kafka's own topics are not the backbone's traffic: left out of the cluster's total.
    assert [v for _, v in series.cluster_series("local", "1h")] == [4.0, 3.0, 2.0, 1.0]
