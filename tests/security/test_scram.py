"""SCRAM users: listed, created, rotated and deleted by the cluster's admins; the password goes
to the broker and nowhere else (no response, no log, no audit entry)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from django.test import Client

from backbone_admin.models import AuditEntry
from tests.conftest import SecretWatch

pytestmark = pytest.mark.django_db
PAGE = "/clusters/local/users/"
API = "/api/clusters/local/scram-users/"
SCRAM_BOOTSTRAP = os.environ.get("TEST_KAFKA_SCRAM_BOOTSTRAP", "")


def broker_users(admin: AdminClient) -> dict[str, set[tuple[str, int]]]:
    future: Any = admin.describe_user_scram_credentials(request_timeout=10)  # one future for every user
    found = future.result(timeout=11)
    return {
        user: {(c.mechanism.name.replace("_", "-"), c.iterations) for c in d.scram_credential_infos}
        for user, d in found.items()
    }


def signs_in(user: str, password: str, mechanism: str) -> bool:
    """Whether a client can authenticate as the user on the broker's SCRAM listener."""
    client = AdminClient(
        {
            "bootstrap.servers": SCRAM_BOOTSTRAP,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": mechanism,
            "sasl.username": user,
            "sasl.password": password,
            "log_level": 0,
        }
    )
    try:
        client.list_topics(timeout=4)
    except KafkaException:
        return False
    return True


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_it_refuses_everyone_below_admin(role: str, client_as: Callable[..., Client], api_as: Any) -> None:
    assert client_as(role).get(PAGE).status_code == 403
    assert api_as(role).get(API).status_code == 403
    body = {"user": "x", "mechanism": "SCRAM-SHA-256", "iterations": 4096, "password": "long-enough-1"}
    assert api_as(role).post(API, body, format="json").status_code == 403
    assert api_as(role).delete(API + "x/").status_code == 403
    assert not AuditEntry.objects.filter(action__startswith="scram.").exists()


def test_an_admin_sees_the_users_the_broker_lists(
    api_as: Any, client_as: Callable[..., Client], kafka_admin: AdminClient
) -> None:
    listed = api_as("admin", cluster="local").get(API)
    assert listed.status_code == 200
    assert {u["user"] for u in listed.json()["results"]} == set(broker_users(kafka_admin))
    assert client_as("admin", cluster="local").get(PAGE).status_code == 200


def test_a_read_only_cluster_refuses_credential_changes(
    clusters_file: Callable[[str], Path], api_as: Any, client_as: Callable[..., Client], scram_name: str
) -> None:
    clusters_file("clusters:\n  - {name: local, bootstrap_servers: '{LOCAL}', read_only: true}\n")
    body = {"user": scram_name, "mechanism": "SCRAM-SHA-256", "iterations": 4096, "password": "long-enough-1"}
    assert api_as("admin").post(API, body, format="json").status_code == 403
    assert api_as("admin").delete(API + f"{scram_name}/").status_code == 403
    assert client_as("admin").post(PAGE, body).status_code == 403
    assert not AuditEntry.objects.filter(action__startswith="scram.", result=AuditEntry.Result.OK).exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"iterations": 4095}, "iterations"),
        ({"iterations": 20000}, "iterations"),
        ({"password": "short"}, "password"),
        ({"mechanism": "PLAIN"}, "mechanism"),
        ({"user": "a=b"}, "user"),
    ],
)
def test_it_refuses_credentials_kafka_would_refuse(api_as: Any, change: dict[str, Any], field: str) -> None:
    body = {"user": "someone", "mechanism": "SCRAM-SHA-256", "iterations": 4096, "password": "long-enough-1", **change}
    response = api_as("admin").post(API, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["fields"]
    assert "long-enough-1" not in response.content.decode()


@pytest.mark.real_kafka
def test_create_rotate_delete_and_the_password_is_never_seen_again(
    api_as: Any, client_as: Callable[..., Client], kafka_admin: AdminClient, scram_name: str, secret_watch: SecretWatch
) -> None:
    password = secret_watch.probe()  # any log record or test-client response carrying it is recorded
    rotated_password = password + "-rotated"
    admin = client_as("admin", cluster="local")
    form = {"user": scram_name, "mechanism": "SCRAM-SHA-512", "iterations": 8192, "password": password}
    created = admin.post(PAGE, form)
    assert created.status_code == 302
    assert broker_users(kafka_admin)[scram_name] == {("SCRAM-SHA-512", 8192)}
    page = admin.get(PAGE).content.decode()
    assert scram_name in page and "8192 iterations" in page

    api = api_as("admin")
    rotation = api.post(API, {**form, "password": rotated_password, "iterations": 4096}, format="json")
    assert rotation.status_code == 200 and rotation.json()["rotated"] is True
    assert rotation.json()["credentials"] == [{"mechanism": "SCRAM-SHA-512", "iterations": 4096}]
    assert broker_users(kafka_admin)[scram_name] == {("SCRAM-SHA-512", 4096)}
    if SCRAM_BOOTSTRAP:  # the broker really signs the user in with the new password only
        assert signs_in(scram_name, rotated_password, "SCRAM-SHA-512")
        assert not signs_in(scram_name, password, "SCRAM-SHA-512")

    # A refused form asks for the password again rather than echoing it.
    refused = admin.post(PAGE, {**form, "iterations": 100})
    assert refused.status_code == 400 and password not in refused.content.decode()

    preview = admin.post("/clusters/local/users/delete/", {"user": scram_name, "mechanism": "SCRAM-SHA-512"})
    assert preview.status_code == 200 and "SCRAM-SHA-512" in preview.content.decode()
    assert scram_name in broker_users(kafka_admin)  # the preview deleted nothing
    deleted = admin.post(
        "/clusters/local/users/delete/", {"user": scram_name, "mechanism": "SCRAM-SHA-512", "action": "confirm"}
    )
    assert deleted.status_code == 302
    assert scram_name not in broker_users(kafka_admin)
    assert api.delete(API + f"{scram_name}/").status_code == 404  # nothing left to delete

    entries = list(AuditEntry.objects.filter(action__startswith="scram.", target=scram_name).order_by("id"))
    assert [(e.action, e.result) for e in entries] == [
        ("scram.upsert", "ok"),
        ("scram.upsert", "ok"),
        ("scram.delete", "ok"),
    ]
    assert entries[1].before == {"SCRAM-SHA-512": 8192} and entries[1].after == {"SCRAM-SHA-512": 4096}
    audit_text = json.dumps([[e.before, e.after, e.error, e.target] for e in AuditEntry.objects.all()])
    assert password not in audit_text
    assert secret_watch.forget(password) == []  # in no log record and no response of this test


@pytest.mark.real_kafka
def test_two_mechanisms_of_one_user_and_deleting_them_all(
    api_as: Any, kafka_admin: AdminClient, scram_name: str
) -> None:
    api = api_as("admin")
    for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
        body = {"user": scram_name, "mechanism": mechanism, "iterations": 4096, "password": "another-pass-1"}
        assert api.post(API, body, format="json").status_code == 201
    listed = {u["user"]: u["credentials"] for u in api.get(API).json()["results"]}
    assert {c["mechanism"] for c in listed[scram_name]} == {"SCRAM-SHA-256", "SCRAM-SHA-512"}
    assert api.delete(API + f"{scram_name}/").status_code == 204
    assert scram_name not in broker_users(kafka_admin)
