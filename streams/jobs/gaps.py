"""Offsets a job could not read because the broker had deleted them first (retention, delete-records).

A job reads its range with `auto.offset.reset=error` (the reader's "job" profile): when the log
start has moved past the job's position, the reader reports the position as deleted instead
of jumping silently to the new start. The job then records the gap — from its position to the
new log start, within its range — on the partition's row at once (so a crash cannot lose it),
continues from the log start, and ends `completed_with_gaps` naming every gap (runner.job_finish).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backbone_admin.kafka.errors import InvalidRequest
from streams.jobs.models import Job, JobPartition

if TYPE_CHECKING:
    from backbone_admin.kafka.records import Reader
    from streams.jobs.runner import Context

Gap = tuple[int, int]  # [first, end): offsets of the range the broker no longer held


def merged(gaps: list[list[int]], first: int, end: int) -> list[list[int]]:
    """The gaps with [first, end) added, overlapping and touching ranges joined, in order."""
    ranges = sorted([*[(a, b) for a, b in gaps], (first, end)])
    out: list[list[int]] = []
    for a, b in ranges:
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return out


def skip_deleted(job: Job, part: JobPartition, reader: Reader, position: int, end: int, context: Context) -> Gap:
    """The gap [first, resume) once the reader found the job's position deleted: recorded through
    `context`, and the reader moved to `resume`, the log start (or `end` when retention took the
    rest of the range), where the job continues.

    A position the broker does not hold although its log starts before it lies past the log's
    end: the topic was re-created or truncated under the job, which is an error, not a gap.
    """
    from backbone_admin.kafka import offsets  # the runner imports this module; the gateway only here

    gone = reader.deleted[part.partition]
    first = max(position, gone)
    key = (job.topic, part.partition)
    start = offsets.log_starts(job.cluster, [key])[key]
    if start <= first:
        raise InvalidRequest(
            f"partition {part.partition} of `{job.topic}` no longer holds offset {first:,} although its log starts "
            f"at {start:,}: the topic was re-created or truncated while the job ran"
        )
    resume = min(start, end)
    context.record_gap(first, resume)
    if resume < end:
        reader.resume(part.partition, resume)
    else:
        reader.deleted.pop(part.partition, None)
    return first, resume


def describe(gaps: list[list[int]]) -> str:
    """`offsets 990 to 2,499 (1,510)` and so on, for messages and files."""
    return ", ".join(f"offsets {a:,} to {b - 1:,} ({b - a:,})" if b - a > 1 else f"offset {a:,}" for a, b in gaps)


def report(parts: list[JobPartition]) -> dict[str, Any]:
    """The gaps of a finished job for its result: per partition, and the sentence a person reads."""
    rows = [
        {"partition": p.partition, "first": a, "last": b - 1, "offsets": b - a}
        for p in sorted(parts, key=lambda p: p.partition)
        for a, b in p.gaps
    ]
    if not rows:
        return {}
    lost = sum(row["offsets"] for row in rows)
    where = "; ".join(f"partition {p.partition}: {describe(p.gaps)}" for p in parts if p.gaps)
    return {
        "gaps": rows,
        "offsets_lost": lost,
        "warning": (
            f"{lost:,} offsets of the range were deleted by the broker (retention or delete-records) before the "
            f"job read them, so they are missing — {where}"
        ),
    }
