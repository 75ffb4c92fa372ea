"""All pushes to websocket viewers go through here."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from backbone_admin.kafka import ClusterHealth

CLUSTER_HEALTH_GROUP = "cluster-health"


def health_message(health: ClusterHealth) -> dict[str, Any]:
    overview = health.overview
    return {
        "name": health.name,
        "status": health.status,
        "error": health.error,
        "checked_at": health.checked_at,
        "brokers": len(overview.brokers) if overview else None,
        "topic_count": overview.topic_count if overview else None,
        "partition_count": overview.partition_count if overview else None,
        "under_replicated_partitions": overview.under_replicated_partitions if overview else None,
        "offline_partitions": overview.offline_partitions if overview else None,
    }


def cluster_health(healths: list[ClusterHealth]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    async_to_sync(layer.group_send)(
        CLUSTER_HEALTH_GROUP,
        {"type": "cluster.health", "clusters": [health_message(h) for h in healths]},
    )
