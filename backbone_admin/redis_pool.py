"""One Redis connection pool per process for Django's cache.

Django's Redis cache builds its connection pool inside the cache object, and under ASGI every
request gets a cache object of its own (caches are per async context): each request then
opened a new TCP connection to Redis and redis-py looked up its own version on disk for the
handshake — about a fifth of a page's CPU under load. This pool class, named in
`CACHES[...]["OPTIONS"]["pool_class"]`, hands every cache object of the process the same pool
for the same URL and options, so connections are reused across requests.

redis-py's pool is thread-safe and resets itself in a forked child (Celery's prefork workers),
and a connection broken by a Redis restart is dropped and made again on its next use.
"""

from __future__ import annotations

import threading
from typing import Any, Self

from redis import ConnectionPool

_pools: dict[tuple[str, str], SharedConnectionPool] = {}
_lock = threading.Lock()


class SharedConnectionPool(ConnectionPool):
    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Self:
        key = (url, repr(sorted(kwargs.items())))
        with _lock:
            pool = _pools.get(key)
            if pool is None:
                pool = _pools[key] = super().from_url(url, **kwargs)
        return pool  # type: ignore[return-value]
