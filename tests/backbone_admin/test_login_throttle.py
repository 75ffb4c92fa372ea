"""Login throttling: wrong passwords lock a username (per address, and across addresses) for
LOGIN_COOLOFF_MINUTES, on the console's login page and on the Django admin login."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from backbone_admin.models import AuditEntry

PASSWORD = "pw-Backbone-1"
pytestmark = pytest.mark.django_db


def _login(client: Client, path: str, username: str, password: str, address: str = "127.0.0.1") -> Any:
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=address)


def _logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_five_wrong_passwords_then_the_right_one_is_refused(make_user: Any) -> None:
    user = make_user("viewer")
    client = Client()
    for _ in range(4):
        response = _login(client, "/login/", user.username, "wrong-password")
        assert response.status_code == 200
        assert "correct username and password" in response.content.decode()
    fifth = _login(client, "/login/", user.username, "wrong-password")
    assert fifth.status_code == 429
    assert "Login paused for this account" in fifth.content.decode()
    assert fifth["Retry-After"] == "900"

    right = _login(client, "/login/", user.username, PASSWORD)
    assert right.status_code == 429
    assert "Login paused for this account" in right.content.decode()
    assert not _logged_in(client)
    assert client.get("/clusters/").status_code == 302  # still sent to the login page


def test_failures_and_lockouts_are_in_the_audit_log(make_user: Any) -> None:
    user = make_user("viewer")
    for _ in range(6):
        _login(Client(), "/login/", user.username, "wrong-password", address="10.1.2.3")
    failed = AuditEntry.objects.filter(action="login.failed", target=user.username)
    locked = AuditEntry.objects.filter(action="login.locked", target=user.username)
    assert failed.count() == 4
    assert locked.count() == 2  # the fifth failure locks; the sixth is refused while locked
    entry = locked.first()
    assert entry is not None
    assert entry.result == AuditEntry.Result.DENIED
    assert entry.source_ip == "10.1.2.3"
    assert "locked until" in entry.error


def test_another_user_is_unaffected(make_user: Any) -> None:
    locked, other = make_user("viewer"), make_user("viewer")
    for _ in range(5):
        _login(Client(), "/login/", locked.username, "wrong-password")
    client = Client()
    response = _login(client, "/login/", other.username, PASSWORD)
    assert response.status_code == 302
    assert _logged_in(client)


def test_a_success_from_another_address_does_not_reset_the_counter(make_user: Any) -> None:
    user = make_user("viewer")
    for _ in range(4):
        _login(Client(), "/login/", user.username, "wrong-password", address="10.0.0.1")
    elsewhere = Client()
    assert _login(elsewhere, "/login/", user.username, PASSWORD, address="10.0.0.2").status_code == 302

    refused = Client()
    assert _login(refused, "/login/", user.username, "wrong-password", address="10.0.0.1").status_code == 429
    assert _login(refused, "/login/", user.username, PASSWORD, address="10.0.0.1").status_code == 429
    assert not _logged_in(refused)
    # The username-wide limit is not reached: the other address still logs in.
    again = Client()
    assert _login(again, "/login/", user.username, PASSWORD, address="10.0.0.2").status_code == 302


def test_a_guesser_spread_over_many_addresses_locks_the_username(make_user: Any, settings: Any) -> None:
    settings.LOGIN_USERNAME_FAILURE_LIMIT = 6
    user = make_user("viewer")
    for i in range(5):
        assert _login(Client(), "/login/", user.username, "wrong", address=f"10.9.0.{i}").status_code == 200
    assert _login(Client(), "/login/", user.username, "wrong", address="10.9.0.5").status_code == 429
    client = Client()
    assert _login(client, "/login/", user.username, PASSWORD, address="10.9.1.1").status_code == 429
    assert not _logged_in(client)


def test_the_django_admin_login_is_throttled_too(django_user_model: Any) -> None:
    admin = django_user_model.objects.create_superuser(username="throttled-admin", password=PASSWORD)
    client = Client()
    for _ in range(4):
        assert _login(client, "/django-admin/login/", admin.username, "wrong-password").status_code == 200
    assert _login(client, "/django-admin/login/", admin.username, "wrong-password").status_code == 429
    right = _login(client, "/django-admin/login/", admin.username, PASSWORD)
    assert right.status_code == 429
    assert "Login paused for this account" in right.content.decode()
    assert not _logged_in(client)
    # The console's own login page shares the counter: the account is locked there as well.
    assert _login(Client(), "/login/", admin.username, PASSWORD).status_code == 429


def test_a_login_without_a_request_is_not_throttled(make_user: Any) -> None:
    # Management commands and the shell call authenticate() without a request: no address,
    # no remote guesser; axes would otherwise refuse them outright.
    from django.contrib.auth import authenticate

    user = make_user("viewer")
    for _ in range(5):
        _login(Client(), "/login/", user.username, "wrong-password")
    assert authenticate(username=user.username, password=PASSWORD) == user


def test_force_login_and_api_tokens_still_work_with_the_throttle_on(client_as: Any, make_user: Any) -> None:
    from backbone_admin.tokens.services import token_issue

    assert client_as("admin").get("/tokens/").status_code == 200
    _, key = token_issue(user=make_user("viewer"))
    assert Client().get("/api/tokens/", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_lockout_page_in_a_browser(live_url: str, page: Any, make_user: Any) -> None:
    from tests.conftest import screenshot

    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    user = make_user("viewer")
    for _ in range(5):
        page.goto(live_url + "/login/")
        page.fill("#id_username", user.username)
        page.fill("#id_password", "wrong-password")
        page.click("button[type=submit]")
    page.wait_for_selector("text=Login paused for this account")
    assert page.locator(".notice.bad").is_visible()
    screenshot(page, "login-locked")
    page.click("text=Back to the login page")
    page.wait_for_url("**/login/")
    assert [e for e in errors if "Content Security Policy" in e] == []
