"""Time series for uPlot (static/js/charts.js): the data a chart draws, and the same figures in words.

Every chart of the console is drawn one way: a `[data-chart]` element names a json_script
holding `{"x": [epoch seconds], "series": [...]}` (or `{"spark": [...]}` for a sparkline), and
charts.js draws it with the vendored uPlot — values on hover, drag to zoom, resized with its
card. The words (`summary`) are the text without JavaScript and what a screen reader reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from humanize import intword


def figure(value: float | None, unit: str = "") -> str:
    """A number for people: `—` unknown, `1,234`, `12.5`, `3.4 million`; then the unit."""
    if value is None:
        return "—"
    if abs(value) >= 1_000_000:
        text = intword(int(value))
    elif float(value).is_integer():
        text = f"{int(value):,}"
    else:
        text = f"{value:,.1f}" if abs(value) >= 10 else f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{text} {unit}".strip()


@dataclass(frozen=True)
class Line:
    label: str
    values: Sequence[float | None]
    # charts.css colours by role: lag, uncommitted, produced, consumed, rate
    role: str
    # The index of a line this one is stacked on: drawn as their sum, a band between, hover shows its own value.
    stacked_on: int | None = None


@dataclass(frozen=True)
class Chart:
    id: str
    data: dict[str, Any]
    summary: str
    empty: bool = False
    label: str = ""
    lines: list[Line] = field(default_factory=list)


def time_chart(
    chart_id: str, times: Sequence[datetime], lines: Sequence[Line], *, unit: str, label: str, summary: str
) -> Chart:
    series: list[dict[str, Any]] = []
    for line in lines:
        values: list[float | None] = list(line.values)
        if line.stacked_on is not None:
            base = lines[line.stacked_on].values
            values = [None if v is None else v + (base[i] or 0) for i, v in enumerate(values)]
        series.append({"label": line.label, "role": line.role, "values": values, "stacked_on": line.stacked_on})
    data = {"x": [int(at.timestamp()) for at in times], "series": series, "unit": unit, "label": label}
    empty = not any(v is not None for line in lines for v in line.values)
    return Chart(id=chart_id, data=data, summary=summary, empty=empty, label=label, lines=list(lines))


def _peak(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def _last(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return known[-1] if known else None


def lag_chart(samples: Sequence[tuple[datetime, int | None, int | None]], range_name: str) -> Chart:
    """Total lag, and the events not yet committed stacked on it (the top edge stays level when a
    partition commits for the first time: its events move from the band into the lag)."""
    times = [at for at, _, _ in samples]
    lag = [v for _, v, _ in samples]
    lines = [Line("total lag", lag, "lag")]
    # Where the lag is known and nothing is uncommitted, the band is 0 thick (the top edge stays level).
    uncommitted = [u if u is not None else (0 if v is not None else None) for _, v, u in samples]
    if any(uncommitted):
        lines.append(Line("not yet committed", uncommitted, "uncommitted", stacked_on=0))
    now, peak = figure(_last(lag), "events"), figure(_peak(lag), "events")
    summary = f"Total lag over the last {range_name}: now {now}, at most {peak}."
    if len(lines) > 1:
        summary += f" Events not yet committed now: {figure(_last(uncommitted), 'events')}."
    label = f"total lag over the last {range_name}"
    return time_chart("lag-chart-data", times, lines, unit="events", label=label, summary=summary)


def rate_chart(chart_id: str, points: Sequence[tuple[datetime, float | None]], range_name: str, what: str) -> Chart:
    """Events/s appended (a topic, a cluster) over a range."""
    values = [v for _, v in points]
    summary = (
        f"{what.capitalize()} over the last {range_name}: now {figure(_last(values), 'events/s')}, "
        f"at most {figure(_peak(values), 'events/s')}."
    )
    return time_chart(
        chart_id,
        [at for at, _ in points],
        [Line(what, values, "rate")],
        unit="events/s",
        label=f"{what} over the last {range_name}",
        summary=summary,
    )


def flow_chart(points: Sequence[tuple[datetime, float | None, float | None]], range_name: str) -> Chart:
    """A group's consumption next to the production on its topics."""
    produced = [p for _, p, _ in points]
    consumed = [c for _, _, c in points]
    summary = (
        f"Over the last {range_name}: produced on its topics now {figure(_last(produced), 'events/s')}, "
        f"consumed now {figure(_last(consumed), 'events/s')}."
    )
    return time_chart(
        "flow-chart-data",
        [at for at, _, _ in points],
        [Line("produced", produced, "produced"), Line("consumed", consumed, "consumed")],
        unit="events/s",
        label=f"events produced and consumed per second over the last {range_name}",
        summary=summary,
    )


def sparkline(chart_id: str, values: Sequence[float | None], unit: str, what: str) -> Chart | None:
    """A small line without axes; None with fewer than two known values (nothing to draw)."""
    known = [v for v in values if v is not None]
    if len(known) < 2:
        return None
    summary = f"{what}: {figure(known[0], unit)} to {figure(known[-1], unit)}, at most {figure(max(known), unit)}"
    data = {"spark": list(values), "unit": unit, "label": what, "role": "lag" if unit == "events" else "rate"}
    return Chart(id=chart_id, data=data, summary=summary, label=what)
