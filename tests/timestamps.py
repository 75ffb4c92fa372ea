"""The CreateTime that fixtures written to the broker are stamped with.

Kafka deletes events older than a topic's retention (7 days by default) at its next retention
check, whatever their offsets: a fixture stamped in 2023 is gone during the test. RECENT is the
session's start minus one hour, on a whole second (`.123` in a rendered time is then the
fixture's 123 ms): old enough that every fixture event is in the past, recent enough for any
retention a test might meet.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

RECENT = (int(time.time()) - 3600) * 1000


def utc_second(ms: int) -> str:
    """The whole second of `ms` in UTC, `2023-11-14 22:13:20`, to compare with a rendered time."""
    return f"{datetime.fromtimestamp(ms // 1000, UTC):%Y-%m-%d %H:%M:%S}"
