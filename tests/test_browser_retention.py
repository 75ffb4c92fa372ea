"""An operator's path in headless Chromium: create a topic, set its retention in human
units, then apply a retention policy after seeing its preview — checked on the broker."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

from tests.conftest import independent_client_config, screenshot
from topics.models import RetentionPolicy

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def console_errors(page: Any) -> Iterator[list[str]]:
    """Errors the browser logged; a Content-Security-Policy violation fails the test."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield errors
    assert [e for e in errors if "Content Security Policy" in e] == []


def _retention_ms(kafka_admin: AdminClient, topic: str) -> str:
    resource = ConfigResource(ResourceType.TOPIC, topic)
    entries = kafka_admin.describe_configs([resource])[resource].result(timeout=10)
    return entries["retention.ms"].value


def _log_in(page: Any, live_url: str, user: Any) -> None:
    page.goto(live_url + "/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "pw-Browser-2")
    page.click("button[type=submit]")
    page.wait_for_url("**/clusters/local/")


def test_an_operator_creates_a_topic_sets_retention_and_applies_a_policy_after_its_preview(
    live_url: str, page: Any, make_user: Any, kafka_admin: AdminClient, kafka_bootstrap: str
) -> None:
    topic = f"br-{uuid.uuid4().hex[:8]}.orders"
    _log_in(page, live_url, make_user("operator", password="pw-Browser-2"))

    # Create the topic, with its retention given in human units.
    page.goto(f"{live_url}/clusters/local/topics/new/")
    page.fill("#id_name", topic)
    page.fill("#id_partitions", "1")
    page.fill("#id_retention_time", "3d")
    page.click("button:has-text('Create topic')")
    page.wait_for_url(f"**/clusters/local/topics/{topic}/")
    assert _retention_ms(kafka_admin, topic) == str(3 * 86_400_000)
    screenshot(page, "topic-detail")

    # Change it to 12h, previewing the diff before saving.
    page.goto(f"{live_url}/clusters/local/topics/{topic}/configs/")
    page.fill("input[name='cfg:retention.ms']", "12h")
    page.click("button:has-text('Preview changes')")
    page.wait_for_selector("#preview >> text=12 h")
    screenshot(page, "topic-configs-preview")
    assert _retention_ms(kafka_admin, topic) == str(3 * 86_400_000)  # a preview changes nothing
    page.click("#config-form button[type=submit].primary >> nth=0")
    page.wait_for_url(f"**/clusters/local/topics/{topic}/")
    assert _retention_ms(kafka_admin, topic) == str(12 * 3_600_000)

    # Events older than the policy's limit, then one newer event on its own (TEST_BROKER.md).
    producer = Producer(independent_client_config(kafka_bootstrap, **{"linger.ms": 0}))
    for i in range(4):
        producer.produce(topic, value=f"old-{i}".encode())
    producer.flush(10)
    time.sleep(2.5)
    producer.produce(topic, value=b"new")
    producer.flush(10)

    RetentionPolicy.objects.create(
        name=f"br-{uuid.uuid4().hex[:6]}", topic_pattern=topic, priority=100, configs={"retention.ms": "2000"}
    )

    # The compliance page shows the drift; the preview names the change and its impact.
    page.goto(f"{live_url}/clusters/local/retention/?search={topic}")
    page.check(f"input[name=topics][value='{topic}']")
    page.click("#preview-selected")
    page.wait_for_selector("#preview")
    preview = page.inner_text("#preview")
    assert "12 h" in preview and "2 s" in preview
    assert "4" in preview  # the four old events the broker will delete
    screenshot(page, "retention-preview")
    assert _retention_ms(kafka_admin, topic) == str(12 * 3_600_000)

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#apply-button")
    page.wait_for_selector("#results")
    screenshot(page, "retention-applied")
    assert _retention_ms(kafka_admin, topic) == "2000"
