from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from backbone_admin.access import access_for
from backbone_admin.context_processors import current_cluster
from topics.retention.apply import drift_count_for


def retention_drift(request: HttpRequest) -> dict[str, Any]:
    """The navigation's drift badge: topics drifting from their policy on the current cluster.

    Only for a user who sees that cluster, and only over the topics they see: the count says
    something about them.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    cluster = current_cluster(request)
    if not access_for(user).sees_cluster(cluster):
        return {}
    # Kept fresh by the retention drift beat task (topics.tasks) and by the pages that count drift
    # (compliance): the badge shows the number the last of them saw. None until one ran, or Redis is down.
    return {"drift_count": drift_count_for(user, cluster)}
