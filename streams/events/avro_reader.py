"""Avro binary data as JSON-able values, within bounds: nesting depth, items and characters.

    reader = compile_reader(schema.parsed, schema.named)   # once per schema (Schema.reader)
    value, cut = read_avro(reader, payload)                 # cut: None, or where it stopped

Written for the console rather than taken from fastavro, whose compiled reader recurses in C
without a limit (a 10 KB value nested 5,000 levels deep ends the process) and builds the
whole value before anyone can look at its size (an array of a 5,000-character enum symbol
takes one byte per item: 40 KB of input is 200 MB of output). Here:

- a value nested deeper than MAX_DEPTH records, arrays and maps raises TooDeep: the caller
  shows it as too deeply nested instead (a linked list of 500 nodes included);
- every value read counts against an item budget and every string, bytes, fixed and enum
  symbol (and every record's field names) against a character budget, both proportional to
  the payload's size within a floor and a ceiling (`budget`); reading stops where either
  runs out, and the value read so far is returned with a marker where it stopped
  ("…cut at 655,360 characters"): the last item of the array, the value of the record field
  or map key being read. Reading never goes further than the budget, so a bomb costs what
  its cut output costs, not what it would expand to.

Values come out as Avro's JSON encoding has them, as the console always showed them: bytes
and fixed as text of code points 0-255, timestamps, dates and times in ISO 8601, decimals as
numbers when exact (else text), UUIDs as text, NaN and infinities as text.
"""

from __future__ import annotations

import datetime
import decimal
import math
import struct
import uuid
from collections.abc import Callable
from typing import Any

MAX_DEPTH = 128  # records, arrays and maps inside each other (serde_json's default limit too)
# Characters and items a decoded value may hold: CHARS_PER_BYTE and ITEMS_PER_BYTE times its
# payload's size, at least the floor, at most the ceiling. Legitimate values stay well inside
# (JSON repeats field names: a record of small fields is 5-15 times its Avro size).
CHARS_PER_BYTE = 16
MIN_CHARS = 256 * 1024
MAX_CHARS = 4 * 1024 * 1024
ITEMS_PER_BYTE = 4
MIN_ITEMS = 10_000
MAX_ITEMS = 250_000
MAX_VARINT_BYTES = 10

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_EPOCH_NAIVE = datetime.datetime(1970, 1, 1)
_DAYS_SHIFT = datetime.date(1970, 1, 1).toordinal()
_FLOAT = struct.Struct("<f").unpack_from
_DOUBLE = struct.Struct("<d").unpack_from
_NOTHING: Any = object()


class TooDeep(Exception):
    """The value is nested deeper than MAX_DEPTH."""


class Corrupt(ValueError):
    """The bytes are not a value of the schema."""


class _Cut(Exception):
    """A budget ran out; `partial` is the innermost container read so far, holding the marker."""

    def __init__(self, marker: str) -> None:
        self.marker = marker
        self.partial: Any = _NOTHING


class _State:
    __slots__ = ("chars", "chars_budget", "data", "depth", "end", "items", "items_budget", "pos")

    def __init__(self, data: bytes, chars: int, items: int) -> None:
        self.data = data
        self.pos = 0
        self.end = len(data)
        self.depth = 0
        self.chars = self.chars_budget = chars
        self.items = self.items_budget = items

    def cut(self) -> _Cut:
        if self.items < 0:
            return _Cut(f"…cut at {self.items_budget:,} items")
        return _Cut(f"…cut at {self.chars_budget:,} characters")


Reader = Callable[[_State], Any]


def budget(size: int) -> tuple[int, int]:
    """(characters, items) a value decoded from `size` bytes may hold."""
    chars = min(MAX_CHARS, max(MIN_CHARS, CHARS_PER_BYTE * size))
    return chars, min(MAX_ITEMS, max(MIN_ITEMS, ITEMS_PER_BYTE * size))


def read_avro(reader: Reader, payload: bytes) -> tuple[Any, str | None]:
    """The value of `payload`, and None or the marker where a budget stopped it.

    TooDeep past MAX_DEPTH; Corrupt (or ValueError, OverflowError from a logical type) when
    the bytes are not a value of the schema or bytes are left over.
    """
    chars, items = budget(len(payload))
    state = _State(payload, chars, items)
    try:
        value = reader(state)
    except _Cut as cut:
        return (cut.marker if cut.partial is _NOTHING else cut.partial), cut.marker
    except IndexError:
        raise Corrupt("the data ends before the value does") from None
    except UnicodeDecodeError:
        raise Corrupt("a string is not UTF-8") from None
    if state.pos != state.end:
        raise Corrupt(f"{state.end - state.pos} byte(s) left over")
    return value, None


# --- primitives ------------------------------------------------------------------------------


def _long(s: _State) -> int:
    data, pos = s.data, s.pos
    byte = data[pos]
    pos += 1
    n = byte & 0x7F
    shift = 7
    while byte & 0x80:
        byte = data[pos]
        pos += 1
        n |= (byte & 0x7F) << shift
        shift += 7
        if shift > 7 * MAX_VARINT_BYTES:
            raise Corrupt("a number longer than 10 bytes")
    s.pos = pos
    return (n >> 1) ^ -(n & 1)


def _raw(s: _State, size: int) -> bytes:
    """`size` bytes, charged as characters (a string, bytes or fixed)."""
    start = s.pos
    end = start + size
    if size < 0 or end > s.end:
        raise Corrupt(f"a length of {size} bytes runs past the data")
    s.chars -= size + 2
    if s.chars < 0:
        raise s.cut()
    s.pos = end
    return s.data[start:end]


def _null(s: _State) -> None:
    return None


def _boolean(s: _State) -> bool:
    byte = s.data[s.pos]
    s.pos += 1
    return byte != 0


def _number(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)


def _float(s: _State) -> float | str:
    if s.pos + 4 > s.end:
        raise Corrupt("the data ends inside a float")
    value = _FLOAT(s.data, s.pos)[0]
    s.pos += 4
    return _number(value)


def _double(s: _State) -> float | str:
    if s.pos + 8 > s.end:
        raise Corrupt("the data ends inside a double")
    value = _DOUBLE(s.data, s.pos)[0]
    s.pos += 8
    return _number(value)


def _string(s: _State) -> str:
    return _raw(s, _long(s)).decode("utf-8")


def _bytes(s: _State) -> bytes:
    return _raw(s, _long(s))


_PRIMITIVES: dict[str, Reader] = {
    "null": _null,
    "boolean": _boolean,
    "int": _long,
    "long": _long,
    "float": _float,
    "double": _double,
    "string": _string,
    "bytes": _bytes,
}


def _text_of_bytes(read: Reader) -> Reader:
    def text(s: _State) -> str:
        data: bytes = read(s)
        return data.decode("latin-1")  # Avro's JSON encoding of bytes and fixed

    return text


# --- logical types ---------------------------------------------------------------------------


def _decimal(schema: dict[str, Any]) -> Callable[[bytes], float | str]:
    context = decimal.Context(prec=schema["precision"])
    scale = schema.get("scale", 0)

    def convert(data: bytes) -> float | str:
        value = context.create_decimal(int.from_bytes(data, "big", signed=True)).scaleb(-scale, context)
        as_float = float(value)
        return as_float if math.isfinite(as_float) and decimal.Decimal(repr(as_float)) == value else str(value)

    return convert


def _time_millis(n: int) -> str:
    return datetime.time(n // 3_600_000, n // 60_000 % 60, n // 1000 % 60, n % 1000 * 1000).isoformat()


def _time_micros(n: int) -> str:
    return datetime.time(n // 3_600_000_000, n // 60_000_000 % 60, n // 1_000_000 % 60, n % 1_000_000).isoformat()


_LOGICAL: dict[str, Callable[[Any], Any]] = {
    "long-timestamp-millis": lambda n: (_EPOCH + datetime.timedelta(microseconds=n * 1000)).isoformat(),
    "long-timestamp-micros": lambda n: (_EPOCH + datetime.timedelta(microseconds=n)).isoformat(),
    "long-local-timestamp-millis": lambda n: (_EPOCH_NAIVE + datetime.timedelta(microseconds=n * 1000)).isoformat(),
    "long-local-timestamp-micros": lambda n: (_EPOCH_NAIVE + datetime.timedelta(microseconds=n)).isoformat(),
    "int-date": lambda n: datetime.date.fromordinal(n + _DAYS_SHIFT).isoformat(),
    "int-time-millis": _time_millis,
    "long-time-micros": _time_micros,
    "string-uuid": lambda text: str(uuid.UUID(text)),
}


def _logical(kind: str, schema: dict[str, Any], read: Reader) -> Reader:
    logical = f"{kind}-{schema.get('logicalType')}"
    if logical in ("bytes-decimal", "fixed-decimal"):
        convert = _decimal(schema)
    elif logical in _LOGICAL:
        convert = _LOGICAL[logical]
    else:
        return _text_of_bytes(read) if kind in ("bytes", "fixed") else read

    def logical_value(s: _State) -> Any:
        return convert(read(s))

    return logical_value


# --- composite types ---------------------------------------------------------------------------


def compile_reader(schema: Any, named: dict[str, Any]) -> Reader:
    """A reader of values of a parsed schema (fastavro's parse_schema; `named`: its named types)."""
    return _Compiler(named).compile(schema)


class _Compiler:
    def __init__(self, named: dict[str, Any]) -> None:
        self.named = named
        # Named types compile once; a recursive reference reads through the cell while it is built.
        self.done: dict[str, Reader] = {}

    def compile(self, schema: Any) -> Reader:
        if isinstance(schema, str):
            if schema in _PRIMITIVES:
                return _text_of_bytes(_bytes) if schema == "bytes" else _PRIMITIVES[schema]
            return self._named(schema)
        if isinstance(schema, list):
            return self._union(schema)
        if not isinstance(schema, dict):
            raise Corrupt(f"not an Avro schema: {schema!r}"[:200])
        kind = schema.get("type")
        if isinstance(kind, dict | list):
            return self.compile(kind)
        name = schema.get("name")
        if kind in ("record", "error", "enum", "fixed") and isinstance(name, str):
            if name not in self.done:
                self._define(name, schema)
            return self.done[name]
        if kind == "array":
            return self._array(self.compile(schema["items"]))
        if kind == "map":
            return self._map(self.compile(schema["values"]))
        if kind in _PRIMITIVES:
            read = _bytes if kind == "bytes" else _PRIMITIVES[kind]
            return _logical(kind, schema, read) if "logicalType" in schema else self.compile(kind)
        if isinstance(kind, str):
            return self._named(kind)
        raise Corrupt(f"not an Avro schema: {schema!r}"[:200])

    def _named(self, name: str) -> Reader:
        if name not in self.done:
            if name not in self.named:
                raise Corrupt(f"unknown type {name}")
            self._define(name, self.named[name])
        return self.done[name]

    def _define(self, name: str, schema: dict[str, Any]) -> None:
        cell: list[Reader] = []

        def forward(s: _State) -> Any:
            return cell[0](s)

        self.done[name] = forward  # a reference from inside the type itself (recursion)
        kind = schema.get("type")
        if kind == "enum":
            read = self._enum(schema)
        elif kind == "fixed":
            read = self._fixed(schema)
        else:
            read = self._record(schema)
        cell.append(read)
        self.done[name] = read

    def _enum(self, schema: dict[str, Any]) -> Reader:
        symbols = list(schema.get("symbols") or [])
        costs = [len(symbol) + 2 for symbol in symbols]
        count = len(symbols)

        def enum(s: _State) -> str:
            index = _long(s)
            if not 0 <= index < count:
                raise Corrupt(f"enum index {index} out of range")
            s.chars -= costs[index]
            if s.chars < 0:
                raise s.cut()
            return symbols[index]

        return enum

    def _fixed(self, schema: dict[str, Any]) -> Reader:
        size = int(schema.get("size") or 0)

        def fixed(s: _State) -> bytes:
            return _raw(s, size)

        if "logicalType" in schema:
            return _logical("fixed", schema, fixed)
        return _text_of_bytes(fixed)

    def _record(self, schema: dict[str, Any]) -> Reader:
        fields = [(str(f["name"]), self.compile(f["type"])) for f in schema.get("fields", [])]
        count = len(fields)
        names = sum(len(name) + 4 for name, _ in fields) + 2

        def record(s: _State) -> dict[str, Any]:
            s.depth += 1
            if s.depth > MAX_DEPTH:
                raise TooDeep
            s.items -= count
            s.chars -= names
            if s.items < 0 or s.chars < 0:
                raise s.cut()
            out: dict[str, Any] = {}
            name = ""
            try:
                for name, read in fields:
                    out[name] = read(s)
            except _Cut as cut:
                out[name] = cut.marker if cut.partial is _NOTHING else cut.partial
                cut.partial = out
                raise
            s.depth -= 1
            return out

        return record

    def _union(self, branches: list[Any]) -> Reader:
        readers = [self.compile(branch) for branch in branches]
        count = len(readers)

        def union(s: _State) -> Any:
            index = _long(s)
            if not 0 <= index < count:
                raise Corrupt(f"union branch {index} out of range")
            return readers[index](s)

        return union

    def _array(self, read: Reader) -> Reader:
        def array(s: _State) -> list[Any]:
            s.depth += 1
            if s.depth > MAX_DEPTH:
                raise TooDeep
            out: list[Any] = []
            append = out.append
            try:
                while count := _block(s):
                    for _ in range(count):
                        s.items -= 1
                        if s.items < 0:
                            raise s.cut()
                        append(read(s))
            except _Cut as cut:
                append(cut.marker if cut.partial is _NOTHING else cut.partial)
                cut.partial = out
                raise
            s.depth -= 1
            return out

        return array

    def _map(self, read: Reader) -> Reader:
        def map_(s: _State) -> dict[str, Any]:
            s.depth += 1
            if s.depth > MAX_DEPTH:
                raise TooDeep
            out: dict[str, Any] = {}
            key = "…"
            try:
                while count := _block(s):
                    for _ in range(count):
                        key = "…"
                        s.items -= 1
                        if s.items < 0:
                            raise s.cut()
                        key = _string(s)
                        out[key] = read(s)
            except _Cut as cut:
                out[key] = cut.marker if cut.partial is _NOTHING else cut.partial
                cut.partial = out
                raise
            s.depth -= 1
            return out

        return map_


def _block(s: _State) -> int:
    """The item count of the next block of an array or map (0 at its end); a negative count
    is followed by the block's size in bytes, which is not needed here."""
    count = _long(s)
    if count < 0:
        _long(s)
        count = -count
    return count
