"""Print the closing lines of a CI run: the skipped tests by name, then the test count.

Reads pytest's JUnit XML (``make pytest`` writes ``.junit.xml``), so the count is pytest's
own, whatever else the run printed after it (coverage's table). The last line has the plain
form ``pytest: N passed, N failed, N skipped``. Exit 1 when there are no results or no test
ran: a CI that ran nothing has not passed. Standard library only: it runs with the machine's
python3 even when the virtualenv could not be made.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def node_id(case: ET.Element) -> str:
    """Return a test case's pytest node id (``tests/test_x.py::test_y[z]``)."""
    module = case.get("classname", "").replace(".", "/")
    return f"{module}.py::{case.get('name', '')}"


def main(path: Path) -> int:
    """Print the summary of the JUnit XML at ``path``; return the exit code."""
    if not path.exists():
        print(f"pytest: no results ({path} missing): make test stopped before the tests ran")
        return 1
    root = ET.parse(path).getroot()  # noqa: S314 - pytest's own file, from this run
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = sum(int(suite.get("tests", 0)) for suite in suites)
    failed = sum(int(suite.get("failures", 0)) + int(suite.get("errors", 0)) for suite in suites)
    skips = [
        (node_id(case), skipped.get("message", ""))
        for suite in suites
        for case in suite.iter("testcase")
        for skipped in case.findall("skipped")
    ]
    print(f"-- CI summary ({path}) --")
    print(f"skipped tests: {len(skips) or 'none'}")
    for name, reason in sorted(skips):
        print(f"  SKIPPED {name}: {reason}")
    passed = total - failed - len(skips)
    print(f"pytest: {passed} passed, {failed} failed, {len(skips)} skipped")
    return 0 if total else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else ".junit.xml")))
