from __future__ import annotations

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
