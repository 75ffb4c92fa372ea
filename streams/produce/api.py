"""Produce through the API: POST /api/clusters/{c}/topics/{t}/messages/.

The messages view (streams/browse) owns the route and its OpenAPI description; for POST it
calls `produce_response`, documented with `ProduceRequestSerializer` and `ProducedSerializer`.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from backbone_admin.models import Role
from backbone_admin.roles import require_topic_role
from streams.produce.services import MAX_HEADERS, VALUE_FORMATS, produce_event


class ProduceHeaderSerializer(serializers.Serializer[Any]):
    key = serializers.CharField(trim_whitespace=False, help_text="the header name")
    value = serializers.CharField(allow_blank=True, trim_whitespace=False, help_text="sent as UTF-8")


class ProduceRequestSerializer(serializers.Serializer[Any]):
    key = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        trim_whitespace=False,
        default=None,
        help_text="sent as UTF-8; null or absent: no key",
    )
    value = serializers.CharField(
        allow_null=True,
        allow_blank=True,
        trim_whitespace=False,
        help_text="sent as UTF-8 (Avro: the JSON to encode); null: a tombstone. At most PRODUCE_MAX_BYTES "
        "(1 MiB by default)",
    )
    value_format = serializers.ChoiceField(
        VALUE_FORMATS,
        default="text",
        help_text="`json`: the value must parse as JSON (a 400 points at the line and column); "
        "`avro`: the value is JSON encoded with the latest schema of `subject` in the cluster's "
        "Schema Registry (Confluent wire format)",
    )
    subject = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, default=None, help_text="the registry subject (Avro)"
    )
    # max_length: counted before each header is validated (DRF ≥ 3.14; the stubs lag behind).
    headers = ProduceHeaderSerializer(  # type: ignore[call-arg]
        many=True, required=False, default=list, max_length=MAX_HEADERS, help_text="in order; names may repeat"
    )
    partition = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        help_text="an existing partition; null or absent: by key, with the cluster's partitioner "
        "(`partitioner` in the clusters file; CRC-32 like librdkafka's default when unset), any partition "
        "without a key",
    )


class ProducedSerializer(serializers.Serializer[Any]):
    partition = serializers.IntegerField()
    offset = serializers.IntegerField()
    timestamp = serializers.IntegerField(help_text="ms since the epoch")


def produce_response(request: Request, cluster: str, topic: str) -> Response:
    """Produce one event (operator role; refused on a read-only cluster); 201 with where it was written."""
    require_topic_role(request.user, cluster, topic, Role.OPERATOR, change=True)
    body = ProduceRequestSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    data = body.validated_data
    produced = produce_event(
        user=request.user,
        cluster=cluster,
        topic=topic,
        key=data["key"],
        value=data["value"],
        headers=[(h["key"], h["value"]) for h in data["headers"]],
        partition=data["partition"],
        value_format=data["value_format"],
        subject=data["subject"],
        request=request._request,
    )
    payload = {"partition": produced.partition, "offset": produced.offset, "timestamp": produced.timestamp}
    return Response(ProducedSerializer(payload).data, status=201)
