from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from backbone_admin.kafka import InvalidRequest
from backbone_admin.models import Role
from backbone_admin.roles import has_role, require_role
from backbone_admin.web import backbone_errors
from topics.brokers import services
from topics.brokers.services import BrokerConfigChange


def _hx(request: HttpRequest) -> bool:
    return bool(request.headers.get("HX-Request"))


@backbone_errors
def broker_list(request: HttpRequest, cluster: str) -> HttpResponse:
    # Broker configs are the whole cluster's: a role on some topics only does not reach them.
    config = require_role(request.user, cluster, Role.VIEWER)
    target = services.broker_target(config.name, services.DEFAULT)
    context = {"cluster": config.public(), "brokers": target.brokers}
    return render(request, "topics/brokers.html", context)


def _form_changes(request: HttpRequest) -> tuple[dict[str, object], list[str]]:
    """Filled fields are values to set, ticked boxes configs to reset; untouched fields change nothing."""
    set_values: dict[str, object] = {}
    delete: list[str] = []
    for key in request.POST:
        value = request.POST.get(key, "")
        if key.startswith("cfg:") and value.strip():
            set_values[key[4:]] = value
        elif key.startswith("reset:") and value:
            delete.append(key[6:])
    return set_values, delete


@backbone_errors
def broker_configs(request: HttpRequest, cluster: str, broker: str) -> HttpResponse:
    if request.method == "POST":
        config = require_role(request.user, cluster, Role.ADMIN, change=True)
    else:
        config = require_role(request.user, cluster, Role.VIEWER)
    target = services.broker_target(config.name, broker)
    preview = request.POST.get("preview") == "1"
    changes: list[BrokerConfigChange] | None = None
    errors: dict[str, str] = {}
    error = None
    if request.method == "POST":
        set_values, delete = _form_changes(request)
        try:
            changes = services.broker_configure(
                user=request.user,
                cluster=config.name,
                slug=target.slug,
                set_values=set_values,
                delete=delete,
                dry_run=preview,
                request=request,
            )
        except InvalidRequest as exc:
            errors, error = dict(exc.fields), exc.message
        else:
            if not preview:
                names = ", ".join(c.name for c in changes)
                messages.success(request, f"Changed on {target.label}: {names}. Kafka applies it within seconds.")
                return redirect("topics:broker_configs", cluster=config.name, broker=target.slug)
    context = {"cluster": config.public(), "target": target, "changes": changes, "error": error}
    if preview and _hx(request):
        return render(request, "topics/brokers_configs.html#preview", context)
    q = request.GET.get("q", "").strip()[:200]
    configs = services.read_configs(config.name, target)
    rows = services.config_rows(configs, target, q)
    context.update(
        {
            "items": [
                {
                    "row": r,
                    "error": errors.get(r.config.name),
                    "posted": request.POST.get(f"cfg:{r.config.name}", ""),
                    "reset": bool(request.POST.get(f"reset:{r.config.name}")),
                }
                for r in rows
            ],
            "total": len(configs),
            "answered": bool(configs),
            "q": q,
            "can_edit": not config.read_only and has_role(request.user, config.name, Role.ADMIN),
        }
    )
    return render(request, "topics/brokers_configs.html", context, status=400 if error else 200)
