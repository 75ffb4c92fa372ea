"""A websocket that runs a search and streams what it finds into the page as it is found.

The browser sends `{"action": "search", "params": {...}}` (the page's form fields, as the API
takes them) and may send `{"action": "cancel"}`; closing the socket cancels too. The scan runs
in a worker thread with its budget; the socket gets each match as a rendered row (never more
than the page's limit), the scan's progress at most twice a second, and at the end the order of
the rows, the per-partition report and the links that continue or go back. One search at a
time per socket: a new one cancels the one running.

The reader role on the topic is checked when the socket opens and again (at most every ACCESS_TTL s) before
pushes, like every viewer socket; the ASGI stack refuses other origins and anonymous users.
Searches share the process's SEARCH_THREADS threads fairly (streams.browse.slots): a user runs
at most SEARCH_MAX_PER_USER at once, and a search that has to wait is told why and its place
(`{"type": "queued", "position": 2, "reason": "..."}`) before it starts.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from functools import partial
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse

from backbone_admin import broadcast
from backbone_admin.api.parsers import surrogate_at
from backbone_admin.clusters import ClusterConfig, get_cluster
from backbone_admin.kafka import BackboneError
from backbone_admin.models import Role
from backbone_admin.roles import require_topic_role
from streams.browse import present
from streams.browse.browse import Hit
from streams.browse.positions import Cursor
from streams.browse.query import MessageQuery, budget_for, parse_query, run_query
from streams.browse.reading import Scan
from streams.browse.slots import queued_message, search_pool
from streams.events.filters import FILTER_EXAMPLES
from streams.events.serialize import DecodedEvent
from streams.permissions import masked_for

PROGRESS_EVERY = 0.5  # seconds
# Parameters a continue/back link keeps (the start parameters give way to the cursor).
KEPT = ("partition", "key", "all_partitions", "q", "limit", "direction", "max_events", "max_bytes", "max_seconds")
log = logging.getLogger("backbone.search")


class SearchConsumer(broadcast.ViewerConsumer):
    cluster: ClusterConfig
    topic: str
    masked = True
    _cancel: threading.Event | None = None
    _search = 0

    def authorize(self, user: Any) -> bool:
        # A topic the user may not see is refused at the handshake whether it exists or not, as is
        # one they see without the reader role: the refusal confirms no topic.
        try:
            require_topic_role(user, self.cluster.name, self.topic, Role.READER)
        except BackboneError:
            return False
        self.masked = masked_for(user, self.cluster.name, self.topic)
        return True

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=broadcast.CLOSE_NOT_LOGGED_IN)
            return
        kwargs = self.scope["url_route"]["kwargs"]
        cluster = get_cluster(kwargs["cluster"])
        if cluster is None:
            await self.close(code=4404)
            return
        self.cluster, self.topic = cluster, kwargs["topic"]
        if not await self.allowed(fresh=True):
            return
        await self.accept()
        # No periodic re-check (watch_access): an idle search socket is sent nothing, a running
        # search re-checks before its pushes, and every new search re-checks before it starts.
        # Twenty sockets of one user re-checked on the one database thread slowed other users'
        # handshakes past Daphne's connect timeout (tests/streams/test_search_fairness.py).

    async def disconnect(self, code: int) -> None:
        self._stop()

    @classmethod
    async def decode_json(cls, text_data: str) -> Any:
        try:
            return await super().decode_json(text_data)
        except ValueError:  # said to the page below, never a 1011
            return None

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        action = content.get("action") if isinstance(content, dict) else None
        if action == "cancel":
            self._stop()
        elif action == "search":
            if not await self.allowed(fresh=True):
                return
            params = content.get("params", {})
            if not isinstance(params, dict):
                await self._refuse("params", "the search parameters are a JSON object")
                return
            await self._start(params)
        else:
            await self._refuse(
                "action", 'messages are JSON: {"action": "search", "params": {...}} or {"action": "cancel"}'
            )

    async def _refuse(self, field: str, problem: str) -> None:
        await self.send_json({"type": "error", "error": f"{field}: {problem}", "fields": {field: problem}})

    def _stop(self) -> None:
        if self._cancel is not None:
            self._cancel.set()
            search_pool().wake()  # a search still waiting leaves the queue

    async def _start(self, params: dict[str, Any]) -> None:
        self._stop()
        self._search += 1
        search = self._search
        # JSON may spell a lone surrogate (`"\\ud800"`): no text the search can use (api/parsers.py).
        if (where := surrogate_at(params)) is not None:
            await self._refuse(where, "not valid Unicode text: it holds a lone surrogate")
            return
        try:
            query = parse_query({k: v for k, v in params.items() if isinstance(v, str | int | float)})
        except BackboneError as exc:
            await self.send_json({"type": "error", "error": exc.message, "fields": exc.fields})
            return
        cancel = self._cancel = threading.Event()
        await self.send_json({"type": "started", "search": search})
        loop = asyncio.get_running_loop()
        user = self.scope["user"]
        ticket = search_pool().submit(user.pk, partial(self._run, query, params, cancel, loop, search), cancel)
        if not ticket.started:
            await self.send_json({"type": "queued", "search": search, **queued_message(ticket)})

    async def _push(self, message: dict[str, Any], cancel: threading.Event) -> None:
        if cancel.is_set() and message["type"] == "hit":
            return
        if not await self.allowed():
            cancel.set()
            return
        await self.send_json(message)

    # -- in the worker thread ------------------------------------------------------------------

    def _run(
        self,
        query: MessageQuery,
        params: dict[str, Any],
        cancel: threading.Event,
        loop: asyncio.AbstractEventLoop,
        search: int,
    ) -> None:
        def push(message: dict[str, Any]) -> None:
            message["search"] = search
            future = asyncio.run_coroutine_threadsafe(self._push(message, cancel), loop)
            try:
                future.result(timeout=30)  # a browser that does not read slows its own search only
            except Exception:  # noqa: BLE001 - the socket is gone or stuck: stop this search
                cancel.set()

        sent = 0
        last_progress = [time.monotonic()]

        def on_hit(hit: Hit, event: DecodedEvent) -> None:
            nonlocal sent
            if sent >= query.limit:
                return
            sent += 1
            row = present.event_row(event, self.cluster.name, self.topic, max_value=settings.BROWSE_MAX_VALUE)
            html = render_to_string("streams/browse/messages.html#row", {"e": row})
            push({"type": "hit", "id": row["id"], "html": html, "found": sent})

        def on_progress(scan: Scan) -> None:
            now = time.monotonic()
            if now - last_progress[0] >= PROGRESS_EVERY:
                last_progress[0] = now
                push({"type": "progress", "scanned": scan.events, "bytes": scan.bytes, "found": sent})

        try:
            budget = budget_for(query, cancel=cancel)
            result = run_query(
                self.cluster,
                self.topic,
                query,
                masked=self.masked,
                budget=budget,
                on_hit=on_hit,
                on_progress=on_progress,
            )
        except BackboneError as exc:
            push({"type": "error", "error": exc.message, "fields": exc.fields})
            return
        except Exception:  # the page must hear that the search ended
            log.exception("search of `%s` on cluster `%s` failed", self.topic, self.cluster.name)
            push({"type": "error", "error": "the search failed; it has been logged", "fields": {}})
            return
        page = result.page
        report = page.scan.report()
        context = {
            "scan": report,
            "merged": page.merged,
            "searching": True,
            "found": len(result.events),
            "order": page.order,
            "rows": result.events,
            "next_url": self._link(params, page.next),
            "previous_url": self._link(params, page.previous),
        }
        push(
            {
                "type": "done",
                "order": [f"{e.record.partition}:{e.record.offset}" for e in result.events],
                "found": len(result.events),
                "scan": report,
                "cancelled": cancel.is_set(),
                "key_partitions": result.key_partitions.describe() if result.key_partitions else None,
                "notes": result.notes,
                "scan_html": render_to_string("streams/browse/messages.html#scan", context),
                "pager_html": render_to_string("streams/browse/messages.html#pager", context),
                # Examples built from the events found (none found: the page keeps those it has).
                "help_html": render_to_string(
                    "streams/browse/messages.html#filter_examples",
                    {"filter_help": present.filter_help(result.events, FILTER_EXAMPLES)},
                )
                if result.events
                else "",
            }
        )

    def _link(self, params: dict[str, Any], cursor: Cursor | None) -> str | None:
        if cursor is None:
            return None
        kept = {name: str(params[name]) for name in KEPT if params.get(name) not in (None, "", False)}
        kept["cursor"] = cursor.encode()
        page = reverse("streams:messages", kwargs={"cluster": self.cluster.name, "topic": self.topic})
        return f"{page}?{urlencode(kept)}"
