"""LDAP sign-in through the login form against a real slapd (tests/sso/ldap_server.py) that requires TLS."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from backbone_admin.access import has_any_access
from backbone_admin.models import AuditEntry, DirectoryGroups, Grant
from backbone_admin.sso.ldap import UNAVAILABLE_MESSAGE
from tests.sso.ldap_server import PASSWORDS, LdapServer, make_ca

pytestmark = pytest.mark.django_db

BACKEND = "backbone_admin.sso.ldap.DirectoryBackend"
ALICE = "uid=alice,ou=people,dc=example,dc=org"


@pytest.fixture
def directory(tmp_path: Path) -> Iterator[LdapServer]:
    """A slapd of this test's own, with tests/sso/ldap/directory.ldif loaded."""
    server = LdapServer.create(tmp_path / "ldap").start()
    yield server
    server.stop()


@pytest.fixture
def ldap_on(settings: Any, directory: LdapServer) -> Callable[..., Any]:
    """Turn LDAP sign-in on in this process (ldaps:// unless start_tls); keyword arguments override."""

    def use(*, start_tls: bool = False, timeout: float = 3.0, **overrides: Any) -> Any:
        for name, value in {**directory.settings(start_tls=start_tls, timeout=timeout), **overrides}.items():
            setattr(settings, name, value)
        if BACKEND not in settings.AUTHENTICATION_BACKENDS:
            settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, BACKEND]
        return settings

    use()
    return use


def log_in(username: str, password: str) -> tuple[Client, Any]:
    client = Client()
    response = client.post("/login/", {"username": username, "password": password})
    return client, response


def form_errors(response: Any) -> list[str]:
    assert response.status_code == 200, response.status_code
    return list(response.context["form"].non_field_errors())


def ldap_audit(username: str) -> list[tuple[str, str]]:
    rows = AuditEntry.objects.filter(action="login.ldap", target=username).order_by("id")
    return [(row.result, row.error) for row in rows]


def test_a_directory_user_signs_in_and_their_groups_are_recorded(ldap_on: Any) -> None:
    Grant.objects.create(subject_type=Grant.Subject.GROUP, subject="kafka-orders-*", role="reader")
    client, response = log_in("alice", PASSWORDS["alice"])

    assert response.status_code == 302, response.content[:500]
    assert client.get("/").status_code in (200, 302)
    alice = get_user_model().objects.get(username="alice")
    assert (alice.email, alice.first_name, alice.last_name) == ("alice@example.org", "Alice", "Archer")
    assert not alice.has_usable_password()  # the directory keeps the password, never the console
    recorded = DirectoryGroups.objects.get(user=alice)
    assert (recorded.groups, recorded.source) == (["kafka-orders-readers", "kafka-payments-readers"], "ldap")
    assert has_any_access(alice)
    entry = AuditEntry.objects.get(action="login.ldap", target="alice")
    assert entry.result == "ok" and entry.user == alice
    assert entry.after == {"dn": ALICE, "groups": ["kafka-orders-readers", "kafka-payments-readers"]}


def test_a_wrong_password_is_refused_with_the_same_message_as_a_wrong_local_password(
    ldap_on: Any, make_user: Callable[..., Any]
) -> None:
    local = make_user()
    _, local_answer = log_in(local.username, "not-the-password")
    client, ldap_answer = log_in("alice", "not-the-password")

    assert form_errors(ldap_answer) == form_errors(local_answer) != []
    assert "_auth_user_id" not in client.session
    assert ldap_audit("alice") == [("denied", "wrong username or password")]
    assert AuditEntry.objects.filter(action="login.failed", target="alice").count() == 1
    assert UNAVAILABLE_MESSAGE not in ldap_answer.content.decode()
    # A name the directory does not know is a plain failed login, nothing more.
    _, unknown = log_in("mallory", "whatever-pw-1")
    assert form_errors(unknown) == form_errors(local_answer)
    assert ldap_audit("mallory") == []


def test_directory_accounts_are_throttled_like_local_ones(ldap_on: Any, settings: Any) -> None:
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        log_in("alice", "not-the-password")
    client, response = log_in("alice", PASSWORDS["alice"])

    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    # Locked out before any backend ran: the directory was not asked again.
    assert len(ldap_audit("alice")) == settings.LOGIN_FAILURE_LIMIT


def test_a_user_in_no_mapped_group_signs_in_and_sees_nothing(ldap_on: Any) -> None:
    Grant.objects.create(subject_type=Grant.Subject.GROUP, subject="kafka-*", role="reader")
    client, response = log_in("carol", PASSWORDS["carol"])

    assert response.status_code == 302
    carol = get_user_model().objects.get(username="carol")
    assert client.session["_auth_user_id"] == str(carol.pk)
    assert DirectoryGroups.objects.get(user=carol).groups == []
    assert not has_any_access(carol)


def test_a_group_removed_in_the_directory_is_gone_at_the_next_sign_in(ldap_on: Any, directory: LdapServer) -> None:
    Grant.objects.create(subject_type=Grant.Subject.GROUP, subject="kafka-payments-readers", role="reader")
    log_in("alice", PASSWORDS["alice"])
    alice = get_user_model().objects.get(username="alice")
    assert "kafka-payments-readers" in DirectoryGroups.objects.get(user=alice).groups
    assert has_any_access(alice)

    directory.modify(
        "dn: cn=kafka-payments-readers,ou=groups,dc=example,dc=org\n"
        f"changetype: modify\ndelete: member\nmember: {ALICE}\n"
    )
    _, response = log_in("alice", PASSWORDS["alice"])

    assert response.status_code == 302
    assert DirectoryGroups.objects.get(user=alice).groups == ["kafka-orders-readers"]
    alice = get_user_model().objects.get(pk=alice.pk)
    assert not has_any_access(alice)


def test_start_tls_signs_in_and_a_plain_connection_is_refused_by_the_directory(
    ldap_on: Any, directory: LdapServer
) -> None:
    ldap_on(start_tls=True)
    assert log_in("bob", PASSWORDS["bob"])[1].status_code == 302

    ldap_on(start_tls=False, LDAP_SERVER_URI=directory.uri)  # ldap:// without StartTLS: cleartext
    client, response = log_in("bob", PASSWORDS["bob"])

    assert "_auth_user_id" not in client.session
    assert UNAVAILABLE_MESSAGE in response.content.decode()
    assert ldap_audit("bob")[-1][0] == "error"
    assert "Confidentiality required" in ldap_audit("bob")[-1][1]


@pytest.mark.parametrize("start_tls", [False, True], ids=["ldaps", "starttls"])
def test_a_directory_whose_certificate_is_not_from_the_trusted_ca_is_refused(
    ldap_on: Any, tmp_path: Path, start_tls: bool
) -> None:
    make_ca(tmp_path, "other-ca")
    ldap_on(start_tls=start_tls, LDAP_CA_FILE=str(tmp_path / "other-ca.pem"))
    client, response = log_in("alice", PASSWORDS["alice"])

    assert "_auth_user_id" not in client.session
    assert UNAVAILABLE_MESSAGE in response.content.decode()
    assert not get_user_model().objects.filter(username="alice").exists()
    result, error = ldap_audit("alice")[-1]
    assert result == "error" and error.startswith("directory unavailable")
    if not start_tls:
        assert "certificate not trusted" in error


@pytest.mark.parametrize(
    ("start_tls", "how"),
    [(False, "stopped"), (False, "frozen"), (True, "stopped"), (True, "frozen")],
    ids=["ldaps-stopped", "ldaps-frozen", "starttls-stopped", "starttls-frozen"],
)
def test_a_directory_that_is_down_answers_within_the_timeout_and_local_users_still_sign_in(
    ldap_on: Any, directory: LdapServer, make_user: Callable[..., Any], start_tls: bool, how: str
) -> None:
    timeout = 3.0
    ldap_on(start_tls=start_tls, timeout=timeout)
    if how == "stopped":
        directory.stop()
    else:
        directory.freeze()  # the ports still accept connections; nothing answers

    started = time.monotonic()
    client, response = log_in("alice", PASSWORDS["alice"])
    took = time.monotonic() - started

    assert took < timeout + 2, f"the login took {took:.1f} s"
    assert "_auth_user_id" not in client.session
    assert UNAVAILABLE_MESSAGE in response.content.decode()
    assert ldap_audit("alice")[-1][0] == "error"
    local = make_user(password="pw-Local-Still-1")
    started = time.monotonic()
    client, response = log_in(local.username, "pw-Local-Still-1")
    assert response.status_code == 302 and client.session["_auth_user_id"] == str(local.pk)
    # A local password is checked first and never waits for the directory (the margin is the
    # password hash on a busy machine).
    assert time.monotonic() - started < timeout


def test_a_local_account_is_never_signed_in_by_the_directory(ldap_on: Any, django_user_model: Any) -> None:
    # A local `bob` exists with a password of its own: the directory's bob must not become him.
    local_bob = django_user_model.objects.create_user(username="bob", password="pw-Local-Bob-1")
    client, response = log_in("bob", PASSWORDS["bob"])

    assert "_auth_user_id" not in client.session
    assert ldap_audit("bob") == []
    assert not DirectoryGroups.objects.filter(user=local_bob).exists()
    client, response = log_in("bob", "pw-Local-Bob-1")
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(local_bob.pk)
    # An account without a password that the directory did not create (a token-only service
    # account, an OIDC user) is not the directory's either.
    carol = django_user_model.objects.create_user(username="carol")
    assert log_in("carol", PASSWORDS["carol"])[1].status_code == 200
    assert not DirectoryGroups.objects.filter(user=carol).exists()


def test_a_wrong_service_account_password_fails_the_directory_sign_in_and_says_why_in_the_audit(
    ldap_on: Any,
) -> None:
    ldap_on(LDAP_BIND_PASSWORD="not-the-bind-password")
    client, response = log_in("alice", PASSWORDS["alice"])

    assert "_auth_user_id" not in client.session
    assert UNAVAILABLE_MESSAGE in response.content.decode()
    result, error = ldap_audit("alice")[-1]
    assert result == "error" and "INVALID_CREDENTIALS" in error
    assert "not-the-bind-password" not in error


def test_posix_groups_are_read_with_ldap_group_type_posixgroup(ldap_on: Any) -> None:
    ldap_on(LDAP_GROUP_TYPE="posixGroup")
    assert log_in("dave", PASSWORDS["dave"])[1].status_code == 302
    dave = get_user_model().objects.get(username="dave")
    assert DirectoryGroups.objects.get(user=dave).groups == ["kafka-posix-readers"]


def test_nothing_changes_while_ldap_server_uri_is_empty(ldap_on: Any) -> None:
    ldap_on(LDAP_SERVER_URI="")
    client, response = log_in("alice", PASSWORDS["alice"])

    assert form_errors(response) != []
    assert "_auth_user_id" not in client.session
    assert not get_user_model().objects.filter(username="alice").exists()
    assert ldap_audit("alice") == []
