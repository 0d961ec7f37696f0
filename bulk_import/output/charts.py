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
    in HTML."""
    top = nice_ceiling(max((max(line.values, default=0.0) for line in lines), default=0.0))
    start, end = x[0], x[-1]
    span = (end - start) or 1.0
    shapes = [
        f'<line class="grid" x1="0" x2="{_W}" y1="{y}" y2="{y}" '
        'vector-effect="non-scaling-stroke"/>'
        for y in (0, _H / 2, _H)
    ]
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
    legend = "".join(
        f'<span class="key"><span class="swatch {escape(line.css)}"></span>'
        f"{escape(line.label)}</span>"
        for line in lines
    )
    described = "; ".join(
        f"{line.label}: peak {number(max(line.values, default=0.0))}" for line in lines
    )
    ticks = "".join(f"<span>{clock(start + span * k / 2, span=span)}</span>" for k in range(3))
    return (
        '<figure class="chart">'
        f"<figcaption>{escape(title)}</figcaption>"
        f'<div class="legend">{legend}</div>'
        '<div class="plot">'
        f'<div class="yaxis"><span style="top:0%">{number(top)}</span>'
        f'<span style="top:50%">{number(top / 2)}</span><span style="top:100%">0</span></div>'
        f'<svg viewBox="0 0 {_W} {_H}" preserveAspectRatio="none" role="img" '
        f'aria-label="{escape(title)}: {escape(described)}">'
        f"<title>{escape(title)}</title>{''.join(shapes)}</svg>"
        f'<div class="xaxis">{ticks}</div>'
        "</div>" + (f'<p class="note">{escape(note)}</p>' if note else "") + "</figure>"
    )


def _points(
    x: Sequence[float], values: Sequence[float], *, start: float, span: float, top: float
) -> str:
    """Return the SVG points of a series; a single point is drawn as a level line."""
    pairs = [
        (round((t - start) / span * _W, 1), round(_H - min(v, top) / top * _H, 1))
        for t, v in zip(x, values, strict=True)
    ]
    if len(pairs) == 1:
        pairs.append((float(_W), pairs[0][1]))
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
