"""The masking oracles of issue 14, run as an attacker would, against a real console.

Run from the repository root, needing nothing running:

    .venv/bin/python bench/masking_oracle.py

It starts its own Tansu broker, Redis, SQLite database and Daphne (bench/harness.py) with a
cluster `local` that masks `customer.ssn` and `customer.email` (field paths) and keys that
look like `…@secret.example` (a pattern), writes one order with a random SSN and e-mail and a
secret key, and then tries to recover them through the messages API, one character at a time:

- the SSN and the e-mail by regex: `offset == 0 and value ~ /"ssn": ?"<prefix><c>|\\*\\*\\*/`
  for each candidate character `c` (the `|\\*\\*\\*` alternative is what made it work when the
  raw text and the masked text were each tested on their own);
- the key by exact look-up: `?key=<guess>` for a few guesses, the right one among them.

A guess "tells" when exactly one candidate finds the event. The baseline, in the same run, is
the same attack by an admin (masking does not apply to admins), with the same requests: it
shows what the attack gets where the raw bytes meet the filter. For the reader, the fixed
console answers every candidate alike (or refuses the look-up), so nothing is recovered.
Traffic goes to 127.0.0.1 only; all processes stop at the end.
"""

from __future__ import annotations

import json
import random
import re
import string
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402
    Client,
    Stack,
    console_env,
    logged_in,
    manage,
    prepare_database,
    start_broker_and_redis,
    start_web,
)

DIGITS = "0123456789-"
EMAIL_CHARS = string.ascii_lowercase + "@."
MAX_REQUESTS = 2_000


def _found(client: Client, topic: str, **params: str) -> bool | None:
    """Whether the page finds offset 0; None when the request is refused (400)."""
    status, body = client.get(f"/api/clusters/local/topics/{topic}/messages/?{urllib.parse.urlencode(params)}")
    if status == 400:
        return None
    if status != 200:
        raise SystemExit(f"HTTP {status}: {body[:300]!r}")
    return any(e["offset"] == 0 for e in json.loads(body)["results"])


def recover(client: Client, topic: str, field: str, alphabet: str, length: int, masked: bool) -> tuple[str, int]:
    """Characters of `field` recovered by regex guesses, and the requests it took."""
    prefix, requests = "", 0
    while len(prefix) < length and requests < MAX_REQUESTS:
        hits = []
        for c in alphabet:
            guess = prefix + c
            pattern = f'"{field}": ?"{re.escape(guess)}' + (r"|\*\*\*" if masked else "")
            requests += 1
            if _found(client, topic, q=f"offset == 0 and value ~ /{pattern}/"):
                hits.append(c)
        if len(hits) != 1:  # every candidate (or none) finds it: the answer tells nothing
            break
        prefix += hits[0]
    return prefix, requests


def key_lookup(client: Client, topic: str, secret_key: str) -> tuple[str, int]:
    guesses = [f"{name}@secret.example" for name in ("alice", "zed", "mallory")] + [secret_key]
    answers = [_found(client, topic, key=g) for g in guesses]
    told = [g for g, a in zip(guesses, answers, strict=True) if a]
    if None in answers:
        return "refused (400)", len(guesses)
    return (told[0] if len(told) == 1 else "nothing"), len(guesses)


def main() -> None:
    rng = random.Random()
    ssn = f"{rng.randint(100, 999)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}"
    email = "".join(rng.choice(string.ascii_lowercase) for _ in range(6)) + "@corp.example"
    secret_key = "".join(rng.choice(string.ascii_lowercase) for _ in range(5)) + "@secret.example"
    with tempfile.TemporaryDirectory(prefix="bench-oracle-") as tmp:
        stack = Stack(Path(tmp))
        try:
            bootstrap, redis_port = start_broker_and_redis(stack)
            clusters = Path(tmp) / "clusters.yml"
            clusters.write_text(
                f"clusters:\n  - name: local\n    bootstrap_servers: '{bootstrap}'\n"
                "    masking:\n      fields: [customer.ssn, customer.email]\n"
                "      patterns: ['[a-z]+@secret\\.example']\n"
            )
            env = {**console_env(stack, bootstrap, redis_port), "BACKBONE_CLUSTERS_FILE": str(clusters)}
            password = prepare_database(env, role="reader", demo=False)
            admin_password = "bench-admin-" + "".join(rng.choice(string.ascii_letters) for _ in range(16))
            manage(env, "backbone_user", "bench-admin", "--role", "admin", "--password", admin_password)
            base = start_web(stack, env)
            reader = logged_in(base, password, stack)
            admin = Client(base)
            admin.login("bench-admin", admin_password, next_url="/")

            from confluent_kafka import Producer
            from confluent_kafka.admin import AdminClient, NewTopic

            topic = "orders-oracle"
            admin_client = AdminClient({"bootstrap.servers": bootstrap})  # kept: a dropped client ends its requests
            admin_client.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
            producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
            order = {"customer": {"ssn": ssn, "email": email, "name": "Carol"}, "status": "ok"}
            producer.produce(topic, key=secret_key.encode(), value=json.dumps(order).encode())
            producer.produce(topic, key=b"other", value=b'{"status": "ok"}')
            producer.flush(10)
            time.sleep(1)

            rows = []
            for who, client, masked in (("admin (baseline)", admin, False), ("reader", reader, True)):
                for what, field, alphabet, secret in (
                    ("SSN by regex", "ssn", DIGITS, ssn),
                    ("e-mail by regex", "email", EMAIL_CHARS, email),
                ):
                    started = time.monotonic()
                    got, requests = recover(client, topic, field, alphabet, len(secret), masked)
                    seconds = time.monotonic() - started
                    rows.append((what, who, requests, seconds, got or "nothing", got == secret))
                started = time.monotonic()
                got, requests = key_lookup(client, topic, secret_key)
                rows.append(("key by exact look-up", who, requests, time.monotonic() - started, got, got == secret_key))
        finally:
            stack.stop()
    print(f"\nMasking oracles through the messages API (SSN {len(ssn)} characters, e-mail {len(email)})\n")
    print("| attack | as | requests | seconds | recovered | the whole secret |")
    print("|---|---|---:|---:|---|---|")
    for what, who, requests, seconds, got, whole in rows:
        print(f"| {what} | {who} | {requests} | {seconds:.1f} | {got} | {'yes' if whole else 'no'} |")


if __name__ == "__main__":
    main()
