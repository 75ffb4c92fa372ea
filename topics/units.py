"""Human units for retention and sizes: `7d`, `12h`, `500MB`, `unlimited` <-> Kafka's strings."""

from __future__ import annotations

import re
from decimal import Decimal, DecimalException, localcontext

from backbone_admin.kafka import InvalidRequest

UNLIMITED = {"unlimited", "forever", "infinite", "none", "-1"}
# Where -1 is not allowed, Kafka says "no limit" with Long.MAX (flush.ms, max.compaction.lag.ms, …).
NO_LIMIT_WORDS = {"unlimited", "forever", "infinite", "none", "never"}

_DURATION_UNITS = {
    "ms": 1,
    "s": 1000,
    "sec": 1000,
    "m": 60_000,
    "min": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 7 * 86_400_000,
}
_SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
# Used with fullmatch on stripped text; the parts are disjoint character classes, so a
# failing match is linear (the old `\s*…\s*$` form backtracked quadratically on spaces).
_NUMBER = re.compile(r"(-?[0-9]+(?:\.[0-9]+)?)[ \t]*([a-zA-Z]*)")
MAX_LONG = 2**63 - 1
# The longest number, duration or size accepted, checked before any parsing: 2^63-1 has 19
# digits, so 64 characters leave room for decimals, spaces and a unit.
MAX_NUMBER_LENGTH = 64


def check_length(text: str, limit: int = MAX_NUMBER_LENGTH) -> None:
    """Refuse a value longer than `limit` characters without echoing it back."""
    if len(text) > limit:
        raise InvalidRequest(f"value longer than {limit} characters ({len(text):,})")


def _parse(text: str, units: dict[str, int], what: str, bare_unit: str) -> int:
    raw = str(text).strip()
    check_length(raw)
    if raw.lower() in UNLIMITED:
        return -1
    match = _NUMBER.fullmatch(raw)
    if not match:
        examples = "7d, 12h, 30m, 604800000" if bare_unit == "ms" else "500MB, 2GiB, 1073741824"
        raise InvalidRequest(f"`{raw}` is not a {what}; use e.g. {examples} or unlimited")
    number, unit = match.group(1), match.group(2).lower() or bare_unit
    if unit not in units:
        raise InvalidRequest(f"`{raw}`: unknown unit `{match.group(2)}`; use one of {', '.join(units)}")
    # Decimal, not float: Kafka's defaults include 2^63-1, which a float cannot hold exactly.
    # 100 digits of precision keep every product of a 64-character number exact.
    try:
        with localcontext(prec=100):
            value = Decimal(number) * units[unit]
            whole = value == value.to_integral_value()
    except DecimalException:
        raise InvalidRequest(f"`{raw}` is not a {what} this console can read") from None
    if not whole:
        raise InvalidRequest(f"`{raw}` is not a whole number of {bare_unit}")
    result = int(value)
    if result > MAX_LONG:
        raise InvalidRequest(f"`{raw}` is too large")
    return result


def parse_duration_ms(text: str) -> int:
    """`7d` → 604800000; `unlimited` → -1; a bare number is milliseconds."""
    return _parse(text, _DURATION_UNITS, "duration", "ms")


def parse_size_bytes(text: str) -> int:
    """`500MB` → 500000000; `2GiB` → 2147483648; `unlimited` → -1; a bare number is bytes."""
    return _parse(text, _SIZE_UNITS, "size", "b")


def format_duration_ms(value: int | str | None) -> str:
    """604800000 → `7 d`; -1 → `forever`; keeps exact values exact (90000000 → `25 h`)."""
    if value is None or value == "":
        return "—"
    ms = int(value)
    if ms < 0:
        return "forever"
    if ms >= MAX_LONG:  # Kafka's "no limit" for most durations (flush.ms, max.compaction.lag.ms, …)
        return "unlimited"
    for unit, size in (("w", 7 * 86_400_000), ("d", 86_400_000), ("h", 3_600_000), ("min", 60_000), ("s", 1000)):
        if ms >= size and ms % size == 0:
            if unit == "w":
                return f"{ms // 86_400_000} d"
            return f"{ms // size} {unit}"
    return f"{ms} ms"


def format_size_bytes(value: int | str | None) -> str:
    """500000000 → `500 MB`; 1073741824 → `1 GiB`; -1 → `unlimited`."""
    if value is None or value == "":
        return "—"
    size = int(value)
    if size < 0 or size >= MAX_LONG:
        return "unlimited"
    for unit, step in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= step and size % step == 0:
            return f"{size // step} {unit}"
    for unit, step in (("TB", 1000**4), ("GB", 1000**3), ("MB", 1000**2), ("kB", 1000)):
        if size >= step:
            shown = size / step
            return f"{shown:.0f} {unit}" if shown == int(shown) else f"{shown:.1f} {unit}"
    return f"{size} B"
