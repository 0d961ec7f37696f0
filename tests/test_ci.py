"""What CI relies on: property tests that cannot pass by luck, a closing count, a complete lock.

The hypothesis profiles live in ``tests/conftest.py``; ``.ci/summary.py`` prints CI's closing
lines; ``requirements/dev.lock`` is what ``make`` and CI install. Each is tested by running it:
pytest in a subprocess on small test files written here, the summary on pytest's own JUnit XML.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "dev.lock"
SUMMARY = ROOT / ".ci" / "summary.py"

# A property test and a seeded one, each writing down the examples it was given.
PROPERTY_TESTS = """
import os
from pathlib import Path

from hypothesis import given, seed, settings
from hypothesis import strategies as st

OUT = Path(os.environ["EXAMPLES_OUT"])


@settings(max_examples=5)
@given(st.binary(min_size=16, max_size=16))
def test_plain(data):
    with OUT.open("a") as out:
        out.write(f"plain {data.hex()}\\n")


@seed(1)
@settings(max_examples=5)
@given(st.binary(min_size=16, max_size=16))
def test_seeded(data):
    with OUT.open("a") as out:
        out.write(f"seeded {data.hex()}\\n")
"""


def plain_env() -> dict[str, str]:
    """Return this environment without CI's variables, and without coverage.

    Coverage measures every Python subprocess (pyproject's ``patch = ["subprocess"]``): a
    pytest under it, importing the suite's conftest, is several times slower, and measures
    nothing of ``bulk_import`` that counts.
    """
    return {
        k: v
        for k, v in os.environ.items()
        if k not in {"CI", "HYPOTHESIS_PROFILE"} and not k.startswith("COVERAGE_")
    }


def run_pytest(
    folder: Path, *args: str, env: dict[str, str] | None = None, profiles: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run pytest on ``folder`` in a subprocess (``profiles``: with this suite's conftest)."""
    clean = plain_env() | {"PYTHONPATH": str(ROOT / "tests")}
    plugins = ["-p", "conftest"] if profiles else []
    return subprocess.run(
        [sys.executable, "-m", "pytest", *plugins, "-p", "no:cacheprovider", "-q", "-n", "0",
         "-o", "asyncio_default_fixture_loop_scope=function", "--rootdir", str(folder.parent),
         str(folder), *args],
        env=clean | (env or {}), cwd=folder.parent, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


def examples(tmp_path: Path, run: int, **env: str) -> dict[str, list[str]]:
    """Run the two property tests once under ``env``; return the examples each was given."""
    out = tmp_path / f"examples-{run}.txt"
    done = run_pytest(tmp_path / "suite", env={"EXAMPLES_OUT": str(out), **env}, profiles=True)
    assert done.returncode == 0, done.stdout + done.stderr
    given: dict[str, list[str]] = {"plain": [], "seeded": []}
    for line in out.read_text().splitlines():
        name, example = line.split()
        given[name].append(example)
    return given


@pytest.fixture
def property_suite(tmp_path: Path) -> Path:
    """Write a folder holding the two recording property tests."""
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_recorded.py").write_text(PROPERTY_TESTS)
    return suite


@pytest.mark.usefixtures("property_suite")
def test_the_ci_profile_gives_the_same_examples_on_every_run(tmp_path: Path) -> None:
    """Under CI=true (the ci profile), two runs try exactly the same examples, @settings or not."""
    first = examples(tmp_path, 1, CI="true")
    second = examples(tmp_path, 2, HYPOTHESIS_PROFILE="ci")
    assert first == second
    assert len(first["plain"]) == 5


@pytest.mark.usefixtures("property_suite")
def test_the_fuzz_profile_tries_more_new_examples_even_for_a_seeded_test(tmp_path: Path) -> None:
    """make fuzz: FUZZ_FACTOR times each test's own max_examples, new ones on each run."""
    first = examples(tmp_path, 1, HYPOTHESIS_PROFILE="fuzz", FUZZ_FACTOR="3")
    second = examples(tmp_path, 2, HYPOTHESIS_PROFILE="fuzz", FUZZ_FACTOR="3")
    assert len(first["plain"]) == len(first["seeded"]) == 15
    assert set(first["plain"]) != set(second["plain"])
    assert set(first["seeded"]) != set(second["seeded"])


def test_the_ci_summary_names_each_skipped_test_and_ends_with_the_count(tmp_path: Path) -> None:
    """The closing lines: every skipped test by node id and reason, then passed/failed/skipped."""
    suite = tmp_path / "tests"
    suite.mkdir()
    (suite / "test_mixed.py").write_text(
        "import pytest\n\n"
        "def test_ok():\n    pass\n\n"
        "@pytest.mark.parametrize('n', [1, 2])\ndef test_also_ok(n):\n    pass\n\n"
        "def test_broken():\n    assert False\n\n"
        "def test_no_browser():\n    pytest.skip('no browser here')\n"
    )
    junit = tmp_path / "junit.xml"
    done = run_pytest(suite, f"--junitxml={junit}")
    assert done.returncode == 1, done.stdout + done.stderr
    summary = subprocess.run(
        [sys.executable, str(SUMMARY), str(junit)],
        env=plain_env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert summary.returncode == 0
    assert summary.stdout.splitlines()[-3:] == [
        "skipped tests: 1",
        "  SKIPPED tests/test_mixed.py::test_no_browser: no browser here",
        "pytest: 3 passed, 1 failed, 1 skipped",
    ]


def test_the_ci_summary_fails_when_no_test_ran(tmp_path: Path) -> None:
    """No results, or results of no test: the summary exits 1, so CI cannot pass on nothing."""
    junit = tmp_path / "junit.xml"
    (tmp_path / "tests").mkdir()
    run_pytest(tmp_path / "tests", f"--junitxml={junit}")
    for path in (junit, tmp_path / "missing.xml"):
        summary = subprocess.run(
            [sys.executable, str(SUMMARY), str(path)],
            env=plain_env(), capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert summary.returncode == 1, summary.stdout
        assert summary.stdout.splitlines()[-1].startswith("pytest: ")


def locked() -> dict[str, tuple[Version, int]]:
    """Return each package the lock pins: its version and how many hashes it lists."""
    pins: dict[str, tuple[Version, int]] = {}
    for block in re.split(r"\n(?=\S)", LOCK.read_text()):
        found = re.match(r"([A-Za-z0-9._-]+)==(\S+)", block)
        if found:
            pins[canonicalize_name(found[1])] = (Version(found[2]), block.count("--hash=sha256:"))
    return pins


def test_the_lock_pins_every_requirement_within_its_range_with_hashes() -> None:
    """Each dependency, dev tool and build requirement of pyproject.toml: pinned, in range, hashed.

    A requirement added to pyproject.toml without ``make lock`` fails here, by name.
    """
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = [
        *project["project"]["dependencies"],
        *project["project"]["optional-dependencies"]["dev"],
        *project["build-system"]["requires"],
    ]
    pins = locked()
    assert {"pip", "setuptools", "pip-tools"} <= pins.keys()
    for text in wanted:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in {LOCK.name}: run make lock"
        version, hashes = pins[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{name} {version}: make lock"
        )
        assert hashes >= 1, name
