"""Jobs API: start, list, detail, cancel, download (DESIGN.md paths)."""

from __future__ import annotations

from django.http import FileResponse, HttpResponseBase
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.decorators import api_view
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

from backbone_admin.clusters import all_clusters
from backbone_admin.roles import visible_clusters
from streams.jobs import services
from streams.jobs.preview import RangeCount
from streams.jobs.progress import job_payload_for
from streams.jobs.requests import parse_request

START_DOC = (
    'Replay: `{"kind": "replay", "cluster", "topic", "target_cluster"?, "target_topic", "start", "end", '
    '"filter"?, "rate_limit"?, "partitions"?, "partition_mapping"?: "same"|"key", "keep_timestamps"?, '
    '"create_target"?, "target_configs"?: {...}, "accept_retention_loss"?}`. '
    'Export: `{"kind": "export", "cluster", "topic", "format": "jsonl"|"csv", "start", '
    '"end", "compression"?: "gzip", "filter"?, "partitions"?}`. start/end: `"earliest"`, `"latest"`, '
    '`{"offset": n}` (the end offset is the first one not selected), `{"timestamp": ms or ISO 8601}` (no zone = '
    'UTC; a time after a partition\'s last event is its log end) or `{"ago": "15m"}` (`s`, `m`, `h`, `d`, `w`: '
    'that long before the job starts; "the last hour" is start `{"ago": "1h"}`); the start may '
    'also be `{"group": "<id>"}`: per partition the group\'s committed offset, earliest where it has none '
    '(404 for an unknown group), `{"last": N}`: the N most recent events of the chosen partitions together '
    "(read back from the end, merged by timestamp as the message browser's newest-first page), or "
    '`{"last_per_partition": N}`: each partition\'s N newest events (N ≤ 100,000 events in all; both end '
    'at the log end, so the end must be left out or `"latest"`). '
    'One event: `partitions: [p]`, start `{"offset": o}`, end `{"offset": o+1}`. '
    '`filter`: the message browser\'s filter language (text, or e.g. `status == "delayed"`); a bad '
    "filter is a 400 naming the column. "
    "Starting needs the operator role on the source topic (and, for a replay, on the target topic of a writable "
    "cluster; a topic you may not see is refused as a missing one, 404). Only jobs whose topics you see are listed "
    "or shown (a job whose topic is hidden from you is a 404, also to its owner). An export "
    "started below admin on a cluster with masking rules holds masked contents; an unmasked export of such a "
    "cluster is downloadable by admins only. Replays copy events as written. A job is its owner's: only the owner "
    "or an admin of the source cluster cancels, retries or downloads it, and sees its filter and target; "
    "others see `(hidden ...)` there. CSV exports neutralise formulas (OWASP): a key or value cell starting with "
    "`=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'` and the encoding `escaped-text` or "
    "`escaped-base64`. "
    '`"dry_run": true` starts nothing and answers 200 with the preview: offsets per partition, `events` (exact '
    "for the last N; otherwise the offsets in the range) and, for a replay, "
    "the target as it is or will be created (inheriting the source's retention and cleanup settings; "
    "`target_configs` overrides them) and `retention_loss`: the events older than the target's retention, which "
    "it would delete right after they are written. A replay with such a loss is refused (400 naming "
    "`accept_retention_loss`) unless it accepts the loss or re-stamps the events (`keep_timestamps: false`). "
    "A job ends `succeeded`, `failed`, `cancelled` or `completed_with_gaps`: the broker had deleted part of "
    "the range before the job read it (retention, delete-records); `result.gaps` names the offsets per partition."
)


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


@extend_schema(methods=["GET"], operation_id="jobs_list", responses={200: OpenApiTypes.OBJECT})
@extend_schema(
    methods=["POST"],
    operation_id="jobs_create",
    request=OpenApiTypes.OBJECT,
    responses={201: OpenApiTypes.OBJECT},
    description=START_DOC,
)
@api_view(["GET", "POST"])
def jobs(request: Request) -> Response:
    """List the jobs on clusters you can see (newest first), or start a replay or an export."""
    if request.method == "POST":
        ask = parse_request(request.data)
        if ask.dry_run:
            preview = services.job_preview(user=request.user, ask=ask)
            ranges = {int(p): (r["start"], r["end"]) for p, r in preview["ranges"].items()}
            return Response({**preview, "events": RangeCount(ask, ranges).events})
        job = services.job_start(user=request.user, ask=ask, request=request._request)
        location = reverse("api-job", kwargs={"job_id": job.pk})
        return Response(job_payload_for(request.user, job), status=201, headers={"Location": location})
    names = [c.name for c in visible_clusters(request.user, all_clusters())]
    queryset = services.visible_jobs(request.user, names).select_related("created_by").prefetch_related("partitions")
    status = request.query_params.get("status")
    if status:
        queryset = queryset.filter(status=status)
    paginator = Pagination()
    page = paginator.paginate_queryset(queryset, request) or []
    return paginator.get_paginated_response([job_payload_for(request.user, job) for job in page])


@extend_schema(operation_id="jobs_retrieve", responses={200: OpenApiTypes.OBJECT})
@api_view(["GET"])
def job(request: Request, job_id: int) -> Response:
    """A job: `id`, `status`, `progress` (per partition), `result`, `error`."""
    return Response(job_payload_for(request.user, services.job_for_user(request.user, job_id)))


@extend_schema(operation_id="jobs_cancel", request=None, responses={200: OpenApiTypes.OBJECT})
@api_view(["POST"])
def job_cancel(request: Request, job_id: int) -> Response:
    """Cancel a queued or running job (its owner or an admin); 409 when it has already finished."""
    job_ = services.job_for_user(request.user, job_id)
    return Response(
        job_payload_for(request.user, services.job_cancel(user=request.user, job=job_, request=request._request))
    )


@extend_schema(operation_id="jobs_retry", request=None, responses={200: OpenApiTypes.OBJECT})
@api_view(["POST"])
def job_retry(request: Request, job_id: int) -> Response:
    """Run a failed job again from its checkpoints (its owner or an admin); 409 unless it failed."""
    job_ = services.job_for_user(request.user, job_id)
    return Response(
        job_payload_for(request.user, services.job_retry(user=request.user, job=job_, request=request._request))
    )


@extend_schema(
    operation_id="jobs_download",
    parameters=[OpenApiParameter("job_id", int, OpenApiParameter.PATH)],
    responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
)
@api_view(["GET"])
def job_download(request: Request, job_id: int) -> HttpResponseBase:
    """The finished export's file (its owner or an admin; audited); 409 before it is complete."""
    job_ = services.job_for_user(request.user, job_id)
    handle, name, size = services.job_download(user=request.user, job=job_, request=request._request)
    response = FileResponse(handle, as_attachment=True, filename=name.rsplit("/", 1)[-1])
    response["Content-Length"] = str(size)
    response["X-Checksum-SHA256"] = job_.file_sha256
    return response
