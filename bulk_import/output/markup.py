"""Build the pieces the run page is made of: escaped tables and cards, and summary values.

The summary is a loose mapping (``--summary-json``'s object, maybe from a newer or older
version): its values are read here without trusting their types, and formatted as a person
reads them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from html import escape
from typing import Final

_ISO: Final = re.compile(r"^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)Z$")


def text(value: object) -> str:
    """Return a summary value as text ("" for a missing one)."""
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def int_of(value: object) -> int:
    """Return a summary value as a whole number (0 when it is none)."""
    if isinstance(value, int | float):
        return int(value)
    return int(value) if isinstance(value, str) and value.strip().isdigit() else 0


def float_of(value: object) -> float | None:
    """Return a summary value as a number of seconds or milliseconds, or None when it is none."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def mapping(value: object) -> Mapping[str, object]:
    """Return a summary value as a mapping with text keys (empty when it is none)."""
    if isinstance(value, Mapping):
        return {str(key): item for key, item in value.items()}
    return {}


def counts_of(value: object) -> dict[str, int]:
    """Return a summary mapping of counts (``counts``, ``http``) as text -> whole number."""
    return {key: int_of(item) for key, item in mapping(value).items()}


def time_of(text: str) -> str:
    """Show an ISO-8601 UTC time (``2026-11-27T05:59:15Z``) as ``2026-11-27 05:59:15 UTC``."""
    found = _ISO.match(text)
    return f"{found[1]} {found[2]} UTC" if found else text


def duration(seconds: float | None) -> str:
    """Show a duration as a person says it: ``42.2 s``, ``2 min 05 s``, ``1 h 06 min``."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def inline(text: str) -> str:
    """Escape ``text`` and show its `backquoted` parts as code."""
    pieces = escape(text).split("`")
    return "".join(f"<code>{piece}</code>" if i % 2 else piece for i, piece in enumerate(pieces))


def card(heading: str, body: str, *, css: str = "card", anchor: str = "") -> str:
    """Return a titled section around ``body`` (markup already escaped)."""
    where = f' id="{anchor}"' if anchor else ""
    return f'<section class="{css}"{where}><h2>{escape(heading)}</h2>{body}</section>'


def table(
    head: Sequence[str] | None,
    rows: Sequence[Sequence[str]],
    *,
    numeric: frozenset[int] = frozenset(),
    nowrap: frozenset[int] = frozenset(),
    css: str = "",
) -> str:
    """Return a table of already-escaped cells: ``numeric`` columns align right, ``nowrap``
    ones never break (a number, a status), the others wrap anywhere (a long error)."""
    names = list(head or ())

    def cell(tag: str, i: int, text: str) -> str:
        kind = "n" if i in numeric else "nw" if i in nowrap else "wrap" if tag == "td" else ""
        attributes = f' class="{kind}"' if kind else ""
        if tag == "td" and i < len(names) and names[i]:
            # A narrow screen stacks each row's cells, each named by its column (CSS ::before).
            attributes += f' data-label="{escape(names[i])}"'
        return f"<{tag}{attributes}>{text}</{tag}>"

    header = "".join(cell("th", i, escape(name)) for i, name in enumerate(names))
    body = "".join(
        "<tr>" + "".join(cell("td", i, text) for i, text in enumerate(row)) + "</tr>"
        for row in rows
    )
    # More than three columns do not fit a phone's width: those tables stack there.
    classes = " ".join(filter(None, (css, "stack" if len(names) > 3 else "")))
    head_row = f'<tr class="head">{header}</tr>' if head else ""
    attribute = f' class="{classes}"' if classes else ""
    return f'<div class="scroll"><table{attribute}>{head_row}{body}</table></div>'


def shown(value: object) -> str:
    """Show an option's value: text as it is, None as "not set", a flag as yes/no, else JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "yes" if value else "no"
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except ValueError:  # a circular structure: show what str() makes of it
        return str(value)
