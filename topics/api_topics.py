"""Topic API. STUBS: replaced by the topics implementation."""

from __future__ import annotations

from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response


@api_view(["GET", "POST"])
def topics(request: Request, cluster: str) -> Response:
    return Response({"error": "not yet"}, status=501)


@api_view(["GET", "DELETE"])
def topic(request: Request, cluster: str, topic: str) -> Response:
    return Response({"error": "not yet"}, status=501)


@api_view(["PATCH"])
def topic_configs(request: Request, cluster: str, topic: str) -> Response:
    return Response({"error": "not yet"}, status=501)


@api_view(["POST"])
def topic_partitions(request: Request, cluster: str, topic: str) -> Response:
    return Response({"error": "not yet"}, status=501)
