"""Export: a topic range to JSON Lines or CSV (optionally gzip), written as it is read.

Each partition is written by its own subtask to a part file in a hidden per-job folder; a
batch of records is formatted and written before the next is read, so memory stays flat
whatever the topic's size. When every partition is done the parts are joined, in partition
order, into a temporary file whose size and SHA-256 are computed on the way, and that file is
renamed into place: nothing is offered for download before it is complete. A cancelled or
failed export removes its parts. A partition resumed after a crash is written again from
its start (its part file is rewritten), so the file never holds an event twice.

Where the broker had deleted part of the range before the export read it (retention,
delete-records), the file says so in place: a JSON Lines line `{"partition", "offset" (the
first missing), "gap": {"first", "last", "offsets"}, "reason"}` with no key or value, or a CSV
row whose `key_encoding` and `value_encoding` are `gap` and whose value says which offsets are
missing. The job then ends `completed_with_gaps` (streams/jobs/gaps.py).

CSV cells that a spreadsheet would run as a formula (a key or value starting with `=`, `+`, `-`,
`@`, a tab or a carriage return) are written with a leading apostrophe, and their encoding column
says `escaped-text` (or `escaped-base64`): drop the first character to get the value.

Masking: an export started by someone below admin on a cluster with masking rules writes
what that person may see (key, value and header values masked, Avro values as their JSON),
and its filter sees the same (streams/jobs/selection.py); an admin's export, and every export
of a cluster without rules, copies the bytes as written, fast: nothing is decoded but what
the filter reads. Downloading an unmasked export of a cluster with rules takes the admin role.
"""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import io
import os
import re
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from operator import attrgetter, methodcaller
from pathlib import Path
from typing import IO, Any, TypeVar, cast

import orjson
from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.utils import timezone

from backbone_admin.kafka.errors import Conflict
from backbone_admin.kafka.records import RawMessage, Record, headers_size, reader
from streams.events.decoding import Decoded
from streams.events.serialize import DecodedEvent
from streams.jobs.gaps import describe, skip_deleted
from streams.jobs.models import Job, JobPartition
from streams.jobs.replay import READ_BATCH, SCAN_WAIT
from streams.jobs.runner import Context
from streams.jobs.selection import Selection
from streams.jobs.storage import check_free, check_room

CSV_COLUMNS = ["partition", "offset", "timestamp", "key", "value", "headers", "key_encoding", "value_encoding"]
GZIP_LEVEL = 3  # gzip's default (6) costs twice the time for a few percent less
COPY_CHUNK = 1024 * 1024
CHECKPOINT_SECONDS = 1.0


def export_storage() -> FileSystemStorage:
    return FileSystemStorage(location=settings.EXPORT_ROOT)


def _parts_dir(job: Job) -> Path:
    return Path(export_storage().path(f".job-{job.pk}"))


def _part_path(folder: Path, partition: int) -> Path:
    """The part file one partition's subtask writes in the job's folder."""
    return folder / f"part-{partition:06d}"


def _text(data: bytes | None) -> tuple[str | None, bool]:
    """UTF-8 text when the bytes are UTF-8, else base64 (and True)."""
    if data is None:
        return None, False
    try:
        return data.decode(), False
    except UnicodeDecodeError:
        return base64.b64encode(data).decode(), True


def _headers(headers: tuple[tuple[str, bytes | None], ...]) -> list[list[Any]]:
    out: list[list[Any]] = []
    for name, value in headers:
        text, binary = _text(value)
        out.append([name, {"base64": text} if binary else text])
    return out


def _event_line(
    partition: int, offset: int, timestamp: int, key: Any, value: Any, headers: list[list[Any]], **more: Any
) -> bytes:
    """One JSON Lines event: where it was, what it carries, then what `more` says about it."""
    return orjson.dumps(
        {
            "partition": partition,
            "offset": offset,
            "timestamp": timestamp,
            "key": key,
            "value": value,
            "headers": headers,
            **more,
        }
    )


def _jsonl_event(
    partition: int,
    offset: int,
    timestamp: int,
    key: bytes | None,
    value: bytes | None,
    headers: tuple[tuple[str, bytes | None], ...],
) -> bytes:
    """One line, any bytes: text as text, the rest base64 (and said so)."""
    key_text, key_b64 = _text(key)
    value_text, value_b64 = _text(value)
    more = {}
    if key_b64:
        more["key_encoding"] = "base64"
    if value_b64:
        more["value_encoding"] = "base64"
    return _event_line(partition, offset, timestamp, key_text, value_text, _headers(headers) if headers else [], **more)


# Header lists as a line writes them, and their size, by the headers: most topics repeat a few
# header sets (a source, a schema, a content type), and formatting and counting them per event
# was a fifth of an export's time.
_HEADERS_JSON: dict[tuple[tuple[str, bytes | None], ...], tuple[bytes, int]] = {}
HEADERS_JSON_KEPT = 1024  # header sets of at most HEADERS_JSON_BYTES each: a few MB at most
HEADERS_JSON_BYTES = 1024


def _headers_json(headers: tuple[tuple[str, bytes | None], ...]) -> tuple[bytes, int]:
    """`headers` as the JSON list of a line and their size (`headers_size`), from the cache when
    these headers were seen before."""
    known = _HEADERS_JSON.get(headers)
    if known is None:
        known = orjson.dumps(_headers(headers)), headers_size(headers)
        if known[1] <= HEADERS_JSON_BYTES:
            if len(_HEADERS_JSON) >= HEADERS_JSON_KEPT:
                _HEADERS_JSON.clear()  # headers that differ per event (trace ids): keep memory flat
            _HEADERS_JSON[headers] = known
    return known


# The line `_jsonl_event` writes for a record whose key, value and headers are text, byte for byte
# (orjson's compact form), filled in by %: half the cost per event of building and dumping a dict.
_JSONL_TEXT = b'{"partition":%d,"offset":%d,"timestamp":%d,"key":%b,"value":%b,"headers":%b}'


def jsonl_lines(records: list[Record]) -> bytes:
    lines: list[bytes] = []
    append = lines.append
    dumps = orjson.dumps
    template = _JSONL_TEXT
    for r in records:
        key, value, headers = r.key, r.value, r.headers
        try:
            line = template % (
                r.partition,
                r.offset,
                r.timestamp,
                dumps(key.decode()) if key is not None else b"null",
                dumps(value.decode()) if value is not None else b"null",
                _headers_json(headers)[0] if headers else b"[]",
            )
        except UnicodeDecodeError:
            line = _jsonl_event(r.partition, r.offset, r.timestamp, key, value, headers)
        append(line)
    append(b"")
    return b"\n".join(lines)


def jsonl_messages(messages: list[RawMessage], partition: int) -> tuple[bytes, int]:
    """`jsonl_lines` straight from the client's messages of one partition, and the bytes they carry
    (`Record.size`): the unmasked, unfiltered export formats each event once, without building a Record."""
    lines: list[bytes] = []
    append = lines.append
    dumps = orjson.dumps
    template = _JSONL_TEXT
    size = 0
    for m in messages:
        key, value = m.key(), m.value()
        headers = tuple(cast("list[tuple[str, bytes | None]]", m.headers() or ()))
        size += (len(key) if key is not None else 0) + (len(value) if value is not None else 0)
        header_line = b"[]"
        if headers:
            header_line, header_bytes = _headers_json(headers)
            size += header_bytes
        offset, timestamp = m.offset() or 0, m.timestamp()[1]
        try:
            line = template % (
                partition,
                offset,
                timestamp,
                dumps(key.decode()) if key is not None else b"null",
                dumps(value.decode()) if value is not None else b"null",
                header_line,
            )
        except UnicodeDecodeError:
            line = _jsonl_event(partition, offset, timestamp, key, value, headers)
        append(line)
    append(b"")
    return b"\n".join(lines), size


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection, OWASP): such a
# key or value cell is written with a leading apostrophe, and its encoding column says `escaped-<encoding>`
# (drop the first character to get the value). Header cells are JSON lists, numbers are numbers.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str | None, encoding: str) -> tuple[str | None, str]:
    """A key or value cell and its encoding, neutralised when a spreadsheet would take it for a formula."""
    if text and text.startswith(FORMULA_STARTS):
        return "'" + text, f"escaped-{encoding}"
    return text, encoding


def csv_lines(records: list[Record]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for r in records:
        key_text, key_b64 = _text(r.key)
        value_text, value_b64 = _text(r.value)
        key, key_encoding = _cell(key_text, "base64" if key_b64 else ("null" if r.key is None else "text"))
        value, value_encoding = _cell(value_text, "base64" if value_b64 else ("null" if r.value is None else "text"))
        headers = orjson.dumps(_headers(r.headers)).decode() if r.headers else ""
        writer.writerow([r.partition, r.offset, r.timestamp, key, value, headers, key_encoding, value_encoding])
    return buffer.getvalue().encode()


def _shown(decoded: Decoded) -> tuple[str | None, str]:
    """A masked event's text and its encoding for the file: text (JSON or UTF-8), base64, avro, null or
    withheld (the text then says it cannot be masked)."""
    encoding = decoded.encoding
    return decoded.text, "text" if encoding == "json" else encoding


def _shown_headers(event: DecodedEvent) -> list[list[Any]]:
    out: list[list[Any]] = []
    for name, decoded in event.headers:
        text, encoding = _shown(decoded)
        out.append([name, {"base64": text} if encoding == "base64" else text])
    return out


def jsonl_masked(events: list[DecodedEvent]) -> bytes:
    """JSON Lines of events as a user below admin sees them; `masked: true` where something was replaced."""
    lines = []
    for e in events:
        r = e.record
        key, key_encoding = _shown(e.key)
        value, value_encoding = _shown(e.value)
        more: dict[str, Any] = {}
        if key_encoding in ("base64", "avro", "withheld"):
            more["key_encoding"] = key_encoding
        if value_encoding in ("base64", "avro", "withheld"):  # withheld: masking could not read it
            more["value_encoding"] = value_encoding
        if e.masked:
            more["masked"] = True
        headers = _shown_headers(e) if r.headers else []
        lines.append(_event_line(r.partition, r.offset, r.timestamp, key, value, headers, **more))
    lines.append(b"")
    return b"\n".join(lines)


def csv_masked(events: list[DecodedEvent]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for e in events:
        r = e.record
        key, key_encoding = _cell(*_shown(e.key))
        value, value_encoding = _cell(*_shown(e.value))
        headers = orjson.dumps(_shown_headers(e)).decode() if r.headers else ""
        writer.writerow([r.partition, r.offset, r.timestamp, key, value, headers, key_encoding, value_encoding])
    return buffer.getvalue().encode()


GAP_REASON = "deleted by the broker (retention or delete-records) before the export read them"


def jsonl_gap(partition: int, first: int, end: int) -> bytes:
    """The line that stands where offsets [first, end) are missing: no event, a `gap` instead."""
    gap = {"first": first, "last": end - 1, "offsets": end - first}
    return orjson.dumps({"partition": partition, "offset": first, "gap": gap, "reason": GAP_REASON}) + b"\n"


def csv_gap(partition: int, first: int, end: int) -> bytes:
    """The row that stands where offsets [first, end) are missing: `gap` in both encoding columns."""
    buffer = io.StringIO()
    text = f"{describe([[first, end]])} missing: {GAP_REASON}"
    csv.writer(buffer, lineterminator="\n").writerow([partition, first, "", "", text, "", "gap", "gap"])
    return buffer.getvalue().encode()


def payload_bytes(records: list[Record]) -> int:
    """The bytes the records carry (`Record.size`)."""
    return sum(r.size for r in records)


T = TypeVar("T")


def _before(items: list[T], offset: Callable[[T], int], position: int, end: int) -> tuple[list[T], int]:
    """The items read before `end`, and the position after them (`end` once it was reached)."""
    if not items:
        return items, position
    if offset(items[-1]) >= end:
        return [item for item in items if offset(item) < end], end
    return items, offset(items[-1]) + 1


def _open(path: Path, gzipped: bool) -> tuple[IO[bytes], IO[bytes] | gzip.GzipFile]:
    raw = path.open("wb")
    if gzipped:
        return raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=GZIP_LEVEL, mtime=0)
    return raw, raw


def export_partition(job: Job, part: JobPartition, context: Context) -> None:
    params = job.params
    csv_format = params.get("format") == "csv"
    lines = csv_lines if csv_format else jsonl_lines
    masked_lines = csv_masked if csv_format else jsonl_masked
    selection = Selection(job.cluster, params.get("filter") or "", masked=bool(params.get("masked")))
    folder = _parts_dir(job)
    folder.mkdir(parents=True, exist_ok=True)
    # A part is always written whole in one run: a resumed partition starts its part (and its gaps) again.
    position, done, skipped, bytes_done = part.start_offset, 0, 0, 0
    end = part.end_offset
    if part.gaps:
        context.set_gaps([])
    gap_line = csv_gap if csv_format else jsonl_gap
    raw, out = _open(_part_path(folder, part.partition), params.get("compression") == "gzip")
    try:
        with reader(job.cluster, profile="job") as r:
            r.assign(job.topic, {part.partition: position})
            last = 0.0
            # Everything, as written, as JSON Lines: each event is formatted straight from the client's message.
            direct = not csv_format and selection.everything and not selection.masked
            while position < end:
                batch: list[Record] = []
                if direct:
                    messages, position = _before(
                        r.read_messages(min(READ_BATCH, end - position), SCAN_WAIT),
                        methodcaller("offset"),
                        position,
                        end,
                    )
                    got = bool(messages)
                    if messages:
                        data, size = jsonl_messages(messages, part.partition)
                        out.write(data)
                        done += len(messages)
                        bytes_done += size
                else:
                    batch, position = _before(
                        r.read(min(READ_BATCH, end - position), SCAN_WAIT), attrgetter("offset"), position, end
                    )
                    got = bool(batch)
                if not got and r.read_to(part.partition, end):
                    position = end  # the rest of the range holds no records
                if selection.masked:
                    events = [e for e in map(selection.chosen, batch) if e is not None]
                    skipped += len(batch) - len(events)
                    if events:
                        out.write(masked_lines(events))
                        done += len(events)
                        bytes_done += sum(e.record.size for e in events)
                    batch = []
                elif not selection.everything:
                    kept = [rec for rec in batch if selection.keep(rec)]
                    skipped += len(batch) - len(kept)
                    batch = kept
                if batch:
                    out.write(lines(batch))
                    done += len(batch)
                    bytes_done += payload_bytes(batch)
                if r.deleted:
                    # The broker deleted what came next before it was read: the file says so where it is missing.
                    first, position = skip_deleted(job, part, r, position, end, context)
                    out.write(gap_line(part.partition, first, position))
                now = timezone.now().timestamp()
                if now - last >= CHECKPOINT_SECONDS or position >= end:
                    last = now
                    out.flush()
                    check_room(user=job.created_by, doing=f"export {job.pk} stopped")
                    context.checkpoint(position=position, done=done, skipped=skipped, bytes_done=bytes_done)
        if out is not raw:
            out.close()
        raw.flush()
        os.fsync(raw.fileno())
    finally:
        if out is not raw:
            out.close()
        raw.close()


def _file_name(job: Job) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", job.topic).strip("._")[:100] or "topic"
    ext = "csv" if job.params.get("format") == "csv" else "jsonl"
    gz = ".gz" if job.params.get("compression") == "gzip" else ""
    return f"{safe}-job{job.pk}.{ext}{gz}"


def _sha256(header: bytes, paths: list[Path]) -> str:
    """SHA-256 of the header followed by the files, as hex."""
    digest = hashlib.sha256(header)
    for path in paths:
        with path.open("rb") as source:
            while chunk := source.read(COPY_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def _append(out: IO[bytes], path: Path) -> None:
    """Append the file to `out` (unbuffered), copied by the kernel where it can."""
    with path.open("rb", buffering=0) as source:
        left = os.fstat(source.fileno()).st_size
        try:
            while left > 0:
                copied = os.copy_file_range(source.fileno(), out.fileno(), left)
                if copied == 0:
                    break
                left -= copied
        except OSError:  # a file system without it: copy through user space from where it stopped
            pass
        while chunk := source.read(COPY_CHUNK):
            out.write(chunk)


def export_finish(job: Job, parts: list[JobPartition]) -> dict[str, Any]:
    """Join the parts into the final file (temporary name, then an atomic rename); record it."""
    storage = export_storage()
    root = Path(storage.location)
    root.mkdir(parents=True, exist_ok=True)
    name = _file_name(job)
    final = root / name
    temp = root / f".{name}.tmp"
    gzipped = job.params.get("compression") == "gzip"
    header = b""
    if job.params.get("format") == "csv":
        header = (",".join(CSV_COLUMNS) + "\n").encode()
        # Concatenated gzip members are one valid gzip stream: the header is a member of its own.
        header = gzip.compress(header, compresslevel=GZIP_LEVEL, mtime=0) if gzipped else header
    folder = _parts_dir(job)
    # Parts in partition order; an empty range never opened one.
    paths = [
        path for p in sorted(parts, key=lambda p: p.partition) if (path := _part_path(folder, p.partition)).exists()
    ]
    try:  # the final file is a second copy of the parts until they are removed
        check_free(doing=f"export {job.pk} could not be completed", extra=sum(p.stat().st_size for p in paths))
    except Conflict:
        export_discard(job)
        raise
    # The kernel copies the parts into the file while a second thread reads and hashes them: both
    # release the GIL (319 MB: 0.54 s when one thread read, hashed and wrote each chunk; ~0.2 s).
    with ThreadPoolExecutor(max_workers=1) as pool, temp.open("wb", buffering=0) as out:
        hashing = pool.submit(_sha256, header, paths)
        out.write(header)
        for path in paths:
            _append(out, path)
        digest = hashing.result()
        size = out.tell()
        os.fsync(out.fileno())
    os.replace(temp, final)
    shutil.rmtree(_parts_dir(job), ignore_errors=True)
    expires = job.default_expiry()
    Job.objects.filter(pk=job.pk).update(file_name=name, file_size=size, file_sha256=digest, expires_at=expires)
    return {
        "file": name,
        "size": size,
        "sha256": digest,
        "lines": sum(p.done for p in parts),
        "masked": Selection(job.cluster, "", masked=bool(job.params.get("masked"))).masked,
    }


def export_discard(job: Job) -> None:
    """Remove whatever a cancelled or failed export wrote: nothing of it stays offered."""
    shutil.rmtree(_parts_dir(job), ignore_errors=True)
    root = Path(export_storage().location)
    name = _file_name(job)
    for path in (root / f".{name}.tmp", root / name):
        path.unlink(missing_ok=True)
    Job.objects.filter(pk=job.pk).update(file_name="", file_size=None, file_sha256="", expires_at=None)


def export_expire(job: Job) -> None:
    """Delete an expired export's file; the job stays, saying the file expired."""
    if job.file_name:
        export_storage().delete(job.file_name)
    result = {**job.result, "expired_at": timezone.now().isoformat()}
    Job.objects.filter(pk=job.pk).update(file_name="", result=result)
