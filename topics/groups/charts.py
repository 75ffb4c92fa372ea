"""Lag charts as inline SVG built here: no chart library, nothing for the CSP to allow."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from humanize import intword


def _points(values: Sequence[tuple[float, float]]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in values)


def sparkline(values: Sequence[int | None], width: int = 120, height: int = 24) -> str:
    """The `points` of an SVG polyline for the values (unknown ones skipped); empty with fewer than two."""
    known = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(known) < 2:
        return ""
    top = max(v for _, v in known) or 1
    step = (width - 2) / max(1, len(values) - 1)
    return _points([(1 + i * step, height - 1 - (v / top) * (height - 2)) for i, v in known])


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    bottom: int
    points: str
    y_max: str
    x_labels: list[tuple[float, str]] = field(default_factory=list)
    empty: bool = False
    # Events not yet committed, stacked on the lag: an area (polygon) and its top edge (path).
    uncommitted_area: str = ""
    uncommitted_top: str = ""

    @property
    def plot_right(self) -> int:
        return self.width - 8

    @property
    def plot_bottom(self) -> int:
        return self.height - self.bottom


def line_chart(
    samples: Sequence[tuple[datetime, int | None, int | None]],
    start: datetime,
    end: datetime,
    *,
    width: int = 1300,
    height: int = 240,
) -> Chart:
    """Lag over [start, end] as a line, the events not yet committed stacked on it as an area;
    a y maximum and four time labels.

    Stacked, the top edge (lag + not yet committed) stays level when a partition commits
    for the first time: its events move from the area into the lag instead of appearing.
    """
    left, bottom, top_pad = 56, 22, 8
    plot_w, plot_h = width - left - 8, height - bottom - top_pad
    span = max(1.0, (end - start).total_seconds())
    known = [(at, v) for at, v, _ in samples if v is not None]
    stacked = [(at, v or 0, u or 0) for at, v, u in samples if v is not None or u is not None]
    top = max([v for _, v in known] + [v + u for _, v, u in stacked], default=0)
    scale = top or 1

    def x(at: datetime) -> float:
        return left + (at - start).total_seconds() / span * plot_w

    def y(value: int) -> float:
        return top_pad + plot_h - value / scale * plot_h

    pts = [(x(at), y(v)) for at, v in known]
    area = top_edge = ""
    if any(u for _, _, u in stacked):
        upper = [(x(at), y(v + u)) for at, v, u in stacked]
        lower = [(x(at), y(v)) for at, v, _ in reversed(stacked)]
        area = _points(upper + lower)
        top_edge = "M" + " L".join(f"{px:.1f},{py:.1f}" for px, py in upper)
    fmt = "%H:%M" if span <= 24 * 3600 else "%b %d %H:%M"
    labels = [
        (left + i / 3 * plot_w, datetime.fromtimestamp(start.timestamp() + i / 3 * span, tz=start.tzinfo).strftime(fmt))
        for i in range(4)
    ]
    return Chart(
        width=width,
        height=height,
        left=left,
        bottom=bottom,
        points=_points(pts),
        y_max=intword(top) if top >= 1_000_000 else f"{top:,}",
        x_labels=labels,
        empty=not known and not stacked,
        uncommitted_area=area,
        uncommitted_top=top_edge,
    )
