"""A reader browses and searches a topic in headless Chromium: from the topic page to the message
browser, paging, a search streamed over the websocket, the date-time picker, an event's page
with "copy as JSON", and a key timeline."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient

from tests.conftest import screenshot
from tests.streams.browse_helpers import Ev, create_topic, json_events, merged, produce, read_all

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "pw-Browser-Messages-1"


@pytest.fixture(autouse=True)
def console_errors(page: Any) -> Iterator[list[str]]:
    """Errors the browser logged; a Content-Security-Policy violation fails the test."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status == 404 else None)
    yield errors
    assert [e for e in errors if "Content Security Policy" in e] == []


def _log_in(page: Any, live_url: str, user: Any) -> None:
    page.goto(live_url + "/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/clusters/local/")


def _row_ids(page: Any) -> list[str]:
    return [page.locator("#event-rows tr[data-id]").nth(i).get_attribute("data-id") for i in range(_rows(page))]


def _rows(page: Any) -> int:
    return int(page.locator("#event-rows tr[data-id]").count())


def test_a_reader_browses_pages_and_searches_a_topic(
    live_url: str,
    page: Any,
    make_user: Any,
    kafka_admin: AdminClient,
    kafka_bootstrap: str,
    console_errors: list[str],
) -> None:
    topic = create_topic(kafka_admin, f"br-messages-{uuid.uuid4().hex[:8]}", 3)
    now = int(time.time() * 1000) - 60_000
    produce(kafka_bootstrap, topic, json_events(70, 3, base_ts=now, step=100))
    seen = read_all(kafka_bootstrap, topic, [0, 1, 2])
    newest_first = [f"{p}:{o}" for p, o in merged(seen, newest_first=True)]
    user = make_user("reader", password=PASSWORD)
    _log_in(page, live_url, user)

    page.goto(f"{live_url}/clusters/local/topics/{topic}/")
    page.click("#browse-messages")
    page.wait_for_url(f"**/topics/{topic}/messages/")
    page.locator("#event-rows tr[data-id]").first.wait_for()
    assert _row_ids(page) == newest_first[:50]
    assert page.locator("text=Merged 3 partitions by timestamp").is_visible()
    assert page.locator(".local-time").first.inner_text().endswith(" local")
    screenshot(page, "messages-browse")

    page.click("a[rel=next]")
    page.wait_for_url("**cursor=*")
    assert _row_ids(page) == newest_first[50:]
    page.click("a[rel=prev] >> nth=0")
    page.locator("#event-rows tr[data-id]").first.wait_for()
    assert _row_ids(page) == newest_first[:50]

    # Pretty JSON folds open on a click.
    first_value = page.locator("#event-rows tr[data-id] td.value details").first
    first_value.locator("summary").click()
    assert '"status"' in first_value.locator("pre").inner_text()

    # A search streams in over the websocket.
    delayed = [f"{p}:{o}" for p, o in merged([s for s in seen if b'"DELAYED"' in (s.value or b"")], newest_first=True)]
    page.fill("#f-q", 'status == "DELAYED" and headers.source == "web" or status == "DELAYED"')
    page.fill("#f-limit", "5")
    page.click("#f-submit")
    page.locator("#search-status", has_text="Done:").wait_for(timeout=20_000)
    assert _row_ids(page) == delayed[:5]
    assert "q=" in page.url
    assert page.locator("#scan-report").is_visible()
    screenshot(page, "messages-search")
    # "older →" continues the search where it stopped; the new page streams too.
    page.click(".pager-box a[rel=next] >> nth=0")
    page.locator("#search-status", has_text="Done:").wait_for(timeout=20_000)
    assert _row_ids(page) == delayed[5:10]

    # A bad filter says where it is wrong, on the page.
    page.fill("#f-q", "amount >")
    page.click("#f-submit")
    error = page.locator("#browse-error")
    error.wait_for()
    assert "column" in error.inner_text()
    # (The browser's own favicon request is a 404 without a response event; any page resource that
    # fails is in the list with its address.)
    assert [e for e in console_errors if not e.startswith("Failed to load resource")] == []


def test_the_time_picker_shows_utc_and_local_time_and_starts_there(
    live_url: str, page: Any, make_user: Any, kafka_admin: AdminClient, kafka_bootstrap: str
) -> None:
    topic = create_topic(kafka_admin, f"br-time-{uuid.uuid4().hex[:8]}", 2)
    produce(kafka_bootstrap, topic, [Ev(i % 2, b"early", b'{"batch": "A"}') for i in range(4)])
    time.sleep(1.2)
    produce(kafka_bootstrap, topic, [Ev(i % 2, b"late", b'{"batch": "B"}') for i in range(3)])
    late = min(s.timestamp for s in read_all(kafka_bootstrap, topic, [0, 1]) if s.key == b"late")
    user = make_user("reader", password=PASSWORD)
    _log_in(page, live_url, user)
    page.emulate_media(color_scheme="light")
    page.goto(f"{live_url}/clusters/local/topics/{topic}/messages/")
    page.select_option("#f-start", "timestamp")
    assert page.locator("#f-when").is_visible() and not page.locator("#f-offset").is_visible()
    # The picker takes the browser's local time; the page says what that is in UTC.
    local = page.evaluate(
        "ms => { const d = new Date(ms); const p = n => String(n).padStart(2, '0');"
        " return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + 'T' + p(d.getHours()) + ':'"
        " + p(d.getMinutes()) + ':' + p(d.getSeconds()) + '.' + String(d.getMilliseconds()).padStart(3, '0'); }",
        late - 300,
    )
    page.fill("#f-when", local)
    shown = page.locator("#f-when-shown").inner_text()
    assert str(late - 300) in shown and "UTC" in shown and "your time" in shown
    page.select_option("#f-direction", "oldest")
    page.click("#f-submit")
    page.wait_for_url("**timestamp=*")
    page.locator("#event-rows tr[data-id]").first.wait_for()
    keys = page.locator("#event-rows td.key").all_inner_texts()
    assert keys == ["late", "late", "late"]
    screenshot(page, "messages-from-a-time")


def test_an_event_page_copies_json_and_the_key_timeline_follows_a_key(
    live_url: str, page: Any, make_user: Any, kafka_admin: AdminClient, kafka_bootstrap: str
) -> None:
    orders = create_topic(kafka_admin, f"br-orders-{uuid.uuid4().hex[:8]}", 3)
    shipments = create_topic(kafka_admin, f"br-ships-{uuid.uuid4().hex[:8]}", 2)
    base = int(time.time() * 1000) - 10_000
    produce(
        kafka_bootstrap,
        orders,
        [Ev(None, b"ORD-9", b'{"e": "created", "customer": {"name": "Ann"}}', [("source", b"web")], base)],
    )
    produce(kafka_bootstrap, shipments, [Ev(None, b"ORD-9", b'{"e": "shipped"}', [], base + 500)])
    produce(kafka_bootstrap, orders, [Ev(None, b"ORD-9", b'{"e": "delivered"}', [], base + 900)])
    user = make_user("operator", password=PASSWORD)
    _log_in(page, live_url, user)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(f"{live_url}/clusters/local/topics/{orders}/messages/?key=ORD-9&sync=1")
    page.locator("#event-rows tr[data-id] a").first.click()
    page.wait_for_url("**/messages/event/?partition=*")
    assert page.locator("text=Timestamp type").is_visible()
    assert page.locator("text=CreateTime (set by the producer)").is_visible()
    page.click("#copy-json")
    page.locator("#copy-state", has_text="Copied").wait_for()
    copied = json.loads(page.evaluate("navigator.clipboard.readText()"))
    assert copied["key"] == "ORD-9" and json.loads(copied["value"])["e"] == "delivered"
    assert re.search(r"/produce/\?", page.locator("text=Produce a copy").get_attribute("href"))
    screenshot(page, "event-detail")

    page.goto(f"{live_url}/clusters/local/key-timeline/?key=ORD-9&topic={orders}&topic={shipments}")
    summaries = page.locator(".timeline-events td.value summary").all_inner_texts()
    assert [json.loads(text)["e"] for text in summaries] == ["created", "shipped", "delivered"]
    rows = page.locator(".timeline-events tbody tr[data-id]")
    assert rows.count() == 3
    topics = [rows.nth(i).locator("td").nth(1).inner_text() for i in range(3)]
    assert topics == [orders, shipments, orders]
    page.click("#t-add")
    assert page.locator("#t-topics input[name=topic]").count() == 4
    screenshot(page, "key-timeline")
