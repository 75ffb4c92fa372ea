from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from backbone_admin import broadcast
from backbone_admin.clusters import all_clusters
from backbone_admin.health import clusters_health
from backbone_admin.roles import visible_clusters
from topics.figures import scoped_message


class ClusterHealthConsumer(broadcast.ViewerConsumer):
    """Pushes the health of every cluster the user may see; the overview badges follow it."""

    visible: tuple[str, ...] = ()
    user: Any = None

    def authorize(self, user: Any) -> bool:
        # Re-read on every check: a grant removed since connect drops that cluster from the pushes,
        # and a user left with no cluster at all loses the socket.
        self.visible = tuple(c.name for c in visible_clusters(user, all_clusters()))
        self.user = user  # freshly loaded: its grants decide which topics the pushed counts cover
        return bool(self.visible)

    def scoped(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The messages of the visible clusters, counts over the topics the user sees."""
        return [scoped_message(self.user, m) for m in messages if m["name"] in self.visible]

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=broadcast.CLOSE_NOT_LOGGED_IN)
            return
        if not await self.allowed(fresh=True):
            return
        await self.channel_layer.group_add(broadcast.CLUSTER_HEALTH_GROUP, self.channel_name)
        await self.accept()
        healths = await database_sync_to_async(clusters_health)(list(self.visible))
        messages = [broadcast.health_message(h) for h in healths]
        await self.send_json({"clusters": await database_sync_to_async(self.scoped)(messages)})

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(broadcast.CLUSTER_HEALTH_GROUP, self.channel_name)

    async def cluster_health(self, event: dict[str, Any]) -> None:
        if not await self.allowed():
            return
        clusters = await database_sync_to_async(self.scoped)(event["clusters"])
        if clusters:
            await self.send_json({"clusters": clusters})
