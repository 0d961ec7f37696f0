"""Installed from a wheel, outside the repo, the README's rehearsal runs as written.

The wheel is built from a copy of the sources (setuptools' own backend, no network, nothing
written in the worktree) and installed with ``pip --no-index --no-deps`` into a fresh venv in a
temporary folder; the dependencies come from this test's environment through a ``.pth`` line
(which adds the folder to ``sys.path`` without running the ``.pth`` files there, so the clone's
editable install stays out). Then the rehearsal runs in an empty folder: ``bulk-import sandbox
--demo`` must bring the faults and the sample inputs with it.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

from conftest import ROOT, run_rehearsal


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run a command to the end; fail the test with its output if it fails; return stdout."""
    done = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def build_wheel(tmp: Path) -> Path:
    """Build the wheel from a copy of pyproject.toml, README.md and the package; return it."""
    source = tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "bulk_import", source / "bulk_import", ignore=shutil.ignore_patterns("__pycache__")
    )
    dist = tmp / "dist"
    code = (
        "import sys; from setuptools import build_meta; print(build_meta.build_wheel(sys.argv[1]))"
    )
    name = run(sys.executable, "-c", code, dist, cwd=source).strip().splitlines()[-1]
    return dist / name


def fresh_venv(tmp: Path, wheel: Path) -> Path:
    """Make a venv outside the repo, install the wheel alone into it; return its bin folder."""
    venv = tmp / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp)
    python = venv / "bin" / "python"
    purelib = run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=tmp)
    # The dependencies: this environment's site-packages, after the venv's own.
    deps = {sysconfig.get_path("purelib"), *site.getsitepackages()}
    Path(purelib.strip(), "test-dependencies.pth").write_text("\n".join(sorted(deps)) + "\n")
    pip = (sys.executable, "-m", "pip", "--python", python, "install", "--quiet")
    run(*pip, "--no-index", "--no-deps", "--no-compile", wheel, cwd=tmp)
    return venv / "bin"


def test_the_rehearsal_runs_from_a_wheel_installed_outside_the_repo(tmp_path: Path) -> None:
    """An installed wheel carries the demo: the rehearsal runs in an empty folder as written."""
    wheel = build_wheel(tmp_path)
    bin_folder = fresh_venv(tmp_path, wheel)
    work = tmp_path / "work"
    work.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CARTESIA_", "TWILIO_", "COVERAGE_", "PYTHON"))
    }
    env["PATH"] = f"{bin_folder}{os.pathsep}/usr/bin:/bin"
    where = run("bulk-import", "--version", cwd=work, env=env)
    assert "0.1.0" in where
    origin = run(
        bin_folder / "python", "-c", "import bulk_import; print(bulk_import.__file__)", cwd=work
    )
    assert origin.startswith(str(tmp_path / "venv")), origin  # the wheel's, not the clone's
    done = run_rehearsal(work, env)
    assert "wrote the demo's sample inputs to examples/: twilio-export.csv" in done.stderr
    assert (work / "examples" / "demo-faults.json").exists()


#: A user's script: one call as the README shows it, then a misspelt option and a wrong type.
TYPED_SCRIPT = """\
import pandas as pd

import bulk_import

frame = pd.DataFrame({"number": ["+14155552671"]})
result: bulk_import.Result = bulk_import.validate(frame, provider_id="prov_1")
counts: dict[str, int] = result.summary["counts"]
bulk_import.run(frame, agentid="agent_1")
bulk_import.run(frame, concurrency="8")
"""


def test_the_installed_package_is_typed_for_a_users_mypy(tmp_path: Path) -> None:
    """The wheel ships py.typed: mypy --strict on a user's script, against the installed
    package, finds a misspelt option and a wrong type, and nothing else."""
    wheel = build_wheel(tmp_path)
    bin_folder = fresh_venv(tmp_path, wheel)
    work = tmp_path / "work"
    work.mkdir()
    (work / "script.py").write_text(TYPED_SCRIPT)
    mypy = (sys.executable, "-m", "mypy", "--strict", "--no-incremental")
    done = subprocess.run(
        [*mypy, "--python-executable", str(bin_folder / "python"), "script.py"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    assert errors == [
        'script.py:8: error: Unexpected keyword argument "agentid"; did you mean "agent_id"?  '
        "[call-arg]",
        'script.py:9: error: Argument "concurrency" has incompatible type "str"; expected '
        '"int | None"  [arg-type]',
    ], done.stdout
