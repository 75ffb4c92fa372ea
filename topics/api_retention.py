"""Retention API. STUBS: replaced by the retention implementation."""

from __future__ import annotations

from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response


@api_view(["GET", "POST"])
def policies(request: Request) -> Response:
    return Response({"error": "not yet"}, status=501)


@api_view(["GET", "PUT", "PATCH", "DELETE"])
def policy(request: Request, name: str) -> Response:
    return Response({"error": "not yet"}, status=501)


@api_view(["GET"])
def compliance(request: Request, cluster: str) -> Response:
    return Response({"error": "not yet"}, status=501)


@api_view(["POST"])
def compliance_apply(request: Request, cluster: str) -> Response:
    return Response({"error": "not yet"}, status=501)
