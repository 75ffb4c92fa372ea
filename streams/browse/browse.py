"""Pages of events with exact next and previous pages in both directions.

A page is read from a boundary (a position per partition), oldest-first or newest-first,
partitions merged by timestamp, then partition, then offset (streams.browse.reading): the
first `limit` events of the merge are the page, and each partition's position moves past
what the page took. The page's lower and upper boundaries are the previous and next
cursors, so paging forwards then backwards returns the same pages (when each partition's
timestamps grow with its offsets, as they do with log-append time or one producer's create
time; otherwise every event is still shown exactly once in each direction, each partition
in offset order).

A page is bounded by bytes as well as by count: once its events hold BROWSE_MAX_PAGE_BYTES
(key, value and headers as written), it ends there and says so in `notes`; the next page
continues exactly. Lists cut each value for display (BROWSE_MAX_VALUE), the event's own page
and its download have it whole. Without the bound a page of 300 values of 1 MB held every one
decoded (and masked) at once: 18 s, and the web process grew from 1.0 to 4.7 GB. Windows are
sized by the bytes still allowed once the first events told how large they are.

Searching (a filter) stops as soon as `limit` events matched or the budget is spent; the
page lists what was found in timestamp order and the cursors continue each partition from
where its scan stopped.

Either way, the upper boundary moves over what no reader of committed events can read (commit
markers, aborted transactions) to the end of the log: the page that ends at the last event
offers no newer page (`Scan.newer_boundary`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from backbone_admin.kafka import ClusterUnavailable, NotFound
from backbone_admin.kafka.client import timeout
from backbone_admin.kafka.records import Record, reader
from streams.browse.candidates import Candidates
from streams.browse.positions import Cursor, Order, Read, Selection, select_partitions
from streams.browse.reading import END, LIMIT, TIME_BUDGET, Budget, PartitionScan, Scan, merge_key
from streams.browse.searching import SearchScan

# A page's events hold at most this many bytes (the one that crosses it included); 0: no bound.
# BROWSE_MAX_PAGE_BYTES in the settings overrides it.
MAX_PAGE_BYTES = 8 * 1024 * 1024
# Events a page reads in its first round per partition before their sizes are known.
FIRST_WINDOW = 50

# Returns what to show for a matching record (its decoded event), None when it does not match.
Matcher = Callable[[Record], Any | None]


@dataclass
class Hit:
    record: Record
    event: Any | None = None  # the decoded event, when the matcher already built it


@dataclass
class Page:
    selection: Selection
    order: Order
    read: Read
    hits: list[Hit]
    lower: dict[int, int]
    upper: dict[int, int]
    scan: Scan
    notes: list[str] = field(default_factory=list)

    @property
    def next(self) -> Cursor | None:
        return self._toward_newer() if self.order == "oldest" else self._toward_older()

    @property
    def previous(self) -> Cursor | None:
        return self._toward_older() if self.order == "oldest" else self._toward_newer()

    def _toward_older(self) -> Cursor | None:
        marks = self.selection.marks
        if all(self.lower[p] <= marks[p].low for p in marks):
            return None
        return Cursor(self.order, "desc", dict(self.lower))

    def _toward_newer(self) -> Cursor | None:
        marks = self.selection.marks
        if all(self.upper[p] >= marks[p].high for p in marks):
            return None
        return Cursor(self.order, "asc", dict(self.upper))

    @property
    def merged(self) -> bool:
        return len(self.selection.marks) > 1


def read_page(
    cluster: str,
    selection: Selection,
    *,
    read: Read,
    positions: dict[int, int],
    order: Order,
    limit: int,
    budget: Budget,
    matcher: Matcher | None = None,
    candidates: Candidates | None = None,
    on_hit: Callable[[Hit], None] | None = None,
    on_progress: Callable[[Scan], None] | None = None,
) -> Page:
    """Read one page from `positions` (see the module docstring); `on_hit` sees each match as it is
    found; a search asks `matcher` only about records that pass `candidates`."""
    with reader(cluster, profile="scan" if matcher is not None else "page") as r:
        if matcher is None:
            scan, hits = _browse(r, selection, read, positions, limit, budget, page_bytes_limit())
        else:
            scan, hits = _search(r, selection, read, positions, limit, budget, matcher, candidates, on_hit, on_progress)
        # Past commit markers and aborted events (see the module docstring).
        upper = scan.newer_boundary()
    lower = positions if read == "asc" else {p: s.position for p, s in scan.partitions.items()}
    hits.sort(key=lambda h: merge_key(h.record), reverse=order == "newest")
    if matcher is None and not hits and any(s.stopped == TIME_BUDGET for s in scan.partitions.values()):
        raise ClusterUnavailable(
            f"cluster `{cluster}` gave no events of `{selection.topic}` within {budget.seconds:g} s"
        )
    page = Page(selection, order, read, hits, dict(lower), dict(upper), scan)
    held = sum(h.record.size for h in hits)
    max_bytes = page_bytes_limit()
    if matcher is None and max_bytes and held >= max_bytes and len(hits) < limit:
        page.notes.append(
            f"this page ends after {len(hits):,} events: they hold {_mb(held)} and a page holds at most "
            f"{_mb(max_bytes)}; the next page continues from there"
        )
    return page


def page_bytes_limit() -> int:
    return int(getattr(settings, "BROWSE_MAX_PAGE_BYTES", MAX_PAGE_BYTES))


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:,.1f} MB"


def _browse(
    r: Any,
    selection: Selection,
    read: Read,
    positions: dict[int, int],
    limit: int,
    budget: Budget,
    max_bytes: int = 0,
) -> tuple[Scan, list[Hit]]:
    hits: list[Hit] = []
    held = 0

    def need(part: PartitionScan) -> int:
        left = limit - len(hits)
        if not max_bytes:
            return left
        if not hits:
            return min(left, FIRST_WINDOW)
        # As many more as the bytes still allowed hold, at the size of those read so far.
        each = max(1, held // len(hits))
        return max(1, min(left, math.ceil((max_bytes - held) / each)))

    # The scan merges partitions exactly: the first `limit` records it hands out are the page.
    scan = Scan(r, selection, positions, read, budget, window=need, batch=limit * len(selection.marks) + 8, exact=True)
    for record in scan.records():
        hits.append(Hit(record))
        held += record.size
        scan.partitions[record.partition].matched += 1
        if len(hits) >= limit or (max_bytes and held >= max_bytes):
            scan.stop_all(LIMIT)
    return scan, hits


def _search(
    r: Any,
    selection: Selection,
    read: Read,
    positions: dict[int, int],
    limit: int,
    budget: Budget,
    matcher: Matcher,
    candidates: Candidates | None,
    on_hit: Callable[[Hit], None] | None,
    on_progress: Callable[[Scan], None] | None,
) -> tuple[Scan, list[Hit]]:
    scan = SearchScan(r, selection, positions, read, budget)
    scan.on_progress = on_progress
    hits: list[Hit] = []
    for record, event in scan.find(matcher, limit, candidates):
        hit = Hit(record, event)
        hits.append(hit)
        if on_hit is not None:
            on_hit(hit)
    return scan, hits


def read_event(cluster: str, topic: str, partition: int, offset: int) -> Record:
    """The record at exactly this offset; NotFound naming the partition's range when there is none."""
    selection = select_partitions(cluster, topic, [partition])
    mark = selection.marks[partition]
    if not mark.low <= offset < mark.high:
        held = f"offsets {mark.low} to {mark.high - 1}" if mark.high > mark.low else "no events"
        raise NotFound(f"no event at offset {offset} in partition {partition} of `{topic}`: it holds {held}")
    budget = Budget(seconds=timeout())
    with reader(cluster, profile="page") as r:
        scan = Scan(r, selection, {partition: offset}, "asc", budget, batch=1, exact=True)
        record = next(iter(scan.records()), None)
    if record is None and scan.partitions[partition].stopped == END:
        raise NotFound(f"no event at offset {offset} in partition {partition} of `{topic}`: compaction removed it")
    if record is None:
        raise ClusterUnavailable(f"cluster `{cluster}` gave no event of `{topic}` within {budget.seconds:g} s")
    if record.offset != offset:
        raise NotFound(
            f"no event at offset {offset} in partition {partition} of `{topic}`: compaction removed it or it is a "
            f"transaction marker; the next event is at offset {record.offset}"
        )
    return record
