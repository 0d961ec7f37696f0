"""Build the exact commands a summary offers next, from the options the run had.

A next step is only worth printing if, pasted as it is, it does what it says: ``reconcile``
after a run needs the run's ``--provider-id`` (without it every row is invalid) and its
``--base-url`` (without it, it checks another account), ``retry-patch`` the run's API options,
and ``--resume`` the whole command line again. The command line that ran is kept as words
(:attr:`~bulk_import.models.Summary.invocation`): the command's name, its arguments, and each
option typed as one word, ``--name`` for a flag or ``--name=value`` (so that no list of flags is
needed to read it back). Printed, ``--name=value`` is two words again.
"""

from __future__ import annotations

import functools
import shlex
from collections import Counter
from collections.abc import Iterable
from typing import Final

from bulk_import.models import Summary

#: Options that name a command's own output, or what it does: never carried to another command
#: (its report, run page and summary are its own).
OWN_OPTIONS: Final = frozenset(
    {
        "--report",
        "--summary-json",
        "--html",
        "--quiet",
        "--no-progress",
        "--debug",
        "--resume",
        "--apply",
    }
)
#: The options of every command that calls the API: ``retry-patch`` takes these (and no input
#: option), so they are what it carries from a run.
API_OPTIONS: Final = frozenset(
    {
        "--base-url",
        "--api-key-file",
        "--api-version",
        "--concurrency",
        "--rate",
        "--max-attempts",
        "--timeout",
        "--max-consecutive-failures",
    }
)


def words_of(summary: Summary) -> list[str]:
    """Return the command line that ran (its words; the command and INPUT when not known)."""
    if summary.invocation:
        return list(summary.invocation)
    words = [summary.command, summary.input]
    if summary.agent_id:
        words.append(f"--agent-id={summary.agent_id}")
    return words


def _name(word: str) -> str:
    return word.split("=", 1)[0] if word.startswith("--") else ""


def _options(words: Iterable[str], keep: frozenset[str] | None, drop: frozenset[str]) -> list[str]:
    """Return the option words among ``words`` whose name is in ``keep`` (any) and not ``drop``."""
    return [
        word
        for word in words
        if (name := _name(word)) and name not in drop and (keep is None or name in keep)
    ]


def shown(*words: str, python: bool = False) -> str:
    """Return a command to paste, in backquotes: ``bulk-import WORDS`` with ``=`` words split.

    ``python``: the same as a call of the Python API, the words holding Python literals:
    ``bulk_import.run(frame, provider_id='prov_1', resume=True)``.
    """
    if python:
        return _call(*words)
    split: list[str] = []
    for word in words:
        name, equals, value = word.partition("=")
        split += [name, value] if word.startswith("--") and equals else [word]
    return "`" + shlex.join(["bulk-import", *split]) + "`"


def _call(command: str, *words: str) -> str:
    """Return the words as a call of the Python API (a flag is ``name=True``)."""
    given = [word for word in words if not word.startswith("--")]
    for word in words:
        if word.startswith("--"):
            name, equals, value = word[2:].partition("=")
            given.append(f"{name.replace('-', '_')}={value if equals else 'True'}")
    return f"`bulk_import.{command.replace('-', '_')}({', '.join(given)})`"


def rerun(summary: Summary, *extra: str) -> str:
    """Return the command line that ran, with the ``extra`` flags added (once)."""
    words = words_of(summary)
    words += [flag for flag in extra if flag not in words]
    return shown(*words, python=summary.python)


def reconcile(summary: Summary, *extra: str) -> str:
    """Return ``reconcile INPUT`` with the run's input, Twilio and API options (not its output)."""
    if summary.command == "reconcile":
        return rerun(summary, *extra)
    words = words_of(summary)
    arguments = [word for word in words[1:] if not _name(word)]
    carried = _options(words[1:], None, OWN_OPTIONS)
    return shown("reconcile", *arguments, *carried, *extra, python=summary.python)


def retry_patch(summary: Summary, *extra: str) -> str:
    """Return ``retry-patch REPORT`` with the run's API options (retry-patch has no others).

    After a ``retry-patch``, its own ``--agent-id`` too: the rows it left still need it.
    """
    keep = API_OPTIONS | {"--agent-id"} if summary.command == "retry-patch" else API_OPTIONS
    carried = _options(words_of(summary)[1:], keep, frozenset())
    extra = tuple(word for word in extra if _name(word) not in {_name(w) for w in carried})
    report = summary.report
    if summary.python:  # the report's path as a literal; a report kept in memory: the Result's
        report = repr(report) if report else "result.report"
    return shown("retry-patch", report, *carried, *extra, python=summary.python)


# -- what the rows need ------------------------------------------------------------------------


@functools.cache
def _fixes() -> tuple[tuple[str, str], ...]:
    """Return the reasons a row is invalid that one change of option or column fixes for every
    such row: (how the reason starts, what the summary says of ``{n}`` rows)."""
    # Imported here: phonenumbers and the reader are what --help would otherwise pay for.
    from bulk_import.e164 import REASON_DECIMALS, REASON_NOT_IN_REGION, REASON_ROUNDED
    from bulk_import.normalize import REASON_NO_PROVIDER
    from bulk_import.sources.source import PROBLEM_EXTRA_CELLS, PROBLEM_SWALLOWED

    region = REASON_NOT_IN_REGION.split("{", 1)[0]  # "not a valid ": the region follows
    return (
        (
            REASON_NO_PROVIDER,
            "{n} name no provider: pass --provider-id or add a provider_id column",
        ),
        (
            REASON_ROUNDED.split(" (", 1)[0],
            "{n} were rounded by a spreadsheet (scientific notation): format the number column "
            "as text and export it again",
        ),
        (
            REASON_DECIMALS.split(" (", 1)[0],
            "{n} carry a spreadsheet's decimals (.00): format the number column as text and "
            "export it again",
        ),
        ('unknown region "', "{n} name a region Cartesia does not have: use us1, ie1 or au1"),
        (
            PROBLEM_EXTRA_CELLS,
            "{n} have more cells than the header: put a cell that holds the delimiter in quotes",
        ),
        (PROBLEM_SWALLOWED, "{n} have a quote never closed that swallows the next line: close it"),
        (region, ""),  # told apart in _fix: the message names the region
    )


def _fix(reason: str) -> str:
    """Return the fix, with ``{n}`` for the count, that one change makes for this reason, or ""."""
    for start, fix in _fixes():
        if not reason.startswith(start):
            continue
        if fix:
            return fix
        if " (--default-region " in reason:
            code = reason[len(start) :].split(" ", 1)[0]
            return (
                f"{{n}} are not valid {code} numbers: write them with + and the country code, or "
                "pass --default-region (the error column names the country each fits)"
            )
    return ""


def invalid_advice(reasons: Counter[str]) -> str:
    """Say what the invalid rows need: the commonest fix one change makes, else the input fixed."""
    by_fix: Counter[str] = Counter()
    for reason, count in reasons.items():
        by_fix[_fix(reason)] += count
    total = sum(reasons.values())
    fixable = [(fix, count) for fix, count in by_fix.most_common() if fix]
    if not fixable:
        commonest, count = reasons.most_common(1)[0] if reasons else ("", 0)
        example = f"; the commonest: {commonest}, {_rows(count)}" if total > count > 1 else ""
        return f"not sent: fix them in the input (see the error column{example})"
    fix, count = fixable[0]
    text = fix.format(n=_rows(count))
    if total > count:
        text += f"; {total - count:,} more: see the error column"
    return text


def _rows(count: int) -> str:
    return "1 row" if count == 1 else f"{count:,} rows"
