"""The live tail in headless Chromium: a reader opens it from the topic page, watches events
produced by the test arrive, filters them on the server, pauses, resumes and clears."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from django.test import Client
from playwright.sync_api import expect

from backbone_admin.embedded import free_port, wait_for_port
from tests.conftest import BASE_DIR, _subprocess_env, independent_client_config, screenshot
from tests.plugin import OUTPUT

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def console_errors(page: Any) -> Iterator[list[str]]:
    """Errors the browser logged; a Content-Security-Policy violation fails the test."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield errors
    assert [e for e in errors if "Content Security Policy" in e] == []
    assert [e for e in errors if "TypeError" in e or "ReferenceError" in e] == []


def _tails_of(live_url: str, admin: Any, topic: str) -> list[dict[str, Any]]:
    client = Client()
    client.force_login(admin)
    request = urllib.request.Request(
        live_url + "/tail/stats/", headers={"Cookie": f"sessionid={client.cookies['sessionid'].value}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return [t for t in json.loads(response.read())["tails"] if t["topic"] == topic]


@pytest.fixture
def tailed_topic(kafka_admin: AdminClient, live_url: str, make_user: Any) -> Iterator[str]:
    name = f"br-tail-{uuid.uuid4().hex[:8]}"
    kafka_admin.create_topics([NewTopic(name, 3, 1)])[name].result(10)
    yield name
    # The server's tail consumer must be closed before the topic goes: the test broker answers a
    # fetch of a deleted topic in a way that crashes librdkafka.
    admin = make_user("admin")
    deadline = time.monotonic() + 10
    while _tails_of(live_url, admin, name) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _tails_of(live_url, admin, name):
        return  # never delete under a live tail on the test broker: it would take the server down
    kafka_admin.delete_topics([name])[name].result(10)


def _log_in(page: Any, live_url: str, user: Any) -> None:
    page.goto(live_url + "/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "pw-Browser-3")
    page.click("button[type=submit]")
    page.wait_for_url("**/clusters/local/")


def test_a_reader_watches_events_arrive_filters_pauses_and_clears(
    live_url: str, page: Any, make_user: Any, kafka_bootstrap: str, tailed_topic: str
) -> None:
    topic = tailed_topic
    producer = Producer(independent_client_config(kafka_bootstrap, **{"linger.ms": 0}))
    _log_in(page, live_url, make_user("reader", password="pw-Browser-3"))
    page.goto(f"{live_url}/clusters/local/topics/{topic}/")
    page.click("#live-tail")
    page.wait_for_url(f"**/clusters/local/topics/{topic}/tail/")
    state = page.locator("#tail-state")
    expect(state).to_have_text("live", timeout=15_000)
    expect(page.locator("#tail-partitions")).to_have_text("3 (0, 1, 2)")

    # The tail starts at the end of each partition once its consumer has asked where that is:
    # produce markers until one shows, then everything produced afterwards arrives.
    rows = page.locator("#tail-rows tr")
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

    orders = [
        {"order": f"ORD-{n}", "payload": {"status": "DELAYED" if n % 2 else "ON_TIME"}, "amount": 10 * n}
        for n in range(6)
    ]
    for n, order in enumerate(orders):  # one partition: the page shows them in this order
        producer.produce(
            topic,
            key=f"order-{n}".encode(),
            value=json.dumps(order).encode(),
            headers=[("source", b"web")],
            partition=0,
        )
    producer.flush(10)
    expect(rows).to_have_count(6, timeout=15_000)
    expect(page.locator("#tail-received")).to_have_text("6")
    expect(page.locator("#tail-rows tr").first).to_contain_text("ORD-5")  # newest first
    # Headers as a count that opens them.
    expect(rows.first.locator("td.tail-hdr")).to_have_text("1 header")
    rows.first.locator(".tail-hdr-btn").click()
    expect(page.locator("#tail-headers-pop")).to_contain_text("sourceweb")
    page.keyboard.press("Escape")
    expect(page.locator("#tail-dropped")).to_have_text("0")
    # Each offset opens the whole event.
    expect(rows.first.locator("a")).to_have_attribute(
        "href", f"/clusters/local/topics/{topic}/messages/event/?partition=0&offset=6"
    )
    screenshot(page, "tail-live")

    # A filter runs on the server: Apply changes it on the open socket, a divider marks where
    # the new filter starts, and only matching events come.
    page.fill("#tail-filter", 'payload.status == "DELAYED" and amount > 20')
    page.click("#tail-form button[type=submit]")
    expect(page.locator("#tail-rows tr.tail-divider")).to_contain_text("filter changed", timeout=15_000)
    assert "filter=" in page.url
    expect(state).to_have_text("live")
    page.click("#tail-clear")
    for n, order in enumerate(orders):
        producer.produce(topic, key=f"again-{n}".encode(), value=json.dumps(order).encode())
    producer.flush(10)
    # ORD-3 and ORD-5 of this batch (keys again-…).
    expect(page.locator("#tail-rows tr", has_text="again-")).to_have_count(2, timeout=15_000)
    expect(page.locator("#tail-rows")).to_contain_text("ORD-3")
    expect(page.locator("#tail-rows")).not_to_contain_text("ORD-1")
    shown = rows.count()

    # Pause: matching events are counted, not shown; resume shows the next ones.
    page.click("#tail-pause")
    expect(state).to_have_text("paused")
    expect(page.locator("#tail-pause")).to_have_text("Resume")
    for n, order in enumerate(orders):
        producer.produce(topic, key=f"paused-{n}".encode(), value=json.dumps(order).encode())
    producer.flush(10)
    expect(page.locator("#tail-dropped")).to_have_text("2", timeout=15_000)
    expect(page.locator("#tail-dropped-by")).to_contain_text("2 while paused")
    expect(rows).to_have_count(shown)
    screenshot(page, "tail-paused")
    page.click("#tail-pause")
    expect(state).to_have_text("live")
    producer.produce(topic, key=b"after", value=json.dumps(orders[5]).encode())
    producer.flush(10)
    expect(rows).to_have_count(shown + 1, timeout=15_000)
    page.goto("about:blank")  # closes the socket: the server's consumer stops


def test_a_bad_first_filter_closes_the_tail_with_the_reason(
    live_url: str, page: Any, make_user: Any, tailed_topic: str
) -> None:
    # Opened with a filter that does not parse there is no previous filter to keep running.
    _log_in(page, live_url, make_user("reader", password="pw-Browser-3"))
    page.goto(f"{live_url}/clusters/local/topics/{tailed_topic}/tail/?filter=payload.status%20%3D%3D")
    expect(page.locator("#tail-state")).to_have_text("closed", timeout=15_000)
    expect(page.locator("#tail-filter-error")).to_contain_text("expected a value after `==` at column 18")
    expect(page.locator("#tail-reason")).to_have_text("the filter or rate was refused")
    screenshot(page, "tail-bad-filter")
    # Fixed in place, the page connects again.
    page.fill("#tail-filter", 'payload.status == "DELAYED"')
    page.click("#tail-form button[type=submit]")
    expect(page.locator("#tail-state")).to_have_text("live", timeout=15_000)
    expect(page.locator("#tail-error")).to_be_hidden()
    expect(page.locator("#tail-filter-error")).to_be_hidden()
    page.goto("about:blank")


@contextlib.contextmanager
def _daphne(port: int, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "backbone_admin.asgi:application"],
        cwd=BASE_DIR,
        env=env,
        stdout=(OUTPUT / "daphne-tail-restart.log").open("ab"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, proc=proc, timeout=30)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_the_page_reconnects_by_itself_when_the_server_comes_back(
    page: Any, make_user: Any, kafka_bootstrap: str, redis_url: str, kafka_admin: AdminClient
) -> None:
    topic = f"br-tail-restart-{uuid.uuid4().hex[:8]}"
    kafka_admin.create_topics([NewTopic(topic, 3, 1)])[topic].result(10)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = _subprocess_env(kafka_bootstrap, redis_url)
    producer = Producer(independent_client_config(kafka_bootstrap, **{"linger.ms": 0}))
    state = page.locator("#tail-state")
    try:
        with _daphne(port, env):
            _log_in(page, base, make_user("reader", password="pw-Browser-3"))
            page.goto(f"{base}/clusters/local/topics/{topic}/tail/")
            expect(state).to_have_text("live", timeout=15_000)
        # The server is gone (its consumer with it): the page says so and keeps trying.
        expect(state).to_have_text("reconnecting", timeout=15_000)
        expect(page.locator("#tail-reason")).to_contain_text("retrying in")
        screenshot(page, "tail-reconnecting")
        with _daphne(port, env):
            expect(state).to_have_text("live", timeout=30_000)
            rows = page.locator("#tail-rows tr")
            deadline = time.monotonic() + 30
            while rows.count() == 0:
                assert time.monotonic() < deadline, "no event reached the page after it reconnected"
                for p in range(3):
                    producer.produce(topic, value=b"after the restart", partition=p)
                producer.flush(5)
                page.wait_for_timeout(400)
            expect(rows.first).to_contain_text("after the restart")
            page.goto("about:blank")
    finally:
        kafka_admin.delete_topics([topic])[topic].result(10)
