"""OpenID Connect sign-in on mozilla-django-oidc: discovery, the backend, session refresh.

Why mozilla-django-oidc: small and Django-native (an authentication backend and two views), it
keeps `state`, `nonce` and the PKCE verifier in the session and checks them at the callback, and
verifies RS256 ID tokens against the provider's JWKS. What it leaves to us, done here: endpoints
discovered from `<OIDC_ISSUER>/.well-known/openid-configuration` with a timeout (a provider that
is down answers a clear page, never a hang), `aud`/`iss`/`exp` checked with a bounded clock skew,
users named by a claim of our choosing, directory groups recorded at every sign-in, every outcome
audited, and the refresh token kept server-side to renew (or end) the session.

Session renewal (oidc_session.py) uses the refresh_token grant rather than the library's SessionRefresh
middleware: that one re-runs the browser redirect (prompt=none), which a websocket re-check or
an htmx request cannot follow; a refresh grant is one server-side call, and the provider's
refusal of it is a definite answer to end the session on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from backbone_admin import access, audit
from backbone_admin.models import AuditEntry, DirectoryGroups

log = logging.getLogger("backbone.oidc")

BACKEND = "backbone_admin.sso.oidc.OIDCBackend"
# Session keys (server-side only: the session store is in the database, the cookie holds its key).
SESSION_MARK = "oidc_signed_in"
REFRESH_TOKEN = "oidc_refresh_token"
ACCESS_EXPIRES = "oidc_access_expires"
ID_TOKEN = "oidc_id_token"
DISCOVERY_TTL = 300.0  # seconds a discovery document is reused
MAX_GROUPS = 1000


class SignInError(Exception):
    """A sign-in that cannot go on; the message is shown to the person and written to the audit."""


class Refused(SignInError):
    """The provider answered, and the answer is no (or its token does not hold): not an outage."""


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str = ""
    end_session_endpoint: str = ""


_discovered: dict[str, tuple[float, Provider]] = {}
_lock = threading.Lock()


def enabled() -> bool:
    return bool(getattr(settings, "OIDC_ISSUER", ""))


def local_login_enabled() -> bool:
    """Whether the username/password form is offered (local accounts, or LDAP which uses the form)."""
    if settings.BACKBONE_LOCAL_LOGIN:
        return True
    return any("ldap" in backend.lower() for backend in settings.AUTHENTICATION_BACKENDS)


def forget_discovery() -> None:
    with _lock:
        _discovered.clear()


def discover() -> Provider:
    """The provider's endpoints, from its discovery document (cached); SignInError when it does not answer."""
    issuer = settings.OIDC_ISSUER.rstrip("/")
    with _lock:
        cached = _discovered.get(issuer)
    if cached and time.monotonic() - cached[0] < DISCOVERY_TTL:
        return cached[1]
    url = f"{issuer}/.well-known/openid-configuration"
    timeout = settings.OIDC_TIMEOUT
    try:
        response = requests.get(url, timeout=timeout)
        response.raise_for_status()
        doc = response.json()
    except requests.Timeout as exc:
        raise SignInError(f"The identity provider at {issuer} did not answer within {timeout:g} s.") from exc
    except requests.ConnectionError as exc:
        raise SignInError(f"The identity provider at {issuer} cannot be reached.") from exc
    except (requests.RequestException, ValueError) as exc:
        raise SignInError(f"The identity provider at {issuer} gave no usable discovery document ({exc}).") from exc
    if not isinstance(doc, dict) or str(doc.get("issuer", "")).rstrip("/") != issuer:
        raise SignInError(f"The discovery document at {url} names another issuer: {doc.get('issuer')!r}.")
    try:
        provider = Provider(
            issuer=str(doc["issuer"]),  # exactly as the provider writes it (some end in "/"): `iss` must match it
            authorization_endpoint=str(doc["authorization_endpoint"]),
            token_endpoint=str(doc["token_endpoint"]),
            jwks_uri=str(doc["jwks_uri"]),
            userinfo_endpoint=str(doc.get("userinfo_endpoint") or ""),
            end_session_endpoint=str(doc.get("end_session_endpoint") or ""),
        )
    except KeyError as exc:
        raise SignInError(f"The discovery document at {url} has no {exc.args[0]}.") from exc
    with _lock:
        _discovered[issuer] = (time.monotonic(), provider)
    return provider


def library_setting(name: str, *default: Any) -> Any:
    """What mozilla-django-oidc asks for, from our OIDC_* settings and the discovered endpoints."""
    ours: dict[str, Callable[[], Any]] = {
        "OIDC_RP_CLIENT_ID": lambda: settings.OIDC_CLIENT_ID,
        "OIDC_RP_CLIENT_SECRET": lambda: settings.OIDC_CLIENT_SECRET,
        "OIDC_RP_SCOPES": lambda: settings.OIDC_SCOPES,
        "OIDC_RP_SIGN_ALGO": lambda: "RS256",
        "OIDC_USE_PKCE": lambda: True,
        "OIDC_USE_NONCE": lambda: True,
        "OIDC_TIMEOUT": lambda: settings.OIDC_TIMEOUT,
        "OIDC_VERIFY_KID": lambda: True,
        "OIDC_AUTHENTICATION_CALLBACK_URL": lambda: "oidc-callback",
        "OIDC_OP_AUTHORIZATION_ENDPOINT": lambda: discover().authorization_endpoint,
        "OIDC_OP_TOKEN_ENDPOINT": lambda: discover().token_endpoint,
        "OIDC_OP_JWKS_ENDPOINT": lambda: discover().jwks_uri,
        "OIDC_OP_USER_ENDPOINT": lambda: discover().userinfo_endpoint,
        "LOGIN_REDIRECT_URL": lambda: settings.LOGIN_REDIRECT_URL,
    }
    if name in ours:
        return ours[name]()
    if hasattr(settings, name):
        return getattr(settings, name)
    if default:
        return default[0]
    raise SuspiciousOperation(f"OIDC setting {name} is not set")


def _token_error(response: requests.Response) -> str:
    try:
        body = response.json()
        return f"{body.get('error', response.status_code)}: {body.get('error_description', '')}".strip(": ")
    except ValueError:
        return f"HTTP {response.status_code}"


class OIDCBackend(OIDCAuthenticationBackend):
    """Signs in the person the provider vouches for; only ever called from the OIDC callback."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # No settings read and no network here: Django builds every backend for every
        # authenticate() call, local password logins included.
        self.UserModel = get_user_model()

    @staticmethod
    def get_settings(attr: str, *args: Any) -> Any:
        return library_setting(attr, *args)

    def authenticate(self, request: HttpRequest | None, **kwargs: Any) -> Any:
        if request is None or "nonce" not in kwargs or not enabled():
            return None  # a password login, or OIDC is off
        self.request = request
        username = ""
        try:
            provider = discover()
            self.OIDC_OP_TOKEN_ENDPOINT = provider.token_endpoint
            self.OIDC_OP_JWKS_ENDPOINT = provider.jwks_uri
            self.OIDC_OP_USER_ENDPOINT = provider.userinfo_endpoint
            self.OIDC_RP_CLIENT_ID = settings.OIDC_CLIENT_ID
            self.OIDC_RP_CLIENT_SECRET = settings.OIDC_CLIENT_SECRET
            self.OIDC_RP_SIGN_ALGO = "RS256"
            self.OIDC_RP_IDP_SIGN_KEY = None
            tokens = self._exchange_code(request, kwargs["nonce"], kwargs.get("code_verifier"))
            claims = self.verify_token(tokens["id_token"], nonce=kwargs["nonce"])
            info = self._userinfo(tokens.get("access_token", ""))
            if info.get("sub") == claims.get("sub"):  # userinfo about someone else is ignored (OIDC Core 5.3.2)
                claims = {**info, **claims}
            username = self._username(claims)
            groups = groups_from(claims)
            user = self._user(username, claims)
        except SignInError as exc:
            request.oidc_error = str(exc)  # type: ignore[attr-defined]
            audit.record(
                user=None,
                action="login.oidc",
                target=username,
                result=AuditEntry.Result.DENIED,
                error=str(exc),
                request=request,
            )
            return None
        access.set_directory_groups(user, groups, "oidc")
        keep_tokens(request.session, tokens)
        audit.record(user=user, action="login.oidc", target=username, after={"groups": groups}, request=request)
        return user

    def _exchange_code(self, request: HttpRequest, nonce: str, verifier: str | None) -> dict[str, Any]:
        from django.urls import reverse
        from mozilla_django_oidc.utils import absolutify

        code = request.GET.get("code", "")
        payload = {
            "client_id": settings.OIDC_CLIENT_ID,
            "client_secret": settings.OIDC_CLIENT_SECRET,
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": absolutify(request, reverse("oidc-callback")),
        }
        if verifier:
            payload["code_verifier"] = verifier
        tokens = token_request(payload)
        if not tokens.get("id_token"):
            raise SignInError("The identity provider sent no ID token (is `openid` in OIDC_SCOPES?).")
        return tokens

    def verify_token(self, token: str, **kwargs: Any) -> dict[str, Any]:
        """The ID token's claims once its signature (provider's JWKS), issuer, audience, expiry and nonce hold."""
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != "RS256":
                raise Refused(f"The ID token is signed with {header.get('alg')!r}; only RS256 is accepted.")
            try:
                key = self.retrieve_matching_jwk(token)
            except (SuspiciousOperation, KeyError) as exc:
                raise Refused("The ID token is signed by a key the provider does not publish.") from exc
            except (ValueError, TypeError) as exc:  # not a JSON key set
                raise SignInError("The identity provider's keys (JWKS) cannot be read.") from exc
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=settings.OIDC_CLIENT_ID,
                issuer=discover().issuer,
                leeway=settings.OIDC_CLOCK_SKEW,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Refused(
                "The ID token has expired (check that the clocks of the console and the provider agree)."
            ) from exc
        except jwt.InvalidSignatureError as exc:
            raise Refused("The ID token's signature does not match the provider's published keys.") from exc
        except jwt.InvalidTokenError as exc:
            raise Refused(f"The ID token is not valid: {exc}.") from exc
        except requests.RequestException as exc:
            raise SignInError("The identity provider's keys (JWKS) cannot be read.") from exc
        nonce = kwargs.get("nonce")
        if nonce is not None and claims.get("nonce") != nonce:
            raise Refused("The ID token does not answer this sign-in (nonce mismatch).")
        return claims

    def _userinfo(self, access_token: str) -> dict[str, Any]:
        if not self.OIDC_OP_USER_ENDPOINT or not access_token:
            return {}
        try:
            info = self.get_userinfo(access_token, None, None)
        except (requests.RequestException, ValueError):
            log.warning("the OIDC userinfo endpoint did not answer; using the ID token's claims", exc_info=True)
            return {}
        return info if isinstance(info, dict) else {}

    def _username(self, claims: dict[str, Any]) -> str:
        name = claims.get(settings.OIDC_USERNAME_CLAIM) or claims.get("sub") or ""
        name = str(name).strip()
        if not name or len(name) > 150:
            raise SignInError(f"The provider's `{settings.OIDC_USERNAME_CLAIM}` claim gives no usable user name.")
        return name

    def _user(self, username: str, claims: dict[str, Any]) -> Any:
        user = self.UserModel.objects.filter(username=username).first()
        if user is None:
            user = self.UserModel(username=username)
            user.set_unusable_password()  # signs in through the provider only
        elif user.has_usable_password():
            # A name the identity provider hands out must not take over a local account.
            raise SignInError(f"`{username}` is a local account of the console; it cannot sign in through OIDC.")
        elif DirectoryGroups.objects.filter(user=user).exclude(source="oidc").exists():
            raise SignInError(f"`{username}` signs in through the directory (LDAP); it cannot sign in through OIDC.")
        elif not user.is_active:
            raise SignInError(f"The console account `{username}` is deactivated.")
        user.email = str(claims.get("email") or "")[:254]
        user.first_name = str(claims.get("given_name") or "")[:150]
        user.last_name = str(claims.get("family_name") or "")[:150]
        user.save()
        return user

    def get_user(self, user_id: Any) -> Any:
        return ModelBackend().get_user(user_id)  # is_active checked as for every other backend


def groups_from(claims: dict[str, Any]) -> list[str]:
    raw = claims.get(settings.OIDC_GROUPS_CLAIM) or []
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        raise SignInError(f"The `{settings.OIDC_GROUPS_CLAIM}` claim is not a list of group names.")
    return sorted({str(g)[:255] for g in raw[:MAX_GROUPS] if str(g).strip()})


def token_request(payload: dict[str, str]) -> dict[str, Any]:
    provider = discover()
    try:
        response = requests.post(provider.token_endpoint, data=payload, timeout=settings.OIDC_TIMEOUT)
    except requests.Timeout as exc:
        raise SignInError(
            f"The identity provider's token endpoint did not answer within {settings.OIDC_TIMEOUT:g} s."
        ) from exc
    except requests.RequestException as exc:
        raise SignInError("The identity provider's token endpoint cannot be reached.") from exc
    if response.status_code in (400, 401) and _token_error(response).startswith("invalid_client"):
        raise Refused(
            "The identity provider refused the console's client credentials "
            "(check OIDC_CLIENT_ID and OIDC_CLIENT_SECRET)."
        )
    if response.status_code != 200:
        raise Refused(f"The identity provider refused the sign-in ({_token_error(response)}).")
    try:
        tokens = response.json()
    except ValueError as exc:
        raise SignInError("The identity provider's token endpoint answered something other than JSON.") from exc
    if not isinstance(tokens, dict):
        raise SignInError("The identity provider's token endpoint answered something other than a JSON object.")
    return tokens


def keep_tokens(session: Any, tokens: dict[str, Any]) -> None:
    """Keep what renewing and ending the session needs, in the server-side session only."""
    session[SESSION_MARK] = True
    lifetime = tokens.get("expires_in")
    session[ACCESS_EXPIRES] = time.time() + (float(lifetime) if isinstance(lifetime, (int, float)) else 300.0)
    if tokens.get("refresh_token"):
        session[REFRESH_TOKEN] = str(tokens["refresh_token"])
    if tokens.get("id_token"):
        session[ID_TOKEN] = str(tokens["id_token"])
