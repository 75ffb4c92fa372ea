"""An open websocket of an OIDC session, through a real Daphne: renewed while the provider renews
the session, closed once the provider refuses (the page's next request goes to the login page)."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from backbone_admin import broadcast
from backbone_admin.embedded import free_port
from backbone_admin.health import clusters_health
from backbone_admin.models import AuditEntry, Grant
from tests.conftest import _subprocess_env, daphne_server
from tests.sso.conftest import CLIENT_ID, OIDCProvider, unique

pytestmark = pytest.mark.django_db(transaction=True)


def _push() -> None:
    # From a thread of its own (async_to_sync refuses a thread with a running event loop).
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(broadcast.cluster_health, clusters_health(["local"])).result(timeout=10)


def test_an_open_socket_closes_once_the_provider_refuses_to_renew_the_session(
    start_provider: Callable[..., OIDCProvider], kafka_bootstrap: str, redis_url: str
) -> None:
    port, secret = free_port(), "socket-" + unique("secret")
    env = _subprocess_env(kafka_bootstrap, redis_url)
    env.update({"OIDC_ISSUER": f"http://127.0.0.1:{port}", "OIDC_CLIENT_ID": CLIENT_ID, "OIDC_CLIENT_SECRET": secret})
    with daphne_server(env, "daphne-oidc-socket.log") as (url, _):
        provider = start_provider([f"{url}/oidc/callback/"], port=port, secret=secret, access_token_seconds=2)
        name = unique("socket")
        provider.add_user(name, ["kafka-orders"])
        Grant.objects.create(subject_type=Grant.Subject.GROUP, subject="kafka-orders", role="viewer")
        browser = requests.Session()
        start = browser.get(f"{url}/oidc/authenticate/", allow_redirects=False, timeout=10)
        callback = provider.consent(start.headers["Location"], name, browser=browser)
        assert browser.get(callback, allow_redirects=False, timeout=10).status_code == 302
        session = browser.cookies["sessionid"]
        headers = {"Cookie": f"sessionid={session}", "Origin": url}
        with connect(url.replace("http://", "ws://") + "/ws/clusters/", additional_headers=headers) as ws:
            ws.recv(timeout=15)
            # Past the access token's lifetime, re-checks renew it: the socket keeps its pushes.
            time.sleep(2.5)
            deadline = time.monotonic() + broadcast.ViewerConsumer.ACCESS_TTL + 2
            while time.monotonic() < deadline:
                _push()
                ws.recv(timeout=10)
                time.sleep(0.5)
            assert AuditEntry.objects.filter(action="login.oidc", username=name, result="denied").count() == 0

            provider.revoke(name)
            time.sleep(2.5)  # the renewed access token expires too; the next renewal is refused
            started = time.monotonic()
            with pytest.raises(ConnectionClosed) as closed:
                while time.monotonic() - started < broadcast.ViewerConsumer.ACCESS_TTL + 5:
                    _push()
                    try:
                        ws.recv(timeout=0.5)
                    except TimeoutError:
                        continue
            assert closed.value.rcvd is not None and closed.value.rcvd.code == broadcast.CLOSE_ACCESS_GONE
        entry = AuditEntry.objects.filter(action="login.oidc", username=name, result="denied").get()
        assert entry.error.startswith("session ended: The identity provider refused the sign-in (invalid_grant")
        # The session is gone: the page's next request goes to the login page.
        page: Any = requests.get(f"{url}/clusters/local/", cookies={"sessionid": session}, allow_redirects=False)
        assert page.status_code == 302 and page.headers["Location"].startswith("/login/")
