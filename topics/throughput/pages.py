"""What the pages show of throughput: a topic's chart, the overview's totals and busiest topics."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from topics.groups import charts
from topics.groups.history import DEFAULT_RANGE, RANGES
from topics.throughput import consumption, series
from topics.throughput.series import TopicVisible

APPENDED = "events appended per second"


def topic_context(cluster: str, topic: str, range_name: str | None) -> dict[str, Any]:
    """The topic page's throughput: the last interval's rate and a chart over the chosen range."""
    chosen = range_name if range_name in RANGES else DEFAULT_RANGE
    at, rates = series.current_rates(cluster)
    return {
        "throughput_chart": charts.rate_chart(
            "throughput-chart-data", series.topic_series(cluster, topic, chosen), chosen, APPENDED
        ),
        "throughput_now": None if at is None else rates.get(topic, 0.0),
        "throughput_at": at,
        "throughput_range": chosen,
        "throughput_ranges": list(RANGES),
        "throughput_interval": f"{float(settings.THROUGHPUT_SAMPLE_INTERVAL):g}",
    }


def overview_context(cluster: str, topic_visible: TopicVisible) -> dict[str, Any]:
    """The cluster overview's flow: events/s in and out over the visible topics, the busiest ones, the last hour."""
    at, rates = series.current_rates(cluster, topic_visible, internal=False)
    return {
        "flow_at": at,
        "flow_in": None if at is None else round(sum(rates.values()), 3),
        "flow_out": consumption.cluster_consumed(cluster, topic_visible),
        "busiest": series.busiest(cluster, topic_visible),
        "flow_chart": charts.rate_chart(
            "cluster-throughput-data",
            series.cluster_series(cluster, "1h", topic_visible),
            "1h",
            "events appended per second",
        ),
    }
