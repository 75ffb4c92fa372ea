"""/tokens/: every API token, for admins, with a revoke button."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from backbone_admin.kafka import PermissionDenied
from backbone_admin.models import ApiToken, Role
from backbone_admin.roles import require_global_role
from backbone_admin.tokens.api import filter_tokens
from backbone_admin.tokens.services import token_revoke, tokens_visible_to


def _refuse_non_admin(request: HttpRequest) -> HttpResponse | None:
    try:
        require_global_role(request.user, Role.ADMIN)
    except PermissionDenied as exc:
        return render(request, "error.html", {"message": exc.message}, status=403)
    return None


@require_GET
def token_list(request: HttpRequest) -> HttpResponse:
    if refused := _refuse_non_admin(request):
        return refused
    state = request.GET.get("status", ApiToken.Status.ACTIVE)
    tokens = filter_tokens(tokens_visible_to(request.user), request.GET.get("user"), state)
    page = Paginator(tokens, 50).get_page(request.GET.get("page"))
    template = "backbone_admin/tokens.html#rows" if request.headers.get("HX-Request") else "backbone_admin/tokens.html"
    return render(
        request, template, {"page": page, "filters": request.GET, "status": state, "statuses": ApiToken.Status.choices}
    )


@require_POST
def token_revoke_view(request: HttpRequest, token_id: int) -> HttpResponse:
    if refused := _refuse_non_admin(request):
        return refused
    token = get_object_or_404(tokens_visible_to(request.user), pk=token_id)
    token_revoke(token=token, actor=request.user, reason=f"revoked by {request.user.get_username()}", request=request)
    if request.headers.get("HX-Request"):
        return render(request, "backbone_admin/tokens.html#row", {"token": token})
    messages.success(request, f"Revoked API token {token.label} of {token.user.get_username()}.")
    return redirect("tokens")
