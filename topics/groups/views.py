"""Consumer group pages: list (htmx search/sort/paging), detail with lag chart, rewind, delete."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from backbone_admin.kafka import Conflict, InvalidRequest
from backbone_admin.models import Role
from backbone_admin.roles import has_topic_role, require_cluster_visible
from backbone_admin.web import backbone_errors
from topics.groups import charts, history, listing, rewind, services
from topics.groups.scope import scope_for
from topics.groups.services import GroupAccess
from topics.throughput import consumption


def _hx(request: HttpRequest) -> bool:
    return bool(request.headers.get("HX-Request"))


def _permissions(access: GroupAccess) -> dict[str, bool]:
    writable = not access.config.read_only
    return {
        "can_rewind": writable and access.at_least(Role.OPERATOR),
        "can_delete": writable and access.at_least(Role.ADMIN),
    }


def _int(value: str | None, default: int) -> int:
    try:
        return int(value or default)
    except ValueError:
        return default


LAG_SPARK = "lag, last hour"
COLUMNS = [
    ("name", "Group"),
    ("state", "State"),
    (None, "Type / assignor"),
    ("members", "Members"),
    (None, "Topics"),
    ("lag", "Total lag"),
    (None, "Not yet committed"),
    (None, "Lag, last hour"),
]


@backbone_errors
def group_list(request: HttpRequest, cluster: str) -> HttpResponse:
    config = require_cluster_visible(request.user, cluster)
    scope = scope_for(request.user, config.name)
    q = request.GET
    sort = q.get("sort") or "name"
    params = {
        "search": q.get("search", ""),
        "sort": sort if sort in listing.SORTS else "name",
        "order": "desc" if q.get("order") == "desc" else "asc",
    }
    error = None
    page = None
    rows: list[dict[str, Any]] = []
    try:
        page = listing.group_page(
            config.name,
            **params,
            page=_int(q.get("page"), 1),
            page_size=_int(q.get("page_size"), listing.PAGE_SIZE),
            refresh=q.get("refresh") == "1",
            user=request.user,
            scope=scope,
        )
    except InvalidRequest as exc:
        error = exc.message
    if page is not None:
        trends = history.recent(config.name, [r.group_id for r in page.rows], scope.topic_filter)
        rows = [
            {
                "row": r,
                "spark": charts.sparkline(f"lag-spark-{i}", trends.get(r.group_id, []), "events", "lag, last hour"),
            }
            for i, r in enumerate(page.rows)
        ]
    context: dict[str, Any] = {"cluster": config.public(), "page": page, "rows": rows, "error": error}
    context.update(params=params, columns=COLUMNS, scoped=not scope.whole)
    template = "topics/groups/group_list.html#table" if _hx(request) else "topics/groups/group_list.html"
    return render(request, template, context, status=400 if error and not _hx(request) else 200)


def _detail_context(request: HttpRequest, access: GroupAccess, group: str) -> dict[str, Any]:
    config = access.config
    range_name = request.GET.get("range", history.DEFAULT_RANGE)
    if range_name not in history.RANGES:
        range_name = history.DEFAULT_RANGE
    detail = services.read_detail(access, group)
    visible = access.scope.topic_filter
    samples = history.series(config.name, group, range_name, visible)
    return {
        "cluster": config.public(),
        "group": detail,
        "chart": charts.lag_chart(samples, range_name),
        # Consumption next to lag: produced/s on its topics - Δlag/s, and when it will have caught up.
        "flow": consumption.flow(config.name, group, visible),
        "flow_chart": charts.flow_chart(consumption.series(config.name, group, range_name, visible), range_name),
        "range": range_name,
        "ranges": list(history.RANGES),
        "sample_interval": f"{float(settings.LAG_SAMPLE_INTERVAL):g}",
        # Replaying re-publishes a topic's events: operators of that topic.
        "replay_topics": [t for t in detail.topics if has_topic_role(request.user, config.name, t, Role.OPERATOR)],
        "scoped": not access.scope.whole,
        **_permissions(access),
    }


@backbone_errors
def group_detail(request: HttpRequest, cluster: str, group: str) -> HttpResponse:
    access = services.require_group_access(request.user, cluster, group, Role.VIEWER)
    return render(request, "topics/groups/group_detail.html", _detail_context(request, access, group))


@require_POST
@backbone_errors
def group_rewind(request: HttpRequest, cluster: str, group: str) -> HttpResponse:
    """Preview (action=preview) or apply (action=apply) a rewind; the result fragment for htmx."""
    applying = request.POST.get("action") == "apply"
    # Access before the form is read: a hidden group or topic is a 404 whatever the body says.
    access = services.require_rewind_access(
        request.user, cluster, group, topic=request.POST.get("topic", "").strip() or None, applying=applying
    )
    config = access.config
    data = {
        "to": request.POST.get("to", ""),
        "value": request.POST.get("value", ""),
        "topic": request.POST.get("topic", ""),
        "partitions": request.POST.get("partitions", ""),
        "dry_run": not applying,
    }
    context: dict[str, Any] = {"cluster": config.public(), "group_id": group, "form": data, "plan": None}
    context.update(_permissions(access))
    status = 200
    try:
        req = rewind.parse_request(data)
        plan = services.group_rewind(
            user=request.user, cluster=config.name, group=group, req=req, request=request, checked=access
        )
    except (InvalidRequest, Conflict) as exc:
        context["error"] = exc.message
        context["fields"] = exc.fields
        status = exc.status
    else:
        if applying:
            messages.success(
                request,
                f"Rewind applied to {len(plan.changes)} partition(s): {plan.re_consumed:,} event(s) to consume again, "
                f"{plan.skipped:,} skipped.",
            )
            url = reverse("topics:group", kwargs={"cluster": config.name, "group": group})
            if _hx(request):
                return HttpResponse(status=204, headers={"HX-Redirect": url})
            return redirect(url)
        context["plan"] = plan
    if not _hx(request):
        page = _detail_context(request, access, group)
        return render(request, "topics/groups/group_detail.html", {**page, **context}, status=status)
    # htmx swaps only 2xx answers: the error is in the fragment.
    return render(request, "topics/groups/group_detail.html#rewind_result", context)


@require_POST
@backbone_errors
def group_delete(request: HttpRequest, cluster: str, group: str) -> HttpResponse:
    access = services.require_group_access(request.user, cluster, group, Role.ADMIN, change=True)
    config = access.config
    if request.POST.get("confirm", "") != group:
        messages.error(request, f"Type the group id `{group}` to confirm the deletion.")
        return redirect("topics:group", cluster=config.name, group=group)
    try:
        services.group_delete(user=request.user, cluster=config.name, group=group, request=request, checked=access)
    except Conflict as exc:
        messages.error(request, exc.message)
        return redirect("topics:group", cluster=config.name, group=group)
    messages.success(request, f"Consumer group {group} deleted.")
    return redirect("topics:groups", cluster=config.name)
