"""LDAP sign-in: django-auth-ldap configured from the LDAP_* settings, groups recorded at every sign-in.

The login form tries the local password first (ModelBackend), then this backend. It binds with
LDAP_BIND_DN to find the user under LDAP_USER_SEARCH_BASE with LDAP_USER_FILTER, binds as the user
with the typed password, reads the user's groups (their `cn`) under LDAP_GROUP_SEARCH_BASE and
records them with `access.set_directory_groups`: grants to those groups apply from this sign-in on,
and a group removed in the directory is gone at the next one.

Which accounts LDAP may sign in: a username with no account here (the account is created, without
a usable password), or an account LDAP created before (its directory groups come from "ldap") that
still has no usable password. Any other account of the same name (a local user with a password, an
OIDC user, a token-only service account) is never signed in by the directory, so a directory
entry named like a local admin cannot take that admin's place.

A directory that does not answer must not hang the login: LDAP_TIMEOUT bounds the connection and
every operation. libldap (2.5, GnuTLS) ignores that timeout during the TLS handshake of an ldaps://
connection, so each ldaps:// server is first reached from Python with the same timeout and the
same CA; a server that does not complete that handshake is not handed to libldap.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

import ldap
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.dispatch import receiver
from django.http import HttpRequest
from django_auth_ldap.backend import LDAPBackend, ldap_error
from django_auth_ldap.config import GroupOfNamesType, LDAPGroupType, LDAPSearch, LDAPSettings, PosixGroupType

from backbone_admin import audit
from backbone_admin.access import set_directory_groups
from backbone_admin.models import AuditEntry, DirectoryGroups

logger = logging.getLogger(__name__)
SOURCE = "ldap"
UNAVAILABLE_MESSAGE = (
    "The LDAP directory cannot be reached right now, so directory accounts cannot sign in. Local accounts still can."
)

# The LDAP errors django-auth-ldap met during one sign-in (it reports them by signal, then answers None).
_errors: ContextVar[list[ldap.LDAPError] | None] = ContextVar("backbone_ldap_errors", default=None)


class DirectoryUnavailable(Exception):
    """The directory did not answer, or not over a connection this console trusts."""


def _group_type() -> tuple[LDAPGroupType, str]:
    name = settings.LDAP_GROUP_TYPE.lower()
    if name == "posixgroup":
        return PosixGroupType(name_attr="cn"), "posixGroup"
    return GroupOfNamesType(name_attr="cn"), "groupOfNames"


def _connection_options() -> dict[int, Any]:
    timeout = float(settings.LDAP_TIMEOUT)
    options: dict[int, Any] = {
        ldap.OPT_REFERRALS: 0,
        ldap.OPT_NETWORK_TIMEOUT: timeout,
        ldap.OPT_TIMEOUT: timeout,
        ldap.OPT_X_TLS_REQUIRE_CERT: ldap.OPT_X_TLS_DEMAND,
    }
    if settings.LDAP_CA_FILE:
        options[ldap.OPT_X_TLS_CACERTFILE] = settings.LDAP_CA_FILE
    # Last: libldap builds the connection's TLS context from the options set before this one.
    options[ldap.OPT_X_TLS_NEWCTX] = 0
    return options


def ldap_settings(server_uri: str) -> dict[str, Any]:
    """django-auth-ldap's settings (without the AUTH_LDAP_ prefix) for these LDAP_* settings."""
    group_type, group_class = _group_type()
    config: dict[str, Any] = {
        "SERVER_URI": server_uri,
        "BIND_DN": settings.LDAP_BIND_DN,
        "BIND_PASSWORD": settings.LDAP_BIND_PASSWORD,
        "USER_SEARCH": LDAPSearch(settings.LDAP_USER_SEARCH_BASE, ldap.SCOPE_SUBTREE, settings.LDAP_USER_FILTER),
        "START_TLS": settings.LDAP_START_TLS,
        "CONNECTION_OPTIONS": _connection_options(),
        "USER_ATTR_MAP": {"first_name": "givenName", "last_name": "sn", "email": "mail"},
        "ALWAYS_UPDATE_USER": True,
        "GROUP_TYPE": group_type,
    }
    if settings.LDAP_GROUP_SEARCH_BASE:
        config["GROUP_SEARCH"] = LDAPSearch(
            settings.LDAP_GROUP_SEARCH_BASE, ldap.SCOPE_SUBTREE, f"(objectClass={group_class})"
        )
    return config


def _tls_handshake(uri: str, timeout: float) -> None:
    """Connect to an ldaps:// server and finish a verified TLS handshake within `timeout`."""
    parts = urlsplit(uri)
    host = parts.hostname or "localhost"
    context = ssl.create_default_context(cafile=settings.LDAP_CA_FILE or None)
    try:
        with (
            socket.create_connection((host, parts.port or 636), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host),
        ):
            return
    except ssl.SSLCertVerificationError as exc:
        raise DirectoryUnavailable(f"{uri}: certificate not trusted ({exc.verify_message})") from exc
    except (OSError, ssl.SSLError) as exc:  # refused, timed out, reset, TLS alert
        raise DirectoryUnavailable(f"{uri}: {exc or type(exc).__name__}") from exc


def reachable_uri(server_uri: str) -> str:
    """The configured URIs whose ldaps:// servers answered now (libldap tries the rest in order)."""
    answered, problems = [], []
    for uri in server_uri.split():
        if urlsplit(uri).scheme.lower() != "ldaps":
            answered.append(uri)
            continue
        try:
            _tls_handshake(uri, float(settings.LDAP_TIMEOUT))
        except DirectoryUnavailable as exc:
            problems.append(str(exc))
        else:
            answered.append(uri)
    if not answered:
        raise DirectoryUnavailable("; ".join(problems))
    return " ".join(answered)


@receiver(ldap_error)
def _remember_error(sender: Any, context: str, exception: ldap.LDAPError, **kwargs: Any) -> None:
    errors = _errors.get()
    if errors is not None:
        errors.append(exception)


@contextmanager
def _collect_errors() -> Iterator[list[ldap.LDAPError]]:
    errors: list[ldap.LDAPError] = []
    token = _errors.set(errors)
    try:
        yield errors
    finally:
        _errors.reset(token)


def _describe(error: ldap.LDAPError) -> str:
    detail = error.args[0] if error.args and isinstance(error.args[0], dict) else {}
    text = " ".join(str(detail.get(key, "")) for key in ("desc", "info")).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _may_sign_in(username: str) -> bool:
    """A new username, or an account LDAP created that has no password here (module docstring)."""
    user = get_user_model().objects.filter(username__iexact=username).first()
    if user is None:
        return True
    if not user.is_active or user.has_usable_password():
        return False
    return DirectoryGroups.objects.filter(user=user, source=SOURCE).exists()


class DirectoryBackend(LDAPBackend):
    """django-auth-ldap's backend, off unless LDAP_SERVER_URI is set; audits every directory sign-in."""

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> Any:
        if not settings.LDAP_SERVER_URI or not username or not password:
            return None
        username = username.strip()
        if not _may_sign_in(username):
            return None
        try:
            server_uri = reachable_uri(settings.LDAP_SERVER_URI)
        except DirectoryUnavailable as exc:
            return _unavailable(request, username, str(exc))
        self.settings = LDAPSettings(self.settings_prefix, ldap_settings(server_uri))
        self._sign_in = (request, username)
        with _collect_errors() as errors:
            user = super().authenticate(request, username=username, password=password, **kwargs)
        if errors:
            return _unavailable(request, username, "; ".join(_describe(e) for e in errors))
        return user

    def authenticate_ldap_user(self, ldap_user: Any, password: str) -> Any:
        user = ldap_user.authenticate(password)
        request, username = self._sign_in
        if user is None:
            # No error reported: the directory answered. A user it knows gave a wrong password;
            # a name it does not know is a plain failed login (audited as `login.failed`).
            if not _errors.get() and ldap_user.dn is not None:
                audit.record(
                    user=None,
                    action="login.ldap",
                    target=username,
                    result=AuditEntry.Result.DENIED,
                    error="wrong username or password",
                    request=request,
                )
            return None
        try:
            groups = sorted(ldap_user.group_names) if self.settings.GROUP_SEARCH is not None else []
        except ldap.LDAPError as exc:
            # Never sign someone in with groups that could not be read; mark the account as the
            # directory's so the next sign-in may use it (module docstring).
            if not DirectoryGroups.objects.filter(user=user).exists():
                set_directory_groups(user, [], SOURCE)
            _remember_error(None, "groups", exc)
            return None
        set_directory_groups(user, groups, SOURCE)
        audit.record(
            user=user,
            action="login.ldap",
            target=username,
            after={"dn": ldap_user.dn, "groups": groups},
            request=request,
        )
        return user


def _unavailable(request: HttpRequest | None, username: str, problem: str) -> None:
    logger.warning("LDAP sign-in of %s failed: directory unavailable: %s", username, problem)
    audit.record(
        user=None,
        action="login.ldap",
        target=username,
        result=AuditEntry.Result.ERROR,
        error=f"directory unavailable: {problem}"[:2000],
        request=request,
    )
    if request is not None and hasattr(request, "_messages"):
        messages.error(request, UNAVAILABLE_MESSAGE, fail_silently=True)
    return None
