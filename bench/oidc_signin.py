"""How long an OIDC sign-in takes through a local provider, next to a local password login.

Run from the repository root, needing nothing running:

    .venv/bin/python bench/oidc_signin.py [--n 50]

It starts an embedded broker (Tansu), Redis, a fresh SQLite database, Daphne with OIDC_* set,
and the tests' real OpenID provider (django-oauth-toolkit, tests/sso/provider/) on free ports of
127.0.0.1. The person is already signed in at the provider (its session is kept, as with a
company SSO); each timed sign-in starts with a fresh console session and goes:

    GET /oidc/authenticate/ → provider /authorize/ (consent form) → POST allow →
    GET /oidc/callback/ (code + PKCE verifier exchanged, ID token checked against the JWKS,
    userinfo, user and groups saved, audit row) → GET / → the cluster overview (200)

The baseline, in the same run: a local password login (GET /login/ → POST → GET / → overview).
Prints p50/p95 per row; every loop is bounded; all processes are stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from html import unescape
from pathlib import Path
from urllib.parse import urljoin

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import Stack, console_env, manage, start_broker_and_redis, start_web  # noqa: E402

TIMEOUT = 30


def start_provider(stack: Stack, port: int, secret: str, console: str) -> str:
    from backbone_admin.embedded import wait_for_port
    from tests.sso.conftest import CLIENT_ID, rsa_pem

    key = stack.workdir / "provider-key.pem"
    key.write_bytes(rsa_pem())
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "PROVIDER_ISSUER": f"http://127.0.0.1:{port}",
        "PROVIDER_DB": str(stack.workdir / "provider.sqlite3"),
        "PROVIDER_KEY_FILE": str(key),
        "PROVIDER_CLIENT_ID": CLIENT_ID,
        "PROVIDER_CLIENT_SECRET": secret,
        "PROVIDER_REDIRECT_URIS": f"{console}/oidc/callback/",
    }
    proc = stack.start("provider", [sys.executable, "-m", "tests.sso.provider.serve", str(port)], env=env)
    wait_for_port(port, proc=proc, timeout=60)
    return f"http://127.0.0.1:{port}"


def _check(response: requests.Response, status: int, what: str) -> requests.Response:
    if response.status_code != status:
        raise SystemExit(f"{what}: {response.status_code} (expected {status}): {response.text[:300]}")
    return response


def oidc_signin(console: str, provider_browser: requests.Session, timings: dict[str, list[float]]) -> None:
    browser = requests.Session()
    browser.cookies.update(provider_browser.cookies)  # signed in at the provider already
    started = time.perf_counter()
    start = _check(browser.get(f"{console}/oidc/authenticate/", allow_redirects=False, timeout=TIMEOUT), 302, "start")
    consent = _check(browser.get(start.headers["Location"], timeout=TIMEOUT), 200, "consent form")
    if "authorizationForm" not in consent.text:
        raise SystemExit(f"no consent form: {consent.text[:300]}")
    fields = {n: unescape(v) for n, v in re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', consent.text)}
    fields.update({"csrfmiddlewaretoken": browser.cookies["provider_csrftoken"], "allow": "Authorize"})
    allowed = _check(browser.post(consent.url, data=fields, allow_redirects=False, timeout=TIMEOUT), 302, "allow")
    callback_at = time.perf_counter()
    back = browser.get(urljoin(consent.url, allowed.headers["Location"]), allow_redirects=False, timeout=TIMEOUT)
    _check(back, 302, "callback")
    timings["callback"].append((time.perf_counter() - callback_at) * 1000)
    page = _check(browser.get(urljoin(console, back.headers["Location"]), timeout=TIMEOUT), 200, "landing page")
    if "/clusters/local/" not in page.url:
        raise SystemExit(f"landed on {page.url}, not the overview")
    timings["oidc"].append((time.perf_counter() - started) * 1000)
    provider_browser.cookies.update(browser.cookies)


def password_login(console: str, password: str, timings: dict[str, list[float]]) -> None:
    browser = requests.Session()
    started = time.perf_counter()
    _check(browser.get(f"{console}/login/", timeout=TIMEOUT), 200, "login page")
    form = {"csrfmiddlewaretoken": browser.cookies["csrftoken"], "username": "bench", "password": password, "next": "/"}
    page = browser.post(f"{console}/login/", data=form, headers={"Referer": f"{console}/login/"}, timeout=TIMEOUT)
    _check(page, 200, "password login")
    if "/clusters/local/" not in page.url:
        raise SystemExit(f"password login landed on {page.url}")
    timings["password"].append((time.perf_counter() - started) * 1000)


def row(what: str, samples: list[float]) -> str:
    p95 = statistics.quantiles(samples, n=20, method="inclusive")[18]
    return f"| {what} | {len(samples)} | {statistics.median(samples):.1f} | {p95:.1f} |"


def run(n: int) -> None:
    from backbone_admin.embedded import free_port
    from tests.sso.conftest import CLIENT_ID

    with tempfile.TemporaryDirectory(prefix="backbone-bench-") as tmp:
        stack = Stack(Path(tmp))
        try:
            bootstrap, redis_port = start_broker_and_redis(stack)
            env = console_env(stack, bootstrap, redis_port)
            provider_port, secret = free_port(), secrets.token_urlsafe(24)
            env.update(
                {
                    "OIDC_ISSUER": f"http://127.0.0.1:{provider_port}",
                    "OIDC_CLIENT_ID": CLIENT_ID,
                    "OIDC_CLIENT_SECRET": secret,
                }
            )
            password = secrets.token_urlsafe(16)
            print("setting up: migrate, users, provider ...", file=sys.stderr, flush=True)
            manage(env, "migrate", "--noinput")
            manage(env, "backbone_user", "bench", "--role", "viewer", "--password", password)
            manage(
                env,
                "shell",
                "-c",
                "from backbone_admin.models import Grant; "
                "Grant.objects.create(subject_type='group', subject='kafka-*', role='viewer')",
            )
            console = start_web(stack, env)
            provider = start_provider(stack, provider_port, secret, console)

            # The person at the provider, signed in there once.
            person, person_password = "sso-bench", secrets.token_urlsafe(16)
            body = {"username": person, "password": person_password, "groups": ["kafka-orders"]}
            requests.post(f"{provider}/control/users/", data=json.dumps(body), timeout=TIMEOUT).raise_for_status()
            provider_browser = requests.Session()
            login = provider_browser.get(f"{provider}/accounts/login/", timeout=TIMEOUT)
            form = {
                "csrfmiddlewaretoken": provider_browser.cookies["provider_csrftoken"],
                "username": person,
                "password": person_password,
            }
            _check(provider_browser.post(login.url, data=form, allow_redirects=False, timeout=TIMEOUT), 302, "idp")

            timings: dict[str, list[float]] = {"oidc": [], "callback": [], "password": []}
            cases: list[Callable[[], None]] = [
                lambda: oidc_signin(console, provider_browser, timings),
                lambda: password_login(console, password, timings),
            ]
            print(f"measuring: 3 warm-up + {n} timed sign-ins of each kind ...", file=sys.stderr, flush=True)
            for i in range(n + 3):
                if i == 3:
                    timings = {key: [] for key in timings}
                for case in cases:  # interleaved, so both see the same machine
                    case()
            print("\nSign-in round trip on 127.0.0.1 (Daphne, SQLite, Redis, django-oauth-toolkit provider)\n")
            print("| what | n | p50 ms | p95 ms |")
            print("|---|---:|---:|---:|")
            print(row("OIDC sign-in: authenticate → consent → callback → overview", timings["oidc"]))
            print(row("  of which the console's callback (token, JWKS, userinfo, user, audit)", timings["callback"]))
            print(row("baseline: password login: login page → POST → overview", timings["password"]))
        finally:
            stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=50, help="timed sign-ins of each kind (default 50)")
    args = parser.parse_args()
    if not 2 <= args.n <= 1000:
        parser.error("--n must be between 2 and 1000")
    run(args.n)


if __name__ == "__main__":
    main()
