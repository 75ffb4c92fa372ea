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
from backbone_admin.kafka import BackboneError, Conflict, InvalidRequest
from backbone_admin.kafka.topics import describe_topic
from backbone_admin.models import Role
from backbone_admin.roles import has_topic_role, require_topic_role, visible_clusters
from backbone_admin.web import backbone_errors
from streams.events.filters import FILTER_EXAMPLES, FILTER_HELP
from streams.events.masking import masker_for
from streams.jobs import services
from streams.jobs.models import Job
from streams.jobs.preview import range_count
from streams.jobs.progress import job_payload_for, sees_all
from streams.jobs.ranges import MAX_LAST
from streams.jobs.requests import parse_request
from streams.permissions import masked_for, operates_somewhere

POSITION_KINDS = [("earliest", "earliest"), ("latest", "latest"), ("offset", "offset"), ("timestamp", "time")]
START_KINDS = [*POSITION_KINDS, ("group", "a consumer group's offsets")]
# The range in words (the form's `range`), each with the start and end it stands for; "custom" is
# the start and end fields as they are.
RANGES = [
    ("all", "everything stored"),
    ("last", "the last N events"),
    ("last_per_partition", "the last N events of each partition"),
    ("15m", "the last 15 minutes"),
    ("1h", "the last hour"),
    ("1d", "the last day"),
    ("since", "since a time"),
    ("between", "between two times"),
    ("custom", "from … to … (offsets, a consumer group, times)"),
]
DEFAULT_LAST = 100
MAX_PREFILL = 500
# What a link may prefill (the group page, an event's page): the form's own field names.
PREFILL = (
    "range",
    "last_n",
    "start_kind",
    "start_value",
    "end_kind",
    "end_value",
    "partitions",
    "filter",
    "target_topic",
    "format",
)


@require_http_methods(["GET"])
@backbone_errors
def job_list(request: HttpRequest) -> HttpResponse:
    names = [c.name for c in visible_clusters(request.user, all_clusters())]
    # ?status=failed&cluster=c narrows the list (the overview's failed-jobs tile links here).
    status, cluster = request.GET.get("status", ""), request.GET.get("cluster", "")
    error = ""
    if status and status not in Job.Status.values:
        error = f"There is no job status “{status[:40]}”: choose one of the list."
    elif cluster and cluster not in names:
        error = f"There is no cluster “{cluster[:40]}” among yours."
    jobs = services.visible_jobs(request.user, [cluster] if cluster and not error else names)
    if status and not error:
        jobs = jobs.filter(status=status)
    jobs = jobs.select_related("created_by").prefetch_related("partitions")[:100]
    rows = [] if error else [job_payload_for(request.user, job, list(job.partitions.all())) for job in jobs]
    context = {
        "jobs": rows,
        "statuses": Job.Status.choices,
        "cluster_names": names,
        "status": status,
        "cluster": cluster,
        "filtered": bool(status or cluster),
        "error": error,
    }
    return render(request, "streams/jobs/list.html", context, status=400 if error else 200)


@require_http_methods(["GET"])
@backbone_errors
def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = services.job_for_user(request.user, job_id)
    payload = job_payload_for(request.user, job)
    context = {
        "job": payload,
        "parameters": [(name.replace("_", " "), _shown(value)) for name, value in payload["params"].items()],
        "can_operate": has_topic_role(request.user, job.cluster, job.topic, Role.OPERATOR)
        and sees_all(request.user, job),
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


def _time(post: QueryDict, name: str) -> Any:
    """A date-time picker's value: its ms (set by the page's script), else its text as ISO 8601 (UTC)."""
    ms = (post.get(f"{name}_ms") or "").strip()
    if ms.isdigit():
        return {"timestamp": int(ms)}
    return {"timestamp": (post.get(f"{name}_when") or "").strip() or "(no time given)"}


def _range(post: QueryDict) -> tuple[Any, Any]:
    """The form's range in words as the API's start and end; "custom" (or none) reads the start and end fields."""
    chosen = post.get("range") or "custom"
    if chosen == "all":
        return "earliest", "latest"
    if chosen in ("last", "last_per_partition"):
        raw = (post.get("last_n") or "").strip()
        return {chosen: int(raw) if raw.isdigit() else raw}, "latest"
    if chosen in ("15m", "1h", "1d"):
        return {"ago": chosen}, "latest"
    if chosen == "since":
        return _time(post, "from"), "latest"
    if chosen == "between":
        return _time(post, "from"), _time(post, "to")
    return _position(post, "start"), _position(post, "end")


def _body(post: QueryDict, kind: str, cluster: str, topic: str) -> dict[str, Any]:
    partitions = [p.strip() for p in (post.get("partitions") or "").split(",") if p.strip()]
    start, end = _range(post)
    body: dict[str, Any] = {
        "kind": kind,
        "cluster": cluster,
        "topic": topic,
        "start": start,
        "end": end,
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
    config = require_topic_role(request.user, cluster, topic, Role.OPERATOR)
    targets = [c for c in all_clusters() if not c.read_only and operates_somewhere(request.user, c.name)]
    status, errors, error = 200, {}, ""
    if request.POST.get("count") == "partial":
        return render(
            request, "streams/jobs/start.html#range_count", _count(request.user, request.POST, config.name, topic)
        )
    if request.method == "GET":
        describe_topic(config.name, topic)  # a form for a topic that does not exist is a 404
    values: dict[str, Any] = request.POST.dict() if request.method == "POST" else _prefilled(request.GET)
    preview: dict[str, Any] | None = None
    counted: dict[str, Any] = {}
    if request.method == "POST" and (request.POST.get("count") or "preview" in request.POST):
        counted = _count(request.user, request.POST, config.name, topic)
    if request.method == "POST" and not request.POST.get("count"):
        if kind == "replay":
            # A replay writes to its target: a role there and a writable cluster come before the form's details.
            services.require_target(
                request.user,
                request.POST.get("target_cluster") or config.name,
                (request.POST.get("target_topic") or "").strip(),
            )
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
        "ranges": RANGES,
        "max_last": MAX_LAST,
        **counted,
        "filter_help": FILTER_HELP,
        "filter_examples": FILTER_EXAMPLES,
        "masked_export": kind == "export" and masked_for(request.user, config.name, topic) and bool(masker_for(config)),
    }
    return render(request, "streams/jobs/start.html", context, status=status)


def _prefilled(query: QueryDict) -> dict[str, Any]:
    """A new form: what the link prefills; a link naming a start or an end opens the custom range."""
    values: dict[str, Any] = {"keep_timestamps": "on", "range": "all", "last_n": str(DEFAULT_LAST)}
    if "start_kind" in query or "end_kind" in query:
        values["range"] = "custom"
    values.update({k: query[k][:MAX_PREFILL] for k in PREFILL if k in query})
    return values


def _count(user: Any, post: QueryDict, cluster: str, topic: str) -> dict[str, Any]:
    """The events the form's range holds right now (the page asks as the range changes); a range that
    does not resolve says why in place of the count."""
    try:
        # Counted as an export: a replay's target is not part of its range.
        ask = parse_request(_body(post, "export", cluster, topic))
        services.check_start_group(user, ask)
        return {"count": range_count(ask), "count_error": ""}
    except BackboneError as exc:
        return {"count": None, "count_error": exc.message}


@require_http_methods(["GET", "POST"])
@backbone_errors
def replay_start(request: HttpRequest, cluster: str, topic: str) -> HttpResponse:
    return _start(request, "replay", cluster, topic)


@require_http_methods(["GET", "POST"])
@backbone_errors
def export_start(request: HttpRequest, cluster: str, topic: str) -> HttpResponse:
    return _start(request, "export", cluster, topic)
