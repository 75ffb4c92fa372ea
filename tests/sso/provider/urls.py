"""The provider's routes: django-oauth-toolkit at the root (so `<issuer>/.well-known/openid-configuration`
is where discovery looks), a login page, and /control/ for the tests to set users up."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.models import Group
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from jwcrypto import jwk
from oauth2_provider.models import AccessToken, RefreshToken


@csrf_exempt
def control_user(request: HttpRequest) -> HttpResponse:
    """Create or update a user: {"username", "password", "email", "groups": [...], "active"}."""
    body: dict[str, Any] = json.loads(request.body)
    user, _ = get_user_model().objects.get_or_create(username=body["username"])
    user.email = body.get("email", "")
    user.is_active = body.get("active", True)
    user.set_password(body["password"])
    user.save()
    user.groups.set([Group.objects.get_or_create(name=name)[0] for name in body.get("groups", [])])
    return JsonResponse({"id": user.pk})


@csrf_exempt
def control_revoke(request: HttpRequest, username: str) -> HttpResponse:
    """End every grant of the user: their refresh tokens no longer work."""
    RefreshToken.objects.filter(user__username=username).delete()
    AccessToken.objects.filter(user__username=username).delete()
    return JsonResponse({"revoked": username})


def forged_jwks(request: HttpRequest) -> HttpResponse:
    """The JWKS of a key this provider does NOT sign with: its ID tokens are forgeries."""
    key = jwk.JWK.from_pem(Path(os.environ["PROVIDER_PUBLISHED_KEY_FILE"]).read_bytes())
    signing = jwk.JWK.from_pem(Path(os.environ["PROVIDER_KEY_FILE"]).read_bytes())
    public = json.loads(key.export_public())
    # Under the signing key's id, so the console finds "the" key and must catch the bad signature.
    public.update({"alg": "RS256", "use": "sig", "kid": signing.thumbprint()})
    return JsonResponse({"keys": [public]})


urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("control/users/", control_user),
    path("control/users/<str:username>/revoke/", control_revoke),
]
if os.environ.get("PROVIDER_PUBLISHED_KEY_FILE"):
    urlpatterns.append(path(".well-known/jwks.json", forged_jwks))
urlpatterns.append(path("", include("oauth2_provider.urls", namespace="oauth2_provider")))
