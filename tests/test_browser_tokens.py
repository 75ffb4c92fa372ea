"""API access from the UI in Chromium: a user who is not an admin creates their own API token on
/tokens/ after typing their password again, sees it once, uses it, and revokes it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from backbone_admin.models import ApiToken, AuditEntry
from tests.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "pw-Browser-Tokens-1"


@pytest.fixture(autouse=True)
def console_errors(page: Any) -> Iterator[list[str]]:
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield errors
    assert [e for e in errors if not e.startswith("Failed to load resource")] == []


def _api(live_url: str, key: str) -> tuple[int, Any]:
    request = urllib.request.Request(live_url + "/api/tokens/", headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize("width, height", [(1280, 800), (390, 844)])
def test_a_viewer_creates_their_own_token_with_their_password_and_sees_it_once(
    live_url: str, page: Any, make_user: Any, width: int, height: int
) -> None:
    user = make_user("viewer", password=PASSWORD)
    page.set_viewport_size({"width": width, "height": height})
    page.goto(live_url + "/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/clusters/local/")
    # Everyone's header links to the tokens page and the API docs (at 390 px the menu may be folded).
    assert page.locator("header a:text-is('API docs')").get_attribute("href") == "/api/docs/"
    assert page.locator("header a:text-is('Tokens')").get_attribute("href") == "/tokens/"
    page.goto(live_url + "/tokens/")
    page.wait_for_url("**/tokens/")
    assert page.locator("h2:text-is('Your tokens')").is_visible()
    assert page.locator("#token-user").count() == 0  # no user filter: only their own tokens

    # A wrong password: said next to the field, no token, the attempt audited.
    page.fill("#id_name", "grafana")
    page.fill("#id_days", "30")
    page.fill("#id_password", "not-my-password")
    page.click("#token-create button[type=submit]")
    page.locator("[data-field=password]", has_text="Wrong password: no token was created.").wait_for()
    assert not ApiToken.objects.filter(user=user).exists()
    assert AuditEntry.objects.filter(action="token.create", username=user.username, result="denied").count() == 1

    page.fill("#id_password", PASSWORD)
    page.click("#token-create button[type=submit]")
    key = page.locator("#new-key").input_value(timeout=10_000)
    assert key.startswith("bbc_")
    assert key in page.locator("#new-key-example").input_value()
    assert page.locator("#new-token .notice", has_text="it is not shown again").is_visible()
    token = ApiToken.objects.get(user=user)
    assert token.name == "grafana" and page.locator(f"#token-{token.pk}").is_visible()
    screenshot(page, f"tokens-created-{width}")

    # The token works, as its user: the API lists their own token.
    status, body = _api(live_url, key)
    assert status == 200 and [t["prefix"] for t in body["results"]] == [token.prefix]

    # Shown once: the list afterwards has the token, not its key.
    page.goto(live_url + "/tokens/")
    assert page.locator("#new-key").count() == 0 and key not in page.content()
    screenshot(page, f"tokens-{width}")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f"#token-{token.pk} button:has-text('Revoke')").click()
    page.wait_for_selector(f"#token-{token.pk} .badge:text-is('revoked')")
    assert _api(live_url, key)[0] == 401
