"""An event as the API, the pages, the search and the live tail show it (DESIGN.md's event).

`decode_record` wraps a Record without decoding anything yet: the key, value and headers
are decoded (and masked) the first time they are asked for, so a search that only looks
for bytes in the raw value never parses JSON, and one that rejects an event never decodes
the rest of it. Masking applies when the caller says so (`masked=True`, everyone below
admin) and the cluster has masking rules; filters then see only what the user may see:
`key_bytes()`, `value_bytes()`, `header_texts()` and the decoded key and value are the
masked event, and nothing here hands a filter the bytes as written while `masking` is on.
"""

from __future__ import annotations

from typing import Any

from backbone_admin.clusters import ClusterConfig
from backbone_admin.kafka.records import Record
from streams.events.decoding import WIRE_MAGIC, Decoded, decode, decode_text
from streams.events.masking import Masker, masker_for
from streams.events.registry import Registry

_WIRE_PREFIX = bytes([WIRE_MAGIC])


class DecodedEvent:
    """A record with its key, value and header values decoded on first use (and masked when asked)."""

    __slots__ = ("_headers", "_key", "_masker", "_value", "cluster", "masking", "record", "registry")

    def __init__(self, record: Record, *, registry: Registry | None, cluster: ClusterConfig, masked: bool) -> None:
        self.record = record
        self.registry = registry
        self.cluster = cluster
        self._masker: Masker | None = masker_for(cluster) if masked else None
        # Masking rules apply to this event (a user below admin on a cluster with rules).
        self.masking = self._masker is not None
        self._key: Decoded | None = None
        self._value: Decoded | None = None
        self._headers: tuple[tuple[str, Decoded], ...] | None = None

    def __repr__(self) -> str:
        return f"DecodedEvent({self.record.topic!r}, partition={self.record.partition}, offset={self.record.offset})"

    def _decode(self, data: bytes | None) -> Decoded:
        decoded = decode(data, registry=self.registry)
        return decoded if self._masker is None else self._masker.apply(decoded)

    @property
    def key(self) -> Decoded:
        if self._key is None:
            self._key = self._decode(self.record.key)
        return self._key

    @property
    def value(self) -> Decoded:
        if self._value is None:
            self._value = self._decode(self.record.value)
        return self._value

    @property
    def headers(self) -> tuple[tuple[str, Decoded], ...]:
        if self._headers is None:
            rules = self._masker
            self._headers = tuple(
                (name, decode_text(data) if rules is None else rules.header(decode_text(data)))
                for name, data in self.record.headers
            )
        return self._headers

    @property
    def masked(self) -> bool:
        """Masking replaced something in this event."""
        if self._masker is None:
            return False
        return self.key.masked or self.value.masked or any(d.masked for _, d in self.headers)

    # --- what filters look at -----------------------------------------------------------

    def key_bytes(self) -> bytes | None:
        """The key as the user sees it, as bytes: what filters search and compare.

        Without masking, the bytes as written (the decoded text of a schema-registry key); with
        masking, the masked text, and None for a key withheld (nothing of it is shown).
        """
        raw = self.record.key
        if raw is None or (self._masker is None and not self._wire(raw)):
            return raw
        return _searchable(self.key, raw)

    def value_bytes(self) -> bytes | None:
        """The value as the user sees it, as bytes (as `key_bytes`)."""
        raw = self.record.value
        if raw is None or (self._masker is None and not self._wire(raw)):
            return raw
        return _searchable(self.value, raw)

    def _wire(self, raw: bytes) -> bool:
        """A value to decode with the schema registry (what is shown is not the raw bytes)."""
        return self.registry is not None and raw.startswith(_WIRE_PREFIX)

    def header_texts(self, name: str | None) -> list[str | None]:
        """The text of every header called `name` (every header when None); None for a null or binary value."""
        if self._masker is None:
            return [_utf8(data) for key, data in self.record.headers if name is None or key == name]
        return [d.text if d.encoding == "text" else None for key, d in self.headers if name is None or key == name]


def _searchable(decoded: Decoded, raw: bytes) -> bytes | None:
    if decoded.encoding == "withheld":
        return None
    if decoded.encoding == "base64" or decoded.text is None:
        return raw  # unmasked only: masking withholds binary
    # surrogatepass: JSON may escape a lone surrogate (`"\\ud800"`), which re-serialised text then holds.
    return decoded.text.encode("utf-8", "surrogatepass")


def _utf8(data: bytes | None) -> str | None:
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def decode_record(record: Record, *, registry: Registry | None, cluster: ClusterConfig, masked: bool) -> DecodedEvent:
    """The event of a record; `masked=True` for users below admin (masking applies if the cluster has rules)."""
    return DecodedEvent(record, registry=registry, cluster=cluster, masked=masked)


def event_json(e: DecodedEvent, *, max_value: int | None = None) -> dict[str, Any]:
    """The event dict of DESIGN.md; `max_value` cuts a long value (in lists), `truncated` says so."""
    record = e.record
    key, value = e.key, e.value
    text = value.text
    truncated = False
    if max_value is not None and text is not None and len(text) > max_value:
        text, truncated = text[:max_value], True
    return {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp,
        "timestamp_type": record.timestamp_type,
        "key": key.text,
        "key_encoding": key.encoding,
        "value": text,
        "value_encoding": value.encoding,
        "headers": [{"key": name, "value": d.text, "encoding": d.encoding} for name, d in e.headers],
        "size": record.size,
        "truncated": truncated,
        "schema_id": value.schema_id,
        "key_schema_id": key.schema_id,
        "key_error": key.error,
        "value_error": value.error,
        "masked": e.masked,
    }


__all__ = ["Decoded", "DecodedEvent", "decode_record", "event_json"]
