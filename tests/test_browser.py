"""Headless Chromium against the live console."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command

from tests.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def console_errors(page: Any) -> Iterator[list[str]]:
    """Errors the browser logged; a Content-Security-Policy violation fails the test."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield errors
    assert [e for e in errors if "Content Security Policy" in e] == []


def test_log_in_and_see_the_overview_with_the_demo_topics(live_url: str, page: Any, make_user: Any) -> None:
    call_command("demo_events", count=3, rate=50)
    user = make_user("viewer", password="pw-Browser-1")
    page.goto(live_url + "/")
    assert "/login/" in page.url
    screenshot(page, "login")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "pw-Browser-1")
    page.click("button[type=submit]")
    page.wait_for_url("**/clusters/local/")
    page.wait_for_selector("text=Brokers")
    # The overview may come from the short metadata cache; Refresh asks the cluster now.
    page.click("button:has-text('Refresh')")
    page.wait_for_selector(".topics-sample")
    assert page.locator(".badge.ok").first.is_visible()
    screenshot(page, "overview")
    # The overview samples the first topics by name: on a broker holding many others the demo
    # topics may be past it. The topic search finds each whatever else the broker holds.
    page.click(".mainnav a:has-text('Topics')")
    page.wait_for_url("**/clusters/local/topics/")
    for topic in ("orders", "containers", "shipments"):
        page.fill("#topic-search", f"re:^{topic}$")
        page.wait_for_selector(f"#topic-table td a:text-is('{topic}')")
    page.click("text=Log out")
    page.wait_for_url("**/login/")


def test_wrong_password_shows_an_error(live_url: str, page: Any, make_user: Any) -> None:
    user = make_user("viewer")
    page.goto(live_url + "/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "wrong")
    page.click("button[type=submit]")
    assert page.locator(".error").is_visible()
