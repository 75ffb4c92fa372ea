"""Broker configs: read one broker's configs with their sources, change them per broker or cluster-wide.

Through kafka-python's protocol layer, not librdkafka: librdkafka refuses the empty broker
resource name that is Kafka's cluster-wide default ("Invalid ConfigResource"), and it folds
a config's synonyms into a dict by name, losing the chain (per broker → cluster default →
server.properties → Kafka's default) that says what a reset falls back to. DescribeConfigs
v4 also brings each config's type and Kafka's documentation line.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from backbone_admin.clusters import ClusterConfig
from backbone_admin.kafka import errors, names
from backbone_admin.kafka.client import require_cluster, timeout, writable_cluster

if TYPE_CHECKING:
    from kafka.admin import KafkaAdminClient

# kafka-python is imported when a broker config is first asked for: loading its protocol
# schemas takes a while, and most processes (workers, beat) never need it.

log = logging.getLogger("backbone.kafka")
# kafka-python logs every connection at INFO; its warnings and errors are what an operator needs.
if logging.getLogger("kafka").level == logging.NOTSET:
    logging.getLogger("kafka").setLevel(logging.WARNING)

BROKER_RESOURCE = 4  # ConfigResourceType.BROKER
SET, DELETE = 0, 1  # IncrementalAlterConfigs operations
DEFAULT_RESOURCE = ""  # the cluster-wide default of every broker

# DescribeConfigs ConfigSource → (key, words).
SOURCES = {
    2: ("dynamic_broker", "dynamic for this broker"),
    3: ("dynamic_default", "dynamic cluster-wide default"),
    4: ("static", "static in server.properties"),
    5: ("default", "Kafka's default"),
}
# DescribeConfigs ConfigType → the console's type.
TYPES = {1: "boolean", 2: "string", 3: "int", 4: "int", 5: "long", 6: "double", 7: "list", 8: "class", 9: "password"}


@dataclass(frozen=True)
class Synonym:
    value: str | None
    source: str
    source_words: str


@dataclass(frozen=True)
class BrokerConfig:
    """One broker config as Kafka reports it; `value` is None for a sensitive or unset one."""

    name: str
    value: str | None
    source: str  # dynamic_broker | dynamic_default | static | default | unknown
    source_words: str
    read_only: bool  # not dynamically updatable: server.properties and a restart
    sensitive: bool
    type: str
    doc: str
    synonyms: tuple[Synonym, ...]  # from the value in force down to Kafka's default

    def level(self, source: str) -> Synonym | None:
        return next((s for s in self.synonyms if s.source == source), None)

    def below(self, source: str) -> Synonym | None:
        """What applies once the value set at `source` is removed."""
        return next((s for s in self.synonyms if _rank(s.source) > _rank(source)), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "source": self.source,
            "source_words": self.source_words,
            "read_only": self.read_only,
            "sensitive": self.sensitive,
            "type": self.type,
            "doc": self.doc,
        }


_ORDER = ("dynamic_broker", "dynamic_default", "static", "default")


def _rank(source: str) -> int:
    return _ORDER.index(source) if source in _ORDER else len(_ORDER)


def _words(code: int) -> tuple[str, str]:
    return SOURCES.get(code, ("unknown", "unknown"))


def _config(entry: Any) -> BrokerConfig:
    key, words = _words(entry.config_source)
    sensitive = bool(entry.is_sensitive)
    synonyms = tuple(
        Synonym(None if sensitive else s.value, *_words(s.source))
        for s in (entry.synonyms or ())
        if s.source in SOURCES
    )
    return BrokerConfig(
        name=entry.name,
        value=None if sensitive else entry.value,
        source=key,
        source_words=words,
        read_only=bool(entry.read_only),
        sensitive=sensitive,
        type=TYPES.get(getattr(entry, "config_type", 0) or 0, "string"),
        doc=getattr(entry, "documentation", None) or "",
        synonyms=synonyms,
    )


def _client(cluster: ClusterConfig) -> KafkaAdminClient:
    from kafka.admin import KafkaAdminClient

    """A client for one operation: broker config pages are rare, and a kept client would keep
    reconnecting (and logging) in the background while its cluster is down."""
    ms = max(1000, int(timeout() * 1000))
    conf: dict[str, Any] = {
        "bootstrap_servers": [s.strip() for s in cluster.bootstrap_servers.split(",") if s.strip()],
        "security_protocol": cluster.security_protocol.upper(),
        "request_timeout_ms": ms,
        "bootstrap_timeout_ms": ms,
        "reconnect_backoff_max_ms": 2000,
        "client_id": "backbone-console",
    }
    if cluster.sasl_mechanism:
        conf.update(
            sasl_mechanism=cluster.sasl_mechanism.upper(),
            sasl_plain_username=cluster.sasl_username,
            sasl_plain_password=cluster.sasl_password,
        )
    if cluster.ssl_ca_location:
        conf["ssl_cafile"] = cluster.ssl_ca_location
    try:
        return KafkaAdminClient(**conf)
    except Exception as exc:  # noqa: BLE001 - every failure is translated
        _translate(exc, cluster, "connecting to read broker configs")


def _close(client: KafkaAdminClient, cluster: ClusterConfig) -> None:
    try:
        client.close()
    except Exception:  # a client that fails to close is dropped all the same
        log.debug("closing the broker-config client of %s failed", cluster.name, exc_info=True)


def _translate(exc: BaseException, cluster: ClusterConfig, what: str) -> NoReturn:
    import kafka.errors as kerrors

    if isinstance(exc, errors.BackboneError):
        raise exc
    # Kafka's answers to a value or a config it will not take: the person's to fix, nothing changed.
    rejected = (kerrors.InvalidConfigurationError, kerrors.InvalidRequestError, kerrors.PolicyViolationError)
    if isinstance(exc, rejected):
        raise errors.InvalidRequest(f"cluster `{cluster.name}` rejected {what}: {exc}") from exc
    if isinstance(exc, kerrors.UnsupportedVersionError | kerrors.IncompatibleBrokerVersion):
        raise errors.NotSupported(f"{what} is not supported by cluster `{cluster.name}` ({exc})") from exc
    if isinstance(exc, kerrors.ClusterAuthorizationFailedError):
        raise errors.PermissionDenied(
            f"cluster `{cluster.name}` refused {what}: the console's credentials lack the ACL ({exc})"
        ) from exc
    # Timeouts, refused connections, a broker gone: the cluster did not answer in time.
    raise errors.ClusterUnavailable(
        f"cluster `{cluster.name}` did not answer at {cluster.bootstrap_servers} within {timeout():g} s ({what})"
    ) from exc


def _exchange(cluster: ClusterConfig, request: Any, node: int | None, what: str) -> Any:
    """Send one request (to broker `node`, or any) and wait for its answer within the timeout."""
    client = _client(cluster)
    ms = max(100, int(timeout() * 1000))
    manager: Any = client._manager  # the protocol layer: the public API refuses "" resources

    async def exchange() -> Any:
        return await manager.wait_for(manager.send(request, node_id=node, request_timeout_ms=ms), ms)

    try:
        return manager.run(exchange)
    except Exception as exc:  # noqa: BLE001 - every failure is translated
        _translate(exc, cluster, what)
    finally:
        _close(client, cluster)


def _check(code: int, message: str | None, cluster: ClusterConfig, what: str) -> None:
    import kafka.errors as kerrors

    if code:
        error_type: Any = kerrors.for_code(code)
        _translate(error_type(message or error_type.__name__), cluster, what)


def _what(broker: int | None) -> str:
    return "the cluster-wide broker defaults" if broker is None else f"broker {broker}"


def describe_broker_configs(cluster_name: str, broker: int | None) -> dict[str, BrokerConfig]:
    """Every config of one broker, by name (None: only the cluster-wide dynamic defaults set)."""
    from kafka.protocol.admin import DescribeConfigsRequest

    cluster = require_cluster(cluster_name)
    name = DEFAULT_RESOURCE if broker is None else str(broker)
    what = f"describing the configs of {_what(broker)}"
    request = DescribeConfigsRequest(
        resources=[(BROKER_RESOURCE, name, None)], include_synonyms=True, include_documentation=True
    )
    # A broker's own configs are answered by that broker (the default by any).
    response = _exchange(cluster, request, broker, what)
    configs: dict[str, BrokerConfig] = {}
    for result in response.results:
        _check(result.error_code, result.error_message, cluster, what)
        configs.update((entry.name, _config(entry)) for entry in result.configs)
    return dict(sorted(configs.items()))


def alter_broker_configs(
    cluster_name: str, broker: int | None, *, set_values: Mapping[str, str] | None = None, delete: Sequence[str] = ()
) -> None:
    """Incremental alter of one broker (None: the cluster-wide default): SET values, DELETE the named ones."""
    from kafka.protocol.admin import IncrementalAlterConfigsRequest

    set_values = dict(set_values or {})
    names.configs({**set_values, **dict.fromkeys(delete)})
    cluster = writable_cluster(cluster_name, "changing broker configs")
    entries = [(k, SET, v) for k, v in set_values.items()] + [(k, DELETE, None) for k in delete]
    name = DEFAULT_RESOURCE if broker is None else str(broker)
    what = f"changing the configs of {_what(broker)}"
    request = IncrementalAlterConfigsRequest(resources=[(BROKER_RESOURCE, name, entries)], validate_only=False)
    response = _exchange(cluster, request, broker, what)
    for result in response.responses:
        _check(result.error_code, result.error_message, cluster, what)


def known_broker_ids(cluster_name: str) -> list[int]:
    """The ids of the cluster's brokers (DescribeCluster through librdkafka)."""
    from backbone_admin.kafka.cluster import describe_brokers

    return [b.id for b in describe_brokers(cluster_name)[2]]
