"""Aggregate a finished run for its page with pandas: counts, top errors, per-second series.

The report is read whole here (``dtype=str``, ``keep_default_na=False``: ``NA`` stays text), which
is what pandas is for: a 100,000-row report takes a fraction of a second. The input reader
streams with the ``csv`` module instead, for the reasons measured in ``reader.py``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pandas as pd

from bulk_import.cells import unneutralise
from bulk_import.errors import InputError
from bulk_import.models import REPORT_COLUMNS, Status

#: The report columns the page shows.
PAGE_COLUMNS: Final = ("row", "input_number", "number", "label", "status", "http_status", "error")
_KNOWN = [status.value for status in Status]
# Parts of an error that differ per row but not per cause, so that one cause is one group: the
# request id, a row number, and any other id or number (a word of 6+ characters with a digit).
_PER_ROW: Final = (
    (r" \(request_id [^)]*\)", ""),
    (r"\brow \d+\b", "row N"),
    (r"(?<![\w-])(?=[\w-]*\d)[\w-]{6,}(?![\w-])", "…"),
)
# Rows whose error text is a note, not a problem: in the account, in sync, or (rollback) why a
# number was kept or how it went.
_NOTE_STATUSES: Final = frozenset(
    {
        "extra",
        "imported",
        "already_imported",
        "patched",
        "agent_fixed",
        "in_sync",
        "would_delete",
        "deleted",
        "kept",
    }
)
_MESSAGE_CHARS: Final = 300


@dataclass(frozen=True, slots=True)
class Example:
    """Name one report row shown under an error message, as a person reads it (no ``'`` mark)."""

    row: str
    number: str
    label: str
    status: str
    http_status: str
    error: str


@dataclass(frozen=True, slots=True)
class ErrorGroup:
    """Hold one error message, how many rows carry it, their statuses and a few of them."""

    message: str
    count: int
    statuses: tuple[str, ...]
    examples: tuple[Example, ...]


@dataclass(frozen=True, slots=True)
class ReportFacts:
    """Hold what the page shows of a report: rows per status and the commonest errors."""

    counts: Mapping[str, int]
    errors: tuple[ErrorGroup, ...]
    error_rows: int


def report_facts(path: Path, *, top: int = 8, examples: int = 3) -> ReportFacts:
    """Count ``path``'s rows per status and group its errors, commonest first.

    Read as ``read_report`` reads it: a line cut short by a crash, or with no known status, is
    not counted, and of several lines for one row the last wins. Raise :class:`InputError` when
    the file cannot be read or is not a report.
    """
    frame = read_report_frame(path, columns=PAGE_COLUMNS)
    frame = frame[frame["status"].isin(_KNOWN)]
    numbered = frame["row"] != ""
    frame = pd.concat(
        [frame[numbered].drop_duplicates("row", keep="last"), frame[~numbered]]
    ).sort_index()
    counts = frame["status"].value_counts()
    ordered = {status: int(counts[status]) for status in _KNOWN if status in counts.index}
    failing = frame[(frame["error"] != "") & ~frame["status"].isin(_NOTE_STATUSES)]
    return ReportFacts(
        counts=ordered, errors=_groups(failing, top=top, examples=examples), error_rows=len(failing)
    )


def read_report_frame(path: Path, *, columns: Sequence[str] = REPORT_COLUMNS) -> pd.DataFrame:
    """Read a report's ``columns`` as text, every line as it is ("" for a missing cell).

    A ``.xlsx`` report is read as its sheet ``Report`` (cells marked as the CSV marks them), a
    CSV one as CSV. Raise :class:`InputError` when the file cannot be read or its header is not
    a report's.
    """
    if path.suffix.lower() == ".xlsx":
        # workbook.py reads its CSV with this module: imported here, not at the top
        from bulk_import.output.workbook import read_workbook

        rows = read_workbook(path)
        return pd.DataFrame(rows[1:], columns=rows[0], dtype=str)[list(columns)]
    try:
        header = pd.read_csv(path, dtype=str, keep_default_na=False, nrows=0, encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"report {path} does not exist") from None
    except (OSError, ValueError) as exc:  # pandas' parse errors are ValueErrors
        raise InputError(f"cannot read report {path}: {_detail(exc)}") from None
    if tuple(header.columns) != REPORT_COLUMNS:
        raise InputError(
            f"{path} is not a bulk-import report (its header must be: {','.join(REPORT_COLUMNS)})"
        )
    try:
        frame = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            usecols=list(columns),
            encoding="utf-8-sig",
            encoding_errors="replace",
            on_bad_lines="skip",
        )
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read report {path}: {_detail(exc)}") from None
    # A last line cut short leaves missing cells (NaN even with keep_default_na=False).
    return frame[list(columns)].fillna("")


def _detail(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return " ".join(text.split()) or type(exc).__name__


def _groups(failing: pd.DataFrame, *, top: int, examples: int) -> tuple[ErrorGroup, ...]:
    if failing.empty:
        return ()
    key = failing["error"]
    for pattern, replacement in _PER_ROW:
        key = key.str.replace(pattern, replacement, regex=True)
    counts = key.value_counts().head(top)
    chosen = failing.assign(_key=key)
    chosen = chosen[chosen["_key"].isin(counts.index)]
    statuses = {
        str(message): tuple(sorted(str(status) for status in found))
        for message, found in chosen.groupby("_key")["status"].unique().items()
    }
    heads = chosen.groupby("_key", sort=False).head(examples)
    groups = []
    for message, count in counts.items():
        rows = heads[heads["_key"] == message]
        groups.append(
            ErrorGroup(
                message=_shorten(unneutralise(str(message))),
                count=int(count),
                statuses=statuses[str(message)],
                examples=tuple(_example(record) for record in rows.to_dict("records")),
            )
        )
    return tuple(groups)


def _example(record: Mapping[object, object]) -> Example:
    cells = {name: unneutralise(str(record[name])) for name in PAGE_COLUMNS}
    return Example(
        row=cells["row"],
        number=cells["number"] or cells["input_number"],
        label=cells["label"],
        status=cells["status"],
        http_status=cells["http_status"],
        error=_shorten(cells["error"]),
    )


def _shorten(text: str) -> str:
    return text if len(text) <= _MESSAGE_CHARS else text[: _MESSAGE_CHARS - 1] + "…"


# -- the per-second series ----------------------------------------------------------------------

_COUNTS: Final = ("rows_ok", "rows_attention", "requests", "http_429", "retries")


@dataclass(frozen=True, slots=True)
class Series:
    """Hold the run's per-second series, filled and downsampled for drawing.

    ``seconds`` is each point's start (seconds since the run began); each point covers
    ``bin_s`` seconds: counts are the mean per second over it, ``in_flight`` its most, and
    ``limit`` its least. ``peaks`` and ``totals`` come from the full, unbinned series.
    """

    seconds: tuple[float, ...]
    columns: Mapping[str, tuple[float, ...]]
    bin_s: int
    duration_s: int
    peaks: Mapping[str, float]
    totals: Mapping[str, float]


def series(per_second: Mapping[str, Sequence[int]], *, max_points: int = 600) -> Series:
    """Fill the seconds ``per_second`` skipped and bin it into at most ``max_points`` points.

    A skipped second had no events: its counts are 0, its ``in_flight`` what the second before
    left in flight, its limit the one before.
    """
    frame = pd.DataFrame({name: list(values) for name, values in per_second.items()})
    frame = frame.drop_duplicates("second", keep="last").set_index("second").sort_index()
    full = frame.reindex(range(int(frame.index.max()) + 1))
    carried = full["in_flight_end"].ffill().fillna(0)
    full["in_flight"] = full["in_flight"].fillna(carried)
    full["limit"] = full["limit"].ffill().fillna(0)
    full[list(_COUNTS)] = full[list(_COUNTS)].fillna(0)
    full["rows"] = full["rows_ok"] + full["rows_attention"]
    bin_s = max(1, math.ceil(len(full) / max_points))
    binned = full.groupby(full.index // bin_s).agg(
        {
            **dict.fromkeys((*_COUNTS, "rows"), "mean"),
            "in_flight": "max",
            "limit": "min",
        }
    )
    shown = ("rows", *_COUNTS, "in_flight", "limit")
    return Series(
        seconds=tuple(float(i * bin_s) for i in binned.index),
        columns={name: tuple(float(v) for v in binned[name]) for name in shown},
        bin_s=bin_s,
        duration_s=len(full),
        peaks={name: float(full[name].max()) for name in shown},
        totals={name: float(full[name].sum()) for name in (*_COUNTS, "rows")},
    )
