"""Why a user may or may not do something: every rule of the user, whether it applies, and the
effective role; and a user's own view of their access ("My access")."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from backbone_admin.access import Access, access_for, forget
from backbone_admin.clusters import all_clusters, get_cluster
from backbone_admin.kafka.errors import BackboneError, InvalidRequest
from backbone_admin.kafka.groups import committed_offsets
from backbone_admin.models import DirectoryGroups, Role

# What each role adds, for the answer "what may the user do here".
MAY = {
    Role.VIEWER.value: "see metadata (topics, partitions, configs, consumer groups and their lag)",
    Role.READER.value: "read events (messages, search, live tail, key timeline)",
    Role.OPERATOR.value: "change configs, produce, replay, rewind and export",
    Role.ADMIN.value: "delete topics and consumer groups",
}


def abilities(role: str | None) -> list[str]:
    return [text for name, text in MAY.items() if role and Role.rank(name) <= Role.rank(role)]


def directory_record(user: Any) -> dict[str, Any]:
    """The directory groups the last sign-in reported, where from and when (None: never recorded)."""
    row = DirectoryGroups.objects.filter(user=user).first()
    return {
        "groups": list(row.groups) if row else [],
        "source": row.source if row else None,
        "recorded_at": row.updated_at if row else None,
    }


def _user(username: str) -> Any:
    if not username.strip():
        raise InvalidRequest("name the user to explain", fields={"user": "a username"})
    user = get_user_model().objects.filter(username=username.strip()).first()
    if user is None:
        # A query parameter naming nobody is bad input (400), as an unknown cluster is.
        raise InvalidRequest(f"no user named `{username.strip()}`", fields={"user": "no such user"})
    return user


def group_topics(cluster: str, group: str) -> tuple[list[str], str]:
    """The topics a group has committed offsets on (they make it visible), or why they are unknown."""
    try:
        offsets = committed_offsets(cluster, [group]).get(group, {})
    except BackboneError as exc:
        return [], f"its committed offsets could not be read ({exc.message}): judged on its name alone"
    return sorted({t for t, _ in offsets}), ""


def _verdict(access: Access, cluster: str, topic: str, group: str, reads: list[str]) -> tuple[str | None, str]:
    if topic:
        role = access.topic_role(cluster, topic)
        what = f"topic `{topic}`"
    elif group:
        role = access.group_role(cluster, group, reads)
        what = f"consumer group `{group}`"
        named = access.group_role(cluster, group)
        if role is not None and named is None:
            seen = [t for t in reads if access.topic_role(cluster, t) is not None]
            return role, f"{access.username} views {what}: it has committed offsets on `{seen[0]}`, a topic they see"
    else:
        role = access.cluster_role(cluster)
        what = f"the whole of cluster `{cluster}`"
    if role is not None:
        return role, f"{access.username} is {role} on {what}"
    if topic or group:
        hidden = f"{what} is hidden from {access.username}: it answers 404, as if it did not exist"
        return None, hidden
    if access.sees_cluster(cluster):
        return None, f"{access.username} has no role on the whole cluster, only on the resources the rules below match"
    return None, f"{access.username} does not see cluster `{cluster}` at all (404)"


def explain_access(*, username: str, cluster: str, topic: str = "", group: str = "") -> dict[str, Any]:
    """What may `username` do on the cluster (or on one topic or consumer group of it), and which rule says so."""
    for name, value in (("user", username), ("cluster", cluster), ("topic", topic), ("group", group)):
        if "\x00" in value or len(value) > 255:
            raise InvalidRequest(f"{name}: at most 255 characters, no NUL", fields={name: "at most 255 characters"})
    user = _user(username)
    cluster = cluster.strip()
    if get_cluster(cluster) is None:
        raise InvalidRequest(f"cluster `{cluster}` is not configured", fields={"cluster": "not a configured cluster"})
    topic, group = topic.strip(), group.strip()
    forget(user)
    access = access_for(user)
    reads, note = group_topics(cluster, group) if group and not topic else ([], "")
    role, verdict = _verdict(access, cluster, topic, group, reads)
    return {
        "user": user.get_username(),
        "active": user.is_active,
        "cluster": cluster,
        "topic": topic or None,
        "group": None if topic else group or None,
        "role": role,
        "verdict": verdict,
        "group_reads": reads,
        "note": note,
        "may": abilities(role),
        "rules": access.explain(cluster, topic=topic or None, group=None if topic else group or None),
        "directory_groups": access.directory_groups,
        "directory": directory_record(user),
    }


def my_access(user: Any) -> dict[str, Any]:
    """The user's own roles per cluster and the rules behind them: never anybody else's grants."""
    access = access_for(user)
    clusters = []
    for config in all_clusters():
        if not access.sees_cluster(config.name):
            continue
        role = access.cluster_role(config.name)
        scoped = access.scoped_rules(config.name)
        # Without a role on the whole cluster: what the best rule allows where its patterns match.
        best_scoped = max((r.role for r in scoped), key=Role.rank, default=None)
        clusters.append(
            {
                "name": config.name,
                "read_only": config.read_only,
                "role": role,
                "may": abilities(role or best_scoped),
                "scoped": [r.describe() for r in scoped],
            }
        )
    return {
        "username": access.username,
        "has_access": access.has_any_access(),
        "clusters": clusters,
        "rules": [r.describe() for r in access.rules],
        "directory_groups": access.directory_groups,
        "directory": directory_record(user),
    }
