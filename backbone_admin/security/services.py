"""ACL and SCRAM changes: templates, previews of exactly what changes, audited writes.

A delete is previewed with the filter the admin chose, and confirming deletes exactly the
bindings of that preview (each as an exact filter) — and only if the broker still holds the
same set: one that changed in between is refused, to be previewed again. SCRAM passwords go
to the broker and nowhere else: the audit log names the user and the mechanism.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.views.decorators.debug import sensitive_variables

from backbone_admin.audit import audited
from backbone_admin.kafka import errors
from backbone_admin.kafka import security as gateway
from backbone_admin.kafka.security import CLUSTER_RESOURCE, Acl, AclFilter

MIN_PASSWORD = 8
MAX_PASSWORD = 1024
TEMPLATES = {
    "consumer": "Consumer of a topic in a group",
    "producer": "Producer to a topic (optionally transactional)",
    "streams": "Kafka Streams application",
}


@dataclass(frozen=True)
class PlannedAcl:
    acl: Acl
    exists: bool


# --- Templates -----------------------------------------------------------------------------------


def _names(value: str | Sequence[str]) -> list[str]:
    items = value.replace(",", "\n").splitlines() if isinstance(value, str) else list(value)
    return [n.strip() for n in items if n.strip()]


def template_bindings(kind: str, data: dict[str, Any]) -> list[Acl]:
    """The bindings of a common case, as Kafka's documentation lists them."""
    who = data.get("principal", "")
    host = data.get("host") or "*"
    pattern = data.get("pattern_type") or "LITERAL"

    def one(resource_type: str, name: str, operation: str, pattern_type: str = "LITERAL") -> Acl:
        return gateway.acl(
            resource_type=resource_type,
            resource_name=name,
            pattern_type=pattern_type,
            principal_name=who,
            host=host,
            operation=operation,
        )

    if kind == "consumer":
        # Fetching needs READ on the topic and the group; DESCRIBE lets it look up offsets and metadata.
        topic, group = _required(data, "topic"), _required(data, "group")
        return [
            one("TOPIC", topic, "READ", pattern),
            one("TOPIC", topic, "DESCRIBE", pattern),
            one("GROUP", group, "READ"),
        ]
    if kind == "producer":
        topic = _required(data, "topic")
        bindings = [one("TOPIC", topic, "WRITE", pattern), one("TOPIC", topic, "DESCRIBE", pattern)]
        transactional_id = (data.get("transactional_id") or "").strip()
        if transactional_id:
            # A transactional (so idempotent) producer; IDEMPOTENT_WRITE is what brokers before 2.8 check.
            bindings += [
                one("TRANSACTIONAL_ID", transactional_id, "WRITE"),
                one("TRANSACTIONAL_ID", transactional_id, "DESCRIBE"),
                one("CLUSTER", CLUSTER_RESOURCE, "IDEMPOTENT_WRITE"),
            ]
        return bindings
    if kind == "streams":
        # Kafka Streams' security guide: inputs READ, outputs WRITE, and ALL on the topics and
        # groups prefixed with application.id (its internal repartition and changelog topics, its
        # group); exactly-once adds WRITE and DESCRIBE on the transactional ids of that prefix.
        app = _required(data, "application_id")
        inputs, outputs = _names(data.get("input_topics", "")), _names(data.get("output_topics", ""))
        if not inputs:
            raise errors.InvalidRequest("name at least one input topic", fields={"input_topics": "required"})
        bindings = [one("TOPIC", t, "READ") for t in inputs] + [one("TOPIC", t, "WRITE") for t in outputs]
        bindings += [one("TOPIC", app, "ALL", "PREFIXED"), one("GROUP", app, "ALL", "PREFIXED")]
        if data.get("exactly_once"):
            bindings += [
                one("TRANSACTIONAL_ID", app, "WRITE", "PREFIXED"),
                one("TRANSACTIONAL_ID", app, "DESCRIBE", "PREFIXED"),
                one("CLUSTER", CLUSTER_RESOURCE, "IDEMPOTENT_WRITE"),
            ]
        return list(dict.fromkeys(bindings))
    raise errors.InvalidRequest(f"unknown template `{kind}`", fields={"template": f"one of {', '.join(TEMPLATES)}"})


def _required(data: dict[str, Any], field: str) -> str:
    value = str(data.get(field) or "").strip()
    if not value:
        raise errors.InvalidRequest(f"{field.replace('_', ' ')} is required", fields={field: "required"})
    return value


# --- ACLs --------------------------------------------------------------------------------------


def fingerprint(bindings: Iterable[Acl]) -> str:
    """Names one previewed set of bindings, so a confirm can insist on the same set."""
    text = "\n".join("\t".join(b.spec()) for b in sorted(bindings))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def acls_plan(cluster: str, bindings: Sequence[Acl]) -> list[PlannedAcl]:
    """Each binding to create and whether the broker already holds it."""
    existing: set[Acl] = set()
    for who in {b.principal for b in bindings}:
        existing.update(gateway.describe_acls(cluster, AclFilter(principal=who)))
    return [PlannedAcl(b, b in existing) for b in bindings]


def acls_create(*, user: Any, cluster: str, bindings: Sequence[Acl], request: HttpRequest | None = None) -> list[Acl]:
    """Create the bindings that do not exist yet; returns those created."""
    plan = acls_plan(cluster, bindings)
    new = [p.acl for p in plan if not p.exists]
    target = ", ".join(sorted({b.principal for b in bindings}))
    before = [p.acl.as_dict() for p in plan if p.exists]
    with audited(
        user=user, action="acl.create", cluster=cluster, target=target, before=before, request=request
    ) as change:
        gateway.create_acls(cluster, new)
        change.after = [b.as_dict() for b in new]
    return new


def acls_matching(cluster: str, where: AclFilter) -> list[Acl]:
    return gateway.describe_acls(cluster, where)


def acls_delete(
    *, user: Any, cluster: str, where: AclFilter, expected: str, request: HttpRequest | None = None
) -> list[Acl]:
    """Delete what the preview of `where` showed (`expected` is its fingerprint)."""
    if where.is_everything():
        raise errors.InvalidRequest(
            "name a principal or a resource: deleting every ACL at once is refused", fields={"principal": "required"}
        )
    matches = gateway.describe_acls(cluster, where)
    if fingerprint(matches) != expected:
        raise errors.Conflict("the ACLs matching this filter changed since the preview: preview again")
    target = where.principal or where.resource_name or where.resource_type
    before = [b.as_dict() for b in matches]
    with audited(
        user=user, action="acl.delete", cluster=cluster, target=target, before=before, request=request
    ) as change:
        deleted = gateway.delete_acls(cluster, matches)
        change.after = {
            "deleted": len(deleted),
            "remaining": [b.as_dict() for b in gateway.describe_acls(cluster, where)],
        }
    return deleted


# --- SCRAM -------------------------------------------------------------------------------------


def scram_users(cluster: str) -> list[gateway.ScramUser]:
    return gateway.describe_scram_users(cluster)


def _credentials_of(cluster: str, name: str) -> dict[str, int]:
    return {m: i for u in gateway.describe_scram_users(cluster) if u.name == name for m, i in u.credentials}


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise errors.InvalidRequest(
            f"the password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters", fields={"password": "length"}
        )
    return password


def check_iterations(value: Any) -> int:
    try:
        iterations = int(value)
    except (TypeError, ValueError):
        iterations = 0
    if not gateway.MIN_ITERATIONS <= iterations <= gateway.MAX_ITERATIONS:
        raise errors.InvalidRequest(
            f"iterations must be {gateway.MIN_ITERATIONS} to {gateway.MAX_ITERATIONS}", fields={"iterations": "range"}
        )
    return iterations


@sensitive_variables("password")  # nor does a traceback of this frame
def scram_upsert(
    *,
    user: Any,
    cluster: str,
    name: str,
    mechanism: str,
    iterations: Any,
    password: str,
    request: HttpRequest | None = None,
) -> bool:
    """Create or rotate one credential; True if the user already had one for this mechanism."""
    name = gateway.scram_user_name(name)
    mechanism = gateway.mechanism(mechanism)
    rounds = check_iterations(iterations)
    check_password(password)
    before = _credentials_of(cluster, name)
    # The audit names the user and mechanism only: never the password, nor anything derived from it.
    with audited(
        user=user, action="scram.upsert", cluster=cluster, target=name, before=before, request=request
    ) as change:
        gateway.upsert_scram_credential(
            cluster, user=name, mechanism_name=mechanism, iterations=rounds, password=password
        )
        change.after = _credentials_of(cluster, name)
    return mechanism in before


def scram_delete(
    *, user: Any, cluster: str, name: str, mechanism: str | None = None, request: HttpRequest | None = None
) -> list[str]:
    """Delete one credential of a user, or all of them (mechanism None); returns those deleted."""
    name = gateway.scram_user_name(name)
    chosen = gateway.mechanism(mechanism) if mechanism else None
    before = _credentials_of(cluster, name)
    mechanisms = [chosen] if chosen else sorted(before)
    if not before or any(m not in before for m in mechanisms):
        raise errors.NotFound(f"user `{name}` has no such SCRAM credential on cluster `{cluster}`")
    with audited(
        user=user, action="scram.delete", cluster=cluster, target=name, before=before, request=request
    ) as change:
        for m in mechanisms:
            gateway.delete_scram_credential(cluster, user=name, mechanism_name=m)
        change.after = _credentials_of(cluster, name)
    return mechanisms
