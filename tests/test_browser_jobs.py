"""An operator starts a replay from the topic page in headless Chromium and watches its progress
bar, fed over the job's websocket, reach 100%."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient

from backbone_admin.models import Role
from streams.jobs.models import Job
from tests.conftest import screenshot
from tests.streams.jobs_helpers import create_topic, fill, read_all

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "pw-Browser-Jobs-1"


@pytest.fixture(autouse=True)
def console_errors(page: Any) -> Iterator[list[str]]:
    """Errors the browser logged; a Content-Security-Policy violation fails the test."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield errors
    assert [e for e in errors if "Content Security Policy" in e] == []


def test_an_operator_starts_a_replay_and_watches_it_reach_100_percent(
    live_url: str,
    page: Any,
    make_user: Any,
    celery_worker: Any,
    kafka_admin: AdminClient,
    kafka_bootstrap: str,
    console_errors: list[str],
) -> None:
    source = f"br-replay-{uuid.uuid4().hex[:8]}"
    target = f"{source}-copy"
    create_topic(kafka_admin, source, 3)
    fill(kafka_bootstrap, source, 3, 100)
    user = make_user(Role.OPERATOR, password=PASSWORD)
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    page.goto(live_url + "/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/clusters/local/")

    page.goto(f"{live_url}/clusters/local/topics/{source}/")
    page.click("#start-replay")
    page.wait_for_url(f"**/topics/{source}/replay/")
    page.fill("#id_target_topic", target)
    page.check("#id_create_target")
    page.fill("#id_rate_limit", "100")
    screenshot(page, "jobs-replay-form")
    page.click("#start-job")
    page.wait_for_url("**/jobs/*/")
    job = Job.objects.get(topic=source)
    assert page.locator("#job").get_attribute("data-job") == str(job.pk)

    # The bar moves while the job runs (pushed over the websocket; the page is never reloaded) ...
    bar = page.locator("#job-progress")
    page.wait_for_selector("#job-status.running", timeout=30_000)
    page.wait_for_selector("#job-status.succeeded", timeout=60_000)
    # ... and ends full, with the report.
    assert bar.get_attribute("value") is not None
    assert bar.evaluate("el => el.value") == 100
    assert page.locator("#job-percent").inner_text() == "100"
    assert page.locator("#job-result").is_visible()
    assert page.locator('[data-result="target_events_written"]').inner_text() == "300"
    for row in page.locator("tr[data-partition]").all():
        assert row.locator('[data-field="status"]').inner_text() == "done"
    screenshot(page, "jobs-replay-done")
    assert len(read_all(kafka_bootstrap, target, 3)) == 300
    # No script error; no page resource missing (the browser's own favicon probe aside).
    assert [e for e in console_errors if "Failed to load resource" not in e] == []
    assert missing == []
