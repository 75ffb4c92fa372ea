from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from backbone_admin import broadcast
from backbone_admin.clusters import all_clusters
from backbone_admin.health import clusters_health
from backbone_admin.roles import visible_clusters


class ClusterHealthConsumer(AsyncJsonWebsocketConsumer):
    """Pushes the health of every cluster the user may see; the overview badges follow it."""

    visible: set[str]

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        names = await database_sync_to_async(lambda: [c.name for c in visible_clusters(user, all_clusters())])()
        self.visible = set(names)
        await self.channel_layer.group_add(broadcast.CLUSTER_HEALTH_GROUP, self.channel_name)
        await self.accept()
        healths = await database_sync_to_async(clusters_health)(names)
        await self.send_json({"clusters": [broadcast.health_message(h) for h in healths]})

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(broadcast.CLUSTER_HEALTH_GROUP, self.channel_name)

    async def cluster_health(self, event: dict[str, Any]) -> None:
        clusters = [c for c in event["clusters"] if c["name"] in self.visible]
        if clusters:
            await self.send_json({"clusters": clusters})
