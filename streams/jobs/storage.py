"""The disk exports are written to: quotas in all and per user, and a free-space floor.

Checked before an export starts (409, nothing created) and while it writes (at every checkpoint,
about once a second per partition: over a limit the partition fails with the reason, and the
failed export's parts are removed, runner.job_finish → export_discard), and before the parts are
joined into the final file, which needs their size once more for a moment. What counts is what
is on the disk: finished files (kept EXPORT_DAYS), the parts of exports being written, and
temporary files of joins; a user's share is their finished files and their exports' parts.
"""

from __future__ import annotations

import os
import shutil
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Sum
from humanize import naturalsize

from backbone_admin.kafka.errors import Conflict
from streams.jobs.models import Job

PARTS_PREFIX = ".job-"


@dataclass
class Usage:
    total: int  # bytes of every file under EXPORT_ROOT
    by_user: dict[int | None, int]  # bytes per job owner (finished files and parts being written)
    free: int  # bytes free on the disk of EXPORT_ROOT


def _size(path: Path) -> int:
    total = 0
    for entry in os.scandir(path):
        try:
            if entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_size
            elif entry.is_dir(follow_symlinks=False):
                total += _size(Path(entry.path))
        except OSError:  # removed meanwhile (a part joined, an export discarded)
            continue
    return total


def usage() -> Usage:
    root = Path(settings.EXPORT_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    parts: dict[int, int] = {}
    for entry in os.scandir(root):
        if entry.name.startswith(PARTS_PREFIX) and entry.name[len(PARTS_PREFIX) :].isdigit():
            try:
                parts[int(entry.name[len(PARTS_PREFIX) :])] = _size(Path(entry.path))
            except OSError:
                continue
    by_user: dict[int | None, int] = defaultdict(int)
    kept = Job.objects.filter(kind=Job.Kind.EXPORT).exclude(file_name="").values("created_by")
    for row in kept.annotate(size=Sum("file_size")):
        by_user[row["created_by"]] += int(row["size"] or 0)
    for pk, owner in Job.objects.filter(pk__in=parts).values_list("pk", "created_by"):
        by_user[owner] += parts[pk]
    return Usage(total=_size(root), by_user=dict(by_user), free=shutil.disk_usage(root).free)


def _human(size: int) -> str:
    return str(naturalsize(size, binary=True))


def check_free(*, doing: str, extra: int = 0, now: Usage | None = None) -> None:
    """Conflict (409) when writing `extra` bytes more would leave less than EXPORT_MIN_FREE_BYTES free."""
    now = now or usage()
    floor = settings.EXPORT_MIN_FREE_BYTES
    if now.free - extra < floor:
        raise Conflict(
            f"{doing}: only {_human(now.free)} is free on the exports disk, and the console keeps at least "
            f"{_human(floor)} free (EXPORT_MIN_FREE_BYTES)"
        )


def check_room(*, user: Any, doing: str, extra: int = 0) -> None:
    """Conflict (409) naming the limit when exports may not take `extra` bytes more for this user."""
    now = usage()
    check_free(doing=doing, extra=extra, now=now)
    limit = settings.EXPORT_MAX_BYTES
    if now.total + extra > limit:
        raise Conflict(
            f"{doing}: exports take {_human(now.total)} of the {_human(limit)} the console allows in all "
            f"(EXPORT_MAX_BYTES); older exports are deleted after {settings.EXPORT_DAYS} days"
        )
    mine = now.by_user.get(getattr(user, "pk", None), 0)
    per_user = settings.EXPORT_MAX_BYTES_PER_USER
    if mine + extra > per_user:
        who = user.get_username() if user is not None else "this job's owner"
        raise Conflict(
            f"{doing}: exports of {who} take {_human(mine)} of the {_human(per_user)} allowed per user "
            f"(EXPORT_MAX_BYTES_PER_USER); older exports are deleted after {settings.EXPORT_DAYS} days"
        )
