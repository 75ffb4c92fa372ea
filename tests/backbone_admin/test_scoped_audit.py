"""The audit log and resource-scoped grants (issue 16): no entry shows a hidden topic or group.

The log is for global admins (they read every entry); anyone else is refused it whole, a
scoped admin included. The rule of backbone_admin/audit_access.py, which the page and the API
apply to every reader, keeps entries about hidden resources out even for a reader it would let in.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from backbone_admin import audit
from backbone_admin.access import set_directory_groups
from backbone_admin.audit_access import visible_entries
from backbone_admin.models import AuditEntry, Grant

pytestmark = pytest.mark.django_db


Arranged = tuple[str, dict[str, AuditEntry]]


@pytest.fixture
def arranged(make_user: Callable[..., Any]) -> Arranged:
    """One entry of each shape the callers write, on a visible (`vis`) and a hidden (`hid`) resource."""
    p = f"sa{uuid.uuid4().hex[:6]}"
    who = make_user("admin")

    def rec(key: str, action: str, target: str, cluster: str = "local", **extra: Any) -> tuple[str, AuditEntry]:
        return key, audit.record(user=who, action=action, cluster=cluster, target=target, **extra)

    return p, dict(
        [
            rec("topic_vis", "topic.configure", f"{p}-vis.orders", before={"retention.ms": "1"}),
            rec("topic_hid", "topic.delete", f"{p}-hid.payroll"),
            rec("produce_hid", "topic.produce", f"{p}-hid.payroll"),
            rec("retention_hid", "retention.apply", f"{p}-hid.payroll", before={"retention.ms": "1"}),
            rec("retention_vis", "retention.apply", f"{p}-vis.orders", before={"retention.ms": "1"}),
            # A rewind's target is the group; the topics it moved are in `before`.
            rec("group_via_topic", "group.reset_offsets", f"{p}-reader", before={"offsets": {f"{p}-vis.orders": {}}}),
            rec("group_hid", "group.reset_offsets", f"{p}-payroll-app", before={"offsets": {f"{p}-hid.payroll": {}}}),
            rec("group_named", "group.delete", f"{p}-team-a", before={"offsets": {f"{p}-vis.orders": {}}}),
            # Named by a pattern, but its offsets would show a hidden topic.
            rec("group_named_hid", "group.delete", f"{p}-team-b", before={"offsets": {f"{p}-hid.payroll": {}}}),
            rec("job_vis", "job.export.start", f"{p}-vis.orders"),
            rec("replay_to_hid", "job.replay.start", f"{p}-vis.orders → local/{p}-hid.copy"),
            rec("replay_vis", "job.replay.end", f"{p}-vis.orders → local/{p}-vis.copy"),
            rec("job_number", "job.export.cancel", "job 12"),
            rec("acl", "acl.create", f"User:{p} TOPIC {p}-hid.payroll"),
            rec("denied", "GET topics:detail", f"/clusters/local/topics/{p}-hid.payroll/", result="denied"),
            rec("policy", "retention_policy.create", f"{p}-policy", cluster=""),
            rec("other_cluster", "topic.create", f"{p}-vis.orders", cluster="other"),
        ]
    )


def _scoped(make_user: Callable[..., Any], p: str, role: str) -> Any:
    """A user whose grants on `local` cover `vis` topics and `team-*` groups (through a directory group)."""
    user = make_user(None)
    Grant.objects.create(subject_type="user", subject=user.username, role=role, cluster="local", topics=[f"{p}-vis.*"])
    Grant.objects.create(subject_type="group", subject=f"{p}-sre", role=role, cluster="local", groups=[f"{p}-team-*"])
    set_directory_groups(user, [f"{p}-sre"], "oidc")
    return user


def _shown(user: Any) -> set[int]:
    return {e.pk for e in visible_entries(user, AuditEntry.objects.all())}


def test_a_scoped_user_is_shown_no_entry_of_a_hidden_topic_or_group(
    arranged: Arranged, make_user: Callable[..., Any], api_as: Any
) -> None:
    p, entries = arranged
    hidden = f"{p}-hid.payroll"
    for role in ("viewer", "admin"):  # a scoped admin is not an admin of the console
        user = _scoped(make_user, p, role)
        api, web = APIClient(), Client()
        api.force_authenticate(user)
        web.force_login(user)
        listed = api.get("/api/audit/")
        page = web.get("/audit/")
        assert listed.status_code == page.status_code == 403
        assert "admin role" in listed.json()["error"]
        assert hidden not in listed.content.decode() and hidden not in page.content.decode()

        # What the page and the API would list for them, by the rule they both apply.
        shown = _shown(user)
        expected = {"topic_vis", "retention_vis", "group_via_topic", "group_named", "job_vis", "replay_vis"}
        assert shown == {entries[k].pk for k in expected}, sorted(k for k, e in entries.items() if e.pk in shown)

    admin = api_as("admin").get("/api/audit/", {"q": hidden, "page_size": 100}).json()
    assert {r["action"] for r in admin["results"]} >= {
        "topic.delete",
        "topic.produce",
        "acl.create",
        "GET topics:detail",
    }


def test_an_admin_of_the_whole_cluster_is_shown_its_entries_and_a_global_admin_all(
    arranged: Arranged, make_user: Callable[..., Any]
) -> None:
    _, entries = arranged

    def pks(*leaving_out: str) -> set[int]:
        return {e.pk for k, e in entries.items() if k not in leaving_out}

    assert _shown(make_user("admin", cluster="local")) == pks("policy", "other_cluster")
    # An operator of the whole cluster sees every topic and group there, but not ACLs, denials
    # recorded by URL or entries naming only a job number: those are for admins.
    assert _shown(make_user("operator", cluster="local")) == pks(
        "policy", "other_cluster", "job_number", "acl", "denied"
    )
    assert _shown(make_user("admin")) == pks()
