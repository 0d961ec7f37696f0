"""What a library call returns: :class:`Result`; and :class:`Interrupted`, when Ctrl-C stopped it.

pandas is named here for the type checker only: a ``Result`` is made by
:mod:`bulk_import.library.calls`, which has imported it by then. No ``from __future__ import
annotations``: a TypedDict reads ``NotRequired`` from its annotations as they are evaluated.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, NotRequired, TypedDict

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Concurrency", "Interrupted", "Result", "SummaryJson"]


class Concurrency(TypedDict):
    """The adaptive concurrency of a command that calls the API: requests in flight at most."""

    ceiling: int
    final: int
    min: int
    max: int


class SummaryJson(TypedDict):
    """The summary: the ``--summary-json`` object of SPEC.md, key for key (keys are only added).

    ``report`` is ``""`` when the report was kept in memory only. ``http``, ``latency_ms`` and
    ``concurrency`` are there for the commands that call the API; ``stopped``, ``error``,
    ``page``, ``twilio`` and ``journal`` when they apply.
    """

    command: str
    input: str
    report: str
    started_at: str
    finished_at: str
    duration_s: float
    total: int
    counts: dict[str, int]
    requests: int
    exit_code: int
    exit_meaning: str
    version: str
    options: dict[str, object]
    next_steps: list[str]
    http: NotRequired[dict[str, int]]
    latency_ms: NotRequired[dict[str, float]]
    concurrency: NotRequired[Concurrency]
    stopped: NotRequired[str]
    error: NotRequired[str]
    page: NotRequired[str]
    twilio: NotRequired[dict[str, object]]
    journal: NotRequired[str]


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Result:
    """Hold what a call did: the report, the summary, the exit code (as the CLI's would be).

    ``report`` has the report's columns (``row``, ``input_number``, ``number``, ..., ``error``,
    ``finished_at``), one row per report line, sorted by ``row``; every cell is a ``str``,
    blank as ``""`` (never NaN), with no ``'`` mark (the CSV's formula guard). It can be given
    back as the source of :func:`bulk_import.retry_patch`, or filtered and given to
    :func:`bulk_import.run`.
    """

    report: "pd.DataFrame"
    summary: SummaryJson

    @property
    def exit_code(self) -> int:
        """Return the exit code the CLI would have exited with: 0, 1, 3 or 130 (SPEC)."""
        return self.summary["exit_code"]

    @property
    def ok(self) -> bool:
        """Say whether every row is ok (exit code 0)."""
        return self.exit_code == 0

    def __repr__(self) -> str:
        summary = self.summary
        return (
            f"Result(command={summary['command']!r}, input={summary['input']!r}, "
            f"exit_code={self.exit_code}, rows={summary['total']}, counts={summary['counts']!r})"
        )


class Interrupted(KeyboardInterrupt):
    """Say that Ctrl-C (or SIGTERM) stopped a call, after it stopped as the CLI stops on SIGINT.

    Nothing new was sent, the requests in flight finished, the rows not sent are
    ``not_attempted``, and ``report=`` (when given) holds every row. :attr:`result` is the
    :class:`Result` (exit code 130). A ``KeyboardInterrupt``: a script stops, a notebook shows
    the interrupt, and ``except KeyboardInterrupt as stop: stop.result`` keeps what was done.
    """

    def __init__(self, result: "Result") -> None:
        summary = result.summary
        why = summary.get("stopped") or summary.get("error") or "interrupted"
        counts = ", ".join(f"{n} {status}" for status, n in summary["counts"].items())
        super().__init__(
            f"bulk_import.{summary['command'].replace('-', '_')}: {why}"
            + (f" ({counts}); .result holds the report" if counts else "")
        )
        self.result = result

    def __reduce__(self) -> tuple[type["Interrupted"], tuple["Result"]]:
        """Pickle by the Result (a process pool hands a worker's exception back so): the
        message is made from it again."""
        return type(self), (self.result,)
