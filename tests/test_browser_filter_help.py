"""The filter help in Chromium: examples from the fields of the events on screen, a click on an
example or on a field of an event's JSON puts it in the search, and a search that finds nothing
says which field no event read had."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient

from streams.demo import ShippingWorld
from tests.conftest import screenshot
from tests.streams.browse_helpers import Ev, create_topic, produce

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "pw-Browser-Filter-1"


@pytest.fixture(autouse=True)
def console_errors(page: Any) -> Iterator[list[str]]:
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield errors
    assert [e for e in errors if not e.startswith("Failed to load resource")] == []


def _shipments(count: int) -> list[Ev]:
    world = ShippingWorld(seed=8)
    now = int(time.time() * 1000) - 60_000
    events = [e for _ in range(count * 3) for e in world.next_events() if e.topic == "shipments"][:count]
    out = []
    for i, event in enumerate(events):
        key, value, headers = event.encoded()
        out.append(Ev(i % 3, key, value, list(headers.items()), now + i * 10))
    return out


def _search(page: Any) -> str:
    page.click("#f-submit")
    return str(page.locator("#search-status", has_text="Done:").inner_text(timeout=20_000))


def test_the_filter_help_is_built_from_the_events_on_screen(
    live_url: str, page: Any, make_user: Any, kafka_admin: AdminClient, kafka_bootstrap: str
) -> None:
    topic = create_topic(kafka_admin, f"br-filter-help-{uuid.uuid4().hex[:8]}", 3)
    events = _shipments(40)
    produce(kafka_bootstrap, topic, events)
    user = make_user("reader", password=PASSWORD)
    page.goto(live_url + "/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/clusters/local/")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_url}/clusters/local/topics/{topic}/messages/?limit=20")
    page.locator("#event-rows tr[data-id]").first.wait_for()

    page.click("#filter-help summary")
    help_box = page.locator("#filter-help")
    assert "Examples from the 20 events below" in help_box.inner_text()
    examples = help_box.locator(".filter-examples button").all_inner_texts()
    assert not any("payload" in e for e in examples), examples
    status = next(e for e in examples if e.startswith("status == "))
    assert "delayMinutes exists" in examples
    screenshot(page, "filter-help-1280")

    # An example goes into the search box and finds events.
    help_box.locator(".filter-examples button", has_text=status).click()
    assert page.input_value("#f-q") == status
    assert not re.search(r"found 0 ", _search(page))
    assert page.locator("#event-rows tr[data-id]").count() > 0

    # A click on a field of an event's JSON: `path == value`, joined to what is there with `and`.
    page.fill("#f-q", "")
    value = page.locator("#event-rows tr[data-id] td.value details").first
    value.locator("summary").click()
    value.locator('pre button.jf:text-is("\\"vessel\\"")').click()
    vessel = page.input_value("#f-q")
    assert re.fullmatch(r'vessel == "[^"]+"', vessel), vessel
    value.locator('pre button.jf:text-is("\\"lat\\"")').click()
    assert re.fullmatch(r'vessel == "[^"]+" and position\.lat == -?\d+(\.\d+)?', page.input_value("#f-q"))
    value.locator('pre button.jf:text-is("\\"containers\\"")').click()
    assert page.input_value("#f-q").endswith(" and containers exists")
    screenshot(page, "filter-help-json-fields-1280")
    assert "found 0 " not in _search(page)
    assert page.locator("#event-rows tr[data-id]").count() >= 1

    # Nothing found, and the field the filter names is in no event: said on the page.
    page.fill("#f-q", 'payload.status == "delayed"')
    done = _search(page)
    assert "found 0 in 40 events read" in done, done
    note = page.locator("#notes-box")
    assert "the field “payload.status” was absent from every event read (40 events)" in note.inner_text()
    page.fill("#f-q", 'status == "lost"')
    assert "found 0 " in _search(page)
    assert "absent" not in note.inner_text()

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_url}/clusters/local/topics/{topic}/messages/?limit=5")
    page.locator("#event-rows tr[data-id]").first.wait_for()
    page.click("#filter-help summary")
    screenshot(page, "filter-help-390")
