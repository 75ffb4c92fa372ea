"""Topic pages: list (htmx search/sort/paging), detail, create, edit configs, partitions, delete."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from backbone_admin.access import access_for
from backbone_admin.clusters import ClusterConfig
from backbone_admin.kafka import Conflict, InvalidRequest, NotSupported
from backbone_admin.kafka.topics import describe_topic, describe_topic_configs
from backbone_admin.models import Role
from backbone_admin.roles import (
    has_role,
    has_topic_role,
    require_cluster_visible,
    require_role,
    require_topic_role,
)
from backbone_admin.web import backbone_errors
from topics import listing, services
from topics.configs import SPECS, TopicConfigSpec
from topics.detail import read_topic
from topics.retention import ordered_policies
from topics.throughput import pages as throughput_pages

RETENTION_FIELDS = {"retention.ms": "retention_time", "retention.bytes": "retention_size", "cleanup.policy": "cleanup"}
CLEANUP_CHOICES = [("", "broker default"), ("delete", "delete"), ("compact", "compact"), ("delete,compact", "both")]


def _hx(request: HttpRequest) -> bool:
    return bool(request.headers.get("HX-Request"))


def _permissions(request: HttpRequest, config: ClusterConfig, topic: str | None = None) -> dict[str, bool]:
    """What the page offers: on the list, creating (operator of the whole cluster); on a topic,
    changing it (operator on that topic) and deleting it (admin on that topic)."""
    writable = not config.read_only
    if topic is None:
        return {"can_change": writable and has_role(request.user, config.name, Role.OPERATOR), "can_delete": False}
    return {
        "can_change": writable and has_topic_role(request.user, config.name, topic, Role.OPERATOR),
        "can_delete": writable and has_topic_role(request.user, config.name, topic, Role.ADMIN),
    }


def _int(value: str | None, default: int) -> int:
    try:
        return int(value or default)
    except ValueError:
        return default


@backbone_errors
def topic_list(request: HttpRequest, cluster: str) -> HttpResponse:
    # Anyone who sees some topic of the cluster; topic_page lists only the visible ones.
    config = require_cluster_visible(request.user, cluster)
    q = request.GET
    search = q.get("search", "")
    sort = q.get("sort", "name") if q.get("sort") in listing.SORTS else "name"
    order = "desc" if q.get("order") == "desc" else "asc"
    internal = q.get("internal") in ("1", "on", "true")
    params = {"search": search, "sort": sort, "order": order, "internal": internal}
    error = None
    page = None
    try:
        page = listing.topic_page(
            config.name,
            search=search,
            sort=sort,
            order=order,
            internal=internal,
            page=_int(q.get("page"), 1),
            page_size=_int(q.get("page_size"), listing.PAGE_SIZE),
            refresh=q.get("refresh") == "1",
            user=request.user,
        )
    except InvalidRequest as exc:
        error = exc.message
    columns = [
        ("name", "Topic"),
        ("partitions", "Partitions"),
        (None, "RF"),
        (None, "Under-repl."),
        ("messages", "Messages"),
        ("rate", "Events/s"),
        ("size", "Size"),
        ("retention", "Retention"),
        (None, "Retention size"),
        (None, "Cleanup"),
        (None, "Policy"),
    ]
    context = {
        "cluster": config.public(),
        "page": page,
        "error": error,
        "params": params,
        "columns": columns,
        "size_note": listing.SIZE_UNAVAILABLE,
        **_permissions(request, config),
    }
    template = "topics/topic_list.html#table" if _hx(request) else "topics/topic_list.html"
    return render(request, template, context, status=400 if error and not _hx(request) else 200)


@backbone_errors
def topic_detail(request: HttpRequest, cluster: str, topic: str) -> HttpResponse:
    config = require_topic_role(request.user, cluster, topic, Role.VIEWER)
    detail = read_topic(config.name, topic, request.user)
    context = {"cluster": config.public(), "topic": detail, **_permissions(request, config, topic)}
    # The buttons follow the role on this topic (a grant may cover it and not the cluster).
    context["topic_role"] = access_for(request.user).topic_role(config.name, topic)
    context.update(throughput_pages.topic_context(config.name, topic, request.GET.get("range")))
    return render(request, "topics/topic_detail.html", context)


class TopicCreateForm(forms.Form):
    name = forms.CharField(max_length=300, widget=forms.TextInput(attrs={"autofocus": True, "class": "mono"}))
    partitions = forms.IntegerField(initial=3)
    replication_factor = forms.IntegerField(initial=1)
    retention_policy = forms.ChoiceField(required=False)
    retention_time = forms.CharField(required=False, help_text="7d, 12h, 30m, unlimited")
    retention_size = forms.CharField(required=False, help_text="per partition: 500MB, 2GiB, unlimited")
    cleanup = forms.ChoiceField(choices=CLEANUP_CHOICES, required=False)
    other_configs = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 4, "class": "mono"}), help_text="one key=value a line"
    )

    def __init__(self, *args: Any, policies: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["retention_policy"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", "— none —")] + [(p.name, p.name) for p in policies]

    def configs(self) -> dict[str, str]:
        data = self.cleaned_data
        configs: dict[str, str] = {}
        for number, line in enumerate(data["other_configs"].splitlines(), 1):
            if not line.strip() or line.strip().startswith("#"):
                continue
            key, sep, value = line.partition("=")
            if not sep:
                self.add_error("other_configs", f"line {number}: use key=value")
                continue
            configs[key.strip()] = value.strip()
        for key, field in RETENTION_FIELDS.items():
            if data.get(field):
                configs[key] = data[field]
        return configs


def _apply_errors(form: forms.Form, exc: InvalidRequest | Conflict) -> None:
    fields = dict(exc.fields)
    fields.update(fields.pop("configs", None) or {})
    placed = False
    for key, message in fields.items():
        target = RETENTION_FIELDS.get(key, key if key in form.fields else "other_configs")
        form.add_error(target, str(message))
        placed = True
    if not placed:
        form.add_error(None, exc.message)


@backbone_errors
def topic_create(request: HttpRequest, cluster: str) -> HttpResponse:
    config = require_role(request.user, cluster, Role.OPERATOR, change=True)
    policies = ordered_policies()
    form = TopicCreateForm(request.POST or None, policies=policies)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            configs = form.configs()
            if form.is_valid():
                try:
                    services.topic_create(
                        user=request.user,
                        cluster=config.name,
                        name=form.cleaned_data["name"],
                        partitions=form.cleaned_data["partitions"],
                        replication_factor=form.cleaned_data["replication_factor"],
                        configs=configs,
                        request=request,
                    )
                except (InvalidRequest, Conflict) as exc:
                    _apply_errors(form, exc)
                else:
                    messages.success(request, f"Topic {form.cleaned_data['name']} created.")
                    return redirect("topics:detail", cluster=config.name, topic=form.cleaned_data["name"])
        status = 400
    prefill = [
        {
            "name": p.name,
            "retention_time": SPECS["retention.ms"].human(p.configs.get("retention.ms"))
            if "retention.ms" in p.configs
            else "",
            "retention_size": SPECS["retention.bytes"].human(p.configs.get("retention.bytes"))
            if "retention.bytes" in p.configs
            else "",
            "cleanup": p.configs.get("cleanup.policy", ""),
            "other": "\n".join(f"{k}={v}" for k, v in p.configs.items() if k not in RETENTION_FIELDS),
        }
        for p in policies
    ]
    context = {
        "cluster": config.public(),
        "form": form,
        "policies": prefill,
        "max_partitions": settings.TOPIC_MAX_PARTITIONS,
    }
    return render(request, "topics/topic_create.html", context, status=status)


def _editable(spec: TopicConfigSpec, value: str | None) -> str:
    """The value in human units when that reads back exactly, otherwise as Kafka has it."""
    if value is None:
        return ""
    shown = spec.human(value)
    try:
        return shown if spec.parse(shown) == value else value
    except InvalidRequest:
        return value


def _config_changes(request: HttpRequest, current: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """What the edit form asks for: values that differ from the current ones, and resets.

    An emptied field removes the topic's override (Kafka's incremental DELETE) so the default
    applies; a field whose value the broker reports as its default has no override to remove.
    """
    set_values: dict[str, str] = {}
    delete: list[str] = []
    for name, spec in SPECS.items():
        if request.POST.get(f"reset:{name}"):
            delete.append(name)
            continue
        raw = request.POST.get(f"cfg:{name}")
        if raw is None:
            continue
        entry = current.get(name)
        now = entry.value if entry is not None else None
        if not raw.strip():
            if entry is not None and not entry.is_default:
                delete.append(name)
            continue
        if raw.strip() == _editable(spec, now):
            continue
        try:
            if spec.parse(raw) == now:
                continue
        except InvalidRequest:
            pass  # reported by the service with every other problem
        set_values[name] = raw
    return set_values, delete


@backbone_errors
def topic_configs(request: HttpRequest, cluster: str, topic: str) -> HttpResponse:
    config = require_topic_role(request.user, cluster, topic, Role.OPERATOR, change=True)
    describe_topic(config.name, topic)
    current = describe_topic_configs(config.name, [topic]).get(topic, {})
    errors: dict[str, str] = {}
    error = None
    changes: list[services.ConfigChange] | None = None
    preview = request.POST.get("preview") == "1"
    if request.method == "POST":
        set_values, delete = _config_changes(request, current)
        try:
            changes = services.topic_configure(
                user=request.user,
                cluster=config.name,
                topic=topic,
                set_values=set_values,
                delete=delete,
                dry_run=preview,
                request=request,
            )
        except InvalidRequest as exc:
            errors, error = dict(exc.fields), exc.message
        else:
            if not preview:
                messages.success(request, f"Configs of {topic} changed: " + ", ".join(c.name for c in changes) + ".")
                return redirect("topics:detail", cluster=config.name, topic=topic)
    rows = [
        {
            "spec": spec,
            "current": current[name].value if name in current else None,
            "current_human": spec.human(current[name].value) if name in current else "",
            "is_default": current[name].is_default if name in current else True,
            "value": request.POST.get(f"cfg:{name}", _editable(spec, current[name].value if name in current else None)),
            "reset": bool(request.POST.get(f"reset:{name}")),
            "error": errors.get(name),
            "retention": name in RETENTION_FIELDS,
        }
        # The retention configs first: they are what operators come here for.
        for name, spec in sorted(SPECS.items(), key=lambda item: (item[0] not in RETENTION_FIELDS, item[0]))
    ]
    context = {"cluster": config.public(), "topic": topic, "rows": rows, "changes": changes, "error": error}
    if preview and _hx(request):
        return render(request, "topics/topic_configs.html#preview", context)
    return render(request, "topics/topic_configs.html", context, status=400 if error else 200)


@backbone_errors
def topic_partitions(request: HttpRequest, cluster: str, topic: str) -> HttpResponse:
    config = require_topic_role(request.user, cluster, topic, Role.OPERATOR, change=True)
    meta = describe_topic(config.name, topic)
    error = None
    if request.method == "POST":
        try:
            total = int(request.POST.get("total", ""))
        except ValueError:
            error = "the new total must be a whole number"
        else:
            try:
                services.topic_add_partitions(
                    user=request.user, cluster=config.name, topic=topic, total=total, request=request
                )
            except (InvalidRequest, NotSupported) as exc:
                error = exc.message
            else:
                messages.success(request, f"{topic} now has {total} partitions.")
                return redirect("topics:detail", cluster=config.name, topic=topic)
    context = {
        "cluster": config.public(),
        "topic": topic,
        "current": len(meta.partitions),
        "max_partitions": settings.TOPIC_MAX_PARTITIONS,
        "error": error,
        "value": request.POST.get("total", len(meta.partitions) + 1),
    }
    return render(request, "topics/topic_partitions.html", context, status=400 if error else 200)


@backbone_errors
def topic_delete(request: HttpRequest, cluster: str, topic: str) -> HttpResponse:
    config = require_topic_role(request.user, cluster, topic, Role.ADMIN, change=True)
    meta = describe_topic(config.name, topic)
    error = None
    if request.method == "POST":
        try:
            services.topic_delete(
                user=request.user,
                cluster=config.name,
                topic=topic,
                confirm_name=request.POST.get("confirm", ""),
                request=request,
            )
        except InvalidRequest as exc:
            error = exc.fields.get("confirm", exc.message)
        else:
            messages.success(request, f"Topic {topic} deleted.")
            return redirect("topics:list", cluster=config.name)
    context = {"cluster": config.public(), "topic": topic, "partitions": len(meta.partitions), "error": error}
    return render(request, "topics/topic_delete.html", context, status=400 if error else 200)
