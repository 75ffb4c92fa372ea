"""What the pages show of an event and of a scan (shared by the views and the search websocket)."""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.urls import reverse

from streams.events.serialize import DecodedEvent, event_json
from streams.events.tokens import KEYWORDS

# A "produce a copy" link longer than this would be refused by servers and proxies (request line limits).
MAX_COPY_URL = 8000
ENCODING_NAMES = {
    "json": "JSON",
    "text": "UTF-8 text",
    "base64": "binary, shown as base64",
    "avro": "Avro (schema registry)",
    "null": "null",
    "withheld": "withheld: masking cannot read it",
}


def utc_text(ms: int) -> str:
    if ms < 0:
        return "—"
    moment = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{ms % 1000:03d} UTC"


def pretty(decoded_json: Any, text: str | None, encoding: str) -> str | None:
    """Indented JSON for a JSON or Avro value, None for anything else."""
    if encoding not in ("json", "avro") or text is None:
        return None
    try:
        return json.dumps(decoded_json, indent=2, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return None


def how_decoded(data: dict[str, Any]) -> str:
    parts = [f"value: {ENCODING_NAMES.get(data['value_encoding'], data['value_encoding'])}"]
    if data.get("schema_id") is not None:
        parts[-1] += f" (schema {data['schema_id']})"
    parts.append(f"key: {ENCODING_NAMES.get(data['key_encoding'], data['key_encoding'])}")
    if data.get("key_schema_id") is not None:
        parts[-1] += f" (schema {data['key_schema_id']})"
    return "; ".join(parts)


def event_row(event: DecodedEvent, cluster: str, topic: str, *, max_value: int | None) -> dict[str, Any]:
    """The event JSON plus what a row or the detail page needs (pretty value, times, links)."""
    data = event_json(event, max_value=max_value)
    value = event.value
    data["pretty"] = None if data["truncated"] else pretty(value.json, value.text, value.encoding)
    data["utc"] = utc_text(data["timestamp"])
    data["decoded_as"] = how_decoded(data)
    query = urlencode({"partition": data["partition"], "offset": data["offset"]})
    data["detail_url"] = reverse("streams:event", kwargs={"cluster": cluster, "topic": topic}) + "?" + query
    data["id"] = f"{data['partition']}:{data['offset']}"
    return data


def copy_url(data: dict[str, Any], cluster: str, topic: str) -> str | None:
    """The produce page prefilled with this event, when its key and value are text and the link is short enough."""
    shown = (data["value_encoding"], data["key_encoding"])
    if "base64" in shown or "withheld" in shown or data["truncated"]:
        return None
    params: dict[str, str] = {"partition": str(data["partition"])}
    if data["key"] is not None:
        params["key"] = data["key"]
    if data["value"] is not None:
        params["value"] = data["value"]
    headers = [
        {"key": h["key"], "value": h["value"]} for h in data["headers"] if h["encoding"] not in ("base64", "withheld")
    ]
    if headers:
        params["headers"] = json.dumps(headers, ensure_ascii=False)
    url = reverse("streams:produce", kwargs={"cluster": cluster, "topic": topic}) + "?" + urlencode(params)
    return url if len(url) <= MAX_COPY_URL else None


# --- filter help from the events on the page -------------------------------------------------

# A JSON field as the filter language names it: a bare first name unless it is a reserved
# field or a keyword (then `value.` first), `."quoted"` names that are not identifiers.
_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")
_RESERVED = {"key", "value", "partition", "offset", "timestamp", "headers", "header"} | KEYWORDS
FIELDS_SHOWN = 24  # the fields listed under the help, most common first
_MAX_DEPTH = 4
_MAX_TEXT = 40  # longer strings make poor examples
_STATE_NAMES = {"status", "state", "type", "eventtype", "event_type", "kind", "level", "severity", "category"}


def filter_path(segments: Sequence[str | None]) -> str:
    """The filter's name for a JSON path; None is `[*]` (any element of a list)."""
    out = ""
    for segment in segments:
        if segment is None:
            out = (out or "value") + "[*]"
        elif _IDENT.fullmatch(segment):
            out = f"{out or 'value'}.{segment}" if out or segment.lower() in _RESERVED else segment
        else:
            out = (out or "value") + "." + json.dumps(segment, ensure_ascii=False)
    return out


def filter_literal(value: Any) -> str:
    """A JSON scalar as the filter language writes it."""
    return json.dumps(value, ensure_ascii=False)


@dataclass
class _Field:
    path: str
    events: int = 0
    # The first few distinct scalars seen, each with how many events had it; keyed with the
    # name of its type, so that True and 1 stay two values.
    counts: dict[tuple[str, Any], int] = field(default_factory=dict)

    @property
    def values(self) -> list[Any]:
        """Its values, the most common first."""
        ranked = sorted(self.counts.items(), key=lambda item: -item[1])
        return [value for (_, value), _ in ranked]


def _walk(doc: Any, segments: tuple[str | None, ...], found: dict[str, Any], depth: int) -> None:
    if depth > _MAX_DEPTH:
        return
    if type(doc) is dict:
        for name, child in doc.items():
            _walk(child, (*segments, str(name)), found, depth + 1)
    elif type(doc) is list:
        for child in doc[:20]:
            _walk(child, (*segments, None), found, depth + 1)
    elif segments:
        found.setdefault(filter_path(segments), doc)


def _fields(events: Iterable[DecodedEvent]) -> list[_Field]:
    fields: dict[str, _Field] = {}
    for event in events:
        value = event.value
        if value.encoding not in ("json", "avro") or type(value.json) is not dict:
            continue
        found: dict[str, Any] = {}
        _walk(value.json, (), found, 0)
        for path, scalar in found.items():
            entry = fields.setdefault(path, _Field(path))
            entry.events += 1
            seen = (type(scalar).__name__, scalar)
            if seen in entry.counts or len(entry.counts) < 8:
                entry.counts[seen] = entry.counts.get(seen, 0) + 1
    return sorted(fields.values(), key=lambda f: (-f.events, f.path.count("."), f.path))


def _text_values(entry: _Field) -> list[str]:
    return [v for v in entry.values if type(v) is str and 0 < len(v) <= _MAX_TEXT and "***" not in v]


@dataclass
class FilterHelp:
    examples: list[tuple[str, str]]
    fields: list[tuple[str, str]]  # (path, `path == value` to put in the filter)
    from_events: int  # how many events the examples come from (0: generic examples)


def filter_help(events: Sequence[DecodedEvent], generic: Sequence[tuple[str, str]]) -> FilterHelp:
    """Filter examples written with the fields and values of `events` (the page's), so that each
    finds something; the generic ones where the events give nothing to build from."""
    fields = _fields(events)
    examples: list[tuple[str, str]] = []
    # Strings with few values say most, a status or a type first (`status == "delayed"`), then
    # words rather than identifiers (no digits).
    texts = sorted(
        (f for f in fields if "[*]" not in f.path and _text_values(f)),
        key=lambda f: (
            f.path.rsplit(".", 1)[-1].lower() not in _STATE_NAMES,
            not 2 <= len(f.counts) <= 6,
            -f.events,
            any(c.isdigit() for v in _text_values(f) for c in v),
            len(f.counts),
        ),
    )
    for entry in texts[:2]:
        values = _text_values(entry)
        examples.append((f"{entry.path} == {filter_literal(values[0])}", "a JSON field of the value"))
    numbers = [f for f in fields if f.values and all(type(v) in (int, float) for v in f.values)]
    headers = _header_example(events)
    if numbers:
        entry = next((f for f in numbers if "timestamp" not in f.path.lower()), numbers[0])
        example = f"{entry.path} >= {filter_literal(min(entry.values))}"
        if headers and headers[1] == len(events):  # every event has the header: the `and` holds too
            example += f" and {headers[0]}"
        examples.append((example, "numbers compare with numbers; headers; and, or, not, ( )"))
    elif headers:
        examples.append((headers[0], "a header"))
    nested = next((f for f in fields if "[*]" in f.path and _text_values(f)), None)
    if nested is not None:
        examples.append((f"{nested.path} == {filter_literal(_text_values(nested)[0])}", "[*]: any element of a list"))
    partials = sorted((f for f in fields if 0 < f.events < len(events)), key=lambda f: "[*]" in f.path)
    partial = partials[0] if partials else None
    if partial is not None:
        examples.append((f"{partial.path} exists", f"the field is there (in {partial.events} of these events)"))
    key = next((e.key.text for e in events if e.key.encoding == "text" and e.key.text), None)
    if key:
        prefix = re.match(r"[A-Za-z]+[-_:]?", key)
        if prefix and len(prefix.group()) < len(key):
            examples.append((f"key ~ /^{prefix.group()}/", "a regular expression (RE2; /.../i ignores case)"))
        if 3 <= len(key) <= _MAX_TEXT and not set(key) & set('=<>~!()"') and " " not in key:
            examples.insert(0, (key, "text alone: in the key or the value"))
    stamps = [e.record.timestamp for e in events if e.record.timestamp >= 0]
    if stamps:
        oldest = datetime.datetime.fromtimestamp(min(stamps) // 60000 * 60, tz=datetime.UTC)
        examples.append((f'timestamp >= "{oldest:%Y-%m-%dT%H:%M:%SZ}"', "time (ms or ISO 8601, UTC)"))
    shown = [(f.path, f"{f.path} == {filter_literal(f.values[0])}") for f in fields[:FIELDS_SHOWN] if f.values]
    if len(examples) < 3:
        return FilterHelp(list(generic), shown, 0)
    return FilterHelp(examples, shown, len(events))


def _header_example(events: Sequence[DecodedEvent]) -> tuple[str, int] | None:
    """The header and value most of the events share (a source, a content type), and how many do."""
    counts: dict[tuple[str, str], int] = {}
    for event in events:
        for name, decoded in event.headers:
            text = decoded.text if decoded.encoding == "text" else None
            if text and len(text) <= _MAX_TEXT and "***" not in text and _IDENT.fullmatch(name):
                counts[(name, text)] = counts.get((name, text), 0) + 1
    if not counts:
        return None
    name, text = max(counts, key=lambda pair: counts[pair])
    return f"headers.{name} == {filter_literal(text)}", counts[(name, text)]
