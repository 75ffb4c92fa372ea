"""Replay: re-publish one source partition's range into the target topic, exactly once in effect.

Per source partition a transactional producer (`backbone-replay-<job>-<partition>`) writes
the events in transactions of at most COMMIT_EVENTS events or COMMIT_SECONDS; after each
commit the job's checkpoint is saved: the next source offset and, per target partition, the
end offset read right after the commit (before the next transaction writes anything).

Resuming after a crash: `init()` fences the dead producer and aborts its open transaction;
the target partitions are then read from the checkpointed offsets to their end, and every
record carrying this job's and this partition's provenance names a source offset that is
already in the target (a transaction committed after the last checkpoint). Those are skipped,
everything else from the checkpoint on is written again. Where aborted records stay visible
to read_committed readers (a broker without transaction support in fetch), the scan sees them
like any other reader does, so the target still holds each event once for that reader.

The optional filter is the message browser's language (streams/jobs/selection.py). A replay
re-publishes the events as they were written, which is why it needs the operator role on the
source and on the target (masking rules of the target cluster apply to whoever reads the copy
there). Started below admin on a cluster with masking rules, its filter sees the masked
events (`masked` of the job: which events it copies must not tell a masked value apart), and
its target is on the same cluster or one with the same rules (streams/jobs/services.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings

from backbone_admin.kafka import offsets
from backbone_admin.kafka.records import Record, reader
from backbone_admin.kafka.topics import describe_topic
from backbone_admin.kafka.transactions import TransactionalProducer
from streams.jobs.gaps import skip_deleted
from streams.jobs.models import Job, JobPartition
from streams.jobs.runner import Context, Paused
from streams.jobs.selection import Selection

H_CLUSTER = "backbone.source.cluster"
H_TOPIC = "backbone.source.topic"
H_PARTITION = "backbone.source.partition"
H_OFFSET = "backbone.source.offset"
H_JOB = "backbone.job"
PROVENANCE = (H_CLUSTER, H_TOPIC, H_PARTITION, H_OFFSET, H_JOB)
# Records read (and formatted or produced) at a time: small batches keep a worker small and
# were no slower (1,000: ~20 MiB less than 5,000 at the same rate).
READ_BATCH = 1000
COMMIT_SECONDS = 1.0
# Seconds a read waits for a batch to fill. Short: a partition's last, partial batch would
# otherwise cost the whole wait (it was 0.5 s: ~3 s of a 6-partition export of 1M events).
SCAN_WAIT = 0.05
# A rate-limited replay whose next batch is due later than this gives its worker back until then.
PAUSE_AFTER = 2.0


def transactional_id(job_id: int, partition: int) -> str:
    return f"backbone-replay-{job_id}-{partition}"


def _target_partitions(job: Job, part: JobPartition) -> list[int]:
    if job.params.get("partition_mapping") == "key":
        return list(range(len(describe_topic(job.target_cluster, job.target_topic).partitions)))
    return [part.partition]


def _ends(job: Job, targets: list[int]) -> dict[str, int]:
    ends = offsets.high_watermarks(job.target_cluster, [(job.target_topic, p) for p in targets])
    return {str(p): ends[(job.target_topic, p)] for p in targets}


def already_written(job: Job, part: JobPartition, context: Context) -> set[int]:
    """Source offsets (from the checkpoint on) that this job's partition already put in the target."""
    job_id, source_partition = str(job.pk).encode(), str(part.partition).encode()
    starts = {int(p): o for p, o in part.checkpoint.items()}
    found: set[int] = set()
    if not starts:
        return found
    # Read to the log's end, not to the first end met: right after init() aborted the dead
    # producer's transaction (or after a commit just before the crash) Kafka may not have written
    # the markers yet, and this read_committed reader meets its end before that transaction.
    ends = {
        p: end
        for (_, p), end in offsets.high_watermarks(job.target_cluster, [(job.target_topic, p) for p in starts]).items()
    }
    last_alive = time.monotonic()
    with reader(job.target_cluster) as r:
        r.assign(job.target_topic, starts)
        while not all(r.read_to(p, end) for p, end in ends.items()):
            batch = r.read(READ_BATCH, SCAN_WAIT)
            for record in batch:
                headers = dict(record.headers)
                if headers.get(H_JOB) == job_id and headers.get(H_PARTITION) == source_partition:
                    offset = int(headers.get(H_OFFSET) or -1)
                    if offset >= part.position:
                        found.add(offset)
            if time.monotonic() - last_alive > 1:
                context.keep_alive()
                last_alive = time.monotonic()
    return found


def replay_partition(job: Job, part: JobPartition, context: Context) -> None:
    params = job.params
    target_topic, mapping = job.target_topic, params.get("partition_mapping", "same")
    keep_timestamps = bool(params.get("keep_timestamps", True))
    selection = Selection(job.cluster, params.get("filter") or "", masked=bool(params.get("masked")))
    matches = None if selection.everything else selection.keep
    producer = TransactionalProducer(job.target_cluster, transactional_id(job.pk, part.partition))
    try:
        producer.init()  # fences a killed worker's producer and aborts its open transaction
        targets = _target_partitions(job, part)
        if part.checkpoint:
            skip = already_written(job, part, context)
        else:
            skip = set()
            context.checkpoint(
                position=part.position,
                done=part.done,
                skipped=part.skipped,
                bytes_done=part.bytes_done,
                checkpoint=_ends(job, targets),
            )
        _copy(job, part, context, producer, targets, skip, matches, keep_timestamps, mapping, target_topic)
    finally:
        producer.close()


def _copy(
    job: Job,
    part: JobPartition,
    context: Context,
    producer: TransactionalProducer,
    targets: list[int],
    skip: set[int],
    matches: Callable[[Record], bool] | None,
    keep_timestamps: bool,
    mapping: str,
    target_topic: str,
) -> None:
    end = part.end_offset
    position, done, skipped, bytes_done = part.position, part.done, part.skipped, part.bytes_done
    if position >= end:
        return
    rate = job.params.get("rate_limit")
    per_partition = float(rate) / max(1, job.partitions.count()) if rate else None
    batch_size = READ_BATCH if per_partition is None else max(1, min(READ_BATCH, int(per_partition / 4) or 1))
    commit_events = settings.JOBS_COMMIT_EVENTS
    fixed = [
        (H_CLUSTER, job.cluster.encode()),
        (H_TOPIC, job.topic.encode()),
        (H_PARTITION, str(part.partition).encode()),
    ]
    job_header = (H_JOB, str(job.pk).encode())
    same = mapping != "key"
    started, produced_since_start = time.monotonic(), 0
    in_transaction, last_commit = 0, time.monotonic()
    open_ = False

    def commit() -> None:
        """Commit the open transaction, then save where it ends: a restart resumes exactly there."""
        producer.commit()
        context.checkpoint(
            position=position, done=done, skipped=skipped, bytes_done=bytes_done, checkpoint=_ends(job, targets)
        )

    with reader(job.cluster, profile="job") as r:
        r.assign(job.topic, {part.partition: position})
        while position < end:
            # Never more than the range holds: a last, partial batch would otherwise wait out SCAN_WAIT.
            batch = r.read(min(batch_size, end - position), SCAN_WAIT)
            if not batch and r.read_to(part.partition, end):
                # The rest of the range holds no records (transaction markers, compacted away).
                position = end
            if not open_ and batch:
                producer.begin()
                open_ = True
            for record in batch:
                offset = record.offset
                if offset >= end:
                    position = end
                    break
                position = offset + 1
                if offset in skip:
                    done += 1
                    bytes_done += record.size
                    continue
                if matches is not None and not matches(record):
                    skipped += 1
                    continue
                headers = [*record.headers, *fixed, (H_OFFSET, str(offset).encode()), job_header]
                producer.produce(
                    target_topic,
                    value=record.value,
                    key=record.key,
                    headers=headers,
                    partition=part.partition if same else None,
                    timestamp_ms=record.timestamp if keep_timestamps else None,
                )
                done += 1
                in_transaction += 1
                bytes_done += record.size
            if r.deleted:
                # The broker deleted the rest of what this job was about to read: recorded, skipped.
                _, position = skip_deleted(job, part, r, position, end, context)
            producer.poll()
            produced_since_start += len(batch)
            now = time.monotonic()
            if open_ and (position >= end or in_transaction >= commit_events or now - last_commit >= COMMIT_SECONDS):
                commit()
                open_ = False
                in_transaction, last_commit = 0, time.monotonic()
            elif not open_:
                context.checkpoint(position=position, done=done, skipped=skipped, bytes_done=bytes_done)
            if per_partition is not None:
                wait = started + produced_since_start / per_partition - time.monotonic()
                if wait > PAUSE_AFTER and position < end:
                    # A slow rate must not hold a worker while it waits: commit what is open, save the
                    # checkpoint and give the worker back; the partition resumes when its next batch is due.
                    if open_:
                        commit()
                    raise Paused(wait)
                _throttle(context, started, produced_since_start, per_partition)
    if open_:
        commit()


def _throttle(context: Context, started: float, count: int, rate: float) -> None:
    """Sleep until `count` events at `rate` per second are due, keeping the lease alive."""
    due = started + count / rate
    while (wait := due - time.monotonic()) > 0:
        time.sleep(min(wait, 1.0))
        if wait > 1.0:
            context.keep_alive()


def replay_report(job: Job, parts: list[JobPartition]) -> dict[str, object]:
    """Source and target counts side by side, for the job's result."""
    read = sum(p.done + p.skipped for p in parts)
    return {
        "source_offsets_in_range": sum(p.total for p in parts),
        "source_offsets_deleted_before_read": sum(p.lost for p in parts),
        "source_events_read": read,
        "source_events_filtered_out": sum(p.skipped for p in parts),
        "target_events_written": sum(p.done for p in parts),
        "target": f"{job.target_cluster}/{job.target_topic}",
    }
