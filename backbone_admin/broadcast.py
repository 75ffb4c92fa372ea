"""All pushes to websocket viewers go through here, and every push re-checks the viewer's access;
so do the signals that close live tails in every web process before a topic is deleted."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import threading
import time
from collections.abc import Iterable, Iterator
from importlib import import_module
from types import SimpleNamespace
from typing import Any

import redis
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib import auth
from redis.client import Pipeline, PubSub

from backbone_admin.kafka import ClusterHealth
from backbone_admin.sso import oidc_session

CLUSTER_HEALTH_GROUP = "cluster-health"

# Close codes the pages' scripts know: do not reconnect after these.
CLOSE_NOT_LOGGED_IN = 4401
CLOSE_ACCESS_GONE = 4403


def current_user(scope: dict[str, Any]) -> Any:
    """The socket's user as the database knows it now, or None when the login no longer holds.

    The session is read again (logged out elsewhere, expired after idle time), and Django's
    own `get_user` checks the password hash and `is_active` exactly as an HTTP request would.
    """
    session_key = getattr(scope.get("session"), "session_key", None)
    if not session_key:
        return None
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = auth.get_user(SimpleNamespace(session=store))  # type: ignore[arg-type]
    if not (user.is_authenticated and user.is_active):
        return None
    # An OIDC session is renewed here once its access token expired, and ends (with the socket)
    # when the identity provider refuses to renew it.
    if not oidc_session.session_still_valid(store, user):
        store.delete()
        return None
    if store.modified:
        store.save()
    return user


class ViewerConsumer(AsyncJsonWebsocketConsumer):
    """A logged-in viewer's socket whose access is re-checked before it gets a push.

    Roles are read at connect and again before a push once the last check is older than
    ACCESS_TTL seconds, so a deactivated user, a removed grant or a logout elsewhere closes
    the socket (code 4403) at the next push instead of feeding it for as long as it stays open.
    """

    ACCESS_TTL = 5.0  # seconds; a few database reads per socket at most this often
    # An idle socket (nothing pushed) is re-checked this often, spread by up to 20% so that many
    # sockets opened together do not queue their checks on the one database thread together.
    WATCH_INTERVAL = 10.0
    _checked_at: float = float("-inf")
    _gone = False

    def authorize(self, user: Any) -> bool:
        """Whether `user` (freshly loaded, in a worker thread) may keep this socket; subclasses decide."""
        raise NotImplementedError

    def _check(self) -> bool:
        user = current_user(self.scope)
        return user is not None and self.authorize(user)

    async def allowed(self, *, fresh: bool = False) -> bool:
        """Re-check the viewer if the last check is stale; close the socket when access is gone."""
        if self._gone:
            return False
        now = time.monotonic()
        if not fresh and now - self._checked_at < self.ACCESS_TTL:
            return True
        if await database_sync_to_async(self._check)():
            self._checked_at = now
            return True
        self._gone = True
        await self.close(code=CLOSE_ACCESS_GONE)
        return False

    def watch_access(self) -> asyncio.Task[None]:
        """Re-check the viewer every WATCH_INTERVAL seconds even when nothing is pushed (a quiet
        topic's tail), so removed access closes the socket within that interval; cancel it on disconnect."""

        async def watch() -> None:
            while True:
                # Until the last check (this one, or one made before a push) is WATCH_INTERVAL old.
                interval = self.WATCH_INTERVAL * random.uniform(0.8, 1.0)
                await asyncio.sleep(max(0.05, self._checked_at + interval - time.monotonic()))
                if time.monotonic() - self._checked_at >= interval and not await self.allowed(fresh=True):
                    return

        return asyncio.create_task(watch())


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


def job_group(job_id: int) -> str:
    return f"job-{job_id}"


def job_progress(job_id: int, payload: dict[str, Any]) -> None:
    """Push a job's status and progress to its open pages (ws/jobs/<id>/)."""
    layer = get_channel_layer()
    if layer is None:
        return
    async_to_sync(layer.group_send)(job_group(job_id), {"type": "job.progress", "job": payload})


# --- live tails across web processes -----------------------------------------------------------
# Every web process reads a tailed topic with a Kafka consumer of its own (streams/tail/hub.py).
# Before the console deletes a topic, each of them is closed: a consumer fetching a topic deleted
# under it gets an answer some brokers malform (the embedded test broker), on which librdkafka ends
# the process. Redis holds what a delete needs to know:
#
#   backbone:tail:<cluster>/<topic>            set: the tails open on the topic, in any process
#   backbone:tail:<cluster>/<topic>:<member>   one tail's heartbeat, expiring after TAIL_TTL
#   backbone:tail:<cluster>/<topic>:deleting   the fence: no tail of the topic starts meanwhile
#
# and the pub/sub channel TAIL_DELETIONS tells every process at once (a process that misses the
# message finds the fence at its next heartbeat, every TAIL_BEAT). A process that died stops
# renewing its heartbeats: it holds a delete up for TAIL_TTL at most. Not the channel layer: the tail
# must not depend on it (its sockets have no channel, see streams/tail/consumers.py), and what a
# delete waits for is state in Redis, not a message.
#
# Redis unreachable: tails start and run as before (nothing fenced), and a delete goes ahead
# after saying so in the log; a tail of a topic deleted under it closes by itself (4404) once its
# consumer reports the topic gone.

TAIL_BEAT = 0.5  # seconds between heartbeats of a process's open tails
TAIL_TTL = 3.0  # a heartbeat not renewed for this long belongs to a process that is gone
TAIL_CLOSE_WAIT = 5.0  # a delete waits at most this long for the topic's tails to close
TAIL_FENCE_TTL = 120  # seconds: the fence outlives a delete only when its process died during it
TAIL_DELETIONS = "backbone:tail:deletions"

log = logging.getLogger("backbone.broadcast")
_redis_clients: dict[str, redis.Redis] = {}
_redis_lock = threading.Lock()
_redis_down = False


def _redis() -> redis.Redis:
    url = settings.REDIS_URL
    with _redis_lock:
        client = _redis_clients.get(url)
        if client is None:
            client = _redis_clients[url] = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        return client


def _redis_failed(what: str, exc: Exception) -> None:
    """Log a Redis failure of the tail registry once per outage (it is retried every TAIL_BEAT)."""
    global _redis_down
    if not _redis_down:
        _redis_down = True
        log.warning("live tails: Redis failed %s (%s); tails keep running, deletes do not wait for them", what, exc)


def _redis_ok() -> None:
    global _redis_down
    if _redis_down:
        _redis_down = False
        log.info("live tails: Redis answers again")


def _tail_key(cluster: str, topic: str) -> str:
    return f"backbone:tail:{cluster}/{topic}"


def _register(pipe: Pipeline, key: str, member: str, ttl: int) -> None:
    pipe.sadd(key, member)
    pipe.pexpire(key, ttl)
    pipe.set(f"{key}:{member}", 1, px=ttl)


def tail_opened(member: str, cluster: str, topic: str) -> bool:
    """Register a tail about to open its consumer; True when the topic is being deleted (do not open)."""
    key = _tail_key(cluster, topic)
    ttl = int(TAIL_TTL * 1000)
    try:
        # Registered before the fence is read, as a delete sets the fence before it reads the
        # registry: either the delete sees this tail, or this tail sees the fence.
        pipe = _redis().pipeline(transaction=False)
        _register(pipe, key, member, ttl)
        pipe.exists(f"{key}:deleting")
        fenced = bool(pipe.execute()[-1])
    except redis.RedisError as exc:
        _redis_failed("registering a tail", exc)
        return False
    _redis_ok()
    return fenced


def tails_beat(tails: Iterable[tuple[str, str, str]]) -> set[tuple[str, str]]:
    """Renew the heartbeats of these open tails (member, cluster, topic); the (cluster, topic)s being deleted."""
    tails = list(tails)
    if not tails:
        return set()
    ttl = int(TAIL_TTL * 1000)
    topics = sorted({(cluster, topic) for _, cluster, topic in tails})
    try:
        pipe = _redis().pipeline(transaction=False)
        for member, cluster, topic in tails:
            _register(pipe, _tail_key(cluster, topic), member, ttl)
        for cluster, topic in topics:
            pipe.exists(f"{_tail_key(cluster, topic)}:deleting")
        fenced = pipe.execute()[-len(topics) :]
    except redis.RedisError as exc:
        _redis_failed("renewing the tails' heartbeats", exc)
        return set()
    _redis_ok()
    return {t for t, is_fenced in zip(topics, fenced, strict=True) if is_fenced}


def tail_closed(member: str, cluster: str, topic: str) -> None:
    """Forget a tail whose consumer is closed."""
    key = _tail_key(cluster, topic)
    try:
        pipe = _redis().pipeline(transaction=False)
        pipe.srem(key, member)
        pipe.delete(f"{key}:{member}")
        pipe.execute()
    except redis.RedisError as exc:
        _redis_failed("forgetting a closed tail", exc)  # its heartbeat expires by itself


def open_tails(cluster: str, topic: str) -> list[str]:
    """The tails of the topic whose consumer is open, in every process (members with a live heartbeat)."""
    client = _redis()
    key = _tail_key(cluster, topic)
    members = sorted(m.decode() if isinstance(m, bytes) else m for m in client.smembers(key))
    if not members:
        return []
    pipe = client.pipeline(transaction=False)
    for member in members:
        pipe.exists(f"{key}:{member}")
    alive = pipe.execute()
    dead = [m for m, a in zip(members, alive, strict=True) if not a]
    if dead:
        client.srem(key, *dead)
    return [m for m, a in zip(members, alive, strict=True) if a]


class TailDeletions:
    """A process's subscription to topic deletions, for its tails (streams/tail/control.py)."""

    def __init__(self) -> None:
        self._pubsub: PubSub | None = None

    def wait(self, timeout: float) -> list[tuple[str, str]]:
        """The (cluster, topic)s announced as being deleted within `timeout` seconds (often none)."""
        try:
            if self._pubsub is None:
                self._pubsub = _redis().pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
                self._pubsub.subscribe(TAIL_DELETIONS)
            announced = []
            message = self._pubsub.get_message(timeout=timeout)
            while message is not None:
                data = json.loads(message["data"])
                announced.append((str(data["cluster"]), str(data["topic"])))
                message = self._pubsub.get_message(timeout=0)
            return announced
        except (redis.RedisError, ValueError, KeyError, TypeError) as exc:
            _redis_failed("listening for topic deletions", exc)
            self.close()
            time.sleep(timeout)  # reconnect at the next call; meanwhile the heartbeats find the fences
            return []

    def close(self) -> None:
        if self._pubsub is not None:
            with contextlib.suppress(redis.RedisError):
                self._pubsub.close()
            self._pubsub = None


@contextlib.contextmanager
def tails_closed(cluster: str, topic: str) -> Iterator[None]:
    """Close the topic's live tails in every web process, and keep new ones from starting, for the
    block (a topic delete): viewers get 4404 "topic deleted" and their consumers are closed first."""
    key = _tail_key(cluster, topic)
    fence = f"{key}:deleting"
    fenced = False
    started = time.monotonic()
    try:
        client = _redis()
        client.set(fence, 1, ex=TAIL_FENCE_TTL)
        fenced = True
        client.publish(TAIL_DELETIONS, json.dumps({"cluster": cluster, "topic": topic}))
        waiting = open_tails(cluster, topic)
        while waiting and time.monotonic() - started < TAIL_CLOSE_WAIT:
            time.sleep(0.05)
            waiting = open_tails(cluster, topic)
        if waiting:
            log.warning(
                "deleting %s/%s: %d live tail(s) did not close within %g s (%s); deleting anyway",
                cluster,
                topic,
                len(waiting),
                TAIL_CLOSE_WAIT,
                ", ".join(waiting),
            )
        else:
            log.info("deleting %s/%s: its live tails closed in %.2f s", cluster, topic, time.monotonic() - started)
    except redis.RedisError as exc:
        log.warning(
            "deleting %s/%s: Redis failed (%s); live tails in other processes were not closed first",
            cluster,
            topic,
            exc,
        )
    try:
        yield
    except BaseException:
        if fenced:  # not deleted: the topic may be tailed again at once
            with contextlib.suppress(redis.RedisError):
                _redis().delete(fence)
        raise
    if fenced:
        # Kept a moment after the delete, while brokers may still list the topic to a new tail.
        with contextlib.suppress(redis.RedisError):
            _redis().pexpire(fence, int(TAIL_TTL * 1000))
