"""Security pages of a cluster: ACLs and SCRAM users, for the cluster's admins.

Every change is previewed first (what will be added, what a delete will remove) and made by
a second, confirming POST. A cluster whose brokers run without an authorizer says so.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from backbone_admin.kafka import BackboneError, Conflict, InvalidRequest
from backbone_admin.kafka.security import Acl, AclFilter, SecurityDisabled
from backbone_admin.models import Role
from backbone_admin.roles import require_role
from backbone_admin.security import services
from backbone_admin.security.forms import KIND_FORMS, AclDeleteForm, AclFilterForm, ScramForm
from backbone_admin.web import backbone_errors

ROWS_LIMIT = 2000  # a page shows this many bindings at most; the filter narrows the rest


@backbone_errors
@require_http_methods(["GET"])
def acl_list(request: HttpRequest, cluster: str) -> HttpResponse:
    config = require_role(request.user, cluster, Role.ADMIN)
    form = AclFilterForm(request.GET)
    context: dict[str, Any] = {"cluster": config.public(), "form": form, "kinds": KIND_FORMS, "disabled": ""}
    acls: list[Acl] = []
    try:
        acls = services.acls_matching(config.name, form.acl_filter() if form.is_valid() else AclFilter())
    except SecurityDisabled as exc:
        context["disabled"] = exc.message
    except InvalidRequest as exc:
        form.add_error(None, exc.message)
    context.update(acls=acls[:ROWS_LIMIT], total=len(acls), filtered=any(request.GET.values()))
    return render(request, "security/acls.html", context)


@backbone_errors
@require_http_methods(["GET", "POST"])
def acl_new(request: HttpRequest, cluster: str) -> HttpResponse:
    config = require_role(request.user, cluster, Role.ADMIN)
    kind = request.POST.get("kind") or request.GET.get("kind") or "single"
    form_class = KIND_FORMS.get(kind, KIND_FORMS["single"])
    context: dict[str, Any] = {"cluster": config.public(), "kinds": KIND_FORMS, "kind": form_class.kind, "plan": None}
    if request.method != "POST":
        context["form"] = form_class()
        return render(request, "security/acl_new.html", context)
    require_role(request.user, cluster, Role.ADMIN, change=True)
    form = form_class(request.POST)
    context["form"] = form
    if not form.is_valid():
        return render(request, "security/acl_new.html", context, status=400)
    bindings = form.planned
    if request.POST.get("action") == "confirm":
        created = services.acls_create(user=request.user, cluster=config.name, bindings=bindings, request=request)
        kept = len(bindings) - len(created)
        messages.success(
            request,
            f"Created {len(created)} ACL{'s' if len(created) != 1 else ''}"
            + (f"; {kept} already existed." if kept else "."),
        )
        return redirect(
            reverse("security:acls", kwargs={"cluster": config.name})
            + "?"
            + urlencode({"principal": bindings[0].principal})
        )
    try:
        context["plan"] = services.acls_plan(config.name, bindings)
    except SecurityDisabled as exc:
        context["disabled"] = exc.message
    return render(request, "security/acl_new.html", context)


@backbone_errors
@require_POST
def acl_delete(request: HttpRequest, cluster: str) -> HttpResponse:
    config = require_role(request.user, cluster, Role.ADMIN, change=True)
    form = AclDeleteForm(request.POST)
    if not form.is_valid():
        raise InvalidRequest("the filter is not valid")
    where = form.acl_filter()
    if where.is_everything():
        raise InvalidRequest("name a principal or a resource: deleting every ACL at once is refused")
    list_url = reverse("security:acls", kwargs={"cluster": config.name})
    if request.POST.get("action") == "confirm":
        try:
            deleted = services.acls_delete(
                user=request.user,
                cluster=config.name,
                where=where,
                expected=form.cleaned_data["fingerprint"],
                request=request,
            )
        except Conflict as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Deleted {len(deleted)} ACL{'s' if len(deleted) != 1 else ''}.")
        return redirect(list_url)
    matches = services.acls_matching(config.name, where)
    context = {
        "cluster": config.public(),
        "form": form,
        "matches": matches,
        "fingerprint": services.fingerprint(matches),
        "list_url": list_url,
    }
    return render(request, "security/acl_delete.html", context)


def _users_page(request: HttpRequest, config: Any, form: ScramForm, status: int = 200) -> HttpResponse:
    context: dict[str, Any] = {"cluster": config.public(), "form": form, "users": [], "error": ""}
    try:
        context["users"] = services.scram_users(config.name)
    except BackboneError as exc:
        context["error"] = exc.message
    return render(request, "security/users.html", context, status=status)


# The password is in the POST only: no cache may keep a page of this flow.
@never_cache
@sensitive_post_parameters("password")  # an error report never shows it
@backbone_errors
@require_http_methods(["GET", "POST"])
def users(request: HttpRequest, cluster: str) -> HttpResponse:
    config = require_role(request.user, cluster, Role.ADMIN)
    if request.method != "POST":
        return _users_page(request, config, ScramForm())
    require_role(request.user, cluster, Role.ADMIN, change=True)
    form = ScramForm(request.POST)
    if not form.is_valid():
        return _users_page(request, config, form, status=400)
    data = form.cleaned_data
    try:
        rotated = services.scram_upsert(
            user=request.user,
            cluster=config.name,
            name=data["user"],
            mechanism=data["mechanism"],
            iterations=data["iterations"],
            password=data["password"],
            request=request,
        )
    except InvalidRequest as exc:
        form.add_error(None, exc.message)
        return _users_page(request, config, form, status=400)
    verb = "Rotated" if rotated else "Created"
    messages.success(request, f"{verb} the {data['mechanism']} credential of {data['user'].strip()}.")
    return redirect("security:users", cluster=config.name)


@never_cache
@backbone_errors
@require_POST
def user_delete(request: HttpRequest, cluster: str) -> HttpResponse:
    config = require_role(request.user, cluster, Role.ADMIN, change=True)
    name = request.POST.get("user", "")
    mechanism = request.POST.get("mechanism") or None
    if request.POST.get("action") == "confirm":
        deleted = services.scram_delete(
            user=request.user, cluster=config.name, name=name, mechanism=mechanism, request=request
        )
        messages.success(
            request, f"Deleted the {', '.join(deleted)} credential{'s' if len(deleted) != 1 else ''} of {name}."
        )
        return redirect("security:users", cluster=config.name)
    found = next((u for u in services.scram_users(config.name) if u.name == name.strip()), None)
    if found is None:
        raise InvalidRequest(f"there is no SCRAM user `{name}` on cluster `{config.name}`")
    doomed = [(m, i) for m, i in found.credentials if mechanism in (None, m)]
    if not doomed:
        raise InvalidRequest(f"user `{name}` has no {mechanism} credential")
    context = {"cluster": config.public(), "user": found, "mechanism": mechanism or "", "doomed": doomed}
    return render(request, "security/user_delete.html", context)
