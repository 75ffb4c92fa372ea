from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from backbone_admin.clusters import all_clusters
from backbone_admin.roles import require_cluster_visible, visible_clusters
from backbone_admin.web import backbone_errors
from topics import tiles
from topics.figures import scoped_healths, visible_size
from topics.refresh import health_with_refresh


@backbone_errors
def clusters(request: HttpRequest) -> HttpResponse:
    names = [c.name for c in visible_clusters(request.user, all_clusters())]
    rows, notes = health_with_refresh(request.user, names, refresh=request.GET.get("refresh") == "1")
    rows = scoped_healths(request.user, rows)
    template = "topics/clusters.html#rows" if request.headers.get("HX-Request") else "topics/clusters.html"
    return render(request, template, {"rows": rows, "notes": notes})


@backbone_errors
def overview(request: HttpRequest, cluster: str) -> HttpResponse:
    # Anyone who sees some topic of the cluster; every figure is over the topics they see.
    config = require_cluster_visible(request.user, cluster)
    [health], notes = health_with_refresh(request.user, [config.name], refresh=request.GET.get("refresh") == "1")
    [health] = scoped_healths(request.user, [health])
    template = "topics/overview.html#health" if request.headers.get("HX-Request") else "topics/overview.html"
    context = {
        "cluster": config.public(),
        "health": health,
        "notes": notes,
        # From what the beat keeps (lag samples, the drift count): shown even while the cluster is down.
        "growing": tiles.growing_lag(config.name, user=request.user),
        "drifting": tiles.drifting_topics(config.name, user=request.user),
        # Log-dir sizes over the visible topics; not asked of a cluster known to be down.
        "size": visible_size(request.user, config.name) if health.status != "down" else None,
        # Events/s in and out and the busiest topics, from the throughput samples (over the topics they see).
        **tiles.throughput(config.name, user=request.user),
    }
    return render(request, template, context)
