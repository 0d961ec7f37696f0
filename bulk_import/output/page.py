"""Write the run page (``--html PATH``): one self-contained HTML file about a finished run.

It shows what SPEC's "The run page" lists: the run's facts and options, the exit code and its
meaning, the rows per status as a bar, for commands that call the API the rows, 429s, retries
and requests in flight over time and the latency, the commonest errors with example rows, and
what to run next. CSS and SVG are inline; there is no script, font or image to fetch. Every
text that comes from a user, a file or a server is HTML-escaped. Written for every exit, 2
included, when there may be no report at all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Final

from bulk_import.errors import InputError
from bulk_import.metrics import RunMetrics
from bulk_import.models import Status
from bulk_import.output.aggregate import ReportFacts, Series, report_facts, series
from bulk_import.output.atomic import private_replacement
from bulk_import.output.charts import Line, Segment, level_bars, line_chart, number, stacked_bar
from bulk_import.output.style import CSS, STATUS_CSS

#: What each exit code means, for a summary that does not say (SPEC "Output and exit codes").
EXIT_MEANINGS: Final = {
    0: "every row is ok",
    1: "finished; some rows need attention",
    2: "bad usage or unusable input: nothing was sent",
    3: "the run was stopped early",
    130: "interrupted: nothing new was sent after the signal",
}
STATUS_MEANINGS: Final = {
    "imported": "201: imported",
    "already_imported": "409: already in the account (agent not checked: reconcile checks it)",
    "webhook_failed": "imported, agent not assigned: retry-patch assigns it",
    "patched": "retry-patch assigned the agent",
    "patch_failed": "agent still not assigned",
    "invalid": "failed local validation; not sent",
    "duplicate": "same number earlier in the file; not sent",
    "failed": "refused by the API, or retries exhausted",
    "not_attempted": "the run stopped before this row was sent",
    "valid": "would be sent",
    "in_sync": "in the account with the expected agent",
    "missing": "in the input, not in the account",
    "agent_mismatch": "in the account with another agent, or none",
    "extra": "in the account, not in the input (reported, never deleted)",
}
# An option with one of these names would hold a secret: its value is never shown.
_SECRET_NAME = re.compile(r"(^|_)(api_key|key|secret|token|password|auth_token)$", re.IGNORECASE)
_ISO = re.compile(r"^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)Z$")


def write_page(
    path: Path,
    *,
    summary: Mapping[str, object],
    report: Path | None,
    metrics: RunMetrics | None,
) -> None:
    """Write the run page to ``path`` (mode 0600, replaced atomically).

    ``summary`` is the ``--summary-json`` object; ``report`` the finished report (None, or a
    missing file, when the run stopped before writing one); ``metrics`` what the run recorded,
    None for a command that calls no API. Raise :class:`UsageError` if ``path`` cannot be
    written.
    """
    page = render_page(summary=summary, report=report, metrics=metrics)
    with private_replacement(path, what="run page") as tmp:
        tmp.write_text(page, encoding="utf-8")


def render_page(
    *, summary: Mapping[str, object], report: Path | None, metrics: RunMetrics | None
) -> str:
    """Return the run page's HTML."""
    facts, report_note = _facts(report)
    code = _int(summary.get("exit_code"))
    meaning = _text(summary.get("exit_meaning")) or EXIT_MEANINGS.get(code, "")
    command = _text(summary.get("command")) or "command"
    title = f"bulk-import {command} {_text(summary.get('input'))}".strip()
    sections = [
        _alert(summary),
        _next_steps(summary, code),
        _counts(summary, facts, report_note),
        _errors(facts),
        _activity(metrics),
        _answers(summary, metrics),
        _run_facts(summary, report),
    ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · exit {code}</title>"
        f"<style>{CSS}</style></head><body>"
        f'<header class="top exit-{code}">'
        f'<span class="verdict">exit {code}{" · " + escape(meaning) if meaning else ""}</span>'
        f"<h1>bulk-import {escape(command)} <code>{escape(_text(summary.get('input')))}</code>"
        f'</h1><p class="when">{_when(summary)}</p></header>'
        f"<main>{''.join(sections)}</main>"
        f"<footer>{escape(_product(summary))} · this page is one file and needs no network to "
        "view</footer></body></html>\n"
    )


# -- reading what the page is given ------------------------------------------------------------


def _facts(report: Path | None) -> tuple[ReportFacts | None, str]:
    if report is None:
        return None, "no report was written"
    if not report.exists():
        return None, f"no report at {report}"
    try:
        return report_facts(report), f"counted from the report {report}"
    except InputError as exc:
        return None, str(exc)


def _text(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _int(value: object) -> int:
    if isinstance(value, int | float):
        return int(value)
    return int(value) if isinstance(value, str) and value.strip().isdigit() else 0


def _float(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _mapping(value: object) -> Mapping[str, object]:
    if isinstance(value, Mapping):
        return {str(key): item for key, item in value.items()}
    return {}


def _counts_of(value: object) -> dict[str, int]:
    return {key: _int(item) for key, item in _mapping(value).items()}


def _product(summary: Mapping[str, object]) -> str:
    version = _text(summary.get("version"))
    return f"bulk-import {version}" if version else "bulk-import"


# -- formatting -------------------------------------------------------------------------------


def _time(text: str) -> str:
    found = _ISO.match(text)
    return f"{found[1]} {found[2]} UTC" if found else text


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _when(summary: Mapping[str, object]) -> str:
    parts = [
        f"{_time(_text(summary.get('started_at')))} → {_time(_text(summary.get('finished_at')))}",
        _duration(_float(summary.get("duration_s"))),
        f"{_int(summary.get('total')):,} rows",
        f"{_int(summary.get('requests')):,} requests",
    ]
    return escape(" · ".join(part for part in parts if part.strip(" →")))


def _inline(text: str) -> str:
    """Escape ``text`` and show its `backquoted` parts as code."""
    pieces = escape(text).split("`")
    return "".join(f"<code>{piece}</code>" if i % 2 else piece for i, piece in enumerate(pieces))


def _card(heading: str, body: str, *, css: str = "card", anchor: str = "") -> str:
    where = f' id="{anchor}"' if anchor else ""
    return f'<section class="{css}"{where}><h2>{escape(heading)}</h2>{body}</section>'


def _table(
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


# -- the sections -----------------------------------------------------------------------------


def _alert(summary: Mapping[str, object]) -> str:
    lines = []
    if error := _text(summary.get("error")):
        lines.append(f"<p><strong>Error:</strong> {escape(error)}</p>")
    if stopped := _text(summary.get("stopped")):
        lines.append(f"<p><strong>Stopped early:</strong> {escape(stopped)}</p>")
    if not lines:
        return ""
    return _card("Why the run ended", "".join(lines), css="card alert", anchor="alert")


def _next_steps(summary: Mapping[str, object], code: int) -> str:
    steps = summary.get("next_steps")
    items = [_text(step) for step in steps] if isinstance(steps, list | tuple) else []
    if not items:
        if code != 0:
            return ""
        return _card("What to do next", '<p class="muted">Nothing: every row is ok.</p>')
    body = "".join(
        f"<li><pre><code>{escape(step)}</code></pre></li>"
        if step.startswith("bulk-import ")
        else f"<li>{_inline(step)}</li>"
        for step in items
    )
    return _card("What to do next", f'<ol class="next">{body}</ol>', anchor="next")


def _counts(summary: Mapping[str, object], facts: ReportFacts | None, note: str) -> str:
    found = dict(facts.counts) if facts is not None else _counts_of(summary.get("counts"))
    counts = dict(sorted(found.items(), key=lambda item: _rank(item[0])))
    total = sum(counts.values())
    if not total:
        return _card("Rows by status", f'<p class="muted">No rows: {escape(note)}.</p>')
    segments = [
        Segment(status, n, STATUS_CSS.get(status, "st-neutral")) for status, n in counts.items()
    ]
    described = ", ".join(f"{status} {n:,}" for status, n in counts.items())
    rows = [
        [
            f'<span class="swatch {STATUS_CSS.get(status, "st-neutral")}"></span>{escape(status)}',
            f"{n:,}",
            f"{n / total:.1%}",
            escape(_status_class(status)),
            escape(STATUS_MEANINGS.get(status, "")),
        ]
        for status, n in counts.items()
    ]
    table = _table(
        ["status", "rows", "share", "class", "what it means"],
        rows,
        numeric=frozenset({1, 2}),
        nowrap=frozenset({0, 3}),
    )
    return _card(
        f"Rows by status ({total:,})",
        stacked_bar(segments, label=described) + table + f'<p class="note">{escape(note)}</p>',
        anchor="counts",
    )


_ORDER: Final = {status.value: i for i, status in enumerate(Status)}
_NOTED: Final = frozenset({Status.DUPLICATE.value, Status.EXTRA.value})


def _rank(status: str) -> tuple[int, int]:
    """Order statuses for the bar: ok first, then the warned and noted, then attention."""
    position = _ORDER.get(status, len(_ORDER))
    if status in _NOTED:
        return 1, position
    return (0 if _status_class(status) == "ok" else 2), position


def _status_class(status: str) -> str:
    try:
        known = Status(status)
    except ValueError:
        return ""
    if known is Status.DUPLICATE:
        return "ok (warned)"
    return "ok" if known.ok else "attention"


def _errors(facts: ReportFacts | None) -> str:
    if facts is None or not facts.errors:
        return ""
    blocks = []
    for i, group in enumerate(facts.errors):
        examples = _table(
            ["row", "number", "label", "status", "http", "error"],
            [
                [
                    escape(e.row),
                    escape(e.number),
                    escape(e.label),
                    escape(e.status),
                    escape(e.http_status),
                    escape(e.error),
                ]
                for e in group.examples
            ],
            numeric=frozenset({0}),
            nowrap=frozenset({1, 3, 4}),
        )
        blocks.append(
            f"<details{' open' if i < 3 else ''}><summary>"
            f'<span class="count">{group.count:,}×</span>{escape(group.message)}'
            f'<span class="tags">{escape(", ".join(group.statuses))}</span></summary>'
            f"{examples}</details>"
        )
    shown = sum(group.count for group in facts.errors)
    note = (
        f'<p class="note">{shown:,} of the {facts.error_rows:,} rows with an error are in the '
        f"{len(facts.errors)} commonest messages shown; the report has every row.</p>"
    )
    return _card("Top errors", "".join(blocks) + note, anchor="errors")


def _activity(metrics: RunMetrics | None) -> str:
    if metrics is None:
        return ""
    data = series(metrics.per_second())
    if not data.totals["requests"] and not data.totals["rows"]:
        return _card("Over time", '<p class="muted">No request was sent.</p>')
    x = data.seconds
    columns = data.columns
    note = f"each point is the mean over {data.bin_s} s" if data.bin_s > 1 else ""
    rows = line_chart(
        title="Rows finished per second",
        x=x,
        lines=[
            Line("all rows", columns["rows"], "st-imported", area=True),
            Line("need attention", columns["rows_attention"], "st-failed"),
        ],
        note=_peak_note(data, "rows", "rows/s", note),
    )
    trouble = line_chart(
        title="429s and retries per second",
        x=x,
        lines=[
            Line("429 answers", columns["http_429"], "s-429", area=True),
            Line("retries", columns["retries"], "s-retry"),
        ],
        note=(
            f"{data.totals['http_429']:,.0f} 429s, {data.totals['retries']:,.0f} retries in all"
            + (f"; {note}" if note else "")
        ),
    )
    lines = [Line("in flight (most)", columns["in_flight"], "s-flight", area=True)]
    if data.peaks["limit"]:
        lines.append(Line("concurrency limit", columns["limit"], "s-limit", dashed=True))
    flight = line_chart(
        title="Requests in flight",
        x=x,
        lines=lines,
        note=f"at most {data.peaks['in_flight']:,.0f} at once",
    )
    return _card(
        "Over time", f'<div class="charts">{rows}{trouble}{flight}</div>', anchor="activity"
    )


def _peak_note(data: Series, column: str, unit: str, extra: str) -> str:
    seconds = max(data.duration_s, 1)
    text = (
        f"peak {number(data.peaks[column])} {unit}, "
        f"mean {number(data.totals[column] / seconds)} {unit}"
    )
    return f"{text}; {extra}" if extra else text


def _answers(summary: Mapping[str, object], metrics: RunMetrics | None) -> str:
    http = metrics.http_counts() if metrics is not None else _counts_of(summary.get("http"))
    latency_source = metrics.latency_ms() if metrics is not None else summary.get("latency_ms")
    latency = {key: v for key, v in _mapping(latency_source).items() if _float(v) is not None}
    concurrency = _counts_of(summary.get("concurrency"))
    if not (http or latency or concurrency):
        return ""
    cards = []
    if latency:
        rows = [
            (name, _float(value) or 0.0, f"{_float(value):,.1f} ms")
            for name, value in latency.items()
        ]
        cards.append(_card("Latency of answers", level_bars(rows, css="s-flight")))
    if http:
        total = sum(http.values()) or 1
        table = _table(
            ["HTTP status", "answers", "share"],
            [[escape(key), f"{n:,}", f"{n / total:.1%}"] for key, n in http.items()],
            numeric=frozenset({1, 2}),
        )
        cards.append(_card("HTTP answers", table))
    if concurrency:
        table = _table(
            ["concurrency", "requests in flight"],
            [[escape(key), f"{n:,}"] for key, n in concurrency.items()],
            numeric=frozenset({1}),
        )
        cards.append(_card("Concurrency limit", table))
    return f'<div class="grid2" id="answers">{"".join(cards)}</div>'


def _run_facts(summary: Mapping[str, object], report: Path | None) -> str:
    code = _int(summary.get("exit_code"))
    meaning = _text(summary.get("exit_meaning")) or EXIT_MEANINGS.get(code, "")
    seconds = _float(summary.get("duration_s"))
    facts = {
        "command": _text(summary.get("command")),
        "input": _text(summary.get("input")),
        "report": _text(summary.get("report")) or ("" if report is None else str(report)),
        "started": _time(_text(summary.get("started_at"))),
        "finished": _time(_text(summary.get("finished_at"))),
        "duration": f"{_duration(seconds)} ({seconds:g} s)" if seconds is not None else "",
        "rows": f"{_int(summary.get('total')):,}",
        "requests sent": f"{_int(summary.get('requests')):,}",
        "exit code": f"{code}: {meaning}" if meaning else str(code),
        "version": _text(summary.get("version")),
    }
    rows = [[escape(name), escape(value)] for name, value in facts.items() if value]
    body = _table(None, rows, css="facts")
    option_rows = [
        [escape(name), "(hidden)" if _SECRET_NAME.search(name) else escape(_shown(value))]
        for name, value in _mapping(summary.get("options")).items()
    ]
    if option_rows:
        table = _table(["option", "value"], option_rows, css="facts")
        body += f'<h2 class="sub">Options in force</h2>{table}'
    return _card("The run", body, anchor="run")


def _shown(value: object) -> str:
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
