"""Ranges in words in headless Chromium: the job start form's presets count the events before Start,
and the rewind form's time presets, its human headline, and Apply disabled while the group is active."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from playwright.sync_api import expect

from streams.jobs.models import Job, JobPartition
from tests.conftest import independent_client_config, screenshot
from tests.topics.groups.conftest import produce

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "pw-Ranges-1"
SIZES = {"laptop": (1280, 800), "phone": (390, 844)}


@pytest.fixture(autouse=True)
def console_errors(page: Any) -> Iterator[list[str]]:
    """Errors the browser logged: none is expected on these pages."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield errors
    assert [e for e in errors if "favicon" not in e] == []


def _log_in(page: Any, live_url: str, make_user: Any) -> None:
    user = make_user("operator", password=PASSWORD)
    page.goto(live_url + "/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/clusters/local/")


def _fits(page: Any, within: str = "main") -> None:
    """Nothing of the page's content reaches past the viewport (the navigation is another test's)."""
    limit = page.viewport_size["width"]
    wide = page.evaluate(
        "([scope, limit]) => Array.from(document.querySelectorAll(scope + ' *'))"
        ".filter(el => el.getBoundingClientRect().right > limit + 1)"
        ".map(el => `${el.tagName}#${el.id}.${el.className} ${Math.round(el.getBoundingClientRect().right)}`)",
        [within, limit],
    )
    assert wide == [], wide


def test_the_job_form_counts_the_last_n_events_before_start(
    live_url: str, page: Any, make_user: Any, kafka_admin: AdminClient, kafka_bootstrap: str
) -> None:
    topic = f"br-ranges-{uuid.uuid4().hex[:8]}"
    kafka_admin.create_topics([NewTopic(topic, 3, 1)])[topic].result(10)
    produce(Producer(independent_client_config(kafka_bootstrap, **{"linger.ms": 0})), topic, [60, 50, 40])
    _log_in(page, live_url, make_user)

    page.goto(f"{live_url}/clusters/local/topics/{topic}/replay/")
    # Everything stored is the default, counted as the page opens.
    page.wait_for_selector("#range-events")
    assert page.locator("#range-events").inner_text() == "150"
    assert page.locator("#id_start_kind").is_hidden()

    page.select_option("#id_range", "last")
    assert page.locator("#id_last_n").is_visible()
    page.fill("#id_last_n", "100")
    expect(page.locator("#range-count")).to_contain_text("the last 100 events")
    assert page.locator("#range-events").inner_text() == "100"

    page.select_option("#id_range", "last_per_partition")
    page.fill("#id_last_n", "45")
    expect(page.locator("#range-count")).to_contain_text("the last 45 events of each partition")
    assert page.locator("#range-events").inner_text() == "130"  # 45 + 45 + 40

    page.select_option("#id_range", "between")
    assert page.locator("#id_from_when").is_visible() and page.locator("#id_to_when").is_visible()
    page.select_option("#id_range", "1h")
    expect(page.locator("#range-count")).to_contain_text("1 hour ago")
    assert page.locator("#range-events").inner_text() == "150"
    page.select_option("#id_range", "custom")
    assert page.locator("#id_start_kind").is_visible()

    page.select_option("#id_range", "last")
    page.fill("#id_last_n", "100")
    expect(page.locator("#range-count")).to_contain_text("the last 100 events")
    page.fill("#id_target_topic", f"{topic}-copy")
    page.check("#id_create_target")
    for name, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        _fits(page)
        screenshot(page, f"ranges-job-form-{name}")
    page.click("#start-job")
    page.wait_for_url("**/jobs/*/")
    job = Job.objects.get(topic=topic)
    assert job.params["start"] == {"last": 100}
    assert sum(p.end_offset - p.start_offset for p in JobPartition.objects.filter(job=job)) == 100


def test_the_job_form_takes_a_time_from_the_picker(
    live_url: str, page: Any, make_user: Any, kafka_admin: AdminClient, kafka_bootstrap: str
) -> None:
    topic = f"br-since-{uuid.uuid4().hex[:8]}"
    kafka_admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(10)
    producer = Producer(independent_client_config(kafka_bootstrap, **{"linger.ms": 0}))
    produce(producer, topic, [6])
    time.sleep(1.5)
    _log_in(page, live_url, make_user)
    page.goto(f"{live_url}/clusters/local/topics/{topic}/export/")
    page.select_option("#id_range", "since")
    # A time after the last event: the range is empty (the log end), not an error.
    page.evaluate(
        "window.backboneTime.set(document.querySelector('#id_from_when').closest('[data-time-picker]'), Date.now())"
    )
    expect(page.locator("#range-count")).to_contain_text("time ")
    assert page.locator("#range-events").inner_text() == "0"
    assert "UTC" in page.locator("#id_from_when ~ [data-time-shown]").inner_text()
    for name, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        _fits(page)
        screenshot(page, f"ranges-job-form-since-{name}")
    page.set_viewport_size({"width": 1280, "height": 800})
    # Typed into the picker (local time): ten minutes before the first event.
    page.fill("#id_from_when", time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - 600)))
    expect(page.locator("#range-events")).to_have_text("6")


def _join(bootstrap: str, group: str, topic: str) -> Consumer:
    consumer = Consumer(
        independent_client_config(
            bootstrap, **{"group.id": group, "session.timeout.ms": 6000, "enable.auto.commit": False}
        )
    )
    consumer.subscribe([topic])
    deadline = time.monotonic() + 30
    while not consumer.assignment():
        assert time.monotonic() < deadline, "the test consumer was never assigned a partition"
        consumer.poll(0.2)
    return consumer


def test_the_rewind_form_offers_time_presets_and_disables_apply_while_the_group_is_active(
    live_url: str, page: Any, make_user: Any, kafka_admin: AdminClient, kafka_bootstrap: str
) -> None:
    prefix = f"br-rw-{uuid.uuid4().hex[:8]}"
    topic, group = f"{prefix}.orders", f"{prefix}-billing"
    kafka_admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(10)
    produce(Producer(independent_client_config(kafka_bootstrap, **{"linger.ms": 0})), topic, [5, 4])
    committer = Consumer(independent_client_config(kafka_bootstrap, **{"group.id": group}))
    committer.commit(offsets=[TopicPartition(topic, 0, 5), TopicPartition(topic, 1, 4)], asynchronous=False)
    committer.close()
    _log_in(page, live_url, make_user)

    page.goto(f"{live_url}/clusters/local/groups/{group}/")
    assert page.locator("#rewind-when").is_hidden()
    page.select_option("#rewind-to", "timestamp")
    assert page.locator("#rewind-when").is_visible()
    before = int(time.time() * 1000)
    page.click("[data-rewind-ago='600000']")
    value = int(page.input_value("#rewind-value"))
    assert before - 600_000 - 2000 <= value <= int(time.time() * 1000) - 600_000 + 2000
    page.click("[data-rewind-today]")
    today = int(page.input_value("#rewind-value"))
    assert today == page.evaluate("(() => { const d = new Date(); d.setHours(0, 0, 0, 0); return d.getTime(); })()")
    page.click("[data-rewind-ago='3600000']")
    page.click("#rewind-preview")
    page.wait_for_selector(".rewind-plan")
    headline = page.locator("#plan-headline").inner_text()
    assert "UTC" in headline and "1 hour ago" in headline, headline
    assert page.locator("#rewind-apply").is_enabled()
    for name, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        screenshot(page, f"ranges-rewind-{name}")
    page.set_viewport_size({"width": 1280, "height": 800})

    consumer = _join(kafka_bootstrap, group, topic)
    try:
        page.goto(f"{live_url}/clusters/local/groups/{group}/")
        assert page.locator("#rewind-active-note").is_visible()
        page.select_option("#rewind-to", "earliest")
        page.click("#rewind-preview")
        page.wait_for_selector(".rewind-plan")
        assert page.locator("#rewind-apply").is_disabled()
        reason = page.locator("#rewind-apply-reason").inner_text()
        assert "Apply is disabled" in reason and "stop its consumers" in reason
        screenshot(page, "ranges-rewind-active")
    finally:
        consumer.close()
