"""The filter language of search, the live tail (and later replays and exports).

Text with no operators is searched as it is, in the key or the value (case-sensitive):
`ORD-1234`, `payment failed`. Otherwise it is an expression:

    payload.status == "DELAYED"                  a JSON field of the value
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
"""

from __future__ import annotations

import datetime
import json
import operator
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from backbone_admin.kafka.errors import InvalidRequest
from backbone_admin.patterns import Pattern, PatternError, compile_user_pattern
from streams.events.serialize import DecodedEvent

MAX_LENGTH = 500
MAX_DEPTH = 16
MAX_TERMS = 32

FILTER_EXAMPLES: tuple[tuple[str, str], ...] = (
    ("ORD-1234", "text in the key or the value"),
    ('payload.status == "DELAYED"', "a JSON field of the value"),
    ('amount > 100 and headers.source == "web"', "numbers, headers, and/or/not, parentheses"),
    (r"key ~ /^order-1\d+$/", "a regular expression (RE2; /.../i ignores case)"),
    ('items[*].sku contains "X1"', "any element of a list; contains: substring or element"),
    ("customer.email exists", "the field is there"),
    ('timestamp >= "2024-05-01T10:00:00Z"', "time (ms or ISO 8601, UTC)"),
)
FILTER_HELP = (
    "Text alone is searched in the key and value. Fields: key, value, partition, offset, timestamp, "
    "headers.<name>, JSON paths (payload.status, items[0].sku). Operators: == != < <= > >= contains ~ exists, "
    'not, and, or, ( ). Strings in "double quotes", regexes as /.../.'
)

Predicate = Callable[[DecodedEvent], bool]
_MISSING = object()
_ANY = object()  # a `*` path segment
_NUMBER_TYPES = (int, float)
_KEYWORDS = {"and", "or", "not", "contains", "exists", "true", "false", "null"}
_OPERATOR_CHARS = set('=<>~!()"')
_IDENT_START = re.compile(r"[A-Za-z_$]")
_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")
_DIGITS = re.compile(r"\d+")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_NUMERIC_TEXT = re.compile(r"\s*-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\s*")
_ORDER = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_OPERATORS = "==, !=, <, <=, >, >=, contains, ~, exists"


class Filter:
    """A parsed filter; `matches(event)` is the compiled predicate, cheap to call millions of times."""

    __slots__ = ("matches", "needs_json", "plain", "text")

    def __init__(self, text: str, matches: Predicate, *, needs_json: bool, plain: bool) -> None:
        self.text = text
        self.matches: Predicate = matches
        self.needs_json = needs_json  # it reads JSON fields (the value is parsed for each event)
        self.plain = plain  # the whole text is searched as it is, in key or value

    def __repr__(self) -> str:
        return f"Filter({self.text!r})"


def _error(message: str, field: str) -> InvalidRequest:
    return InvalidRequest(message, fields={field: message})


# --- tokens --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # path | string | number | regex | op | ( | ) | end
    value: Any
    col: int  # 1-based column of its first character
    source: str

    @property
    def word(self) -> str | None:
        """The keyword this token spells (`and`, `AND`, …), if it is a bare word."""
        if self.kind == "path" and len(self.value) == 1 and isinstance(self.value[0], str):
            word = self.source
            if word in _KEYWORDS or (word.isupper() and word.lower() in _KEYWORDS):
                return word.lower()
        return None

    def shown(self) -> str:
        return "the end of the filter" if self.kind == "end" else f"`{self.source}`"


class _Lexer:
    def __init__(self, text: str, field: str) -> None:
        self.text = text
        self.field = field
        self.pos = 0
        self.tokens: list[_Token] = []

    def fail(self, message: str) -> InvalidRequest:
        return _error(message, self.field)

    def run(self) -> list[_Token]:
        text = self.text
        while True:
            while self.pos < len(text) and text[self.pos].isspace():
                self.pos += 1
            if self.pos >= len(text):
                self.tokens.append(_Token("end", None, len(text) + 1, ""))
                return self.tokens
            self.tokens.append(self.next_token())

    def next_token(self) -> _Token:
        text, start = self.text, self.pos
        char = text[start]
        col = start + 1
        if char in "()":
            self.pos += 1
            return _Token(char, char, col, char)
        two = text[start : start + 2]
        if two in ("==", "!=", "<=", ">="):
            self.pos += 2
            return _Token("op", two, col, two)
        if char in "<>~":
            self.pos += 1
            return _Token("op", char, col, char)
        if char == "=":
            raise self.fail(f"unknown operator `=` at column {col}; compare with `==`")
        if char == "!":
            raise self.fail(f"unexpected `!` at column {col}; use `!=` or `not`")
        if two in ("&&", "||"):
            raise self.fail(f"unknown operator `{two}` at column {col}; use `{'and' if two == '&&' else 'or'}`")
        if char == '"':
            value, end = self.string(start)
            self.pos = end
            return _Token("string", value, col, text[start:end])
        if char == "'":
            raise self.fail(f"unexpected `'` at column {col}; strings take double quotes")
        if char == "/" and self.tokens and self.tokens[-1].source == "~":
            return self.regex(start)
        number = _NUMBER.match(text, start)
        if number:
            self.pos = number.end()
            source = number.group()
            number_value = float(source) if any(c in source for c in ".eE") else int(source)
            return _Token("number", number_value, col, source)
        if _IDENT_START.match(char):
            return self.path(start)
        raise self.fail(f"unexpected `{char}` at column {col}")

    def string(self, start: int) -> tuple[str, int]:
        """A double-quoted string (JSON escapes) starting at `start`: its value and the end position."""
        text, i = self.text, start + 1
        while i < len(text):
            if text[i] == "\\":
                i += 2
                continue
            if text[i] == '"':
                try:
                    return json.loads(text[start : i + 1], strict=False), i + 1
                except ValueError:
                    raise self.fail(f"invalid escape in the string at column {start + 1}") from None
            i += 1
        raise self.fail(f'unterminated string starting at column {start + 1}; close it with `"`')

    def regex(self, start: int) -> _Token:
        text, i = self.text, start + 1
        out: list[str] = []
        while i < len(text):
            char = text[i]
            if char == "\\" and i + 1 < len(text):
                out.append("/" if text[i + 1] == "/" else text[i : i + 2])
                i += 2
                continue
            if char == "/":
                flags = _IDENT.match(text, i + 1)
                end = flags.end() if flags else i + 1
                letters = flags.group() if flags else ""
                bad = set(letters) - {"i"}
                if bad:
                    raise self.fail(f"unknown regex flag `{sorted(bad)[0]}` at column {i + 2}; only `i` (ignore case)")
                self.pos = end
                return _Token("regex", ("".join(out), "i" in letters), start + 1, text[start:end])
            out.append(char)
            i += 1
        raise self.fail(f"unterminated regular expression starting at column {start + 1}; close it with `/`")

    def path(self, start: int) -> _Token:
        """`a.b[0]."c d".*` — one token; segments are str keys, int indexes or _ANY."""
        text = self.text
        first = _IDENT.match(text, start)
        assert first is not None
        segments: list[Any] = [first.group()]
        i = first.end()
        while i < len(text) and text[i] in ".[":
            opener = text[i]
            i += 1
            if i < len(text) and text[i] == "*":
                segments.append(_ANY)
                i += 1
            elif i < len(text) and text[i] == '"':
                value, i = self.string(i)
                segments.append(value)
            elif (digits := _DIGITS.match(text, i)) is not None:
                segments.append(int(digits.group()))
                i = digits.end()
            elif opener == "." and (ident := _IDENT.match(text, i)) is not None:
                segments.append(ident.group())
                i = ident.end()
            else:
                what = "a name" if opener == "." else 'an index, `*` or a "quoted" name'
                raise self.fail(f"expected {what} after `{opener}` at column {i + 1}")
            if opener == "[":
                if i >= len(text) or text[i] != "]":
                    raise self.fail(f"expected `]` at column {i + 1}")
                i += 1
        self.pos = i
        return _Token("path", tuple(segments), start + 1, text[start:i])


# --- JSON paths ----------------------------------------------------------------------------


def _resolver(path: tuple[Any, ...]) -> Callable[[Any], Iterable[Any]]:
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
        if segment is _ANY:
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


# --- value predicates ----------------------------------------------------------------------


def _json_equals(literal: Any) -> Callable[[Any], bool]:
    if literal is None or isinstance(literal, bool):
        return lambda v: v is literal
    if isinstance(literal, _NUMBER_TYPES):
        return lambda v: type(v) in _NUMBER_TYPES and v == literal
    return lambda v: v == literal  # a str equals only a str


def _json_predicate(op: str, literal: Any) -> Callable[[Any], bool]:
    """A test of one JSON value; any type mismatch is False."""
    if op == "==":
        return _json_equals(literal)
    if op == "!=":
        equals = _json_equals(literal)
        return lambda v: not equals(v)
    if op in _ORDER:
        compare = _ORDER[op]
        if isinstance(literal, str):
            return lambda v: type(v) is str and compare(v, literal)
        return lambda v: type(v) in _NUMBER_TYPES and compare(v, literal)
    if op == "~":
        search = literal.search
        return lambda v: type(v) is str and search(v)
    # contains
    member = _json_equals(literal)
    if isinstance(literal, str):
        return lambda v: (literal in v) if type(v) in (str, dict) else type(v) is list and any(member(x) for x in v)
    return lambda v: type(v) is list and any(member(x) for x in v)


def _as_number(text: str | None) -> float | None:
    if text is None or len(text) > 64 or not _NUMERIC_TEXT.fullmatch(text):
        return None
    return float(text)


def _text_predicate(op: str, literal: Any) -> Callable[[str | None], bool]:
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
    if op in _ORDER:
        compare = _ORDER[op]
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


# --- the parser ----------------------------------------------------------------------------


@dataclass
class _Operand:
    kind: str  # key | value | int | header | json
    token: _Token
    name: str = ""  # int field name, header name ("" for any header), json part (key/value)
    path: tuple[Any, ...] = ()


class _Parser:
    def __init__(self, text: str, field: str) -> None:
        self.text = text
        self.field = field
        self.tokens = _Lexer(text, field).run()
        self.index = 0
        self.depth = 0
        self.terms = 0
        self.needs_json = False

    def fail(self, message: str) -> InvalidRequest:
        return _error(message, self.field)

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def take(self) -> _Token:
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

    def enter(self, token: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(f"filter nested deeper than {MAX_DEPTH} levels at column {token.col}")

    def disjunction(self) -> Predicate:
        parts = [self.conjunction()]
        while self.peek().word == "or":
            self.take()
            parts.append(self.conjunction())
        return _any_of(parts)

    def conjunction(self) -> Predicate:
        parts = [self.negation()]
        while self.peek().word == "and":
            self.take()
            parts.append(self.negation())
        return _all_of(parts)

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
            return _substring(token.value)
        if token.kind == "path" and token.word is None:
            return self.comparison(self.operand(token))
        after = f" after {previous.shown()}" if previous is not None else ""
        raise self.fail(f"expected a condition{after} at column {token.col}, found {token.shown()}")

    def count(self, token: _Token) -> None:
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise self.fail(f"filter has more than {MAX_TERMS} conditions (at column {token.col}); shorten it")

    def operand(self, token: _Token) -> _Operand:
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
            name = "" if rest == (_ANY,) else ".".join("*" if s is _ANY else str(s) for s in rest)
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

    def literal(self, op: str, operand: _Operand, op_token: _Token) -> Any:
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
        if op in _ORDER and (value is None or isinstance(value, bool)):
            raise self.fail(f"`{op}` compares numbers or strings, not {token.source} (column {token.col})")
        if operand.kind == "int":
            value = self.int_literal(operand, value, op, token)
        return value

    def int_literal(self, operand: _Operand, value: Any, op: str, token: _Token) -> Any:
        if op == "contains":
            raise self.fail(f"`{operand.name}` is a number: `contains` does not apply (column {token.col})")
        if isinstance(value, str) and operand.name == "timestamp":
            return _timestamp_ms(value, token, self)
        if not isinstance(value, _NUMBER_TYPES) or isinstance(value, bool):
            extra = ' or an ISO 8601 date-time ("2024-05-01T10:00:00Z")' if operand.name == "timestamp" else ""
            raise self.fail(
                f"`{operand.name}` is a number: compare it with a number{extra}, "
                f"not {token.source} (column {token.col})"
            )
        return value

    def build(self, operand: _Operand, op: str, literal: Any, token: _Token) -> Predicate:
        if operand.kind == "int":
            return _int_field(operand.name, op, literal)
        if operand.kind == "header":
            return _header_field(operand.name, op, literal)
        if operand.kind in ("key", "value"):
            return _text_field(operand.kind, op, literal)
        self.needs_json = True
        return _json_field(operand.name, operand.path, op, literal)


def _timestamp_ms(text: str, token: _Token, parser: _Parser) -> int:
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


# --- compiled predicates -------------------------------------------------------------------


def _any_of(parts: list[Predicate]) -> Predicate:
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        first, second = parts
        return lambda e: first(e) or second(e)
    return lambda e: any(p(e) for p in parts)


def _all_of(parts: list[Predicate]) -> Predicate:
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        first, second = parts
        return lambda e: first(e) and second(e)
    return lambda e: all(p(e) for p in parts)


def _substring(text: str) -> Predicate:
    needle = text.encode("utf-8")

    def substring(e: DecodedEvent) -> bool:
        value = e.value_bytes()
        if value is not None and needle in value:
            return True
        key = e.key_bytes()
        return key is not None and needle in key

    return substring


def _int_field(name: str, op: str, literal: Any) -> Predicate:
    getter = operator.attrgetter(f"record.{name}")
    if op == "==":
        return lambda e: getter(e) == literal
    if op == "!=":
        return lambda e: getter(e) != literal
    compare = _ORDER[op]
    return lambda e: compare(getter(e), literal)


def _header_field(name: str, op: str, literal: Any) -> Predicate:
    header = name or None
    if op == "exists":
        return lambda e: bool(e.header_texts(header))
    test = _text_predicate(op, literal)
    return lambda e: any(test(t) for t in e.header_texts(header))


def _text_field(part: str, op: str, literal: Any) -> Predicate:
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
    test = _text_predicate(op, literal)

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


def _prefilter_needle(op: str, literal: Any) -> bytes | None:
    """Bytes that must be in the raw JSON for `==` / `contains` of this string to hold.

    A string in a JSON document appears literally unless escaped: short escapes only stand
    for `"`, `\\`, `/` and control characters (excluded here), and any character may be
    written as \\uXXXX (then the document holds `\\u` and the full check runs).
    """
    if op not in ("==", "contains") or not isinstance(literal, str) or not literal:
        return None
    if any(c in literal for c in '"\\/') or any(ord(c) < 0x20 for c in literal) or set(literal) == {"*"}:
        return None  # `*` alone: masking writes "***" where the raw text had something else
    return literal.encode("utf-8")


def _json_field(part: str, path: tuple[Any, ...], op: str, literal: Any) -> Predicate:
    resolve = _resolver(path)
    decoded = operator.attrgetter(part)
    if op == "exists":

        def exists(e: DecodedEvent) -> bool:
            d = decoded(e)
            return d.encoding in ("json", "avro") and any(True for _ in resolve(d.json))

        return exists
    test = _json_predicate(op, literal)

    def compare(e: DecodedEvent) -> bool:
        d = decoded(e)
        if d.encoding not in ("json", "avro"):
            return False
        return any(test(v) for v in resolve(d.json))

    needle = _prefilter_needle(op, literal)
    if needle is None:
        return compare
    searchable: Callable[[DecodedEvent], bytes | None] = operator.methodcaller(f"{part}_bytes")

    def prefiltered(e: DecodedEvent) -> bool:
        data = searchable(e)
        if data is None or (needle not in data and b"\\u" not in data):
            return False
        return compare(e)

    return prefiltered


def _match_all(e: DecodedEvent) -> bool:
    return True


def _looks_plain(text: str) -> bool:
    return not (set(text) & _OPERATOR_CHARS)


def parse_filter(text: str, *, field: str = "q") -> Filter:
    """Compile a filter (see the module docstring); InvalidRequest naming the column and `field` otherwise.

    Blank text matches every event. Text without operators, parentheses or quotes that is not
    an expression (`ORD-1234`, `not found`) is searched as it is, in key and value.
    """
    if len(text) > MAX_LENGTH:
        raise _error(f"filter longer than {MAX_LENGTH} characters ({len(text):,}); shorten it", field)
    stripped = text.strip()
    if not stripped:
        return Filter(text, _match_all, needs_json=False, plain=True)
    try:
        parser = _Parser(text, field)
        predicate = parser.parse()
    except InvalidRequest:
        if _looks_plain(stripped):
            return Filter(text, _substring(stripped), needs_json=False, plain=True)
        raise
    return Filter(text, predicate, needs_json=parser.needs_json, plain=False)
