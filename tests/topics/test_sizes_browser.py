"""The topic list with its size column in headless Chromium, wide and narrow (screenshots in test-output/)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from tests.backbone_admin.test_logdirs import broker_describes_log_dirs  # noqa: F401 - a fixture
from tests.conftest import independent_client_config, screenshot
from topics import listing
from topics.models import RetentionPolicy, clean_policy

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def topics(kafka_admin: AdminClient, kafka_bootstrap: str) -> Iterator[dict[str, int]]:
    prefix = f"szb-{uuid.uuid4().hex[:8]}"
    events = {f"{prefix}.orders": 300, f"{prefix}.shipments": 40, f"{prefix}.audit": 2}
    for future in kafka_admin.create_topics([NewTopic(n, 2, 1) for n in events]).values():
        future.result(10)
    producer = Producer(independent_client_config(kafka_bootstrap, **{"linger.ms": 0}))
    for name, count in events.items():
        for i in range(count):
            producer.produce(name, value=os.urandom(400).hex().encode(), partition=i % 2)
    assert producer.flush(10) == 0
    listing.invalidate("local")
    yield events
    for future in kafka_admin.delete_topics(list(events)).values():
        future.result(10)


def test_the_topic_list_shows_sizes_sorted_wide_and_narrow(
    live_url: str,
    page: Any,
    make_user: Any,
    topics: dict[str, int],
    broker_describes_log_dirs: bool,  # noqa: F811 - the fixture imported above
) -> None:
    user = make_user("viewer", password="pw-Browser-5")
    page.goto(live_url + "/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "pw-Browser-5")
    page.click("button[type=submit]")
    page.wait_for_url("**/clusters/local/")
    prefix = next(iter(topics)).split(".")[0]
    for width, height, name in ((1280, 800, "topic-sizes-1280"), (390, 844, "topic-sizes-390")):
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{live_url}/clusters/local/topics/?search={prefix}&sort=size&order=desc&refresh=1")
        cells = page.locator("#topic-rows td.size")
        assert cells.count() == 3
        order = page.locator("#topic-rows tr").evaluate_all("rows => rows.map(r => r.dataset.topic)")
        if broker_describes_log_dirs:
            # Largest first; every cell in units.
            assert order == sorted(topics, key=lambda n: -topics[n])
            assert all(text.endswith(("B", "kB", "MB")) for text in cells.all_inner_texts())
        else:
            assert order == sorted(topics, reverse=True)
            assert set(cells.all_inner_texts()) == {"size unknown on this cluster"}
            assert "Sorted by name instead" in page.inner_text("#topic-table")
        cells.first.scroll_into_view_if_needed()  # narrow: the table scrolls sideways to its size column
        screenshot(page, name)

        # The topic page: size per partition and per broker; the overview: the cluster's total.
        largest = max(topics, key=lambda n: topics[n])
        page.goto(f"{live_url}/clusters/local/topics/{largest}/")
        sizes = page.locator("td.partition-size")
        assert sizes.count() == 2
        if broker_describes_log_dirs:
            assert all("b" in text and "kB" in text for text in sizes.all_inner_texts())
        else:
            assert set(sizes.all_inner_texts()) == {"size unknown on this cluster"}
        screenshot(page, name.replace("topic-sizes", "topic-partition-sizes"))
        page.goto(f"{live_url}/clusters/local/")
        total = page.inner_text(".cluster-size")
        assert ("size unknown on this cluster" in total) != broker_describes_log_dirs
        screenshot(page, name.replace("topic-sizes", "overview-size"))

    # The retention preview: the events a shorter retention deletes, and their bytes (estimated) or why not.
    policy = RetentionPolicy()
    policy.apply_clean(
        clean_policy({"name": f"p-{prefix}", "topic_pattern": f"{prefix}.*", "configs": {"retention.ms": "1s"}})
    )
    policy.save()
    time.sleep(1.2)  # every event is now older than the new limit
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_url}/clusters/local/retention/?search={prefix}")
    page.locator(f"input[name=topics][value='{largest}']").check()
    page.click("#preview-selected")
    note = page.locator(f"#apply-panel tr[data-topic='{largest}'] .impact-bytes")
    note.wait_for()
    if broker_describes_log_dirs:
        assert "estimated" in note.inner_text()
        assert "(estimate)" in page.inner_text(f"#apply-panel tr[data-topic='{largest}'] td.impact")
    else:
        assert "unknown (Size unknown on this cluster" in note.inner_text()
    screenshot(page, "retention-preview-bytes-1280")
