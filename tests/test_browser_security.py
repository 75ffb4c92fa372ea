"""The security pages in headless Chromium: an admin finds them in the header, previews a
consumer template, creates it, and sees the ACLs and SCRAM users at desktop and phone widths."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ScramMechanism, UserScramCredentialDeletion
from playwright.sync_api import expect

from tests.conftest import screenshot
from tests.security.conftest import broker_acls

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "pw-Browser-Sec-1"


@pytest.fixture(autouse=True)
def console_errors(page: Any) -> Iterator[list[str]]:
    """Errors the browser logged; a Content-Security-Policy violation fails the test."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield errors
    assert [e for e in errors if "Content Security Policy" in e] == []
    assert [e for e in errors if "TypeError" in e or "ReferenceError" in e] == []


@pytest.fixture
def scram_user(kafka_admin: AdminClient) -> Iterator[str]:
    name = f"br-svc-{uuid.uuid4().hex[:8]}"
    yield name
    deletion = UserScramCredentialDeletion(name, ScramMechanism.SCRAM_SHA_512)
    for future in kafka_admin.alter_user_scram_credentials([deletion], request_timeout=10).values():
        with contextlib.suppress(KafkaException):  # never created: the test failed before
            future.result(timeout=11)


def _login(page: Any, live_url: str, make_user: Any, role: str) -> None:
    user = make_user(role, password=PASSWORD)
    page.goto(live_url + "/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/clusters/local/")


def test_the_security_pages_at_desktop_and_phone_widths(live_url: str, page: Any, make_user: Any) -> None:
    page.set_viewport_size({"width": 1280, "height": 800})
    _login(page, live_url, make_user, "admin")
    page.click("nav.mainnav >> text=Security")
    page.wait_for_url("**/clusters/local/acls/")
    expect(page.locator("#acl-count")).to_contain_text("ACL")
    screenshot(page, "security-acls-1280")
    page.click("nav.security-tabs >> text=SCRAM users")
    page.wait_for_url("**/clusters/local/users/")
    expect(page.locator("#save-credential")).to_be_visible()
    screenshot(page, "security-users-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_url + "/clusters/local/acls/")
    screenshot(page, "security-acls-390")
    page.goto(live_url + "/clusters/local/users/")
    screenshot(page, "security-users-390")
    # Nothing is wider than the phone's screen but the table's own scroller.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_an_operator_has_no_security_link(live_url: str, page: Any, make_user: Any) -> None:
    _login(page, live_url, make_user, "operator")
    expect(page.locator("nav.mainnav >> text=Topics")).to_be_visible()
    assert page.locator("nav.mainnav >> text=Security").count() == 0


@pytest.mark.real_kafka
def test_an_admin_previews_a_consumer_template_and_creates_it(
    live_url: str, page: Any, make_user: Any, kafka_admin: AdminClient
) -> None:
    principal = f"User:br-{uuid.uuid4().hex[:8]}"
    page.set_viewport_size({"width": 1280, "height": 800})
    _login(page, live_url, make_user, "admin")
    page.goto(live_url + "/clusters/local/acls/")
    page.click("text=Consumer of a topic in a group")
    page.wait_for_url("**/acls/new/?kind=consumer")
    page.fill("#id_principal", principal)
    page.fill("#id_topic", "orders")
    page.fill("#id_group", "billing")
    page.click("button[value=preview]")
    preview = page.locator("#preview")
    preview.wait_for()
    expect(preview.locator("tr.added")).to_have_count(3)
    expect(page.locator("#confirm-create")).to_have_text("Create 3 ACLs")
    screenshot(page, "security-acl-preview-1280")
    assert broker_acls(kafka_admin, principal) == set()  # the preview changed nothing

    page.click("#confirm-create")
    page.wait_for_selector("ul.messages >> text=Created 3 ACLs.")
    expect(page.locator("table.acl-table tbody tr")).to_have_count(3)
    screenshot(page, "security-acls-created-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "security-acls-created-390")
    assert broker_acls(kafka_admin, principal) == {
        ("TOPIC", "orders", "LITERAL", "READ", "ALLOW"),
        ("TOPIC", "orders", "LITERAL", "DESCRIBE", "ALLOW"),
        ("GROUP", "billing", "LITERAL", "READ", "ALLOW"),
    }

    # Delete them through the row buttons' preview and confirm.
    page.set_viewport_size({"width": 1280, "height": 800})
    page.click("text=Delete the 3 matching ACLs…")
    expect(page.locator("#preview tr.removed")).to_have_count(3)
    page.click("#confirm-delete")
    page.wait_for_selector("ul.messages >> text=Deleted 3 ACLs.")
    assert broker_acls(kafka_admin, principal) == set()


@pytest.mark.real_kafka
def test_an_admin_creates_a_scram_user_whose_password_is_never_shown_again(
    live_url: str, page: Any, make_user: Any, scram_user: str
) -> None:
    scram_name = scram_user
    password = f"pw-{uuid.uuid4().hex}"
    page.set_viewport_size({"width": 1280, "height": 800})
    _login(page, live_url, make_user, "admin")
    page.goto(live_url + "/clusters/local/users/")
    page.fill("#id_user", scram_name)
    page.select_option("#id_mechanism", "SCRAM-SHA-512")
    page.fill("#id_iterations", "4096")
    page.fill("#id_password", password)
    page.click("#save-credential")
    page.wait_for_selector(f"ul.messages >> text=Created the SCRAM-SHA-512 credential of {scram_name}.")
    row = page.locator(f"tr[data-user='{scram_name}']")
    expect(row).to_contain_text("SCRAM-SHA-512")
    expect(row).to_contain_text("4096 iterations")
    assert page.input_value("#id_password") == ""
    assert password not in page.content()
    screenshot(page, "security-users-created-1280")
