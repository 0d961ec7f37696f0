"""Write the run page (``--html PATH``): one self-contained HTML file about a finished run.

It shows what SPEC's "The run page" lists: the run's facts and options, the exit code and its
meaning, the rows per status as a bar, for commands that call the API the rows, 429s, retries
and requests in flight over time and the latency, the commonest errors with example rows, and
what to run next. CSS and SVG are inline; there is no script, font or image to fetch. Every
text that comes from a user, a file or a server is HTML-escaped. Written for every exit, 2
included, when there may be no report at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Final

from bulk_import.errors import InputError
from bulk_import.metrics import RunMetrics
from bulk_import.models import Exit, Status
from bulk_import.output import markup
from bulk_import.output.aggregate import ReportFacts, Series, report_facts, series
from bulk_import.output.charts import Line, Segment, level_bars, line_chart, number, stacked_bar
from bulk_import.output.files import private_replacement
from bulk_import.output.meanings import answer_meaning
from bulk_import.output.style import CSS, STATUS_CSS

STATUS_MEANINGS: Final = {
    "imported": "201: imported",
    "already_imported": "409: already in the account (agent not checked: reconcile checks it)",
    "webhook_failed": "imported, agent not assigned: retry-patch assigns it",
    "patched": "retry-patch assigned the agent",
    "patch_failed": "agent still not assigned",
    "agent_fixed": "in the account before the run; its agent fixed by PATCH",
    "invalid": "failed local validation; not sent",
    "duplicate": "same number earlier in the file; not sent",
    "failed": "refused by the API, or retries exhausted",
    "not_attempted": "the run stopped before this row was sent",
    "valid": "would be sent",
    "in_sync": "in the account with the expected agent",
    "missing": "in the input, not in the account",
    "agent_mismatch": "in the account with another agent, or none",
    "extra": "in the account, not in the input (reported, never deleted)",
    "would_delete": "rollback --apply would delete the number this row imported",
    "deleted": "deleted by rollback (or gone already: 404)",
    "kept": "not deleted: the run did not create it, or it changed since (see the error)",
    "delete_failed": "the API refused the unassign or the DELETE",
}
#: The in-flight chart's legend and note: in flight is each second's most, the limit its value
#: as the second ended, so a peak above the line is not a breach of the limit.
IN_FLIGHT_LEGEND: Final = "in flight: each second's most at once"
LIMIT_LEGEND: Final = "limit as each second ended (in flight may pass it within the second)"
LIMIT_NOTE: Final = (
    "in flight may peak above the limit's line within a second, and that is no breach: the "
    "limit was higher before a 429 or slow answers lowered it, and its fractional slot lets "
    "one more request go now and then"
)
# An option with one of these names would hold a secret: its value is never shown.
_SECRET_NAME = re.compile(r"(^|_)(api_key|key|secret|token|password|auth_token)$", re.IGNORECASE)


def _exit_meaning(code: int) -> str:
    """Return what an exit code means, from the one table (models.Exit)."""
    try:
        return Exit(code).meaning
    except ValueError:
        return ""


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
    code = markup.int_of(summary.get("exit_code"))
    meaning = markup.text(summary.get("exit_meaning")) or _exit_meaning(code)
    command = markup.text(summary.get("command")) or "command"
    source = markup.text(summary.get("input"))
    title = f"bulk-import {command} {source}".strip()
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
        f"<h1>bulk-import {escape(command)} <code>{escape(source)}</code></h1>"
        f'<p class="when">{_when(summary)}</p></header>'
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


def _product(summary: Mapping[str, object]) -> str:
    version = markup.text(summary.get("version"))
    return f"bulk-import {version}" if version else "bulk-import"


# -- formatting -------------------------------------------------------------------------------


def _when(summary: Mapping[str, object]) -> str:
    parts = [
        f"{markup.time_of(markup.text(summary.get('started_at')))} → "
        f"{markup.time_of(markup.text(summary.get('finished_at')))}",
        markup.duration(markup.float_of(summary.get("duration_s"))),
        f"{markup.int_of(summary.get('total')):,} rows",
        f"{markup.int_of(summary.get('requests')):,} requests",
    ]
    return escape(" · ".join(part for part in parts if part.strip(" →")))


# -- the sections -----------------------------------------------------------------------------


def _alert(summary: Mapping[str, object]) -> str:
    lines = []
    if error := markup.text(summary.get("error")):
        lines.append(f"<p><strong>Error:</strong> {escape(error)}</p>")
    if stopped := markup.text(summary.get("stopped")):
        lines.append(f"<p><strong>Stopped early:</strong> {escape(stopped)}</p>")
    if not lines:
        return ""
    return markup.card("Why the run ended", "".join(lines), css="card alert", anchor="alert")


def _next_steps(summary: Mapping[str, object], code: int) -> str:
    steps = summary.get("next_steps")
    items = [markup.text(step) for step in steps] if isinstance(steps, list | tuple) else []
    if not items:
        if code != 0:
            return ""
        return markup.card("What to do next", '<p class="muted">Nothing: every row is ok.</p>')
    body = "".join(
        f"<li><pre><code>{escape(step)}</code></pre></li>"
        if step.startswith("bulk-import ")
        else f"<li>{markup.inline(step)}</li>"
        for step in items
    )
    return markup.card("What to do next", f'<ol class="next">{body}</ol>', anchor="next")


def _counts(summary: Mapping[str, object], facts: ReportFacts | None, note: str) -> str:
    found = dict(facts.counts) if facts is not None else markup.counts_of(summary.get("counts"))
    counts = dict(sorted(found.items(), key=lambda item: _rank(item[0])))
    total = sum(counts.values())
    if not total:
        return markup.card("Rows by status", f'<p class="muted">No rows: {escape(note)}.</p>')
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
    table = markup.table(
        ["status", "rows", "share", "class", "what it means"],
        rows,
        numeric=frozenset({1, 2}),
        nowrap=frozenset({0, 3}),
    )
    return markup.card(
        f"Rows by status ({total:,})",
        stacked_bar(segments, label=described) + table + f'<p class="note">{escape(note)}</p>',
        anchor="counts",
    )


_ORDER: Final = {status.value: i for i, status in enumerate(Status)}
_NOTED: Final = frozenset({Status.DUPLICATE.value, Status.EXTRA.value, Status.KEPT.value})


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
        examples = markup.table(
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
    return markup.card("Top errors", "".join(blocks) + note, anchor="errors")


def _activity(metrics: RunMetrics | None) -> str:
    if metrics is None:
        return ""
    data = series(metrics.per_second())
    if not data.totals["requests"] and not data.totals["rows"]:
        return markup.card("Over time", '<p class="muted">No request was sent.</p>')
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
    lines = [Line(IN_FLIGHT_LEGEND, columns["in_flight"], "s-flight", area=True)]
    flight_note = f"at most {data.peaks['in_flight']:,.0f} at once"
    if data.bin_s > 1:
        flight_note += f"; each point is the most over {data.bin_s} s"
    if data.peaks["limit"]:
        lines.append(Line(LIMIT_LEGEND, columns["limit"], "s-limit", dashed=True))
        flight_note += f"; {LIMIT_NOTE}"
    flight = line_chart(title="Requests in flight", x=x, lines=lines, note=flight_note)
    return markup.card(
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
    http = metrics.http_counts() if metrics is not None else markup.counts_of(summary.get("http"))
    latency_source = metrics.latency_ms() if metrics is not None else summary.get("latency_ms")
    latency = {
        key: v
        for key, v in markup.mapping(latency_source).items()
        if markup.float_of(v) is not None
    }
    concurrency = markup.counts_of(summary.get("concurrency"))
    if not (http or latency or concurrency):
        return ""
    cards = []
    if latency:
        rows = [
            (name, markup.float_of(value) or 0.0, f"{markup.float_of(value):,.1f} ms")
            for name, value in latency.items()
        ]
        cards.append(markup.card("Latency of answers", level_bars(rows, css="s-flight")))
    if http:
        total = sum(http.values()) or 1
        command = markup.text(summary.get("command"))
        table = markup.table(
            ["HTTP status", "answers", "share"],
            [
                [
                    f"{escape(key)}"
                    f'<span class="muted"> · {escape(answer_meaning(command, key))}</span>',
                    f"{n:,}",
                    f"{n / total:.1%}",
                ]
                for key, n in http.items()
            ],
            numeric=frozenset({1, 2}),
        )
        cards.append(markup.card("HTTP answers", table))
    if concurrency:
        table = markup.table(
            ["concurrency", "requests in flight"],
            [[escape(key), f"{n:,}"] for key, n in concurrency.items()],
            numeric=frozenset({1}),
        )
        cards.append(markup.card("Concurrency limit", table))
    return f'<div class="grid2" id="answers">{"".join(cards)}</div>'


def _run_facts(summary: Mapping[str, object], report: Path | None) -> str:
    code = markup.int_of(summary.get("exit_code"))
    meaning = markup.text(summary.get("exit_meaning")) or _exit_meaning(code)
    seconds = markup.float_of(summary.get("duration_s"))
    facts = {
        "command": markup.text(summary.get("command")),
        "input": markup.text(summary.get("input")),
        "report": markup.text(summary.get("report")) or ("" if report is None else str(report)),
        "started": markup.time_of(markup.text(summary.get("started_at"))),
        "finished": markup.time_of(markup.text(summary.get("finished_at"))),
        "duration": f"{markup.duration(seconds)} ({seconds:g} s)" if seconds is not None else "",
        "rows": f"{markup.int_of(summary.get('total')):,}",
        "requests sent": f"{markup.int_of(summary.get('requests')):,}",
        "exit code": f"{code}: {meaning}" if meaning else str(code),
        "version": markup.text(summary.get("version")),
    }
    rows = [[escape(name), escape(value)] for name, value in facts.items() if value]
    body = markup.table(None, rows, css="facts")
    option_rows = [
        [escape(name), "(hidden)" if _SECRET_NAME.search(name) else escape(markup.shown(value))]
        for name, value in markup.mapping(summary.get("options")).items()
    ]
    if option_rows:
        table = markup.table(["option", "value"], option_rows, css="facts")
        body += f'<h2 class="sub">Options in force</h2>{table}'
    return markup.card("The run", body, anchor="run")
