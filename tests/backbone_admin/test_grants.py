"""Grants managed by admins: the service, the page /access/grants/ and the API /api/access/grants/,
each change audited with before/after, and bad input refused with nothing changed."""

from __future__ import annotations

from typing import Any

import pytest

from backbone_admin.access import access_for, set_directory_groups
from backbone_admin.grants import services
from backbone_admin.kafka.errors import InvalidRequest, PermissionDenied
from backbone_admin.models import AuditEntry, Grant, Role

pytestmark = pytest.mark.django_db

ORDERS = {
    "subject_type": "group",
    "subject": "kafka-orders-*",
    "role": "reader",
    "cluster": "local",
    "topics": ["orders.*", "re:orders-(eu|us)"],
    "groups": ["orders-*"],
    "note": "orders team",
}


def _state() -> tuple[list[dict[str, Any]], int]:
    return [g.as_dict() for g in Grant.objects.order_by("id")], AuditEntry.objects.count()


def test_an_admin_creates_a_group_grant_that_reaches_the_members_of_matching_groups(make_user: Any) -> None:
    admin, member = make_user(Role.ADMIN), make_user()
    grant = services.grant_create(user=admin, data=ORDERS)
    assert grant.as_dict() == {
        "group": "kafka-orders-*",
        "role": "reader",
        "cluster": "local",
        "topics": ["orders.*", "re:orders-(eu|us)"],
        "groups": ["orders-*"],
        "note": "orders team",
    }
    entry = AuditEntry.objects.get(action="grant.create")
    assert (entry.username, entry.cluster, entry.before, entry.after) == (
        admin.username,
        "local",
        None,
        grant.as_dict(),
    )
    assert f"grant #{grant.pk}" in entry.target

    set_directory_groups(member, ["kafka-orders-eu"], "oidc")
    access = access_for(member)
    assert access.topic_role("local", "orders.created") == "reader"
    assert access.topic_role("local", "orders-eu") == "reader"
    assert access.topic_role("local", "payroll") is None
    assert access.topic_role("other", "orders.created") is None


def test_an_update_and_a_delete_are_audited_with_before_and_after(make_user: Any) -> None:
    admin = make_user(Role.ADMIN)
    grant = services.grant_create(user=admin, data=ORDERS)
    before = grant.as_dict()
    services.grant_update(user=admin, grant=grant, data={**ORDERS, "role": "operator", "topics": ["orders.eu.*"]})
    grant.refresh_from_db()
    assert (grant.role, grant.topics) == ("operator", ["orders.eu.*"])
    update = AuditEntry.objects.get(action="grant.update")
    assert update.before == before and update.after == grant.as_dict()

    after_update = grant.as_dict()
    services.grant_delete(user=admin, grant=grant)
    assert not Grant.objects.exists()
    delete = AuditEntry.objects.get(action="grant.delete")
    assert (delete.before, delete.after) == (after_update, None)


@pytest.mark.parametrize(
    "change, field",
    [
        ({"role": "superuser"}, "role"),
        ({"cluster": "nowhere"}, "cluster"),
        ({"topics": ["re:orders-("]}, "topics"),
        ({"groups": ["re:" + "(a{50}){50}"]}, "groups"),
        ({"topics": ["x" * 300]}, "topics"),
        ({"subject": "[z-a]*"}, "subject"),
        ({"subject": ""}, "subject"),
        ({"subject_type": "robot"}, "subject_type"),
        ({"subject_type": "user", "subject": "alice smith"}, "subject"),
        ({"note": "n" * 201}, "note"),
    ],
)
def test_a_bad_grant_is_refused_naming_the_field_and_nothing_changes(
    make_user: Any, change: dict[str, Any], field: str
) -> None:
    admin = make_user(Role.ADMIN)
    existing = services.grant_create(user=admin, data=ORDERS)
    before = _state()
    with pytest.raises(InvalidRequest) as create:
        services.grant_create(user=admin, data={**ORDERS, **change})
    assert field in create.value.fields
    with pytest.raises(InvalidRequest) as update:
        services.grant_update(user=admin, grant=existing, data={**ORDERS, **change})
    assert field in update.value.fields
    existing.refresh_from_db()
    assert _state() == before


def test_only_a_global_admin_changes_grants(make_user: Any) -> None:
    admin = make_user(Role.ADMIN)
    grant = services.grant_create(user=admin, data=ORDERS)
    before = _state()
    for user in (make_user(Role.OPERATOR), make_user(Role.ADMIN, cluster="local")):
        with pytest.raises(PermissionDenied):
            services.grant_create(user=user, data=ORDERS)
        with pytest.raises(PermissionDenied):
            services.grant_update(user=user, grant=grant, data={**ORDERS, "role": "admin"})
        with pytest.raises(PermissionDenied):
            services.grant_delete(user=user, grant=grant)
    assert _state() == before


# -- the page -------------------------------------------------------------------------------


def test_the_page_creates_lists_filters_edits_and_deletes_a_grant(make_user: Any, client: Any) -> None:
    admin = make_user(Role.ADMIN)
    client.force_login(admin)
    form = {**ORDERS, "topics": "orders.*\nre:orders-(eu|us)", "groups": "orders-*"}
    response = client.post("/access/grants/new/", form)
    assert response.status_code == 302 and response["Location"] == "/access/grants/"
    grant = Grant.objects.get()
    assert grant.topics == ["orders.*", "re:orders-(eu|us)"] and grant.groups == ["orders-*"]

    page = client.get("/access/grants/").content.decode()
    assert "kafka-orders-*" in page and "re:orders-(eu|us)" in page and f"/access/grants/{grant.pk}/" in page
    services.grant_create(user=admin, data={"subject_type": "user", "subject": "bob", "role": "viewer"})
    filtered = client.get("/access/grants/", {"subject": "bob"}, HTTP_HX_REQUEST="true").content.decode()
    assert "bob" in filtered and "kafka-orders-*" not in filtered
    by_role = client.get("/access/grants/", {"role": "reader", "cluster": "local"}).content.decode()
    assert "kafka-orders-*" in by_role and ">bob<" not in by_role
    every_cluster = client.get("/access/grants/", {"cluster": "*"}).content.decode()
    assert "bob" in every_cluster and "kafka-orders-*" not in every_cluster

    edit = client.get(f"/access/grants/{grant.pk}/").content.decode()
    assert "orders.*\nre:orders-(eu|us)" in edit
    response = client.post(f"/access/grants/{grant.pk}/", {**form, "role": "operator"})
    assert response.status_code == 302
    grant.refresh_from_db()
    assert grant.role == "operator"
    assert AuditEntry.objects.get(action="grant.update").before == {**grant.as_dict(), "role": "reader"}

    response = client.post(f"/access/grants/{grant.pk}/", {"action": "delete"})
    assert response.status_code == 302 and not Grant.objects.filter(pk=grant.pk).exists()
    assert AuditEntry.objects.get(action="grant.delete").before == {**grant.as_dict(), "role": "operator"}


def test_the_page_shows_what_is_wrong_and_changes_nothing(make_user: Any, client: Any) -> None:
    client.force_login(make_user(Role.ADMIN))
    response = client.post("/access/grants/new/", {**ORDERS, "topics": "re:orders-(", "cluster": "nowhere"})
    assert response.status_code == 400
    page = response.content.decode()
    assert 'data-field="topics"' in page and "not a valid regular expression" in page
    assert "cluster <code>nowhere</code> is not configured" in page
    assert 'value="kafka-orders-*"' in page  # what was typed is kept
    assert not Grant.objects.exists() and not AuditEntry.objects.filter(action__startswith="grant.").exists()


def test_the_pages_are_for_global_admins_only(make_user: Any, client: Any) -> None:
    grant = services.grant_create(user=make_user(Role.ADMIN), data=ORDERS)
    client.force_login(make_user(Role.ADMIN, cluster="local"))
    before = _state()
    assert client.get("/access/grants/").status_code == 403
    assert client.post("/access/grants/new/", ORDERS).status_code == 403
    response = client.post(f"/access/grants/{grant.pk}/", {"action": "delete"})
    assert response.status_code == 403 and "needs the admin role" in response.content.decode()
    assert [g.as_dict() for g in Grant.objects.order_by("id")] == before[0]
    assert not AuditEntry.objects.filter(action__startswith="grant.").exclude(action="grant.create").exists()


# -- the API --------------------------------------------------------------------------------


def test_the_api_creates_reads_replaces_and_deletes_grants(api_as: Any) -> None:
    api = api_as(Role.ADMIN)
    response = api.post("/api/access/grants/", ORDERS, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert {k: body[k] for k in ORDERS} == ORDERS and body["from_file"] is False
    grant_id = body["id"]

    listed = api.get("/api/access/grants/", {"subject": "orders"}).json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == grant_id
    assert api.get("/api/access/grants/", {"role": "admin"}).json()["count"] == 0
    assert api.get(f"/api/access/grants/{grant_id}/").json()["subject"] == "kafka-orders-*"

    response = api.put(
        f"/api/access/grants/{grant_id}/",
        {"subject_type": "user", "subject": "alice", "role": "operator"},
        format="json",
    )
    assert response.status_code == 200
    replaced = response.json()
    assert (replaced["subject"], replaced["cluster"], replaced["topics"], replaced["note"]) == ("alice", "", [], "")
    update = AuditEntry.objects.get(action="grant.update")
    assert update.before == {
        **{"group": "kafka-orders-*"},
        **{k: ORDERS[k] for k in ORDERS if k not in ("subject_type", "subject")},
    }
    assert update.after == {"user": "alice", "role": "operator"}

    assert api.delete(f"/api/access/grants/{grant_id}/").status_code == 204
    assert api.get(f"/api/access/grants/{grant_id}/").status_code == 404
    assert AuditEntry.objects.get(action="grant.delete").before == {"user": "alice", "role": "operator"}


def test_the_api_refuses_bad_input_with_the_field_and_changes_nothing(api_as: Any) -> None:
    api = api_as(Role.ADMIN)
    grant_id = api.post("/api/access/grants/", ORDERS, format="json").json()["id"]
    before = _state()
    for change, field in (
        ({"role": "root"}, "role"),
        ({"cluster": "nowhere"}, "cluster"),
        ({"topics": ["re:("]}, "topics"),
        ({"topics": "orders.*"}, "topics"),
    ):
        for response in (
            api.post("/api/access/grants/", {**ORDERS, **change}, format="json"),
            api.put(f"/api/access/grants/{grant_id}/", {**ORDERS, **change}, format="json"),
        ):
            assert response.status_code == 400, (change, response.json())
            assert field in response.json()["fields"], (change, response.json())
    assert _state() == before


def test_the_api_is_for_global_admins_only(api_as: Any) -> None:
    grant_id = api_as(Role.ADMIN).post("/api/access/grants/", ORDERS, format="json").json()["id"]
    before = _state()
    api = api_as(Role.OPERATOR)
    assert api.get("/api/access/grants/").status_code == 403
    assert api.post("/api/access/grants/", ORDERS, format="json").status_code == 403
    assert api.get(f"/api/access/grants/{grant_id}/").status_code == 403
    assert api.delete(f"/api/access/grants/{grant_id}/").status_code == 403
    response = api.put(f"/api/access/grants/{grant_id}/", {**ORDERS, "role": "admin"}, format="json")
    assert response.status_code == 403 and "admin role" in response.json()["error"]
    assert [g.as_dict() for g in Grant.objects.order_by("id")] == before[0]


def test_a_grant_from_the_mapping_file_says_so_on_its_page(make_user: Any, client: Any) -> None:
    from_file = Grant.objects.create(subject_type="group", subject="sre", role="admin", note=services.FILE_NOTE)
    console = Grant.objects.create(subject_type="group", subject="ops", role="admin", note="made here")
    client.force_login(make_user(Role.ADMIN))
    assert "comes from the mapping file" in client.get(f"/access/grants/{from_file.pk}/").content.decode()
    assert "comes from the mapping file" not in client.get(f"/access/grants/{console.pk}/").content.decode()
    assert client.get("/access/grants/999999/").status_code == 404
