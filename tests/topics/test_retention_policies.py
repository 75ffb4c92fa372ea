"""Retention policies: validation, matching and priority, guardrails, API and pages per role, YAML import/export."""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from backbone_admin.kafka import InvalidRequest
from backbone_admin.models import AuditEntry
from topics.models import RetentionPolicy, clean_policy
from topics.retention import check_guardrails, governing_policy, ordered_policies

pytestmark = pytest.mark.django_db


def _name() -> str:
    return f"p-{uuid.uuid4().hex[:8]}"


def _policy(**fields: Any) -> RetentionPolicy:
    data = {"name": _name(), "topic_pattern": "orders.*", "configs": {"retention.ms": "7d"}} | fields
    policy = RetentionPolicy()
    policy.apply_clean(clean_policy(data))
    policy.save()
    return policy


def test_it_stores_human_units_as_kafka_strings() -> None:
    clean = clean_policy(
        {
            "name": "orders-week",
            "topic_pattern": "orders.*",
            "configs": {"retention.ms": "7d", "retention.bytes": "500MB", "cleanup.policy": "compact, delete"},
            "min_retention": "1d",
            "max_retention": "30 d",
        }
    )
    assert clean["configs"] == {
        "retention.ms": "604800000",
        "retention.bytes": "500000000",
        "cleanup.policy": "delete,compact",
    }
    assert clean["min_retention_ms"] == 86_400_000
    assert clean["max_retention_ms"] == 30 * 86_400_000


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"topic_pattern": "re:orders.(["}, "topic_pattern", "is not a valid regular expression"),
        ({"topic_pattern": ""}, "topic_pattern", "needs a topic pattern"),
        ({"configs": {"max.message.bytes": "1MB"}}, "configs", "is not a retention config"),
        ({"configs": {"retention.ms": "7 fortnights"}}, "configs", "unknown unit"),
        ({"configs": {"cleanup.policy": "shred"}}, "configs", "must be one or more of delete, compact"),
        ({"configs": {"retention.ms": "-5"}}, "configs", "retention.ms must be ≥ -1"),
        ({"min_retention": "30d", "max_retention": "1d"}, "min_retention", "is above the maximum 1 d"),
        ({"max_retention": "1d"}, "configs", "retention.ms 7 d is above this policy's maximum 1 d"),
        ({"min_retention": "30d"}, "configs", "retention.ms 7 d is below this policy's minimum 30 d"),
        ({"max_retention": "1d", "configs": {"retention.ms": "unlimited"}}, "configs", "forever is above"),
        ({"min_retention": "-1"}, "min_retention", "leave it empty for no guardrail"),
        ({"priority": "high"}, "priority", "whole number"),
        ({"name": "new"}, "name", "reserved"),
        ({"name": "has space"}, "name", "use letters, digits"),
        ({"configs": {}}, "configs", "at least one config or sets a guardrail"),
    ],
)
def test_it_refuses_an_invalid_policy_naming_the_field(data: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        clean_policy({"name": _name(), "topic_pattern": "orders.*", "configs": {"retention.ms": "7d"}} | data)
    assert field in info.value.fields
    assert message in str(info.value.fields[field])
    assert message in info.value.message


def test_it_refuses_a_duplicate_name() -> None:
    existing = _policy()
    with pytest.raises(InvalidRequest) as info:
        clean_policy({"name": existing.name, "topic_pattern": "x", "configs": {"retention.ms": "1d"}})
    assert "already exists" in info.value.fields["name"]


def test_glob_and_regex_patterns_match_whole_topic_names() -> None:
    glob = _policy(topic_pattern="orders.*")
    regex = _policy(topic_pattern=r"re:(payments|refunds)-v\d+")
    assert glob.matches("orders.created") and not glob.matches("old-orders.created")
    assert regex.matches("payments-v2") and regex.matches("refunds-v10")
    assert not regex.matches("payments-v2-dlq") and not regex.matches("xpayments-v2")


def test_the_highest_priority_match_governs_and_ties_go_by_name() -> None:
    prefix = uuid.uuid4().hex[:6]
    low = _policy(name=f"{prefix}-a-low", topic_pattern=f"{prefix}.*", priority=1)
    high = _policy(name=f"{prefix}-z-high", topic_pattern=f"{prefix}.orders.*", priority=10)
    tie = _policy(name=f"{prefix}-b-tie", topic_pattern=f"{prefix}.*", priority=1)
    policies = ordered_policies()
    assert governing_policy(f"{prefix}.orders.eu", policies) == high
    assert governing_policy(f"{prefix}.shipments", policies) == low
    assert governing_policy("elsewhere", [p for p in policies if p.name.startswith(prefix)]) is None
    assert policies.index(low) < policies.index(tie)


def test_topic_edits_outside_the_guardrails_are_refused_naming_the_policy() -> None:
    policy = _policy(topic_pattern="guarded.*", min_retention="1d", max_retention="30d")
    with pytest.raises(InvalidRequest) as info:
        check_guardrails("guarded.a", {"retention.ms": "3600000"})
    assert f"below the minimum 1 d of retention policy `{policy.name}`" in info.value.message
    with pytest.raises(InvalidRequest):
        check_guardrails("guarded.a", {"retention.ms": "-1"})
    check_guardrails("guarded.a", {"retention.ms": "604800000"})


# API -----------------------------------------------------------------------------------


def test_an_admin_creates_reads_updates_and_deletes_a_policy_through_the_api(api_as: Any) -> None:
    api = api_as("admin")
    created = api.post(
        "/api/retention-policies/",
        {
            "name": "api-orders",
            "topic_pattern": "api-orders.*",
            "priority": 5,
            "configs": {"retention.ms": "3d", "cleanup.policy": "delete"},
            "max_retention": "14d",
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["configs"] == {"cleanup.policy": "delete", "retention.ms": "259200000"}
    assert body["configs_human"]["retention.ms"] == "3 d"
    assert body["max_retention_ms"] == 14 * 86_400_000 and body["max_retention"] == "14 d"

    listed = api.get("/api/retention-policies/").json()
    assert "api-orders" in [p["name"] for p in listed]

    patched = api.patch("/api/retention-policies/api-orders/", {"priority": 7}, format="json")
    assert patched.status_code == 200
    assert patched.json()["priority"] == 7
    assert patched.json()["configs"]["retention.ms"] == "259200000"

    put = api.put(
        "/api/retention-policies/api-orders/",
        {"name": "api-orders", "topic_pattern": "api-orders.*", "configs": {"retention.ms": "1d"}},
        format="json",
    )
    assert put.status_code == 200
    assert put.json()["priority"] == 0 and put.json()["max_retention"] is None
    assert RetentionPolicy.objects.get(name="api-orders").configs == {"retention.ms": "86400000"}

    assert api.delete("/api/retention-policies/api-orders/").status_code == 204
    assert not RetentionPolicy.objects.filter(name="api-orders").exists()
    actions = list(
        AuditEntry.objects.filter(target="api-orders").order_by("id").values_list("action", "result", "before", "after")
    )
    assert [a[0] for a in actions] == [
        "retention_policy.create",
        "retention_policy.update",
        "retention_policy.update",
        "retention_policy.delete",
    ]
    assert all(a[1] == "ok" for a in actions)
    assert actions[1][2]["priority"] == 5 and actions[1][3]["priority"] == 7
    assert actions[3][2]["configs"] == {"retention.ms": "86400000"}


def test_it_refuses_bad_policy_input_with_field_errors_and_saves_nothing(api_as: Any) -> None:
    api = api_as("admin")
    response = api.post(
        "/api/retention-policies/",
        {
            "name": "bad-one",
            "topic_pattern": "re:(",
            "configs": {"retention.ms": "soon", "segment.bytes": "1GB"},
        },
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert "not a valid regular expression" in body["fields"]["topic_pattern"]
    assert "retention.ms" in body["fields"]["configs"]
    assert "segment.bytes" in body["fields"]["configs"]
    assert body["error"].startswith("Invalid retention policy")
    missing = api.post("/api/retention-policies/", {"configs": {"retention.ms": "1d"}}, format="json")
    assert missing.status_code == 400 and set(missing.json()["fields"]) == {"name", "topic_pattern"}
    assert not RetentionPolicy.objects.filter(name="bad-one").exists()


@pytest.mark.parametrize("role", ["viewer", "reader", "operator"])
def test_it_refuses_policy_changes_below_admin(api_as: Any, role: str) -> None:
    policy = _policy()
    api = api_as(role)
    assert api.get("/api/retention-policies/").status_code == 200
    assert api.get(f"/api/retention-policies/{policy.name}/").status_code == 200
    create = api.post("/api/retention-policies/", {"name": "nope", "topic_pattern": "x"}, format="json")
    assert create.status_code == 403
    assert "admin role" in create.json()["error"]
    assert api.patch(f"/api/retention-policies/{policy.name}/", {"priority": 3}, format="json").status_code == 403
    assert api.delete(f"/api/retention-policies/{policy.name}/").status_code == 403
    policy.refresh_from_db()
    assert policy.priority == 0


def test_it_refuses_users_without_any_role_and_anonymous_ones(api_as: Any) -> None:
    from rest_framework.test import APIClient

    assert api_as(None).get("/api/retention-policies/").status_code == 403
    assert APIClient().get("/api/retention-policies/").status_code in (401, 403)


def test_an_unknown_policy_is_404(api_as: Any) -> None:
    response = api_as("admin").get("/api/retention-policies/no-such-policy/")
    assert response.status_code == 404
    assert response.json() == {"error": "retention policy `no-such-policy` does not exist", "fields": {}}
    assert api_as("admin").delete("/api/retention-policies/no-such-policy/").status_code == 404


# Pages ---------------------------------------------------------------------------------


def test_an_admin_creates_edits_and_deletes_a_policy_on_the_pages(client_as: Any) -> None:
    client = client_as("admin")
    assert client.get("/retention/new/").status_code == 200
    form = {
        "name": "page-policy",
        "topic_pattern": "page.*",
        "priority": "3",
        "cfg:retention.ms": "2d",
        "cfg:cleanup.policy": "delete",
        "max_retention": "7d",
    }
    response = client.post("/retention/new/", form)
    assert response.status_code == 302
    policy = RetentionPolicy.objects.get(name="page-policy")
    assert policy.configs == {"retention.ms": "172800000", "cleanup.policy": "delete"}
    listing = client.get("/retention/").content.decode()
    assert "page-policy" in listing and "2 d" in listing and "max</span> 7 d" in listing

    edit = client.get("/retention/page-policy/").content.decode()
    assert 'value="2d"' in edit
    bad = client.post("/retention/page-policy/", form | {"cfg:retention.ms": "30d"})
    assert bad.status_code == 400
    assert "above this policy&#x27;s maximum 7 d" in bad.content.decode()
    policy.refresh_from_db()
    assert policy.configs["retention.ms"] == "172800000"

    assert client.post("/retention/page-policy/", form | {"cfg:retention.ms": "3d"}).status_code == 302
    policy.refresh_from_db()
    assert policy.configs["retention.ms"] == "259200000"
    assert client.post("/retention/page-policy/", {"action": "delete"}).status_code == 302
    assert not RetentionPolicy.objects.filter(name="page-policy").exists()


def test_non_admins_see_policies_read_only_and_cannot_post(client_as: Any) -> None:
    policy = _policy()
    client = client_as("operator")
    page = client.get(f"/retention/{policy.name}/").content.decode()
    assert "read-only: editing policies needs the admin role" in page
    assert "<fieldset disabled>" in page and "Delete policy" not in page
    assert "New policy" not in client.get("/retention/").content.decode()
    refused = client.post(f"/retention/{policy.name}/", {"action": "delete"})
    assert refused.status_code == 403
    assert RetentionPolicy.objects.filter(pk=policy.pk).exists()
    assert client_as("admin").get("/retention/no-such/").status_code == 404


# YAML ----------------------------------------------------------------------------------


def _export() -> dict[str, Any]:
    out = io.StringIO()
    call_command("retention_policies", "export", "-", stdout=out)
    return yaml.safe_load(out.getvalue())


def test_export_then_import_round_trips_every_field(tmp_path: Path) -> None:
    first = _policy(
        description="orders keep a week",
        priority=4,
        configs={"retention.ms": "7d", "retention.bytes": "1234567", "cleanup.policy": "delete"},
        min_retention="1d",
        max_retention="90000000000",
    )
    second = _policy(topic_pattern="re:audit-.*", configs={"cleanup.policy": "compact", "delete.retention.ms": "1d"})
    path = tmp_path / "policies.yml"
    call_command("retention_policies", "export", str(path), stderr=io.StringIO())
    exported = yaml.safe_load(path.read_text())["policies"]
    documents = {d["name"]: d for d in exported}
    assert documents[first.name]["max_retention"] == "25000 h" and documents[first.name]["min_retention"] == "1 d"
    before = {p.name: p.as_document() for p in RetentionPolicy.objects.all()}

    RetentionPolicy.objects.all().delete()
    out = io.StringIO()
    call_command("retention_policies", "import", str(path), stdout=out)
    assert f"{len(before)} created" in out.getvalue()
    after = {p.name: p.as_document() for p in RetentionPolicy.objects.all()}
    assert after == before
    assert RetentionPolicy.objects.get(name=second.name).configs == {
        "cleanup.policy": "compact",
        "delete.retention.ms": "86400000",
    }
    again = io.StringIO()
    call_command("retention_policies", "import", str(path), stdout=again)
    assert f"0 created, 0 updated, {len(before)} unchanged" in again.getvalue()


def test_import_upserts_by_name_and_prunes_only_when_asked(tmp_path: Path) -> None:
    kept = _policy(priority=1)
    other = _policy()
    path = tmp_path / "p.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "policies": [
                    {"name": kept.name, "topic_pattern": "orders.*", "priority": 9, "configs": {"retention.ms": "2d"}},
                    {"name": "brand-new", "topic_pattern": "new.*", "configs": {"retention.bytes": "1GiB"}},
                ]
            }
        )
    )
    call_command("retention_policies", "import", str(path), stdout=io.StringIO())
    kept.refresh_from_db()
    assert kept.priority == 9 and kept.configs == {"retention.ms": "172800000"}
    assert RetentionPolicy.objects.get(name="brand-new").configs == {"retention.bytes": "1073741824"}
    assert RetentionPolicy.objects.filter(pk=other.pk).exists()

    call_command("retention_policies", "import", str(path), "--prune", stdout=io.StringIO())
    assert not RetentionPolicy.objects.filter(pk=other.pk).exists()
    assert AuditEntry.objects.filter(action="retention_policy.delete", target=other.name).exists()
    assert AuditEntry.objects.filter(action="retention_policy.create", target="brand-new").exists()


@pytest.mark.parametrize(
    "text",
    [
        "policies:\n  - {name: good-one, topic_pattern: 'a.*', configs: {retention.ms: 1d}}\n"
        "  - {name: bad-one, topic_pattern: 're:(', configs: {retention.ms: 1d}}\n",
        "policies:\n  - {name: good-one, topic_pattern: 'a.*', configs: {retention.ms: 1d}}\n"
        "  - {name: good-one, topic_pattern: 'b.*', configs: {retention.ms: 2d}}\n",
        "policies:\n  - {name: good-one, topic_pattern: 'a.*', configs: {retention.ms: 1d}, colour: red}\n",
        "policies:\n  - {name: good-one, topic_pattern: 'a.*', configs: {retention.ms: 1d}}\n  - just a string\n",
        "policies: {name: good-one}\n",
        "policies: [unclosed\n",
    ],
)
def test_a_bad_file_imports_nothing(tmp_path: Path, text: str) -> None:
    existing = _policy(priority=2)
    path = tmp_path / "bad.yml"
    path.write_text(text)
    with pytest.raises(CommandError) as info:
        call_command("retention_policies", "import", str(path), "--prune", stdout=io.StringIO())
    assert "nothing imported" in str(info.value) or "not valid YAML" in str(info.value)
    assert not RetentionPolicy.objects.filter(name="good-one").exists()
    existing.refresh_from_db()
    assert existing.priority == 2


def test_import_reads_stdin(monkeypatch: Any) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("- {name: from-stdin, topic_pattern: 's.*', max_retention: 3d}\n"))
    call_command("retention_policies", "import", "-", stdout=io.StringIO())
    assert RetentionPolicy.objects.get(name="from-stdin").max_retention_ms == 3 * 86_400_000


@pytest.mark.django_db
def test_the_demo_policies_seed_a_new_console_once() -> None:
    out = io.StringIO()
    call_command(
        "retention_policies", "import", "streams/fixtures/demo-retention-policies.yml", "--if-empty", stdout=out
    )
    assert "3 created" in out.getvalue()
    RetentionPolicy.objects.filter(name="orders-30d").update(priority=99)
    call_command(
        "retention_policies", "import", "streams/fixtures/demo-retention-policies.yml", "--if-empty", stdout=out
    )
    assert "nothing imported" in out.getvalue()
    assert RetentionPolicy.objects.get(name="orders-30d").priority == 99
