"""Retention pages: policies (admins edit, others read), compliance per cluster with preview and apply."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from backbone_admin.access import access_for
from backbone_admin.clusters import default_cluster_name, get_cluster
from backbone_admin.kafka import BackboneError, InvalidRequest, NotFound, topic_metadata
from backbone_admin.models import Role
from backbone_admin.roles import has_global_role, has_role, require_cluster_visible
from backbone_admin.web import backbone_errors
from topics.configs import RETENTION_KEYS, SPECS, human
from topics.models import RetentionPolicy
from topics.retention import apply as retention_apply
from topics.retention import services as retention_services
from topics.retention.api import require_any_role
from topics.retention.compliance import cluster_compliance, matched_topic_counts
from topics.units import format_duration_ms
from topics.visibility import topic_filter

ROWS_PER_PAGE = 200
CLEANUP_CHOICES = ("", "delete", "compact", "delete,compact")


def _get_policy(name: str) -> RetentionPolicy:
    policy = RetentionPolicy.objects.select_related("updated_by").filter(name=name).first()
    if policy is None:
        raise NotFound(f"retention policy “{name}” does not exist")
    return policy


def _form_data(post: Any) -> dict[str, Any]:
    """The form's fields as clean_policy reads them; config inputs are named `cfg:<key>`."""
    return {
        "name": post.get("name", ""),
        "description": post.get("description", ""),
        "topic_pattern": post.get("topic_pattern", ""),
        "priority": post.get("priority", "0"),
        "configs": {key: post.get(f"cfg:{key}", "") for key in RETENTION_KEYS},
        "min_retention": post.get("min_retention", ""),
        "max_retention": post.get("max_retention", ""),
    }


def _initial(policy: RetentionPolicy | None) -> dict[str, Any]:
    if policy is None:
        return {"priority": "0", "configs": {}}
    return {
        "name": policy.name,
        "description": policy.description,
        "topic_pattern": policy.topic_pattern,
        "priority": str(policy.priority),
        "configs": {k: _human_input(k, v) for k, v in policy.configs.items()},
        "min_retention": format_duration_ms(policy.min_retention_ms).replace(" ", "")
        if policy.min_retention_ms is not None
        else "",
        "max_retention": format_duration_ms(policy.max_retention_ms).replace(" ", "")
        if policy.max_retention_ms is not None
        else "",
    }


def _human_input(key: str, value: str) -> str:
    """A value as a person would type it back (`7d`); exact, so saving unchanged keeps it."""
    if SPECS[key].unit == "ms":
        shown = format_duration_ms(value)
        return "unlimited" if shown == "forever" else shown.replace(" ", "")
    return value


def _render_form(
    request: HttpRequest, policy: RetentionPolicy | None, values: dict[str, Any], errors: dict[str, Any], status: int
) -> HttpResponse:
    raw_errors = errors.get("configs")
    config_errors: dict[str, str] = raw_errors if isinstance(raw_errors, dict) else {}
    fields = [
        {
            "key": key,
            "value": values.get("configs", {}).get(key, ""),
            "unit": SPECS[key].unit,
            "doc": SPECS[key].doc,
            "default": human(key, SPECS[key].default),
            "error": config_errors.get(key, ""),
        }
        for key in RETENTION_KEYS
    ]
    context = {
        "policy": policy,
        "values": values,
        "errors": errors,
        "config_fields": fields,
        "configs_error": errors.get("configs") if isinstance(errors.get("configs"), str) else "",
        "cleanup_choices": CLEANUP_CHOICES,
        "can_edit": has_global_role(request.user, Role.ADMIN),
    }
    return render(request, "topics/retention_policy_form.html", context, status=status)


@backbone_errors
def policy_list(request: HttpRequest) -> HttpResponse:
    require_any_role(request.user)
    policies = list(RetentionPolicy.objects.by_priority().select_related("updated_by"))
    cluster = request.GET.get("cluster") or default_cluster_name()
    counts: dict[str, int] | None = None
    counts_error = ""
    if get_cluster(cluster) is not None and access_for(request.user).sees_cluster(cluster):
        keep = topic_filter(request.user, cluster)
        try:
            # Counted over the topics the user sees: a policy's count must not reveal hidden ones.
            counts = matched_topic_counts(
                policies, [t for t in topic_metadata(cluster) if keep is None or keep(t.name)]
            )
        except BackboneError as exc:
            counts_error = exc.message
    rows = [
        {
            "policy": p,
            "configs": [(k, human(k, v)) for k, v in sorted(p.configs.items())],
            "min": format_duration_ms(p.min_retention_ms) if p.min_retention_ms is not None else None,
            "max": format_duration_ms(p.max_retention_ms) if p.max_retention_ms is not None else None,
            "topics": counts.get(p.name) if counts is not None else None,
        }
        for p in policies
    ]
    created_name = request.GET.get("created")
    created = next((row for row, p in zip(rows, policies, strict=True) if p.name == created_name), None)
    context = {
        "rows": rows,
        "created": created,
        "cluster": cluster,
        "counts_error": counts_error,
        "can_edit": has_global_role(request.user, Role.ADMIN),
    }
    return render(request, "topics/retention_policies.html", context)


@backbone_errors
@require_http_methods(["GET", "POST"])
def policy_create(request: HttpRequest) -> HttpResponse:
    require_any_role(request.user)
    if request.method == "POST":
        data = _form_data(request.POST)
        try:
            policy = retention_services.policy_create(user=request.user, data=data, request=request)
        except InvalidRequest as exc:
            return _render_form(request, None, data, exc.fields or {"form": exc.message}, 400)
        # The list says how many topics the new policy matches and offers the preview of applying it.
        return redirect(reverse("topics:policies") + "?" + urlencode({"created": policy.name}))
    return _render_form(request, None, _initial(None), {}, 200)


@backbone_errors
@require_http_methods(["GET", "POST"])
def policy_edit(request: HttpRequest, name: str) -> HttpResponse:
    require_any_role(request.user)
    policy = _get_policy(name)
    if request.method == "POST":
        if request.POST.get("action") == "delete":
            retention_services.policy_delete(user=request.user, policy=policy, request=request)
            messages.success(request, f"Retention policy “{name}” deleted.")
            return redirect("topics:policies")
        data = _form_data(request.POST)
        try:
            policy = retention_services.policy_update(user=request.user, policy=policy, data=data, request=request)
        except InvalidRequest as exc:
            return _render_form(request, policy, data, exc.fields or {"form": exc.message}, 400)
        messages.success(request, f"Retention policy “{policy.name}” saved.")
        return redirect("topics:policies")
    return _render_form(request, policy, _initial(policy), {}, 200)


@backbone_errors
@require_http_methods(["GET", "POST"])
def compliance(request: HttpRequest, cluster: str) -> HttpResponse:
    # Anyone who sees some topic of the cluster: the rows, totals and drift are over the visible topics.
    config = require_cluster_visible(request.user, cluster)
    keep = topic_filter(request.user, config.name)
    can_apply = has_role(request.user, config.name, Role.OPERATOR) and not config.read_only
    if request.method == "POST":
        apply = request.POST.get("action") == "apply"
        try:
            report = retention_apply.compliance_apply(
                user=request.user,
                cluster=config.name,
                topics=request.POST.getlist("topics"),
                dry_run=not apply,
                all_drifting=request.POST.get("all_drifting") == "1",
                request=request,
            )
        except InvalidRequest as exc:
            return render(request, "includes/error_fragment.html", {"message": exc.message, "status": 400}, status=400)
        fragment = "results" if apply else "preview"
        context = {"cluster": config.public(), "report": report, "can_apply": can_apply}
        return render(request, f"topics/retention_compliance.html#{fragment}", context)

    drifting_only = request.GET.get("drifting") == "1"
    search = request.GET.get("search", "")
    try:
        rows = cluster_compliance(config.name, search=search, visible=keep)
        search_error = ""
    except InvalidRequest as exc:
        rows, search_error = [], exc.message
    policy_filter = request.GET.get("policy", "")
    if policy_filter:
        rows = [r for r in rows if r.policy is not None and r.policy.name == policy_filter]
    drifting = sum(1 for r in rows if r.drifting)
    unfiltered = not search and not policy_filter and not search_error
    if unfiltered and keep is None:
        # This count was just read from the cluster: the navigation's badge (same cache) shows it too.
        retention_apply.drift_remember(config.name, [r.topic for r in rows if r.drifting])
    shown = [r for r in rows if r.drifting] if drifting_only else rows
    page = Paginator(shown, ROWS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "cluster": config.public(),
        "page": page,
        "total": len(rows),
        "governed": sum(1 for r in rows if r.policy is not None),
        "drifting": drifting,
        "drifting_only": drifting_only,
        "search": search,
        "search_error": search_error,
        "policy_filter": policy_filter,
        "can_apply": can_apply,
        "drift_total": drifting if unfiltered else None,
        "querystring": urlencode({"drifting": "1" if drifting_only else "", "search": search, "policy": policy_filter}),
    }
    template = "topics/retention_compliance.html"
    if request.headers.get("HX-Request"):
        template += "#rows"
    return render(request, template, context)
