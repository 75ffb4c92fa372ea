"""Kafka's own security: ACLs and SCRAM credentials, through the cluster's isolated child.

These admin requests run in the child process (`isolation.py`) rather than in the web
process: librdkafka aborts the whole process on some brokers' answer to CreateAcls
(TEST_BROKER.md), and a crash there must cost one 503, never the console. A broker without
an authorizer answers SECURITY_DISABLED, raised here as `SecurityDisabled` with a sentence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from backbone_admin.clusters import ClusterConfig
from backbone_admin.kafka import errors
from backbone_admin.kafka.client import raise_translated, require_cluster, writable_cluster
from backbone_admin.kafka.isolation import run

RESOURCE_TYPES = ("TOPIC", "GROUP", "CLUSTER", "TRANSACTIONAL_ID")
PATTERN_TYPES = ("LITERAL", "PREFIXED")
FILTER_PATTERN_TYPES = ("ANY", "MATCH", *PATTERN_TYPES)
OPERATIONS = (
    "ALL",
    "READ",
    "WRITE",
    "CREATE",
    "DELETE",
    "ALTER",
    "DESCRIBE",
    "CLUSTER_ACTION",
    "DESCRIBE_CONFIGS",
    "ALTER_CONFIGS",
    "IDEMPOTENT_WRITE",
)
PERMISSIONS = ("ALLOW", "DENY")
CLUSTER_RESOURCE = "kafka-cluster"  # the one name Kafka gives the CLUSTER resource
MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
MIN_ITERATIONS = 4096  # Kafka refuses fewer (and more than 16384)
MAX_ITERATIONS = 16384
# "Type:name" as Kafka's authorizer parses a principal (`User:alice`, `User:*`, `User:CN=app`).
_PRINCIPAL = re.compile(r"^[A-Za-z][A-Za-z0-9_]*:\S.*$")


class SecurityDisabled(errors.NotSupported):
    """The brokers run without an authorizer: there are no ACLs to read or write."""


@dataclass(frozen=True, order=True)
class Acl:
    """One ACL binding, in Kafka's words (enum names)."""

    resource_type: str
    resource_name: str
    pattern_type: str
    principal: str
    host: str
    operation: str
    permission: str

    def spec(self) -> tuple[str, ...]:
        return (
            self.resource_type,
            self.resource_name,
            self.pattern_type,
            self.principal,
            self.host,
            self.operation,
            self.permission,
        )

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    def label(self) -> str:
        return (
            f"{self.permission} {self.principal} {self.operation} on {self.resource_type} "
            f"{self.pattern_type.lower()} `{self.resource_name}` from {self.host}"
        )

    def as_filter(self) -> AclFilter:
        """The filter that matches exactly this binding and nothing else."""
        return AclFilter(*self.spec())


@dataclass(frozen=True)
class AclFilter:
    """What to describe or delete; None and ANY match everything."""

    resource_type: str = "ANY"
    resource_name: str | None = None
    pattern_type: str = "ANY"
    principal: str | None = None
    host: str | None = None
    operation: str = "ANY"
    permission: str = "ANY"

    def spec(self) -> tuple[Any, ...]:
        return (
            self.resource_type,
            self.resource_name or None,
            self.pattern_type,
            self.principal or None,
            self.host or None,
            self.operation,
            self.permission,
        )

    def is_everything(self) -> bool:
        return not (self.resource_name or self.principal or self.host) and self.resource_type == "ANY"


@dataclass(frozen=True)
class ScramUser:
    name: str
    credentials: tuple[tuple[str, int], ...]  # (mechanism, iterations)


# --- Validation: before anything reaches the broker ------------------------------------------


def _choice(value: str, allowed: Sequence[str], field: str) -> str:
    value = (value or "").strip().upper().replace("-", "_")
    if value not in allowed:
        raise errors.InvalidRequest(
            f"{field} must be one of {', '.join(allowed)}", fields={field: f"one of {', '.join(allowed)}"}
        )
    return value


def principal(value: str) -> str:
    value = (value or "").strip()
    if not _PRINCIPAL.match(value) or len(value) > 1000:
        raise errors.InvalidRequest(
            "principal must look like `User:alice` (type, colon, name)",
            fields={"principal": "like User:alice"},
        )
    return value


def acl(
    *,
    resource_type: str,
    resource_name: str,
    pattern_type: str = "LITERAL",
    principal_name: str,
    host: str = "*",
    operation: str,
    permission: str = "ALLOW",
) -> Acl:
    """A checked binding: Kafka's own rules, so a refusal never comes from the broker."""
    kind = _choice(resource_type, RESOURCE_TYPES, "resource_type")
    name = (resource_name or "").strip()
    if kind == "CLUSTER":
        name = name or CLUSTER_RESOURCE
        if name != CLUSTER_RESOURCE:
            raise errors.InvalidRequest(
                f"the CLUSTER resource is always named `{CLUSTER_RESOURCE}`", fields={"resource_name": CLUSTER_RESOURCE}
            )
    if not name or len(name) > 1000:
        raise errors.InvalidRequest("a resource name is required", fields={"resource_name": "required"})
    pattern = _choice(pattern_type, PATTERN_TYPES, "pattern_type")
    if pattern == "PREFIXED" and name == "*":
        raise errors.InvalidRequest(
            "`*` is a literal wildcard; it cannot be a prefix", fields={"pattern_type": "LITERAL"}
        )
    return Acl(
        resource_type=kind,
        resource_name=name,
        pattern_type=pattern,
        principal=principal(principal_name),
        host=(host or "*").strip() or "*",
        operation=_choice(operation, OPERATIONS, "operation"),
        permission=_choice(permission, PERMISSIONS, "permission"),
    )


def acl_filter(
    *,
    resource_type: str = "ANY",
    resource_name: str = "",
    pattern_type: str = "ANY",
    principal_name: str = "",
    host: str = "",
    operation: str = "ANY",
    permission: str = "ANY",
) -> AclFilter:
    return AclFilter(
        resource_type=_choice(resource_type or "ANY", ("ANY", *RESOURCE_TYPES), "resource_type"),
        resource_name=(resource_name or "").strip() or None,
        pattern_type=_choice(pattern_type or "ANY", FILTER_PATTERN_TYPES, "pattern_type"),
        principal=principal(principal_name) if (principal_name or "").strip() else None,
        host=(host or "").strip() or None,
        operation=_choice(operation or "ANY", ("ANY", *OPERATIONS), "operation"),
        permission=_choice(permission or "ANY", ("ANY", *PERMISSIONS), "permission"),
    )


def mechanism(value: str) -> str:
    value = (value or "").strip().upper().replace("_", "-")
    if value not in MECHANISMS:
        raise errors.InvalidRequest(
            f"mechanism must be one of {', '.join(MECHANISMS)}", fields={"mechanism": "invalid"}
        )
    return value


def scram_user_name(value: str) -> str:
    value = (value or "").strip()
    if not value or len(value) > 255 or any(c in value for c in ",=") or not value.isprintable():
        raise errors.InvalidRequest(
            "a SCRAM user name is 1-255 printable characters without `,` or `=`", fields={"user": "invalid"}
        )
    return value


# --- Gateway calls -----------------------------------------------------------------------------


def _run(cluster: ClusterConfig, op: str, *args: Any, what: str) -> Any:
    try:
        return run(cluster, op, *args, what=what)
    except errors.BackboneError as exc:
        _raise_if_disabled(exc.__cause__, cluster, exc)
        raise


def _raise_if_disabled(cause: BaseException | None, cluster: ClusterConfig, exc: BaseException) -> None:
    err = cause.args[0] if isinstance(cause, KafkaException) and cause.args else None
    if isinstance(err, KafkaError) and err.code() == KafkaError.SECURITY_DISABLED:
        raise _disabled(cluster) from exc


def _disabled(cluster: ClusterConfig) -> SecurityDisabled:
    return SecurityDisabled(
        f"security is disabled on this cluster: `{cluster.name}` runs without an authorizer, "
        "so it has no ACLs (set `authorizer.class.name` on the brokers to use them)"
    )


def _has_no_authorizer(cluster: ClusterConfig) -> bool:
    """True only when a broker says its `authorizer.class.name` is empty; any doubt is False."""
    try:
        return _run(cluster, "authorizer", what="reading the brokers' authorizer") == ""
    except errors.BackboneError:
        return False  # e.g. the console may not describe broker configs: the ACL answer stands


def _fail(answer: tuple[Any, ...], cluster: ClusterConfig, what: str) -> None:
    try:
        raise_translated(KafkaException(KafkaError(answer[1], answer[2])), cluster, what)
    except errors.BackboneError as exc:
        _raise_if_disabled(exc.__cause__, cluster, exc)
        raise


def describe_acls(cluster_name: str, where: AclFilter | None = None) -> list[Acl]:
    cluster = require_cluster(cluster_name)
    found = _run(cluster, "describe_acls", (where or AclFilter()).spec(), what="listing ACLs")
    # librdkafka answers Kafka's SECURITY_DISABLED to DescribeAcls with an empty list.
    if not found and _has_no_authorizer(cluster):
        raise _disabled(cluster)
    return sorted(Acl(*spec) for spec in found)


def create_acls(cluster_name: str, bindings: Iterable[Acl]) -> None:
    cluster = writable_cluster(cluster_name, "creating ACLs")
    specs = [b.spec() for b in bindings]
    if not specs:
        return
    for answer in _run(cluster, "create_acls", specs, what="creating ACLs"):
        if answer is not None:
            _fail(answer, cluster, "creating ACLs")


def delete_acls(cluster_name: str, bindings: Iterable[Acl]) -> list[Acl]:
    """Delete exactly these bindings (each as a filter that matches only itself)."""
    cluster = writable_cluster(cluster_name, "deleting ACLs")
    specs = [b.as_filter().spec() for b in bindings]
    if not specs:
        return []
    deleted: set[Acl] = set()
    for answer in _run(cluster, "delete_acls", specs, what="deleting ACLs"):
        if isinstance(answer, tuple):
            _fail(answer, cluster, "deleting ACLs")
        deleted.update(Acl(*spec) for spec in answer)
    return sorted(deleted)


def describe_scram_users(cluster_name: str) -> list[ScramUser]:
    cluster = require_cluster(cluster_name)
    found = _run(cluster, "describe_scram", what="listing SCRAM users")
    return [
        ScramUser(name=user, credentials=tuple(sorted((m.replace("_", "-"), i) for m, i in creds)))
        for user, creds in sorted(found.items())
    ]


def upsert_scram_credential(
    cluster_name: str, *, user: str, mechanism_name: str, iterations: int, password: str
) -> None:
    """Create or replace one user's credential for one mechanism; the password goes nowhere else."""
    cluster = writable_cluster(cluster_name, "changing SCRAM credentials")
    change = ("upsert", user, mechanism_name.replace("-", "_"), iterations, password.encode())
    _alter_scram(cluster, [change], f"setting the {mechanism_name} credential of `{user}`")


def delete_scram_credential(cluster_name: str, *, user: str, mechanism_name: str) -> None:
    cluster = writable_cluster(cluster_name, "deleting SCRAM credentials")
    change = ("delete", user, mechanism_name.replace("-", "_"))
    _alter_scram(cluster, [change], f"deleting the {mechanism_name} credential of `{user}`")


def _alter_scram(cluster: ClusterConfig, changes: list[tuple[Any, ...]], what: str) -> None:
    for answer in _run(cluster, "alter_scram", changes, what=what).values():
        if answer is not None:
            if answer[1] == KafkaError.RESOURCE_NOT_FOUND:
                raise errors.NotFound(f"{what}: there is no such credential on cluster `{cluster.name}`")
            _fail(answer, cluster, what)
