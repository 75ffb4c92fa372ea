"""/access/: grants (global admins), explain access (global admins), and My access (everyone)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from backbone_admin.clusters import all_clusters, default_cluster_name
from backbone_admin.grants import services
from backbone_admin.grants.explain import explain_access, my_access
from backbone_admin.grants.forms import PATTERN_HELP, GrantForm
from backbone_admin.kafka.errors import InvalidRequest, NotFound
from backbone_admin.models import Grant, Role
from backbone_admin.roles import require_global_role
from backbone_admin.web import backbone_errors

FIELDS = ("subject_type", "subject", "role", "cluster", "topics", "groups", "note")


def _get_grant(grant_id: int) -> Grant:
    grant = Grant.objects.filter(pk=grant_id).first()
    if grant is None:
        raise NotFound(f"grant #{grant_id} does not exist")
    return grant


def _form_page(
    request: HttpRequest, form: GrantForm, grant: Grant | None, errors: dict[str, Any], status: int = 200
) -> HttpResponse:
    context = {
        "form": form,
        "grant": grant,
        "errors": errors,
        "pattern_help": PATTERN_HELP,
        "from_file": grant is not None and services.is_from_file(grant),
        "mapping_file": services.permissions_file(),
    }
    return render(request, "backbone_admin/grants_form.html", context, status=status)


@backbone_errors
@require_GET
def grant_list(request: HttpRequest) -> HttpResponse:
    require_global_role(request.user, Role.ADMIN)
    grants = services.grants_filtered(request.GET)
    page = Paginator(grants, 100).get_page(request.GET.get("page"))
    mapping_file = services.permissions_file()
    context = {
        "page": page,
        "filters": request.GET,
        "roles": Role.choices,
        "cluster_names": [c.name for c in all_clusters()],
        "mapping_file": mapping_file,
        "mapping_file_exists": mapping_file is not None and mapping_file.is_file(),
        "file_grants": services.file_grant_count(Grant.objects.all()),
        "total": Grant.objects.count(),
        "file_note": services.FILE_NOTE,
    }
    partial = "#rows" if request.headers.get("HX-Request") else ""
    return render(request, f"backbone_admin/grants.html{partial}", context)


@backbone_errors
@require_http_methods(["GET", "POST"])
def grant_create(request: HttpRequest) -> HttpResponse:
    require_global_role(request.user, Role.ADMIN)
    if request.method == "POST":
        data = {name: request.POST.get(name, "") for name in FIELDS}
        try:
            grant = services.grant_create(user=request.user, data=data, request=request)
        except InvalidRequest as exc:
            return _form_page(request, GrantForm(request.POST), None, exc.fields or {"form": exc.message}, 400)
        messages.success(request, f"Grant #{grant.pk} created: {grant}.")
        return redirect("access-grants")
    initial = {"subject": request.GET.get("subject", ""), "subject_type": request.GET.get("subject_type", "group")}
    return _form_page(request, GrantForm(initial=initial), None, {})


@backbone_errors
@require_http_methods(["GET", "POST"])
def grant_edit(request: HttpRequest, grant_id: int) -> HttpResponse:
    require_global_role(request.user, Role.ADMIN)
    grant = _get_grant(grant_id)
    if request.method == "POST":
        if request.POST.get("action") == "delete":
            services.grant_delete(user=request.user, grant=grant, request=request)
            messages.success(request, f"Grant #{grant_id} deleted: {grant}.")
            return redirect("access-grants")
        data = {name: request.POST.get(name, "") for name in FIELDS}
        try:
            grant = services.grant_update(user=request.user, grant=grant, data=data, request=request)
        except InvalidRequest as exc:
            return _form_page(request, GrantForm(request.POST), grant, exc.fields or {"form": exc.message}, 400)
        messages.success(request, f"Grant #{grant.pk} saved: {grant}.")
        return redirect("access-grants")
    return _form_page(request, GrantForm(initial=GrantForm.initial_for(grant)), grant, {})


@backbone_errors
@require_GET
def explain(request: HttpRequest) -> HttpResponse:
    require_global_role(request.user, Role.ADMIN)
    query = {
        "user": request.GET.get("user", "").strip(),
        "cluster": request.GET.get("cluster", "").strip() or default_cluster_name(),
        "topic": request.GET.get("topic", "").strip(),
        "group": request.GET.get("group", "").strip(),
    }
    answer, error, status = None, "", 200
    if query["user"]:
        try:
            answer = explain_access(
                username=query["user"], cluster=query["cluster"], topic=query["topic"], group=query["group"]
            )
        except (InvalidRequest, NotFound) as exc:
            error, status = exc.message, exc.status
    context = {"query": query, "answer": answer, "error": error, "cluster_names": [c.name for c in all_clusters()]}
    return render(request, "backbone_admin/explain.html", context, status=status)


@require_GET
def my_access_page(request: HttpRequest) -> HttpResponse:
    return render(request, "backbone_admin/my_access.html", {"me": my_access(request.user)})
