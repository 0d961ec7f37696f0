"""Options named as their caller writes them: the command line's flags, Python's keywords."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bulk_import.naming import CLI, PYTHON, Naming


@pytest.mark.parametrize(
    ("write", "cli", "python"),
    [
        (lambda n: n.option("number_column"), "--number-column", "number_column="),
        (lambda n: n.given("header_row", 0), "--header-row 0", "header_row=0"),
        (lambda n: n.given("number_column", "B"), "--number-column B", "number_column='B'"),
        (
            lambda n: n.placeholder("number_column", "NAME"),
            "--number-column NAME",
            "number_column=NAME",
        ),
        (lambda n: n.quoted("sheet", 'Q3 "final"'), '--sheet "Q3 "final""', "sheet='Q3 \"final\"'"),
        (lambda n: n.flag("no_header"), "--no-header", "no_header=True"),
        (
            lambda n: n.join(n.flag("no_header"), n.given("sheet", 2)),
            "--no-header --sheet 2",
            "no_header=True, sheet=2",
        ),
    ],
)
def test_each_form_is_written_the_callers_way(
    write: Callable[[Naming], str], cli: str, python: str
) -> None:
    """Each helper writes the flag for the command line and the keyword for Python."""
    assert (write(CLI), write(PYTHON)) == (cli, python)
