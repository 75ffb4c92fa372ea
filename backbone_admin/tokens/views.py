"""/tokens/: everyone creates, lists and revokes their own API tokens; admins see everybody's."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.core.validators import MaxValueValidator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from backbone_admin.models import ApiToken, Role
from backbone_admin.roles import has_global_role
from backbone_admin.tokens.api import filter_tokens
from backbone_admin.tokens.services import PasswordRefused, token_issue_to_self, token_revoke, tokens_visible_to


class TokenCreateForm(forms.Form):
    name = forms.CharField(max_length=100, required=False)
    days = forms.IntegerField(min_value=1)
    password = forms.CharField(strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        days = self.fields["days"]
        assert isinstance(days, forms.IntegerField)
        # Read at each form, not at import: API_TOKEN_DAYS is the most the page offers.
        most = settings.API_TOKEN_DAYS
        days.initial = most
        days.widget.attrs.update({"min": 1, "max": most})
        days.validators.append(MaxValueValidator(most, message=f"At most {most} days (API_TOKEN_DAYS)."))


def _page(request: HttpRequest, form: TokenCreateForm, *, key: str = "", status: int = 200) -> HttpResponse:
    is_admin = has_global_role(request.user, Role.ADMIN)
    state = request.GET.get("status", ApiToken.Status.ACTIVE)
    user_filter = request.GET.get("user") if is_admin else None
    tokens = filter_tokens(tokens_visible_to(request.user), user_filter, state)
    page = Paginator(tokens, 50).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "filters": request.GET,
        "status": state,
        "statuses": ApiToken.Status.choices,
        "is_admin": is_admin,
        "form": form,
        "new_key": key,
        "api_url": request.build_absolute_uri(reverse("api-tokens")),
    }
    template = "backbone_admin/tokens.html#rows" if request.headers.get("HX-Request") else "backbone_admin/tokens.html"
    return render(request, template, context, status=status)


@require_GET
def token_list(request: HttpRequest) -> HttpResponse:
    return _page(request, TokenCreateForm())


# The new key is in this response only: no cache may keep it, and there is no redirect (the
# key would have to wait in the session for the next page).
@never_cache
@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    form = TokenCreateForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    data = form.cleaned_data
    try:
        token, key = token_issue_to_self(
            user=request.user, password=data["password"], name=data["name"], days=data["days"], request=request
        )
    except PasswordRefused as exc:
        form.add_error("password", exc.message)
        return _page(request, form, status=400)
    messages.success(request, f"Created API token {token.label}, valid until {token.expires_at:%Y-%m-%d %H:%M} UTC.")
    return _page(request, TokenCreateForm(), key=key, status=201)


@require_POST
def token_revoke_view(request: HttpRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(tokens_visible_to(request.user), pk=token_id)
    token_revoke(token=token, actor=request.user, reason=f"revoked by {request.user.get_username()}", request=request)
    if request.headers.get("HX-Request"):
        is_admin = has_global_role(request.user, Role.ADMIN)
        return render(request, "backbone_admin/tokens.html#row", {"token": token, "is_admin": is_admin})
    messages.success(request, f"Revoked API token {token.label} of {token.user.get_username()}.")
    return redirect("tokens")
