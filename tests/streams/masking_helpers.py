"""A masked cluster and the events that try its masking: shared by the masking oracle and read-path tests.

The secrets are covered by different rules: the SSN and the e-mail only by field paths (so a
value that masking cannot parse would show them), the key's address by a pattern. Every
event but the first is a form masking cannot read — not strict JSON, binary, a schema the
registry does not have — and must be withheld from a user below admin; the last two are
plain text and a tombstone, shown as they are.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

from tests.streams.browse_helpers import Ev
from tests.timestamps import RECENT

SSN = "123-45-6789"
OTHER_SSN = "987-65-4321"
EMAIL = "carol@corp.example"
OTHER_EMAIL = "dave@corp.example"
SECRET_KEY = "bob@secret.example"
OTHER_KEY = "zed@secret.example"


def masking_yaml(*, registry_url: str | None = None, extra: str = "") -> str:
    """Cluster `local` (the test broker) with the rules under test; a registry that knows no schema."""
    registry = f"    schema_registry_url: {registry_url}\n" if registry_url else ""
    return (
        "clusters:\n  - name: local\n    bootstrap_servers: '{LOCAL}'\n" + registry + "    masking:\n"
        "      fields: [customer.email, customer.ssn]\n"
        "      patterns: ['[a-z]+@secret\\.example']\n" + extra
    )


ORDER = {"customer": {"email": EMAIL, "ssn": SSN, "name": "Carol"}, "status": "ok"}
ORDER_JSON = json.dumps(ORDER)


def _protobuf() -> bytes:
    """An order as protobuf would write it (field 1: email, field 2: ssn): binary, the secrets inside."""
    email, ssn = EMAIL.encode(), SSN.encode()
    return b"\x0a" + bytes([len(email)]) + email + b"\x12" + bytes([len(ssn)]) + ssn


def _avro_unknown_schema() -> bytes:
    """The Confluent wire format with a schema id the registry does not have; an Avro string inside."""
    email = EMAIL.encode()
    return b"\x00" + (424242).to_bytes(4, "big") + bytes([len(email) * 2]) + email


@dataclass(frozen=True)
class Fixture:
    name: str
    key: str
    value: bytes | None
    withheld: bool  # the value cannot be masked: a user below admin is shown WITHHELD
    headers: list[tuple[str, bytes]] = field(default_factory=list)


FIXTURES: tuple[Fixture, ...] = (
    Fixture("json", SECRET_KEY, ORDER_JSON.encode(), False, [("x-user", SECRET_KEY.encode()), ("source", b"web")]),
    Fixture("nan", "k-nan", ORDER_JSON.replace('"ok"', "NaN").encode(), True),
    Fixture("bom", "k-bom", b"\xef\xbb\xbf" + ORDER_JSON.encode(), True),
    Fixture("spaces", "k-spaces", b" " * 70 + ORDER_JSON.encode(), True),
    Fixture("deep", "k-deep", (ORDER_JSON[:-1] + ', "deep": ' + "[" * 1500 + "]" * 1500 + "}").encode(), True),
    Fixture("protobuf", "k-protobuf", _protobuf(), True),
    Fixture("avro", "k-avro", _avro_unknown_schema(), True),
    Fixture("log", "k-log", f'payment failed payload={{"customer": {{"email": "{EMAIL}"}}}}'.encode(), True),
    Fixture("text", "k-text", b"hello world, card declined", False),
    Fixture("tombstone", "k-null", None, False),
)
SHOWN_KEYS = [f.key for f in FIXTURES if f.key != SECRET_KEY]


def fixture_events() -> list[Ev]:
    return [Ev(0, f.key.encode(), f.value, list(f.headers), timestamp=RECENT + i) for i, f in enumerate(FIXTURES)]


def forbidden() -> list[str]:
    """What must appear in nothing a user below admin receives: the secrets, and binary values as base64."""
    out = [SSN, EMAIL, SECRET_KEY, "carol@corp", "bob@secret"]
    for f in FIXTURES:
        if f.value is not None and f.name in ("protobuf", "avro"):
            out.append(base64.b64encode(f.value).decode())
    return out


def leaks(text: str) -> list[str]:
    return [secret for secret in forbidden() if secret in text]


# Filter pairs that differ only in the secret they guess (right, wrong): a user below admin must
# get the same answer for both, on every path a filter runs. Each was an oracle before the fix or
# is one that a raw-bytes pre-check would open.
FILTER_PAIRS: tuple[tuple[str, str], ...] = (
    (SSN, OTHER_SSN),  # plain text
    (f'value contains "{EMAIL}"', f'value contains "{OTHER_EMAIL}"'),
    (rf"value ~ /{SSN}|\*\*\*/", rf"value ~ /{OTHER_SSN}|\*\*\*/"),
    (f'customer.ssn == "{SSN}"', f'customer.ssn == "{OTHER_SSN}"'),
    ('customer.email contains "carol"', 'customer.email contains "dave"'),
    (r"key ~ /^bob@|\*\*\*/", r"key ~ /^zed@|\*\*\*/"),
    (f'key == "{SECRET_KEY}"', f'key == "{OTHER_KEY}"'),
    (r'headers."x-user" ~ /^bob|\*\*\*/', r'headers."x-user" ~ /^zed|\*\*\*/'),
)
# Filters whose answers show that searching still works for a masked reader (fixture names found).
WORKING_FILTERS: tuple[tuple[str, set[str]], ...] = (
    ('status == "ok"', {"json"}),
    ('"card declined"', {"text"}),
    ('customer.email == "***"', {"json"}),
    ("value == null", {"tombstone"}),
)
