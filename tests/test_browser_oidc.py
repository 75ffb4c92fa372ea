"""Single sign-on in Chromium: the console's login page → the provider's login page and consent
form → back to the console, signed in; a user in no mapped group is told why; logout ends the
session at the provider too. The provider is the real django-oauth-toolkit of tests/sso/, and the
console a Daphne of its own started with OIDC_* in its environment."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from backbone_admin.embedded import free_port
from backbone_admin.models import AuditEntry, DirectoryGroups, Grant
from tests.conftest import _subprocess_env, daphne_server, screenshot
from tests.sso.conftest import CLIENT_ID, OIDCProvider, provider_keys, start_provider  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def console_errors(page: Any) -> Iterator[list[str]]:
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield errors
    assert [e for e in errors if not e.startswith("Failed to load resource")] == []


@pytest.fixture
def sso(
    start_provider: Callable[..., OIDCProvider],  # noqa: F811 (the fixture imported above)
    kafka_bootstrap: str,
    redis_url: str,
) -> Iterator[tuple[str, OIDCProvider]]:
    """(console URL, provider): a Daphne configured for OIDC against a provider that knows its callback."""
    port, secret = free_port(), secrets.token_urlsafe(24)
    env = _subprocess_env(kafka_bootstrap, redis_url)
    env.update(
        {
            "OIDC_ISSUER": f"http://127.0.0.1:{port}",
            "OIDC_CLIENT_ID": CLIENT_ID,
            "OIDC_CLIENT_SECRET": secret,
            "OIDC_DISPLAY_NAME": "Example SSO",
        }
    )
    # Discovery is lazy: the console starts first (its port is then known), the provider after it.
    with daphne_server(env, "daphne-oidc.log") as (url, _):
        provider = start_provider(
            [f"{url}/oidc/callback/"], post_logout_uris=[f"{url}/login/"], port=port, secret=secret
        )
        yield url, provider


def _through_the_provider(page: Any, url: str, provider: OIDCProvider, name: str) -> None:
    page.goto(url + "/login/")
    page.click("#oidc-login")
    page.wait_for_url(provider.issuer + "/accounts/login/**")
    page.fill("#id_username", name)
    page.fill("#id_password", provider.users[name])
    page.click("#provider-login button[type=submit]")
    page.wait_for_url(provider.issuer + "/authorize/**")  # the consent form
    assert page.locator("#authorizationForm").is_visible()
    page.click("#authorizationForm input[name=allow]")


@pytest.mark.parametrize("width, height", [(1280, 800), (390, 844)])
def test_signing_in_through_the_provider_lands_on_the_console_and_logout_ends_both_sessions(
    sso: tuple[str, OIDCProvider], page: Any, console_errors: list[str], width: int, height: int
) -> None:
    url, provider = sso
    name = f"sso-{uuid.uuid4().hex[:8]}"
    provider.add_user(name, ["kafka-orders"])
    Grant.objects.create(subject_type=Grant.Subject.GROUP, subject="kafka-*", role="viewer", cluster="local")
    page.set_viewport_size({"width": width, "height": height})
    page.goto(url + "/login/")
    button = page.locator("#oidc-login")
    assert button.inner_text() == "Sign in with Example SSO"
    assert page.locator("#id_password").is_visible()  # local login stays on by default
    screenshot(page, f"oidc-login-{width}")

    _through_the_provider(page, url, provider, name)
    page.wait_for_url(url + "/clusters/local/")
    user = get_user_model().objects.get(username=name)
    assert DirectoryGroups.objects.get(user=user).groups == ["kafka-orders"]
    assert AuditEntry.objects.filter(action="login.oidc", username=name, result="ok").count() == 1
    screenshot(page, f"oidc-landed-{width}")

    # Log out: the console's session ends, the provider's end-session endpoint sends the browser back.
    logout = page.locator("form.logout button[type=submit]")
    if not logout.is_visible():  # folded into the menu on a phone
        page.locator("header summary, header .menu-toggle, header button[aria-controls]").first.click()
    logout.click()
    page.wait_for_url(url + "/login/**")
    page.goto(url + "/clusters/local/")
    page.wait_for_url(url + "/login/**")


def test_a_user_in_no_mapped_group_is_signed_in_and_told_why(
    sso: tuple[str, OIDCProvider], page: Any, console_errors: list[str]
) -> None:
    url, provider = sso
    name = f"nogroup-{uuid.uuid4().hex[:8]}"
    provider.add_user(name, ["marketing"])
    page.set_viewport_size({"width": 1280, "height": 800})
    _through_the_provider(page, url, provider, name)
    page.wait_for_url(url + "/")
    notice = page.locator("#no-access", has_text="no grant gives you access to any cluster")
    notice.wait_for(timeout=15_000)
    assert notice.locator(".dirgroup").all_inner_texts() == ["marketing"]
    screenshot(page, "oidc-no-group-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    assert notice.is_visible()
    screenshot(page, "oidc-no-group-390")


def test_a_provider_that_is_down_shows_a_clear_page_and_the_password_form_still_works(
    kafka_bootstrap: str, redis_url: str, page: Any, make_user: Any, console_errors: list[str]
) -> None:
    env = _subprocess_env(kafka_bootstrap, redis_url)
    down = f"http://127.0.0.1:{free_port()}"
    env.update({"OIDC_ISSUER": down, "OIDC_CLIENT_ID": CLIENT_ID, "OIDC_CLIENT_SECRET": "x", "OIDC_TIMEOUT": "2"})
    user = make_user("viewer", password="pw-Browser-Oidc-1")
    with daphne_server(env, "daphne-oidc-down.log") as (url, _):
        for width, height in [(1280, 800), (390, 844)]:
            page.set_viewport_size({"width": width, "height": height})
            page.goto(url + "/login/")
            page.click("#oidc-login")
            page.locator("#oidc-error", has_text=f"The identity provider at {down} cannot be reached.").wait_for(
                timeout=5_000
            )
            screenshot(page, f"oidc-down-{width}")
        page.click("#oidc-error a:text-is('Log in with a username and password')")
        page.fill("#id_username", user.username)
        page.fill("#id_password", "pw-Browser-Oidc-1")
        page.click("button[type=submit]")
        page.wait_for_url(url + "/clusters/local/")


def test_with_local_login_off_the_login_page_offers_single_sign_on_only(
    kafka_bootstrap: str, redis_url: str, page: Any, console_errors: list[str]
) -> None:
    env = _subprocess_env(kafka_bootstrap, redis_url)
    env.update(
        {
            "OIDC_ISSUER": f"http://127.0.0.1:{free_port()}",
            "OIDC_CLIENT_ID": CLIENT_ID,
            "OIDC_CLIENT_SECRET": "x",
            "BACKBONE_LOCAL_LOGIN": "0",
        }
    )
    with daphne_server(env, "daphne-oidc-only.log") as (url, _):
        for width, height in [(1280, 800), (390, 844)]:
            page.set_viewport_size({"width": width, "height": height})
            page.goto(url + "/clusters/local/")
            page.wait_for_url(url + "/login/?next=/clusters/local/")
            assert page.locator("#oidc-login").get_attribute("href") == "/oidc/authenticate/?next=/clusters/local/"
            assert page.locator("#id_username, #id_password").count() == 0
            screenshot(page, f"oidc-only-login-{width}")
