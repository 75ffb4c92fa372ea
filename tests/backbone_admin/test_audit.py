from __future__ import annotations

import re
from typing import Any

import pytest

from backbone_admin import audit
from backbone_admin.kafka import InvalidRequest
from backbone_admin.models import AuditEntry


@pytest.mark.django_db
def test_audited_records_who_what_before_and_after(make_user: Any) -> None:
    user = make_user("operator")
    with audited_change(user) as change:
        change.after = {"retention.ms": "1000"}
    entry = AuditEntry.objects.get()
    assert (entry.username, entry.action, entry.cluster, entry.target) == (
        user.username,
        "topic.configure",
        "local",
        "orders",
    )
    assert entry.before == {"retention.ms": "604800000"}
    assert entry.after == {"retention.ms": "1000"}
    assert entry.result == "ok"


@pytest.mark.django_db
def test_a_failed_change_is_audited_with_its_error_and_re_raised(make_user: Any) -> None:
    user = make_user("operator")
    with pytest.raises(InvalidRequest), audited_change(user):
        raise InvalidRequest("retention.ms must be ≥ -1")
    entry = AuditEntry.objects.get()
    assert entry.result == "error"
    assert entry.error == "retention.ms must be ≥ -1"
    assert entry.after is None


@pytest.mark.django_db
def test_admins_read_the_audit_log_filtered(api_as: Any, make_user: Any) -> None:
    user = make_user("operator")
    audit.record(user=user, action="topic.create", cluster="local", target="orders", after={"partitions": 3})
    audit.record(user=user, action="topic.delete", cluster="local", target="payments", result="error", error="boom")
    response = api_as("admin").get("/api/audit/", {"result": "error"})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    row = body["results"][0]
    assert (row["who"], row["action"], row["target"], row["result"], row["error"]) == (
        user.username,
        "topic.delete",
        "payments",
        "error",
        "boom",
    )


def audited_change(user: Any) -> Any:
    return audit.audited(
        user=user, action="topic.configure", cluster="local", target="orders", before={"retention.ms": "604800000"}
    )


@pytest.mark.django_db
def test_the_audit_page_shows_changes_as_json_with_units_and_messages_without_backticks(
    make_user: Any, client_as: Any
) -> None:
    user = make_user("operator")
    audit.record(
        user=user,
        action="topic.configure",
        cluster="local",
        target="orders",
        before={"retention.ms": "604800000", "retention.bytes": "1073741824", "cleanup.policy": "delete"},
        after={"retention.ms": "259200000", "retention.bytes": "1073741824", "cleanup.policy": "delete", "note": None},
    )
    audit.record(user=user, action="export.download", cluster="local", target="job 7", after={"size": 1536})
    audit.record(
        user=user,
        action="topic.delete",
        cluster="local",
        target="gone",
        result="error",
        error="topic `gone` does not exist",
    )
    html = client_as("admin").get("/audit/").content.decode()
    # Only what changed, in JSON, with units: no raw milliseconds, no Python None.
    assert "<code>retention.ms</code>: &quot;7 d&quot; → &quot;3 d&quot;" in html
    assert "<code>note</code>: (not set) → null" in html
    assert "retention.bytes" not in html and "cleanup.policy" not in html  # unchanged
    assert "259200000" not in html and "None" not in html
    assert '→ <code class="audit-json">{&quot;size&quot;: &quot;1.5 KiB&quot;}</code>' in html
    # Times carry their date and zone; names in messages read as code, not between backticks.
    assert re.search(r'<time datetime="[0-9T:.-]+Z">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</time>', html)
    assert "topic <code>gone</code> does not exist" in html and "`gone`" not in html
