"""The compiled predicates of the filter language: closures over precompiled paths, literals and regexes.

Each takes a DecodedEvent and reads only what it needs: record fields, the key's or value's
bytes (no decoding), header texts, or the parsed JSON of the key or value. None raises on
odd data: a missing field or another type is simply False.

For a user below admin on a cluster with masking rules (`e.masking`) every predicate reads
the masked event only — `key_bytes()`/`value_bytes()` are then the masked text, None where
withheld — and no pre-check looks at the bytes as written: a test on those would tell a
masked value apart (`value ~ /123-45-6789|[*]{3}/`). Without masking the bytes are what the
user sees, and pre-checks on them keep searches fast.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from backbone_admin.patterns import Pattern
from streams.events.serialize import DecodedEvent
from streams.events.tokens import ANY

Predicate = Callable[[DecodedEvent], bool]
ORDER = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
NUMBER_TYPES = (int, float)
_MISSING = object()
_NUMERIC_TEXT = re.compile(r"\s*-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\s*")


# --- JSON paths ----------------------------------------------------------------------------


def resolver(path: tuple[Any, ...]) -> Callable[[Any], Iterable[Any]]:
    """A function from a JSON document to the values at `path` (several with `*`, none if missing)."""
    if all(isinstance(s, str) for s in path):
        keys = path

        def simple(doc: Any) -> Iterable[Any]:
            for key in keys:
                if type(doc) is not dict:
                    return ()
                doc = doc.get(key, _MISSING)
                if doc is _MISSING:
                    return ()
            return (doc,)

        return simple

    def walk(doc: Any, depth: int) -> Iterator[Any]:
        if depth == len(path):
            yield doc
            return
        segment = path[depth]
        if segment is ANY:
            children: Iterable[Any] = doc.values() if type(doc) is dict else doc if type(doc) is list else ()
            for child in children:
                yield from walk(child, depth + 1)
        elif type(doc) is dict:
            key = str(segment)
            if key in doc:
                yield from walk(doc[key], depth + 1)
        elif type(doc) is list and isinstance(segment, int) and segment < len(doc):
            yield from walk(doc[segment], depth + 1)

    return lambda doc: walk(doc, 0)


class PathSeen:
    """Whether a filter's JSON path was in at least one event looked at: a search that finds
    nothing can then say the field was absent from every event read (a typo, a wrong nesting).

    Looked at apart from the predicates (`and`/`or` skip those they need not ask), and only
    until it is seen once. Without masking an event whose bytes lack the path's last key
    (`"status"`) is passed over without parsing it.
    """

    __slots__ = ("_needle", "_part", "_resolve", "seen", "shown")

    def __init__(self, shown: str, part: str, path: tuple[Any, ...]) -> None:
        self.shown = shown
        self.seen = False
        self._part = part
        self._resolve = resolver(path)
        names = [s for s in path if isinstance(s, str)]
        name = names[-1] if names else ""
        plain = name and not any(c in name for c in '"\\/') and all(ord(c) >= 0x20 for c in name)
        self._needle = b'"' + name.encode("utf-8", "surrogatepass") + b'"' if plain else None

    def look(self, e: DecodedEvent) -> bool:
        decoded = getattr(e, self._part)
        if decoded.encoding == "withheld":
            self.seen = True  # masking hides whether it is there: never claim that it is absent
            return True
        if decoded.encoding not in ("json", "avro"):
            return False
        if self._needle is not None and not e.masking:
            data = e.value_bytes() if self._part == "value" else e.key_bytes()
            if data is None or (self._needle not in data and b"\\u" not in data):
                return False
        if any(True for _ in self._resolve(decoded.json)):
            self.seen = True
        return self.seen


# --- value predicates ----------------------------------------------------------------------


def json_equals(literal: Any) -> Callable[[Any], bool]:
    if literal is None or isinstance(literal, bool):
        return lambda v: v is literal
    if isinstance(literal, NUMBER_TYPES):
        return lambda v: type(v) in NUMBER_TYPES and v == literal
    return lambda v: v == literal  # a str equals only a str


def json_predicate(op: str, literal: Any) -> Callable[[Any], bool]:
    """A test of one JSON value; any type mismatch is False."""
    if op == "==":
        return json_equals(literal)
    if op == "!=":
        equals = json_equals(literal)
        return lambda v: not equals(v)
    if op in ORDER:
        compare = ORDER[op]
        if isinstance(literal, str):
            return lambda v: type(v) is str and compare(v, literal)
        return lambda v: type(v) in NUMBER_TYPES and compare(v, literal)
    if op == "~":
        search = literal.search
        return lambda v: type(v) is str and search(v)
    # contains
    member = json_equals(literal)
    if isinstance(literal, str):
        return lambda v: (literal in v) if type(v) in (str, dict) else type(v) is list and any(member(x) for x in v)
    return lambda v: type(v) is list and any(member(x) for x in v)


def _as_number(text: str | None) -> float | None:
    if text is None or len(text) > 64 or not _NUMERIC_TEXT.fullmatch(text):
        return None
    return float(text)


def text_predicate(op: str, literal: Any) -> Callable[[str | None], bool]:
    """A test of a key, value or header text (None: null or binary)."""
    if isinstance(literal, bool):
        literal = "true" if literal else "false"
    if op in ("==", "!="):
        if literal is None:
            return (lambda t: t is None) if op == "==" else (lambda t: t is not None)
        if isinstance(literal, str):
            equals: Callable[[str | None], bool] = lambda t: t == literal  # noqa: E731
        else:
            equals = lambda t: _as_number(t) == literal  # noqa: E731
        if op == "==":
            return equals
        return lambda t: t is not None and not equals(t)
    if op in ORDER:
        compare = ORDER[op]
        if isinstance(literal, str):
            return lambda t: t is not None and compare(t, literal)

        def numeric(t: str | None) -> bool:
            number = _as_number(t)
            return number is not None and compare(number, literal)

        return numeric
    if op == "~":
        search = literal.search
        return lambda t: t is not None and search(t)
    needle = literal if isinstance(literal, str) else json.dumps(literal)
    return lambda t: t is not None and needle in t


# --- compiled predicates -------------------------------------------------------------------


def any_of(parts: list[Predicate]) -> Predicate:
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        first, second = parts
        return lambda e: first(e) or second(e)
    return lambda e: any(p(e) for p in parts)


def all_of(parts: list[Predicate]) -> Predicate:
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        first, second = parts
        return lambda e: first(e) and second(e)
    return lambda e: all(p(e) for p in parts)


def substring_predicate(text: str) -> Predicate:
    needle = text.encode("utf-8")

    # The bytes as shown (without masking: as written, nothing decoded): value first, then key.
    def substring(e: DecodedEvent) -> bool:
        value = e.value_bytes()
        if value is not None and needle in value:
            return True
        key = e.key_bytes()
        return key is not None and needle in key

    return substring


def int_field(name: str, op: str, literal: Any) -> Predicate:
    getter = operator.attrgetter(f"record.{name}")
    if op == "==":
        return lambda e: getter(e) == literal
    if op == "!=":
        return lambda e: getter(e) != literal
    compare = ORDER[op]
    return lambda e: compare(getter(e), literal)


def header_field(name: str, op: str, literal: Any) -> Predicate:
    header = name or None
    if op == "exists":
        return lambda e: bool(e.header_texts(header))
    test = text_predicate(op, literal)
    return lambda e: any(test(t) for t in e.header_texts(header))


def text_field(part: str, op: str, literal: Any) -> Predicate:
    # Null or not (a tombstone, no key) is shown to everyone: it is read from the record.
    raw = operator.attrgetter(f"record.{part}")
    searchable: Callable[[DecodedEvent], bytes | None] = operator.methodcaller(f"{part}_bytes")
    if op == "exists":
        return lambda e: raw(e) is not None
    if op in ("==", "!=") and literal is None:
        return (lambda e: raw(e) is None) if op == "==" else (lambda e: raw(e) is not None)
    if op == "contains":
        needle = (literal if isinstance(literal, str) else json.dumps(literal)).encode("utf-8")

        def contains(e: DecodedEvent) -> bool:
            data = searchable(e)
            return data is not None and needle in data

        return contains
    if op == "~":
        pattern: Pattern = literal

        def matches(e: DecodedEvent) -> bool:
            data = searchable(e)
            return data is not None and pattern.search(data)

        return matches
    test = text_predicate(op, literal)

    def compare(e: DecodedEvent) -> bool:
        data = searchable(e)
        if data is None:
            return test(None)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return op == "!="  # binary differs from any text
        return test(text)

    return compare


def prefilter_needle(op: str, literal: Any) -> bytes | None:
    """Bytes that must be in the raw JSON for `==` / `contains` of this string to hold.

    A string in a JSON document appears literally unless escaped: short escapes only stand
    for `"`, `\\`, `/` and control characters (excluded here), and any character may be
    written as \\uXXXX (then the document holds `\\u` and the full check runs). Used only
    without masking (below admin the document is parsed to be masked anyway).
    """
    if op not in ("==", "contains") or not isinstance(literal, str) or not literal:
        return None
    if any(c in literal for c in '"\\/*') or any(ord(c) < 0x20 for c in literal):
        return None  # `*`: masking writes "***" where the raw text had something else
    return literal.encode("utf-8")


def json_field(part: str, path: tuple[Any, ...], op: str, literal: Any) -> Predicate:
    resolve = resolver(path)
    decoded = operator.attrgetter(part)
    if op == "exists":

        def exists(e: DecodedEvent) -> bool:
            d = decoded(e)
            return d.encoding in ("json", "avro") and any(True for _ in resolve(d.json))

        return exists
    test = json_predicate(op, literal)

    def compare(e: DecodedEvent) -> bool:
        d = decoded(e)
        if d.encoding not in ("json", "avro"):
            return False
        return any(test(v) for v in resolve(d.json))

    needle = prefilter_needle(op, literal)
    if needle is None:
        return compare
    written: Callable[[DecodedEvent], bytes | None] = operator.methodcaller(f"{part}_bytes")

    def prefiltered(e: DecodedEvent) -> bool:
        if e.masking:
            return compare(e)  # the masked document only: its bytes as written never meet the filter
        data = written(e)
        if data is None or (needle not in data and b"\\u" not in data):
            return False
        return compare(e)

    return prefiltered


def match_all(e: DecodedEvent) -> bool:
    return True
