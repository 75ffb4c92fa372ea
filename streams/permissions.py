"""Who may read, write and follow what in the streams app: each decision per topic.

Events (browse, search, tail, produce, replays, exports) need a role on THE TOPIC
(`roles.require_topic_role`): a topic the user may not see answers exactly as a missing one
(404), a visible one without the role a 403 naming the role. Masking follows the role on the
topic too: an admin of a topic (through any grant) sees its events unmasked, everyone below
admin there sees them masked.

A job is seen only by those who see every topic it touches: its source and, for a replay,
its target. Its owner included: a job whose topic became hidden to its owner is a 404 for
them, as a missing job is (admins see every job, since they see every topic).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from backbone_admin.access import access_for
from backbone_admin.clusters import ClusterConfig
from backbone_admin.kafka import PermissionDenied
from backbone_admin.models import Role
from backbone_admin.roles import has_topic_role, require_topic_role

TopicRoles = Callable[[str, str], str | None]


def require_reader(user: Any, cluster: str, topic: str) -> ClusterConfig:
    """The cluster, if the user may read the topic's events (viewers may not: 403 saying so)."""
    try:
        return require_topic_role(user, cluster, topic, Role.READER)
    except PermissionDenied as exc:
        if type(exc) is not PermissionDenied:
            raise
        raise PermissionDenied(
            f"Event contents need the reader role on topic `{topic}`: viewers see topics and "
            "their metadata, not the events in them. Ask an admin for the reader role."
        ) from None


def masked_for(user: Any, cluster: str, topic: str) -> bool:
    """Masking applies to everyone below admin on the topic."""
    return not has_topic_role(user, cluster, topic, Role.ADMIN)


def reads_somewhere(user: Any, cluster: str) -> bool:
    """Whether the user may read events of some topic of the cluster (the key timeline's door)."""
    return _holds_somewhere(user, cluster, Role.READER)


def operates_somewhere(user: Any, cluster: str) -> bool:
    """Whether the user is an operator of some topic of the cluster (a replay target to offer)."""
    return _holds_somewhere(user, cluster, Role.OPERATOR)


def _holds_somewhere(user: Any, cluster: str, role: str) -> bool:
    access = access_for(user)
    if Role.rank(access.cluster_role(cluster)) >= Role.rank(role):
        return True
    return any(r.topics and Role.rank(r.role) >= Role.rank(role) for r in access.scoped_rules(cluster))


def topic_roles(user: Any) -> TopicRoles:
    """A `(cluster, topic) -> role` for many look-ups (one RE2 union per role and cluster)."""
    access = access_for(user)
    per_cluster: dict[str, Callable[[str], str | None]] = {}

    def role_of(cluster: str, topic: str) -> str | None:
        if cluster not in per_cluster:
            per_cluster[cluster] = access.topic_roles(cluster)
        return per_cluster[cluster](topic)

    return role_of


def sees_every_topic(user: Any, clusters: Iterable[str]) -> bool:
    access = access_for(user)
    return all(access.all_topics_visible(c) for c in clusters)


def job_topics_visible(
    role_of: TopicRoles, *, cluster: str, topic: str, kind: str, target_cluster: str | None, target_topic: str | None
) -> bool:
    """Whether every topic a job touches is visible (its source; a replay's target too)."""
    if role_of(cluster, topic) is None:
        return False
    if kind == "replay" and target_topic:
        return role_of(target_cluster or cluster, target_topic) is not None
    return True
