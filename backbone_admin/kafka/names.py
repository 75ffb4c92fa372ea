"""What the Kafka client may be handed: the one check every name and text passes first.

confluent-kafka hands strings to librdkafka as C strings and does not always check the UTF-8
conversion: a lone surrogate in a topic name given to DescribeTopics or DeleteTopics, or in a
header name, ends the process with SIGSEGV; in a group id, with SIGABRT. A NUL cuts a C string
short (a request about `a\\0b` would be about `a`). So every gateway function that hands a
string to the client calls one of these first, before a client is built or a request sent;
a refusal is InvalidRequest (400) naming the problem, and no caller can forget it.

- A topic the console **creates** (`new_topic`) follows Apache Kafka's rules: 1 to 249 of
  `[a-zA-Z0-9._-]`, neither `.` nor `..`.
- A topic named for anything else (`topic`: describe, configs, delete, offsets, reads, tails,
  produce, group offsets) may exist with a name another Kafka-protocol broker accepted (the
  test broker holds `odd/name`, spaces, Unicode), and it must stay readable: only what the
  client cannot take safely is refused — a lone surrogate, a control character (NUL
  included) — and more than 249 characters, the longest name Kafka holds.
- Group ids (`group`) are named by other programs and Kafka takes nearly any string: refused
  are a lone surrogate, NUL, and more than MAX_TEXT_BYTES.
- Any other text (`text`: config names and values, header names, transactional ids, string
  keys): valid Unicode without NUL, at most MAX_TEXT_BYTES of UTF-8.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from backbone_admin.kafka.errors import InvalidRequest

TOPIC_NAME_MAX = 249  # characters: Kafka's limit (and what its own rules allow is ASCII)
# The longest string Kafka's protocol carries (int16 length): names and texts beyond cannot be a request.
MAX_TEXT_BYTES = 32_767
_KAFKA_LEGAL = re.compile(r"[a-zA-Z0-9._-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
SHOWN = 60


def shown(text: str, limit: int = SHOWN) -> str:
    """The text safe to put in a message: what cannot be printed (surrogates, controls) escaped, cut at `limit`."""
    out = "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in text[:limit])
    return out + ("…" if len(text) > limit else "")


def lone_surrogate(text: str) -> bool:
    """Whether the text holds a lone surrogate (what no UTF-8 encoder takes)."""
    return not text.isascii() and isinstance(_utf8_size(text, ""), str)


def _utf8_size(text: str, what: str) -> int | str:
    """Bytes of the text as UTF-8, or why it has none (a lone surrogate)."""
    if text.isascii():
        return len(text)
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        return f"{what} must be valid Unicode text: it holds a lone surrogate (\\u{ord(text[exc.start]):04x})"


def _unicode_problem(text: str, what: str, *, max_bytes: int = MAX_TEXT_BYTES) -> str | None:
    """Why the client cannot take `text` as a C string of UTF-8 (`what` names it), or None."""
    size = _utf8_size(text, what)
    if isinstance(size, str):
        return size
    if "\x00" in text:
        return f"{what} cannot hold a NUL character (\\u0000)"
    if size > max_bytes:
        return f"{what} is too long: {size:,} bytes of UTF-8, at most {max_bytes:,}"
    return None


def topic_problem(name: str) -> str | None:
    """Why a topic cannot be named to the client (an existing topic, any broker's naming), or None."""
    if not isinstance(name, str) or not name:
        return "a topic needs a name"
    if len(name) > TOPIC_NAME_MAX:
        return f"a topic name is at most {TOPIC_NAME_MAX} characters (this one has {len(name):,})"
    if problem := _unicode_problem(name, "a topic name"):
        return problem
    if found := _CONTROL.search(name):
        return f"a topic name cannot hold a control character (\\u{ord(found.group()):04x})"
    return None


def new_topic_problem(name: str) -> str | None:
    """Why Apache Kafka would refuse to create a topic of this name, or None."""
    if not isinstance(name, str) or not name:
        return "a topic needs a name"
    if name in (".", ".."):
        return "a topic cannot be named `.` or `..`"
    if len(name) > TOPIC_NAME_MAX:
        return f"a topic name is at most {TOPIC_NAME_MAX} characters (this one has {len(name):,})"
    if not _KAFKA_LEGAL.fullmatch(name):
        return "a topic name may only contain letters, digits, `.`, `_` and `-`"
    return None


def topic(name: str) -> str:
    """The name of a topic to read, change or write to, if the client can take it."""
    if problem := topic_problem(name):
        raise InvalidRequest(f"topic `{shown(str(name))}`: {problem}", fields={"topic": problem})
    return name


def topics(names: Iterable[str]) -> list[str]:
    return [topic(name) for name in names]


def new_topic(name: str) -> str:
    """The name of a topic to create, if Kafka's rules allow it."""
    if problem := new_topic_problem(name):
        raise InvalidRequest(f"cannot create topic `{shown(str(name))}`: {problem}", fields={"name": problem})
    return name


def group(group_id: str) -> str:
    """A consumer group id, if the client can take it."""
    if not isinstance(group_id, str) or not group_id:
        problem: str | None = "a consumer group needs an id"
    else:
        problem = _unicode_problem(group_id, "a group id")
    if problem:
        raise InvalidRequest(f"consumer group `{shown(str(group_id))}`: {problem}", fields={"group": problem})
    return group_id


def groups(group_ids: Iterable[str]) -> list[str]:
    return [group(group_id) for group_id in group_ids]


def text(value: str, what: str) -> str:
    """Any other text for the client (`what` names it in the message), if it can take it."""
    problem = _unicode_problem(value, f"the {what}") if isinstance(value, str) else f"the {what} is not text"
    if problem:
        raise InvalidRequest(f"{what} `{shown(str(value))}`: {problem}", fields={what: problem})
    return value


def configs(values: Mapping[str, str | None]) -> None:
    """Config names and values (None: back to the default)."""
    for name, value in values.items():
        text(name, "config name")
        if value is not None:
            text(value, f"config {shown(name)}")


def payload(value: bytes | str | None, what: str) -> None:
    """A record's key or value: bytes go as they are; text must be valid Unicode (any length)."""
    if isinstance(value, str) and isinstance(problem := _utf8_size(value, f"the {what}"), str):
        raise InvalidRequest(f"{what} `{shown(value)}`: {problem}", fields={what: problem})


def headers(pairs: Iterable[tuple[str, bytes | str | None]]) -> None:
    """A record's headers: each name is text (a C string for the client); a text value too."""
    for name, value in pairs:
        # The common case of every replayed record: short ASCII names.
        if not (isinstance(name, str) and name.isascii() and len(name) <= 1024 and "\x00" not in name):
            text(name, "header name")
        if isinstance(value, str):
            text(value, f"header {shown(name)}")
