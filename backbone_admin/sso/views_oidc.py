"""The sign-in page, the OIDC redirect and callback, and logout (ending the provider's session too)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import render, resolve_url
from mozilla_django_oidc import views as oidc_views

from backbone_admin import audit
from backbone_admin.models import AuditEntry
from backbone_admin.sso import oidc


def _sso_context() -> dict[str, Any]:
    return {
        "oidc_enabled": oidc.enabled(),
        "oidc_display_name": settings.OIDC_DISPLAY_NAME,
        "local_login": oidc.local_login_enabled(),
    }


def _failed(request: HttpRequest, reason: str, *, status: int) -> HttpResponse:
    context = {**_sso_context(), "reason": reason}
    return render(request, "registration/oidc_error.html", context, status=status)


class LoginView(auth_views.LoginView):
    """Django's login page, with the single sign-on button; without local login, the form is gone."""

    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), **_sso_context()}

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not oidc.local_login_enabled():
            return _failed(
                request, "Sign-in with a username and password is turned off: use single sign-on.", status=403
            )
        return super().post(request, *args, **kwargs)


class StartView(oidc_views.OIDCAuthenticationRequestView):
    """Send the browser to the provider with state, nonce and a PKCE challenge (kept in the session)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Endpoints are discovered per request (with a timeout), not when the view is built.
        super(oidc_views.OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)

    @staticmethod
    def get_settings(attr: str, *args: Any) -> Any:
        return oidc.library_setting(attr, *args)

    def get(self, request: HttpRequest) -> HttpResponseBase:
        if not oidc.enabled():
            return _failed(request, "Single sign-on is not configured on this console.", status=404)
        try:
            provider = oidc.discover()
        except oidc.SignInError as exc:
            audit.record(
                user=None, action="login.oidc", result=AuditEntry.Result.ERROR, error=str(exc), request=request
            )
            return _failed(request, str(exc), status=503)
        self.OIDC_OP_AUTH_ENDPOINT = provider.authorization_endpoint
        self.OIDC_RP_CLIENT_ID = settings.OIDC_CLIENT_ID
        response: HttpResponseBase = super().get(request)
        return response


class CallbackView(oidc_views.OIDCAuthenticationCallbackView):
    """Check state, exchange the code (with the PKCE verifier), verify the ID token, sign in."""

    @staticmethod
    def get_settings(attr: str, *args: Any) -> Any:
        return oidc.library_setting(attr, *args)

    def get(self, request: HttpRequest) -> HttpResponseBase:
        if not oidc.enabled():
            return _failed(request, "Single sign-on is not configured on this console.", status=404)
        if request.GET.get("error"):
            reason = request.GET.get("error_description") or request.GET["error"]
            error = f"The identity provider did not sign you in ({reason[:200]})."
            request.oidc_error = error  # type: ignore[attr-defined]
            audit.record(
                user=None,
                action="login.oidc",
                result=AuditEntry.Result.DENIED,
                error=error,
                request=request,
            )
        elif "oidc_states" not in request.session or request.GET.get("state") not in request.session["oidc_states"]:
            # A callback this browser did not start (or already used): a replay or a forged request.
            return _failed(
                request, "This sign-in was not started here or has already been used: start again.", status=400
            )
        try:
            response: HttpResponseBase = super().get(request)
        except SuspiciousOperation:
            return _failed(request, "This sign-in could not be checked: start again.", status=400)
        return response

    def login_failure(self) -> HttpResponse:
        reason = getattr(self.request, "oidc_error", "") or "The identity provider did not sign you in."
        return _failed(self.request, reason, status=403)


@login_not_required
def logout(request: HttpRequest) -> HttpResponseBase:
    """Log out (POST). An OIDC session also ends at the provider, when it has an end_session_endpoint."""
    if request.method != "POST" or not request.session.get(oidc.SESSION_MARK) or not oidc.enabled():
        response: HttpResponseBase = auth_views.LogoutView.as_view()(request)
        return response
    id_token = request.session.get(oidc.ID_TOKEN, "")
    auth.logout(request)
    target = resolve_url(settings.LOGOUT_REDIRECT_URL)
    try:
        end_session = oidc.discover().end_session_endpoint
    except oidc.SignInError:
        end_session = ""  # the console's session is over; the provider's ends when it can be told
    if not end_session:
        return HttpResponseRedirect(target)
    query = {"client_id": settings.OIDC_CLIENT_ID, "post_logout_redirect_uri": request.build_absolute_uri(target)}
    if id_token:
        query["id_token_hint"] = id_token
    return HttpResponseRedirect(f"{end_session}?{urlencode(query)}")
