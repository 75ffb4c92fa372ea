"""A viewer's choices, as the page and the websocket's query string carry them: filter and rate."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings

from backbone_admin.kafka.errors import InvalidRequest

if TYPE_CHECKING:
    from streams.events.filters import Filter


def parse_rate(text: str) -> int:
    """Events per second for one viewer: 1 … TAIL_MAX_RATE, TAIL_DEFAULT_RATE when empty."""
    maximum = int(settings.TAIL_MAX_RATE)
    text = text.strip()
    if not text:
        return min(int(settings.TAIL_DEFAULT_RATE), maximum)
    try:
        rate = int(text[:12])
    except ValueError:
        rate = 0
    if not 1 <= rate <= maximum:
        raise InvalidRequest(
            f"rate must be a whole number of events per second from 1 to {maximum}",
            fields={"rate": f"1 … {maximum} events/s"},
        )
    return rate


def tail_options(filter_text: str, rate_text: str) -> tuple[Filter | None, int]:
    """(filter or None for every event, rate); InvalidRequest naming the field otherwise."""
    from streams.events.filters import parse_filter

    rate = parse_rate(rate_text)
    flt = parse_filter(filter_text, field="filter") if filter_text.strip() else None
    return flt, rate
