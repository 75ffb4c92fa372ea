"""A search that has to wait says so on the page, in headless Chromium (issue 14, point 8).

The reader already has SEARCH_MAX_PER_USER searches running (two sockets of their own session,
each a 30 s search); a search from the page waits, the page says why and its place, and it
runs once those end.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import expect
from websockets.sync.client import ClientConnection, connect

from tests.conftest import screenshot
from tests.streams.test_search_budget import COSTLY, documents  # noqa: F401 - the fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "pw-Browser-Queue-1"


@pytest.fixture(autouse=True)
def console_errors(page: Any) -> Iterator[list[str]]:
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield errors
    assert [e for e in errors if "Content Security Policy" in e or "TypeError" in e] == []


def test_a_search_that_waits_says_why_and_runs_when_a_thread_is_free(
    live_url: str,
    page: Any,
    make_user: Any,
    documents: str,  # noqa: F811 - the fixture imported above
) -> None:
    user = make_user("reader", password=PASSWORD)
    page.goto(live_url + "/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/clusters/local/")
    session = next(c["value"] for c in page.context.cookies() if c["name"] == "sessionid")
    url = live_url.replace("http://", "ws://") + f"/ws/clusters/local/topics/{documents}/search/"
    busy: list[ClientConnection] = []
    try:
        for _ in range(settings.SEARCH_MAX_PER_USER):
            ws = connect(url, additional_headers={"Cookie": f"sessionid={session}", "Origin": live_url})
            busy.append(ws)
            ws.send(json.dumps({"action": "search", "params": {"q": COSTLY, "max_seconds": "30"}}))
            assert json.loads(ws.recv(timeout=10))["type"] == "started"
        page.goto(f"{live_url}/clusters/local/topics/{documents}/messages/")
        page.fill("#f-q", "offset >= 0")
        page.fill("#f-limit", "5")
        page.click("#f-submit")
        status = page.locator("#search-status")
        expect(status).to_contain_text("Waiting to start (place 1)", timeout=10_000)
        expect(status).to_contain_text(f"at most {settings.SEARCH_MAX_PER_USER} per user")
        screenshot(page, "messages-search-queued")
    finally:
        for ws in busy:
            ws.close()
    # Closing those sockets ends their searches: this one starts and finishes.
    expect(status).to_contain_text("Done: found 5", timeout=30_000)
    expect(page.locator("#event-rows tr[data-id]")).to_have_count(5)
