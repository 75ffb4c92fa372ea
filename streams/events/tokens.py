"""Tokens of the filter language (streams/events/filters.py): one pass, columns kept for errors."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from backbone_admin.kafka.errors import InvalidRequest

ANY = object()  # a `*` path segment
KEYWORDS = {"and", "or", "not", "contains", "exists", "true", "false", "null"}
_IDENT_START = re.compile(r"[A-Za-z_$]")
_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")
_DIGITS = re.compile(r"\d+")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")


def error(message: str, field: str) -> InvalidRequest:
    return InvalidRequest(message, fields={field: message})


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # path | string | number | regex | op | ( | ) | end
    value: Any
    col: int  # 1-based column of its first character
    source: str

    @property
    def word(self) -> str | None:
        """The keyword this token spells (`and`, `AND`, …), if it is a bare word."""
        if self.kind == "path" and len(self.value) == 1 and isinstance(self.value[0], str):
            word = self.source
            if word in KEYWORDS or (word.isupper() and word.lower() in KEYWORDS):
                return word.lower()
        return None

    def shown(self) -> str:
        return "the end of the filter" if self.kind == "end" else f"`{self.source}`"


class Lexer:
    def __init__(self, text: str, field: str) -> None:
        self.text = text
        self.field = field
        self.pos = 0
        self.tokens: list[Token] = []

    def fail(self, message: str) -> InvalidRequest:
        return error(message, self.field)

    def run(self) -> list[Token]:
        text = self.text
        while True:
            while self.pos < len(text) and text[self.pos].isspace():
                self.pos += 1
            if self.pos >= len(text):
                self.tokens.append(Token("end", None, len(text) + 1, ""))
                return self.tokens
            self.tokens.append(self.next_token())

    def next_token(self) -> Token:
        text, start = self.text, self.pos
        char = text[start]
        col = start + 1
        if char in "()":
            self.pos += 1
            return Token(char, char, col, char)
        two = text[start : start + 2]
        if two in ("==", "!=", "<=", ">="):
            self.pos += 2
            return Token("op", two, col, two)
        if char in "<>~":
            self.pos += 1
            return Token("op", char, col, char)
        if char == "=":
            raise self.fail(f"unknown operator `=` at column {col}; compare with `==`")
        if char == "!":
            raise self.fail(f"unexpected `!` at column {col}; use `!=` or `not`")
        if two in ("&&", "||"):
            raise self.fail(f"unknown operator `{two}` at column {col}; use `{'and' if two == '&&' else 'or'}`")
        if char == '"':
            value, end = self.string(start)
            self.pos = end
            return Token("string", value, col, text[start:end])
        if char == "'":
            raise self.fail(f"unexpected `'` at column {col}; strings take double quotes")
        if char == "/" and self.tokens and self.tokens[-1].source == "~":
            return self.regex(start)
        number = _NUMBER.match(text, start)
        if number:
            self.pos = number.end()
            source = number.group()
            number_value = float(source) if any(c in source for c in ".eE") else int(source)
            return Token("number", number_value, col, source)
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

    def regex(self, start: int) -> Token:
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
                return Token("regex", ("".join(out), "i" in letters), start + 1, text[start:end])
            out.append(char)
            i += 1
        raise self.fail(f"unterminated regular expression starting at column {start + 1}; close it with `/`")

    def path(self, start: int) -> Token:
        """`a.b[0]."c d".*` — one token; segments are str keys, int indexes or ANY."""
        text = self.text
        first = _IDENT.match(text, start)
        assert first is not None
        segments: list[Any] = [first.group()]
        i = first.end()
        while i < len(text) and text[i] in ".[":
            opener = text[i]
            i += 1
            if i < len(text) and text[i] == "*":
                segments.append(ANY)
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
        return Token("path", tuple(segments), start + 1, text[start:i])
