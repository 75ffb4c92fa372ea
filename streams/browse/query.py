"""One request for events, as the page, the API and the search websocket ask for it.

`parse_query(params)` checks every parameter (a bad one is a 400 naming it), and
`run_query(...)` reads the page: plain browsing, a key look-up (only the partitions the
default partitioners choose for the key) or a search with a filter, within a budget.

Below admin on a cluster with masking rules, the key look-up and the filter see the masked
event only: a key is found when the key the user is shown equals it, and a key that masking
would hide is refused (400 naming why) — it could only be found by its value as written.
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from django.conf import settings

from backbone_admin.clusters import ClusterConfig
from backbone_admin.kafka import InvalidRequest
from backbone_admin.kafka.client import timeout
from backbone_admin.kafka.records import Record
from streams.browse import keys
from streams.browse.browse import Hit, Page, read_page
from streams.browse.candidates import Candidates
from streams.browse.positions import (
    MAX_OFFSET,
    MAX_TIMESTAMP,
    ORDERS,
    STARTS,
    Cursor,
    Order,
    check_cursor,
    decode_cursor,
    select_partitions,
    start_positions,
)
from streams.browse.reading import Budget, Scan
from streams.events.filters import Filter, parse_filter
from streams.events.masking import masked_key_refusal, masker_for
from streams.events.registry import registry_for
from streams.events.serialize import DecodedEvent, decode_record

MAX_LIMIT = 500
MAX_KEY_LENGTH = 4096
MAX_GROUP_LENGTH = 255


@dataclass(frozen=True)
class MessageQuery:
    partition: int | None = None  # None: every partition (or the key's)
    start: str = "newest"
    order: Order = "newest"
    offset: int | None = None
    timestamp: int | None = None
    group: str | None = None
    key: str | None = None
    all_partitions: bool = False  # a key look-up that reads every partition (custom partitioners)
    q: str = ""
    limit: int = 50
    cursor: Cursor | None = None
    max_events: int | None = None
    max_bytes: int | None = None
    max_seconds: float | None = None
    filter: Filter | None = field(default=None, compare=False)

    @property
    def searching(self) -> bool:
        """A filter or a key: a bounded scan rather than a page of everything."""
        return self.filter is not None or self.key is not None


def _fail(name: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"{name}: {message}", fields={name: message})


def _int(params: Mapping[str, Any], name: str, low: int, high: int) -> int | None:
    raw = params.get(name)
    if raw is None or str(raw).strip() == "":
        return None
    text = str(raw).strip()
    if len(text) > 20 or not text.lstrip("-").isdigit():
        raise _fail(name, "must be a whole number")
    value = int(text)
    if not low <= value <= high:
        raise _fail(name, f"must be between {low:,} and {high:,}")
    return value


def _number(params: Mapping[str, Any], name: str, low: float, high: float) -> float | None:
    raw = params.get(name)
    if raw is None or str(raw).strip() == "":
        return None
    try:
        value = float(str(raw).strip()[:30])
    except ValueError:
        raise _fail(name, "must be a number") from None
    if not low <= value <= high:
        raise _fail(name, f"must be between {low:g} and {high:g}")
    return value


def _text(params: Mapping[str, Any], name: str, limit: int) -> str | None:
    raw = params.get(name)
    if raw is None:
        return None
    text = str(raw)
    if len(text) > limit:
        raise _fail(name, f"at most {limit:,} characters")
    return text


def _flag(params: Mapping[str, Any], name: str) -> bool:
    return str(params.get(name, "")).strip().lower() in ("1", "true", "on", "yes")


def _when(params: Mapping[str, Any]) -> int | None:
    """The page's date-time picker without JavaScript: `when` (ISO 8601; UTC unless it says otherwise)."""
    raw = _text(params, "when", 40)
    if not raw or not raw.strip():
        return None
    try:
        moment = datetime.datetime.fromisoformat(raw.strip())
    except ValueError:
        raise _fail("timestamp", "the date and time are not understood (YYYY-MM-DDTHH:MM)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return int(moment.timestamp() * 1000)


def parse_query(params: Mapping[str, Any], *, api: bool = False) -> MessageQuery:
    """Check the parameters of a messages request; InvalidRequest (400) naming the first bad one."""
    partition_text = str(params.get("partition") or "").strip()
    partition = None if partition_text in ("", "all") else _int(params, "partition", 0, 2**31 - 1)
    order_text = str(params.get("direction") or params.get("order") or "newest").strip()
    aliases = {"newest_first": "newest", "oldest_first": "oldest", "desc": "newest", "asc": "oldest"}
    order_text = aliases.get(order_text, order_text)
    if order_text not in ORDERS:
        raise _fail("direction", "newest (newest first) or oldest (oldest first)")
    order: Order = "newest" if order_text == "newest" else "oldest"
    offset = _int(params, "offset", 0, MAX_OFFSET)
    timestamp = _int(params, "timestamp", 0, MAX_TIMESTAMP)
    if timestamp is None and not api:
        timestamp = _when(params)
    group = (_text(params, "group", MAX_GROUP_LENGTH) or "").strip() or None
    start = str(params.get("start") or "").strip()
    if start and start not in STARTS:
        raise _fail("start", f"one of {', '.join(STARTS)}")
    if not start:
        start = (
            "offset"
            if offset is not None
            else "timestamp"
            if timestamp is not None
            else "group"
            if group
            else "newest"
            if order == "newest"
            else "oldest"
        )
    needed = {"offset": offset, "timestamp": timestamp, "group": group}
    if start in needed and needed[start] is None:
        raise _fail(start, f"a start at a {start} needs one")
    if start == "offset" and partition is None:
        raise _fail("offset", "an offset needs one partition (choose it in `partition`)")
    limit = _int(params, "limit", 1, MAX_LIMIT)
    key = _text(params, "key", MAX_KEY_LENGTH)
    q = _text(params, "q", 10_000) or ""
    cursor_text = str(params.get("cursor") or "").strip()
    cursor = decode_cursor(cursor_text) if cursor_text else None
    query = MessageQuery(
        partition=partition,
        start=start,
        order=cursor.order if cursor is not None else order,
        offset=offset,
        timestamp=timestamp,
        group=group,
        key=key if key else None,
        all_partitions=_flag(params, "all_partitions"),
        q=q,
        limit=limit or settings.BROWSE_DEFAULT_LIMIT,
        cursor=cursor,
        max_events=_int(params, "max_events", 1, settings.SEARCH_MAX_EVENTS),
        max_bytes=_int(params, "max_bytes", 1, settings.SEARCH_MAX_BYTES),
        max_seconds=_number(
            params, "max_seconds", 0.1, settings.SEARCH_API_MAX_SECONDS if api else settings.SEARCH_MAX_SECONDS
        ),
    )
    if q.strip():
        query = replace(query, filter=parse_filter(q, field="q"))
    return query


def budget_for(query: MessageQuery, *, cancel: threading.Event | None = None, api: bool = False) -> Budget:
    """A search's budget (defaults unless asked); plain browsing is bounded by the page and the Kafka timeout."""
    if not query.searching:
        return Budget(seconds=timeout(), cancel=cancel)
    cap = settings.SEARCH_API_MAX_SECONDS if api else settings.SEARCH_MAX_SECONDS
    return Budget(
        max_events=query.max_events or settings.SEARCH_DEFAULT_EVENTS,
        max_bytes=query.max_bytes or settings.SEARCH_DEFAULT_BYTES,
        seconds=min(cap, query.max_seconds or settings.SEARCH_DEFAULT_SECONDS),
        cancel=cancel,
    )


def default_budget() -> dict[str, Any]:
    """What the page shows as the search budget and its maxima."""
    return {
        "max_events": settings.SEARCH_DEFAULT_EVENTS,
        "max_bytes": settings.SEARCH_DEFAULT_BYTES,
        "max_seconds": settings.SEARCH_DEFAULT_SECONDS,
        "limits": {
            "max_events": settings.SEARCH_MAX_EVENTS,
            "max_bytes": settings.SEARCH_MAX_BYTES,
            "max_seconds": settings.SEARCH_MAX_SECONDS,
            "api_max_seconds": settings.SEARCH_API_MAX_SECONDS,
        },
    }


@dataclass
class Result:
    query: MessageQuery
    page: Page
    events: list[DecodedEvent]
    key_partitions: keys.KeyPartitions | None
    notes: list[str]

    @property
    def scan(self) -> Scan:
        return self.page.scan


class EventDecoder:
    """Decodes records as one user may see them (masked below admin), sharing the registry client."""

    def __init__(self, cluster: ClusterConfig, *, masked: bool) -> None:
        self.cluster = cluster
        self.masked = masked
        self.registry = registry_for(cluster.name)
        # Masking rules apply to what this user reads: nothing may look at the bytes as written.
        self.masking = masked and masker_for(cluster) is not None

    def __call__(self, record: Record) -> DecodedEvent:
        return decode_record(record, registry=self.registry, cluster=self.cluster, masked=self.masked)


def _matcher(query: MessageQuery, decoder: EventDecoder) -> Callable[[Record], DecodedEvent | None] | None:
    """The decoded event of a record the query finds (None when it does not match); the raw
    checks of `_candidates` come first, except where masking applies: then the key look-up
    compares the key as the user sees it (masked), like every filter does."""
    if not query.searching:
        return None
    matches = query.filter.matches if query.filter is not None else None
    observe = query.filter.observe if query.filter is not None and query.filter.paths else None
    key = query.key.encode("utf-8", "surrogatepass") if query.key is not None and decoder.masking else None

    def match(record: Record) -> DecodedEvent | None:
        event = decoder(record)
        if key is not None and event.key_bytes() != key:
            return None
        if observe is not None:
            observe(event)
        if matches is not None and not matches(event):
            return None
        return event

    return match


def _candidates(query: MessageQuery, decoder: EventDecoder) -> Candidates | None:
    """A key look-up wants that key; text alone is only found where its bytes are in the raw key
    or value, a JSON field compared with text where that text (or an escape) is in it: all are
    checked before a record is built or decoded.

    Not where masking applies: the bytes as written would then decide what a user below admin
    finds (a masked value found by its text, a masked key by its value), so every record is
    decoded, masked, and `_matcher` looks at that only.
    """
    if decoder.masking:
        return None
    found = query.filter
    needle = found.text.strip().encode() if found is not None and found.plain else b""
    key = query.key.encode() if query.key is not None else None
    # An expression's own condition on the bytes as written (a JSON field compared with text, a
    # quoted string): applied once the filter has seen each of its fields in an event.
    raw = found.raw if found is not None and not found.plain else None
    if key is None and not needle and raw is None:
        return None
    observing = found.observing if raw is not None and found is not None and found.paths else None
    return Candidates(key=key, needle=needle, raw=raw, observing=observing)


def check_key_lookup(cluster: ClusterConfig, key: str, *, masked: bool) -> None:
    """400 when masking hides this key from the user: looking it up would tell whether it is there."""
    reason = masked_key_refusal(key, cluster) if masked else None
    if reason is not None:
        raise InvalidRequest(f"key: {reason}", fields={"key": reason})


def run_query(
    cluster: ClusterConfig,
    topic: str,
    query: MessageQuery,
    *,
    masked: bool,
    budget: Budget,
    on_hit: Callable[[Hit, DecodedEvent], None] | None = None,
    on_progress: Callable[[Scan], None] | None = None,
) -> Result:
    """Read the page `query` asks for (see the module docstring)."""
    if query.key is not None:
        check_key_lookup(cluster, query.key, masked=masked)
    notes: list[str] = []
    key_partitions = None
    partitions = [query.partition] if query.partition is not None else None
    choose = None
    if query.key is not None and partitions is None:

        def choose(count: int) -> list[int]:
            nonlocal key_partitions
            key_partitions = keys.key_partitions(query.key or "", count, cluster, every=query.all_partitions)
            return key_partitions.partitions

    elif partitions is None and query.cursor is not None:
        # A cursor names the partitions its pages read.
        partitions = sorted(query.cursor.positions)
    selection = select_partitions(cluster.name, topic, partitions, choose=choose)
    if query.cursor is not None:
        read, positions = query.cursor.read, check_cursor(selection, query.cursor)
    else:
        start = start_positions(
            cluster.name,
            selection,
            start=query.start,
            order=query.order,
            offset=query.offset,
            timestamp=query.timestamp,
            group=query.group,
        )
        read, positions = start.read, start.positions
        notes.extend(start.notes)
    decoder = EventDecoder(cluster, masked=masked)

    def hit_seen(hit: Hit) -> None:
        if on_hit is not None:
            on_hit(hit, hit.event if hit.event is not None else decoder(hit.record))

    page = read_page(
        cluster.name,
        selection,
        read=read,
        positions=positions,
        order=query.order,
        limit=query.limit,
        budget=budget,
        matcher=_matcher(query, decoder),
        candidates=_candidates(query, decoder),
        on_hit=hit_seen if on_hit is not None else None,
        on_progress=on_progress,
    )
    events = [hit.event if hit.event is not None else decoder(hit.record) for hit in page.hits]
    notes.extend(page.notes)  # e.g. a page cut short by BROWSE_MAX_PAGE_BYTES
    notes.extend(_absent_fields(query, page))
    return Result(query=query, page=page, events=events, key_partitions=key_partitions, notes=notes)


def _absent_fields(query: MessageQuery, page: Page) -> list[str]:
    """Why a search found nothing, when it is plain: a JSON field of the filter no event read had."""
    read = page.scan.events
    if query.filter is None or page.hits or not read:
        return []
    which = "with this key " if query.key is not None else ""
    events = f"{read:,} event{'s' if read != 1 else ''}"
    return [
        f"the field “{path}” was absent from every event {which}read ({events}): check its name and "
        "nesting; without a filter the page shows the events, and a click on one of their fields puts it in the search"
        for path in query.filter.absent_paths()
    ]
