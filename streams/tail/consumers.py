"""The live tail's websocket: one viewer of the process's shared tail of a topic.

    ws/clusters/<cluster>/topics/<topic>/tail/?filter=<filter language>&rate=<events/s>

Login and origin are checked by the ASGI stack, the reader role on the topic here (viewers
see no contents; below admin the contents are masked), again before pushes and every
ACCESS_TTL seconds while the socket is open (a removed grant closes it with 4403). The server
sends JSON messages:

    {"status": "live", "partitions": [0, 1, 2]}          tailing (again); also after "resume"
    {"status": "paused"}                                 after {"action": "pause"}
    {"status": "unavailable", "error": "..."}            the cluster does not answer; retrying
    {"seq": 7, "events": [event, ...], "dropped": 12,
     "dropped_by": {"rate": 12, "queue": 0, "paused": 0}}
    {"error": "...", "fields": {...}, "code": 4503}      then the socket closes (4400 bad filter,
                                                         rate or topic name, 4404 unknown or deleted
                                                         topic, 4429 the user has TAIL_MAX_PER_USER
                                                         tails open, 4503 cluster unavailable:
                                                         reconnect later)

and reads `{"ack": seq}` (after each push), `{"action": "pause"}`, `{"action": "resume"}`, and
`{"action": "filter", "filter": "...", "rate": "..."}` (Apply on the page), answered with

    {"applied": {"filter": "...", "rate": 100, "at": 1765104104000}}
                                                         the new filter and rate run from here on:
                                                         every event after this message matches it
    {"refused": "...", "fields": {"filter": "..."}}      the filter or rate does not parse; the
                                                         previous ones keep running, the socket stays open
Only a user without the reader role on the topic is refused before the handshake completes
(403, for a topic they may not see as for one they see without the role, whether it exists or
not: no topic name is confirmed); every other refusal is said on the open socket, then closed with its
code, so a browser hears why even when the cluster takes its whole timeout to not answer
(Daphne drops a handshake that is not accepted within 5 s).
A client has at most TAIL_IN_FLIGHT pushes unacknowledged; what arrives meanwhile waits in
its bounded queue. That is what keeps a stalled browser from growing the server's memory:
the web server itself would buffer every push for a client that does not read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings

from backbone_admin import broadcast
from backbone_admin.kafka.errors import BackboneError
from backbone_admin.kafka.topics import describe_topic
from backbone_admin.models import Role
from backbone_admin.roles import require_topic_role
from streams.events.filters import MAX_LENGTH as FILTER_MAX_LENGTH
from streams.permissions import masked_for
from streams.tail.hub import (
    CLOSE_BAD_REQUEST,
    CLOSE_NOT_FOUND,
    CLOSE_TOO_MANY,
    CLOSE_UNAVAILABLE,
    TopicTail,
    hub,
)
from streams.tail.options import tail_options
from streams.tail.viewer import Viewer

# A push holds at most this many events / bytes of event JSON.
PUSH_EVENTS = 500
PUSH_BYTES = 1024 * 1024
# The client only ever sends short control messages; the longest carries a filter (at most
# FILTER_MAX_LENGTH characters, each written as at most two in JSON) and a rate.
MAX_CLIENT_MESSAGE = 2 * FILTER_MAX_LENGTH + 200
CLOSE_CODES = {404: CLOSE_NOT_FOUND, 429: CLOSE_TOO_MANY, 503: CLOSE_UNAVAILABLE}


class TailConsumer(broadcast.ViewerConsumer):
    # Pushes come from the process's hub, not from the channel layer (see streams/tail/hub.py):
    # no channel of its own, so a Redis outage does not touch the tail.
    channel_layer_alias = None

    cluster = ""
    topic = ""
    masked = True
    viewer: Viewer | None = None
    tail: TopicTail | None = None
    _owner: int | None = None  # the user whose tail this socket counts as (hub.reserve)
    _pump_task: asyncio.Task[None] | None = None

    _watch: asyncio.Task[None] | None = None

    def authorize(self, user: Any) -> bool:
        try:
            require_topic_role(user, self.cluster, self.topic, Role.READER)
        except BackboneError:
            return False
        # Re-read on every check: an admin demoted to reader gets masked events from then on.
        self.masked = masked_for(user, self.cluster, self.topic)
        if self.viewer is not None:
            self.viewer.masked = self.masked
        return True

    async def connect(self) -> None:
        route = self.scope["url_route"]["kwargs"]
        self.cluster, self.topic = route["cluster"], route["topic"]
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=broadcast.CLOSE_NOT_LOGGED_IN)
            return
        if not await self.allowed(fresh=True):
            # Refused before the handshake completes, whether the topic exists or not: a topic the
            # user may not see (or may see without the reader role) is not confirmed.
            return
        await self.accept()
        try:
            hub.reserve(user.pk)
            self._owner = user.pk
            query = parse_qs(self.scope.get("query_string", b"").decode("utf-8", "replace"))
            flt, rate = tail_options(query.get("filter", [""])[0], query.get("rate", [""])[0])
            await asyncio.to_thread(describe_topic, self.cluster, self.topic)
        except BackboneError as exc:
            code = CLOSE_CODES.get(exc.status, CLOSE_BAD_REQUEST)
            await self.send_json({"error": exc.message, "fields": exc.fields, "code": code})
            await self.close(code=code)
            return
        loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()

        def notify() -> None:  # from the Kafka thread
            with contextlib.suppress(RuntimeError):  # the server is shutting down
                loop.call_soon_threadsafe(self._wake.set)

        self.viewer = Viewer(
            filter=flt,
            rate=rate,
            masked=self.masked,
            window=settings.TAIL_BATCH_MS / 1000,
            queue_events=settings.TAIL_QUEUE,
            queue_bytes=settings.TAIL_QUEUE_BYTES,
            notify=notify,
            label=f"{user.get_username()}#{id(self):x}",
            clock=time.monotonic,
        )
        self._sent = self._acked = 0
        self.tail = hub.join(self.cluster, self.topic, self.viewer)
        self._pump_task = asyncio.create_task(self._pump())
        # A quiet topic pushes nothing: access is re-checked on a timer as well as before pushes.
        self._watch = self.watch_access()

    async def disconnect(self, code: int) -> None:
        if self._owner is not None:
            hub.release(self._owner)
            self._owner = None
        if self.tail is not None and self.viewer is not None:
            hub.leave(self.tail, self.viewer)
            self.tail = None
        if self._pump_task is not None:
            self._pump_task.cancel()
        if self._watch is not None:
            self._watch.cancel()

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels closes stale database connections (a hop to a worker thread) before every
        # message; acknowledgements come ten times a second per viewer and touch no database.
        if message["type"] == "websocket.receive":
            await self.websocket_receive(message)
        else:
            await super().dispatch(message)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.viewer is None or not text_data or len(text_data) > MAX_CLIENT_MESSAGE:
            return
        try:
            message = json.loads(text_data)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        ack = message.get("ack")
        if isinstance(ack, int) and self._acked < ack <= self._sent:
            self._acked = ack
            self._wake.set()
        action = message.get("action")
        if action == "filter":
            await self._refilter(message.get("filter"), message.get("rate"))
        elif action in ("pause", "resume"):
            self.viewer.set_paused(action == "pause")
            status = {"status": "paused"} if action == "pause" else (self.tail.status if self.tail else None)
            await self.send_json(status or {"status": "live"})

    async def _refilter(self, filter_text: Any, rate_text: Any) -> None:
        """Apply a new filter and rate, or say why not and keep the running ones (the stream stays open)."""
        assert self.viewer is not None
        filter_text = filter_text if isinstance(filter_text, str) else ""
        rate_text = str(rate_text) if isinstance(rate_text, (str, int)) and not isinstance(rate_text, bool) else ""
        try:
            flt, rate = tail_options(filter_text, rate_text)
        except BackboneError as exc:
            await self.send_json({"refused": exc.message, "fields": exc.fields})
            return
        # The notice goes out through the pump, ahead of the first push matched by the new filter.
        notice = {"applied": {"filter": flt.text.strip() if flt else "", "rate": rate, "at": int(time.time() * 1000)}}
        self.viewer.set_options(filter=flt, rate=rate, notice=notice)

    async def _pump(self) -> None:
        """Send the viewer's events: at most one window per TAIL_BATCH_MS, within the in-flight limit."""
        viewer = self.viewer
        assert viewer is not None
        loop = asyncio.get_running_loop()
        rotated_at = float("-inf")
        while True:
            await self._wake.wait()
            self._wake.clear()
            messages, close = viewer.take_messages()
            for message in messages:
                await self.send_json(message)
            if close is not None:
                code, message = close
                await self.send_json({**message, "code": code})
                await self.close(code=code)
                return
            if viewer.window_pending():
                delay = rotated_at + viewer.window - loop.time()
                if delay > 0:
                    await self._send_due()
                    await asyncio.sleep(delay)
                viewer.rotate()
                rotated_at = loop.time()
            if not await self._send_due():
                return

    async def _send_due(self) -> bool:
        """Push what is queued while fewer than TAIL_IN_FLIGHT pushes wait for their ack."""
        viewer = self.viewer
        assert viewer is not None
        while self._sent - self._acked < settings.TAIL_IN_FLIGHT:
            push = viewer.take(max_events=PUSH_EVENTS, max_bytes=PUSH_BYTES)
            if push is None:
                return True
            if not await self.allowed():
                return False  # closed with 4403: the access is gone
            self._sent += 1
            await self.send(text_data=push)
        return True
