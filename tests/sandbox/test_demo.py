"""The demo inside the package: its faults load, its samples are written out, never over a file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bulk_import.sandbox import Faults
from bulk_import.sandbox.demo import FAULTS, SAMPLES, demo_file, write_samples

ROOT = Path(__file__).resolve().parents[2]


def test_the_package_holds_the_demo_and_examples_links_to_it() -> None:
    """Each demo file is package data; a clone's examples/ holds the very same bytes."""
    for name in SAMPLES:
        with demo_file(name) as path:
            assert path.is_file(), name
            assert (ROOT / "examples" / name).read_bytes() == path.read_bytes(), name
    with demo_file(FAULTS) as path:
        faults = Faults.from_file(str(path))
    assert len(faults.webhook_fail_numbers) == 3


def test_samples_are_written_once_and_a_file_there_is_kept(tmp_path: Path) -> None:
    """Missing samples are written; the demo's own are named; a different file is kept."""
    folder = tmp_path / "examples"
    assert write_samples(folder) == [
        f"wrote the demo's sample inputs to {folder}/: " + ", ".join(SAMPLES)
    ]
    (folder / "messy.csv").write_text("number\n+14155550100\n")
    (folder / FAULTS).unlink()
    assert write_samples(folder) == [
        f"wrote the demo's sample inputs to {folder}/: {FAULTS}",
        f"{folder}/ holds the demo's twilio-export.csv, ops-sheet.xlsx already",
        f"kept {folder}/messy.csv: not the demo's",
    ]
    assert (folder / "messy.csv").read_text() == "number\n+14155550100\n"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_a_folder_that_cannot_be_written_is_said(tmp_path: Path) -> None:
    """No write permission: one line saying so, nothing raised (the sandbox still serves)."""
    tmp_path.chmod(0o500)
    try:
        lines = write_samples(tmp_path / "examples")
    finally:
        tmp_path.chmod(0o700)
    assert lines == [
        f"cannot write the sample inputs to {tmp_path / 'examples'}/: Permission denied"
    ]


def test_a_file_where_the_folder_goes_is_said(tmp_path: Path) -> None:
    """examples is a file: one line naming the problem, nothing raised."""
    (tmp_path / "examples").write_text("not a folder")
    [line] = write_samples(tmp_path / "examples")
    assert line.startswith(f"cannot write the sample inputs to {tmp_path / 'examples'}/: ")


def test_a_sample_that_cannot_be_written_is_said(tmp_path: Path) -> None:
    """A link to nowhere where a sample goes: one line naming it; a folder there is kept."""
    folder = tmp_path / "examples"
    folder.mkdir()
    (folder / "twilio-export.csv").mkdir()
    (folder / "messy.csv").symlink_to(tmp_path / "no" / "such" / "folder")
    [line] = write_samples(folder)
    assert line.startswith(f"cannot copy the demo's messy.csv to {folder / 'messy.csv'}: ")


def test_demo_and_faults_exclude_each_other(tmp_path: Path) -> None:
    """sandbox --demo --faults FILE: exit 2 naming both, nothing written."""
    done = subprocess.run(
        [sys.executable, "-m", "bulk_import", "sandbox", "--demo", "--faults", "f.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--demo serves the demo's faults: drop --faults, or --demo" in done.stderr
    assert list(tmp_path.iterdir()) == []
