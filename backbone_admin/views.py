from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from backbone_admin.api.views import filter_audit
from backbone_admin.clusters import default_cluster_name
from backbone_admin.health import console_health
from backbone_admin.kafka import PermissionDenied
from backbone_admin.models import AuditEntry, Role
from backbone_admin.roles import require_global_role


def home(request: HttpRequest) -> HttpResponse:
    return redirect("topics:overview", cluster=default_cluster_name())


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    ok, checks = console_health()
    return JsonResponse({"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503)


def audit(request: HttpRequest) -> HttpResponse:
    try:
        require_global_role(request.user, Role.ADMIN)
    except PermissionDenied as exc:
        return render(request, "error.html", {"message": exc.message}, status=403)
    entries = filter_audit(AuditEntry.objects.all(), request.GET)
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    template = "backbone_admin/audit.html#rows" if request.headers.get("HX-Request") else "backbone_admin/audit.html"
    return render(request, template, {"page": page, "filters": request.GET, "results": AuditEntry.Result.choices})
