"""An operator produces an event in headless Chromium: from the topic page to the form, headers
added with the page's own script, a preview, the send, and the event read back from the broker."""

from __future__ import annotations

import json
import time
import uuid
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.conftest import independent_client_config, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "pw-Browser-Produce-1"


@pytest.fixture(autouse=True)
def console_errors(page: Any) -> Iterator[list[str]]:
    """Errors the browser logged; a Content-Security-Policy violation fails the test."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield errors
    assert [e for e in errors if "Content Security Policy" in e] == []


def _log_in(page: Any, live_url: str, user: Any) -> None:
    page.goto(live_url + "/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/clusters/local/")


def _read_back(bootstrap: str, topic: str, partition: int, offset: int) -> Any:
    consumer = Consumer(independent_client_config(bootstrap, **{"group.id": f"check-{uuid.uuid4().hex[:8]}"}))
    try:
        consumer.assign([TopicPartition(topic, partition, offset)])
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and not message.error():
                return message
        raise AssertionError(f"nothing at {topic}/{partition}@{offset}")
    finally:
        consumer.close()


def test_an_operator_previews_then_sends_an_event_and_sees_where_it_was_written(
    live_url: str, page: Any, make_user: Any, kafka_admin: AdminClient, kafka_bootstrap: str, console_errors: list[str]
) -> None:
    topic = f"br-produce-{uuid.uuid4().hex[:8]}"
    kafka_admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])[topic].result(timeout=10)
    failed: list[str] = []
    page.on(
        "response",
        lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 and "favicon" not in r.url else None,
    )
    _log_in(page, live_url, make_user("operator", password=PASSWORD))

    page.goto(f"{live_url}/clusters/local/topics/{topic}/")
    page.click("a.button:has-text('Produce')")
    page.wait_for_url(f"**/clusters/local/topics/{topic}/produce/")

    page.fill("#id_key", "order-1001")
    page.select_option("#id_value_format", "json")
    page.fill("#id_value", '{"order": 1001, "status": "PAID", "items": [{"sku": "A-1", "qty": 2}]}')
    page.click("#format-json")  # the page's script pretty-prints it
    assert '\n  "order": 1001,' in page.input_value("#id_value")
    page.locator("input[name=header_key]").last.fill("source")
    page.locator("input[name=header_value]").last.fill("web")
    page.click("#add-header")
    page.locator("input[name=header_key]").last.fill("trace-id")
    page.locator("input[name=header_value]").last.fill("abc-123")

    # The preview: where it goes, headers, sizes, the decoded value; nothing sent yet.
    page.click("#preview-button")
    page.wait_for_selector(".produce-preview")
    expected = zlib.crc32(b"order-1001") % 3
    assert f"by key → partition {expected}" in page.inner_text(".preview-partition")
    assert "trace-id = abc-123" in page.inner_text(".preview-headers")
    assert '"status": "PAID"' in page.inner_text(".preview-value")
    assert "JSON, valid" in page.inner_text(".preview-value-format")
    assert "produce" in page.url  # an htmx swap, not a navigation
    screenshot(page, "produce-preview")

    # Editing after the preview marks it stale.
    page.fill("#id_key", "order-1002")
    assert page.locator(".stale-note").is_visible()
    page.fill("#id_key", "order-1001")

    page.click("#send-button")
    page.wait_for_selector("#produced")
    produced = page.locator("#produced")
    partition, offset = int(produced.get_attribute("data-partition")), int(produced.get_attribute("data-offset"))
    assert (partition, offset) == (expected, 0)
    assert f"partition {partition} at offset {offset}" in produced.inner_text()
    screenshot(page, "produce-sent")

    message = _read_back(kafka_bootstrap, topic, partition, offset)
    assert message.key() == b"order-1001"
    assert json.loads(message.value()) == {"order": 1001, "status": "PAID", "items": [{"sku": "A-1", "qty": 2}]}
    assert message.headers() == [("source", b"web"), ("trace-id", b"abc-123")]
    assert failed == []
    assert [e for e in console_errors if "Failed to load resource" not in e] == []  # no script error


def test_bad_json_is_shown_with_its_line_and_a_copy_link_prefills_the_form(
    live_url: str, page: Any, make_user: Any, kafka_admin: AdminClient, kafka_bootstrap: str
) -> None:
    topic = f"br-produce-{uuid.uuid4().hex[:8]}"
    kafka_admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])[topic].result(timeout=10)
    _log_in(page, live_url, make_user("operator", password=PASSWORD))
    query = urlencode(
        {"key": "k-7", "value": '{"a": 1}', "headers": json.dumps([{"key": "h", "value": "v"}]), "partition": "1"}
    )
    page.goto(f"{live_url}/clusters/local/topics/{topic}/produce/?{query}")
    assert page.input_value("#id_key") == "k-7"
    assert page.input_value("#id_partition") == "1"
    assert page.input_value("#id_value_format") == "json"
    assert page.locator("input[name=header_key]").first.input_value() == "h"

    page.fill("#id_value", '{\n  "a": 1,\n  "b": \n}')
    page.click("#preview-button")
    page.wait_for_selector("#preview .error-card")
    assert "line 4, column 1" in page.inner_text("#preview")
    screenshot(page, "produce-bad-json")
    page.click("#send-button")
    page.wait_for_selector(".field-error[data-field=value]")
    assert "line 4, column 1" in page.inner_text(".field-error[data-field=value]")
    assert page.locator("#produced").count() == 0

    consumer = Consumer(independent_client_config(kafka_bootstrap, **{"group.id": f"c-{uuid.uuid4().hex[:6]}"}))
    try:
        assert [consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in (0, 1)] == [0, 0]
    finally:
        consumer.close()
