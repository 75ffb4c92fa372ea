"""The one permission helper used by views, the API and websocket consumers."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group

from backbone_admin.clusters import ClusterConfig
from backbone_admin.kafka import errors
from backbone_admin.kafka.client import require_cluster
from backbone_admin.models import ClusterGrant, Role

ROLE_NAMES = [r.value for r in Role]


def _roles(user: Any) -> tuple[str | None, dict[str, str]]:
    """(global role, per-cluster grants), read once per user object."""
    cached = getattr(user, "_backbone_roles", None)
    if cached is not None:
        return cached
    if not user or not user.is_authenticated or not user.is_active:
        result: tuple[str | None, dict[str, str]] = (None, {})
    elif user.is_superuser:
        result = (Role.ADMIN.value, {})
    else:
        names = set(user.groups.filter(name__in=ROLE_NAMES).values_list("name", flat=True))
        best = max(names, key=Role.rank, default=None)
        grants = dict(ClusterGrant.objects.filter(user=user).values_list("cluster", "role"))
        result = (best, grants)
    user._backbone_roles = result
    return result


def role_on(user: Any, cluster: str) -> str | None:
    """The user's effective role on a cluster: the higher of global role and grant."""
    global_role, grants = _roles(user)
    return max([global_role, grants.get(cluster)], key=Role.rank)


def has_role(user: Any, cluster: str, role: str) -> bool:
    return Role.rank(role_on(user, cluster)) >= Role.rank(role)


def visible_clusters(user: Any, clusters: list[ClusterConfig]) -> list[ClusterConfig]:
    return [c for c in clusters if has_role(user, c.name, Role.VIEWER)]


def require_role(user: Any, cluster_name: str, role: str, *, change: bool = False) -> ClusterConfig:
    """Return the cluster if the user holds `role` on it; raise otherwise.

    An unknown cluster and one the user may not even view both answer 404, so cluster
    names do not leak. `change=True` also refuses read-only clusters whatever the role.
    """
    cluster = require_cluster(cluster_name)
    current = role_on(user, cluster.name)
    if current is None:
        raise errors.ClusterNotFound(f"cluster `{cluster_name}` is not configured")
    if Role.rank(current) < Role.rank(role):
        raise errors.PermissionDenied(f"this needs the {role} role on cluster `{cluster.name}`; you are {current}")
    if change and cluster.read_only:
        raise errors.ReadOnlyCluster(f"cluster `{cluster.name}` is read-only: changes are refused")
    return cluster


def has_global_role(user: Any, role: str) -> bool:
    return Role.rank(_roles(user)[0]) >= Role.rank(role)


def require_global_role(user: Any, role: str) -> None:
    global_role, _ = _roles(user)
    if not has_global_role(user, role):
        raise errors.PermissionDenied(f"this needs the {role} role; you are {global_role or 'without a role'}")


def _forget_roles(user: Any) -> None:
    if hasattr(user, "_backbone_roles"):
        del user._backbone_roles


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
