"""Export: a topic range to JSON Lines or CSV (optionally gzip), written as it is read.

Each partition is written by its own subtask to a part file in a hidden per-job folder; a
batch of records is formatted and written before the next is read, so memory stays flat
whatever the topic's size. When every partition is done the parts are joined, in partition
order, into a temporary file whose size and SHA-256 are computed on the way, and that file is
renamed into place: nothing is offered for download before it is complete. A cancelled or
failed export removes its parts. A partition resumed after a crash is written again from
its start (its part file is rewritten), so the file never holds an event twice.
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
from pathlib import Path
from typing import IO, Any

import orjson
from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.utils import timezone

from backbone_admin.kafka.records import Record, reader
from streams.jobs.models import Job, JobPartition
from streams.jobs.replay import READ_BATCH, record_filter
from streams.jobs.runner import Context

CSV_COLUMNS = ["partition", "offset", "timestamp", "key", "value", "headers", "key_encoding", "value_encoding"]
GZIP_LEVEL = 3  # gzip's default (6) costs twice the time for a few percent less
COPY_CHUNK = 1024 * 1024
CHECKPOINT_SECONDS = 1.0


def export_storage() -> FileSystemStorage:
    return FileSystemStorage(location=settings.EXPORT_ROOT)


def _parts_dir(job: Job) -> Path:
    return Path(export_storage().path(f".job-{job.pk}"))


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


def jsonl_lines(records: list[Record]) -> bytes:
    lines = []
    dumps = orjson.dumps
    for r in records:
        key, key_b64 = _text(r.key)
        value, value_b64 = _text(r.value)
        event: dict[str, Any] = {
            "partition": r.partition,
            "offset": r.offset,
            "timestamp": r.timestamp,
            "key": key,
            "value": value,
            "headers": _headers(r.headers) if r.headers else [],
        }
        if key_b64:
            event["key_encoding"] = "base64"
        if value_b64:
            event["value_encoding"] = "base64"
        lines.append(dumps(event))
    lines.append(b"")
    return b"\n".join(lines)


def csv_lines(records: list[Record]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for r in records:
        key, key_b64 = _text(r.key)
        value, value_b64 = _text(r.value)
        writer.writerow(
            [
                r.partition,
                r.offset,
                r.timestamp,
                key,
                value,
                orjson.dumps(_headers(r.headers)).decode() if r.headers else "",
                "base64" if key_b64 else ("null" if r.key is None else "text"),
                "base64" if value_b64 else ("null" if r.value is None else "text"),
            ]
        )
    return buffer.getvalue().encode()


def _open(path: Path, gzipped: bool) -> tuple[IO[bytes], IO[bytes] | gzip.GzipFile]:
    raw = path.open("wb")
    if gzipped:
        return raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=GZIP_LEVEL, mtime=0)
    return raw, raw


def export_partition(job: Job, part: JobPartition, context: Context) -> None:
    params = job.params
    lines = csv_lines if params.get("format") == "csv" else jsonl_lines
    matches = record_filter(params.get("filter") or "")
    folder = _parts_dir(job)
    folder.mkdir(parents=True, exist_ok=True)
    # A part is always written whole in one run: a resumed partition starts its part again.
    position, done, skipped, bytes_done = part.start_offset, 0, 0, 0
    end = part.end_offset
    raw, out = _open(folder / f"part-{part.partition:06d}", params.get("compression") == "gzip")
    try:
        with reader(job.cluster) as r:
            r.assign(job.topic, {part.partition: position})
            last = 0.0
            while position < end:
                batch = r.read(READ_BATCH, 0.5)
                if not batch and part.partition in r.at_end:
                    position = end  # the rest of the range holds no records
                if batch and batch[-1].offset >= end:
                    batch = [rec for rec in batch if rec.offset < end]
                    position = end
                elif batch:
                    position = batch[-1].offset + 1
                if matches is not None:
                    kept = [rec for rec in batch if matches(rec)]
                    skipped += len(batch) - len(kept)
                    batch = kept
                if batch:
                    out.write(lines(batch))
                    done += len(batch)
                    bytes_done += sum(rec.size for rec in batch)
                now = timezone.now().timestamp()
                if now - last >= CHECKPOINT_SECONDS or position >= end:
                    last = now
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


def export_finish(job: Job, parts: list[JobPartition]) -> dict[str, Any]:
    """Join the parts into the final file (temporary name, then an atomic rename); record it."""
    storage = export_storage()
    root = Path(storage.location)
    root.mkdir(parents=True, exist_ok=True)
    name = _file_name(job)
    final = root / name
    temp = root / f".{name}.tmp"
    gzipped = job.params.get("compression") == "gzip"
    digest = hashlib.sha256()
    size = 0
    with temp.open("wb") as out:

        def put(data: bytes) -> None:
            nonlocal size
            digest.update(data)
            size += len(data)
            out.write(data)

        if job.params.get("format") == "csv":
            header = (",".join(CSV_COLUMNS) + "\n").encode()
            # Concatenated gzip members are one valid gzip stream: the header is a member of its own.
            put(gzip.compress(header, compresslevel=GZIP_LEVEL, mtime=0) if gzipped else header)
        folder = _parts_dir(job)
        for part in sorted(parts, key=lambda p: p.partition):
            path = folder / f"part-{part.partition:06d}"
            if not path.exists():
                continue  # an empty range never opened a part
            with path.open("rb") as source:
                while chunk := source.read(COPY_CHUNK):
                    put(chunk)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, final)
    shutil.rmtree(_parts_dir(job), ignore_errors=True)
    expires = job.default_expiry()
    Job.objects.filter(pk=job.pk).update(
        file_name=name, file_size=size, file_sha256=digest.hexdigest(), expires_at=expires
    )
    return {"file": name, "size": size, "sha256": digest.hexdigest(), "lines": sum(p.done for p in parts)}


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
