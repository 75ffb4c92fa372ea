"""An admin in headless Chromium gives a directory group a role on some topics, then asks the
console to explain what a member of that group may do — and the member sees it on My access."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from backbone_admin.access import set_directory_groups
from backbone_admin.models import AuditEntry, Grant
from tests.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "pw-Browser-Grants-1"


@pytest.fixture(autouse=True)
def console_errors(page: Any) -> Iterator[list[str]]:
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield errors
    assert [e for e in errors if not e.startswith("Failed to load resource")] == []


def _login(page: Any, live_url: str, username: str) -> None:
    page.goto(live_url + "/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


@pytest.mark.parametrize("width, height", [(1280, 800), (390, 844)])
def test_an_admin_grants_a_group_a_role_on_topics_and_explains_a_members_access(
    live_url: str, page: Any, make_user: Any, width: int, height: int
) -> None:
    team = f"kafka-pay{uuid.uuid4().hex[:6]}"
    admin = make_user("admin", password=PASSWORD)
    member = make_user(None, password=PASSWORD)
    set_directory_groups(member, [f"{team}-eu", "staff"], "oidc")
    page.set_viewport_size({"width": width, "height": height})
    page.on("dialog", lambda dialog: dialog.accept())

    _login(page, live_url, admin.username)
    assert page.locator("header a:text-is('Access')").get_attribute("href") == "/access/grants/"
    page.goto(live_url + "/access/grants/")
    page.click("a:text-is('New grant')")
    page.wait_for_url("**/access/grants/new/")
    page.select_option("#id_subject_type", "group")
    page.fill("#id_subject", f"{team}-*")
    page.select_option("#id_role", "reader")
    page.select_option("#id_cluster", "local")
    # A pattern RE2 refuses is said next to its field, and nothing is saved.
    page.fill("#id_topics", "re:payments-(")
    page.click("#grant-form button[type=submit]")
    page.locator("[data-field=topics]", has_text="not a valid regular expression").wait_for()
    assert not Grant.objects.exists()
    screenshot(page, f"grants-form-error-{width}")

    page.fill("#id_topics", "payments.*\nre:refunds-(eu|us)")
    page.fill("#id_groups", "payments-*")
    page.fill("#id_note", "payments team")
    page.click("#grant-form button[type=submit]")
    page.wait_for_url("**/access/grants/")
    grant = Grant.objects.get()
    assert grant.as_dict() == {
        "group": f"{team}-*",
        "role": "reader",
        "cluster": "local",
        "topics": ["payments.*", "re:refunds-(eu|us)"],
        "groups": ["payments-*"],
        "note": "payments team",
    }
    assert AuditEntry.objects.get(action="grant.create").after == grant.as_dict()
    row = page.locator(f"#grant-{grant.pk}")
    assert row.is_visible() and "re:refunds-(eu|us)" in row.inner_text()
    screenshot(page, f"grants-list-{width}")

    page.goto(live_url + "/access/explain/")
    page.fill("#explain-user", member.username)
    page.select_option("#explain-cluster", "local")
    page.fill("#explain-topic", "payments.captured")
    page.click("#explain-form button[type=submit]")
    page.locator("#explain-answer").wait_for()
    assert page.locator("#explain-role").inner_text() == "reader"
    rules = page.locator("#explain-rules tbody tr")
    assert rules.count() == 1 and f"member of {team}-eu" in rules.first.inner_text()
    assert f"{team}-eu" in page.locator("#explain-answer").inner_text()
    screenshot(page, f"grants-explain-{width}")

    # A topic outside the patterns: hidden, and the rule says why it does not apply.
    page.fill("#explain-topic", "payroll.salaries")
    page.click("#explain-form button[type=submit]")
    page.locator("#explain-role", has_text="no access").wait_for()
    assert "no topic pattern matches" in page.locator("#explain-rules").inner_text()

    # The member sees their own access, not the grant list.
    page.context.clear_cookies()
    _login(page, live_url, member.username)
    page.goto(live_url + "/access/me/")
    text = page.locator("main").inner_text()
    assert "topics payments.*" in text and f"{team}-eu" in text
    screenshot(page, f"grants-my-access-{width}")
    assert page.goto(live_url + "/access/grants/").status == 403


@pytest.mark.parametrize("width, height", [(1280, 800), (390, 844)])
def test_a_user_no_grant_reaches_is_told_so_with_their_groups(
    live_url: str, page: Any, make_user: Any, width: int, height: int
) -> None:
    user = make_user(None, password=PASSWORD)
    set_directory_groups(user, ["marketing", "eu-staff"], "ldap")
    page.set_viewport_size({"width": width, "height": height})
    _login(page, live_url, user.username)
    page.goto(live_url + "/")
    card = page.locator("#no-access")
    assert card.is_visible()
    assert f"You are signed in as {user.username}, but no grant gives you access to any cluster." in card.inner_text()
    assert "eu-staff" in card.inner_text() and "marketing" in card.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # nothing wider than the window
    screenshot(page, f"grants-no-access-{width}")
