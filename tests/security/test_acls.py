"""ACL pages and API: admins of the cluster only, every change previewed then audited, checked on the broker."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError
from confluent_kafka.admin import AdminClient
from django.test import Client

from backbone_admin.kafka import security as gateway
from backbone_admin.kafka.client import require_cluster
from backbone_admin.kafka.isolation import child_pid
from backbone_admin.models import AuditEntry
from tests.security.conftest import ON_TEST_BROKER, broker_acls, described

pytestmark = pytest.mark.django_db
PAGE = "/clusters/local/acls/"
API = "/api/clusters/local/acls/"


def _rows(html: str) -> int:
    return html.count('aria-label="delete ')


# --- Who may ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "reader", "operator"])
def test_it_refuses_everyone_below_admin(role: str, client_as: Callable[..., Client], api_as: Any) -> None:
    assert client_as(role).get(PAGE).status_code == 403
    assert client_as(role).get("/clusters/local/users/").status_code == 403
    assert api_as(role).get(API).status_code == 403
    response = api_as(role).post(API, {"template": "consumer", "principal": "User:x", "topic": "t", "group": "g"})
    assert response.status_code == 403
    assert not AuditEntry.objects.filter(action__startswith="acl.").exists()


def test_an_admin_granted_on_the_cluster_sees_what_the_broker_holds(
    client_as: Callable[..., Client], kafka_admin: AdminClient
) -> None:
    """The list is the broker's answer to DescribeAcls (the test broker answers with none)."""
    response = client_as("admin", cluster="local").get(PAGE)
    assert response.status_code == 200
    independent = described(kafka_admin, None)
    html = response.content.decode()
    assert _rows(html) == len(independent)
    assert f"{len(independent)} ACL" in html
    assert ">Security</a>" in html  # the header link, for an admin of this cluster


def test_the_header_has_no_security_link_below_admin(client_as: Callable[..., Client]) -> None:
    html = client_as("operator").get("/clusters/local/topics/").content.decode()
    assert ">Security</a>" not in html


def test_a_read_only_cluster_refuses_acl_writes_even_to_an_admin(
    clusters_file: Callable[[str], Path], client_as: Callable[..., Client], api_as: Any, principal: str
) -> None:
    clusters_file("clusters:\n  - {name: local, bootstrap_servers: '{LOCAL}', read_only: true}\n")
    admin = client_as("admin")
    assert admin.get(PAGE).status_code == 200  # reading is fine
    body = {"kind": "consumer", "principal": principal, "topic": "t", "group": "g", "pattern_type": "LITERAL"}
    assert admin.post("/clusters/local/acls/new/", {**body, "action": "confirm"}).status_code == 403
    assert admin.post("/clusters/local/acls/delete/", {"principal": principal, "action": "confirm"}).status_code == 403
    api = api_as("admin")
    assert (
        api.post(
            API,
            {"template": "consumer", "principal": principal, "topic": "t", "group": "g", "dry_run": False},
            format="json",
        ).status_code
        == 403
    )
    assert api.post(API + "delete/", {"principal": principal, "dry_run": False}, format="json").status_code == 403
    assert not AuditEntry.objects.filter(action__startswith="acl.", result=AuditEntry.Result.OK).exists()


# --- Validation before the broker -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("acl", "field"),
    [
        ({"principal": "alice"}, "principal"),
        ({"resource_type": "CLUSTER", "resource_name": "my-cluster"}, "resource_name"),
        ({"resource_name": "*", "pattern_type": "PREFIXED"}, "pattern_type"),
        ({"resource_name": ""}, "resource_name"),
    ],
)
def test_it_refuses_bindings_kafka_would_refuse(api_as: Any, acl: dict[str, str], field: str) -> None:
    binding = {"resource_type": "TOPIC", "resource_name": "t", "principal": "User:a", "operation": "READ", **acl}
    response = api_as("admin").post(API, {"acls": [binding], "dry_run": False}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["fields"] or field in str(response.json()["fields"])


def test_deleting_every_acl_at_once_is_refused(api_as: Any, client_as: Callable[..., Client]) -> None:
    response = api_as("admin").post(API + "delete/", {"dry_run": True}, format="json")
    assert response.status_code == 400
    assert "name a principal or a resource" in response.json()["error"]
    assert client_as("admin").post("/clusters/local/acls/delete/", {"action": "preview"}).status_code == 400


def test_security_disabled_becomes_a_sentence_not_a_trace() -> None:
    """SECURITY_DISABLED, as Kafka answers without an authorizer, is turned into the sentence shown."""
    cluster = require_cluster("local")
    with pytest.raises(gateway.SecurityDisabled, match="security is disabled on this cluster"):
        gateway._fail(
            ("kafka", KafkaError.SECURITY_DISABLED, "Security features are disabled"), cluster, "listing ACLs"
        )


@pytest.mark.skipif(not os.environ.get("TEST_KAFKA_NOAUTH_BOOTSTRAP"), reason="needs a Kafka without an authorizer")
def test_a_kafka_without_an_authorizer_shows_security_is_disabled(
    clusters_file: Callable[[str], Path], client_as: Callable[..., Client], api_as: Any
) -> None:
    bootstrap = os.environ["TEST_KAFKA_NOAUTH_BOOTSTRAP"]
    clusters_file(f"clusters:\n  - {{name: local, bootstrap_servers: '{bootstrap}'}}\n")
    page = client_as("admin").get(PAGE)
    assert page.status_code == 200
    assert "Security is disabled on this cluster" in page.content.decode()
    assert "Traceback" not in page.content.decode()
    response = api_as("admin").get(API)
    assert response.status_code == 400
    assert response.json()["error"].startswith("security is disabled on this cluster")


@pytest.mark.skipif(not ON_TEST_BROKER, reason="the test broker's CreateAcls answer is what aborts librdkafka")
def test_a_client_crash_in_create_acls_costs_one_503_not_the_console(api_as: Any, principal: str) -> None:
    """TEST_BROKER.md: the test broker's CreateAcls answer aborts librdkafka. It happens in the
    cluster's isolated child: the request gets a 503 naming it, the next request a new child."""
    api = api_as("admin")
    assert api.get(API).status_code == 200
    before = child_pid("local")
    body = {"template": "consumer", "principal": principal, "topic": "t", "group": "g", "dry_run": False}
    response = api.post(API, body, format="json")
    assert response.status_code == 503, response.content
    assert "the Kafka client failed during creating ACLs" in response.json()["error"]
    assert "SIGABRT" in response.json()["error"]
    assert api.get(API).status_code == 200
    assert child_pid("local") not in (None, before)
    entry = AuditEntry.objects.get(action="acl.create")
    assert entry.result == AuditEntry.Result.ERROR


# --- Writes on Apache Kafka ---------------------------------------------------------------------


def _preview_rows(html: str) -> list[tuple[str, str, str]]:
    """(change, operation, resource) of each row of a preview table."""
    rows = re.findall(
        r'<tr class="(added|exists|removed)">.*?<td class="mono">[^<]*</td><td>[^<]*</td><td class="mono">([^<]*)</td>'
        r'\s*<td><span class="muted small">([^<]*)</span> <span class="mono">([^<]*)</span>',
        html,
        re.S,
    )
    return [(change, operation, f"{kind} {name}") for change, operation, kind, name in rows]


@pytest.mark.real_kafka
def test_an_admin_previews_a_consumer_template_then_creates_it(
    client_as: Callable[..., Client], kafka_admin: AdminClient, principal: str
) -> None:
    admin = client_as("admin", cluster="local")
    form = {
        "kind": "consumer",
        "principal": principal,
        "topic": "orders",
        "pattern_type": "LITERAL",
        "group": "billing",
    }
    preview = admin.post("/clusters/local/acls/new/", {**form, "action": "preview"})
    assert preview.status_code == 200
    planned = _preview_rows(preview.content.decode())
    assert planned == [
        ("added", "READ", "TOPIC orders"),
        ("added", "DESCRIBE", "TOPIC orders"),
        ("added", "READ", "GROUP billing"),
    ]
    assert broker_acls(kafka_admin, principal) == set()  # a preview changes nothing

    # One binding exists already: the preview says so, the confirm leaves it and adds the rest.
    gateway.create_acls(
        "local",
        [gateway.acl(resource_type="GROUP", resource_name="billing", principal_name=principal, operation="READ")],
    )
    preview = admin.post("/clusters/local/acls/new/", {**form, "action": "preview"})
    assert [c for c, _, _ in _preview_rows(preview.content.decode())] == ["added", "added", "exists"]

    done = admin.post("/clusters/local/acls/new/", {**form, "action": "confirm"})
    assert done.status_code == 302
    assert broker_acls(kafka_admin, principal) == {
        ("TOPIC", "orders", "LITERAL", "READ", "ALLOW"),
        ("TOPIC", "orders", "LITERAL", "DESCRIBE", "ALLOW"),
        ("GROUP", "billing", "LITERAL", "READ", "ALLOW"),
    }
    entry = AuditEntry.objects.get(action="acl.create")
    assert entry.result == AuditEntry.Result.OK and entry.target == principal
    before: list[dict[str, str]] = entry.before or []
    after: list[dict[str, str]] = entry.after or []
    assert [b["resource_name"] for b in before] == ["billing"]
    assert {(b["resource_type"], b["operation"]) for b in after} == {("TOPIC", "READ"), ("TOPIC", "DESCRIBE")}
    listed = admin.get(PAGE, {"principal": principal}).content.decode()
    assert _rows(listed) == 3


@pytest.mark.real_kafka
def test_the_producer_and_streams_templates_follow_kafkas_documentation(
    api_as: Any, kafka_admin: AdminClient, principal: str
) -> None:
    api = api_as("admin")
    producer = {"template": "producer", "principal": principal, "topic": "payments", "transactional_id": "pay-tx"}
    preview = api.post(API, producer, format="json")
    assert preview.status_code == 200 and preview.json()["dry_run"] is True
    assert {
        (c["acl"]["resource_type"], c["acl"]["resource_name"], c["acl"]["operation"]) for c in preview.json()["changes"]
    } == {
        ("TOPIC", "payments", "WRITE"),
        ("TOPIC", "payments", "DESCRIBE"),
        ("TRANSACTIONAL_ID", "pay-tx", "WRITE"),
        ("TRANSACTIONAL_ID", "pay-tx", "DESCRIBE"),
        ("CLUSTER", "kafka-cluster", "IDEMPOTENT_WRITE"),
    }
    assert broker_acls(kafka_admin, principal) == set()
    created = api.post(API, {**producer, "dry_run": False}, format="json")
    assert created.status_code == 201 and created.json()["created"] == 5
    assert ("CLUSTER", "kafka-cluster", "LITERAL", "IDEMPOTENT_WRITE", "ALLOW") in broker_acls(kafka_admin, principal)

    streams = {
        "template": "streams",
        "principal": principal,
        "application_id": "fraud-app",
        "input_topics": ["payments"],
        "output_topics": ["alerts"],
        "dry_run": False,
    }
    assert api.post(API, streams, format="json").status_code == 201
    held = broker_acls(kafka_admin, principal)
    assert {
        ("TOPIC", "payments", "LITERAL", "READ", "ALLOW"),
        ("TOPIC", "alerts", "LITERAL", "WRITE", "ALLOW"),
        ("TOPIC", "fraud-app", "PREFIXED", "ALL", "ALLOW"),
        ("GROUP", "fraud-app", "PREFIXED", "ALL", "ALLOW"),
    } <= held
    listed = api.get(API, {"principal": principal, "pattern_type": "PREFIXED"}).json()
    assert {(a["resource_type"], a["resource_name"]) for a in listed["results"]} == {
        ("TOPIC", "fraud-app"),
        ("GROUP", "fraud-app"),
    }
    by_resource = api.get(API, {"resource_type": "TOPIC", "resource_name": "alerts", "pattern_type": "LITERAL"}).json()
    assert [(a["principal"], a["operation"]) for a in by_resource["results"] if a["principal"] == principal] == [
        (principal, "WRITE")
    ]


@pytest.mark.real_kafka
def test_a_delete_removes_exactly_what_its_preview_listed(
    client_as: Callable[..., Client], api_as: Any, kafka_admin: AdminClient, principal: str
) -> None:
    api = api_as("admin")
    consumer = {"template": "consumer", "principal": principal, "topic": "orders", "group": "g1", "dry_run": False}
    assert api.post(API, consumer, format="json").status_code == 201
    preview = api.post(API + "delete/", {"principal": principal, "resource_type": "TOPIC"}, format="json").json()
    assert {a["operation"] for a in preview["matches"]} == {"READ", "DESCRIBE"}
    assert len(broker_acls(kafka_admin, principal)) == 3  # the dry run deleted nothing

    # Something changed since that preview: the confirm is refused and nothing is deleted.
    gateway.create_acls(
        "local", [gateway.acl(resource_type="TOPIC", resource_name="late", principal_name=principal, operation="READ")]
    )
    stale = {"principal": principal, "resource_type": "TOPIC", "dry_run": False, "fingerprint": preview["fingerprint"]}
    refused = api.post(API + "delete/", stale, format="json")
    assert refused.status_code == 409
    assert len(broker_acls(kafka_admin, principal)) == 4

    # Through the page: preview, then confirm with the preview's fingerprint.
    admin = client_as("admin")
    page = admin.post(
        "/clusters/local/acls/delete/", {"principal": principal, "resource_type": "TOPIC", "action": "preview"}
    )
    html = page.content.decode()
    assert [c for c, _, _ in _preview_rows(html)] == ["removed"] * 3
    fingerprint = re.search(r'name="fingerprint" value="([0-9a-f]+)"', html)
    assert fingerprint is not None
    confirm = {
        "principal": principal,
        "resource_type": "TOPIC",
        "fingerprint": fingerprint.group(1),
        "action": "confirm",
    }
    assert admin.post("/clusters/local/acls/delete/", confirm).status_code == 302
    assert broker_acls(kafka_admin, principal) == {("GROUP", "g1", "LITERAL", "READ", "ALLOW")}
    entry = AuditEntry.objects.filter(action="acl.delete", result=AuditEntry.Result.OK).get()
    deleted: dict[str, Any] = entry.after or {}
    assert len(entry.before or []) == 3 and deleted["deleted"] == 3 and deleted["remaining"] == []


@pytest.mark.real_kafka
def test_a_single_deny_acl_from_the_page(
    client_as: Callable[..., Client], kafka_admin: AdminClient, principal: str
) -> None:
    form = {
        "kind": "single",
        "principal": principal,
        "resource_type": "TOPIC",
        "resource_name": "secret.",
        "pattern_type": "PREFIXED",
        "operation": "READ",
        "permission": "DENY",
        "host": "10.0.0.1",
        "action": "confirm",
    }
    assert client_as("admin").post("/clusters/local/acls/new/", form).status_code == 302
    assert broker_acls(kafka_admin, principal) == {("TOPIC", "secret.", "PREFIXED", "READ", "DENY")}


def _confirm_form(html: str) -> dict[str, str]:
    """The hidden fields of the preview's confirm form, as the browser would post them."""
    found = re.search(r'<form method="post" class="formactions confirm-form">(.*?)</form>', html, re.S)
    assert found is not None, "the preview has no confirm form"
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', found.group(1))
    return {name: unescape(value) for name, value in fields}


@pytest.mark.real_kafka
def test_a_streams_application_with_exactly_once_from_the_page(
    client_as: Callable[..., Client], kafka_admin: AdminClient, principal: str
) -> None:
    admin = client_as("admin")
    form = {
        "kind": "streams",
        "principal": principal,
        "application_id": "fraud-app",
        "input_topics": "payments, refunds",
        "output_topics": "alerts",
        "exactly_once": "on",
        "action": "preview",
    }
    preview = admin.post("/clusters/local/acls/new/", form).content.decode()
    assert len(_preview_rows(preview)) == 8
    assert broker_acls(kafka_admin, principal) == set()
    confirm = {**_confirm_form(preview), "action": "confirm"}
    assert admin.post("/clusters/local/acls/new/", confirm).status_code == 302
    assert broker_acls(kafka_admin, principal) == {
        ("TOPIC", "payments", "LITERAL", "READ", "ALLOW"),
        ("TOPIC", "refunds", "LITERAL", "READ", "ALLOW"),
        ("TOPIC", "alerts", "LITERAL", "WRITE", "ALLOW"),
        ("TOPIC", "fraud-app", "PREFIXED", "ALL", "ALLOW"),
        ("GROUP", "fraud-app", "PREFIXED", "ALL", "ALLOW"),
        ("TRANSACTIONAL_ID", "fraud-app", "PREFIXED", "WRITE", "ALLOW"),
        ("TRANSACTIONAL_ID", "fraud-app", "PREFIXED", "DESCRIBE", "ALLOW"),
        ("CLUSTER", "kafka-cluster", "LITERAL", "IDEMPOTENT_WRITE", "ALLOW"),
    }
