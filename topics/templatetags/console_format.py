"""Filters that put machine values the way a person reads them: times with date and zone, durations, rates.

Times follow the message browser: the server writes UTC with its zone ("2026-12-07 17:45:53 UTC")
inside a <time datetime="…"> element that a page's script may add the reader's local time to.
"""

from __future__ import annotations

import datetime
import json
import re
from typing import Any

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe

from topics.configs import SPECS, human
from topics.units import format_duration_ms

register = template.Library()


def as_datetime(value: Any) -> datetime.datetime | None:
    """A datetime from a datetime or an ISO-8601 string (as in job payloads); None for anything else."""
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def utc_text(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@register.filter
def utc(value: Any) -> str:
    """`2026-12-07 17:45:53 UTC` in a <time> element; `—` when there is no time."""
    moment = as_datetime(value)
    if moment is None:
        return "—"
    iso = moment.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
    return format_html('<time datetime="{}">{}</time>', iso, utc_text(moment))


def duration_text(seconds: float | int | None) -> str:
    """134 → `2 min 14 s`; 0.4 → `0.4 s`; 7260 → `2 h 1 min`; None → `—`."""
    if seconds is None:
        return "—"
    if seconds < 10:
        return f"{round(seconds, 1):g} s"
    whole = round(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "min"), (secs, "s")]
    shown = [f"{n} {unit}" for n, unit in parts if n]
    return " ".join(shown[:2])


@register.filter
def duration(seconds: Any) -> str:
    return duration_text(float(seconds) if isinstance(seconds, int | float) else None)


def rate_text(per_second: float | int | None, unit: str = "events/s") -> str:
    """1234.5 → `1,235 events/s`; 2.25 → `2.3 events/s`."""
    if per_second is None:
        return "—"
    shown = f"{per_second:,.0f}" if per_second >= 100 else f"{per_second:,.1f}".removesuffix(".0")
    return f"{shown} {unit}"


@register.filter
def rate(per_second: Any) -> str:
    return rate_text(float(per_second) if isinstance(per_second, int | float) else None)


@register.filter
def size(value: Any) -> str:
    """A byte count in units: 1536 → `1.5 KiB`; None → `—`."""
    if not isinstance(value, int) or value < 0:
        return "—"
    step = 1024.0
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if amount < step or unit == "TiB":
            return f"{value} B" if unit == "B" else f"{amount:.1f} {unit}".replace(".0 ", " ")
        amount /= step
    return f"{value} B"


# Audit rows --------------------------------------------------------------------------------
# An audit entry keeps what was changed as Kafka and the database hold it (retention.ms 259200000);
# the page shows the same JSON with units ("3 d") so a person can read a change at a glance.


def _with_units(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _with_units(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_units(v, key) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    spec = SPECS.get(key)
    try:
        if spec is not None and spec.unit in ("ms", "bytes"):
            return human(key, str(value))
        if key.endswith("_ms") and isinstance(value, int | str) and str(value).lstrip("-").isdigit():
            return format_duration_ms(value)
        if key in ("size", "file_size", "bytes", "bytes_done") and isinstance(value, int):
            return size(value)
    except (TypeError, ValueError):
        pass  # not a number after all: shown as recorded
    return value


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)


@register.filter
def audit_change(entry: Any) -> str:
    """An audit entry's before → after as JSON with units; for two objects only the keys that changed."""
    before, after = _with_units(entry.before), _with_units(entry.after)
    if before is None and after is None:
        return ""
    if isinstance(before, dict) and isinstance(after, dict):
        lines = []
        for key in sorted(set(before) | set(after), key=str):
            old, new = before.get(key, _MISSING), after.get(key, _MISSING)
            if old == new:
                continue
            lines.append(
                format_html(
                    '<div class="audit-line"><code>{}</code>: {} → {}</div>',
                    key,
                    "(not set)" if old is _MISSING else _json(old),
                    "(not set)" if new is _MISSING else _json(new),
                )
            )
        return mark_safe("".join(lines)) if lines else format_html('<span class="muted">no change</span>')  # noqa: S308 - parts escaped by format_html
    shown = []
    if before is not None:
        shown.append(format_html('<code class="audit-json">{}</code>', _json(before)))
    if after is not None:
        shown.append(format_html('<code class="audit-json">{}</code>', _json(after)))
    return mark_safe(" → ".join(shown) if before is not None else "→ " + shown[0])  # noqa: S308 - parts escaped by format_html


_MISSING = object()


# Messages --------------------------------------------------------------------------------
# Errors name things between backticks ("topic `orders` does not exist"), which reads well in a
# log and in the API; a page shows the name as code instead of showing the backticks.
_QUOTED = re.compile(r"`([^`\n]{1,300})`")


def plain_html(text: str) -> str:
    return _QUOTED.sub(r"<code>\1</code>", str(escape(text)))


@register.filter
def plain(message: Any) -> str:
    """A message with its `quoted names` as <code>, escaped; '' for None."""
    if message is None:
        return ""
    return mark_safe(plain_html(str(message)))  # noqa: S308 - escaped before the <code> tags go in
