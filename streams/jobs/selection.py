"""Which records a replay or an export takes: the message browser's filter language, evaluated cheaply.

The filter is the one of the browser and the live tail (`streams.events.filters`), checked
when the job is created and compiled again in each partition's worker. Evaluation reads as
little as it can: a plain text filter (`ORD-1234`) looks for its bytes in the raw key and
value and builds an event only for records that hold them (to confirm what a schema-registry
value or masking shows); an expression builds a lazily decoded event, so only what it reads
is decoded (JSON is parsed only for JSON fields, `needs_json`).

Masking: an export by someone below admin is masked (decided when it was created,
`params["masked"]`): its contents are what that person may see, and so is what its filter
looks at, as in the browser, so a filter cannot find out a masked value. The plain filter's
raw-bytes test is then skipped: the bytes as written never meet the filter of a user below
admin (they could tell a masked value apart). A replay re-publishes the events as written
(it needs the operator role on both sides), but its filter, for someone below admin, sees the
masked event as well (`masked` of the job): which events it copies must not tell a masked
value apart either.
"""

from __future__ import annotations

from backbone_admin.kafka.client import require_cluster
from backbone_admin.kafka.records import Record
from streams.events.filters import Filter, parse_filter
from streams.events.masking import masker_for
from streams.events.registry import registry_for
from streams.events.serialize import DecodedEvent, decode_record


def check_filter(text: str) -> Filter | None:
    """The compiled filter, None for blank text; InvalidRequest naming the column under `filter`."""
    return parse_filter(text, field="filter") if text.strip() else None


class Selection:
    """`keep(record)` is whether the job takes the record; `event(record)` its (masked) decoded form."""

    def __init__(self, cluster: str, text: str, *, masked: bool) -> None:
        config = require_cluster(cluster)
        self.config = config
        self.filter = check_filter(text)
        self.masked = masked and masker_for(config) is not None
        self.registry = registry_for(cluster)
        plain = self.filter is not None and self.filter.plain and not self.masked
        self._needle = self.filter.text.strip().encode() if self.filter is not None and plain else b""
        # A plain filter's raw-bytes test is the whole answer unless the bytes are not what is shown.
        self._confirm = self.registry is not None

    @property
    def everything(self) -> bool:
        return self.filter is None

    def event(self, record: Record) -> DecodedEvent:
        return decode_record(record, registry=self.registry, cluster=self.config, masked=self.masked)

    def keep(self, record: Record) -> bool:
        flt = self.filter
        if flt is None:
            return True
        needle = self._needle
        if needle:
            value, key = record.value, record.key
            if not ((value is not None and needle in value) or (key is not None and needle in key)):
                return False
            if not self._confirm:
                return True
        return flt.matches(self.event(record))

    def chosen(self, record: Record) -> DecodedEvent | None:
        """The record's event when the job takes it (one event built, for writers that need it anyway)."""
        needle = self._needle
        if needle:
            value, key = record.value, record.key
            if not ((value is not None and needle in value) or (key is not None and needle in key)):
                return None
        event = self.event(record)
        return event if self.filter is None or self.filter.matches(event) else None
