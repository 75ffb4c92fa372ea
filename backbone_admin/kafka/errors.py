"""The one error family of the console: messages a person can act on, with an HTTP status."""

from __future__ import annotations

from typing import Any


class BackboneError(Exception):
    """Base of every error the gateway and services raise; `str()` is shown to the user."""

    status = 400

    def __init__(self, message: str, *, fields: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class InvalidRequest(BackboneError):
    status = 400


class NotSupported(BackboneError):
    """The cluster does not support the operation (older Kafka, or a compatible broker)."""

    status = 400


class PermissionDenied(BackboneError):
    status = 403


class ReadOnlyCluster(PermissionDenied):
    pass


class NotFound(BackboneError):
    status = 404


class ClusterNotFound(NotFound):
    pass


class TopicNotFound(NotFound):
    pass


class GroupNotFound(NotFound):
    pass


class Conflict(BackboneError):
    status = 409


class ClusterUnavailable(BackboneError):
    """The cluster did not answer in time, or refused the connection or the credentials."""

    status = 503
