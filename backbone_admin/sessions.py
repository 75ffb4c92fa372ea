"""The idle-session timeout without a database write on every request."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.http import HttpRequest, HttpResponseBase

# When the session was last extended (seconds since the epoch), kept in the session itself.
SEEN_KEY = "_backbone_seen"


class IdleSessionMiddleware:
    """Extend a logged-in session at most once per SESSION_REFRESH_INTERVAL seconds.

    A session ends SESSION_COOKIE_AGE (= SESSION_IDLE_TIMEOUT) seconds after it was last
    saved. Saving it on every request (SESSION_SAVE_EVERY_REQUEST) cost an UPDATE and a
    commit per page; here a request marks the session modified only when its last extension
    is at least `refresh_interval()` old, and Django's SessionMiddleware then saves it with a fresh
    expiry. An idle session therefore ends between SESSION_IDLE_TIMEOUT minus the interval
    and SESSION_IDLE_TIMEOUT after its last request: never later than the timeout.

    Below SessionMiddleware and AuthenticationMiddleware, so it sees the session as the view
    left it: a logout (an emptied session) is not brought back, a login is extended at once.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        session = getattr(request, "session", None)
        # Only sessions that carry a login: an anonymous visitor gets no session row from this.
        if session is not None and SESSION_KEY in session:
            now = time.time()
            seen = session.get(SEEN_KEY)
            if not isinstance(seen, (int, float)) or not 0 <= now - seen < refresh_interval():
                session[SEEN_KEY] = now
        return response


def refresh_interval() -> float:
    """SESSION_REFRESH_INTERVAL, but at most a tenth of the session's age: a short idle timeout
    must still be extended by a session in use."""
    return float(min(settings.SESSION_REFRESH_INTERVAL, settings.SESSION_COOKIE_AGE / 10))
