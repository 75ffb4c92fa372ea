"""Topic list of 10,000 topics for a user whose grants match 100 of them through 20 patterns,
next to an unrestricted admin's list, in the same run (issue 16: p50 within 1.2x).

Run from the repository root, needing nothing running:

    .venv/bin/python bench/permissions_topics.py [--topics 10000] [--n 200]

It starts its own Tansu broker, Redis, SQLite database and Daphne (bench/harness.py),
creates the topics with a plain AdminClient (500 per request), logs in as the admin `bench`
and as `scoped`, whose only access is reader grants on cluster `local` with 20 topic
patterns (10 globs, 10 `re:` regexes, 5 topics each; half granted to the user, half to a
directory group of theirs), checks the scoped list holds exactly those 100 topics, then
times the first page of the topic list (API and HTML page, warm cache) for both users,
alternating one request each so both see the same machine.

Traffic goes to 127.0.0.1 only; every loop is bounded; all processes stop at the end.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402
    CaseFailed,
    Client,
    Stack,
    http_call,
    manage,
    start_console,
)
from bench.topics_10k import create_topics  # noqa: E402

TARGET = 1.2


def patterns() -> list[str]:
    """20 patterns, 5 topics each: bench-0kk00..04 (glob with a class) and bench-0kk50..54 (regex)."""
    globs = [f"bench-0{k:02d}0[0-4]" for k in range(10)]
    regexes = [f"re:bench-0{k:02d}5[0-4]" for k in range(10, 20)]
    return globs + regexes


def expected_names() -> set[str]:
    return {f"bench-0{k:02d}0{i}" for k in range(10) for i in range(5)} | {
        f"bench-0{k:02d}5{i}" for k in range(10, 20) for i in range(5)
    }


def make_scoped_user(env: dict[str, str]) -> str:
    """The user `scoped` with only scoped grants; its password."""
    password = secrets.token_urlsafe(16)
    manage(env, "backbone_user", "scoped", "--password", password)
    chosen = patterns()
    code = (
        "from django.contrib.auth import get_user_model\n"
        "from backbone_admin.access import set_directory_groups\n"
        "from backbone_admin.models import Grant\n"
        "user = get_user_model().objects.get(username='scoped')\n"
        f"Grant.objects.create(subject_type='user', subject='scoped', role='reader', cluster='local', "
        f"topics={chosen[:10]!r})\n"
        f"Grant.objects.create(subject_type='group', subject='team-*', role='reader', cluster='local', "
        f"topics={chosen[10:]!r})\n"
        "set_directory_groups(user, ['team-orders'], 'oidc')\n"
    )
    manage(env, "shell", "-c", code)
    return password


def interleaved(cases: list[tuple[str, Callable[[], object]]], n: int, warmup: int = 3) -> dict[str, list[float]]:
    """Time the cases one call each in turn, `n` rounds: noise on a shared machine hits them alike."""
    samples: dict[str, list[float]] = {what: [] for what, _ in cases}
    for _ in range(warmup):
        for _, fn in cases:
            fn()
    for _ in range(n):
        for what, fn in cases:
            started = time.perf_counter()
            fn()
            samples[what].append((time.perf_counter() - started) * 1000)
    return samples


def p50(values: list[float]) -> float:
    return statistics.median(values)


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def run(topic_count: int, n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="backbone-bench-") as tmp:
        stack = Stack(Path(tmp))
        try:
            admin, env, bootstrap = start_console(stack, role="admin", demo=False)
            print(f"creating {topic_count} topics ...", file=sys.stderr, flush=True)
            created_in = create_topics(bootstrap, topic_count)
            scoped = Client(admin.base)
            scoped.login("scoped", make_scoped_user(env), next_url="/")

            status, body = admin.get("/api/clusters/local/topics/?refresh=1&page_size=1")
            if status != 200:
                raise SystemExit(f"topic list answered {status}: {body[:300]!r}\n{stack.errors('daphne')}")
            total = json.loads(body)["count"]
            status, body = scoped.get("/api/clusters/local/topics/?page_size=500")
            if status != 200:
                raise SystemExit(f"scoped topic list answered {status}: {body[:300]!r}\n{stack.errors('daphne')}")
            seen = {r["name"] for r in json.loads(body)["results"]}
            wanted = {n for n in expected_names() if int(n.split("-")[1]) < topic_count}
            if seen != wanted:
                raise SystemExit(f"the scoped user sees {len(seen)} topics, expected {len(wanted)}")

            pairs = [
                ("API topic list, first page, warm", "/api/clusters/local/topics/"),
                ("page topic list, first page, warm", "/clusters/local/topics/"),
            ]
            print("measuring ...", file=sys.stderr, flush=True)
            cases = []
            for what, path in pairs:
                cases.append((f"{what} — admin (all {total:,})", http_call(admin, path)))
                cases.append((f"{what} — scoped ({len(seen)} via 20 patterns)", http_call(scoped, path)))
            try:
                samples = interleaved(cases, n)
            except CaseFailed as exc:
                raise SystemExit(f"{exc}\n{stack.errors('daphne')}") from None
            print(
                f"\nTopic list with {topic_count:,} topics (created in {created_in:.1f} s): admin vs a user whose "
                f"grants match {len(seen)} of them through 20 patterns — Tansu, Redis, SQLite, Daphne on 127.0.0.1\n"
            )
            print("| what | n | p50 ms | p99 ms | mean ms |")
            print("|---|---:|---:|---:|---:|")
            for what, values in samples.items():
                mean = statistics.mean(values)
                print(f"| {what} | {len(values)} | {p50(values):.1f} | {p99(values):.1f} | {mean:.1f} |")
            print("\n| list | scoped p50 / admin p50 | target |")
            print("|---|---:|---|")
            worst = 0.0
            for what, _ in pairs:
                admin_p50 = p50(next(v for k, v in samples.items() if k.startswith(what) and "admin" in k))
                scoped_p50 = p50(next(v for k, v in samples.items() if k.startswith(what) and "scoped" in k))
                ratio = scoped_p50 / admin_p50
                worst = max(worst, ratio)
                print(f"| {what} | {ratio:.2f}x | ≤ {TARGET}x {'ok' if ratio <= TARGET else 'MISSED'} |")
            if worst > TARGET:
                raise SystemExit(f"\nthe scoped list's p50 is {worst:.2f}x the admin's (target ≤ {TARGET}x)")
        finally:
            stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--topics", type=int, default=10_000)
    parser.add_argument("--n", type=int, default=200, help="timed requests per row (default 200)")
    args = parser.parse_args()
    if not 2_000 <= args.topics <= 50_000 or not 1 <= args.n <= 10_000:
        parser.error("--topics must be 2000..50000 (the patterns name topics up to bench-01954) and --n 1..10000")
    run(args.topics, args.n)


if __name__ == "__main__":
    main()
