"""Producing one event from the console: validate everything, then produce through the gateway, audited.

`prepare_event` checks and encodes what would be sent (the page's preview uses it alone);
`produce_event` prepares, produces and audits. A request that fails validation produces
nothing: sizes, JSON, headers, the topic's existence (checked first: Kafka may auto-create a
topic on produce, the console never does) and the partition are all checked before the
broker sees a record.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from django.conf import settings
from django.http import HttpRequest

from backbone_admin.audit import audited
from backbone_admin.kafka import InvalidRequest
from backbone_admin.kafka.client import require_cluster
from backbone_admin.kafka.partitioner import partition_for
from backbone_admin.kafka.producer import produce_sync
from backbone_admin.kafka.topics import describe_topic
from backbone_admin.models import Role
from backbone_admin.roles import require_topic_role
from streams.events.avro import encode_avro
from streams.events.decoding import decode
from streams.events.registry import registry_for

ValueFormat = Literal["text", "json", "avro"]
VALUE_FORMATS: tuple[ValueFormat, ...] = ("text", "json", "avro")
MAX_HEADERS = 100
MAX_HEADER_NAME = 1024
MAX_SUBJECT = 255
# librdkafka's default partitioner (consistent_random) hashes keys with CRC-32; a cluster may
# name the partitioner its producers use (Java clients: murmur2), and the console follows it
# so that its events for a key land where that key's other events are.
DEFAULT_PARTITIONER = "crc32"
PARTITIONER_NAMES = {
    "crc32": "CRC-32 (librdkafka's default, consistent_random)",
    "murmur2": "murmur2 (the Java client's default)",
}


@dataclass(frozen=True)
class ProducedEvent:
    partition: int
    offset: int
    timestamp: int  # ms since the epoch, as the broker recorded it


@dataclass(frozen=True)
class PreparedEvent:
    """What will be sent: the exact bytes, where they go, and how a reader will see the value."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    partition: int | None  # explicit, as asked; None: by key
    target: int | None  # the partition the record goes to; None: the producer picks (no key)
    partitioner: str | None  # how `target` was computed from the key
    partitions: int
    value_format: ValueFormat
    subject: str | None = None
    schema_id: int | None = None
    value_json: Any = field(default=None, compare=False)

    @property
    def by_key(self) -> bool:
        return self.partition is None

    @property
    def key_size(self) -> int:
        return len(self.key) if self.key is not None else 0

    @property
    def value_size(self) -> int:
        return len(self.value) if self.value is not None else 0

    @property
    def headers_size(self) -> int:
        return sum(len(name.encode()) + len(value) for name, value in self.headers)

    @property
    def size(self) -> int:
        return self.key_size + self.value_size + self.headers_size

    @property
    def partitioner_name(self) -> str:
        return PARTITIONER_NAMES.get(self.partitioner or "", self.partitioner or "")

    @property
    def decoded_value(self) -> str | None:
        """The value as a reader will see it: JSON (and Avro, decoded) pretty-printed, text as is."""
        if self.value is None:
            return None
        if self.value_format in ("json", "avro"):
            return json.dumps(self.value_json, indent=2, ensure_ascii=False, default=str)
        return self.value.decode("utf-8")

    def header_texts(self) -> list[tuple[str, str]]:
        return [(name, value.decode("utf-8")) for name, value in self.headers]

    def summary(self) -> dict[str, Any]:
        """What the audit log keeps of the request: sizes and shape, never the contents."""
        return {
            "partition": self.partition,
            "by_key": self.by_key,
            "value_format": self.value_format,
            "subject": self.subject,
            "schema_id": self.schema_id,
            "key_bytes": None if self.key is None else self.key_size,
            "value_bytes": None if self.value is None else self.value_size,
            "headers": [name for name, _ in self.headers],
        }


def parse_json(text: str, *, field_name: str = "value") -> Any:
    """The parsed JSON, or a 400 that points at the line and column of the first error."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        message = f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        raise InvalidRequest(f"The {field_name} is {message}", fields={field_name: message}) from None
    except RecursionError:
        message = "not valid JSON here: it is nested too deeply"
        raise InvalidRequest(f"The {field_name} is {message}", fields={field_name: message}) from None


def _encoded(text: str | None, what: str, problems: dict[str, str]) -> bytes | None:
    if text is None:
        return None
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        problems[what] = f"the {what} is not valid Unicode text (it holds a lone surrogate)"
        return None
    limit = settings.PRODUCE_MAX_BYTES
    if len(data) > limit:
        problems[what] = (
            f"the {what} is {len(data):,} bytes; at most {limit:,} bytes can be produced (PRODUCE_MAX_BYTES)"
        )
    return data


def _clean_headers(headers: Sequence[tuple[str, str]], problems: dict[str, str]) -> list[tuple[str, bytes]]:
    if len(headers) > MAX_HEADERS:
        problems["headers"] = f"at most {MAX_HEADERS} headers ({len(headers):,} given)"
        return []
    clean: list[tuple[str, bytes]] = []
    for number, (name, value) in enumerate(headers, 1):
        if not name:
            problems["headers"] = f"header {number} has a value but no name"
            return []
        if len(name) > MAX_HEADER_NAME:
            problems["headers"] = f"header {number}: a name is at most {MAX_HEADER_NAME} characters"
            return []
        try:
            clean.append((name, value.encode("utf-8")))
            name.encode("utf-8")
        except UnicodeEncodeError:
            problems["headers"] = f"header {number} is not valid Unicode text (it holds a lone surrogate)"
            return []
    total = sum(len(n.encode()) + len(v) for n, v in clean)
    if total > settings.PRODUCE_MAX_BYTES:
        problems["headers"] = (
            f"the headers are {total:,} bytes; at most {settings.PRODUCE_MAX_BYTES:,} (PRODUCE_MAX_BYTES)"
        )
    return clean


def _encode_avro(cluster: str, subject: str, value_json: Any) -> tuple[bytes, int, Any]:
    """(wire-format bytes, schema id, the value decoded back as a reader will see it)."""
    registry = registry_for(cluster)
    if registry is None:
        message = f"cluster `{cluster}` has no schema registry (schema_registry_url in the clusters file)"
        raise InvalidRequest(f"Cannot encode Avro: {message}", fields={"value_format": message})
    data = encode_avro(registry, subject, value_json)
    # The Confluent wire format: magic byte 0, the schema id (4 bytes, big-endian), the Avro body.
    schema_id = int.from_bytes(data[1:5], "big")
    decoded = decode(data, registry=registry)
    return data, schema_id, decoded.json if decoded.encoding == "avro" else value_json


def prepare_event(
    *,
    cluster: str,
    topic: str,
    key: str | None,
    value: str | None,
    headers: Sequence[tuple[str, str]] = (),
    partition: int | None = None,
    value_format: str = "text",
    subject: str | None = None,
) -> PreparedEvent:
    """Check and encode one event without producing it; every problem is a 400 naming its field."""
    config = require_cluster(cluster)
    problems: dict[str, Any] = {}
    fmt: ValueFormat = "text"
    if value_format in VALUE_FORMATS:
        fmt = value_format  # type: ignore[assignment]
    else:
        problems["value_format"] = f"the value format is one of {', '.join(VALUE_FORMATS)}"
    key_bytes = _encoded(key, "key", problems)
    value_bytes = _encoded(value, "value", problems)
    clean_headers = _clean_headers(headers, problems)
    subject = (subject or "").strip() or None
    if fmt == "avro":
        if subject is None:
            problems["subject"] = "Avro needs the registry subject whose latest schema encodes the value"
        elif len(subject) > MAX_SUBJECT:
            problems["subject"] = f"a subject is at most {MAX_SUBJECT} characters"
        if value is None:
            problems["value"] = "a tombstone (null value) has nothing to encode: choose text"
    if partition is not None and partition < 0:
        problems["partition"] = "a partition is a number from 0"
    value_json: Any = None
    if not problems and value is not None and fmt in ("json", "avro"):
        value_json = parse_json(value)
    if problems:
        raise InvalidRequest("Nothing produced: " + "; ".join(str(v) for v in problems.values()), fields=problems)

    meta = describe_topic(config.name, topic)  # 404 before anything is sent
    count = len(meta.partitions)
    if partition is not None and partition >= count:
        message = f"topic `{topic}` has partitions 0 to {count - 1}; there is no partition {partition}"
        raise InvalidRequest(f"Nothing produced: {message}", fields={"partition": message})
    target, partitioner = partition, None
    if partition is None and key_bytes is not None:
        partitioner = config.partitioner or DEFAULT_PARTITIONER
        target = partition_for(key_bytes, count, partitioner)
    schema_id = None
    if fmt == "avro":
        assert subject is not None
        value_bytes, schema_id, value_json = _encode_avro(config.name, subject, value_json)
    return PreparedEvent(
        topic=topic,
        key=key_bytes,
        value=value_bytes,
        headers=clean_headers,
        partition=partition,
        target=target,
        partitioner=partitioner,
        partitions=count,
        value_format=fmt,
        subject=subject if fmt == "avro" else None,
        schema_id=schema_id,
        value_json=value_json,
    )


def produce_event(
    *,
    user: Any,
    cluster: str,
    topic: str,
    key: str | None,
    value: str | None,
    headers: Sequence[tuple[str, str]] = (),
    partition: int | None = None,
    value_format: str = "text",
    subject: str | None = None,
    request: HttpRequest | None = None,
) -> ProducedEvent:
    """Produce one event (operator role, writable cluster) and audit where it was written."""
    require_topic_role(user, cluster, topic, Role.OPERATOR, change=True)
    event = prepare_event(
        cluster=cluster,
        topic=topic,
        key=key,
        value=value,
        headers=headers,
        partition=partition,
        value_format=value_format,
        subject=subject,
    )
    with audited(
        user=user, action="topic.produce", cluster=cluster, target=topic, before=event.summary(), request=request
    ) as change:
        written, offset, timestamp = produce_sync(
            cluster, topic, key=event.key, value=event.value, headers=event.headers, partition=event.target
        )
        change.after = {"topic": topic, "partition": written, "offset": offset, "timestamp": timestamp}
    return ProducedEvent(partition=written, offset=offset, timestamp=timestamp)
