"""Closing the loops (issue 15, point 7) in headless Chromium: an event's page copies its value and key
and leads to the key's timeline; a produced event's offset leads to it; a new retention policy offers the
preview of applying it; the navigation's drift badge shows the count the page shows; the overview links
its topics and counts growing lag, drift and failed jobs; a job's page links its target and its file and
says how long a finished job took and how fast it went (point 4)."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from django.utils import timezone

from backbone_admin.models import Role
from streams.jobs.models import Job, JobPartition
from tests.conftest import screenshot
from tests.streams.browse_helpers import Ev, create_topic, produce
from topics.groups.models import LagSample
from topics.models import RetentionPolicy

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "pw-Browser-Loops-1"
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(autouse=True)
def console_errors(page: Any) -> Iterator[list[str]]:
    """Errors the browser logged; a Content-Security-Policy violation fails the test."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield errors
    assert [e for e in errors if "Content Security Policy" in e] == []
    assert [e for e in errors if "Failed to load resource" not in e] == []


def _log_in(page: Any, live_url: str, user: Any) -> None:
    page.set_viewport_size(LAPTOP)
    page.goto(live_url + "/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/clusters/local/")


def _both_widths(page: Any, name: str) -> None:
    """Screenshots at a laptop's and a phone's width, back at the laptop's after."""
    page.set_viewport_size(LAPTOP)
    screenshot(page, f"{name}-1280")
    page.set_viewport_size(PHONE)
    screenshot(page, f"{name}-390")
    page.set_viewport_size(LAPTOP)


def test_an_event_page_copies_its_value_and_key_and_opens_the_key_timeline(
    live_url: str, page: Any, make_user: Any, kafka_admin: AdminClient, kafka_bootstrap: str
) -> None:
    topic = create_topic(kafka_admin, f"br-loops-ev-{uuid.uuid4().hex[:8]}", 1)
    value = '{"order": 7, "status": "PAID"}'
    produce(kafka_bootstrap, topic, [Ev(0, b"ORD-7", value.encode(), [], int(time.time() * 1000) - 5000)])
    _log_in(page, live_url, make_user(Role.READER, password=PASSWORD))
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(f"{live_url}/clusters/local/topics/{topic}/messages/event/?partition=0&offset=0")

    page.click("#copy-value")
    page.locator("#copy-state", has_text="Copied the value").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == value
    page.click("#copy-key")
    page.locator("#copy-state", has_text="Copied the key").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == "ORD-7"
    # "Copied" goes away by itself.
    page.locator("#copy-state", has_text="Copied").wait_for(state="detached", timeout=8000)
    _both_widths(page, "loops-event")

    # The key's timeline opens with the key typed in, for this topic.
    page.click("#key-timeline")
    page.wait_for_url("**/key-timeline/?key=ORD-7*")
    assert page.input_value("#t-key") == "ORD-7"
    assert page.locator(".timeline-events tbody tr[data-id]").count() == 1
    assert page.locator("[role=alert]").count() == 0

    # Opened bare, or with only a topic (the browser's link), it shows the form and no error.
    page.goto(f"{live_url}/clusters/local/key-timeline/")
    assert page.input_value("#t-key") == "" and page.locator("[role=alert]").count() == 0
    page.goto(f"{live_url}/clusters/local/key-timeline/?topic={topic}")
    assert page.locator("[role=alert]").count() == 0 and page.locator("#t-hint").is_visible()
    assert page.evaluate("document.activeElement.id") == "t-key"
    page.goto(f"{live_url}/clusters/local/key-timeline/?key=ORD-7")
    assert page.input_value("#t-key") == "ORD-7" and page.locator("[role=alert]").count() == 0
    _both_widths(page, "loops-key-timeline-carried")


def test_a_produced_events_offset_links_to_the_event(
    live_url: str, page: Any, make_user: Any, kafka_admin: AdminClient
) -> None:
    topic = create_topic(kafka_admin, f"br-loops-prod-{uuid.uuid4().hex[:8]}", 1)
    _log_in(page, live_url, make_user(Role.OPERATOR, password=PASSWORD))
    page.goto(f"{live_url}/clusters/local/topics/{topic}/produce/")
    page.fill("#id_key", "k-1")
    page.fill("#id_value", "hello")
    page.click("#send-button")
    page.wait_for_selector("#produced")
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC", page.inner_text("#produced"))
    _both_widths(page, "loops-produce-sent")
    page.click("#produced-link")
    page.wait_for_url("**/messages/event/?partition=0&offset=0")
    assert page.locator("#event-value").inner_text().strip() == "hello"


def test_a_new_policy_offers_the_preview_of_applying_it_and_the_badge_follows_the_page(
    live_url: str, page: Any, make_user: Any, kafka_admin: AdminClient
) -> None:
    prefix = f"br-loops-pol-{uuid.uuid4().hex[:6]}"
    topics = [create_topic(kafka_admin, f"{prefix}-{i}", 1) for i in range(2)]
    _log_in(page, live_url, make_user(Role.ADMIN, password=PASSWORD))
    page.goto(f"{live_url}/retention/new/")
    page.fill("#f-name", prefix)
    page.fill("#f-pattern", f"{prefix}-*")
    page.fill("#f-priority", "900")
    page.fill("#f-retention\\.ms", "3d")
    page.click("button:has-text('Create policy')")
    page.wait_for_url(f"**/retention/?created={prefix}")
    offer = page.locator("#preview-new-policy")
    assert offer.inner_text() == "Preview applying it to the 2 matching topics"
    assert "`" not in page.inner_text("#policy-created")
    _both_widths(page, "loops-policy-created")

    # The offer opens the compliance page with the policy's topics previewed; nothing is applied yet.
    offer.click()
    page.wait_for_selector("#preview")
    assert all(name in page.inner_text("#preview") for name in topics)
    assert "3 d" in page.inner_text("#preview")
    assert "bytes: unknown" not in page.content()
    _both_widths(page, "loops-policy-preview")

    # Unfiltered, the page counts drift; the navigation's badge shows that same count, and follows an apply.
    page.goto(f"{live_url}/clusters/local/retention/")
    shown = int(page.inner_text(".retention-toolbar .stat-inline strong").replace(",", ""))
    assert shown >= 2 and page.inner_text("#drift-count") == str(shown)
    page.goto(f"{live_url}/clusters/local/retention/?search={prefix}")
    for name in topics:
        page.check(f"input[name=topics][value='{name}']")
    page.click("#preview-selected")
    page.wait_for_selector("#apply-button")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#apply-button")
    page.wait_for_selector("#results")
    page.goto(f"{live_url}/clusters/local/retention/")
    after = int(page.inner_text(".retention-toolbar .stat-inline strong").replace(",", ""))
    assert after <= shown - 2
    assert (page.inner_text("#drift-count") if after else "") == (str(after) if after else "")
    assert page.locator("#drift-count").is_visible() == bool(after)

    # The audit log shows the applied change with units, not milliseconds.
    page.goto(f"{live_url}/audit/?q={topics[0]}")
    row = page.locator("#audit-rows tr", has_text="retention.apply").first
    assert '"3 d"' in row.inner_text() and "259200000" not in row.inner_text()
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", row.inner_text())
    _both_widths(page, "loops-audit")
    RetentionPolicy.objects.filter(name=prefix).delete()


def test_the_overview_links_topics_and_counts_growing_lag_drift_and_failed_jobs(
    live_url: str, page: Any, make_user: Any, kafka_admin: AdminClient
) -> None:
    # "0…" sorts before any other test's topic: the overview samples the first names.
    topic = create_topic(kafka_admin, f"0-br-loops-ov-{uuid.uuid4().hex[:6]}", 1)
    group = f"br-loops-growing-{uuid.uuid4().hex[:6]}"
    steady = f"br-loops-steady-{uuid.uuid4().hex[:6]}"
    now = timezone.now()
    for i, (lag_a, lag_b) in enumerate([(10, 50), (40, 50), (90, 50), (200, 50)]):
        at = now - timedelta(seconds=30 * (4 - i))
        LagSample.objects.create(cluster="local", group=group, sampled_at=at, total_lag=lag_a)
        LagSample.objects.create(cluster="local", group=steady, sampled_at=at, total_lag=lag_b)
    failed = Job.objects.create(
        kind=Job.Kind.REPLAY, status=Job.Status.FAILED, cluster="local", topic=topic, finished_at=now, error="boom"
    )
    user = make_user(Role.VIEWER, password=PASSWORD)
    _log_in(page, live_url, user)

    page.goto(f"{live_url}/clusters/local/retention/")  # counts drift, as the beat does
    drifting = page.inner_text(".retention-toolbar .stat-inline strong")
    page.goto(f"{live_url}/clusters/local/?refresh=1")  # past the cached listing, which may predate the topic
    lag_tile = page.locator("#tile-lag")
    assert group in lag_tile.inner_text() and "+190" in lag_tile.inner_text()
    assert steady not in lag_tile.inner_text()
    assert page.inner_text("#tile-drift .tile-value") == drifting
    assert page.inner_text("#drift-count") == drifting.replace(",", "") or drifting == "0"
    assert int(page.inner_text("#tile-failed .tile-value")) >= 1
    assert f"#{failed.pk}" in page.inner_text("#tile-failed") or "latest" in page.inner_text("#tile-failed")
    _both_widths(page, "loops-overview")

    # Every topic name links to its page (the sample is the first names of a possibly cached listing).
    links = page.locator(".topics-sample td a")
    names = links.all_inner_texts()
    assert names[0] == topic and [links.nth(i).get_attribute("href") for i in range(len(names))] == [
        f"/clusters/local/topics/{name}/" for name in names
    ]
    links.first.click()
    page.wait_for_url(f"**/topics/{names[0]}/")
    page.go_back()
    page.click("#tile-drift")
    page.wait_for_url("**/clusters/local/retention/*")


def test_a_finished_jobs_page_says_how_long_it_took_and_links_its_target_and_file(
    live_url: str, page: Any, make_user: Any, kafka_admin: AdminClient
) -> None:
    source = create_topic(kafka_admin, f"br-loops-job-{uuid.uuid4().hex[:6]}", 1)
    target = create_topic(kafka_admin, f"{source}-copy", 1)
    user = make_user(Role.OPERATOR, password=PASSWORD)
    started = timezone.now() - timedelta(minutes=5)
    replay = Job.objects.create(
        kind=Job.Kind.REPLAY,
        status=Job.Status.SUCCEEDED,
        cluster="local",
        topic=source,
        created_by=user,
        params={"target_cluster": "local", "target_topic": target, "partition_mapping": "same"},
        result={"source_events_read": 1005, "source_events_filtered_out": 0, "target_events_written": 1005},
        started_at=started,
        finished_at=started + timedelta(seconds=134),
    )
    JobPartition.objects.create(
        job=replay, partition=0, start_offset=0, end_offset=1005, position=1005, done=1005, status="done"
    )
    export = Job.objects.create(
        kind=Job.Kind.EXPORT,
        status=Job.Status.SUCCEEDED,
        cluster="local",
        topic=source,
        created_by=user,
        params={"format": "jsonl"},
        started_at=started,
        finished_at=started + timedelta(seconds=2),
        file_name=f"exports/job-{source}.jsonl",
        file_size=1536,
        file_sha256="ab" * 32,
        expires_at=started + timedelta(days=7),
    )
    JobPartition.objects.create(
        job=export, partition=0, start_offset=0, end_offset=10, position=10, done=10, status="done"
    )
    _log_in(page, live_url, user)

    page.goto(f"{live_url}/jobs/{replay.pk}/")
    assert page.locator("#job-summary").is_visible() and not page.locator("#job-live").is_visible()
    assert page.inner_text("#job-duration") == "2 min 14 s"
    assert page.inner_text("#job-average") == "7.5 events/s"  # 1,005 events in 134 s
    assert page.locator("#job-target").get_attribute("href") == f"/clusters/local/topics/{target}/"
    assert re.search(r"created \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", page.inner_text("#job"))
    assert "rate 0" not in page.inner_text("#job").lower()
    _both_widths(page, "loops-job-replay-finished")
    page.click("#job-target")
    page.wait_for_url(f"**/topics/{target}/")

    page.goto(f"{live_url}/jobs/{export.pk}/")
    link = page.locator("#job-file")
    assert link.get_attribute("href") == f"/api/jobs/{export.pk}/download/"
    assert link.inner_text() == f"job-{source}.jsonl"
    assert page.inner_text("[data-file=size]") == "1.5 KiB"
    assert "UTC" in page.inner_text("[data-file=expires_at]")
    _both_widths(page, "loops-job-export-finished")

    page.goto(f"{live_url}/jobs/")
    row = page.locator(f"tr[data-job='{replay.pk}']")
    assert "took 2 min 14 s · 7.5 events/s" in row.inner_text()
    assert row.locator(f"a[href='/clusters/local/topics/{target}/']").count() == 1
    _both_widths(page, "loops-job-list")


def test_a_running_replay_shows_its_live_rate_then_its_duration_when_it_ends(
    live_url: str, page: Any, make_user: Any, celery_worker: Any, kafka_admin: AdminClient, kafka_bootstrap: str
) -> None:
    source = create_topic(kafka_admin, f"br-loops-live-{uuid.uuid4().hex[:6]}", 1)
    produce(kafka_bootstrap, source, [Ev(0, None, json.dumps({"n": i}).encode()) for i in range(40)])
    _log_in(page, live_url, make_user(Role.OPERATOR, password=PASSWORD))
    page.goto(f"{live_url}/clusters/local/topics/{source}/replay/")
    page.fill("#id_target_topic", f"{source}-copy")
    page.check("#id_create_target")
    page.fill("#id_rate_limit", "20")  # ~2 s: long enough to be seen running
    page.click("#start-job")
    page.wait_for_url("**/jobs/*/")
    page.wait_for_selector("#job-status.succeeded", timeout=60_000)
    # The websocket's last message switches the live rate for the duration, without a reload.
    page.wait_for_selector("#job-summary:not([hidden])")
    assert page.locator("#job-live").is_hidden()
    assert re.fullmatch(r"[\d.]+ s", page.inner_text("#job-duration"))
    assert page.inner_text("#job-average").endswith(" events/s")
    assert page.locator("#job-target").get_attribute("href") == f"/clusters/local/topics/{source}-copy/"
