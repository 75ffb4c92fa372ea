"""Identity providers started by the tests on 127.0.0.1 (the LDAP fixtures live in ldap_server.py).

OIDC: a real django-oauth-toolkit provider (tests/sso/provider/) in its own process, with its own
SQLite database and RSA key. It requires PKCE, checks the client secret, puts the user's groups in
the ID token, shows a login page and a consent form, and its token lifetimes are set per instance.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from backbone_admin.embedded import free_port, wait_for_port
from tests.plugin import OUTPUT

BASE_DIR = Path(__file__).resolve().parent.parent.parent
CLIENT_ID = "backbone-console"


def rsa_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass
class OIDCProvider:
    """One running provider: `issuer` is its base URL; the console is its client CLIENT_ID / `secret`."""

    issuer: str
    secret: str
    proc: subprocess.Popen[bytes]
    users: dict[str, str] = field(default_factory=dict)

    def add_user(self, username: str, groups: list[str], *, password: str | None = None) -> str:
        password = password or f"pw-{secrets.token_hex(8)}"
        body = {"username": username, "password": password, "email": f"{username}@example.test", "groups": groups}
        requests.post(f"{self.issuer}/control/users/", data=json.dumps(body), timeout=10).raise_for_status()
        self.users[username] = password
        return password

    def revoke(self, username: str) -> None:
        requests.post(f"{self.issuer}/control/users/{username}/revoke/", timeout=10).raise_for_status()

    def consent(self, authorize_url: str, username: str, *, browser: requests.Session | None = None) -> str:
        """Sign in at the provider and allow the console, as a person would: the callback URL it sends back to."""
        browser = browser or requests.Session()
        page = browser.get(authorize_url, timeout=10)  # → the provider's login page
        if "provider-login" in page.text:
            csrf = browser.cookies["provider_csrftoken"]
            page = browser.post(
                page.url,
                data={
                    "csrfmiddlewaretoken": csrf,
                    "username": username,
                    "password": self.users[username],
                    "next": _hidden(page.text, "next"),
                },
                timeout=10,
            )
        assert "authorizationForm" in page.text, page.text[:2000]  # the consent form
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
        fields = {name: unescape(value) for name, value in fields.items()}
        fields["csrfmiddlewaretoken"] = browser.cookies["provider_csrftoken"]
        fields["allow"] = "Authorize"
        answer = browser.post(page.url, data=fields, allow_redirects=False, timeout=10)
        assert answer.status_code == 302, answer.text[:2000]
        return urljoin(page.url, answer.headers["Location"])


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    return unescape(match.group(1)) if match else ""


@pytest.fixture(scope="session")
def provider_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("oidc-keys")
    keys = {}
    for name in ("signing", "other"):
        keys[name] = folder / f"{name}.pem"
        keys[name].write_bytes(rsa_pem())
    return keys


@pytest.fixture(scope="session")
def start_provider(
    tmp_path_factory: pytest.TempPathFactory, provider_keys: dict[str, Path]
) -> Iterator[Callable[..., OIDCProvider]]:
    """Start a provider: start_provider(redirect_uris, forged=..., id_token_seconds=..., access_token_seconds=...)."""
    started: list[OIDCProvider] = []

    def start(
        redirect_uris: list[str],
        *,
        forged: bool = False,
        id_token_seconds: int = 3600,
        access_token_seconds: int = 3600,
        post_logout_uris: list[str] = (),  # type: ignore[assignment]
        port: int | None = None,
        secret: str | None = None,
    ) -> OIDCProvider:
        port = port or free_port()
        issuer = f"http://127.0.0.1:{port}"
        secret = secret or secrets.token_urlsafe(24)
        env = {
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(BASE_DIR),
            "PROVIDER_ISSUER": issuer,
            "PROVIDER_DB": str(tmp_path_factory.mktemp("provider") / "provider.sqlite3"),
            "PROVIDER_KEY_FILE": str(provider_keys["signing"]),
            "PROVIDER_ID_TOKEN_SECONDS": str(id_token_seconds),
            "PROVIDER_ACCESS_TOKEN_SECONDS": str(access_token_seconds),
            "PROVIDER_CLIENT_ID": CLIENT_ID,
            "PROVIDER_CLIENT_SECRET": secret,
            "PROVIDER_REDIRECT_URIS": " ".join(redirect_uris),
            "PROVIDER_POST_LOGOUT_URIS": " ".join(post_logout_uris),
        }
        if forged:
            env["PROVIDER_PUBLISHED_KEY_FILE"] = str(provider_keys["other"])
        OUTPUT.mkdir(exist_ok=True)
        log = (OUTPUT / f"oidc-provider-{port}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.sso.provider.serve", str(port)],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_for_port(port, proc=proc, timeout=60)
        provider = OIDCProvider(issuer, secret, proc)
        started.append(provider)
        return provider

    yield start
    for provider in started:
        provider.proc.terminate()
        provider.proc.wait(10)


TEST_CALLBACK = "http://testserver/oidc/callback/"


@pytest.fixture(scope="session")
def oidc_provider(start_provider: Callable[..., OIDCProvider]) -> OIDCProvider:
    """The provider the Django test client signs in through (its redirect URI is on `testserver`)."""
    return start_provider([TEST_CALLBACK], post_logout_uris=["http://testserver/login/"])


@pytest.fixture
def oidc_settings(settings: Any, oidc_provider: OIDCProvider) -> Callable[..., Any]:
    """Turn OIDC on in this process for one test, against `oidc_provider` unless told otherwise."""
    from backbone_admin.sso import oidc

    def use(provider: OIDCProvider | None = None, **extra: Any) -> Any:
        provider = provider or oidc_provider
        settings.OIDC_ISSUER = provider.issuer
        settings.OIDC_CLIENT_ID = CLIENT_ID
        settings.OIDC_CLIENT_SECRET = provider.secret
        if oidc.BACKEND not in settings.AUTHENTICATION_BACKENDS:
            settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, oidc.BACKEND]
        for name, value in extra.items():
            setattr(settings, name, value)
        oidc.forget_discovery()
        return settings

    use()
    yield use
    oidc.forget_discovery()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
