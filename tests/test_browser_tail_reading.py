"""A tail you can read, in headless Chromium: one line per event with its date, time and zone,
a long value cut with an ellipsis that opens whole on click, headers as a count that opens a
popover, a divider where an applied filter starts, and a filter that does not parse refused in
place while the running one goes on — on a laptop and on a phone."""

from __future__ import annotations

import datetime
import json
import re
import time
from typing import Any

import pytest
from confluent_kafka import Producer
from playwright.sync_api import expect

from tests import test_browser_tail as browser_tail
from tests.conftest import independent_client_config, screenshot
from tests.test_browser_tail import _log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The tail page tests' fixtures: console errors fail a test; a fresh topic, deleted once no tail reads it.
console_errors = browser_tail.console_errors
tailed_topic = browser_tail.tailed_topic

LONG = {"order": "ORD-LONG", "status": "DELAYED", "note": "lorem ipsum dolor sit amet " * 75}  # ~2,000 chars
WHEN = 1796640104123  # 2026-12-07 10:41:44.123 UTC


def _warm_up(page: Any, producer: Producer, topic: str) -> None:
    """Produce markers until one shows: the server's consumer then reads past where it started."""
    rows = page.locator("#tail-rows tr.tail-row")
    deadline = time.monotonic() + 30
    while rows.count() == 0:
        assert time.monotonic() < deadline, "no event reached the page"
        for p in range(3):
            producer.produce(topic, key=b"warm-up", value=b"warm-up", partition=p)
        producer.flush(5)
        page.wait_for_timeout(400)
    page.wait_for_timeout(500)
    page.click("#tail-clear")
    expect(rows).to_have_count(0)


def _no_wider_than_the_window(page: Any) -> None:
    width = page.evaluate("document.getElementById('tail').scrollWidth")
    assert width <= page.viewport_size["width"], f"the tail is {width} px wide"


def test_rows_are_one_line_a_value_opens_on_click_and_headers_open_a_popover(
    live_url: str, page: Any, make_user: Any, kafka_bootstrap: str, tailed_topic: str
) -> None:
    topic = tailed_topic
    producer = Producer(independent_client_config(kafka_bootstrap, **{"linger.ms": 0}))
    page.set_viewport_size({"width": 1280, "height": 800})
    _log_in(page, live_url, make_user("reader", password="pw-Browser-3"))
    page.goto(f"{live_url}/clusters/local/topics/{topic}/tail/")
    expect(page.locator("#tail-state")).to_have_text("live", timeout=15_000)
    _warm_up(page, producer, topic)

    long_value = json.dumps(LONG)
    assert 1900 < len(long_value) < 2200
    producer.produce(
        topic,
        key=b"order-long",
        value=long_value.encode(),
        partition=0,
        timestamp=WHEN,
        headers=[("source", b"web"), ("trace-id", b"abc-123")],
    )
    for n in range(5):
        producer.produce(
            topic, key=f"order-{n}".encode(), value=json.dumps({"order": f"ORD-{n}"}).encode(), partition=1
        )
    producer.flush(10)
    rows = page.locator("#tail-rows tr.tail-row")
    expect(rows).to_have_count(6, timeout=15_000)
    long_row = page.locator("#tail-rows tr.tail-row", has_text="order-long")
    short_row = page.locator("#tail-rows tr.tail-row", has_text="order-0")

    # The event's own time with date and zone, as the message browser shows it; local time on hover.
    utc = datetime.datetime.fromtimestamp(WHEN / 1000, tz=datetime.UTC).strftime("%Y-%m-%d %H:%M:%S.123 UTC")
    expect(long_row.locator("td.tail-time")).to_have_text(utc)
    assert utc == "2026-12-07 10:41:44.123 UTC"
    expect(long_row.locator("td.tail-time time")).to_have_attribute("datetime", "2026-12-07T10:41:44.123Z")
    long_row.locator("td.tail-time").hover()
    expect(long_row.locator("td.tail-time")).to_have_attribute("title", re.compile(r"2026.*(UTC|GMT).*create time"))

    # One line, cut with an ellipsis: every row is as high as a short one.
    value = long_row.locator("summary.tail-line")
    short_height = short_row.bounding_box()["height"]
    closed = value.bounding_box()["height"]
    assert long_row.bounding_box()["height"] == short_height
    assert value.evaluate("el => el.scrollWidth > el.clientWidth")  # the text goes on past the ellipsis
    assert value.evaluate("el => getComputedStyle(el).textOverflow") == "ellipsis"
    screenshot(page, "tail-reading-1280")

    # A click opens the whole value (JSON indented) and a second click folds it again.
    value.click()
    expect(long_row.locator("details.tail-val")).to_have_attribute("open", "")
    opened = value.bounding_box()["height"]
    assert opened > 8 * closed
    expect(value).to_contain_text('"note": "' + LONG["note"])  # all of it, as indented JSON
    assert value.evaluate("el => el.scrollWidth <= el.clientWidth")  # wrapped inside its column
    screenshot(page, "tail-reading-open-1280")
    value.click()
    expect(long_row.locator("details.tail-val")).not_to_have_attribute("open", "")
    assert value.bounding_box()["height"] == closed

    # Headers: a count, and a popover listing them; Escape closes it.
    expect(long_row.locator("td.tail-hdr")).to_have_text("2 headers")
    expect(short_row.locator("td.tail-hdr")).to_have_text("none")
    pop = page.locator("#tail-headers-pop")
    expect(pop).to_be_hidden()
    long_row.locator(".tail-hdr-btn").click()
    expect(pop).to_be_visible()
    expect(pop).to_contain_text(f"partition 0, offset {long_row.get_attribute('data-offset')}")
    assert pop.locator("dt").all_inner_texts() == ["source", "trace-id"]
    assert pop.locator("dd").all_inner_texts() == ["web", "abc-123"]
    screenshot(page, "tail-reading-headers-1280")
    page.keyboard.press("Escape")
    expect(pop).to_be_hidden()
    _no_wider_than_the_window(page)

    # On a phone each event is a small card, still one line of value, nothing wider than the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    expect(long_row.locator("td.tail-time")).to_have_text(utc)
    assert value.evaluate("el => el.scrollWidth > el.clientWidth")
    _no_wider_than_the_window(page)
    long_row.locator(".tail-hdr-btn").click()
    expect(pop).to_be_visible()
    box = pop.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    screenshot(page, "tail-reading-390-headers")
    page.keyboard.press("Escape")
    screenshot(page, "tail-reading-390")
    page.goto("about:blank")


def test_apply_draws_a_divider_and_a_bad_filter_keeps_the_running_one(
    live_url: str, page: Any, make_user: Any, kafka_bootstrap: str, tailed_topic: str
) -> None:
    topic = tailed_topic
    producer = Producer(independent_client_config(kafka_bootstrap, **{"linger.ms": 0}))
    page.set_viewport_size({"width": 1280, "height": 800})
    _log_in(page, live_url, make_user("reader", password="pw-Browser-3"))
    page.goto(f"{live_url}/clusters/local/topics/{topic}/tail/")
    state = page.locator("#tail-state")
    expect(state).to_have_text("live", timeout=15_000)
    _warm_up(page, producer, topic)
    rows = page.locator("#tail-rows tr.tail-row")
    dividers = page.locator("#tail-rows tr.tail-divider")

    page.fill("#tail-filter", 'status == "DELAYED"')
    page.click("#tail-form button[type=submit]")
    expect(dividers).to_have_count(1, timeout=15_000)
    expect(dividers.first).to_have_text(
        re.compile(r'^filter changed \d\d:\d\d:\d\d status == "DELAYED" · at most \d+ events/s$')
    )
    expect(page).to_have_url(re.compile(r"filter=status\+%3D%3D\+%22DELAYED%22"))
    for n, status in enumerate(["DELAYED", "ON_TIME", "DELAYED"]):
        producer.produce(topic, key=f"first-{n}".encode(), value=json.dumps({"status": status}).encode(), partition=0)
    producer.flush(10)
    expect(rows).to_have_count(2, timeout=15_000)
    # Newest first: the events the new filter let through are above its divider.
    assert page.locator("#tail-rows tr").nth(2).get_attribute("class") == "tail-divider"

    # A filter that does not parse: refused beside the input, the running one goes on.
    page.fill("#tail-filter", "status ==")
    page.click("#tail-form button[type=submit]")
    reason = page.locator("#tail-filter-error")
    expect(reason).to_contain_text("Not applied: expected a value after `==` at column 10", timeout=15_000)
    expect(reason).to_contain_text('Still running: filter status == "DELAYED"')
    expect(page.locator("#tail-filter")).to_have_attribute("aria-invalid", "true")
    expect(state).to_have_text("live")
    expect(page.locator("#tail-error")).to_be_hidden()
    expect(page).to_have_url(re.compile(r"filter=status\+%3D%3D\+%22DELAYED%22"))
    screenshot(page, "tail-reading-bad-filter-1280")
    for n, status in enumerate(["ON_TIME", "DELAYED"]):
        producer.produce(topic, key=f"later-{n}".encode(), value=json.dumps({"status": status}).encode(), partition=0)
    producer.flush(10)
    expect(page.locator("#tail-rows tr.tail-row", has_text="later-1")).to_have_count(1, timeout=15_000)
    expect(page.locator("#tail-rows")).not_to_contain_text("later-0")
    expect(dividers).to_have_count(1)

    # Fixed in place: applied, the reason goes, a second divider marks it.
    page.fill("#tail-filter", "")
    page.click("#tail-form button[type=submit]")
    expect(dividers).to_have_count(2, timeout=15_000)
    expect(dividers.first).to_contain_text("no filter (every event)")
    expect(reason).to_be_hidden()
    expect(page.locator("#tail-filter")).not_to_have_attribute("aria-invalid", "true")
    producer.produce(topic, key=b"everything", value=json.dumps({"status": "ON_TIME"}).encode(), partition=0)
    producer.flush(10)
    expect(page.locator("#tail-rows tr.tail-row").first).to_contain_text("everything", timeout=15_000)
    assert "filter=" not in page.url
    page.set_viewport_size({"width": 390, "height": 844})
    _no_wider_than_the_window(page)
    screenshot(page, "tail-reading-dividers-390")
    page.goto("about:blank")
