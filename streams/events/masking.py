"""Masking of personal data for everyone below admin, per cluster (the clusters file's `masking:`).

    masking:
      fields: [customer.email, "items.*.card"]       # JSON paths; `*` is any key or list index
      patterns: ['\\b\\d{4}-\\d{4}-\\d{4}-\\d{4}\\b']   # RE2, matches replaced in text

A field path's value (whatever it holds: string, number, object) becomes "***"; every
pattern match in text, in JSON string leaves (and object keys) and in header values becomes
"***". JSON and Avro values are masked on their data, then shown re-serialised. The caller
decides who sees unmasked events (admins) by whether it calls `mask` at all.

Masking fails closed: what it cannot read well enough to mask is withheld — shown as
WITHHELD, encoding "withheld", the reason in `error` — never as it was written:

- a key or value in binary (base64: protobuf, an Avro value whose schema cannot be had, …),
  and a binary header value where patterns apply: there is no text in it to mask, yet
  decoding it by hand may show what the rules hide;
- with field rules, a key or value that is text, not strict JSON, and could still be a
  document holding a masked field: past a byte-order mark and spaces it starts with `{` or
  `[` (`NaN`, a BOM, > 64 leading spaces, nesting too deep or a value too long to parse), or
  it names a masked field as a key (`"email":`, `email=` for `customer.email`: JSON embedded
  in a log line, a Python dict, key=value pairs) — a mere mention (`card declined`) is shown;
- a document nested too deeply to walk.

Field paths apply to keys and values, not to header values (patterns apply to all three).
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import json
import re
from typing import Any

from backbone_admin.clusters import ClusterConfig
from backbone_admin.patterns import Pattern, PatternError, compile_user_pattern
from streams.events.decoding import Decoded, decode_plain

MASK = "***"
WILDCARD = "*"
WITHHELD = "cannot be masked: shown to admins only"
BINARY = "binary data: masking cannot read inside it"
UNREADABLE = "not decoded: masking cannot read it"
NOT_JSON = "not strict JSON, and it may hold a masked field"
TOO_DEEP = "nested too deeply to mask"
# Skipped before the first character of a text that may be a document: a lenient parser skips them too.
_INVISIBLE = "\ufeff\u200b\u200c\u200d\u2060\x00"


def withhold(decoded: Decoded, reason: str) -> Decoded:
    """What a user below admin is shown instead of a key, value or header that cannot be masked."""
    return Decoded(text=WITHHELD, encoding="withheld", schema_id=decoded.schema_id, error=reason, masked=True)


@dataclasses.dataclass(frozen=True)
class Masker:
    paths: tuple[tuple[str, ...], ...]
    patterns: tuple[Pattern, ...]
    # Each pattern in multi-line mode (None where that cannot stand in for it): one scan over
    # all the string leaves of a document, joined by newlines, finds the leaves to mask.
    scanners: tuple[Pattern | None, ...] = ()
    # The masked fields' names (last named segment of each path, lower case) a text may mention;
    # None when a path names none (`*`): any text may hold a masked field.
    names: tuple[str, ...] | None = ()

    def text(self, text: str) -> str:
        for pattern in self.patterns:
            # `_regex` is the compiled RE2 of compile_user_pattern: linear-time substitution.
            text = pattern._regex.sub(MASK, text)
        return text

    def data(self, value: Any) -> tuple[Any, bool]:
        """`value` masked (copied where changed, never mutated), and whether anything changed."""
        original = value
        for path in self.paths:
            value = _mask_path(value, path, 0)
        changed = value is not original
        if self.patterns:
            leaves: list[str] = []
            ends: dict[int, int] = {}
            _collect(value, leaves, ends)
            flagged = self._flag(leaves)
            if flagged is None or flagged:
                state = _Rebuild(flagged=flagged, ends=ends)
                value = self._rebuild(value, state)
                changed = changed or state.changed
        return value, changed

    def _flag(self, leaves: list[str]) -> list[int] | None:
        """Sorted indexes of the leaves some pattern may match; None: treat every leaf.

        One RE2 call per pattern instead of one per leaf and pattern (each costs ~2 µs).
        Sound because a match inside one leaf is also found in the joined text (multi-line
        `^`/`$` match at the newlines; `\b` sees a newline as a non-word neighbour like a
        text's end), unless an earlier match runs across a newline or is empty — then every
        leaf is treated, one call each.
        """
        if not leaves:
            return []
        joined = _SEPARATOR.join(leaves)
        ends: list[int] = []
        position = 0
        for leaf in leaves:
            position += len(leaf)
            ends.append(position)
            position += 1
        flagged: set[int] = set()
        for scanner in self.scanners:
            if scanner is None:
                return None
            for match in scanner._regex.finditer(joined):
                start, end = match.span()
                if start == end or _SEPARATOR in joined[start:end]:
                    return None
                flagged.add(bisect.bisect_left(ends, start))
        return sorted(flagged)

    def _rebuild(self, value: Any, state: _Rebuild) -> Any:
        """`value` with its flagged string leaves (numbered as _collect does) through `text`."""
        kind = type(value)
        if kind is str:
            index = state.next
            state.next += 1
            if state.flagged is not None and not _contains(state.flagged, index, index + 1):
                return value
            new = self.text(value)
            state.changed = state.changed or new != value
            return new
        if kind is not dict and kind is not list:
            return value
        end = state.ends[id(value)]
        if state.flagged is not None and not _contains(state.flagged, state.next, end):
            state.next = end  # nothing to mask in here: keep it as it is
            return value
        if kind is dict:
            out = {}
            for key, item in value.items():
                new_key = self._rebuild(key, state)
                out[new_key] = self._rebuild(item, state)
            return out
        return [self._rebuild(item, state) for item in value]

    def apply(self, decoded: Decoded) -> Decoded:
        """A key or value masked, or withheld where it cannot be (see the module docstring)."""
        encoding = decoded.encoding
        if encoding in ("null", "withheld"):
            return decoded
        if encoding in ("json", "avro"):
            try:
                masked, changed = self.data(decoded.json)
                if not changed:
                    return decoded
                text = json.dumps(masked, ensure_ascii=False)
            except RecursionError:  # nested too deep to walk: show nothing rather than something unmasked
                return withhold(decoded, TOO_DEEP)
            return dataclasses.replace(decoded, text=text, json=masked, masked=True)
        if encoding == "text" and decoded.text is not None:
            if self.paths and self.may_hold_fields(decoded.text):
                return withhold(decoded, NOT_JSON)
            return self._patterns_in_text(decoded)
        # Binary, a schema-registry value that could not be decoded, or a form masking does not know.
        return withhold(decoded, UNREADABLE if decoded.error else BINARY)

    def header(self, decoded: Decoded) -> Decoded:
        """A header value masked by the patterns (field paths are for keys and values), or withheld."""
        if not self.patterns or decoded.encoding in ("null", "withheld"):
            return decoded
        if decoded.encoding == "text" and decoded.text is not None:
            return self._patterns_in_text(decoded)
        return withhold(decoded, BINARY)

    def _patterns_in_text(self, decoded: Decoded) -> Decoded:
        if self.patterns and decoded.text is not None:
            text = self.text(decoded.text)
            if text != decoded.text:
                return dataclasses.replace(decoded, text=text, masked=True)
        return decoded

    def may_hold_fields(self, text: str) -> bool:
        """Text that may be a document holding a masked field, which masking could not parse."""
        if self.names is None:
            return True
        start, end = 0, len(text)
        while start < end and (text[start].isspace() or text[start] in _INVISIBLE):
            start += 1
        if start < end and text[start] in "{[":
            return True
        if not self.names:
            return False
        lowered = text.lower()
        return any(_names_key(lowered, name) for name in self.names)


_SEPARATOR = "\n"
_MULTILINE_OFF = re.compile(r"\(\?[A-Za-z]*-[A-Za-z]*m")  # (?-m) or (?i-m:…) would undo the wrapper


@dataclasses.dataclass
class _Rebuild:
    flagged: list[int] | None
    ends: dict[int, int]  # id(container) -> index after its last leaf
    next: int = 0
    changed: bool = False


def _word_character(character: str) -> bool:
    return character.isalnum() or character == "_"


def _names_key(text: str, name: str) -> bool:
    """`name` in `text` as a key: a whole word, then maybe a closing quote, then `:` or `=`
    (`"email": …`, `'email': …`, `email=…`, `\\"email\\":` in an escaped document)."""
    at, size = text.find(name), len(text)
    while at >= 0:
        end = at + len(name)
        if at == 0 or not _word_character(text[at - 1]):
            while end < size and text[end] in "\\\"'":
                end += 1
            while end < size and text[end].isspace():  # linear overall: the next name starts after this run
                end += 1
            if end < size and text[end] in ":=":
                return True
        at = text.find(name, at + 1)
    return False


def _field_names(paths: tuple[tuple[str, ...], ...]) -> tuple[str, ...] | None:
    """The last named segment of each path (`email` of `customer.email`, `card` of `items.*.card`)."""
    names: list[str] = []
    for path in paths:
        named = [segment for segment in path if segment != WILDCARD and not segment.isdigit()]
        if not named:
            return None  # `*` masks every top-level field: any text may hold one
        if named[-1].lower() not in names:
            names.append(named[-1].lower())
    return tuple(names)


def _contains(flagged: list[int], start: int, end: int) -> bool:
    """Some flagged index in [start, end)."""
    i = bisect.bisect_left(flagged, start)
    return i < len(flagged) and flagged[i] < end


def _collect(value: Any, leaves: list[str], ends: dict[int, int]) -> None:
    """The string leaves of a JSON document (object keys included) depth first; where each container ends."""
    kind = type(value)
    if kind is str:
        leaves.append(value)
        return
    if kind is dict:
        for key, item in value.items():
            leaves.append(key)
            if type(item) is str:
                leaves.append(item)
            elif type(item) is dict or type(item) is list:
                _collect(item, leaves, ends)
    elif kind is list:
        for item in value:
            if type(item) is str:
                leaves.append(item)
            elif type(item) is dict or type(item) is list:
                _collect(item, leaves, ends)
    else:
        return
    ends[id(value)] = len(leaves)


def _scanner(pattern: str) -> Pattern | None:
    if "\\A" in pattern or "\\z" in pattern or _MULTILINE_OFF.search(pattern):
        return None  # text start/end only, whatever the mode
    try:
        return compile_user_pattern(f"(?m:{pattern})", field="masking.patterns")
    except PatternError:
        return None  # too long with the wrapper: every leaf is treated one by one


def _mask_path(node: Any, path: tuple[str, ...], depth: int) -> Any:
    """`node` with the values at `path` replaced by MASK (copied where changed, never mutated)."""
    if depth == len(path):
        return MASK
    segment = path[depth]
    if isinstance(node, dict):
        keys = list(node) if segment == WILDCARD else ([segment] if segment in node else [])
        out = node
        for key in keys:
            new = _mask_path(node[key], path, depth + 1)
            if new is not node[key]:
                if out is node:
                    out = dict(node)
                out[key] = new
        return out
    if isinstance(node, list):
        if segment == WILDCARD:
            indexes: range | list[int] = range(len(node))
        else:
            indexes = [int(segment)] if segment.isdigit() and int(segment) < len(node) else []
        out_list = node
        for index in indexes:
            new = _mask_path(node[index], path, depth + 1)
            if new is not node[index]:
                if out_list is node:
                    out_list = list(node)
                out_list[index] = new
        return out_list
    return node


@functools.lru_cache(maxsize=64)
def masker(fields: tuple[str, ...], patterns: tuple[str, ...]) -> Masker | None:
    """The compiled masking rules (None when there are none)."""
    if not fields and not patterns:
        return None
    paths = tuple(tuple(field.split(".")) for field in fields)
    compiled = tuple(compile_user_pattern(p, field="masking.patterns") for p in patterns)
    return Masker(
        paths=paths,
        patterns=compiled,
        scanners=tuple(_scanner(p) for p in patterns),
        names=_field_names(paths),
    )


def masker_for(cluster: ClusterConfig) -> Masker | None:
    return masker(cluster.mask_fields, cluster.mask_patterns)


def mask(decoded: Decoded, cluster: ClusterConfig) -> Decoded:
    """`decoded` with the cluster's masking applied; `masked=True` on it when anything was replaced or withheld."""
    rules = masker_for(cluster)
    return decoded if rules is None else rules.apply(decoded)


def masked_key_refusal(key: str, cluster: ClusterConfig) -> str | None:
    """Why a user below admin may not look up this key (None: they may).

    A look-up compares the key as that user sees it; a key that masking hides (or withholds)
    could only be found by comparing the key as written, which would tell whether that hidden
    key is there: refused, with this reason.
    """
    rules = masker_for(cluster)
    if rules is None:
        return None
    if rules.apply(decode_plain(key.encode("utf-8", "surrogatepass"))).masked:
        return (
            f"masking on cluster `{cluster.name}` hides this key from your role: a look-up by a masked key "
            "would tell whether it is there, so it is for admins only"
        )
    return None
