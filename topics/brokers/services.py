"""Broker configs: read them with their sources, change them per broker or cluster-wide, audited."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from backbone_admin.audit import audited
from backbone_admin.kafka import BrokerInfo, InvalidRequest, NotFound
from backbone_admin.kafka.brokers import BrokerConfig, alter_broker_configs, describe_broker_configs
from backbone_admin.kafka.cluster import describe_brokers
from backbone_admin.models import Role
from backbone_admin.roles import require_role
from topics.brokers import values

DEFAULT = "default"  # the URL segment of the cluster-wide default
MAX_CHANGES = 100


@dataclass(frozen=True)
class Target:
    """One broker (`broker` is its id) or the cluster-wide default (`broker` is None)."""

    broker: int | None
    reference: int | None  # the broker whose configs are read (for the default: the controller)
    brokers: tuple[BrokerInfo, ...]

    @property
    def slug(self) -> str:
        return DEFAULT if self.broker is None else str(self.broker)

    @property
    def label(self) -> str:
        return "the cluster-wide default" if self.broker is None else f"broker {self.broker}"

    @property
    def level(self) -> str:
        """The source a value set here has."""
        return "dynamic_default" if self.broker is None else "dynamic_broker"


def broker_target(cluster: str, slug: str) -> Target:
    """The broker named in a URL (`default`: the cluster-wide default); NotFound for any other name."""
    _cluster_id, controller, brokers = describe_brokers(cluster)
    ids = [b.id for b in brokers]
    if slug == DEFAULT:
        reference = controller if controller in ids else (ids[0] if ids else None)
        return Target(broker=None, reference=reference, brokers=brokers)
    if not slug.isdigit() or int(slug) not in ids:
        shown = slug if len(slug) <= 40 else slug[:40] + "…"
        raise NotFound(
            f"broker `{shown}` is not in cluster `{cluster}` (brokers: {', '.join(map(str, ids)) or 'none'})"
        )
    return Target(broker=int(slug), reference=int(slug), brokers=brokers)


def read_configs(cluster: str, target: Target) -> dict[str, BrokerConfig]:
    """The configs of the target's reference broker, by name ({} when the cluster answers none)."""
    if target.reference is None:
        return {}
    return describe_broker_configs(cluster, target.reference)


@dataclass(frozen=True)
class Row:
    config: BrokerConfig
    value: str | None  # the value at the target's level (the default page: the cluster-wide default)
    shown: str
    source_words: str
    in_force_shown: str  # what applies on the reference broker
    why_not: str  # why the console does not edit it ("" when it does)

    def matches(self, q: str) -> bool:
        q = q.lower()
        texts = (self.config.name, self.shown, self.in_force_shown, "" if self.config.sensitive else self.value or "")
        return any(q in t.lower() for t in texts)

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.config.as_dict(),
            "value": values.HIDDEN if self.config.sensitive else self.value,
            "value_human": self.shown,
            "in_force_human": self.in_force_shown,
            "editable": not self.why_not,
            "not_editable_because": self.why_not or None,
        }


def config_rows(configs: Mapping[str, BrokerConfig], target: Target, q: str = "") -> list[Row]:
    rows = []
    for config in configs.values():
        in_force = values.human(config, config.value)
        if target.broker is None:
            default = config.level("dynamic_default")
            value = default.value if default else None
            shown = values.human(config, value) if default else "not set"
            words = "dynamic cluster-wide default" if default else "—"
        else:
            value, shown, words = config.value, in_force, config.source_words
        row = Row(config, value, shown, words, in_force, values.editable(config))
        if not q or row.matches(q):
            rows.append(row)
    return rows


@dataclass(frozen=True)
class BrokerConfigChange:
    name: str
    before: str | None
    after: str | None  # None: the value set at this level is removed
    before_human: str
    after_human: str
    then: str  # for a removal: what applies afterwards, in words

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "before": self.before,
            "after": self.after,
            "before_human": self.before_human,
            "after_human": self.after_human,
            "then": self.then or None,
        }


def _removal(config: BrokerConfig, target: Target) -> BrokerConfigChange:
    own = config.level(target.level)
    if own is None:
        where = "a cluster-wide default" if target.broker is None else f"a value of its own on broker {target.broker}"
        raise InvalidRequest(f"{config.name} has no {where} to reset", fields={config.name: "nothing to reset"})
    below = config.below(target.level)
    then = f"{below.source_words}: {values.human(config, below.value)}" if below else "Kafka's default"
    if target.broker is None and below is not None:
        then += f" (on broker {target.reference}; each broker's own value or server.properties first)"
    return BrokerConfigChange(config.name, own.value, None, values.human(config, own.value), "reset", then)


def _changes(
    configs: Mapping[str, BrokerConfig], target: Target, set_values: Mapping[str, object], delete: Sequence[str]
) -> list[BrokerConfigChange]:
    problems: dict[str, str] = {}
    changes: list[BrokerConfigChange] = []
    if len(set_values) + len(delete) > MAX_CHANGES:
        raise InvalidRequest(f"at most {MAX_CHANGES} broker configs in one request")
    for name in [*set_values, *delete]:
        config = configs.get(name)
        shown = name if len(name) <= 100 else name[:100] + "…"
        if config is None:
            problems[shown] = f"unknown broker config `{shown}` (not reported by broker {target.reference})"
        elif why := values.editable(config):
            problems[name] = f"{name} is {why}"
        elif name in set_values and name in delete:
            problems[name] = f"{name} cannot be both set and reset"
    if problems:
        raise InvalidRequest("Invalid broker configs: " + "; ".join(problems.values()), fields=problems)
    for name, raw in set_values.items():
        config = configs[name]
        try:
            after = values.parse(config, raw)
        except InvalidRequest as exc:
            problems[name] = exc.message
            continue
        own = config.level(target.level)
        before = own.value if own else None
        before_human = (
            values.human(config, before)
            if own
            else f"not set ({config.source_words}: {values.human(config, config.value)})"
        )
        changes.append(BrokerConfigChange(name, before, after, before_human, values.human(config, after), ""))
    for name in delete:
        try:
            changes.append(_removal(configs[name], target))
        except InvalidRequest as exc:
            problems[name] = exc.message
    if problems:
        raise InvalidRequest("Invalid broker configs: " + "; ".join(problems.values()), fields=problems)
    return changes


def broker_configure(
    *,
    user: Any,
    cluster: str,
    slug: str,
    set_values: Mapping[str, object],
    delete: Sequence[str] = (),
    dry_run: bool = False,
    request: HttpRequest | None = None,
) -> list[BrokerConfigChange]:
    """Check every value against what Kafka reports, then one incremental alter; the changes made.

    With dry_run the changes are computed and returned; nothing is applied or audited.
    """
    require_role(user, cluster, Role.ADMIN, change=True)
    if not set_values and not delete:
        raise InvalidRequest("Nothing to change: give at least one config")
    target = broker_target(cluster, slug)
    changes = _changes(read_configs(cluster, target), target, set_values, delete)
    if dry_run:
        return changes
    with audited(
        user=user,
        action="broker.configure",
        cluster=cluster,
        target=f"broker {target.slug}" if target.broker is not None else "brokers (cluster-wide default)",
        before={c.name: c.before for c in changes},
        request=request,
    ) as change:
        alter_broker_configs(
            cluster,
            target.broker,
            set_values={c.name: c.after for c in changes if c.after is not None},
            delete=[c.name for c in changes if c.after is None],
        )
        change.after = {c.name: c.after for c in changes}
    return changes
