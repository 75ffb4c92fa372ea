"""An operator's path in headless Chromium: the group list, a group with its lag chart, a
rewind previewed and then applied — checked on the broker by an independent client."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from django.utils import timezone

from tests.conftest import independent_client_config, screenshot
from tests.topics.groups.conftest import produce
from topics.models import LagSample

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def console_errors(page: Any) -> Iterator[list[str]]:
    """Errors the browser logged; a Content-Security-Policy violation fails the test."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield errors
    assert [e for e in errors if "Content Security Policy" in e] == []


def _committed(kafka_admin: AdminClient, group: str) -> dict[int, int]:
    future = kafka_admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group]
    return {tp.partition: tp.offset for tp in future.result(10).topic_partitions if tp.offset >= 0}


def test_an_operator_finds_a_group_previews_a_rewind_and_applies_it(
    live_url: str, page: Any, make_user: Any, kafka_admin: AdminClient, kafka_bootstrap: str
) -> None:
    prefix = f"bg-{uuid.uuid4().hex[:8]}"
    topic, group = f"{prefix}.orders", f"{prefix}-invoicing"
    kafka_admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(10)
    produce(Producer(independent_client_config(kafka_bootstrap, **{"linger.ms": 0})), topic, [12, 8])
    consumer = Consumer(independent_client_config(kafka_bootstrap, **{"group.id": group}))
    consumer.commit(offsets=[TopicPartition(topic, 0, 9), TopicPartition(topic, 1, 8)], asynchronous=False)
    consumer.close()
    now = timezone.now()
    for minutes, lag in ((55, 0), (45, 4), (35, 9), (25, 14), (15, 6), (5, 3)):
        LagSample.objects.create(
            cluster="local",
            group=group,
            sampled_at=now - timedelta(minutes=minutes),
            total_lag=lag,
            topics={topic: lag},
        )
    user = make_user("operator", password="pw-Browser-3")
    page.on("dialog", lambda dialog: dialog.accept())  # the apply button asks for confirmation

    page.goto(live_url + "/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "pw-Browser-3")
    page.click("button[type=submit]")
    page.wait_for_url("**/clusters/local/")

    # The list, searched through htmx, with the group's lag and its sparkline.
    page.click("nav.mainnav >> text=Groups")
    page.wait_for_url("**/clusters/local/groups/")
    page.fill("#group-search", prefix)
    page.click("button[name=refresh]")  # the list is cached for GROUPS_CACHE_TTL; the group is new
    row = page.locator(f"tr[data-group='{group}']")
    row.wait_for()
    assert row.locator("td").nth(5).inner_text() == "3"
    row.locator(".sparkline .uplot canvas").wait_for()  # drawn by charts.js with uPlot
    screenshot(page, "groups-list")

    # The group: lag per partition, the history chart, then a rewind preview.
    row.locator("a").first.click()
    page.wait_for_url(f"**/clusters/local/groups/{group}/")
    assert page.inner_text("#total-lag") == "3"
    assert page.locator(f"tr[data-partition='{topic}[0]'] td.committed").inner_text() == "9"
    page.locator(".lag-chart .uplot canvas").first.wait_for()
    page.select_option("#rewind-to", "shift")
    assert page.is_enabled("#rewind-value")
    page.fill("#rewind-value", "-5")
    page.click("#rewind-preview")
    page.wait_for_selector("#plan-re-consumed")
    assert page.inner_text("#plan-re-consumed") == "10"
    assert page.locator(f".rewind-plan tr[data-partition='{topic}[1]'] td.new").inner_text() == "3"
    screenshot(page, "group-rewind-preview")
    assert _committed(kafka_admin, group) == {0: 9, 1: 8}  # a preview changes nothing

    page.click("#rewind-apply")
    page.wait_for_selector("ul.messages >> text=Rewind applied to 2 partition(s)")
    assert page.locator(f"tr[data-partition='{topic}[0]'] td.committed").inner_text() == "4"
    assert page.inner_text("#total-lag") == "13"
    screenshot(page, "group-rewind-applied")
    assert _committed(kafka_admin, group) == {0: 4, 1: 3}


def test_a_viewer_sees_partitions_without_a_commit_apart_from_the_lag(
    live_url: str, page: Any, make_user: Any, kafka_admin: AdminClient, kafka_bootstrap: str
) -> None:
    prefix = f"bu-{uuid.uuid4().hex[:8]}"
    topic, group = f"{prefix}.orders", f"{prefix}-billing"
    kafka_admin.create_topics([NewTopic(topic, 3, 1)])[topic].result(10)
    produce(Producer(independent_client_config(kafka_bootstrap, **{"linger.ms": 0})), topic, [12, 8, 6])
    consumer = Consumer(independent_client_config(kafka_bootstrap, **{"group.id": group}))
    consumer.commit(offsets=[TopicPartition(topic, 0, 9)], asynchronous=False)  # lag 3; 8 + 6 not yet committed
    consumer.close()
    now = timezone.now()
    for minutes, lag, uncommitted in ((55, 0, 30), (45, 2, 24), (35, 5, 20), (25, 4, 16), (15, 3, 14), (5, 3, 14)):
        LagSample.objects.create(
            cluster="local",
            group=group,
            sampled_at=now - timedelta(minutes=minutes),
            total_lag=lag,
            uncommitted=uncommitted,
            topics={topic: lag},
        )
    user = make_user("viewer", password="pw-Browser-4")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(live_url + "/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "pw-Browser-4")
    page.click("button[type=submit]")
    page.wait_for_url("**/clusters/local/")

    # The list: the lag of the committed partition, the uncommitted events in their own column.
    page.goto(f"{live_url}/clusters/local/groups/?search={prefix}&refresh=1")
    row = page.locator(f"tr[data-group='{group}']")
    row.wait_for()
    assert row.locator("td").nth(5).inner_text() == "3"
    assert row.locator("td.uncommitted").inner_text() == "14"
    assert row.locator("td.members").inner_text() == "no members"
    screenshot(page, "groups-list-uncommitted-1280")

    # The group: "no commit yet" on partitions 1 and 2 with their events, and the figure apart.
    row.locator("a").first.click()
    page.wait_for_url(f"**/clusters/local/groups/{group}/")
    assert page.inner_text("#total-lag") == "3" and page.inner_text("#uncommitted") == "14"
    assert (page.inner_text("#group-state"), page.inner_text("#group-state-members")) == ("Empty", "no members")
    for partition, events in ((1, "8"), (2, "6")):
        cells = page.locator(f"tr[data-partition='{topic}[{partition}]']")
        assert cells.locator("td.committed").inner_text() == "no commit yet"
        assert cells.locator("td.uncommitted").inner_text().split() == [events, "from", "start"]
        assert "auto.offset.reset" in (cells.locator("td.uncommitted").get_attribute("title") or "")
    page.locator(".lag-chart .uplot canvas").first.wait_for()
    # The events not yet committed are stacked on the lag: a second line in the chart's legend.
    assert "not yet committed" in page.locator(".lag-chart .u-legend").inner_text()
    screenshot(page, "group-uncommitted-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "group-uncommitted-390")

    # The topic page agrees: the same state, the same figure, the same partitions without a commit.
    page.goto(f"{live_url}/clusters/local/topics/{topic}/")
    topic_row = page.locator(f"table.topic-groups tr[data-group='{group}']")
    assert topic_row.locator("td.group-state .badge").inner_text() == "Empty"
    assert topic_row.locator("td.uncommitted").inner_text() == "14"
    assert topic_row.locator(".uncommitted-cell").all_inner_texts() == [
        "p1: no commit yet · 8 from start",
        "p2: no commit yet · 6 from start",
    ]
    screenshot(page, "topic-groups-uncommitted-390")
    page.set_viewport_size({"width": 1280, "height": 800})
    screenshot(page, "topic-groups-uncommitted-1280")
    page.goto(f"{live_url}/clusters/local/groups/?search={prefix}")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "groups-list-uncommitted-390")
