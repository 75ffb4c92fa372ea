"""Every page of the console in headless Chromium at a phone's width (390x844), a tablet's
(820x1180) and a laptop's (1280x800): nothing wider than the window, and axe-core finds no
WCAG 2.1 A/AA violation.

One browser context per width and one topic with events and a committed group serve every
page; the database rows (an admin and their session, lag history, a finished job, a policy, a
token, an audit row) are written for each test, since transactional tests flush them after each.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from django.utils import timezone
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.conftest import independent_client_config, screenshot
from tests.plugin import OUTPUT

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).parent / "vendor" / "axe-core-4.10.3.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
PASSWORD = "pw-Browser-Layout-1"
WIDTHS = {"phone": (390, 844), "tablet": (820, 1180), "laptop": (1280, 800)}
# Pages by name: a path template filled from the module's data (None: logged out).
PAGES = {
    "overview": "/clusters/local/",
    "clusters": "/clusters/",
    "topic-list": "/clusters/local/topics/",
    "topic-create": "/clusters/local/topics/new/",
    "topic-detail": "/clusters/local/topics/{topic}/",
    "topic-configs": "/clusters/local/topics/{topic}/configs/",
    "topic-partitions": "/clusters/local/topics/{topic}/partitions/",
    "topic-delete": "/clusters/local/topics/{topic}/delete/",
    "messages": "/clusters/local/topics/{topic}/messages/",
    "event-detail": "/clusters/local/topics/{topic}/messages/event/?partition=0&offset=3",
    "key-timeline": "/clusters/local/key-timeline/?key=customer-3&topic={topic}",
    "tail": "/clusters/local/topics/{topic}/tail/",
    "produce": "/clusters/local/topics/{topic}/produce/",
    "groups": "/clusters/local/groups/",
    "group-detail": "/clusters/local/groups/{group}/",
    "jobs": "/jobs/",
    "job-replay": "/clusters/local/topics/{topic}/replay/",
    "job-export": "/clusters/local/topics/{topic}/export/",
    "job-detail": "/jobs/{job}/",
    "retention-policies": "/retention/",
    "policy-form": "/retention/new/",
    "policy-edit": "/retention/{policy}/",
    "compliance": "/clusters/local/retention/",
    "audit": "/audit/",
    "tokens": "/tokens/",
    "login": "/login/",
}
LOGGED_OUT = {"login"}


def _events(topic: str, bootstrap: str) -> None:
    """20 JSON events with keys and headers on 2 partitions; some values long, one field deeply nested."""
    producer = Producer(independent_client_config(bootstrap, **{"linger.ms": 0}))
    for i in range(20):
        value = {
            "eventType": "ShipmentDelayed" if i % 4 == 0 else "OrderPlaced",
            "status": "delayed" if i % 4 == 0 else "ok",
            "orderId": f"order-{i:05d}",
            "customer": {"id": f"customer-{i % 5}", "name": "Ada Lovelace", "address": "12 Long Street, London"},
            "lines": [{"sku": f"SKU-{n:04d}-{'x' * 20}", "qty": n} for n in range(i % 4 + 1)],
            "note": "a-rather-long-token-without-spaces-" * (3 if i % 5 == 0 else 1),
        }
        producer.produce(
            topic,
            partition=i % 2,
            key=f"customer-{i % 5}".encode(),
            value=json.dumps(value).encode(),
            headers=[("source", b"layout-test"), ("trace-id", uuid.uuid4().hex.encode())],
        )
        producer.flush(10)


@pytest.fixture(scope="module")
def kafka_data(kafka_admin: AdminClient, kafka_bootstrap: str) -> dict[str, str]:
    """A topic with 20 events on 2 partitions and a group that committed offsets on it."""
    prefix = f"lay-{uuid.uuid4().hex[:8]}"
    # A long group id with no break in it, as real ones often are: a wide table must still fit a laptop.
    topic = f"{prefix}.shipments"
    group = f"{prefix}-billing_service_consumer_of_shipments_in_the_eu_west_region_for_the_invoicing_pipeline_v2"
    kafka_admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(10)
    _events(topic, kafka_bootstrap)
    consumer = Consumer(independent_client_config(kafka_bootstrap, **{"group.id": group}))
    consumer.commit(offsets=[TopicPartition(topic, 0, 6), TopicPartition(topic, 1, 4)], asynchronous=False)
    consumer.close()
    return {"prefix": prefix, "topic": topic, "group": group}


@pytest.fixture(scope="module")
def contexts(browser: Any) -> Iterator[dict[str, Any]]:
    """One browser context per width, kept for the module (a session cookie is set per test)."""
    # Not is_mobile: a mobile viewport widens itself to fit overflowing content, which would
    # hide the very overflow these tests look for.
    made = {name: browser.new_context(viewport={"width": w, "height": h}) for name, (w, h) in WIDTHS.items()}
    yield made
    for context in made.values():
        context.close()


@pytest.fixture
def names(kafka_data: dict[str, str]) -> dict[str, str]:
    """The database side, written again for each test (transactional tests flush it after each)."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from backbone_admin.models import ApiToken, AuditEntry
    from streams.jobs.models import Job, JobPartition
    from topics.models import LagSample, RetentionPolicy

    prefix, topic, group = kafka_data["prefix"], kafka_data["topic"], kafka_data["group"]
    user = get_user_model().objects.create_superuser(username=f"{prefix}-admin", password=PASSWORD)
    now = timezone.now()
    for minutes, lag in ((50, 2), (40, 8), (30, 12), (20, 9), (10, 10)):
        LagSample.objects.create(
            cluster="local",
            group=group,
            sampled_at=now - timedelta(minutes=minutes),
            total_lag=lag,
            topics={topic: lag},
        )
    job = Job.objects.create(
        kind=Job.Kind.REPLAY,
        cluster="local",
        topic=topic,
        status=Job.Status.SUCCEEDED,
        params={"target_topic": f"{topic}-copy"},
        created_by=user,
        started_at=now - timedelta(seconds=12),
        finished_at=now - timedelta(seconds=2),
        result={"target_events_written": 20},
    )
    for p in (0, 1):
        JobPartition.objects.create(
            job=job, partition=p, start_offset=0, end_offset=10, position=10, done=10, status="done"
        )
    policy = RetentionPolicy.objects.create(
        name=f"{prefix}-policy",
        topic_pattern=f"{prefix}.*",
        configs={"retention.ms": "259200000", "cleanup.policy": "delete"},
        min_retention_ms=86_400_000,
    )
    AuditEntry.objects.create(
        user=user,
        username=user.username,
        action="topic.configs",
        cluster="local",
        target=topic,
        before={"retention.ms": "604800000"},
        after={"retention.ms": "259200000"},
    )
    ApiToken.issue(user, name="ci-pipeline", days=30)
    client = Client()
    client.force_login(user)
    return {**kafka_data, "job": str(job.pk), "policy": policy.name, "session": client.cookies["sessionid"].value}


AXE_RUN = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: "tag", values: tags}});
  return {
    passes: result.passes.length,
    violations: result.violations.map(v => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.length,
      targets: v.nodes.slice(0, 6).map(n => n.target.join(" ")),
      summary: v.nodes.slice(0, 2).map(n => n.failureSummary),
    })),
  };
}"""


# The elements that reach past the window while their parent does not: where an overflow starts.
OVERFLOWING = """() => {
  const edge = window.innerWidth + 0.5, out = [];
  const clipped = (el) => {
    for (let a = el.parentElement; a; a = a.parentElement) if (getComputedStyle(a).overflowX !== "visible") return true;
    return false;
  };
  for (const el of document.body.querySelectorAll("*")) {
    const parent = el.parentElement, right = el.getBoundingClientRect().right;
    if (right > edge && parent && parent.getBoundingClientRect().right <= edge && !clipped(el)) {
      const classes = [...el.classList].map((c) => "." + c).join("");
      out.push(`${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}${classes} → ${Math.round(right)} px`);
    }
  }
  return out.slice(0, 8);
}"""


def _settle(page: Any) -> None:
    # htmx fragments and websocket-fed tables fill in after load; a tail's socket never idles.
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_load_state("networkidle", timeout=8_000)
    page.wait_for_timeout(300)


@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_fits_the_window_and_passes_axe(
    live_url: str, contexts: dict[str, Any], names: dict[str, str], name: str, width: str
) -> None:
    context = contexts[width]
    context.clear_cookies()
    if name not in LOGGED_OUT:
        context.add_cookies([{"name": "sessionid", "value": names["session"], "url": live_url}])
    page = context.new_page()
    errors: list[str] = []
    missing: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    try:
        response = page.goto(live_url + PAGES[name].format(**names), wait_until="domcontentloaded")
        assert response is not None and response.status == 200, f"{name}: {response and response.status}"
        _settle(page)
        screenshot(page, f"layout-{name}-{width}")
        wide, window = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        page.evaluate(AXE.read_text())  # CDP evaluation: the page's CSP does not apply to it
        report = page.evaluate(AXE_RUN, AXE_TAGS)
        assert report["passes"] > 0, "axe did not run"
        violations = report["violations"]
        with (OUTPUT / "layout-report.jsonl").open("a") as log:
            log.write(json.dumps({"page": name, "width": width, "scroll_width": wide, "axe": violations}) + "\n")
        lines = [
            f"{v['id']} ({v['impact']}, {v['nodes']} nodes): {v['help']}\n    "
            + "\n    ".join(v["targets"])
            + "\n    "
            + v["summary"][0].replace("\n", "\n    ")
            for v in violations
        ]
        if wide > window:
            culprits = "\n    ".join(page.evaluate(OVERFLOWING))
            pytest.fail(f"{name} at {width}: the page is {wide} px wide in a {window} px window; from\n    {culprits}")
        assert not lines, f"{name} at {width}: {len(lines)} axe violation(s)\n" + "\n".join(lines)
        assert [e for e in errors if "Content Security Policy" in e] == []
        assert missing == [], f"{name}: 404 for {missing}"
        if name not in LOGGED_OUT:  # a page's own context must not shadow the header's (e.g. `clusters`)
            assert page.locator("#cluster-switch option").count() >= 1, f"{name}: the cluster switcher is empty"
    finally:
        page.close()


def test_a_phone_opens_the_navigation_with_the_menu_button_and_a_laptop_sees_it_at_once(
    live_url: str, contexts: dict[str, Any], names: dict[str, str]
) -> None:
    for width in WIDTHS:
        contexts[width].clear_cookies()
        contexts[width].add_cookies([{"name": "sessionid", "value": names["session"], "url": live_url}])
    phone = contexts["phone"].new_page()
    laptop = contexts["laptop"].new_page()
    try:
        phone.goto(live_url + "/clusters/local/")
        topics = phone.locator("nav.mainnav >> text=Topics")
        menu = phone.locator("button.menu-toggle")
        assert menu.is_visible() and not topics.is_visible()
        menu.click()
        assert menu.get_attribute("aria-expanded") == "true" and topics.is_visible()
        assert phone.locator("button >> text=Log out").is_visible()
        screenshot(phone, "layout-menu-open-phone")
        phone.keyboard.press("Escape")
        assert menu.get_attribute("aria-expanded") == "false" and not topics.is_visible()
        menu.click()
        topics.click()
        phone.wait_for_url("**/clusters/local/topics/")

        # The first Tab reaches the skip link, which then moves the focus past the navigation.
        phone.keyboard.press("Tab")
        skip = phone.locator("a.skip-link")
        assert skip.evaluate("el => el === document.activeElement") and skip.is_visible()
        phone.keyboard.press("Enter")
        assert phone.evaluate("document.activeElement.id") == "content"

        # The widest bar: the compliance page counts the policy's drifting topic into the badge.
        laptop.goto(live_url + "/clusters/local/retention/")
        laptop.goto(live_url + "/clusters/local/")
        assert laptop.locator("#drift-count").is_visible()
        assert not laptop.locator("button.menu-toggle").is_visible()
        assert laptop.locator("nav.mainnav >> text=Topics").is_visible()
        assert laptop.locator("header.topbar").bounding_box()["height"] <= 50  # one row, as before
        assert laptop.locator("a.skip-link").bounding_box()["y"] < 0  # off screen until focused
    finally:
        phone.close()
        laptop.close()


def test_the_favicon_answers_without_a_login(live_url: str, browser: Any) -> None:
    context = browser.new_context()
    try:
        response = context.request.get(live_url + "/favicon.ico")
        assert response.status == 200 and response.url.endswith("/static/favicon.svg")
        assert response.headers["content-type"].startswith("image/svg+xml") and b"<svg" in response.body()
        page = context.new_page()
        page.goto(live_url + "/login/")
        assert page.locator("link[rel=icon]").get_attribute("href") == "/static/favicon.svg"
    finally:
        context.close()
