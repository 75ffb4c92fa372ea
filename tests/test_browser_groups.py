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
    page.click("nav.mainnav >> text=Consumer groups")
    page.wait_for_url("**/clusters/local/groups/")
    page.fill("#group-search", prefix)
    page.click("button[name=refresh]")  # the list is cached for GROUPS_CACHE_TTL; the group is new
    row = page.locator(f"tr[data-group='{group}']")
    row.wait_for()
    assert row.locator("td").nth(5).inner_text() == "3"
    assert row.locator("svg.sparkline polyline").count() == 1
    screenshot(page, "groups-list")

    # The group: lag per partition, the history chart, then a rewind preview.
    row.locator("a").first.click()
    page.wait_for_url(f"**/clusters/local/groups/{group}/")
    assert page.inner_text("#total-lag") == "3"
    assert page.locator(f"tr[data-partition='{topic}[0]'] td.committed").inner_text() == "9"
    assert page.locator(".lag-chart svg polyline").count() == 1
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
