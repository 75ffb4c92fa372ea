"""OIDC sign-in against a real provider (django-oauth-toolkit in its own process, tests/sso/conftest.py).

The console runs in this process (Django test client); the provider's login page and consent form
are filled in over HTTP as a browser would, and the console exchanges the code with the provider
for real: PKCE, the client secret, the ID token's signature against the provider's JWKS, its
expiry, and the refresh grant are all checked by the two real parties.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.auth import get_user_model
from django.test import Client

from backbone_admin import broadcast
from backbone_admin.models import AuditEntry, DirectoryGroups, Grant
from backbone_admin.sso import oidc
from tests.sso.conftest import TEST_CALLBACK, OIDCProvider, unique

pytestmark = pytest.mark.django_db


def start_sign_in(client: Client) -> str:
    """Ask the console to sign in with SSO: the provider's authorize URL it redirects to."""
    response = client.get("/oidc/authenticate/")
    assert response.status_code == 302, response.content[:500]
    return str(response["Location"])


def sign_in(client: Client, provider: OIDCProvider, username: str) -> Any:
    callback = provider.consent(start_sign_in(client), username)
    parts = urlsplit(callback)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == TEST_CALLBACK
    return client.get(f"{parts.path}?{parts.query}")


def last_audit(action: str = "login.oidc") -> AuditEntry:
    entry = AuditEntry.objects.filter(action=action).order_by("-id").first()
    assert entry is not None
    return entry


def test_a_good_sign_in_creates_the_user_records_groups_and_lands_on_the_console(
    oidc_settings: Any, oidc_provider: OIDCProvider
) -> None:
    name = unique("alice")
    oidc_provider.add_user(name, ["kafka-orders", "staff"])
    Grant.objects.create(subject_type=Grant.Subject.GROUP, subject="kafka-*", role="viewer")
    client = Client()
    authorize = start_sign_in(client)
    query = parse_qs(urlsplit(authorize).query)
    # Authorization code flow with state, nonce and an S256 PKCE challenge.
    assert authorize.startswith(oidc_provider.issuer + "/authorize/")
    assert query["response_type"] == ["code"] and query["code_challenge_method"] == ["S256"]
    assert query["state"][0] and query["nonce"][0] and len(query["code_challenge"][0]) >= 43
    callback = urlsplit(oidc_provider.consent(authorize, name))
    response = client.get(f"{callback.path}?{callback.query}")

    assert response.status_code == 302 and response["Location"] == "/"
    user = get_user_model().objects.get(username=name)
    assert not user.has_usable_password() and user.email == f"{name}@example.test"
    assert DirectoryGroups.objects.get(user=user).groups == ["kafka-orders", "staff"]
    assert DirectoryGroups.objects.get(user=user).source == "oidc"
    entry = last_audit()
    assert entry.username == name and entry.result == "ok" and entry.after == {"groups": ["kafka-orders", "staff"]}
    landing = client.get("/", follow=True)
    assert landing.status_code == 200 and landing.wsgi_request.user == user
    # The refresh token stays in the server-side session: never in a cookie or a page.
    refresh = client.session[oidc.REFRESH_TOKEN]
    assert refresh and refresh not in landing.content.decode()
    assert all(refresh not in cookie.value for cookie in client.cookies.values())

    # Groups are read again at the next sign-in: leaving a group at the provider takes effect.
    oidc_provider.add_user(name, ["staff"], password=oidc_provider.users[name])
    assert sign_in(Client(), oidc_provider, name).status_code == 302
    assert DirectoryGroups.objects.get(user=user).groups == ["staff"]


def test_a_sign_in_started_from_a_page_returns_to_it(oidc_settings: Any, oidc_provider: OIDCProvider) -> None:
    name = unique("next")
    oidc_provider.add_user(name, ["staff"])
    client = Client()
    login_page = client.get("/tokens/", follow=True)
    assert 'href="/oidc/authenticate/?next=/tokens/"' in login_page.content.decode()
    start = client.get("/oidc/authenticate/?next=/tokens/")
    callback = urlsplit(oidc_provider.consent(start["Location"], name))
    response = client.get(f"{callback.path}?{callback.query}")
    assert response.status_code == 302 and response["Location"] == "/tokens/"
    # Another site is no place to return to.
    start = client.get("/oidc/authenticate/?next=https://evil.example/")
    callback = urlsplit(oidc_provider.consent(start["Location"], name))
    assert client.get(f"{callback.path}?{callback.query}")["Location"] == "/"


def test_the_provider_refuses_a_code_without_the_right_pkce_verifier(
    oidc_settings: Any, oidc_provider: OIDCProvider
) -> None:
    name = unique("pkce")
    oidc_provider.add_user(name, ["staff"])
    client = Client()
    callback = urlsplit(oidc_provider.consent(start_sign_in(client), name))
    session = client.session
    state = parse_qs(callback.query)["state"][0]
    session["oidc_states"][state]["code_verifier"] = "x" * 64  # not the verifier of the challenge sent
    session.save()
    response = client.get(f"{callback.path}?{callback.query}")
    assert response.status_code == 403
    assert "refused the sign-in (invalid_grant" in response.content.decode()
    assert not get_user_model().objects.filter(username=name).exists()
    assert "_auth_user_id" not in client.session


def test_a_callback_replayed_or_not_started_here_is_refused(oidc_settings: Any, oidc_provider: OIDCProvider) -> None:
    name = unique("replay")
    oidc_provider.add_user(name, [])
    client = Client()
    callback = urlsplit(oidc_provider.consent(start_sign_in(client), name))
    assert client.get(f"{callback.path}?{callback.query}").status_code == 302
    client.logout()
    again = client.get(f"{callback.path}?{callback.query}")
    assert again.status_code == 400 and "already been used" in again.content.decode()
    stranger = Client().get(f"{callback.path}?{callback.query}")
    assert stranger.status_code == 400 and "_auth_user_id" not in stranger.wsgi_request.session


def test_a_wrong_client_secret_gives_a_clear_page_and_no_sign_in(
    oidc_settings: Any, oidc_provider: OIDCProvider
) -> None:
    oidc_settings(OIDC_CLIENT_SECRET="not-the-secret")
    name = unique("secret")
    oidc_provider.add_user(name, ["staff"])
    client = Client()
    response = sign_in(client, oidc_provider, name)
    assert response.status_code == 403
    assert "refused the console&#x27;s client credentials" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert not get_user_model().objects.filter(username=name).exists()
    entry = last_audit()
    assert entry.result == "denied" and "client credentials" in entry.error


def test_an_id_token_signed_by_a_key_not_in_the_jwks_is_refused(
    oidc_settings: Any, start_provider: Callable[..., OIDCProvider]
) -> None:
    # A real provider whose JWKS publishes another key under its signing key's id: every ID
    # token it issues is a forgery as far as its published keys go.
    forger = start_provider([TEST_CALLBACK], forged=True)
    oidc_settings(forger)
    name = unique("forged")
    forger.add_user(name, ["kafka-admins"])
    client = Client()
    response = sign_in(client, forger, name)
    assert response.status_code == 403
    assert "signature does not match the provider&#x27;s published keys" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert not get_user_model().objects.filter(username=name).exists()
    assert last_audit().result == "denied"


def test_an_expired_id_token_is_refused(oidc_settings: Any, start_provider: Callable[..., OIDCProvider]) -> None:
    # The provider's ID tokens expire 5 minutes before they are issued (its clock is behind);
    # the console allows OIDC_CLOCK_SKEW = 60 s.
    stale = start_provider([TEST_CALLBACK], id_token_seconds=-300)
    oidc_settings(stale, OIDC_CLOCK_SKEW=60)
    name = unique("expired")
    stale.add_user(name, ["staff"])
    client = Client()
    response = sign_in(client, stale, name)
    assert response.status_code == 403 and "The ID token has expired" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_user_in_no_mapped_group_is_signed_in_and_told_why(oidc_settings: Any, oidc_provider: OIDCProvider) -> None:
    name = unique("nobody")
    oidc_provider.add_user(name, ["marketing"])
    client = Client()
    assert sign_in(client, oidc_provider, name).status_code == 302
    assert client.session["_auth_user_id"]
    # The landing page (backbone_admin.views.home) says why there is nothing to see.
    page = client.get("/", follow=True)
    assert page.status_code == 200 and page.wsgi_request.user.get_username() == name
    text = page.content.decode()
    assert 'id="no-access"' in text and "no grant gives you access to any cluster" in text
    assert '<span class="mono dirgroup">marketing</span>' in text


class BlackHole:
    """A port that accepts connections and never answers: a provider that hangs."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(50)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.held.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def hanging_provider() -> Iterator[str]:
    hole = BlackHole()
    yield f"http://127.0.0.1:{hole.port}"
    hole.close()


@pytest.mark.parametrize("how", ["refused", "hangs"])
def test_a_provider_that_is_down_gives_a_clear_page_within_the_timeout_and_local_login_works(
    oidc_settings: Any, make_user: Any, hanging_provider: str, how: str
) -> None:
    from backbone_admin.embedded import free_port

    issuer = hanging_provider if how == "hangs" else f"http://127.0.0.1:{free_port()}"
    settings = oidc_settings(OIDC_TIMEOUT=1.0)
    settings.OIDC_ISSUER = issuer
    oidc.forget_discovery()
    client = Client()
    started = time.monotonic()
    response = client.get("/oidc/authenticate/")
    took = time.monotonic() - started
    assert response.status_code == 503 and took < 2.0
    text = response.content.decode()
    expected = "did not answer within 1 s" if how == "hangs" else "cannot be reached"
    assert f"The identity provider at {issuer} {expected}" in text
    assert 'href="/login/"' in text  # the way to the password form
    # The login page still offers both, and a local account logs in while the provider is down.
    login_page = client.get("/login/").content.decode()
    assert 'id="oidc-login"' in login_page and 'id="id_password"' in login_page
    user = make_user("viewer", password="pw-Local-Login-1")
    started = time.monotonic()
    answer = client.post("/login/", {"username": user.username, "password": "pw-Local-Login-1"})
    assert answer.status_code == 302 and time.monotonic() - started < 2.0
    assert client.session["_auth_user_id"] == str(user.pk)


def test_logout_ends_the_session_here_and_at_the_provider(oidc_settings: Any, oidc_provider: OIDCProvider) -> None:
    name = unique("bye")
    oidc_provider.add_user(name, ["staff"])
    client = Client()
    assert sign_in(client, oidc_provider, name).status_code == 302
    id_token = client.session[oidc.ID_TOKEN]
    response = client.post("/logout/")
    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == oidc_provider.issuer + "/logout/"
    query = parse_qs(target.query)
    assert query["id_token_hint"] == [id_token]
    assert query["post_logout_redirect_uri"] == ["http://testserver/login/"]
    assert "_auth_user_id" not in client.session
    assert client.get("/").status_code == 302  # back to the login page
    # The provider accepts the logout request and sends the browser back to the console.
    answer = requests.get(response["Location"], allow_redirects=False, timeout=10)
    assert answer.status_code == 302 and answer.headers["Location"].startswith("http://testserver/login/")


def test_an_expired_access_token_is_renewed_and_a_refused_renewal_ends_the_session(
    oidc_settings: Any, start_provider: Callable[..., OIDCProvider]
) -> None:
    quick = start_provider([TEST_CALLBACK], access_token_seconds=1)
    oidc_settings(quick)
    name = unique("renew")
    quick.add_user(name, ["kafka-orders"])
    Grant.objects.create(subject_type=Grant.Subject.GROUP, subject="kafka-orders", role="viewer")
    client = Client()
    assert sign_in(client, quick, name).status_code == 302
    first = client.session[oidc.REFRESH_TOKEN]
    time.sleep(1.5)
    # Expired: renewed with the refresh grant on this request; the groups come again with it.
    quick.add_user(name, ["kafka-orders", "oncall"], password=quick.users[name])
    assert client.get("/tokens/").status_code == 200
    assert client.session[oidc.REFRESH_TOKEN] != first  # rotated by the provider
    user = get_user_model().objects.get(username=name)
    assert DirectoryGroups.objects.get(user=user).groups == ["kafka-orders", "oncall"]

    # An open socket's re-check renews the same way, and ends once the provider refuses.
    scope = {"session": SimpleNamespace(session_key=client.session.session_key)}
    time.sleep(1.5)
    assert broadcast.current_user(scope) == user
    quick.revoke(name)
    time.sleep(1.5)
    assert broadcast.current_user(scope) is None
    entry = last_audit()
    assert entry.result == "denied" and entry.error.startswith("session ended: The identity provider refused")
    # The session is gone: the next page is the login page.
    response = client.get("/tokens/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_a_refused_renewal_on_a_page_request_logs_out(
    oidc_settings: Any, start_provider: Callable[..., OIDCProvider]
) -> None:
    quick = start_provider([TEST_CALLBACK], access_token_seconds=1)
    oidc_settings(quick)
    name = unique("ended")
    quick.add_user(name, ["staff"])
    client = Client()
    assert sign_in(client, quick, name).status_code == 302
    quick.revoke(name)
    time.sleep(1.5)
    response = client.get("/tokens/", follow=True)
    assert response.wsgi_request.path == "/login/"
    assert "Your single sign-on session has ended" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_local_account_cannot_be_taken_over_through_the_provider(
    oidc_settings: Any, oidc_provider: OIDCProvider, make_user: Any
) -> None:
    local = make_user("admin")
    oidc_provider.add_user(local.username, ["staff"])
    client = Client()
    response = sign_in(client, oidc_provider, local.username)
    assert response.status_code == 403 and "is a local account of the console" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_without_local_login_the_form_is_gone_and_a_password_post_is_refused(
    oidc_settings: Any, make_user: Any
) -> None:
    settings = oidc_settings(BACKBONE_LOCAL_LOGIN=False)
    settings.AUTHENTICATION_BACKENDS = [oidc.BACKEND]
    user = make_user("admin", password="pw-Local-Login-1")
    client = Client()
    page = client.get("/login/").content.decode()
    assert 'id="oidc-login"' in page and "Sign in with single sign-on" in page
    assert 'id="id_password"' not in page
    response = client.post("/login/", {"username": user.username, "password": "pw-Local-Login-1"})
    assert response.status_code == 403 and "turned off" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_without_oidc_issuer_nothing_changes(settings: Any) -> None:
    settings.OIDC_ISSUER = ""
    client = Client()
    page = client.get("/login/").content.decode()
    assert 'id="oidc-login"' not in page and 'id="id_password"' in page
    assert client.get("/oidc/authenticate/").status_code == 404
