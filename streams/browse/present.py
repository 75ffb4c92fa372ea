"""What the pages show of an event and of a scan (shared by the views and the search websocket)."""

from __future__ import annotations

import datetime
import json
from typing import Any
from urllib.parse import urlencode

from django.urls import reverse

from streams.events.serialize import DecodedEvent, event_json

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
