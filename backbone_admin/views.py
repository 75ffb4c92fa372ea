from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from backbone_admin.access import has_any_access
from backbone_admin.api.auth import BearerTokenAuthentication
from backbone_admin.api.views import filter_audit
from backbone_admin.audit_access import visible_entries
from backbone_admin.clusters import default_cluster_name
from backbone_admin.grants.explain import my_access
from backbone_admin.health import console_health
from backbone_admin.models import AuditEntry, Role
from backbone_admin.roles import require_global_role
from backbone_admin.web import backbone_errors


def home(request: HttpRequest) -> HttpResponse:
    # Signed in but granted nothing (e.g. SSO, no mapped group): say so plainly, not a 404.
    if not has_any_access(request.user):
        return render(request, "backbone_admin/my_access.html", {"me": my_access(request.user)})
    return redirect("topics:overview", cluster=default_cluster_name())


def _logged_in(request: HttpRequest) -> bool:
    """A session login or a valid API token; a bad token counts as anonymous here, not as an error."""
    if request.user.is_authenticated:
        return True
    try:
        return BearerTokenAuthentication().authenticate(Request(request)) is not None
    except AuthenticationFailed:
        return False


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Public: only the status and its HTTP code (what probes need). Logged in: each check and why it failed.

    `?probe=live` checks nothing but that this process answers (a liveness probe: restarting the
    console never brings back a database, Redis or Kafka, and restarting every pod at once when
    one is down only adds an outage). `?probe=ready` checks the database and Redis, which every
    page needs, but not Kafka: a broker outage keeps the console up to show it.
    """
    probe = request.GET.get("probe", "")
    if probe == "live":
        return JsonResponse({"status": "ok"})
    if probe not in ("", "ready"):
        return JsonResponse({"error": "probe must be live or ready"}, status=400)
    ok, checks = console_health(cluster=probe != "ready")
    body: dict[str, object] = {"status": "ok" if ok else "unavailable"}
    if _logged_in(request):
        body["checks"] = checks
    return JsonResponse(body, status=200 if ok else 503)


@backbone_errors
def audit(request: HttpRequest) -> HttpResponse:
    require_global_role(request.user, Role.ADMIN)
    entries = visible_entries(request.user, filter_audit(AuditEntry.objects.all(), request.GET))
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    template = "backbone_admin/audit.html#rows" if request.headers.get("HX-Request") else "backbone_admin/audit.html"
    return render(request, template, {"page": page, "filters": request.GET, "results": AuditEntry.Result.choices})
