"""Every time series drawn one way, with uPlot, in headless Chromium under the strict CSP: the
topic list's rate sparklines, the topic page's throughput chart, the group page's lag and
consumption charts, the overview's throughput — values on hover, no console error."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from django.utils import timezone

from tests.conftest import independent_client_config, screenshot
from tests.topics.groups.conftest import produce
from topics.listing import invalidate
from topics.models import LagSample
from topics.throughput.models import ThroughputSample
from topics.throughput.sampler import sample_cluster

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def console_errors(page: Any) -> Iterator[list[str]]:
    """Whatever the browser logs as an error (a CSP violation among them) fails the test."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield errors
    assert errors == []


def _hover_middle(page: Any, selector: str) -> None:
    box = page.locator(selector).first.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.9, box["y"] + box["height"] / 2)


def _both_widths(page: Any, name: str) -> None:
    page.set_viewport_size({"width": 1280, "height": 800})
    screenshot(page, f"{name}-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(300)  # the chart follows its card's new width (ResizeObserver)
    screenshot(page, f"{name}-390")
    page.set_viewport_size({"width": 1280, "height": 800})


def test_the_charts_draw_with_uplot_and_show_values_on_hover(
    live_url: str, page: Any, make_user: Any, kafka_admin: AdminClient, kafka_bootstrap: str
) -> None:
    prefix = f"bc-{uuid.uuid4().hex[:8]}"
    busy, quiet, group = f"{prefix}.orders", f"{prefix}.audit", f"{prefix}-analytics"
    for name in (busy, quiet):
        kafka_admin.create_topics([NewTopic(name, 1, 1)])[name].result(10)
    producer = Producer(independent_client_config(kafka_bootstrap, **{"linger.ms": 0}))
    produce(producer, busy, [4])
    produce(producer, quiet, [1])
    now = timezone.now()
    # An hour of history written as the sampler writes it, then two real samples on the broker.
    for minutes in range(58, 0, -3):
        ThroughputSample.objects.create(
            cluster="local",
            sampled_at=now - timedelta(minutes=minutes),
            seconds=180,
            topics={busy: 180 * (2 + minutes % 7), quiet: 18},
        )
    for minutes, lag in ((55, 900), (45, 1400), (35, 1100), (25, 800), (15, 500), (4, 200), (2, 160), (1, 120)):
        LagSample.objects.create(
            cluster="local", group=group, sampled_at=now - timedelta(minutes=minutes), total_lag=lag, topics={busy: lag}
        )
    invalidate("local")
    sample_cluster("local", now - timedelta(seconds=30))
    produce(producer, busy, [6])
    sample_cluster("local", now)
    consumer = Consumer(independent_client_config(kafka_bootstrap, **{"group.id": group}))
    consumer.commit(offsets=[TopicPartition(busy, 0, 2)], asynchronous=False)
    consumer.close()

    user = make_user("viewer", password="pw-Charts-1")
    page.goto(live_url + "/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "pw-Charts-1")
    page.click("button[type=submit]")
    page.wait_for_url("**/clusters/local/")

    # The topic list, sorted by the current rate: the busy topic first, each with a sparkline.
    page.goto(f"{live_url}/clusters/local/topics/?search={prefix}&sort=rate&order=desc")
    rows = page.locator("#topic-rows tr[data-topic]")
    assert [rows.nth(i).get_attribute("data-topic") for i in range(rows.count())] == [busy, quiet]
    row = page.locator(f"tr[data-topic='{busy}']")
    assert row.locator(".rate-now").inner_text() == "0.2/s"  # 6 events in 30 s
    row.locator(".sparkline .uplot canvas").wait_for()
    _hover_middle(page, f"tr[data-topic='{busy}'] .sparkline .u-over")
    assert row.locator(".spark-value").inner_text().endswith("events/s")
    _both_widths(page, "charts-topic-list")

    # The topic page: its throughput over the last hour, a value in the legend on hover.
    page.goto(f"{live_url}/clusters/local/topics/{busy}/")
    page.locator(".throughput-chart .uplot canvas").first.wait_for()
    _hover_middle(page, ".throughput-chart .u-over")
    value = page.locator(".throughput-chart .u-legend .u-series").nth(1).locator(".u-value").inner_text()
    assert value.endswith("events/s") and value != "—"
    assert page.locator(".throughput-chart .chart-fallback").inner_text().startswith("Events appended per second")
    _both_widths(page, "charts-topic")

    # The group page: lag and, beside it, the consumption, with whether it is catching up.
    page.goto(f"{live_url}/clusters/local/groups/{group}/")
    page.locator(".lag-chart .uplot canvas").first.wait_for()
    _hover_middle(page, ".lag-chart .u-over")
    lag_value = page.locator(".lag-chart .u-legend .u-series").nth(1).locator(".u-value").inner_text()
    assert lag_value.endswith("events") and lag_value != "—"
    assert page.inner_text("#flow-status") == "catching up"
    assert page.inner_text("#flow-produced").endswith("/s") and page.inner_text("#flow-produced") != "0.0/s"
    assert page.inner_text("#flow-eta").startswith("caught up in about")
    page.locator(".flow-chart .uplot canvas").first.wait_for()
    _both_widths(page, "charts-group")

    # The overview: events/s in, the busiest topics.
    page.goto(f"{live_url}/clusters/local/")
    page.locator("#health .throughput-chart .uplot canvas").first.wait_for()
    assert busy in page.locator("table.busiest").inner_text()
    _both_widths(page, "charts-overview")
