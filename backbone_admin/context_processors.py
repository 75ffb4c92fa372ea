from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from backbone_admin.access import access_for
from backbone_admin.clusters import all_clusters, default_cluster_name
from backbone_admin.models import Role
from backbone_admin.roles import has_global_role, has_role, role_on, visible_clusters


def current_cluster(request: HttpRequest) -> str:
    """The cluster the page is about: the URL's, else the default one if the user may view it,
    else the first one they may view (so the navigation never points at a cluster they cannot open)."""
    match = getattr(request, "resolver_match", None)
    named = match.kwargs.get("cluster") if match else None
    if named:
        return str(named)
    default = default_cluster_name()
    if has_role(request.user, default, Role.VIEWER):
        return default
    visible = visible_clusters(request.user, all_clusters())
    return visible[0].name if visible else default


def console(request: HttpRequest) -> dict[str, Any]:
    """The cluster switcher and the user's role, for the base template."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    current = current_cluster(request)
    return {
        "clusters": visible_clusters(user, all_clusters()),
        "current_cluster": current,
        "current_role": role_on(user, current),
        # A user whose grants cover some topics or groups of the cluster has no role on all of it.
        "current_role_label": role_on(user, current)
        or ("some topics" if access_for(user).sees_cluster(current) else "no role"),
        "is_global_admin": has_global_role(user, Role.ADMIN),
    }
