"""Client construction and error translation: the only place that builds confluent_kafka clients."""

from __future__ import annotations

import contextvars
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, NoReturn, TypeVar

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from django.conf import settings

from backbone_admin.clusters import ClusterConfig, get_cluster
from backbone_admin.kafka import errors
from backbone_admin.kafka.isolated_child import RepeatFilter

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


def configured_timeout() -> float:
    return float(settings.KAFKA_TIMEOUT)


# The end (monotonic) of the current request's Kafka budget: every call of one page or API
# request shares KAFKA_TIMEOUT, so a page that makes several calls still answers within
# the timeout + 1 s while the cluster is slow or reconnecting.
_deadline: ContextVar[float | None] = ContextVar("kafka_deadline", default=None)
MIN_CALL_TIMEOUT = 0.05


def timeout() -> float:
    """Seconds the next Kafka call may take: the cluster timeout, or what is left of the request's."""
    limit = configured_timeout()
    end = _deadline.get()
    if end is not None:
        limit = max(MIN_CALL_TIMEOUT, min(limit, end - time.monotonic()))
    return limit


@contextmanager
def request_deadline(seconds: float | None = None) -> Iterator[None]:
    """Share one Kafka time budget among every call made inside (threads of a ContextPool too)."""
    token = _deadline.set(time.monotonic() + (seconds if seconds is not None else configured_timeout()))
    try:
        yield
    finally:
        _deadline.reset(token)


class ContextPool(ThreadPoolExecutor):
    """A thread pool whose tasks run in the submitter's context (and so within its deadline)."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        context = contextvars.copy_context()
        return super().submit(context.run, fn, *args, **kwargs)


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
            # librdkafka refuses a client below its minimums (10 ms, 1 s): a request whose
            # budget is nearly spent still gets a client, and the call's own timeout ends it.
            "socket.timeout.ms": max(10, ms),
            "socket.connection.setup.timeout.ms": max(1000, ms),
            "reconnect.backoff.max.ms": 2000,
            "log.connection.close": False,
            "logger": cluster_logger(cluster.name),
            "error_cb": functools.partial(_on_client_error, cluster.name),
        }
    )
    return conf


def cluster_logger(cluster_name: str) -> logging.Logger:
    logger = logging.getLogger(f"backbone.kafka.{cluster_name}")
    if not any(isinstance(f, RepeatFilter) for f in logger.filters):
        logger.addFilter(RepeatFilter())
    return logger


# librdkafka answers a wrong password or an untrusted certificate with a plain transport
# timeout; the real cause reaches only the client's error_cb. The last one per cluster
# (code, reason, when) explains the next timeout, until the cluster answers again.
_causes: dict[str, tuple[int, str, float]] = {}
CAUSE_CODES = {KafkaError._AUTHENTICATION, KafkaError._SSL, KafkaError.SASL_AUTHENTICATION_FAILED}
CAUSE_TTL = 120.0


def _on_client_error(cluster_name: str, err: KafkaError) -> None:
    if err.code() in CAUSE_CODES:
        note_cause(cluster_name, err.code(), err.str())


def note_cause(cluster_name: str, code: int, reason: str, when: float | None = None) -> None:
    _causes[cluster_name] = (code, reason, when if when is not None else time.time())


def clear_cause(cluster_name: str) -> None:
    _causes.pop(cluster_name, None)


def _scrub(cluster: ClusterConfig, text: str) -> str:
    for secret in (cluster.sasl_password, cluster.schema_registry_password):
        if secret:
            text = text.replace(secret, "***")
    return text


def cause_message(cluster: ClusterConfig, code: int, reason: str) -> str | None:
    """What an operator should check, for an authentication or TLS failure; None for others."""
    where = f"cluster `{cluster.name}` at {cluster.bootstrap_servers}"
    if code == KafkaError._SSL:
        lowered = reason.lower()
        if "certificate verify failed" in lowered or "unable to get local issuer" in lowered:
            return f"{where}: TLS: the broker's certificate is not trusted (check `ssl_ca_location`)"
        if "wrong version number" in lowered or "unexpected eof" in lowered or "packet length too long" in lowered:
            return f"{where}: TLS handshake failed: the listener does not speak TLS (check `security_protocol`)"
        return f"{where}: TLS handshake failed ({_scrub(cluster, reason)})"
    if code in (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED):
        mechanism = cluster.sasl_mechanism or "none"
        user = f", user `{cluster.sasl_username}`" if cluster.sasl_username else ""
        return f"{where}: authentication failed (SASL {mechanism}{user}): check the credentials"
    return None


def unreachable(cluster: ClusterConfig, what: str, exc: BaseException | None = None) -> NoReturn:
    """503 for a cluster that did not answer: with the cause librdkafka reported, when there is one."""
    admin = _admins.get(cluster.name)
    if admin is not None:
        admin.poll(0)  # error_cb is served by poll(): the reason of the failure arrives here
    cause = _causes.get(cluster.name)
    if cause is not None and time.time() - cause[2] <= CAUSE_TTL:
        message = cause_message(cluster, cause[0], cause[1])
        if message:
            raise errors.ClusterUnavailable(message) from exc
    raise errors.ClusterUnavailable(
        f"cluster `{cluster.name}` unreachable at {cluster.bootstrap_servers} after {configured_timeout():g} s ({what})"
    ) from exc


def raise_translated(exc: BaseException, cluster: ClusterConfig, what: str) -> NoReturn:
    """Turn a confluent_kafka failure into an error a person can act on."""
    if isinstance(exc, errors.BackboneError):
        raise exc
    if isinstance(exc, FutureTimeout | TimeoutError):
        unreachable(cluster, what, exc)
    if isinstance(exc, KafkaException) and isinstance(exc.args[0], KafkaError):
        err: KafkaError = exc.args[0]
        code = err.code()
        reason = err.str()
        if code in _UNREACHABLE:
            unreachable(cluster, what, exc)
        if code in _AUTH:
            note_cause(cluster.name, code, reason)
            raise errors.ClusterUnavailable(
                cause_message(cluster, code, reason) or f"cluster `{cluster.name}` refused the connection"
            ) from exc
        if code in _UNSUPPORTED:
            raise errors.NotSupported(f"{what} is not supported by cluster `{cluster.name}` ({reason})") from exc
        if code in _FORBIDDEN:
            raise errors.PermissionDenied(
                f"cluster `{cluster.name}` refused {what}: the console's credentials lack the ACL ({reason})"
            ) from exc
        if code in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError.UNKNOWN_TOPIC_ID):
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
    log.error("unexpected Kafka client failure during %s on %s: %s", what, cluster.name, _scrub(cluster, str(exc)))
    raise errors.ClusterUnavailable(
        f"cluster `{cluster.name}` failed during {what}: {_scrub(cluster, str(exc))}"
    ) from exc


def wait(future: Future[T], cluster: ClusterConfig, what: str) -> T:
    """Wait for one admin future within the timeout, translating failures."""
    try:
        result = future.result(timeout=timeout() + 1)
    except Exception as exc:  # noqa: BLE001 - every failure is translated
        raise_translated(exc, cluster, what)
    clear_cause(cluster.name)
    return result


def call(fn: Callable[[], T], cluster: ClusterConfig, what: str) -> T:
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - every failure is translated
        raise_translated(exc, cluster, what)


_admins: dict[str, AdminClient] = {}
_lock = threading.Lock()


def admin_client(cluster: ClusterConfig) -> AdminClient:
    """The process's AdminClient for a cluster, built on first use.

    Built inside the error translation: a bad CA file or setting is that cluster's 503 with
    the reason, never a 500 for every cluster.
    """
    with _lock:
        client = _admins.get(cluster.name)
        if client is None:
            client = _admins[cluster.name] = build_client(AdminClient, cluster)
        return client


def build_client(factory: Callable[[dict[str, Any]], T], cluster: ClusterConfig) -> T:
    """A librdkafka client for the cluster; its configuration refused is that cluster's 503."""
    try:
        return factory(base_config(cluster))
    except (KafkaException, ValueError, TypeError) as exc:
        err = exc.args[0] if exc.args else exc
        reason = err.str() if isinstance(err, KafkaError) else str(exc)
        log.error("cannot build a Kafka client for cluster %s: %s", cluster.name, _scrub(cluster, reason))
        raise errors.ClusterUnavailable(
            f"cluster `{cluster.name}` is misconfigured: {_scrub(cluster, reason)} (fix the clusters file)"
        ) from exc


def reset_clients() -> None:
    """Forget every client (the clusters changed): the next call builds new ones."""
    from backbone_admin.kafka import isolation

    with _lock:
        _admins.clear()
    isolation.shutdown()
