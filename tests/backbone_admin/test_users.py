"""Users and roles from the command line: `backbone_user` (password validators, grant removal,
demotion that takes effect) and `ensure_admin` (never resets an existing password)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from backbone_admin.models import AuditEntry, ClusterGrant

pytestmark = pytest.mark.django_db


def _command(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def _api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(get_user_model().objects.get(pk=user.pk))  # a fresh copy, as a new request has
    return client


# --- backbone_user ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "reason"),
    [("short-1", "too short"), ("password123", "too common"), ("8437195026", "entirely numeric")],
)
def test_backbone_user_refuses_a_weak_password(password: str, reason: str) -> None:
    with pytest.raises(CommandError, match=f"--password refused: .*{reason}"):
        call_command("backbone_user", "weakling", "--role", "viewer", "--password", password)
    assert not get_user_model().objects.filter(username="weakling").exists()


def test_backbone_user_refuses_a_password_like_the_username() -> None:
    with pytest.raises(CommandError, match="too similar to the username"):
        call_command("backbone_user", "margaret-hamilton", "--role", "viewer", "--password", "margaret-hamilton1")


def test_a_new_user_without_a_password_gets_a_random_one_printed_once() -> None:
    out = _command("backbone_user", "newcomer", "--role", "reader")
    password = out.split("Password: ")[1].strip()
    assert get_user_model().objects.get(username="newcomer").check_password(password)


def test_removing_a_cluster_grant_takes_the_cluster_away(make_user: Any) -> None:
    user = make_user(None)
    _command("backbone_user", user.username, "--role", "operator", "--cluster", "local")
    assert [c["name"] for c in _api(user).get("/api/clusters/").json()] == ["local"]

    out = _command("backbone_user", user.username, "--remove-cluster-grant", "local")
    assert "no role on every cluster" in out
    assert not ClusterGrant.objects.filter(user=user).exists()
    assert _api(user).get("/api/clusters/").json() == []
    assert _api(user).get("/api/clusters/local/").status_code == 404
    entry = AuditEntry.objects.filter(action="user.update", target=user.username).first()
    assert entry is not None
    assert entry.before["grants"] == {"local": "operator"} and entry.after["grants"] == {}


def test_removing_a_grant_the_user_does_not_have_fails_clearly(make_user: Any) -> None:
    user = make_user("viewer")
    with pytest.raises(CommandError, match=f"`{user.username}` has no grant on cluster `local`"):
        call_command("backbone_user", user.username, "--remove-cluster-grant", "local")


def test_demoting_a_superuser_to_viewer_takes_effect(django_user_model: Any) -> None:
    boss = django_user_model.objects.create_superuser(username="former-boss", password="pw-Backbone-1")
    _command("backbone_user", boss.username, "--role", "admin")
    assert _api(boss).get("/api/audit/").status_code == 200

    _command("backbone_user", boss.username, "--role", "viewer")
    boss.refresh_from_db()
    assert (boss.is_superuser, boss.is_staff) == (False, False)
    assert list(boss.groups.values_list("name", flat=True)) == ["viewer"]
    assert _api(boss).get("/api/audit/").status_code == 403
    refused = _api(boss).delete("/api/clusters/local/topics/some-topic/", {"confirm": "some-topic"}, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"] == "this needs the admin role on topic `some-topic`; you are viewer"
    assert _api(boss).get("/api/clusters/local/").status_code in (200, 503)  # a viewer still sees it
    entry = AuditEntry.objects.filter(action="user.update", target=boss.username).first()
    assert entry is not None
    assert entry.before["superuser"] is True and entry.after["superuser"] is False
    assert (entry.before["role"], entry.after["role"]) == ("admin", "viewer")


def test_role_none_takes_the_global_role_away_and_keeps_grants(make_user: Any) -> None:
    user = make_user("reader", cluster="local")
    _command("backbone_user", user.username, "--role", "operator")
    _command("backbone_user", user.username, "--role", "none")
    user.refresh_from_db()
    assert not user.groups.exists()
    assert ClusterGrant.objects.get(user=user).role == "reader"


def test_deactivating_a_user_refuses_their_session(make_user: Any, client_as: Any) -> None:
    from django.test import Client

    user = make_user("viewer")
    client = Client()
    client.force_login(user)
    assert client.get("/api/tokens/").status_code == 200
    _command("backbone_user", user.username, "--deactivate")
    assert client.get("/api/tokens/").status_code in (401, 403)
    assert AuditEntry.objects.filter(action="user.update", target=user.username).first().after["active"] is False


def test_backbone_user_with_nothing_to_do_says_so() -> None:
    with pytest.raises(CommandError, match="nothing to do"):
        call_command("backbone_user", "idle")


# --- ensure_admin ----------------------------------------------------------------------


@pytest.fixture
def admin_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "site-admin")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "first-Passphrase-1")
    return "site-admin"


def test_ensure_admin_creates_the_account_once_and_audits_it(admin_env: str) -> None:
    assert "Created admin account site-admin" in _command("ensure_admin")
    admin = get_user_model().objects.get(username=admin_env)
    assert admin.is_superuser and admin.check_password("first-Passphrase-1")
    entry = AuditEntry.objects.get(action="user.create", target=admin_env)
    assert entry.after["by"] == "ensure_admin"


def test_ensure_admin_never_resets_a_changed_password(admin_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _command("ensure_admin")
    admin = get_user_model().objects.get(username=admin_env)
    admin.set_password("rotated-Passphrase-2")
    admin.save()

    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "another-Passphrase-3")
    out = _command("ensure_admin")  # the next start of the container or of `make run`
    assert "only applies when the account is created" in out
    admin.refresh_from_db()
    assert admin.check_password("rotated-Passphrase-2")
    assert AuditEntry.objects.filter(action="user.create", target=admin_env).count() == 1


def test_ensure_admin_refuses_a_weak_password(admin_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "admin")
    with pytest.raises(CommandError, match=r"DJANGO_SUPERUSER_PASSWORD is too weak .*too short"):
        call_command("ensure_admin")
    assert not get_user_model().objects.filter(username=admin_env).exists()


def test_ensure_admin_without_a_password_prints_a_random_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "fresh-admin")
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    out = _command("ensure_admin")
    password = out.split("password: ")[1].split()[0]
    assert get_user_model().objects.get(username="fresh-admin").check_password(password)
