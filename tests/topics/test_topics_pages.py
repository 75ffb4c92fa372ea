"""Topic pages: htmx fragments, forms that change nothing on error, and a real browser run."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, NewTopic, ResourceType

from tests.conftest import screenshot

HX = {"HTTP_HX_REQUEST": "true"}


def make_topic(admin: AdminClient, name: str, partitions: int = 1, config: dict[str, str] | None = None) -> None:
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})]
    )
    futures[name].result(timeout=10)


def broker_configs(admin: AdminClient, topic: str) -> dict[str, str | None]:
    futures = admin.describe_configs([ConfigResource(ResourceType.TOPIC, topic)])
    return {n: e.value for n, e in next(iter(futures.values())).result(timeout=5).items()}


def broker_topics(admin: AdminClient) -> set[str]:
    return set(admin.list_topics(timeout=5).topics)


@pytest.mark.django_db
def test_the_list_searches_and_sorts_with_htmx_fragments(client_as: Any, kafka_admin: AdminClient) -> None:
    prefix = f"pg-{uuid.uuid4().hex[:8]}"
    make_topic(kafka_admin, f"{prefix}-one", partitions=1, config={"retention.ms": "604800000"})
    make_topic(kafka_admin, f"{prefix}-two", partitions=4)
    client = client_as("viewer")
    page = client.get("/clusters/local/topics/", {"search": prefix, "refresh": "1"})
    html = page.content.decode()
    assert page.status_code == 200
    assert "<html" in html and 'id="topic-search"' in html
    assert f"{prefix}-one" in html and f"{prefix}-two" in html
    assert "7 d" in html
    assert "DescribeLogDirs" in html  # the size tooltip explains the dash
    fragment = client.get("/clusters/local/topics/", {"search": prefix, "sort": "partitions", "order": "desc"}, **HX)
    body = fragment.content.decode()
    assert "<html" not in body and 'id="topic-table"' in body
    assert body.index(f"{prefix}-two") < body.index(f"{prefix}-one")
    assert "order=asc" in body  # clicking the sorted header again flips the order
    bad = client.get("/clusters/local/topics/", {"search": "re:(["}, **HX)
    assert bad.status_code == 200
    assert "not a valid regular expression" in bad.content.decode()


@pytest.mark.django_db
def test_the_detail_page_shows_partitions_configs_and_role_actions(
    client_as: Any, topic_name: str, kafka_admin: AdminClient
) -> None:
    make_topic(kafka_admin, topic_name, partitions=2, config={"retention.ms": "86400000"})
    viewer_html = client_as("viewer").get(f"/clusters/local/topics/{topic_name}/").content.decode()
    assert "/produce/" not in viewer_html  # producing needs the operator role
    row = viewer_html[viewer_html.index('data-config="retention.ms"') :]
    assert "1 d" in row[: row.index("</tr>")]
    assert "Edit configs" not in viewer_html and "Delete</a>" not in viewer_html
    operator_html = client_as("operator").get(f"/clusters/local/topics/{topic_name}/").content.decode()
    assert "Edit configs" in operator_html and "Delete</a>" not in operator_html
    assert f'href="/clusters/local/topics/{topic_name}/produce/"' in operator_html
    assert "Delete</a>" in client_as("admin").get(f"/clusters/local/topics/{topic_name}/").content.decode()


@pytest.mark.django_db
def test_unknown_topics_and_missing_roles_render_error_pages(client_as: Any) -> None:
    missing = client_as("admin").get(f"/clusters/local/topics/nope-{uuid.uuid4().hex[:6]}/")
    assert missing.status_code == 404
    assert "does not exist" in missing.content.decode()
    assert client_as("viewer").get("/clusters/local/topics/new/").status_code == 403


@pytest.mark.django_db
def test_the_create_form_creates_with_human_units_and_shows_errors_per_field(
    client_as: Any, topic_name: str, kafka_admin: AdminClient
) -> None:
    client = client_as("operator")
    form = {"name": topic_name, "partitions": "2", "replication_factor": "1", "retention_time": "3d"}
    bad = client.post("/clusters/local/topics/new/", {**form, "retention_size": "huge", "other_configs": "x.y=1"})
    assert bad.status_code == 400
    html = bad.content.decode()
    assert 'data-field="retention_size"' in html and "not a size" in html
    assert "unknown topic config `x.y`" in html
    assert topic_name not in broker_topics(kafka_admin)
    created = client.post(
        "/clusters/local/topics/new/", {**form, "cleanup": "compact", "other_configs": "segment.ms=1h\n"}
    )
    assert created.status_code == 302
    assert created["Location"] == f"/clusters/local/topics/{topic_name}/"
    configs = broker_configs(kafka_admin, topic_name)
    assert configs["retention.ms"] == str(3 * 86_400_000)
    assert configs["cleanup.policy"] == "compact"
    assert configs["segment.ms"] == "3600000"


@pytest.mark.django_db
def test_editing_configs_previews_the_diff_then_saves_and_applies_nothing_on_error(
    client_as: Any, topic_name: str, kafka_admin: AdminClient
) -> None:
    make_topic(kafka_admin, topic_name, config={"retention.ms": "604800000"})
    client = client_as("operator")
    url = f"/clusters/local/topics/{topic_name}/configs/"
    page = client.get(url).content.decode()
    assert 'value="7 d"' in page  # shown in human units
    preview = client.post(url, {"cfg:retention.ms": "12h", "cfg:retention.bytes": "", "preview": "1"}, **HX)
    fragment = preview.content.decode()
    assert "<html" not in fragment
    assert "7 d" in fragment and "12 h" in fragment
    assert broker_configs(kafka_admin, topic_name)["retention.ms"] == "604800000"
    error = client.post(url, {"cfg:retention.ms": "12h", "cfg:retention.bytes": "lots"})
    assert error.status_code == 400
    assert 'data-field="retention.bytes"' in error.content.decode()
    assert broker_configs(kafka_admin, topic_name)["retention.ms"] == "604800000"
    saved = client.post(url, {"cfg:retention.ms": "12h", "cfg:retention.bytes": "2GiB"})
    assert saved.status_code == 302
    configs = broker_configs(kafka_admin, topic_name)
    assert configs["retention.ms"] == "43200000"
    assert configs["retention.bytes"] == str(2 * 1024**3)


@pytest.mark.django_db
def test_add_partitions_warns_about_keys_and_says_not_supported(
    client_as: Any, topic_name: str, kafka_admin: AdminClient, broker_adds_partitions: bool
) -> None:
    """The key warning first; then Apache Kafka grows the topic, a broker without CreatePartitions
    gets a page that says it cannot."""
    make_topic(kafka_admin, topic_name, partitions=2)
    client = client_as("operator")
    url = f"/clusters/local/topics/{topic_name}/partitions/"
    assert "Keys will map to different partitions" in client.get(url).content.decode()
    fewer = client.post(url, {"total": "2"})
    assert fewer.status_code == 400
    assert "must be more" in fewer.content.decode()
    response = client.post(url, {"total": "3"})
    partitions = len(kafka_admin.list_topics(topic_name, timeout=5).topics[topic_name].partitions)
    if broker_adds_partitions:
        assert response.status_code == 302
        assert response["Location"] == f"/clusters/local/topics/{topic_name}/"
        assert partitions == 3
    else:
        assert response.status_code == 400
        assert "not supported by cluster <code>local</code>" in response.content.decode()  # no backticks on a page
        assert partitions == 2


@pytest.mark.django_db
def test_an_emptied_field_of_a_default_config_changes_nothing(
    client_as: Any, topic_name: str, kafka_admin: AdminClient
) -> None:
    make_topic(kafka_admin, topic_name, config={"retention.ms": "604800000"})
    client = client_as("operator")
    url = f"/clusters/local/topics/{topic_name}/configs/"
    # retention.bytes is Kafka's default (-1, reported as such) or not reported at all: no override to remove.
    response = client.post(url, {"cfg:retention.bytes": "", "cfg:segment.ms": "", "preview": "1"}, **HX)
    assert "Nothing to change" in response.content.decode()
    assert broker_configs(kafka_admin, topic_name).get("retention.bytes") in (None, "-1")


@pytest.mark.django_db
@pytest.mark.real_kafka
def test_an_emptied_field_removes_the_override_and_the_diff_says_so(
    client_as: Any, topic_name: str, kafka_admin: AdminClient
) -> None:
    """Kafka reports a topic's own value as not default: emptying its field is an incremental DELETE."""
    make_topic(kafka_admin, topic_name, config={"retention.ms": "43200000", "retention.bytes": "1000000000"})
    client = client_as("operator")
    url = f"/clusters/local/topics/{topic_name}/configs/"
    form = {"cfg:retention.ms": "", "cfg:retention.bytes": "1000000000"}
    preview = client.post(url, {**form, "preview": "1"}, **HX).content.decode()
    row = preview[preview.index('data-config="retention.ms"') :]
    assert "12 h" in row and "the topic's own value is removed" in row
    assert 'data-config="retention.bytes"' not in preview
    saved = client.post(url, form)
    assert saved.status_code == 302
    resource = ConfigResource(ResourceType.TOPIC, topic_name)
    entries = kafka_admin.describe_configs([resource])[resource].result(timeout=5)
    source: Any = entries["retention.ms"].source
    assert int(getattr(source, "value", source)) != ConfigSource.DYNAMIC_TOPIC_CONFIG.value  # no longer the topic's
    assert entries["retention.ms"].value != "43200000"
    assert entries["retention.bytes"].value == "1000000000"


@pytest.mark.django_db
def test_delete_needs_the_typed_name(client_as: Any, topic_name: str, kafka_admin: AdminClient) -> None:
    make_topic(kafka_admin, topic_name)
    client = client_as("admin")
    url = f"/clusters/local/topics/{topic_name}/delete/"
    wrong = client.post(url, {"confirm": topic_name + "x"})
    assert wrong.status_code == 400
    assert topic_name in broker_topics(kafka_admin)
    done = client.post(url, {"confirm": topic_name})
    assert done.status_code == 302
    assert topic_name not in broker_topics(kafka_admin)
    assert client_as("operator").get(url).status_code == 403


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_operator_creates_a_topic_finds_it_and_edits_retention_in_a_browser(
    live_url: str, page: Any, make_user: Any, kafka_admin: AdminClient
) -> None:
    prefix = f"web-{uuid.uuid4().hex[:6]}"
    for i in range(3):
        make_topic(kafka_admin, f"{prefix}-seed-{i}", partitions=i + 1)
    user = make_user("admin", password="pw-Browser-1")
    page.goto(live_url + "/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "pw-Browser-1")
    page.click("button[type=submit]")
    page.wait_for_url("**/clusters/local/")
    page.goto(f"{live_url}/clusters/local/topics/new/")
    name = f"{prefix}.orders"
    page.fill("#id_name", name)
    page.fill("#id_partitions", "3")
    page.fill("#id_retention_time", "5d")
    page.fill("#id_retention_size", "500MB")
    screenshot(page, "topic_create")
    page.click("button:has-text('Create topic')")
    page.wait_for_url(f"**/clusters/local/topics/{name}/")
    page.wait_for_selector("text=Partitions")
    screenshot(page, "topic_detail")
    assert broker_configs(kafka_admin, name)["retention.ms"] == str(5 * 86_400_000)

    page.goto(f"{live_url}/clusters/local/topics/?refresh=1")
    page.fill("#topic-search", prefix)
    page.wait_for_url(f"**search={prefix}**")
    page.wait_for_selector("#topic-rows tr:nth-child(4)")  # not wait_for_function: the CSP refuses eval
    assert page.locator("#topic-rows tr").count() == 4
    assert page.locator(f"tr[data-topic='{name}']").is_visible()
    page.click("th a:has-text('Partitions')")
    page.wait_for_selector("th.sorted:has-text('Partitions')")
    screenshot(page, "topic_list")
    assert "sort=partitions" in page.url  # the URL follows, so a reload keeps the view

    page.goto(f"{live_url}/clusters/local/topics/{name}/configs/")
    page.fill("input[name='cfg:retention.ms']", "12h")
    page.click("button:has-text('Preview changes')")
    page.wait_for_selector("#preview table.diff")
    assert page.locator("#preview td.after").first.inner_text() == "12 h"
    screenshot(page, "topic_configs")
    page.locator("button:has-text('Save')").first.click()
    page.wait_for_url(f"**/clusters/local/topics/{name}/")
    assert broker_configs(kafka_admin, name)["retention.ms"] == "43200000"
