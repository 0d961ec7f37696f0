"""The README's "From Python" is examples/notebook.py, and the notebook runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, cli_env, read_report

from bulk_import.sandbox import Faults, RunningSandbox

NOTEBOOK = ROOT / "examples" / "notebook.py"
BLOCK = re.compile(r"<!-- from-python:[^\n]*-->\n```python\n(.*?)```", re.S)


def notebook_code() -> str:
    """Return the notebook's code: what follows its docstring."""
    text = NOTEBOOK.read_text()
    return text[text.index('"""', 3) + 3 :].strip()


def test_the_readme_shows_the_notebook_as_it_is() -> None:
    """The README's Python block is examples/notebook.py's code, to the character."""
    found = BLOCK.search((ROOT / "README.md").read_text())
    assert found is not None, "README.md has no from-python block"
    assert found.group(1).strip() == notebook_code()


def test_the_notebook_runs_against_the_sandbox(tmp_path: Path) -> None:
    """The notebook, as a script: checks, imports, patches a failed webhook, reconciles."""
    with RunningSandbox(faults=Faults(webhook_fail_numbers=("+14155550102",))) as sandbox:
        done = subprocess.run(
            [sys.executable, str(NOTEBOOK)],
            cwd=tmp_path,
            env=cli_env(sandbox.base_url),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        stored = sandbox.state.numbers
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # nothing printed but what the notebook prints itself
    out = done.stdout.splitlines()
    assert out[0] == "{'duplicate': 1, 'invalid': 2, 'valid': 3}"
    assert "counts={'duplicate': 1, 'imported': 2, 'invalid': 2, 'webhook_failed': 1}" in out[5]
    assert "counts={'duplicate': 1, 'imported': 2, 'invalid': 2, 'patched': 1}" in out[6]
    assert out[7].startswith("Empty DataFrame")  # no drift
    statuses = [line["status"] for line in read_report(tmp_path / "sheet.report.csv")]
    assert statuses == ["imported", "patched", "invalid", "imported", "duplicate", "invalid"]
    assert sorted(stored) == ["+14155550101", "+14155550102", "+14155550104"]
    assert stored["+14155550102"]["agent"]["id"] == "agent_sandbox"
