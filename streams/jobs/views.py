"""Jobs pages: the list, a job with live progress, cancel and retry, and the start forms."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from backbone_admin.clusters import all_clusters
from backbone_admin.kafka import Conflict, InvalidRequest
from backbone_admin.models import Role
from backbone_admin.roles import has_role, require_role, visible_clusters
from backbone_admin.web import backbone_errors
from streams.events.filters import FILTER_EXAMPLES, FILTER_HELP
from streams.events.masking import masker_for
from streams.jobs import services
from streams.jobs.models import Job
from streams.jobs.progress import job_payload_for, sees_all
from streams.jobs.requests import parse_request

POSITION_KINDS = [("earliest", "earliest"), ("latest", "latest"), ("offset", "offset"), ("timestamp", "time")]
START_KINDS = [*POSITION_KINDS, ("group", "a consumer group's offsets")]
MAX_PREFILL = 500
# What a link may prefill (the group page, an event's page): the form's own field names.
PREFILL = ("start_kind", "start_value", "end_kind", "end_value", "partitions", "filter", "target_topic", "format")


@require_http_methods(["GET"])
@backbone_errors
def job_list(request: HttpRequest) -> HttpResponse:
    names = [c.name for c in visible_clusters(request.user, all_clusters())]
    jobs = Job.objects.on_clusters(names).select_related("created_by").prefetch_related("partitions")[:100]
    rows = [job_payload_for(request.user, job, list(job.partitions.all())) for job in jobs]
    return render(request, "streams/jobs/list.html", {"jobs": rows})


@require_http_methods(["GET"])
@backbone_errors
def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = services.job_for_user(request.user, job_id)
    payload = job_payload_for(request.user, job)
    context = {
        "job": payload,
        "parameters": [(name.replace("_", " "), _shown(value)) for name, value in payload["params"].items()],
        "can_operate": has_role(request.user, job.cluster, Role.OPERATOR) and sees_all(request.user, job),
        "can_download": services.may_download(request.user, job),
    }
    return render(request, "streams/jobs/detail.html", context)


def _shown(value: Any) -> str:
    """A job parameter as a person reads it: yes/no, — for none, JSON for ranges such as {"offset": 5}."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(", ", ": "))
    return str(value)


@require_POST
@backbone_errors
def job_cancel(request: HttpRequest, job_id: int) -> HttpResponse:
    job = services.job_for_user(request.user, job_id)
    try:
        services.job_cancel(user=request.user, job=job, request=request)
        messages.success(request, f"Job {job_id} is being cancelled.")
    except Conflict as exc:
        messages.error(request, exc.message)
    return redirect("streams:job", job_id=job_id)


@require_POST
@backbone_errors
def job_retry(request: HttpRequest, job_id: int) -> HttpResponse:
    job = services.job_for_user(request.user, job_id)
    try:
        services.job_retry(user=request.user, job=job, request=request)
        messages.success(request, f"Job {job_id} runs again from its checkpoints.")
    except Conflict as exc:
        messages.error(request, exc.message)
    return redirect("streams:job", job_id=job_id)


def _position(post: QueryDict, name: str) -> Any:
    """The form's kind + value pair as the API's start/end; the value of a time may be ISO or ms."""
    kind = post.get(f"{name}_kind") or ("earliest" if name == "start" else "latest")
    raw = (post.get(f"{name}_value") or "").strip()
    if kind == "group":
        return {kind: raw}
    if kind not in ("offset", "timestamp"):
        return kind
    if kind == "timestamp" and raw and not raw.lstrip("-").isdigit():
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            return {kind: raw}  # refused by the parser with a message naming the field
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return {kind: int(moment.timestamp() * 1000)}
    return {kind: int(raw) if raw.lstrip("-").isdigit() else raw}


def _body(post: QueryDict, kind: str, cluster: str, topic: str) -> dict[str, Any]:
    partitions = [p.strip() for p in (post.get("partitions") or "").split(",") if p.strip()]
    body: dict[str, Any] = {
        "kind": kind,
        "cluster": cluster,
        "topic": topic,
        "start": _position(post, "start"),
        "end": _position(post, "end"),
        "filter": post.get("filter", ""),
        "partitions": [int(p) if p.isdigit() else p for p in partitions] or None,
    }
    if kind == "replay":
        rate = (post.get("rate_limit") or "").strip()
        try:
            rate_value: Any = float(rate) if rate else None
        except ValueError:
            rate_value = rate
        body.update(
            target_cluster=post.get("target_cluster") or cluster,
            target_topic=(post.get("target_topic") or "").strip(),
            rate_limit=rate_value,
            partition_mapping=post.get("partition_mapping") or "same",
            keep_timestamps=post.get("keep_timestamps") == "on",
            create_target=post.get("create_target") == "on",
            accept_retention_loss=post.get("accept_retention_loss") == "on",
        )
        retention = (post.get("target_retention") or "").strip()
        if retention:
            body["target_configs"] = {"retention.ms": retention}
    else:
        body.update(format=post.get("format") or "jsonl", compression=post.get("compression") or "none")
    return body


def _start(request: HttpRequest, kind: str, cluster: str, topic: str) -> HttpResponse:
    config = require_role(request.user, cluster, Role.OPERATOR)
    targets = [c for c in all_clusters() if not c.read_only and has_role(request.user, c.name, Role.OPERATOR)]
    status, errors, error = 200, {}, ""
    values: dict[str, Any] = (
        request.POST.dict()
        if request.method == "POST"
        else {"keep_timestamps": "on", **{k: request.GET[k][:MAX_PREFILL] for k in PREFILL if k in request.GET}}
    )
    preview: dict[str, Any] | None = None
    if request.method == "POST":
        if kind == "replay":
            # A replay writes to its target: a role there and a writable cluster come before the form's details.
            require_role(request.user, request.POST.get("target_cluster") or config.name, Role.OPERATOR, change=True)
        ask = None
        try:
            ask = parse_request(_body(request.POST, kind, config.name, topic))
            if "preview" in request.POST:
                preview = services.job_preview(user=request.user, ask=ask)
            else:
                job = services.job_start(user=request.user, ask=ask, request=request)
                messages.success(request, f"{kind.capitalize()} job {job.pk} started.")
                return redirect("streams:job", job_id=job.pk)
        except (InvalidRequest, Conflict) as exc:
            status, errors, error = exc.status, exc.fields, exc.message
            if ask is not None and "accept_retention_loss" in exc.fields:
                preview = services.job_preview(user=request.user, ask=ask)
    context = {
        "kind": kind,
        "cluster": config.public(),
        "topic": topic,
        "targets": [c.name for c in targets],
        "values": values,
        "preview": preview,
        "errors": errors,
        "error": error,
        "position_kinds": POSITION_KINDS,
        "start_kinds": START_KINDS,
        "filter_help": FILTER_HELP,
        "filter_examples": FILTER_EXAMPLES,
        "masked_export": kind == "export"
        and not has_role(request.user, config.name, Role.ADMIN)
        and bool(masker_for(config)),
    }
    return render(request, "streams/jobs/start.html", context, status=status)


@require_http_methods(["GET", "POST"])
@backbone_errors
def replay_start(request: HttpRequest, cluster: str, topic: str) -> HttpResponse:
    return _start(request, "replay", cluster, topic)


@require_http_methods(["GET", "POST"])
@backbone_errors
def export_start(request: HttpRequest, cluster: str, topic: str) -> HttpResponse:
    return _start(request, "export", cluster, topic)
