"""Idle sessions: a session ends SESSION_IDLE_TIMEOUT after its last request, and a session in use
is extended without a database write on every request (backbone_admin/sessions.py)."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from backbone_admin import sessions

PAGE = "/retention/"  # a page that needs a login and no Kafka cluster


def _logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _session_writes(client: Client, path: str = PAGE) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return sum('"django_session"' in q["sql"] and not q["sql"].startswith("SELECT") for q in queries)


def _expiry(client: Client) -> Any:
    return Session.objects.get(session_key=client.cookies["sessionid"].value).expire_date


@pytest.mark.django_db
def test_a_session_ends_after_the_idle_timeout_but_not_while_in_use(make_user: Any, settings: Any) -> None:
    assert settings.SESSION_COOKIE_AGE == settings.SESSION_IDLE_TIMEOUT == 8 * 3600
    assert not settings.SESSION_SAVE_EVERY_REQUEST
    settings.SESSION_COOKIE_AGE = 3  # extended at most every 0.3 s (a tenth of it)
    client = _logged_in(make_user("viewer"))
    for _ in range(4):  # 4.8 s in all, longer than the timeout, never 3 s idle
        assert client.get(PAGE).status_code == 200
        time.sleep(1.2)
    time.sleep(2.0)  # 3.2 s idle
    expired = client.get(PAGE)
    assert expired.status_code == 302
    assert expired["Location"].startswith("/login/")


@pytest.mark.django_db
def test_a_session_in_use_is_written_at_most_once_per_refresh_interval(
    make_user: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert settings.SESSION_REFRESH_INTERVAL == 60
    client = _logged_in(make_user("viewer"))
    assert _session_writes(client) == 1  # the first request stamps the session and extends it
    extended = _expiry(client)
    assert [_session_writes(client) for _ in range(3)] == [0, 0, 0]
    assert _expiry(client) == extended

    # A minute later the next request extends it again, to a full idle timeout from then.
    later = time.time() + 61
    monkeypatch.setattr(sessions, "time", SimpleNamespace(time=lambda: later))
    assert _session_writes(client) == 1
    assert _expiry(client) > extended
    assert client.session[sessions.SEEN_KEY] == later
    assert _session_writes(client) == 0


@pytest.mark.django_db
def test_a_short_idle_timeout_is_extended_more_often_than_the_refresh_interval(settings: Any) -> None:
    settings.SESSION_COOKIE_AGE = 120
    assert sessions.refresh_interval() == 12  # a tenth of the timeout, not 60 s
    settings.SESSION_COOKIE_AGE = 8 * 3600
    assert sessions.refresh_interval() == 60


@pytest.mark.django_db
def test_an_anonymous_visitor_gets_no_session_and_a_logout_stays_a_logout(make_user: Any) -> None:
    anonymous = Client()
    assert anonymous.get("/login/").status_code == 200
    assert "sessionid" not in anonymous.cookies
    assert anonymous.get(PAGE).status_code == 302
    assert "sessionid" not in anonymous.cookies

    user = make_user("viewer")
    client = _logged_in(user)
    assert client.get(PAGE).status_code == 200
    assert client.post("/logout/").status_code == 302
    assert not [s for s in Session.objects.all() if s.get_decoded().get("_auth_user_id") == str(user.pk)]
    assert client.get(PAGE).status_code == 302
