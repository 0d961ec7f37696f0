"""The report as a pandas DataFrame: out of a call (``Result.report``), and back in as a REPORT.

Out: the report's CSV bytes (the engine keeps them in memory, sorted as the file is) read with
``dtype=str`` and no missing values, every cell a ``str``, the ``'`` formula marks taken off
(:func:`~bulk_import.cells.unneutralise`, the exact inverse of the report's mark).

In: a DataFrame with the report's columns for ``retry_patch`` and ``rollback``: a Result's
(filtered or not), or the report file read back with pandas. Each cell is read as text as a
source's cells are, the marks put back, and the lines read as a report file's lines are read
(:func:`~bulk_import.output.recovery.report_lines`). Two things pandas does to a report file
are undone:

- its ``'`` marks are kept by ``dtype=str`` (and by default on any column holding one): a frame
  that is not tagged as a Result's (:data:`TAG` in ``frame.attrs``, which pandas carries through
  filters, copies and concatenations of tagged frames) has them taken off first. The tag, not
  a guess from the cells, decides: a Result's cell may itself start with ``'`` (its input had
  two), and a file's marks are exactly the ones :func:`~bulk_import.cells.neutralise` puts on.
  Untagged, the only text misread is a cell starting with ``'`` then a formula character,
  which a frame made of a Result's and then stripped of its tag alone could hold.
- its ``number`` column, E.164 by contract, is read as numbers (``14155550001.0``), the ``+``
  lost: a number cell of ASCII digits only gets it back.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Final

from bulk_import.cells import MARK, unneutralise
from bulk_import.errors import InputError
from bulk_import.models import REPORT_COLUMNS
from bulk_import.output.recovery import ReportLine, report_lines, strict_lines
from bulk_import.output.report import HEADER, marked
from bulk_import.sources.frame import FRAME, cell_texts

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["TAG", "FrameReport", "report_frame"]

_COLUMNS: Final = ", ".join(REPORT_COLUMNS)
#: The ``frame.attrs`` key (and value) that says a report frame holds no ``'`` marks.
TAG: Final = "bulk_import.report"
_UNMARKED: Final = "unmarked"
_NUMBER: Final = REPORT_COLUMNS.index("number")


def report_frame(data: bytes | None) -> pd.DataFrame:
    """Return the report's CSV bytes as a DataFrame of text (None: a report with no row)."""
    import pandas as pd  # the call imports pandas, never ``import bulk_import``

    frame = pd.read_csv(
        io.BytesIO(data if data is not None else HEADER),
        dtype=str,
        keep_default_na=False,
        na_filter=False,
    )
    for column in frame.columns:
        values = frame[column]
        marks = values.str.startswith(MARK)
        if marks.any():
            frame.loc[marks, column] = values[marks].map(unneutralise)
    frame.attrs[TAG] = _UNMARKED
    return frame


class FrameReport:
    """Hold a report given as a DataFrame (a :class:`~bulk_import.library.result.Result`'s), to
    be read as a REPORT file is read (:class:`~bulk_import.output.recovery.GivenReport`)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.name = FRAME
        self._frame = frame

    def read(self, *, strict: bool = False) -> list[ReportLine]:
        """Return the report's lines as a file's are read (``strict``: every line accounted for,
        :func:`~bulk_import.output.recovery.strict_lines`); raise InputError when a report
        column is missing, or ``strict`` and a line is not whole."""
        frame = self._frame
        missing = [name for name in REPORT_COLUMNS if name not in frame.columns]
        if missing:
            raise InputError(
                f"{self.name} is not a bulk-import report: it has no {', '.join(missing)} "
                f"column; pass a Result's report, or a frame with the columns {_COLUMNS}"
            )
        columns = [cell_texts(frame[name].to_numpy(dtype=object)) for name in REPORT_COLUMNS]
        if frame.attrs.get(TAG) != _UNMARKED:  # read from the file: its marks come off first
            columns = [[unneutralise(cell) for cell in column] for column in columns]
        columns[_NUMBER] = [_e164(cell) for cell in columns[_NUMBER]]
        records = [marked(cells) for cells in zip(*columns, strict=True)]
        if strict:
            where = (f"index {label}" for label in frame.index)
            numbered = ((at, cells, True) for at, cells in zip(where, records, strict=True))
            return strict_lines(self.name, numbered, kind="frame")
        return report_lines(records)


def _e164(number: str) -> str:
    """Return a report's number with its ``+``, which pandas drops reading it as a number."""
    return "+" + number if number.isascii() and number.isdigit() else number
