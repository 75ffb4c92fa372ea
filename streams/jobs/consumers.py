"""The job page's socket: the job's status and progress, pushed as the workers report it."""

from __future__ import annotations

import asyncio
from typing import Any

from channels.db import database_sync_to_async

from backbone_admin import broadcast
from streams.jobs.models import Job
from streams.jobs.progress import job_payload, private_view, sees_all
from streams.jobs.services import job_visible


class JobProgressConsumer(broadcast.ViewerConsumer):
    """Those who see the job's topics (its source, and a replay's target) follow its progress; the first
    message is the current state. Its filter and target only reach its owner and admins
    (progress.PRIVATE_PARAMS). A job whose topic the user may not see is refused as a missing one."""

    job_id = 0
    sees_all = False
    _watch: asyncio.Task[None] | None = None

    def authorize(self, user: Any) -> bool:
        job = Job.objects.filter(pk=self.job_id).first()
        return job is not None and job_visible(user, job)

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
        self._watch = self.watch_access()  # a finished job pushes nothing: access is re-checked anyway

    def _current(self) -> dict[str, Any]:
        job = Job.objects.select_related("created_by").get(pk=self.job_id)
        self.sees_all = sees_all(self.scope["user"], job)
        return job_payload(job) if self.sees_all else private_view(job_payload(job))

    async def disconnect(self, code: int) -> None:
        if self._watch is not None:
            self._watch.cancel()
        if self.job_id:
            await self.channel_layer.group_discard(broadcast.job_group(self.job_id), self.channel_name)

    async def job_progress(self, event: dict[str, Any]) -> None:
        if await self.allowed():
            await self.send_json({"job": event["job"] if self.sees_all else private_view(event["job"])})
