"""Security hardening: drift badge per role, public /healthz, denied attempts audited, CSP
and no-store caching (issue 7, points 10, 11, 12, 14; idle sessions in test_sessions.py)."""

from __future__ import annotations

import ast
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from backbone_admin.audit import audited
from backbone_admin.kafka import ReadOnlyCluster
from backbone_admin.middleware import AuditDeniedMiddleware
from backbone_admin.models import ApiToken, AuditEntry
from backbone_admin.web import backbone_errors
from topics.retention.apply import drift_cache_key

BASE_DIR = Path(__file__).resolve().parents[2]
TWO_CLUSTERS = (
    "clusters:\n  - {name: alpha, bootstrap_servers: '{LOCAL}'}\n  - {name: bravo, bootstrap_servers: '{LOCAL}'}\n"
)
BADGE = re.compile(r'title="topics drifting from their retention policy">(\d+)<')


def _badge(response: Any) -> str | None:
    found = BADGE.search(response.content.decode())
    return found.group(1) if found else None


def _logged_in(user: Any, **kwargs: Any) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


# --- Point 10: the drift badge only for clusters the user may view -----------------------


@pytest.mark.django_db
def test_the_drift_badge_shows_only_clusters_the_user_has_a_role_on(
    clusters_file: Any, make_user: Any, settings: Any
) -> None:
    clusters_file(TWO_CLUSTERS)
    cache.set(drift_cache_key("alpha"), 3)
    cache.set(drift_cache_key("bravo"), 7)
    client = _logged_in(make_user("viewer", cluster="alpha"))

    assert _badge(client.get("/clusters/alpha/")) == "3"
    refused = client.get("/clusters/bravo/")
    assert refused.status_code == 404
    assert _badge(refused) is None
    assert "7" not in BADGE.findall(refused.content.decode())

    # Pages without a cluster in their address use the default cluster, here one the user cannot see.
    settings.DEFAULT_CLUSTER = "bravo"
    listing = client.get("/clusters/")
    assert listing.status_code == 200
    assert _badge(listing) == "3"  # the navigation follows the first cluster the user may view

    everywhere = _logged_in(make_user("viewer"))
    assert _badge(everywhere.get("/clusters/bravo/")) == "7"


def test_backbone_admin_context_processor_does_not_import_the_topics_app() -> None:
    tree = ast.parse((BASE_DIR / "backbone_admin" / "context_processors.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert not [name for name in imported if name and name.split(".")[0] == "topics"]


# --- Point 11: /healthz is public status only -------------------------------------------------


@pytest.mark.django_db
def test_healthz_tells_anonymous_callers_only_the_status(down_cluster: str, settings: Any) -> None:
    assert Client().get("/healthz").json() == {"status": "ok"}
    settings.DEFAULT_CLUSTER = "down"
    cache.delete("cluster-health:down")
    response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}
    assert down_cluster not in response.content.decode()


@pytest.mark.django_db
def test_healthz_gives_the_checks_to_a_token_or_session_but_not_to_a_bad_token(make_user: Any) -> None:
    _, key = ApiToken.issue(make_user(None))
    with_token = APIClient().get("/healthz", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert with_token.status_code == 200
    assert with_token.json()["checks"] == {"database": "ok", "redis": "ok", "cluster:local": "ok"}
    bad = APIClient().get("/healthz", HTTP_AUTHORIZATION="Bearer bbc_not-a-token")
    assert bad.status_code == 200
    assert bad.json() == {"status": "ok"}
    assert "checks" in _logged_in(make_user(None)).get("/healthz").json()


# --- Point 12: every 403 leaves one audit row -------------------------------------------------


def _denied() -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(result=AuditEntry.Result.DENIED).order_by("id"))


@pytest.mark.django_db
def test_a_page_refused_for_a_missing_role_is_audited_as_denied(make_user: Any) -> None:
    user = make_user("viewer")
    response = _logged_in(user).post("/clusters/local/topics/new/", {"name": "never-created"})
    assert response.status_code == 403
    [entry] = _denied()
    assert (entry.username, entry.user_id, entry.action, entry.cluster, entry.target) == (
        user.username,
        user.pk,
        "POST topics:create",
        "local",
        "/clusters/local/topics/new/",
    )
    assert "needs the operator role on cluster `local`; you are viewer" in entry.error
    assert entry.source_ip == "127.0.0.1"


@pytest.mark.django_db
def test_an_api_call_refused_for_a_missing_role_is_audited_once_within_the_window(api_as: Any) -> None:
    api = api_as("viewer")
    body = {"name": "never-created", "partitions": 1}
    for _ in range(3):
        assert api.post("/api/clusters/local/topics/", body, format="json").status_code == 403
    [entry] = _denied()
    assert entry.action == "POST api-topics"
    assert entry.target == "/api/clusters/local/topics/"
    assert "needs the operator role" in entry.error
    # Another target is another attempt.
    assert api.delete("/api/clusters/local/topics/other/").status_code == 403
    assert [e.target for e in _denied()] == ["/api/clusters/local/topics/", "/api/clusters/local/topics/other/"]


@pytest.mark.django_db
def test_the_same_denial_is_recorded_again_after_the_window(api_as: Any, monkeypatch: Any) -> None:
    from datetime import timedelta

    from backbone_admin import middleware

    monkeypatch.setattr(middleware, "DENIED_AUDIT_WINDOW", timedelta(seconds=0.5))
    api = api_as("operator")
    assert api.get("/api/audit/").status_code == 403
    assert api.get("/api/audit/").status_code == 403
    time.sleep(0.6)
    assert api.get("/api/audit/").status_code == 403
    assert [(e.action, e.target) for e in _denied()] == [("GET api-audit", "/api/audit/")] * 2


@pytest.mark.django_db
def test_a_change_refused_on_a_read_only_cluster_is_audited_with_the_reason(
    api_as: Any, client_as: Any, clusters_file: Any
) -> None:
    clusters_file("clusters:\n  - {name: local, bootstrap_servers: '{LOCAL}', read_only: true}\n")
    response = api_as("admin").patch(
        "/api/clusters/local/topics/anything/configs/", {"retention.ms": "1000"}, format="json"
    )
    assert response.status_code == 403
    assert client_as("admin").get("/audit/").status_code == 200  # the admin's own reads are not denials
    [entry] = _denied()
    assert entry.action == "PATCH api-topic-configs"
    assert entry.cluster == "local"
    assert entry.error == "cluster `local` is read-only: changes are refused"


@pytest.mark.django_db
def test_a_page_refused_by_the_csrf_check_is_audited(make_user: Any) -> None:
    user = make_user("operator")
    response = _logged_in(user, enforce_csrf_checks=True).post("/clusters/local/topics/new/", {"name": "x"})
    assert response.status_code == 403
    assert "Reload the page and try again" in response.content.decode()
    [entry] = _denied()
    assert entry.username == user.username
    assert entry.action == "POST topics:create"
    assert entry.error.startswith("CSRF check failed: ")


@pytest.mark.django_db
def test_an_api_call_refused_by_the_csrf_check_is_audited(make_user: Any) -> None:
    user = make_user("operator")
    api = APIClient(enforce_csrf_checks=True)
    api.force_login(user)
    response = api.post("/api/clusters/local/topics/", {"name": "x", "partitions": 1}, format="json")
    assert response.status_code == 403
    assert response.json()["error"].startswith("CSRF Failed")
    [entry] = _denied()
    assert entry.username == user.username
    assert entry.error.startswith("CSRF Failed")


@pytest.mark.django_db
def test_a_denial_already_audited_inside_the_request_is_not_recorded_twice(make_user: Any) -> None:
    user = make_user("admin")

    @backbone_errors
    def change(request: HttpRequest) -> HttpResponse:
        with audited(user=request.user, action="topic.delete", cluster="local", target="t1", request=request):
            raise ReadOnlyCluster("cluster `local` is read-only: deleting topics is refused")

    request = RequestFactory().post("/clusters/local/topics/t1/delete/")
    request.user = user
    response = AuditDeniedMiddleware(change)(request)
    assert response.status_code == 403
    [entry] = _denied()
    assert (entry.action, entry.target) == ("topic.delete", "t1")


# --- Point 14: CSP, no inline code, no-store (idle sessions: test_sessions.py) -----------------


def _csp(response: Any) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


@pytest.mark.django_db
def test_pages_carry_a_strict_content_security_policy(client_as: Any) -> None:
    for path in ("/clusters/", "/login/", "/retention/"):
        response = (Client() if path == "/login/" else client_as("viewer")).get(path)
        assert response.status_code == 200, path
        policy = _csp(response)
        assert policy["default-src"] == ["'self'"]
        assert policy["script-src"] == ["'self'"]
        assert policy["style-src"] == ["'self'"]
        assert policy["object-src"] == ["'none'"]
        assert policy["frame-ancestors"] == ["'none'"]
        assert policy["base-uri"] == ["'self'"]
        assert policy["form-action"] == ["'self'"]


@pytest.mark.django_db
def test_the_api_docs_load_their_script_from_a_url_and_only_widen_styles(client_as: Any) -> None:
    client = client_as("viewer")
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    policy = _csp(page)
    assert policy["script-src"] == ["'self'"]
    assert "'unsafe-inline'" in policy["style-src"]
    script_url = re.search(r'<script src="(/api/docs/\?[^"]*script[^"]*)"', html)
    assert script_url
    script = client.get(script_url.group(1).replace("&amp;", "&"))
    assert script.status_code == 200
    assert "SwaggerUIBundle" in script.content.decode()


INLINE_HANDLER = re.compile(r"(?<![\w-])on[a-z]+\s*=", re.IGNORECASE)
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc\s*=)[^>]*>", re.IGNORECASE)
INLINE_STYLE = re.compile(r"(?<![\w-])style\s*=|<style[\s>]", re.IGNORECASE)


def test_no_template_has_inline_handlers_scripts_or_styles() -> None:
    templates = sorted((BASE_DIR / "templates").rglob("*.html"))
    assert len(templates) > 10
    found = []
    for path in templates:
        text = path.read_text()
        for pattern in (INLINE_HANDLER, INLINE_SCRIPT, INLINE_STYLE):
            found += [f"{path.relative_to(BASE_DIR)}: {m.group(0)}" for m in pattern.finditer(text)]
    assert found == []
    # The patterns do catch what they are for.
    assert INLINE_HANDLER.search('<form onsubmit="x()">') and not INLINE_HANDLER.search('<tr data-config="x">')
    assert INLINE_SCRIPT.search("<script>alert(1)</script>") and not INLINE_SCRIPT.search('<script src="/a.js">')


@pytest.mark.django_db
def test_answers_to_logged_in_users_are_not_stored_but_static_files_are_cached(client_as: Any, make_user: Any) -> None:
    client = client_as("viewer")
    page = client.get("/clusters/")
    assert "no-store" in page["Cache-Control"]
    assert "no-store" in client.get("/api/clusters/").headers["Cache-Control"]
    _, key = ApiToken.issue(make_user("viewer"))
    with_token = APIClient().get("/api/clusters/", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert with_token.status_code == 200
    assert "no-store" in with_token["Cache-Control"]
    static = client.get("/static/css/console.css")
    assert static.status_code == 200
    assert "no-store" not in static.get("Cache-Control", "")
    assert "max-age" in static["Cache-Control"]


# --- Point 14 in a real browser: every page works under the CSP -------------------------------


def _csp_violations(errors: list[str]) -> list[str]:
    return [e for e in errors if "Content Security Policy" in e]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_console_works_in_chromium_under_the_csp_without_violations(
    live_url: str, page: Any, make_user: Any, kafka_admin: Any
) -> None:
    from confluent_kafka.admin import NewTopic

    from tests.conftest import screenshot
    from topics import listing
    from topics.models import RetentionPolicy

    prefix = f"csp-{uuid.uuid4().hex[:6]}"
    futures = kafka_admin.create_topics([NewTopic(f"{prefix}.orders", num_partitions=2, replication_factor=1)])
    futures[f"{prefix}.orders"].result(timeout=10)
    listing.invalidate("local")  # an earlier test's page may have cached the topic index without it
    policy = RetentionPolicy.objects.create(
        name=prefix, topic_pattern=f"{prefix}.*", priority=10, configs={"retention.ms": "86400000"}
    )
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))

    user = make_user("admin", password="pw-Browser-3")
    page.goto(live_url + "/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "pw-Browser-3")
    with page.expect_websocket() as opened:  # the overview follows health over a same-origin websocket
        page.click("button[type=submit]")
    opened.value.wait_for_event("framereceived", timeout=15_000)

    # Topic list: htmx search, and its indicator (styled by console.css, not by htmx) hides again.
    page.goto(f"{live_url}/clusters/local/topics/")
    with page.expect_response(lambda r: f"search={prefix}" in r.url and r.request.headers.get("hx-request")):
        page.fill("#topic-search", prefix)
    page.wait_for_url(f"**/clusters/local/topics/?*search={prefix}*")  # hx-push-url ran
    assert page.locator("#topic-table tbody tr").count() == 1
    page.wait_for_selector(f"#topic-table >> text={prefix}.orders")
    assert not page.is_visible("#topic-spin")
    screenshot(page, "csp-topic-list")

    # Retention compliance: rows loaded by htmx on load; the select-all script runs.
    page.goto(f"{live_url}/clusters/local/retention/?search={prefix}")
    page.wait_for_selector(f"input[name=topics][value='{prefix}.orders']")
    page.check(f"input[name=topics][value='{prefix}.orders']")
    page.wait_for_selector("#selected-count:text('1 selected')")
    screenshot(page, "csp-retention-compliance")

    # A plain form's confirmation (data-confirm, console.js): dismissing keeps the policy.
    page.goto(f"{live_url}/retention/{policy.name}/")
    dialogs: list[str] = []

    def answer(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss() if len(dialogs) == 1 else dialog.accept()

    page.on("dialog", answer)
    page.click("button:has-text('Delete policy')")
    page.wait_for_timeout(300)
    assert dialogs == [f"Delete retention policy {prefix}? Topics keep their configs."]
    assert RetentionPolicy.objects.filter(pk=policy.pk).exists()
    page.click("button:has-text('Delete policy')")
    page.wait_for_url("**/retention/")
    assert not RetentionPolicy.objects.filter(pk=policy.pk).exists()

    # Swagger UI renders from its own files under its page's policy.
    page.goto(f"{live_url}/api/docs/")
    page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
    page.wait_for_selector("text=/api/clusters/")
    screenshot(page, "csp-api-docs")

    # The cluster switcher (console.js) opens the chosen cluster's overview.
    page.goto(f"{live_url}/clusters/")
    page.evaluate("document.getElementById('cluster-switch').add(new Option('other one', 'other one'))")
    page.select_option("#cluster-switch", "other one")
    page.wait_for_url("**/clusters/other%20one/")

    assert _csp_violations(errors) == [], errors

    # The policy is enforced by the browser and a violation would be seen: an injected inline handler is refused.
    page.goto(f"{live_url}/clusters/")
    page.evaluate("document.body.insertAdjacentHTML('beforeend', '<img src=\"/nothing\" onerror=\"window.hit=1\">')")
    page.wait_for_timeout(500)
    assert page.evaluate("window.hit") is None
    assert _csp_violations(errors)
