"""Shared pieces of the benches: the processes they start, a logged-in HTTP client, timing."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BIN = Path(sys.executable).parent
WARMUP = 20
HTTP_TIMEOUT = 30.0


class Stack:
    """The processes this bench starts, stopped together whatever happens."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.stopped = False

    def start(
        self,
        name: str,
        cmd: list[str],
        env: dict[str, str] | None = None,
        *,
        pass_fds: tuple[int, ...] = (),
        append: bool = False,
    ) -> subprocess.Popen[bytes]:
        """Start a process logging to `<name>.log` (`append` keeps the log of an earlier run)."""
        if self.stopped:  # a thread of the bench racing the final stop() must not leave a process behind
            raise RuntimeError(f"not starting {name}: the bench is stopping")
        with (self.workdir / f"{name}.log").open("ab" if append else "wb") as log:
            proc = subprocess.Popen(
                cmd,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                pass_fds=pass_fds,
                start_new_session=True,  # its own process group, so stop() reaches its children too
            )
        self.procs.append((name, proc))
        return proc

    def proc(self, name: str) -> subprocess.Popen[bytes]:
        """The process started last under this name."""
        return next(proc for n, proc in reversed(self.procs) if n == name)

    def kill(self, name: str) -> int:
        """SIGKILL the process started last under this name (a crash, not a shutdown); its exit code."""
        proc = self.proc(name)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        code = proc.wait(timeout=10)
        self.procs.remove((name, proc))
        return code

    def stop(self, names: list[str] | None = None) -> None:
        """Stop these processes (all by default, and start no more): SIGTERM to each group, SIGKILL after 10 s."""
        self.stopped = self.stopped or names is None
        chosen = [(n, p) for n, p in self.procs if names is None or n in names]
        for _, proc in reversed(chosen):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10  # one grace period for all, not one each
        for _, proc in reversed(chosen):
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        self.procs = [(n, p) for n, p in self.procs if (n, p) not in chosen]

    def errors(self, name: str, most: int = 5) -> str:
        """The distinct exception lines a process logged (the last line of each traceback)."""
        path = self.workdir / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        found = dict.fromkeys(line for line in text.splitlines() if re.match(r"^[\w.]+(Error|Exception|Match): ", line))
        return "\n".join(list(found)[-most:]) or self.tail(name, 10)

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.workdir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    if result.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result.stdout


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class Client:
    """A logged-in browser session: urllib with a cookie jar."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with self.opener.open(self.base + path, timeout=HTTP_TIMEOUT) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def cookie(self, name: str) -> str:
        for cookie in self.jar:
            if cookie.name == name:
                return cookie.value or ""
        raise SystemExit(f"no {name} cookie after GET /login/")

    def login(self, username: str, password: str, next_url: str) -> None:
        status, _ = self.get("/login/")
        if status != 200:
            raise SystemExit(f"GET /login/ answered {status}")
        form = urllib.parse.urlencode(
            {
                "csrfmiddlewaretoken": self.cookie("csrftoken"),
                "username": username,
                "password": password,
                "next": next_url,
            }
        ).encode()
        request = urllib.request.Request(
            self.base + "/login/", data=form, headers={"Referer": self.base + "/login/"}, method="POST"
        )
        # Stop at the redirect: a login is a 302 with a session cookie, whatever the next page does.
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())
        try:
            with opener.open(request, timeout=HTTP_TIMEOUT) as response:
                status, location = response.status, ""
        except urllib.error.HTTPError as exc:
            status, location = exc.code, exc.headers.get("Location", "")
        if status != 302 or not any(c.name == "sessionid" for c in self.jar):
            raise SystemExit(f"logging in failed: POST /login/ answered {status} {location}".rstrip())


class CaseFailed(Exception):
    """One measured call did not succeed; the row says so and the bench exits non-zero."""


def timed(fn: Callable[[], object], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def http_call(client: Client, path: str) -> Callable[[], object]:
    def call() -> object:
        status, body = client.get(path)
        if status != 200:
            raise CaseFailed(f"GET {path} answered {status}")
        return body

    return call


def wait_healthy(client: Client, stack: Stack, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last: tuple[int, bytes] = (0, b"")
    while time.monotonic() < deadline:
        last = client.get("/healthz")
        if last[0] == 200:
            return
        time.sleep(0.2)
    raise SystemExit(f"/healthz never answered 200: {last[0]} {last[1][:300]!r}\n{stack.tail('daphne')}")


def row(what: str, samples: list[float]) -> str:
    p99 = statistics.quantiles(samples, n=100, method="inclusive")[98]
    return (
        f"| {what} | {len(samples)} | {statistics.median(samples):.2f} | {p99:.2f} | {statistics.fmean(samples):.2f} |"
    )


def start_broker_and_redis(stack: Stack) -> tuple[str, int]:
    """A Tansu broker (`broker`) and Redis on free ports; (bootstrap servers, Redis port)."""
    from backbone_admin.embedded import broker_command, free_port, redis_command, wait_for_port

    kafka_port, redis_port = free_port(), free_port()
    broker = stack.start("broker", broker_command(kafka_port))
    redis = stack.start("redis", redis_command(redis_port))
    wait_for_port(kafka_port, proc=broker)
    wait_for_port(redis_port, proc=redis)
    return f"127.0.0.1:{kafka_port}", redis_port


def console_env(stack: Stack, bootstrap: str, redis_port: int) -> dict[str, str]:
    """The environment of manage.py and Daphne: this stack's services, a fresh SQLite file."""
    import secrets

    env = dict(os.environ)
    for name in ("BACKBONE_CLUSTERS_FILE", "DEFAULT_CLUSTER", "STATIC_ROOT", "DEBUG"):
        env.pop(name, None)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "backbone_admin.settings",
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "DATABASE_URL": f"sqlite:///{stack.workdir / 'bench.sqlite3'}",
            "HTTPS": "0",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "LOG_LEVEL": "WARNING",
            "KAFKA_VALIDATE_ONLY_FIRST": "0",  # Tansu creates a topic on validate-only
            # The benches time uncached reads (`refresh=1`) on purpose, many in a row.
            "REFRESH_USER_INTERVAL": "0",
            "REFRESH_CLUSTER_INTERVAL": "0",
        }
    )
    return env


def prepare_database(env: dict[str, str], *, role: str = "viewer", demo: bool = True) -> str:
    """Migrate, create the user `bench` with this role (and the demo topics); its password."""
    import secrets

    password = secrets.token_urlsafe(16)
    print("setting up: migrate, user, topics ...", file=sys.stderr, flush=True)
    manage(env, "migrate", "--noinput")
    manage(env, "backbone_user", "bench", "--role", role, "--password", password)
    if demo:
        manage(env, "demo_events", "--count", "50", "--rate", "50")
    return password


def start_web(stack: Stack, env: dict[str, str], *, processes: int = 1) -> str:
    """Daphne on a free port, healthy; its base URL.

    One process binds the port itself (as the Procfile does). Several share one listening
    socket opened here and passed to each with `daphne --fd` (the kernel hands each new
    connection to one of them); the processes are named `daphne`, `daphne-2`, ...
    """
    import socket

    from backbone_admin.embedded import free_port, wait_for_port

    app = "backbone_admin.asgi:application"
    if processes == 1:
        web_port = free_port()
        daphne = stack.start("daphne", [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(web_port), app], env=env)
        wait_for_port(web_port, timeout=60, proc=daphne)
    else:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", 0))
            listener.listen(1024)
            web_port = int(listener.getsockname()[1])
            fd = listener.fileno()
            inode = os.fstat(fd).st_ino
            for name in web_names(processes):
                stack.start(name, [str(BIN / "daphne"), "--fd", str(fd), app], env=env, pass_fds=(fd,))
            # /healthz below is answered by whichever is up first: wait until each accepts.
            deadline = time.monotonic() + 60
            for name in web_names(processes):
                while not _adopted(stack.proc(name).pid, fd, inode):
                    if stack.proc(name).poll() is not None or time.monotonic() > deadline:
                        raise SystemExit(f"{name} did not start accepting:\n{stack.tail(name)}")
                    time.sleep(0.1)
        finally:
            # The processes hold their own copies; closing ours means nobody queues
            # connections once they are gone.
            listener.close()
    client = Client(f"http://127.0.0.1:{web_port}")
    wait_healthy(client, stack)
    return client.base


def _adopted(pid: int, fd: int, inode: int) -> bool:
    """Whether a Daphne started with `--fd` serves the socket: Twisted adopts a copy of the descriptor.

    Its log cannot tell (Django's logging config silences Daphne's INFO lines), so look at
    the descriptors in /proc (Linux, as every bench here).
    """
    fds = Path(f"/proc/{pid}/fd")
    if not fds.exists():
        return True
    for entry in fds.iterdir():
        try:
            if entry.name != str(fd) and os.readlink(entry) == f"socket:[{inode}]":
                return True
        except OSError:
            continue
    return False


def web_names(processes: int) -> list[str]:
    return ["daphne" if i == 0 else f"daphne-{i + 1}" for i in range(processes)]


def logged_in(base: str, password: str, stack: Stack) -> Client:
    client = Client(base)
    try:
        client.login("bench", password, next_url="/")
    except SystemExit as exc:
        raise SystemExit(f"{exc}\n{stack.tail('daphne')}") from None
    return client


def start_console(stack: Stack, *, role: str = "viewer", demo: bool = True) -> tuple[Client, dict[str, str], str]:
    """Broker, Redis, a fresh SQLite database and Daphne on free ports; a logged-in client.

    Returns (client, env for manage.py, bootstrap servers).
    """
    bootstrap, redis_port = start_broker_and_redis(stack)
    env = console_env(stack, bootstrap, redis_port)
    password = prepare_database(env, role=role, demo=demo)
    base = start_web(stack, env)
    return logged_in(base, password, stack), env, bootstrap


def measure(cases: list[tuple[str, Callable[[], object], int]], *, warmup: int = 1) -> tuple[list[str], list[str]]:
    """Time each case after its warm-up calls; (table rows, failures)."""
    rows, failures = [], []
    for what, fn, count in cases:
        try:
            timed(fn, warmup)
            rows.append(row(what, timed(fn, count)))
        except CaseFailed as exc:
            rows.append(f"| {what} | — | failed: {exc} | | |")
            failures.append(str(exc))
    return rows, failures


def print_table(title: str, rows: list[str], failures: list[str], stack: Stack) -> None:
    print(f"\n{title}; {len(os.sched_getaffinity(0))} cores\n")
    print("| what | n | p50 ms | p99 ms | mean ms |")
    print("|---|---:|---:|---:|---:|")
    print("\n".join(rows))
    if failures:
        raise SystemExit(f"\n{len(failures)} row(s) failed; the server logged:\n{stack.errors('daphne')}")
