"""LDAP sign-in in Chromium through the normal login form, on a Daphne configured by LDAP_* variables
against a real slapd that requires TLS (tests/sso/ldap_server.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backbone_admin.models import DirectoryGroups, Grant
from backbone_admin.sso.ldap import UNAVAILABLE_MESSAGE
from tests.conftest import _subprocess_env, daphne_server, screenshot
from tests.sso.ldap_server import PASSWORDS, LdapServer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def console_errors(page: Any) -> Iterator[list[str]]:
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield errors
    assert [e for e in errors if not e.startswith("Failed to load resource")] == []


@pytest.fixture
def directory(tmp_path: Path) -> Iterator[LdapServer]:
    server = LdapServer.create(tmp_path / "ldap").start()
    yield server
    server.stop()


@pytest.fixture
def ldap_console(directory: LdapServer, kafka_bootstrap: str, redis_url: str) -> Iterator[str]:
    """A Daphne of this test's own with LDAP sign-in turned on by its environment (StartTLS)."""
    env = {**_subprocess_env(kafka_bootstrap, redis_url), **directory.environment(start_tls=True, timeout=2.0)}
    with daphne_server(env, "daphne-ldap.log") as (url, _):
        yield url


def _sign_in(page: Any, url: str, username: str, password: str) -> None:
    page.goto(url + "/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")


@pytest.mark.parametrize("width, height", [(1280, 800), (390, 844)])
def test_a_directory_user_signs_in_through_the_login_form(
    ldap_console: str, directory: LdapServer, page: Any, width: int, height: int
) -> None:
    Grant.objects.create(subject_type=Grant.Subject.GROUP, subject="kafka-orders-*", role="reader")
    page.set_viewport_size({"width": width, "height": height})

    _sign_in(page, ldap_console, "alice", PASSWORDS["alice"])
    page.wait_for_url("**/clusters/local/")
    screenshot(page, f"ldap-signed-in-{width}")
    assert DirectoryGroups.objects.get(user__username="alice").groups == [
        "kafka-orders-readers",
        "kafka-payments-readers",
    ]

    # carol is in no group a grant names: signed in, and told she has no access yet.
    page.context.clear_cookies()
    _sign_in(page, ldap_console, "carol", PASSWORDS["carol"])
    page.wait_for_url(ldap_console + "/")
    assert page.locator("#id_password").count() == 0
    assert "carol" in page.locator("main").inner_text()
    screenshot(page, f"ldap-no-group-{width}")

    # The directory goes away: the form says so at once, and a wrong password reads as always.
    page.context.clear_cookies()
    directory.stop()
    _sign_in(page, ldap_console, "alice", PASSWORDS["alice"])
    page.wait_for_url("**/login/")
    assert page.get_by_text(UNAVAILABLE_MESSAGE).is_visible()
    screenshot(page, f"ldap-directory-down-{width}")
