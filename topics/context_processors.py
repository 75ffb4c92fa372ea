from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from backbone_admin.context_processors import current_cluster
from backbone_admin.models import Role
from backbone_admin.roles import has_role
from topics.retention.apply import drift_cached


def retention_drift(request: HttpRequest) -> dict[str, Any]:
    """The navigation's drift badge: topics drifting from their policy on the current cluster.

    Only for a user who may view that cluster: the count says something about its topics.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    cluster = current_cluster(request)
    if not has_role(user, cluster, Role.VIEWER):
        return {}
    # Kept fresh by the retention drift beat task (topics.tasks) and by the pages that count drift
    # (compliance): the badge shows the number the last of them saw. None until one ran, or Redis is down.
    return {"drift_count": drift_cached(cluster)}
