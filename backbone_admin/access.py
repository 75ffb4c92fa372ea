"""Who may do what on which cluster, topic and consumer group: the one place that decides.

A user's access is the highest of
- the global role (a Django group named after the role; a superuser is an admin),
- a ClusterGrant (a role on one cluster),
- every Grant naming the user, or naming a glob that matches one of the user's directory
  groups (recorded at each OIDC or LDAP sign-in). A Grant without patterns covers its
  clusters whole; one with topic or consumer-group patterns covers only what they match.

Visibility follows: a topic is visible when some role applies to it; an invisible topic is
answered exactly as a topic that does not exist. A consumer group is visible when a group
pattern matches it, or when it has committed offsets on a visible topic (its readers may see
how far it got); without a group pattern that grants more, such a group is only viewed.

    access = access_for(request.user)
    access.topic_role("local", "orders.eu")     # "reader"
    access.visible_topic_names("local", names)  # the names the user may see, in order
    access.explain("local", topic="payroll")   # every rule and whether it applies
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import Group

from backbone_admin.models import ClusterGrant, DirectoryGroups, Grant, Role
from backbone_admin.patterns import Pattern, compile_glob, compile_topic_pattern, compile_union

ROLE_NAMES = [r.value for r in Role]
ROLES_HIGH_FIRST = sorted(ROLE_NAMES, key=Role.rank, reverse=True)


def best(*roles: str | None) -> str | None:
    return max(roles, key=Role.rank, default=None)


@dataclass(frozen=True)
class Rule:
    """One source of a role: the global role, a cluster grant, or a Grant."""

    source: str  # "global role", "cluster grant", "grant"
    role: str
    cluster: str = ""  # "" = every cluster
    topics: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    grant_id: int | None = None
    via: str = ""  # how it reaches the user: "user alice", "group kafka-* (member of kafka-orders)"

    @property
    def scoped(self) -> bool:
        return bool(self.topics or self.groups)

    def on_cluster(self, cluster: str) -> bool:
        return not self.cluster or self.cluster == cluster

    def describe(self) -> str:
        where = f"cluster {self.cluster}" if self.cluster else "every cluster"
        parts = []
        if self.topics:
            parts.append("topics " + ", ".join(self.topics))
        if self.groups:
            parts.append("consumer groups " + ", ".join(self.groups))
        scope = f" ({'; '.join(parts)})" if parts else ""
        ident = f" #{self.grant_id}" if self.grant_id else ""
        return f"{self.source}{ident}: {self.role} on {where}{scope}, via {self.via}"


@functools.lru_cache(maxsize=2048)
def _pattern(text: str) -> Pattern:
    return compile_topic_pattern(text, field="pattern")


@functools.lru_cache(maxsize=512)
def _union(patterns: tuple[str, ...]) -> Pattern:
    return compile_union(patterns)


def _matches(patterns: tuple[str, ...], name: str) -> bool:
    return bool(patterns) and _union(patterns).fullmatch(name)


@dataclass
class Access:
    """One user's rules, read once per request (cached on the user object)."""

    username: str
    rules: list[Rule] = field(default_factory=list)
    directory_groups: list[str] = field(default_factory=list)

    # -- clusters --------------------------------------------------------------------------

    def global_role(self) -> str | None:
        return best(*(r.role for r in self.rules if not r.cluster and not r.scoped))

    def cluster_role(self, cluster: str) -> str | None:
        """The role on the whole cluster: from rules without resource patterns."""
        return best(*(r.role for r in self.rules if r.on_cluster(cluster) and not r.scoped))

    def sees_cluster(self, cluster: str) -> bool:
        return any(r.on_cluster(cluster) for r in self.rules)

    def has_any_access(self) -> bool:
        return bool(self.rules)

    def scoped_rules(self, cluster: str) -> list[Rule]:
        return [r for r in self.rules if r.on_cluster(cluster) and r.scoped]

    # -- topics ----------------------------------------------------------------------------

    def topic_role(self, cluster: str, topic: str) -> str | None:
        role = self.cluster_role(cluster)
        for rule in self.scoped_rules(cluster):
            if Role.rank(rule.role) > Role.rank(role) and _matches(rule.topics, topic):
                role = rule.role
        return role

    def topic_roles(self, cluster: str) -> Callable[[str], str | None]:
        """A fast `name -> role` for many topics: one RE2 union per role, highest first."""
        base = self.cluster_role(cluster)
        by_role: dict[str, list[str]] = {}
        for rule in self.scoped_rules(cluster):
            if rule.topics and Role.rank(rule.role) > Role.rank(base):
                by_role.setdefault(rule.role, []).extend(rule.topics)
        unions = [(role, _union(tuple(sorted(set(by_role[role]))))) for role in ROLES_HIGH_FIRST if role in by_role]

        def role_of(name: str) -> str | None:
            for role, union in unions:
                if union.fullmatch(name):
                    return role
            return base

        return role_of

    def all_topics_visible(self, cluster: str) -> bool:
        return self.cluster_role(cluster) is not None

    def visible_topic_names(self, cluster: str, names: Iterable[str]) -> list[str]:
        if self.all_topics_visible(cluster):
            return list(names)
        role_of = self.topic_roles(cluster)
        return [n for n in names if role_of(n) is not None]

    # -- consumer groups -------------------------------------------------------------------

    def group_role(self, cluster: str, group: str, topics: Iterable[str] = ()) -> str | None:
        """The role on a consumer group; `topics` are the topics it has committed offsets on."""
        role = self.cluster_role(cluster)
        for rule in self.scoped_rules(cluster):
            if Role.rank(rule.role) > Role.rank(role) and _matches(rule.groups, group):
                role = rule.role
        if role is None:
            role_of = self.topic_roles(cluster)
            if any(role_of(t) is not None for t in topics):
                role = Role.VIEWER.value
        return role

    def all_groups_visible(self, cluster: str) -> bool:
        return self.cluster_role(cluster) is not None

    # -- explaining ------------------------------------------------------------------------

    def explain(self, cluster: str, *, topic: str | None = None, group: str | None = None) -> list[dict[str, Any]]:
        """Every rule of the user with whether it applies to the cluster/topic/group asked about."""
        out = []
        for rule in self.rules:
            applies = rule.on_cluster(cluster)
            why = "" if applies else f"it is for cluster {rule.cluster}"
            if applies and rule.scoped:
                if topic is not None:
                    applies = _matches(rule.topics, topic)
                    why = "" if applies else f"no topic pattern matches `{topic}`"
                elif group is not None:
                    applies = _matches(rule.groups, group)
                    why = "" if applies else f"no consumer-group pattern matches `{group}`"
                else:
                    why = "it covers only the topics and groups its patterns match"
            out.append(
                {"rule": rule.describe(), "role": rule.role, "applies": applies, "why_not": why, "grant": rule.grant_id}
            )
        return out


def _group_glob(subject: str) -> Pattern:
    return compile_glob(subject, field="subject")


def directory_groups_of(user: Any) -> list[str]:
    row = DirectoryGroups.objects.filter(user=user).values_list("groups", flat=True).first()
    local = [g for g in user.groups.values_list("name", flat=True) if g not in ROLE_NAMES]
    return sorted(set(row or []) | set(local))


def _build(user: Any) -> Access:
    access = Access(username=user.get_username() if user and user.is_authenticated else "")
    if not user or not user.is_authenticated or not user.is_active:
        return access
    name = user.get_username()
    if user.is_superuser:
        access.rules.append(Rule("global role", Role.ADMIN.value, via="superuser"))
    for role in user.groups.filter(name__in=ROLE_NAMES).values_list("name", flat=True):
        access.rules.append(Rule("global role", role, via=f"user {name}"))
    for cluster, role in ClusterGrant.objects.filter(user=user).values_list("cluster", "role"):
        access.rules.append(Rule("cluster grant", role, cluster=cluster, via=f"user {name}"))
    access.directory_groups = directory_groups_of(user)
    for grant in Grant.objects.all():
        if grant.subject_type == Grant.Subject.USER:
            if grant.subject != name:
                continue
            via = f"user {name}"
        else:
            glob = _group_glob(grant.subject)
            member = next((g for g in access.directory_groups if glob.fullmatch(g)), None)
            if member is None:
                continue
            via = f"group {grant.subject}" + (f" (member of {member})" if member != grant.subject else "")
        access.rules.append(
            Rule(
                "grant",
                grant.role,
                cluster=grant.cluster,
                topics=tuple(grant.topics or ()),
                groups=tuple(grant.groups or ()),
                grant_id=grant.pk,
                via=via,
            )
        )
    return access


def access_for(user: Any) -> Access:
    cached = getattr(user, "_backbone_access", None)
    if cached is None:
        cached = _build(user)
        if user is not None:
            with contextlib.suppress(AttributeError):  # an object without attributes: rebuilt each time
                user._backbone_access = cached
    return cached


def forget(user: Any) -> None:
    for attr in ("_backbone_access", "_backbone_roles"):
        if hasattr(user, attr):
            delattr(user, attr)


def has_any_access(user: Any) -> bool:
    return access_for(user).has_any_access()


def set_directory_groups(user: Any, groups: Iterable[str], source: str) -> None:
    """Record the groups a sign-in reported (replacing the last ones): grants follow at once."""
    clean = sorted({str(g).strip() for g in groups if str(g).strip()})
    DirectoryGroups.objects.update_or_create(user=user, defaults={"groups": clean, "source": source})
    forget(user)


def validate_patterns(patterns: Iterable[str], field_name: str) -> list[str]:
    """Patterns as typed, each checked (glob or `re:` regex on RE2); PatternError names the field."""
    out = []
    for text in patterns:
        text = text.strip()
        if text:
            _pattern(text)
            out.append(text)
    return out


def local_groups() -> list[str]:
    return list(Group.objects.exclude(name__in=ROLE_NAMES).values_list("name", flat=True))
