"""Throughput sparklines for a page of topics: one read of the last hour for the whole page."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django import template

from topics.groups.charts import Chart, sparkline
from topics.throughput.series import recent

register = template.Library()


@register.simple_tag
def rate_sparks(cluster: str, rows: Sequence[Any]) -> dict[str, Chart | None]:
    """{topic: its events/s over the last hour as a sparkline} for the rows (topics the user sees)."""
    trends = recent(cluster, [r.name for r in rows])
    return {
        r.name: sparkline(f"rate-spark-{i}", trends.get(r.name, []), "events/s", "events/s, last hour")
        for i, r in enumerate(rows)
    }


@register.filter
def spark_of(sparks: Mapping[str, Chart | None], name: str) -> Chart | None:
    return sparks.get(name)
