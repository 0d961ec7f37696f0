"""Draw the run page's pictures as inline SVG and CSS bars: no script, no external asset.

The plot area of a line chart is an SVG stretched to its box (``preserveAspectRatio="none"``,
strokes that do not scale), while its axis labels and legend are HTML beside it: so the text
stays readable at 390 px and at 1280 px alike. Colours come from CSS classes of the page's
style sheet. Every text put in is HTML-escaped here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Final

_W: Final = 1000  # the plot's own coordinates; the box it is drawn in decides its real size
_H: Final = 200
#: A series of this many points or fewer (a run of a few seconds) is drawn as bars, one per
#: second: a line between two points would read as a slope the run never had (296 rows/s
#: "falling" to the few rows of a last, partial second).
BAR_POINTS: Final = 12


@dataclass(frozen=True, slots=True)
class Line:
    """Name one series of a line chart: its label, values, CSS class and how it is drawn."""

    label: str
    values: Sequence[float]
    css: str
    area: bool = False
    dashed: bool = False


@dataclass(frozen=True, slots=True)
class Segment:
    """Name one part of a stacked bar: its label, size and CSS class."""

    label: str
    value: float
    css: str


def nice_ceiling(value: float) -> float:
    """Return the smallest 1, 2 or 5 times a power of ten that is at least ``value`` (1 for 0)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power * (1 + 1e-9):
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop's 10 always fits


def number(value: float) -> str:
    """Format a count or rate for an axis or a label: thousands separated, one decimal below 10."""
    if value != int(value) and abs(value) < 10:
        return f"{value:,.1f}"
    return f"{round(value):,}"


def clock(seconds: float, *, span: float) -> str:
    """Format seconds since the start for an axis ``span`` seconds long: ``12.5 s`` under a
    minute (so a short run's ticks differ), else ``m:ss`` (or ``h:mm:ss`` past an hour)."""
    if span < 60:
        return f"{round(seconds, 1):g} s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def line_chart(*, title: str, x: Sequence[float], lines: Sequence[Line], note: str = "") -> str:
    """Return a ``<figure>`` with one line per series over ``x`` (not empty), axes and legend
    in HTML; a short series (:data:`BAR_POINTS` points at most) is drawn as bars instead."""
    top = nice_ceiling(max((max(line.values, default=0.0) for line in lines), default=0.0))
    grid = [
        f'<line class="grid" x1="0" x2="{_W}" y1="{y}" y2="{y}" '
        'vector-effect="non-scaling-stroke"/>'
        for y in (0, _H / 2, _H)
    ]
    if len(x) <= BAR_POINTS:
        shapes, ticks, spread = _bars(x, lines, top=top)
    else:
        shapes, ticks, spread = _lines(x, lines, top=top)
    legend = "".join(
        f'<span class="key"><span class="swatch {escape(line.css)}"></span>'
        f"{escape(line.label)}</span>"
        for line in lines
    )
    described = "; ".join(
        f"{line.label}: peak {number(max(line.values, default=0.0))}" for line in lines
    )
    return (
        '<figure class="chart">'
        f"<figcaption>{escape(title)}</figcaption>"
        f'<div class="legend">{legend}</div>'
        '<div class="plot">'
        f'<div class="yaxis"><span style="top:0%">{number(top)}</span>'
        f'<span style="top:50%">{number(top / 2)}</span><span style="top:100%">0</span></div>'
        f'<svg viewBox="0 0 {_W} {_H}" preserveAspectRatio="none" role="img" '
        f'aria-label="{escape(title)}: {escape(described)}">'
        f"<title>{escape(title)}</title>{''.join(grid + shapes)}</svg>"
        f'<div class="xaxis"{spread}>{ticks}</div>'
        "</div>" + (f'<p class="note">{escape(note)}</p>' if note else "") + "</figure>"
    )


def _lines(x: Sequence[float], lines: Sequence[Line], *, top: float) -> tuple[list[str], str, str]:
    """Return the polylines (and areas) of the series, and three ticks from start to end."""
    start, end = x[0], x[-1]
    span = (end - start) or 1.0
    shapes = []
    for line in lines:
        points = _points(x, line.values, start=start, span=span, top=top)
        if line.area:
            shapes.append(
                f'<polygon class="area {escape(line.css)}" points="0,{_H} {points} {_W},{_H}"/>'
            )
        dash = ' stroke-dasharray="6 4"' if line.dashed else ""
        shapes.append(
            f'<polyline class="line {escape(line.css)}" points="{points}"{dash} '
            'vector-effect="non-scaling-stroke"/>'
        )
    ticks = "".join(f"<span>{clock(start + span * k / 2, span=span)}</span>" for k in range(3))
    return shapes, ticks, ""


def _bars(x: Sequence[float], lines: Sequence[Line], *, top: float) -> tuple[list[str], str, str]:
    """Return one bar per point of each series side by side, a dashed series as steps, and a
    tick under each point: what a run of a few seconds did, second by second."""
    step = (x[1] - x[0]) if len(x) > 1 else 1.0
    slot = _W / len(x)
    solid = [line for line in lines if not line.dashed]
    width = slot * 0.8 / max(len(solid), 1)
    shapes = []
    for k, line in enumerate(solid):
        for i, value in enumerate(line.values):
            height = round(min(value, top) / top * _H, 1)
            if height <= 0:
                continue
            left = round(i * slot + slot * 0.1 + k * width, 1)
            shapes.append(
                f'<rect class="col {escape(line.css)}" x="{left:g}" y="{_H - height:g}" '
                f'width="{round(width, 1):g}" height="{height:g}" '
                'vector-effect="non-scaling-stroke"/>'
            )
    for line in lines:
        if not line.dashed:
            continue
        points = " ".join(
            f"{round(i * slot, 1):g},{y:g} {round((i + 1) * slot, 1):g},{y:g}"
            for i, y in enumerate(_level(v, top) for v in line.values)
        )
        shapes.append(
            f'<polyline class="line {escape(line.css)}" points="{points}" '
            'stroke-dasharray="6 4" vector-effect="non-scaling-stroke"/>'
        )
    span = step * len(x)
    ticks = "".join(f"<span>{clock(t, span=span)}</span>" for t in x)
    return shapes, ticks, ' style="justify-content:space-around"'


def _level(value: float, top: float) -> float:
    return round(_H - min(value, top) / top * _H, 1)


def _points(
    x: Sequence[float], values: Sequence[float], *, start: float, span: float, top: float
) -> str:
    """Return the SVG points of a series (more than :data:`BAR_POINTS` of them)."""
    pairs = [
        (round((t - start) / span * _W, 1), round(_H - min(v, top) / top * _H, 1))
        for t, v in zip(x, values, strict=True)
    ]
    return " ".join(f"{a:g},{b:g}" for a, b in pairs)


def stacked_bar(segments: Sequence[Segment], *, label: str) -> str:
    """Return one horizontal bar split into ``segments`` by size (a tiny one stays visible)."""
    parts = "".join(
        f'<span class="seg {escape(segment.css)}" style="flex-grow:{segment.value:g}" '
        f'title="{escape(segment.label)}: {number(segment.value)}"></span>'
        for segment in segments
        if segment.value > 0
    )
    return f'<div class="bar" role="img" aria-label="{escape(label)}">{parts}</div>'


def level_bars(rows: Sequence[tuple[str, float, str]], *, css: str) -> str:
    """Return labelled horizontal bars, each as long as its value against the largest."""
    top = max((value for _, value, _ in rows), default=0.0) or 1.0
    body = "".join(
        f'<div class="level"><span class="name">{escape(name)}</span>'
        f'<span class="track"><span class="fill {escape(css)}" '
        f'style="width:{max(value / top * 100, 0.5):.1f}%"></span></span>'
        f'<span class="value">{escape(shown)}</span></div>'
        for name, value, shown in rows
    )
    return f'<div class="levels">{body}</div>'
