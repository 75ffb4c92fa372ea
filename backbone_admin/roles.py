"""The one permission helper used by views, the API and websocket consumers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NoReturn

from django.contrib.auth.models import Group

from backbone_admin.access import ROLE_NAMES, access_for, forget
from backbone_admin.clusters import ClusterConfig
from backbone_admin.kafka import errors
from backbone_admin.kafka.client import require_cluster
from backbone_admin.models import ClusterGrant, Role

__all__ = ["ROLE_NAMES", "access_for"]


def role_on(user: Any, cluster: str) -> str | None:
    """The user's role on the whole cluster (global role, cluster grants, unscoped grants)."""
    return access_for(user).cluster_role(cluster)


def has_role(user: Any, cluster: str, role: str) -> bool:
    return Role.rank(role_on(user, cluster)) >= Role.rank(role)


def visible_clusters(user: Any, clusters: list[ClusterConfig]) -> list[ClusterConfig]:
    """The clusters the user sees at all: a role on the cluster or on some of its resources."""
    access = access_for(user)
    return [c for c in clusters if access.sees_cluster(c.name)]


def _refuse(needed: str, current: str | None, what: str) -> NoReturn:
    raise errors.PermissionDenied(
        f"this needs the {needed} role on {what}; you are {current or 'without a role there'}"
    )


def require_role(user: Any, cluster_name: str, role: str, *, change: bool = False) -> ClusterConfig:
    """Return the cluster if the user holds `role` on the whole of it; raise otherwise.

    An unknown cluster and one the user sees nothing of both answer 404, so cluster names do
    not leak. `change=True` also refuses read-only clusters whatever the role.
    """
    cluster = require_cluster_visible(user, cluster_name)
    current = role_on(user, cluster.name)
    if Role.rank(current) < Role.rank(role):
        _refuse(role, current, f"cluster `{cluster.name}`")
    if change and cluster.read_only:
        raise errors.ReadOnlyCluster(f"cluster `{cluster.name}` is read-only: changes are refused")
    return cluster


def require_cluster_visible(user: Any, cluster_name: str) -> ClusterConfig:
    """The cluster if the user sees anything on it (lists are then filtered); 404 otherwise."""
    cluster = require_cluster(cluster_name)
    if not access_for(user).sees_cluster(cluster.name):
        raise errors.ClusterNotFound(f"cluster `{cluster_name}` is not configured")
    return cluster


def topic_not_found(cluster_name: str, topic: str) -> errors.TopicNotFound:
    """The answer for a topic the user may not see: word for word the one for a missing topic."""
    return errors.TopicNotFound(f"topic `{topic}` does not exist on cluster `{cluster_name}`")


def group_not_found(cluster_name: str, group: str) -> errors.GroupNotFound:
    return errors.GroupNotFound(f"consumer group `{group}` does not exist on cluster `{cluster_name}`")


def require_topic_role(user: Any, cluster_name: str, topic: str, role: str, *, change: bool = False) -> ClusterConfig:
    """The cluster if the user holds `role` on `topic`; a topic the user may not see is a 404
    exactly like a missing one, a visible topic without the role a 403 naming the role needed."""
    cluster = require_cluster_visible(user, cluster_name)
    current = access_for(user).topic_role(cluster.name, topic)
    if current is None:
        raise topic_not_found(cluster.name, topic)
    if Role.rank(current) < Role.rank(role):
        _refuse(role, current, f"topic `{topic}`")
    if change and cluster.read_only:
        raise errors.ReadOnlyCluster(f"cluster `{cluster.name}` is read-only: changes are refused")
    return cluster


def has_topic_role(user: Any, cluster: str, topic: str, role: str) -> bool:
    return Role.rank(access_for(user).topic_role(cluster, topic)) >= Role.rank(role)


def require_group_role(
    user: Any, cluster_name: str, group: str, role: str, *, topics: Iterable[str] = (), change: bool = False
) -> ClusterConfig:
    """As require_topic_role for a consumer group; `topics` are those it has committed offsets
    on (a group reading a visible topic is visible)."""
    cluster = require_cluster_visible(user, cluster_name)
    current = access_for(user).group_role(cluster.name, group, topics)
    if current is None:
        raise group_not_found(cluster.name, group)
    if Role.rank(current) < Role.rank(role):
        _refuse(role, current, f"consumer group `{group}`")
    if change and cluster.read_only:
        raise errors.ReadOnlyCluster(f"cluster `{cluster.name}` is read-only: changes are refused")
    return cluster


def has_global_role(user: Any, role: str) -> bool:
    return Role.rank(access_for(user).global_role()) >= Role.rank(role)


def require_global_role(user: Any, role: str) -> None:
    global_role = access_for(user).global_role()
    if not has_global_role(user, role):
        raise errors.PermissionDenied(f"this needs the {role} role; you are {global_role or 'without a role'}")


def _forget_roles(user: Any) -> None:
    forget(user)


def assign_role(user: Any, role: str | None, *, cluster: str | None = None) -> None:
    """Give the user a global role (replacing the old one; None = no global role) or a grant
    on one cluster.

    A global role below admin also clears Django's superuser and staff flags: a superuser is an
    admin whatever its groups, so a demotion that kept them would change nothing.
    """
    if role is not None:
        Role(role)  # raises ValueError for an unknown role
    if cluster:
        if role is None:
            raise ValueError("a cluster grant needs a role; use remove_cluster_grant to take one away")
        ClusterGrant.objects.update_or_create(user=user, cluster=cluster, defaults={"role": role})
    else:
        user.groups.remove(*Group.objects.filter(name__in=ROLE_NAMES))
        if role is not None:
            group, _ = Group.objects.get_or_create(name=role)
            user.groups.add(group)
        if Role.rank(role) < Role.rank(Role.ADMIN) and (user.is_superuser or user.is_staff):
            user.is_superuser = user.is_staff = False
            user.save(update_fields=["is_superuser", "is_staff"])
    _forget_roles(user)


def remove_cluster_grant(user: Any, cluster: str) -> bool:
    """Take away the user's grant on one cluster; False if there was none."""
    deleted, _ = ClusterGrant.objects.filter(user=user, cluster=cluster).delete()
    _forget_roles(user)
    return deleted > 0


def access_summary(user: Any) -> dict[str, Any]:
    """What the audit log records before and after a change of someone's access."""
    names = set(user.groups.filter(name__in=ROLE_NAMES).values_list("name", flat=True))
    return {
        "role": max(names, key=Role.rank, default=None),
        "superuser": user.is_superuser,
        "staff": user.is_staff,
        "active": user.is_active,
        "grants": dict(ClusterGrant.objects.filter(user=user).order_by("cluster").values_list("cluster", "role")),
    }
