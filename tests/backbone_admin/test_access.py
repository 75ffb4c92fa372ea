"""Login is required on every page, API and websocket route; roles are enforced on the server."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from backbone_admin.kafka import ClusterNotFound, PermissionDenied, ReadOnlyCluster
from backbone_admin.models import ApiToken, AuditEntry
from backbone_admin.roles import has_role, require_role, role_on

# The OIDC redirect and callback start and finish a sign-in (404 while OIDC is off; tests/sso).
# /metrics asks a token or an allowed address instead of a login (tests/backbone_admin/test_metrics.py).
PUBLIC = {"login/", "logout/", "healthz", "metrics", "favicon.ico", "oidc/authenticate/", "oidc/callback/"}


def _routes(patterns: list[Any], prefix: str = "") -> Iterator[str]:
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            if route.startswith("django-admin/"):
                continue  # Django's own admin has its own login page
            yield from _routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield route


def _concrete(route: str) -> str:
    def value(m: re.Match[str]) -> str:
        return "local" if m.group(1) == "cluster" else "1" if m.group(0).startswith("<int:") else "x1"

    path = re.sub(r"<(?:\w+:)?(\w+)>", value, route)
    return "/" + path.lstrip("^").rstrip("$").replace("\\Z", "")


ROUTES = sorted({_concrete(r) for r in _routes(get_resolver().url_patterns)} - {"/" + p for p in PUBLIC})
PAGES = [r for r in ROUTES if not r.startswith("/api/") or r == "/api/docs/"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", PAGES)
def test_every_page_redirects_anonymous_users_to_login(path: str) -> None:
    response = Client().get(path)
    assert response.status_code == 302, path
    assert response["Location"].startswith("/login/")


@pytest.mark.django_db
@pytest.mark.parametrize("path", [r for r in ROUTES if r not in PAGES])
def test_every_api_route_refuses_anonymous_callers(path: str) -> None:
    response = APIClient().get(path, HTTP_ACCEPT="application/json")
    assert response.status_code in (401, 403), path
    assert "error" in response.json()


def test_the_route_list_covers_the_console() -> None:
    assert {"/", "/clusters/", "/clusters/local/", "/audit/", "/api/clusters/", "/api/audit/", "/api/schema/"} <= set(
        ROUTES
    )


@pytest.mark.django_db
def test_roles_rank_and_cluster_grants_raise_them(make_user: Any, clusters_file: Any) -> None:
    clusters_file(
        "clusters:\n  - {name: local, bootstrap_servers: '{LOCAL}'}\n  - {name: staging, bootstrap_servers: 'x:1'}\n"
    )
    viewer = make_user("viewer")
    assert has_role(viewer, "local", "viewer") and not has_role(viewer, "local", "reader")
    granted = make_user("viewer")
    call_command("backbone_user", granted.username, "--role", "operator", "--cluster", "staging", stdout=io.StringIO())
    granted.refresh_from_db()
    assert role_on(granted, "staging") == "operator"
    assert role_on(granted, "local") == "viewer"
    with pytest.raises(PermissionDenied, match="needs the operator role on cluster `local`; you are viewer"):
        require_role(granted, "local", "operator")
    assert require_role(granted, "staging", "operator").name == "staging"


@pytest.mark.django_db
def test_no_role_sees_no_cluster_and_read_only_refuses_changes(make_user: Any, clusters_file: Any) -> None:
    nobody = make_user(None)
    with pytest.raises(ClusterNotFound):
        require_role(nobody, "local", "viewer")
    clusters_file("clusters:\n  - {name: local, bootstrap_servers: '{LOCAL}', read_only: true}\n")
    admin = make_user("admin")
    assert require_role(admin, "local", "admin").read_only
    with pytest.raises(ReadOnlyCluster):
        require_role(admin, "local", "operator", change=True)


@pytest.mark.django_db
def test_backbone_user_creates_a_user_with_a_role_and_audits_it() -> None:
    out = io.StringIO()
    call_command("backbone_user", "alice", "--role", "reader", "--password", "pw-Alice-123", stdout=out)
    from django.contrib.auth import authenticate

    alice = authenticate(username="alice", password="pw-Alice-123")
    assert alice is not None and role_on(alice, "local") == "reader"
    entry = AuditEntry.objects.get(action="user.create", target="alice")
    assert entry.after is not None and (entry.after["role"], entry.after["grants"]) == ("reader", {})
    call_command("backbone_user", "alice", "--role", "operator", stdout=out)
    alice.refresh_from_db()
    assert list(alice.groups.values_list("name", flat=True)) == ["operator"]


@pytest.mark.django_db
def test_create_api_token_prints_a_working_bearer_token(make_user: Any) -> None:
    user = make_user("viewer")
    out = io.StringIO()
    call_command("create_api_token", user.username, stdout=out)
    key = out.getvalue().split()[-1]
    assert ApiToken.objects.get(user=user).key_hash != key  # only the hash is stored
    client = APIClient()
    ok = client.get("/api/clusters/", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert ok.status_code == 200
    assert [c["name"] for c in ok.json()] == ["local"]
    bad = client.get("/api/clusters/", HTTP_AUTHORIZATION="Bearer bbc_not-a-token")
    assert bad.status_code == 401
    assert bad.json() == {"error": "Invalid or revoked API token.", "fields": {}}
    assert AuditEntry.objects.filter(action="token.create", target=user.username).exists()


@pytest.mark.django_db
def test_create_api_token_for_an_unknown_user_fails_clearly() -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no active user `ghost`"):
        call_command("create_api_token", "ghost")


@pytest.mark.django_db
def test_the_audit_log_is_for_admins_only(client_as: Any, api_as: Any) -> None:
    assert api_as("operator").get("/api/audit/").status_code == 403
    assert client_as("operator").get("/audit/").status_code == 403
    assert api_as("admin").get("/api/audit/").status_code == 200


@pytest.mark.django_db
def test_a_user_without_a_role_on_a_cluster_gets_404_not_its_details(api_as: Any) -> None:
    response = api_as(None).get("/api/clusters/local/")
    assert response.status_code == 404
    assert response.json()["error"] == "cluster `local` is not configured"
    assert api_as(None).get("/api/clusters/").json() == []


@pytest.mark.django_db
def test_login_page_logs_in_and_sets_csrf(make_user: Any) -> None:
    user = make_user("viewer")
    client = Client(enforce_csrf_checks=True)
    page = client.get("/login/")
    token = page.cookies["csrftoken"].value
    refused = Client(enforce_csrf_checks=True).post("/login/", {"username": user.username, "password": "pw-Backbone-1"})
    assert refused.status_code == 403
    response = client.post(
        "/login/", {"username": user.username, "password": "pw-Backbone-1", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302
    assert client.get("/clusters/").status_code == 200


@pytest.mark.django_db
def test_openapi_schema_documents_the_api(api_as: Any) -> None:
    response = api_as("viewer").get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert {"/api/clusters/", "/api/clusters/{cluster}/", "/api/audit/"} <= set(schema["paths"])
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


@pytest.mark.django_db
def test_an_oversize_request_is_a_clear_400_on_api_and_pages(api_as: Any, client_as: Any, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = '{"name": "' + "x" * 4096 + '"}'
    api = api_as("admin").post("/api/clusters/local/topics/", body, content_type="application/json")
    assert api.status_code == 400
    assert api.json() == {"error": "The request body is larger than the 1,024-byte limit.", "fields": {}}
    page = client_as("admin").post("/clusters/local/topics/new/", {"name": "x" * 4096})
    assert page.status_code == 400
    assert "larger than the 1,024-byte limit" in page.content.decode()
