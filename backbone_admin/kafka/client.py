"""Client construction and error translation: the only place that builds confluent_kafka clients."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, NoReturn, TypeVar

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from django.conf import settings

from backbone_admin.clusters import ClusterConfig, get_cluster
from backbone_admin.kafka import errors

log = logging.getLogger("backbone.kafka")
T = TypeVar("T")

_UNREACHABLE = {
    KafkaError._TRANSPORT,
    KafkaError._TIMED_OUT,
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError._RESOLVE,
    KafkaError._WAIT_COORD,
    KafkaError.REQUEST_TIMED_OUT,
    KafkaError.NETWORK_EXCEPTION,
}
_AUTH = {KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED, KafkaError._SSL}
_UNSUPPORTED = {
    KafkaError._UNSUPPORTED_FEATURE,
    KafkaError.UNSUPPORTED_VERSION,
    KafkaError.INVALID_REQUEST,
    KafkaError.UNSUPPORTED_FOR_MESSAGE_FORMAT,
}
_FORBIDDEN = {
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.GROUP_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
}


def timeout() -> float:
    return float(settings.KAFKA_TIMEOUT)


def require_cluster(name: str) -> ClusterConfig:
    cluster = get_cluster(name)
    if cluster is None:
        raise errors.ClusterNotFound(f"cluster `{name}` is not configured")
    return cluster


def writable_cluster(name: str, what: str) -> ClusterConfig:
    """The cluster, unless it is read-only: then `what` is refused whatever the caller's role."""
    cluster = require_cluster(name)
    if cluster.read_only:
        raise errors.ReadOnlyCluster(f"cluster `{name}` is read-only: {what} is refused")
    return cluster


def base_config(cluster: ClusterConfig) -> dict[str, Any]:
    conf: dict[str, Any] = dict(cluster.librdkafka_config())
    ms = int(timeout() * 1000)
    conf.update(
        {
            "socket.timeout.ms": ms,
            "socket.connection.setup.timeout.ms": ms,
            "reconnect.backoff.max.ms": 2000,
            "log.connection.close": False,
            "logger": logging.getLogger(f"backbone.kafka.{cluster.name}"),
        }
    )
    return conf


def raise_translated(exc: BaseException, cluster: ClusterConfig, what: str) -> NoReturn:
    """Turn a confluent_kafka failure into an error a person can act on."""
    if isinstance(exc, errors.BackboneError):
        raise exc
    if isinstance(exc, FutureTimeout | TimeoutError):
        raise errors.ClusterUnavailable(
            f"cluster `{cluster.name}` unreachable at {cluster.bootstrap_servers} after {timeout():g} s ({what})"
        ) from exc
    if isinstance(exc, KafkaException) and isinstance(exc.args[0], KafkaError):
        err: KafkaError = exc.args[0]
        code = err.code()
        reason = err.str()
        if code in _UNREACHABLE:
            raise errors.ClusterUnavailable(
                f"cluster `{cluster.name}` unreachable at {cluster.bootstrap_servers} after {timeout():g} s ({what})"
            ) from exc
        if code in _AUTH:
            raise errors.ClusterUnavailable(
                f"cluster `{cluster.name}` refused the connection: authentication or TLS failed ({reason})"
            ) from exc
        if code in _UNSUPPORTED:
            raise errors.NotSupported(f"{what} is not supported by cluster `{cluster.name}` ({reason})") from exc
        if code in _FORBIDDEN:
            raise errors.PermissionDenied(
                f"cluster `{cluster.name}` refused {what}: the console's credentials lack the ACL ({reason})"
            ) from exc
        if code == KafkaError.UNKNOWN_TOPIC_OR_PART:
            raise errors.TopicNotFound(f"{what}: topic does not exist on cluster `{cluster.name}`") from exc
        if code == KafkaError.TOPIC_ALREADY_EXISTS:
            raise errors.Conflict(f"{what}: the topic already exists on cluster `{cluster.name}`") from exc
        if code in (KafkaError.GROUP_ID_NOT_FOUND,):
            raise errors.GroupNotFound(f"{what}: consumer group does not exist on cluster `{cluster.name}`") from exc
        if code in (KafkaError.NON_EMPTY_GROUP, KafkaError.UNKNOWN_MEMBER_ID, KafkaError.REBALANCE_IN_PROGRESS):
            raise errors.Conflict(f"{what}: the consumer group is active; stop its consumers first ({reason})") from exc
        raise errors.InvalidRequest(f"cluster `{cluster.name}` rejected {what}: {reason}") from exc
    if isinstance(exc, ValueError | TypeError):
        raise errors.InvalidRequest(f"{what}: {exc}") from exc
    log.exception("unexpected Kafka client failure during %s on %s", what, cluster.name)
    raise errors.ClusterUnavailable(f"cluster `{cluster.name}` failed during {what}: {exc}") from exc


def wait(future: Future[T], cluster: ClusterConfig, what: str) -> T:
    """Wait for one admin future within the timeout, translating failures."""
    try:
        return future.result(timeout=timeout() + 1)
    except Exception as exc:  # noqa: BLE001 - every failure is translated
        raise_translated(exc, cluster, what)


def call(fn: Callable[[], T], cluster: ClusterConfig, what: str) -> T:
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - every failure is translated
        raise_translated(exc, cluster, what)


_admins: dict[str, AdminClient] = {}
_lock = threading.Lock()


def admin_client(cluster: ClusterConfig) -> AdminClient:
    """The process's AdminClient for a cluster, built on first use."""
    with _lock:
        client = _admins.get(cluster.name)
        if client is None:
            client = _admins[cluster.name] = AdminClient(base_config(cluster))
        return client


def reset_clients() -> None:
    with _lock:
        _admins.clear()
