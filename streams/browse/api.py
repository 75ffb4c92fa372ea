"""GET /api/clusters/{c}/topics/{t}/messages/: browse, key look-up and search; POST produces (streams.produce)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from streams.browse.positions import STARTS, Cursor
from streams.browse.query import MAX_LIMIT, budget_for, parse_query, run_query
from streams.events.serialize import event_json
from streams.permissions import masked_for, require_reader
from streams.produce.api import ProducedSerializer, ProduceRequestSerializer

# withheld: below admin, masking could not read it (binary, not strict JSON); `value` then says so.
ENCODINGS = ["json", "text", "base64", "avro", "null", "withheld"]


class HeaderSerializer(serializers.Serializer[Any]):
    key = serializers.CharField()
    value = serializers.CharField(allow_null=True)
    encoding = serializers.ChoiceField(["text", "base64", "null", "withheld"])


class EventSerializer(serializers.Serializer[Any]):
    topic = serializers.CharField()
    partition = serializers.IntegerField()
    offset = serializers.IntegerField()
    timestamp = serializers.IntegerField(help_text="ms since the epoch; -1 when the record has none")
    timestamp_type = serializers.ChoiceField(["create", "log_append", "none"])
    key = serializers.CharField(allow_null=True, help_text="text when it decodes (JSON, UTF-8, Avro), else base64")
    key_encoding = serializers.ChoiceField(ENCODINGS)
    value = serializers.CharField(allow_null=True, help_text="as `key`; cut at BROWSE_MAX_VALUE characters")
    value_encoding = serializers.ChoiceField(ENCODINGS)
    headers = HeaderSerializer(many=True)
    size = serializers.IntegerField(help_text="bytes of key, value and headers")
    truncated = serializers.BooleanField(help_text="the value was cut (the event detail page shows it whole)")
    schema_id = serializers.IntegerField(allow_null=True)
    key_schema_id = serializers.IntegerField(allow_null=True)
    key_error = serializers.CharField(allow_null=True, help_text="why the key is not decoded as it claims")
    value_error = serializers.CharField(allow_null=True)
    masked = serializers.BooleanField(help_text="masking replaced something (roles below admin)")


class PartitionScanSerializer(serializers.Serializer[Any]):
    partition = serializers.IntegerField()
    low = serializers.IntegerField(help_text="low watermark when the request began")
    high = serializers.IntegerField(help_text="high watermark when the request began")
    direction = serializers.ChoiceField(["asc", "desc"], help_text="asc: towards newer events; desc: towards older")
    start = serializers.IntegerField(help_text="the position this request started from")
    position = serializers.IntegerField(help_text="where the next page continues in this partition")
    scanned = serializers.IntegerField(help_text="events read in this partition")
    bytes = serializers.IntegerField()
    total = serializers.IntegerField(help_text="offsets between the start and the end read towards")
    covered = serializers.IntegerField(help_text="offsets of that range done")
    matched = serializers.IntegerField()
    stopped = serializers.CharField(
        allow_null=True,
        help_text="end | limit (the page is full) | events budget | bytes budget | time budget | cancelled",
    )
    summary = serializers.CharField(help_text='e.g. "scanned 2,100,000 of 8,400,000 events in partition 3; …"')


class BudgetSerializer(serializers.Serializer[Any]):
    max_events = serializers.IntegerField(allow_null=True)
    max_bytes = serializers.IntegerField(allow_null=True)
    max_seconds = serializers.FloatField()


class ScanSerializer(serializers.Serializer[Any]):
    direction = serializers.ChoiceField(["asc", "desc"])
    scanned = serializers.IntegerField()
    bytes = serializers.IntegerField()
    seconds = serializers.FloatField()
    budget = BudgetSerializer()
    finished = serializers.BooleanField(help_text="every partition reached its end or the page filled")
    partitions = PartitionScanSerializer(many=True)
    merged = serializers.BooleanField(help_text="several partitions, merged by timestamp, partition, offset")
    key_partitions = serializers.CharField(allow_null=True, help_text="which partitions a key look-up read, and why")
    notes = serializers.ListField(child=serializers.CharField())


class MessagesPageSerializer(serializers.Serializer[Any]):
    results = EventSerializer(many=True)
    next = serializers.CharField(allow_null=True, help_text="cursor of the next page (older when newest-first)")
    previous = serializers.CharField(allow_null=True, help_text="cursor of the previous page")
    next_url = serializers.CharField(allow_null=True)
    previous_url = serializers.CharField(allow_null=True)
    scan = ScanSerializer()


MESSAGE_PARAMS = [
    OpenApiParameter("partition", int, description="one partition; absent: all (or a key's partitions)"),
    OpenApiParameter(
        "start",
        str,
        enum=list(STARTS),
        description="where the first page starts; default from the parameters given (offset, timestamp, group), "
        "else newest (newest-first) or oldest (oldest-first)",
    ),
    OpenApiParameter("offset", int, description="start at this offset of `partition` (that event included)"),
    OpenApiParameter(
        "timestamp", int, description="start at this time, ms since the epoch (events at that time included)"
    ),
    OpenApiParameter("group", str, description="start at this consumer group's committed offsets"),
    OpenApiParameter(
        "key",
        str,
        description="only events with this key (UTF-8), read from the partitions the default partitioners "
        "(murmur2, CRC-32; or the cluster's `partitioner`) choose for it",
    ),
    OpenApiParameter("all_partitions", bool, description="a key look-up over every partition (custom partitioners)"),
    OpenApiParameter(
        "q",
        str,
        description='a filter: text alone is a substring of key or value; or e.g. `status == "delayed"`, '
        '`amount > 100 and headers.source == "web"`, `key ~ /^order-1\\d+$/`',
    ),
    OpenApiParameter("limit", int, description=f"events per page, 1 to {MAX_LIMIT}"),
    OpenApiParameter("direction", str, enum=["newest", "oldest"], description="newest-first (default) or oldest-first"),
    OpenApiParameter("cursor", str, description="`next` or `previous` of an earlier answer"),
    OpenApiParameter("max_events", int, description="search budget: events read (default SEARCH_DEFAULT_EVENTS)"),
    OpenApiParameter("max_bytes", int, description="search budget: bytes read (default SEARCH_DEFAULT_BYTES)"),
    OpenApiParameter(
        "max_seconds",
        float,
        description="search budget: seconds (default SEARCH_DEFAULT_SECONDS, at most SEARCH_API_MAX_SECONDS)",
    ),
]


def _url(request: Request, cursor: Cursor | None) -> str | None:
    if cursor is None:
        return None
    params = request.query_params.copy()
    for name in ("start", "offset", "timestamp", "group", "cursor"):
        params.pop(name, None)
    params["cursor"] = cursor.encode()
    return request.build_absolute_uri(f"{request.path}?{params.urlencode()}")


@extend_schema(
    methods=["GET"],
    operation_id="messages_list",
    parameters=MESSAGE_PARAMS,
    responses={
        200: MessagesPageSerializer,
        400: OpenApiResponse(description="a bad parameter, filter or cursor: `fields` names it"),
        403: OpenApiResponse(description="viewers see no event contents (the reader role on the topic is needed)"),
        404: OpenApiResponse(description="unknown cluster or topic, or a topic you may not see (the same answer)"),
        503: OpenApiResponse(description="the cluster does not answer"),
    },
    description="Browse a topic page by page (exact next/previous cursors), look up a key, or search with a "
    "filter in a bounded scan whose report says, per partition, how far it got and why it stopped. "
    "Continue a search with its `next` cursor. Values are masked for roles below admin.",
)
@extend_schema(
    methods=["POST"],
    operation_id="messages_produce",
    request=ProduceRequestSerializer,
    responses={201: ProducedSerializer},
    description="Produce one event (operator role; audited with the partition and offset written).",
)
@api_view(["GET", "POST"])
def messages(request: Request, cluster: str, topic: str) -> Response:
    if request.method == "POST":
        from streams.produce.api import produce_response

        return produce_response(request, cluster, topic)
    config = require_reader(request.user, cluster, topic)
    query = parse_query(request.query_params, api=True)
    budget = budget_for(query, api=True)
    # The scan keeps to its own budget; the cluster's metadata calls to the request's Kafka timeout.
    result = run_query(config, topic, query, masked=masked_for(request.user, config.name, topic), budget=budget)
    page = result.page
    scan = page.scan.report()
    scan.update(
        merged=page.merged,
        key_partitions=result.key_partitions.describe() if result.key_partitions else None,
        notes=result.notes,
    )
    return Response(
        {
            "results": [event_json(e, max_value=settings.BROWSE_MAX_VALUE) for e in result.events],
            "next": page.next.encode() if page.next else None,
            "previous": page.previous.encode() if page.previous else None,
            "next_url": _url(request, page.next),
            "previous_url": _url(request, page.previous),
            "scan": scan,
        }
    )
