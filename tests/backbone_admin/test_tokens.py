"""API tokens: expiry, list and revoke (command, API, admin page), revocation when the password
changes or the account is deactivated."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.hashers import make_password
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from backbone_admin.models import ApiToken, AuditEntry
from backbone_admin.tokens.services import token_issue

pytestmark = pytest.mark.django_db


def _get(key: str, path: str = "/api/tokens/") -> Any:
    return APIClient().get(path, HTTP_AUTHORIZATION=f"Bearer {key}")


def _command(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


# --- expiry -----------------------------------------------------------------------------


def test_a_token_lives_api_token_days_by_default(make_user: Any, settings: Any) -> None:
    settings.API_TOKEN_DAYS = 30
    token, key = token_issue(user=make_user("viewer"))
    assert abs(token.expires_at - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)
    assert _get(key).status_code == 200


def test_create_api_token_takes_days_and_a_name_and_audits_it(make_user: Any) -> None:
    user = make_user("viewer")
    out = _command("create_api_token", user.username, "--days", "7", "--name", "nightly export")
    key = out.split()[-1]
    token = ApiToken.objects.get(user=user)
    assert token.name == "nightly export"
    assert abs(token.expires_at - (timezone.now() + timedelta(days=7))) < timedelta(minutes=1)
    assert _get(key).status_code == 200
    entry = AuditEntry.objects.get(action="token.create", target=user.username)
    assert entry.after["name"] == "nightly export" and entry.after["prefix"] == token.prefix


def test_create_api_token_refuses_a_lifetime_below_one_day(make_user: Any) -> None:
    with pytest.raises(CommandError, match="--days must be at least 1"):
        call_command("create_api_token", make_user("viewer").username, "--days", "0")


def test_an_expired_token_is_refused_with_a_clear_401(make_user: Any) -> None:
    token, key = token_issue(user=make_user("viewer"), days=1)
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = _get(key)
    assert response.status_code == 401
    assert response.json()["error"].startswith(f"API token bbc_{token.prefix}… expired at ")


def test_last_use_is_recorded(make_user: Any) -> None:
    token, key = token_issue(user=make_user("viewer"))
    assert token.last_used_at is None
    _get(key)
    token.refresh_from_db()
    assert token.last_used_at is not None


# --- list and revoke: command ----------------------------------------------------------


def test_api_tokens_lists_and_revokes(make_user: Any) -> None:
    alice, bob = make_user("viewer"), make_user("viewer")
    mine, key = token_issue(user=alice, name="ci")
    token_issue(user=bob)
    listing = _command("api_tokens", "list", alice.username)
    assert f"bbc_{mine.prefix}…" in listing and "ci" in listing and bob.username not in listing

    out = _command("api_tokens", "revoke", str(mine.pk))
    assert f"Revoked API token {mine.pk}" in out
    response = _get(key)
    assert response.status_code == 401
    assert "was revoked at" in response.json()["error"]
    assert "revoked with manage.py api_tokens" in response.json()["error"]
    assert "No tokens in force" in _command("api_tokens", "list", alice.username)
    assert "revoked" in _command("api_tokens", "list", alice.username, "--all")
    entry = AuditEntry.objects.get(action="token.revoke", target=alice.username)
    assert entry.before["prefix"] == mine.prefix
    assert "already revoked" in _command("api_tokens", "revoke", str(mine.pk))
    assert AuditEntry.objects.filter(action="token.revoke").count() == 1


def test_api_tokens_revoke_of_an_unknown_id_fails_clearly() -> None:
    with pytest.raises(CommandError, match="no API token 999999"):
        call_command("api_tokens", "revoke", "999999")


# --- list and revoke: API --------------------------------------------------------------


def test_the_api_lists_ones_own_tokens_and_an_admin_sees_all(make_user: Any) -> None:
    alice, bob, admin = make_user("viewer"), make_user("operator"), make_user("admin")
    _, alice_key = token_issue(user=alice, name="alice-script")
    token_issue(user=bob)
    _, admin_key = token_issue(user=admin)

    own = _get(alice_key).json()
    assert own["count"] == 1
    assert own["results"][0]["user"] == alice.username
    assert own["results"][0]["name"] == "alice-script"
    assert own["results"][0]["status"] == "active"
    assert "key" not in own["results"][0] and "key_hash" not in own["results"][0]

    everyone = _get(admin_key, f"/api/tokens/?user={bob.username}").json()
    assert [t["user"] for t in everyone["results"]] == [bob.username]
    assert _get(admin_key).json()["count"] >= 3


def test_a_user_revokes_their_own_token_but_not_someone_elses(make_user: Any) -> None:
    alice, bob = make_user("viewer"), make_user("viewer")
    alice_token, alice_key = token_issue(user=alice)
    bob_token, bob_key = token_issue(user=bob)
    client = APIClient()
    client.force_authenticate(alice)

    refused = client.delete(f"/api/tokens/{bob_token.pk}/")
    assert refused.status_code == 404
    assert refused.json() == {"error": f"API token {bob_token.pk} does not exist or is not yours", "fields": {}}
    assert _get(bob_key).status_code == 200

    assert client.delete(f"/api/tokens/{alice_token.pk}/").status_code == 204
    assert _get(alice_key).status_code == 401
    assert client.get("/api/tokens/?status=active").json()["count"] == 0
    [revoked] = client.get("/api/tokens/?status=revoked").json()["results"]
    assert (revoked["id"], revoked["status"]) == (alice_token.pk, "revoked")
    entry = AuditEntry.objects.get(action="token.revoke", target=alice.username)
    assert entry.username == alice.username and entry.after == {"reason": f"revoked by {alice.username}"}


def test_an_admin_revokes_anyones_token(make_user: Any, api_as: Any) -> None:
    token, key = token_issue(user=make_user("operator"))
    assert api_as("admin").delete(f"/api/tokens/{token.pk}/").status_code == 204
    assert _get(key).status_code == 401


# --- revoked when access changes ------------------------------------------------------


def test_a_password_change_revokes_every_token_of_the_user(make_user: Any) -> None:
    user, other = make_user("viewer"), make_user("viewer")
    _, key1 = token_issue(user=user)
    _, key2 = token_issue(user=user)
    _, other_key = token_issue(user=other)
    user.set_password("a-new-Passphrase-42")
    user.save()
    for key in (key1, key2):
        response = _get(key)
        assert response.status_code == 401
        assert "(password changed)" in response.json()["error"]
    assert _get(other_key).status_code == 200
    entry = AuditEntry.objects.get(action="token.revoke", target=user.username)
    assert len(entry.after["tokens"]) == 2 and entry.after["reason"] == "password changed"


def test_changepassword_through_backbone_user_revokes_tokens(make_user: Any) -> None:
    user = make_user("viewer")
    _, key = token_issue(user=user)
    _command("backbone_user", user.username, "--password", "another-Passphrase-7")
    assert _get(key).status_code == 401


def test_a_hash_upgrade_at_login_does_not_revoke_tokens(make_user: Any, settings: Any) -> None:
    # Django re-hashes a password on login when the preferred hasher changed: not a new password.
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    user = make_user("viewer")
    type(user).objects.filter(pk=user.pk).update(password=make_password("pw-Backbone-1", hasher="md5"))
    user.refresh_from_db()
    _, key = token_issue(user=user)
    assert user.check_password("pw-Backbone-1")
    user.refresh_from_db()
    assert user.password.startswith("pbkdf2_sha256$")  # the hash was upgraded and saved
    assert _get(key).status_code == 200


def test_deactivating_a_user_revokes_their_tokens_for_good(make_user: Any) -> None:
    user = make_user("operator")
    _, key = token_issue(user=user)
    user.is_active = False
    user.save()
    response = _get(key)
    assert response.status_code == 401
    assert "(account deactivated)" in response.json()["error"]
    user.is_active = True
    user.save()
    assert _get(key).status_code == 401


# --- the admin page --------------------------------------------------------------------


def test_the_tokens_page_shows_admins_every_token_and_others_their_own(client_as: Any, make_user: Any) -> None:
    token, _ = token_issue(user=make_user("viewer"), name="looker-sync")
    admin = client_as("admin")
    page = admin.get("/tokens/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f"bbc_{token.prefix}…" in html and "looker-sync" in html
    assert 'href="/tokens/"' in html and 'href="/api/docs/"' in html
    content = html[html.index("<main") :]  # the page's own part; the shared header is base.html's
    assert " onclick=" not in content and " onsubmit=" not in content and " onchange=" not in content
    operator = Client()
    operator.force_login(operator_user := make_user("operator"))
    own, _ = token_issue(user=operator_user, name="deploy-bot")
    mine = operator.get("/tokens/").content.decode()
    assert f"bbc_{own.prefix}…" in mine and "deploy-bot" in mine
    assert f"bbc_{token.prefix}…" not in mine and "looker-sync" not in mine
    # The user filter narrows an admin's list; for others it has no input and changes nothing.
    assert 'name="user"' not in mine
    assert f"bbc_{own.prefix}…" in operator.get(f"/tokens/?user={token.user.username}").content.decode()
    # Everyone's navigation leads to the page and to the API docs.
    nav = operator.get("/jobs/").content.decode()
    assert 'href="/tokens/"' in nav and 'href="/api/docs/"' in nav


def test_every_input_of_the_tokens_page_has_a_label(client_as: Any) -> None:
    for role in ("admin", "viewer"):
        html = client_as(role).get("/tokens/").content.decode()
        content = html[html.index("<main") :]
        ids = re.findall(
            r"<(?:input|select|textarea)\b(?![^>]*type=\"(?:hidden|submit)\")[^>]*\bid=\"([^\"]+)\"", content
        )
        unlabelled = re.findall(
            r"<(?:input|select|textarea)\b(?![^>]*type=\"(?:hidden|submit)\")(?![^>]*\bid=)[^>]*>", content
        )
        assert unlabelled == [], role
        assert ids and all(f'<label for="{i}"' in content for i in ids), (role, ids)


def _create(client: Any, **form: Any) -> Any:
    return client.post("/tokens/create/", {"name": "", "days": "30", **form})


def test_a_user_creates_their_own_token_with_their_password_and_sees_it_once(make_user: Any) -> None:
    user = make_user("viewer", password="pw-Tokens-1")
    client = Client()
    client.force_login(user)
    response = _create(client, name="grafana", days="7", password="pw-Tokens-1")
    assert response.status_code == 201
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get(user=user)
    [key] = set(re.findall(r"bbc_[A-Za-z0-9_-]{40,}", response.content.decode()))  # the key, and a curl line
    assert ApiToken.hash_key(key) == token.key_hash and token.name == "grafana"
    assert abs(token.expires_at - (timezone.now() + timedelta(days=7))) < timedelta(minutes=1)
    # The token acts as its user: their own list through the API, nobody else's.
    assert _get(key).json()["results"][0]["prefix"] == token.prefix
    entry = AuditEntry.objects.get(action="token.create", target=user.username)
    assert entry.username == user.username and entry.result == AuditEntry.Result.OK
    assert entry.after["prefix"] == token.prefix and key not in str(entry.after)
    # Shown once: the list afterwards names it, never its key.
    listed = client.get("/tokens/").content.decode()
    assert token.label in listed and key not in listed


def test_a_wrong_password_creates_no_token_says_so_and_is_audited(make_user: Any, settings: Any) -> None:
    settings.LOGIN_FAILURE_LIMIT = 2
    user = make_user("viewer", password="pw-Tokens-1")
    client = Client()
    client.force_login(user)
    response = _create(client, name="grafana", password="not-my-password")
    assert response.status_code == 400
    assert "Wrong password: no token was created." in response.content.decode()
    assert not ApiToken.objects.filter(user=user).exists()
    denied = AuditEntry.objects.get(action="token.create", target=user.username)
    assert denied.result == AuditEntry.Result.DENIED and denied.error == "wrong password"
    assert denied.username == user.username
    # A missing password is a form error; a second wrong one reaches the limit, after which
    # even the right password is not checked until the cool-off has passed.
    assert "This field is required." in _create(client, password="").content.decode()
    assert _create(client, password="still-wrong").status_code == 400
    locked = _create(client, password="pw-Tokens-1")
    assert locked.status_code == 400 and "Too many wrong passwords" in locked.content.decode()
    assert not ApiToken.objects.filter(user=user).exists()
    AuditEntry.objects.filter(action="token.create").update(at=timezone.now() - timedelta(hours=1))
    assert _create(client, password="pw-Tokens-1").status_code == 201


def test_a_token_from_the_page_lives_at_most_api_token_days(make_user: Any, settings: Any) -> None:
    settings.API_TOKEN_DAYS = 30
    user = make_user("viewer", password="pw-Tokens-1")
    client = Client()
    client.force_login(user)
    for days in ("31", "0", "soon"):
        assert _create(client, days=days, password="pw-Tokens-1").status_code == 400, days
    assert "At most 30 days (API_TOKEN_DAYS)." in _create(client, days="31", password="pw-Tokens-1").content.decode()
    assert not ApiToken.objects.filter(user=user).exists()
    assert AuditEntry.objects.filter(action="token.create").count() == 0


def test_creating_a_token_needs_the_csrf_token(make_user: Any) -> None:
    user = make_user("viewer", password="pw-Tokens-1")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert _create(client, password="pw-Tokens-1").status_code == 403
    assert not ApiToken.objects.filter(user=user).exists()


def test_a_user_revokes_their_own_token_on_the_page_but_not_someone_elses(make_user: Any) -> None:
    viewer = Client()
    viewer.force_login(viewer_user := make_user("viewer"))
    own, own_key = token_issue(user=viewer_user)
    other, other_key = token_issue(user=make_user("viewer"))
    assert viewer.post(f"/tokens/{other.pk}/revoke/").status_code == 404
    assert _get(other_key).status_code == 200
    assert viewer.post(f"/tokens/{own.pk}/revoke/").status_code == 302
    assert _get(own_key).status_code == 401


def test_the_tokens_page_revokes_with_htmx_and_without(client_as: Any, make_user: Any) -> None:
    admin = client_as("admin")
    first, first_key = token_issue(user=make_user("viewer"))
    second, second_key = token_issue(user=make_user("viewer"))

    row = admin.post(f"/tokens/{first.pk}/revoke/", HTTP_HX_REQUEST="true")
    assert row.status_code == 200
    assert f'id="token-{first.pk}"' in row.content.decode() and "revoked" in row.content.decode()
    assert _get(first_key).status_code == 401

    plain = admin.post(f"/tokens/{second.pk}/revoke/")
    assert plain.status_code == 302 and plain["Location"] == "/tokens/"
    assert _get(second_key).status_code == 401
    assert client_as("operator").post(f"/tokens/{second.pk}/revoke/").status_code == 404


def test_revoking_from_the_page_needs_the_csrf_token(make_user: Any) -> None:
    token, key = token_issue(user=make_user("viewer"))
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("admin"))
    assert client.post(f"/tokens/{token.pk}/revoke/").status_code == 403
    assert _get(key).status_code == 200


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_admin_revokes_a_token_in_a_browser(live_url: str, page: Any, make_user: Any) -> None:
    from tests.conftest import screenshot

    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    admin = make_user("admin", password="pw-Browser-1")
    token, key = token_issue(user=make_user("operator"), name="deploy-bot")
    page.goto(live_url + "/login/")
    page.fill("#id_username", admin.username)
    page.fill("#id_password", "pw-Browser-1")
    page.click("button[type=submit]")
    page.wait_for_selector("a:text-is('Tokens')")
    page.click("a:text-is('Tokens')")
    page.wait_for_url("**/tokens/")
    row = page.locator(f"#token-{token.pk}")
    assert "deploy-bot" in row.inner_text()
    screenshot(page, "tokens")
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("button:has-text('Revoke')").click()
    page.wait_for_selector(f"#token-{token.pk} .badge:text-is('revoked')")
    assert page.url.endswith("/tokens/")  # swapped in place by htmx, no page load
    assert _get(key).status_code == 401
    assert [e for e in errors if "Content Security Policy" in e] == []
