"""Topic changes that span Kafka and the database: validate, apply through the gateway, audit.

Every function checks the role first, validates everything before the broker is asked
(a failed request changes nothing), audits before → after and forgets the cached listing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from backbone_admin import broadcast
from backbone_admin.audit import audited
from backbone_admin.kafka import Conflict, InvalidRequest, TopicMetadata, names, topic_metadata
from backbone_admin.kafka import topics as gateway
from backbone_admin.kafka.cluster import broker_count
from backbone_admin.models import Role
from backbone_admin.roles import require_role, require_topic_role
from topics import listing
from topics.configs import SPECS, validate_topic_configs
from topics.retention import check_guardrails


@dataclass(frozen=True)
class ConfigChange:
    name: str
    before: str | None
    after: str | None  # None: deleted, back to the default

    @property
    def before_human(self) -> str:
        return _human(self.name, self.before)

    @property
    def after_human(self) -> str:
        return "default" if self.after is None else _human(self.name, self.after)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "before": self.before,
            "after": self.after,
            "before_human": self.before_human,
            "after_human": self.after_human,
        }


def _human(name: str, value: str | None) -> str:
    spec = SPECS.get(name)
    return spec.human(value) if spec else (value if value is not None else "—")


def topic_name_problem(name: str) -> str | None:
    """Why Kafka would refuse to create a topic of this name, or None (the gateway's rule: it checks again)."""
    return names.new_topic_problem(name)


def _collision(name: str, existing: Sequence[str]) -> str | None:
    # Kafka metric names replace `.` with `_`, so `a.b` and `a_b` would share metrics;
    # Kafka refuses the second one (InvalidTopicException), and so does the console.
    normalised = name.replace(".", "_")
    return next((t for t in existing if t != name and t.replace(".", "_") == normalised), None)


def _require_topic(cluster: str, topic: str) -> TopicMetadata:
    # Checked by the console: some brokers accept changes to topics that do not exist.
    return gateway.describe_topic(cluster, topic)


def topic_create(
    *,
    user: Any,
    cluster: str,
    name: str,
    partitions: int,
    replication_factor: int,
    configs: Mapping[str, object],
    request: HttpRequest | None = None,
) -> dict[str, Any]:
    """Create a topic after checking every field; returns what was created."""
    # Cluster-wide: an operator of the whole cluster sees every name, so "already exists" leaks nothing.
    require_role(user, cluster, Role.OPERATOR, change=True)
    name = name.strip()
    problems: dict[str, Any] = {}
    if problem := topic_name_problem(name):
        problems["name"] = problem
    maximum = settings.TOPIC_MAX_PARTITIONS
    if not 1 <= partitions <= maximum:
        problems["partitions"] = f"partitions must be between 1 and {maximum}"
    clean: dict[str, str] = {}
    try:
        clean = validate_topic_configs(configs)
        if "name" not in problems:
            check_guardrails(name, clean)
    except InvalidRequest as exc:
        problems["configs"] = exc.fields or {"configs": exc.message}
    if replication_factor < 1:
        problems["replication_factor"] = "replication factor must be at least 1"
    elif not problems:
        brokers = broker_count(cluster)
        if replication_factor > brokers:
            problems["replication_factor"] = (
                f"replication factor {replication_factor} is more than the {brokers} broker(s) of cluster `{cluster}`"
            )
    if problems:
        raise InvalidRequest(_summary("Cannot create the topic", problems), fields=problems)
    existing = topic_metadata(cluster)
    listing.store_index(cluster, existing)
    names = [t.name for t in existing]
    if name in names:
        raise Conflict(
            f"topic `{name}` already exists on cluster `{cluster}`", fields={"name": f"topic `{name}` already exists"}
        )
    if other := _collision(name, names):
        message = (
            f"`{name}` collides with the existing topic `{other}`: Kafka treats `.` and `_` alike in metric names, "
            "so it refuses topics that differ only by them"
        )
        raise InvalidRequest(message, fields={"name": message})
    after = {"partitions": partitions, "replication_factor": replication_factor, "configs": clean}
    if settings.KAFKA_VALIDATE_ONLY_FIRST:
        gateway.create_topic(
            cluster,
            name,
            partitions=partitions,
            replication_factor=replication_factor,
            configs=clean,
            validate_only=True,
        )
    with audited(user=user, action="topic.create", cluster=cluster, target=name, request=request) as change:
        gateway.create_topic(cluster, name, partitions=partitions, replication_factor=replication_factor, configs=clean)
        change.after = after
    listing.invalidate(cluster)
    return {"name": name, **after}


def _summary(prefix: str, problems: Mapping[str, Any]) -> str:
    parts: list[str] = []
    for value in problems.values():
        if isinstance(value, Mapping):
            parts.extend(str(v) for v in value.values())
        else:
            parts.append(str(value))
    return f"{prefix}: " + "; ".join(parts)


def topic_configure(
    *,
    user: Any,
    cluster: str,
    topic: str,
    set_values: Mapping[str, object],
    delete: Sequence[str] = (),
    dry_run: bool = False,
    request: HttpRequest | None = None,
) -> list[ConfigChange]:
    """Validate every value (human units accepted), then one incremental alter; the changes made.

    With dry_run the changes are computed and returned, nothing is applied or audited.
    """
    require_topic_role(user, cluster, topic, Role.OPERATOR, change=True)
    problems: dict[str, str] = {}
    try:
        clean = validate_topic_configs(set_values)
    except InvalidRequest as exc:
        clean = {}
        problems.update(exc.fields)
    for key in delete:
        if key not in SPECS:
            problems[key] = f"unknown topic config `{key}`"
        elif key in set_values:
            problems[key] = f"{key} cannot be both set and reverted to its default"
    if not problems and not clean and not delete:
        raise InvalidRequest("Nothing to change: give at least one config")
    if not problems:
        try:
            guarded = dict(clean)
            if "retention.ms" in delete and SPECS["retention.ms"].default is not None:
                # Reverting means Kafka's default retention, which must also respect the policy.
                guarded["retention.ms"] = SPECS["retention.ms"].default
            check_guardrails(topic, guarded)
        except InvalidRequest as exc:
            problems.update(exc.fields)
    if problems:
        raise InvalidRequest(_summary("Invalid topic configs", problems), fields=problems)
    _require_topic(cluster, topic)
    current = gateway.describe_topic_configs(cluster, [topic]).get(topic, {})

    def now(key: str) -> str | None:
        entry = current.get(key)
        return entry.value if entry else None

    changes = [ConfigChange(k, now(k), v) for k, v in clean.items()]
    changes += [ConfigChange(k, now(k), None) for k in delete]
    if dry_run:
        return changes
    before = {c.name: c.before for c in changes}
    after = {c.name: c.after for c in changes}
    with audited(
        user=user, action="topic.configure", cluster=cluster, target=topic, before=before, request=request
    ) as change:
        gateway.alter_topic_configs(cluster, topic, set_values=clean, delete=list(delete))
        change.after = after
    listing.invalidate(cluster)
    return changes


def topic_add_partitions(*, user: Any, cluster: str, topic: str, total: int, request: HttpRequest | None = None) -> int:
    """Grow the topic to `total` partitions; returns the new count."""
    require_topic_role(user, cluster, topic, Role.OPERATOR, change=True)
    meta = _require_topic(cluster, topic)
    current = len(meta.partitions)
    maximum = settings.TOPIC_MAX_PARTITIONS
    if total <= current:
        message = f"the topic has {current} partitions; the new total must be more (Kafka cannot remove partitions)"
        raise InvalidRequest(message, fields={"total": message})
    if total > maximum:
        message = f"at most {maximum} partitions"
        raise InvalidRequest(message, fields={"total": message})
    with audited(
        user=user,
        action="topic.add_partitions",
        cluster=cluster,
        target=topic,
        before={"partitions": current},
        request=request,
    ) as change:
        gateway.create_partitions(cluster, topic, total)
        change.after = {"partitions": total}
    listing.invalidate(cluster)
    return total


def topic_delete(*, user: Any, cluster: str, topic: str, confirm_name: str, request: HttpRequest | None = None) -> None:
    """Delete the topic, only when the caller typed its name."""
    require_topic_role(user, cluster, topic, Role.ADMIN, change=True)
    if (confirm_name or "").strip() != topic:
        message = f"type the topic name `{topic}` to confirm"
        raise InvalidRequest(f"Not deleted: {message}", fields={"confirm": message})
    meta = _require_topic(cluster, topic)
    configs = gateway.describe_topic_configs(cluster, [topic]).get(topic, {})
    before = {
        "partitions": len(meta.partitions),
        "replication_factor": meta.replication_factor,
        "configs": {k: v.value for k, v in configs.items() if not v.sensitive},
    }
    # Its live tails in every web process close first: a consumer whose topic is deleted under
    # it can take its process down (backbone_admin/broadcast.py says when).
    with (
        audited(user=user, action="topic.delete", cluster=cluster, target=topic, before=before, request=request),
        broadcast.tails_closed(cluster, topic),
    ):
        gateway.delete_topic(cluster, topic)
    listing.invalidate(cluster)
