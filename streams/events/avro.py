"""Encoding a JSON value as Avro in the Confluent wire format, with a subject's latest schema.

    encode_avro(registry, "orders-value", {"id": "o-1", "amount": 12.5})  # b"\\x00" + id + Avro

The value is what a person types in the produce form, or what the decoder showed ("produce a
copy"): plain JSON. So unions take the plain value (`"email": "a@b"`, not Avro's JSON
encoding `{"string": "a@b"}`, though that is accepted too), bytes and fixed take text of
code points 0-255 (Avro's JSON encoding, what decoding shows), timestamps, dates and times
take ISO 8601 text or numbers, decimals take numbers or numeric text. A value that does
not fit the schema is an InvalidRequest naming the field.
"""

from __future__ import annotations

import datetime
import decimal
import io
import json
from typing import Any

import fastavro

from backbone_admin.kafka.errors import InvalidRequest
from streams.events.avro_reader import MAX_DEPTH
from streams.events.decoding import WIRE_MAGIC
from streams.events.registry import Registry, Schema

_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


class _Mismatch(ValueError):
    """The value does not fit; the message names where."""


class _TooDeep(_Mismatch):
    """Nested deeper than MAX_DEPTH: no branch of a union can take it either."""


def encode_avro(registry: Registry, subject: str, json_value: Any, *, field: str = "value") -> bytes:
    """The value in the Confluent wire format with the latest schema of `subject`."""
    latest = registry.latest(subject)
    return encode_with_schema(latest.schema, json_value, subject=subject, field=field)


def encode_with_schema(schema: Schema, json_value: Any, *, subject: str, field: str = "value") -> bytes:
    if schema.schema_type != "AVRO":
        message = f"subject `{subject}` holds a {schema.schema_type} schema; only Avro values are encoded here"
        raise InvalidRequest(message, fields={"subject": message})
    where = f"schema {schema.schema_id} of `{subject}`"
    try:
        datum = _convert(schema.parsed, json_value, schema.named, "value")
    except _Mismatch as exc:
        message = f"the value does not match {where}: {exc}"[:500]
        raise InvalidRequest(message, fields={field: message}) from None
    except RecursionError:
        message = f"the value is nested too deeply for {where}"
        raise InvalidRequest(message, fields={field: message}) from None
    buffer = io.BytesIO()
    buffer.write(bytes([WIRE_MAGIC]) + schema.schema_id.to_bytes(4, "big"))
    try:
        fastavro.schemaless_writer(buffer, schema.parsed, datum)
    except (ValueError, TypeError, KeyError, OverflowError, AttributeError) as exc:
        message = f"the value does not match {where}: {exc}"[:500]
        raise InvalidRequest(message, fields={field: message}) from None
    return buffer.getvalue()


def _type_name(schema: Any) -> str:
    if isinstance(schema, str):
        return schema
    if isinstance(schema, dict):
        return str(schema.get("name") or schema.get("type"))
    return "union"


def _convert(schema: Any, value: Any, named: dict[str, Any], where: str, depth: int = 0) -> Any:
    """The JSON value as the datum fastavro writes for `schema` (or _Mismatch).

    `depth` counts records, arrays and maps: past MAX_DEPTH the console could not show the value
    (streams.events.avro_reader), and fastavro's writer recurses in C without a limit.
    """
    if isinstance(schema, str):
        if schema in _PRIMITIVES:
            return _primitive(schema, None, value, where)
        if schema in named:
            return _convert(named[schema], value, named, where, depth)
        return value
    if isinstance(schema, list):
        return _union(schema, value, named, where, depth)
    kind = schema.get("type")
    if isinstance(kind, dict | list):
        return _convert(kind, value, named, where, depth)
    if kind in ("record", "error", "array", "map") and depth >= MAX_DEPTH:
        raise _TooDeep(f"{where[:100]}… is nested deeper than {MAX_DEPTH} levels")
    if kind == "record" or kind == "error":
        if not isinstance(value, dict):
            raise _Mismatch(f"{where} must be an object for record {schema.get('name')}")
        fields = {f["name"]: f for f in schema.get("fields", [])}
        unknown = sorted(set(value) - set(fields))
        if unknown:
            raise _Mismatch(f"{where}.{unknown[0]} is not a field of record {schema.get('name')}")
        return {
            name: _convert(fields[name]["type"], v, named, f"{where}.{name}", depth + 1) for name, v in value.items()
        }
    if kind == "array":
        if not isinstance(value, list):
            raise _Mismatch(f"{where} must be a list")
        return [_convert(schema["items"], v, named, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
    if kind == "map":
        if not isinstance(value, dict):
            raise _Mismatch(f"{where} must be an object")
        return {k: _convert(schema["values"], v, named, f"{where}.{k}", depth + 1) for k, v in value.items()}
    if kind == "fixed":
        if not isinstance(value, str | bytes) and not (schema.get("logicalType") == "decimal" and _is_number(value)):
            raise _Mismatch(f"{where} must be text of {schema.get('size')} bytes (code points 0-255)")
        converted = _bytes(value, where)
        if isinstance(converted, bytes) and len(converted) != schema.get("size"):
            raise _Mismatch(f"{where} must be exactly {schema.get('size')} bytes, not {len(converted)}")
        return _logical(schema.get("logicalType"), converted, value, where)
    if kind == "enum":
        symbols = schema.get("symbols") or []
        if value not in symbols:
            raise _Mismatch(f"{where} must be one of {', '.join(map(str, symbols[:20]))}")
        return value
    if isinstance(kind, str) and kind in _PRIMITIVES:
        return _primitive(kind, schema.get("logicalType"), value, where)
    if isinstance(kind, str) and kind in named:
        return _convert(named[kind], value, named, where, depth)
    return value


def _union(branches: list[Any], value: Any, named: dict[str, Any], where: str, depth: int) -> Any:
    for branch in branches:
        try:
            return _convert(branch, value, named, where, depth)
        except _TooDeep:
            raise
        except _Mismatch:
            continue
    # Avro's JSON encoding of a union: {"<type name>": value}.
    if isinstance(value, dict) and len(value) == 1:
        name, inner = next(iter(value.items()))
        for branch in branches:
            full = _type_name(branch)
            if name in (full, full.rsplit(".", 1)[-1]):
                return _convert(branch, inner, named, where, depth)
    expected = " or ".join(_type_name(b) for b in branches)
    raise _Mismatch(f"{where} matches none of {expected}")


def _bytes(value: Any, where: str) -> Any:
    if isinstance(value, str):
        try:
            return value.encode("latin-1")
        except UnicodeEncodeError:
            raise _Mismatch(f"{where} holds characters above U+00FF; bytes are written as text of 0-255") from None
    return value


def _primitive(kind: str, logical: str | None, value: Any, where: str) -> Any:
    if kind == "bytes":
        if not isinstance(value, str | bytes) and not (logical == "decimal" and _is_number(value)):
            raise _Mismatch(f"{where} must be text (bytes as code points 0-255)")
        return _logical(logical, _bytes(value, where), value, where)
    if logical is not None and isinstance(value, str):
        return _logical(logical, value, value, where)
    expected = _PRIMITIVE_CHECKS[kind]
    if not expected[0](value):
        raise _Mismatch(f"{where} must be {expected[1]}, not {json.dumps(value)[:40]}")
    if kind in ("int", "long") and isinstance(value, float):
        return int(value)
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_PRIMITIVE_CHECKS: dict[str, tuple[Any, str]] = {
    "null": (lambda v: v is None, "null"),
    "boolean": (lambda v: isinstance(v, bool), "true or false"),
    "int": (lambda v: _is_number(v) and float(v).is_integer() and -(2**31) <= v < 2**31, "a 32-bit integer"),
    "long": (lambda v: _is_number(v) and float(v).is_integer() and -(2**63) <= v < 2**63, "a 64-bit integer"),
    "float": (_is_number, "a number"),
    "double": (_is_number, "a number"),
    "string": (lambda v: isinstance(v, str), "text"),
}


def _logical(logical: str | None, converted: Any, original: Any, where: str) -> Any:
    """Logical types from their JSON form: ISO 8601 text for time, numbers or numeric text for decimals."""
    try:
        if logical == "decimal" and isinstance(original, int | float | str) and not isinstance(original, bool):
            return decimal.Decimal(str(original))
        if not isinstance(original, str):
            return converted
        if logical in ("timestamp-millis", "timestamp-micros", "local-timestamp-millis", "local-timestamp-micros"):
            moment = datetime.datetime.fromisoformat(original)
            if logical.startswith("timestamp") and moment.tzinfo is None:
                moment = moment.replace(tzinfo=datetime.UTC)
            return moment
        if logical == "date":
            return datetime.date.fromisoformat(original)
        if logical in ("time-millis", "time-micros"):
            return datetime.time.fromisoformat(original)
    except (ValueError, decimal.InvalidOperation):
        raise _Mismatch(f"{where}: {original!r} is not a valid {logical}") from None
    return converted
