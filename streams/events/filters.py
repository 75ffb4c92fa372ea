"""The filter language of search, the live tail (and later replays and exports).

Text with no operators is searched as it is, in the key or the value (case-sensitive):
`ORD-1234`, `payment failed`. Otherwise it is an expression:

    status == "delayed"                          a JSON field of the value (payload.status: a nested one)
    amount > 100 and headers.source == "web"     numbers compare with numbers, strings with strings
    key ~ /^order-1\\d+$/                         RE2 regular expression (/.../i ignores case), or ~ "..."
    items[0].sku contains "X1"                   `contains`: substring of a string, element of a list
    not customer.email exists or value == null   `exists`: the field is there; value == null: a tombstone
    "ORD-1234" or key == "k1"                    a quoted string alone is a substring of key or value
    timestamp >= "2024-05-01T10:00:00Z"          ms since the epoch or an ISO 8601 date-time (UTC if no zone)

Fields: `key`, `value` (their text), `partition`, `offset`, `timestamp`, `headers.<name>`
(or `headers."x-y"`; `headers.*` is any header), and JSON paths into the value:
`payload.status`, `items[0].sku`, `items[*].sku` (any element), `value."odd name"`,
`value.offset` (a JSON field named like a reserved word); `key.<path>` reads a JSON key.
Operators `== != < <= > >= contains ~ exists`, then `not`, `and`, `or` (in that order of
precedence), parentheses; strings in double quotes, numbers, true, false, null.

A comparison is false when the field is missing or holds another type (`amount > 100`
where amount is "12" or absent); `!=` is true when the field is there and differs.
Everything is compiled once at parse time: regexes through the linear-time engine
(backbone_admin.patterns), paths into tuples; evaluation only reads what the filter needs
(a text search looks for the bytes in the raw value and never parses JSON).

Here: the grammar (recursive descent) and the checks of each comparison; tokens.py cuts the
text into tokens with their columns; predicates.py holds the compiled predicates.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from backbone_admin.kafka.errors import InvalidRequest
from backbone_admin.patterns import PatternError, compile_user_pattern
from streams.events import predicates, rawcheck
from streams.events.predicates import NUMBER_TYPES, ORDER, PathSeen, Predicate
from streams.events.rawcheck import RawCheck
from streams.events.serialize import DecodedEvent
from streams.events.tokens import ANY, Lexer, Token, error

MAX_LENGTH = 500
MAX_DEPTH = 16
MAX_TERMS = 32

# Written for the demo's events (`make run`): each finds something there (streams/demo.py).
FILTER_EXAMPLES: tuple[tuple[str, str], ...] = (
    ("SHP-", "text in the key or the value"),
    ('status == "delayed"', "a JSON field of the value"),
    ('quantity > 100 and headers.source == "demo-producer"', "numbers, headers, and/or/not, parentheses"),
    ("key ~ /^ORD-/", "a regular expression (RE2; /.../i ignores case)"),
    ('telemetry.temperature > 6 or location.port == "NLRTM"', "nested JSON fields"),
    ('vessel contains "Ever"', "contains: substring of a string, element of a list"),
    ("delayMinutes exists", "the field is there"),
    ('timestamp >= "2024-05-01T10:00:00Z"', "time (ms or ISO 8601, UTC)"),
)
FILTER_HELP = (
    "Text alone is searched in the key and value. Fields: key, value, partition, offset, timestamp, "
    "headers.<name>, JSON paths (status, location.port, items[0].sku, items[*].sku). "
    "Operators: == != < <= > >= contains ~ exists, "
    'not, and, or, ( ). Strings in "double quotes", regexes as /.../.'
)
_OPERATOR_CHARS = set('=<>~!()"')
_OPERATORS = "==, !=, <, <=, >, >=, contains, ~, exists"


class Filter:
    """A parsed filter; `matches(event)` is the compiled predicate, cheap to call millions of times."""

    __slots__ = ("_unseen", "matches", "needs_json", "paths", "plain", "raw", "text")

    def __init__(
        self,
        text: str,
        matches: Predicate,
        *,
        needs_json: bool,
        plain: bool,
        paths: tuple[PathSeen, ...] = (),
        raw: RawCheck | None = None,
    ) -> None:
        self.text = text
        self.matches: Predicate = matches
        self.needs_json = needs_json  # it reads JSON fields (the value is parsed for each event)
        self.plain = plain  # the whole text is searched as it is, in key or value
        # The JSON paths it names, each told whether an event read had it (`observe`).
        self.paths = paths
        self._unseen = paths
        # What every event it finds holds as written (used without masking only; rawcheck.RawCheck).
        self.raw = raw

    def observing(self) -> bool:
        """Some of its JSON paths were in no event looked at yet: `observe` must see every event."""
        return bool(self._unseen)

    def observe(self, event: DecodedEvent) -> None:
        """Note which of the filter's JSON paths this event has; nothing once each was seen."""
        if not self._unseen:
            return
        found = [path for path in self._unseen if path.look(event)]  # every one looks, none is skipped
        if found:
            self._unseen = tuple(path for path in self._unseen if not path.seen)

    def absent_paths(self) -> list[str]:
        """The JSON paths no event observed so far had, as written in the filter."""
        return [path.shown for path in self.paths if not path.seen]

    def __repr__(self) -> str:
        return f"Filter({self.text!r})"


# --- the parser ----------------------------------------------------------------------------


@dataclass
class _Operand:
    kind: str  # key | value | int | header | json
    token: Token
    name: str = ""  # int field name, header name ("" for any header), json part (key/value)
    path: tuple[Any, ...] = ()


class _Parser:
    def __init__(self, text: str, field: str) -> None:
        self.text = text
        self.field = field
        self.tokens = Lexer(text, field).run()
        self.index = 0
        self.depth = 0
        self.terms = 0
        self.needs_json = False
        self.paths: dict[str, PathSeen] = {}
        # The condition on the bytes as written of each predicate that has one (by id: closures).
        self.raw: dict[int, RawCheck] = {}

    def note_raw(self, predicate: Predicate, raw: RawCheck | None) -> Predicate:
        if raw is not None:
            self.raw[id(predicate)] = raw
        return predicate

    def fail(self, message: str) -> InvalidRequest:
        return error(message, self.field)

    def peek(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def parse(self) -> Predicate:
        predicate = self.disjunction()
        token = self.peek()
        if token.kind == ")":
            raise self.fail(f"unexpected `)` at column {token.col}: no `(` to close")
        if token.kind != "end":
            raise self.fail(f"unexpected {token.shown()} at column {token.col}; join conditions with `and` or `or`")
        return predicate

    def enter(self, token: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(f"filter nested deeper than {MAX_DEPTH} levels at column {token.col}")

    def disjunction(self) -> Predicate:
        parts = [self.conjunction()]
        while self.peek().word == "or":
            self.take()
            parts.append(self.conjunction())
        raws = [self.raw.get(id(p)) for p in parts]
        known = [r for r in raws if r is not None]
        # Either side may hold: only when each has a condition is one of them needed.
        return self.note_raw(predicates.any_of(parts), rawcheck.raw_any(known) if len(known) == len(raws) else None)

    def conjunction(self) -> Predicate:
        parts = [self.negation()]
        while self.peek().word == "and":
            self.take()
            parts.append(self.negation())
        known = [r for p in parts if (r := self.raw.get(id(p))) is not None]
        return self.note_raw(predicates.all_of(parts), rawcheck.raw_all(known) if known else None)

    def negation(self) -> Predicate:
        token = self.peek()
        if token.word == "not":
            self.take()
            self.enter(token)
            inner = self.negation()
            self.depth -= 1
            return lambda e: not inner(e)
        return self.primary()

    def primary(self) -> Predicate:
        previous = self.tokens[self.index - 1] if self.index else None
        token = self.take()
        if token.kind == "(":
            self.enter(token)
            inner = self.disjunction()
            closing = self.take()
            if closing.kind != ")":
                raise self.fail(
                    f"missing `)` for the `(` at column {token.col}: found {closing.shown()} at column {closing.col}"
                )
            self.depth -= 1
            return inner
        if token.kind == "string":
            following = self.peek()
            if following.kind == "op" or following.word in ("contains", "exists"):
                raise self.fail(
                    f"{token.source} at column {token.col} is text to search for, not a field; "
                    f'write a field name (status, value."x-y", headers."x-y") before {following.shown()}'
                )
            self.count(token)
            needle = str(token.value).encode("utf-8")
            raw = rawcheck.raw_contains(None, (needle,)) if needle else None
            return self.note_raw(predicates.substring_predicate(token.value), raw)
        if token.kind == "path" and token.word is None:
            return self.comparison(self.operand(token))
        after = f" after {previous.shown()}" if previous is not None else ""
        raise self.fail(f"expected a condition{after} at column {token.col}, found {token.shown()}")

    def count(self, token: Token) -> None:
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise self.fail(f"filter has more than {MAX_TERMS} conditions (at column {token.col}); shorten it")

    def operand(self, token: Token) -> _Operand:
        head, rest = token.value[0], token.value[1:]
        if head in ("key", "value"):
            if not rest:
                return _Operand(head, token)
            return _Operand("json", token, name=head, path=rest)
        if head in ("partition", "offset", "timestamp"):
            if rest:
                raise self.fail(
                    f"`{head}` at column {token.col} is a number and has no fields; "
                    f"a JSON field called {head} is value.{token.source}"
                )
            return _Operand("int", token, name=head)
        if head in ("headers", "header"):
            if not rest:
                raise self.fail(f'name the header at column {token.col}: headers.<name> or headers."x-y"')
            name = "" if rest == (ANY,) else ".".join("*" if s is ANY else str(s) for s in rest)
            return _Operand("header", token, name=name)
        return _Operand("json", token, name="value", path=token.value)

    def comparison(self, operand: _Operand) -> Predicate:
        token = self.peek()
        word = token.word
        if token.kind != "op" and word not in ("contains", "exists"):
            raise self.fail(
                f"expected an operator after `{operand.token.source}` at column {token.col} ({_OPERATORS}); "
                'to search for text, put it in double quotes: "…"'
            )
        self.take()
        self.count(operand.token)
        op = word if word in ("contains", "exists") else token.source
        if op == "exists":
            if operand.kind == "int":
                raise self.fail(f"`{operand.name}` always exists (column {token.col})")
            return self.build(operand, op, None, token)
        literal = self.literal(op, operand, token)
        return self.build(operand, op, literal, token)

    def literal(self, op: str, operand: _Operand, op_token: Token) -> Any:
        token = self.take()
        if op == "~":
            if token.kind not in ("regex", "string"):
                raise self.fail(
                    f'expected a regular expression (/…/ or "…") after `~` at column {token.col}, found {token.shown()}'
                )
            source, ignore_case = token.value if token.kind == "regex" else (token.value, False)
            try:
                return compile_user_pattern(source, field=self.field, ignore_case=ignore_case)
            except PatternError as exc:
                raise self.fail(f"{exc.message} (at column {token.col})") from None
        if token.kind in ("string", "number"):
            value = token.value
        elif token.word in ("true", "false", "null"):
            value = {"true": True, "false": False, "null": None}[token.word]
        else:
            hint = f'; quote text: "{token.source}"' if token.kind == "path" else ""
            raise self.fail(
                f"expected a value after `{op_token.source}` at column {token.col}, found {token.shown()}{hint}"
            )
        if op in ORDER and (value is None or isinstance(value, bool)):
            raise self.fail(f"`{op}` compares numbers or strings, not {token.source} (column {token.col})")
        if operand.kind == "int":
            value = self.int_literal(operand, value, op, token)
        return value

    def int_literal(self, operand: _Operand, value: Any, op: str, token: Token) -> Any:
        if op == "contains":
            raise self.fail(f"`{operand.name}` is a number: `contains` does not apply (column {token.col})")
        if isinstance(value, str) and operand.name == "timestamp":
            return _timestamp_ms(value, token, self)
        if not isinstance(value, NUMBER_TYPES) or isinstance(value, bool):
            extra = ' or an ISO 8601 date-time ("2024-05-01T10:00:00Z")' if operand.name == "timestamp" else ""
            raise self.fail(
                f"`{operand.name}` is a number: compare it with a number{extra}, "
                f"not {token.source} (column {token.col})"
            )
        return value

    def build(self, operand: _Operand, op: str, literal: Any, token: Token) -> Predicate:
        if operand.kind == "int":
            return predicates.int_field(operand.name, op, literal)
        if operand.kind == "header":
            return predicates.header_field(operand.name, op, literal)
        if operand.kind in ("key", "value"):
            return predicates.text_field(operand.kind, op, literal)
        self.needs_json = True
        shown = operand.token.source
        if shown not in self.paths:
            self.paths[shown] = PathSeen(shown, operand.name, operand.path)
        return self.note_raw(
            predicates.json_field(operand.name, operand.path, op, literal),
            rawcheck.json_raw_check(operand.name, operand.path, op, literal),
        )


def _timestamp_ms(text: str, token: Token, parser: _Parser) -> int:
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise parser.fail(
            f'{token.source} at column {token.col} is not a date-time; write it as "2024-05-01T10:00:00Z" '
            "or in milliseconds since the epoch"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return int(moment.timestamp() * 1000)


def _looks_plain(text: str) -> bool:
    """No operator, parenthesis or quote, and no `contains`/`exists`: text to search for as it is."""
    return not (set(text) & _OPERATOR_CHARS) and not {"contains", "exists"} & set(text.lower().split())


def parse_filter(text: str, *, field: str = "q") -> Filter:
    """Compile a filter (see the module docstring); InvalidRequest naming the column and `field` otherwise.

    Blank text matches every event. Text without operators, parentheses or quotes that is not
    an expression (`ORD-1234`, `not found`) is searched as it is, in key and value.
    """
    if len(text) > MAX_LENGTH:
        raise error(f"filter longer than {MAX_LENGTH} characters ({len(text):,}); shorten it", field)
    stripped = text.strip()
    if not stripped:
        return Filter(text, predicates.match_all, needs_json=False, plain=True)
    try:
        parser = _Parser(text, field)
        predicate = parser.parse()
    except InvalidRequest:
        if _looks_plain(stripped):
            return Filter(text, predicates.substring_predicate(stripped), needs_json=False, plain=True)
        raise
    return Filter(
        text,
        predicate,
        needs_json=parser.needs_json,
        plain=False,
        paths=tuple(parser.paths.values()),
        raw=parser.raw.get(id(predicate)),
    )
