"""The job page's socket: the job's status and progress, pushed as the workers report it."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from backbone_admin import broadcast
from backbone_admin.models import Role
from backbone_admin.roles import has_role
from streams.jobs.models import Job
from streams.jobs.progress import job_payload, private_view, sees_all


class JobProgressConsumer(broadcast.ViewerConsumer):
    """Viewers of the job's source cluster follow its progress; the first message is the current state.
    Its filter and target only reach its owner and admins (progress.PRIVATE_PARAMS)."""

    job_id = 0
    sees_all = False

    def authorize(self, user: Any) -> bool:
        cluster = Job.objects.filter(pk=self.job_id).values_list("cluster", flat=True).first()
        return cluster is not None and has_role(user, cluster, Role.VIEWER)

    async def connect(self) -> None:
        self.job_id = int(self.scope["url_route"]["kwargs"]["job_id"])
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=broadcast.CLOSE_NOT_LOGGED_IN)
            return
        if not await self.allowed(fresh=True):
            return
        await self.channel_layer.group_add(broadcast.job_group(self.job_id), self.channel_name)
        await self.accept()
        await self.send_json({"job": await database_sync_to_async(self._current)()})

    def _current(self) -> dict[str, Any]:
        job = Job.objects.select_related("created_by").get(pk=self.job_id)
        self.sees_all = sees_all(self.scope["user"], job)
        return job_payload(job) if self.sees_all else private_view(job_payload(job))

    async def disconnect(self, code: int) -> None:
        if self.job_id:
            await self.channel_layer.group_discard(broadcast.job_group(self.job_id), self.channel_name)

    async def job_progress(self, event: dict[str, Any]) -> None:
        if await self.allowed():
            await self.send_json({"job": event["job"] if self.sees_all else private_view(event["job"])})
