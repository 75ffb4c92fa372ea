"""An admin's path through the broker pages in headless Chromium: from the overview to the
brokers, the configs filtered as they type, a change previewed, applied and reset — checked on
the broker by an independent client."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

from backbone_admin.kafka import BackboneError
from backbone_admin.kafka.brokers import alter_broker_configs
from tests.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WIDE, NARROW = {"width": 1280, "height": 800}, {"width": 390, "height": 844}


@pytest.fixture(autouse=True)
def console_errors(page: Any) -> Iterator[list[str]]:
    """Errors the browser logged; a Content-Security-Policy violation fails the test."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield errors
    assert [e for e in errors if "Content Security Policy" in e] == []


def _login(page: Any, live_url: str, make_user: Any, role: str) -> None:
    user = make_user(role, password="pw-Browser-4")
    page.goto(live_url + "/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "pw-Browser-4")
    page.click("button[type=submit]")
    page.wait_for_url("**/clusters/local/")


def _broker_value(kafka_admin: AdminClient, broker: int, name: str) -> tuple[str, int]:
    [future] = kafka_admin.describe_configs([ConfigResource(ResourceType.BROKER, str(broker))]).values()
    entry = future.result(10)[name]
    raw: Any = entry.source
    return entry.value, int(getattr(raw, "value", raw))


def test_a_viewer_finds_the_brokers_from_the_overview(
    live_url: str, page: Any, make_user: Any, kafka_admin: AdminClient
) -> None:
    nodes = kafka_admin.describe_cluster(request_timeout=10).result(10).nodes
    _login(page, live_url, make_user, "viewer")
    page.click("text=configs →")
    page.wait_for_url("**/clusters/local/brokers/")
    assert page.locator("table.broker-grid tbody tr[data-broker]").count() == len(nodes)
    for size, suffix in ((WIDE, "1280"), (NARROW, "390")):
        page.set_viewport_size(size)
        screenshot(page, f"brokers-list-{suffix}")
    page.set_viewport_size(WIDE)
    page.click("text=Cluster-wide configs")
    page.wait_for_url("**/clusters/local/brokers/default/configs/")
    # A viewer reads; the editor is an admin's.
    assert page.locator("input[name^='cfg:']").count() == 0
    if page.locator("#no-answer").count() == 0:  # Kafka's 270 rows, narrowed for a readable screenshot
        page.fill("#broker-config-search", "log.retention")
    for size, suffix in ((WIDE, "1280"), (NARROW, "390")):
        page.set_viewport_size(size)
        screenshot(page, f"brokers-default-configs-viewer-{suffix}")


@pytest.mark.real_kafka
def test_an_admin_filters_the_configs_previews_a_change_applies_and_resets_it(
    live_url: str, page: Any, make_user: Any, kafka_admin: AdminClient
) -> None:
    broker = min(n.id for n in kafka_admin.describe_cluster(request_timeout=10).result(10).nodes)
    name = "log.cleaner.threads"
    before = _broker_value(kafka_admin, broker, name)
    new = str(int(before[0]) + 1)
    try:
        _login(page, live_url, make_user, "admin")
        page.set_viewport_size(WIDE)
        page.goto(f"{live_url}/clusters/local/brokers/{broker}/configs/")
        rows = page.locator("#broker-configs tbody tr[data-config]")
        total = rows.count()
        assert total > 100  # Kafka reports every broker config

        # The filter narrows the table as one types, by name or by value.
        page.fill("#broker-config-search", "cleaner.thr")
        visible = page.locator("#broker-configs tbody tr[data-config]:visible")
        assert [visible.nth(i).get_attribute("data-config") for i in range(visible.count())] == [name]
        assert page.inner_text("#broker-config-count") == f"1 of {total} configs"
        screenshot(page, "brokers-configs-filtered-1280")

        # A change previewed: before → after in the page, nothing on the broker yet.
        page.fill(f"input[name='cfg:{name}']", new)
        page.click("#broker-preview")
        diff = page.locator(f"#preview tr[data-config='{name}']")
        diff.wait_for()
        assert diff.locator("td.after").inner_text() == new
        assert _broker_value(kafka_admin, broker, name) == before
        screenshot(page, "brokers-configs-preview-1280")
        page.set_viewport_size(NARROW)
        screenshot(page, "brokers-configs-preview-390")
        page.set_viewport_size(WIDE)

        page.click("#broker-config-form button[type=submit].primary >> nth=0")
        page.wait_for_url(f"**/clusters/local/brokers/{broker}/configs/")
        assert f"Changed on broker {broker}: {name}" in page.inner_text("body")
        for _ in range(100):  # Kafka applies the change to the broker just after it answers
            if _broker_value(kafka_admin, broker, name) == (new, 2):
                break
            time.sleep(0.1)
        assert _broker_value(kafka_admin, broker, name) == (new, 2)

        # Reset: the broker's own value removed, what was there before applies again.
        page.reload()
        page.fill("#broker-config-search", "cleaner.thr")
        assert "dynamic for this broker" in page.locator(f"tr[data-config='{name}'] td.source").inner_text()
        page.check(f"input[name='reset:{name}']")
        page.click("#broker-preview")
        page.locator(f"#preview tr[data-config='{name}']").wait_for()
        assert "reset" in page.inner_text(f"#preview tr[data-config='{name}'] td.after")
        page.click("#broker-config-form button[type=submit].primary >> nth=0")
        page.wait_for_url(f"**/clusters/local/brokers/{broker}/configs/")
        for _ in range(100):
            if _broker_value(kafka_admin, broker, name) == before:
                break
            time.sleep(0.1)
        assert _broker_value(kafka_admin, broker, name) == before
    finally:
        with contextlib.suppress(BackboneError):
            alter_broker_configs("local", broker, delete=[name])
