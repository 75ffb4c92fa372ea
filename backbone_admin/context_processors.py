from __future__ import annotations

from typing import Any

from django.core.cache import cache
from django.http import HttpRequest

from backbone_admin.clusters import all_clusters, default_cluster_name
from backbone_admin.models import Role
from backbone_admin.roles import has_global_role, role_on, visible_clusters
from topics.retention_apply import drift_cache_key


def console(request: HttpRequest) -> dict[str, Any]:
    """The cluster switcher and the user's role, for the base template."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    match = getattr(request, "resolver_match", None)
    current = (match.kwargs.get("cluster") if match else None) or default_cluster_name()
    try:
        # Kept fresh by the retention drift beat task (topics.tasks); absent until it ran.
        drift_count = cache.get(drift_cache_key(current))
    except Exception:  # noqa: BLE001 - a page must render while Redis is down
        drift_count = None
    return {
        "clusters": visible_clusters(user, all_clusters()),
        "current_cluster": current,
        "current_role": role_on(user, current),
        "is_global_admin": has_global_role(user, Role.ADMIN),
        "drift_count": drift_count,
    }
