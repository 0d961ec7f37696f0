"""The command line: exit codes, one-line errors, summaries, for every command's error paths."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from bulk_import.cli import main
from bulk_import.jobs import validate as validate_job

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def cli(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m bulk_import ARGS` as a user would, with no API key unless given."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CARTESIA_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bulk_import", *args],
        capture_output=True,
        text=True,
        env=full_env,
        input=stdin,
        timeout=60,
        check=False,
    )


def one_line_error(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == [f"bulk-import: error: {expected}"], result.stderr


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_validate_writes_report_and_summary(tmp_path: Path) -> None:
    """validate: valid/invalid/duplicate rows, exit 1 when any is invalid, summary JSON keys."""
    source = write(
        tmp_path / "in.csv",
        "number,provider_id\n+14155552671,p\n4155552672,p\nabc,p\n(415) 555-2671,p\n",
    )
    summary = tmp_path / "s.json"
    result = cli(
        "validate", str(source), "--report", str(tmp_path / "r.csv"), "--summary-json", str(summary)
    )
    assert result.returncode == 1, result.stderr
    data = json.loads(summary.read_text())
    assert data["command"] == "validate"
    assert data["counts"] == {"valid": 2, "invalid": 1, "duplicate": 1}
    assert data["total"] == 4
    assert data["requests"] == 0
    assert data["exit_code"] == 1
    for key in ("input", "report", "started_at", "finished_at", "duration_s"):
        assert key in data
    assert data["started_at"].endswith("Z")
    assert stat.S_IMODE(summary.stat().st_mode) == 0o600
    report = (tmp_path / "r.csv").read_text().splitlines()
    assert len(report) == 5
    assert "duplicate of row 2" in report[4]
    assert "valid: " not in result.stdout
    assert "validate: 4 rows" in result.stderr


def test_validate_default_report_path_and_exit_0(tmp_path: Path) -> None:
    """Without --report validate's report is <stem>.validate.csv here; all valid is exit 0."""
    source = write(tmp_path / "Contacts.csv", "phone\n+14155552671\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bulk_import",
            "validate",
            str(source),
            "--quiet",
            "--twilio-account-sid",
            "AC" + "0" * 32,
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert (tmp_path / "Contacts.validate.csv").exists()
    assert not (tmp_path / "Contacts.report.csv").exists()


def test_validate_reads_stdin(tmp_path: Path) -> None:
    """`-` reads CSV from stdin; validate's default report is stdin.validate.csv."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bulk_import",
            "validate",
            "-",
            "--provider-id",
            "p",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        input="number\n+14155552671\n",
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "valid" in (tmp_path / "stdin.validate.csv").read_text()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("nope.csv", None, "nope.csv"),
        ("data.json", "{}", "data.json"),
        ("empty.csv", "", "empty.csv"),
        ("cols.csv", "a,b,c\n1,2,3\n", "cols.csv"),
    ],
)
def test_unusable_input_is_one_line_exit_2(
    tmp_path: Path, name: str, content: str | None, message: str
) -> None:
    """Missing, unknown-extension, empty and number-less files: exit 2, one line naming the file."""
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    result = cli("validate", str(path), "--report", str(tmp_path / "r.csv"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("bulk-import: error: ")
    assert message in lines[0]
    assert not (tmp_path / "r.csv").exists()


def test_no_number_column_names_the_fix(tmp_path: Path) -> None:
    """A file without a number column lists its columns and suggests --number-column."""
    source = write(tmp_path / "cols.csv", "a,b,c\n1,2,3\n")
    result = cli("validate", str(source))
    assert result.returncode == 2
    assert "a, b, c" in result.stderr
    assert "--number-column" in result.stderr


def test_bad_options_are_exit_2(tmp_path: Path) -> None:
    """An unknown --default-region or an unusable --default-label is exit 2 with one line."""
    source = write(tmp_path / "in.csv", "number\n+14155552671\n")
    bad_region = cli("validate", str(source), "--default-region", "XX")
    assert bad_region.returncode == 2
    assert "XX" in bad_region.stderr
    assert "Traceback" not in bad_region.stderr
    bad_label = cli("validate", str(source), "--default-label", "{nope}")
    assert bad_label.returncode == 2
    assert "Traceback" not in bad_label.stderr
    click_error = cli("run", str(source), "--concurrency", "0")
    assert click_error.returncode == 2


def test_report_path_problems(tmp_path: Path) -> None:
    """A report in a missing folder, or the input itself as report, is refused before anything."""
    source = write(tmp_path / "in.csv", "number\n+14155552671\n")
    one_line_error(
        cli("validate", str(source), "--report", str(tmp_path / "no" / "r.csv")),
        f"cannot write {tmp_path / 'no' / 'r.csv'}: folder {tmp_path / 'no'} does not exist",
    )
    one_line_error(
        cli("validate", str(source), "--report", str(source)),
        f"--report {source} is the input file itself; choose another report path",
    )
    assert source.read_text() == "number\n+14155552671\n"
    folder = cli("validate", str(source), "--report", str(tmp_path))
    assert folder.returncode == 2
    assert "is a directory" in folder.stderr
    assert "Traceback" not in folder.stderr


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--report", "", "Invalid value for '--report': an empty path: name a file"),
        ("--summary-json", " ", "Invalid value for '--summary-json': an empty path: name a file"),
        ("--html", "", "Invalid value for '--html': an empty path: name a file"),
        ("--rate", "nan", "bulk-import: error: --rate nan: must be a number above 0"),
        ("--timeout", "NaN", "bulk-import: error: --timeout nan: must be a number above 0"),
    ],
)
def test_an_empty_output_path_or_a_nan_is_exit_2(
    tmp_path: Path, option: str, value: str, expected: str
) -> None:
    """--report= (an empty path, which Path() reads as the folder), and NaN for a number above
    0 (which click's FloatRange lets through), are refused: exit 2, no traceback, nothing sent."""
    source = write(tmp_path / "in.csv", "number\n+14155552671\n")
    report = () if option == "--report" else ("--report", str(tmp_path / "r.csv"))
    given = (f"{option}={value}", "--provider-id", "p", "--base-url", "http://127.0.0.1:9")
    result = cli("run", str(source), *report, *given, env={"CARTESIA_API_KEY": "sk_x"})
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert expected in result.stderr.strip().splitlines()[-1]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.csv"]


@pytest.mark.parametrize(
    ("args", "report"),
    [
        (("run", "fleet.csv"), "fleet.report.csv"),
        (("reconcile", "fleet.csv"), "fleet.reconcile.csv"),
        (("retry-patch", "fleet.report.csv"), "fleet.report.csv"),  # REPORT itself
        (("run", ""), ""),
    ],
    ids=["run", "reconcile", "retry-patch", "no-input"],
)
def test_a_command_refused_before_it_starts_names_its_own_report(
    tmp_path: Path, args: tuple[str, ...], report: str
) -> None:
    """No API key: the summary JSON of the refusal names the report that command writes."""
    done = subprocess.run(
        [sys.executable, "-m", "bulk_import", *args, "--summary-json", "s.json"],
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if not k.startswith("CARTESIA_")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    summary = json.loads((tmp_path / "s.json").read_text())
    assert (summary["report"], summary["exit_code"]) == (report or ".", 2)


def test_run_needs_a_key_and_a_safe_url(tmp_path: Path) -> None:
    """No key, an empty key file, plain http off loopback: exit 2 before any network."""
    source = write(tmp_path / "in.csv", "number\n+14155552671\n")
    one_line_error(
        cli("run", str(source), "--provider-id", "p"),
        "no API key: set CARTESIA_API_KEY, or pass --api-key-file PATH ('-' reads stdin)",
    )
    empty = write(tmp_path / "key", "\n")
    one_line_error(
        cli("run", str(source), "--api-key-file", str(empty)),
        f"--api-key-file {empty} holds no API key",
    )
    one_line_error(
        cli("run", str(source), "--api-key-file", str(tmp_path / "missing")),
        f"cannot read --api-key-file {tmp_path / 'missing'}: No such file or directory",
    )
    result = cli(
        "run", str(source), "--base-url", "http://api.example.com", env={"CARTESIA_API_KEY": "k"}
    )
    assert result.returncode == 2
    assert "refusing plain http:// to api.example.com" in result.stderr
    bad = cli("run", str(source), "--base-url", "ftp://x", env={"CARTESIA_API_KEY": "k"})
    assert bad.returncode == 2
    assert "is not an http(s) URL" in bad.stderr
    both = cli("run", "-", "--api-key-file", "-")
    one_line_error(both, "INPUT and --api-key-file cannot both be '-' (stdin)")


def test_retry_patch_refuses_a_file_that_is_not_a_report(tmp_path: Path) -> None:
    """retry-patch on a plain CSV is exit 2, naming the expected header."""
    source = write(tmp_path / "in.csv", "number\n+14155552671\n")
    result = cli(
        "retry-patch",
        str(source),
        env={"CARTESIA_API_KEY": "k", "CARTESIA_BASE_URL": "http://127.0.0.1:9"},
    )
    assert result.returncode == 2
    assert "is not a bulk-import report" in result.stderr


def test_internal_error_is_one_line_exit_4(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug is one line and exit 4; --debug adds the traceback."""

    def boom(**_: object) -> None:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(validate_job, "validate", boom)
    source = write(tmp_path / "in.csv", "number\n+14155552671\n")
    runner = CliRunner()
    result = runner.invoke(main, ["validate", str(source), "--report", str(tmp_path / "r.csv")])
    assert result.exit_code == 4
    assert "internal error: RuntimeError: kaboom" in result.output
    assert "Traceback" not in result.output
    debug = runner.invoke(
        main, ["validate", str(source), "--debug", "--report", str(tmp_path / "r.csv")]
    )
    assert debug.exit_code == 4
    assert "Traceback" in debug.output


def test_debug_shows_traceback_for_usage_errors(tmp_path: Path) -> None:
    """--debug prints the traceback of an input error before its one line."""
    result = cli("validate", str(tmp_path / "nope.csv"), "--debug")
    assert result.returncode == 2
    assert "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("bulk-import: error: ")


def test_every_command_has_help() -> None:
    """Every command answers --help with exit 0."""
    runner = CliRunner()
    for name in ("run", "validate", "retry-patch", "reconcile", "sandbox"):
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0, name
        assert "Usage: main " + name in result.output or f" {name} " in result.output
    assert runner.invoke(main, ["--version"]).exit_code == 0


def test_python_m_is_the_same_command() -> None:
    """`python -m bulk_import --help` names the program bulk-import."""
    result = cli("--help")
    assert result.returncode == 0
    assert "Usage: bulk-import" in result.stdout
    for name in ("run", "validate", "retry-patch", "reconcile", "sandbox"):
        assert name in result.stdout


def test_entry_turns_an_early_ctrl_c_into_exit_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Ctrl-C outside a command (while starting) is exit 130 with one line, not "Aborted!"."""
    from bulk_import import cli as cli_module

    def abort(**_: object) -> None:
        raise click.exceptions.Abort

    monkeypatch.setattr(cli_module.main, "main", abort)
    with pytest.raises(SystemExit) as exited:
        cli_module.entry()
    assert exited.value.code == 130
    assert capsys.readouterr().err == "bulk-import: interrupted\n"


def test_entry_shows_click_usage_errors_with_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The script entry shows click's usage errors and exits 2."""
    from bulk_import import cli as cli_module

    monkeypatch.setattr(sys, "argv", ["bulk-import", "bogus"])
    with pytest.raises(SystemExit) as exited:
        cli_module.entry()
    assert exited.value.code == 2
    assert "No such command 'bogus'" in capsys.readouterr().err


# -- start-up: a dozen numbers pay for nothing they do not use ---------------------------------

LOADED = """
import sys
from bulk_import.cli import entry

sys.argv = ["bulk-import", *sys.argv[1:]]
try:
    entry()
except SystemExit:
    pass
print("LOADED", sorted(sys.modules))
"""
#: What --help and a small validate never need: the network, pandas, the sandbox, a terminal's
#: progress bar, the spreadsheet reader (for a CSV), the processes of a large file's parsing.
NOT_FOR_A_DOZEN = (
    "aiohttp",
    "httpx",
    "httpx_aiohttp",
    "pandas",
    "numpy",
    "tenacity",
    "tqdm",
    "xlsxwriter",
    "python_calamine",
    "concurrent.futures.process",
    "bulk_import.sandbox",
    "bulk_import.api.http",
    "bulk_import.api.cartesia",
)


def loaded_modules(*args: str, cwd: Path) -> list[str]:
    """Run the CLI with ``args`` in a fresh interpreter; return the heavy modules it imported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CARTESIA_", "TWILIO_"))}
    done = subprocess.run(
        [sys.executable, "-c", LOADED, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    line = next(line for line in done.stdout.splitlines() if line.startswith("LOADED "))
    modules: list[str] = eval(line[len("LOADED ") :])  # noqa: S307 - our own print of a list
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in NOT_FOR_A_DOZEN)]


def test_help_and_a_small_validate_import_nothing_they_do_not_use(tmp_path: Path) -> None:
    """--help, each command's --help and validate of 10 rows leave the heavy modules unloaded."""
    rows = "".join(f"+1415555{i:04d},line {i}\n" for i in range(100, 110))
    write(tmp_path / "ten.csv", "number,label\n" + rows)
    assert loaded_modules("--help", cwd=tmp_path) == []
    for name in ("run", "validate", "retry-patch", "reconcile", "sandbox"):
        assert loaded_modules(name, "--help", cwd=tmp_path) == [], name
    args = ("validate", "ten.csv", "--provider-id", "p", "--quiet")
    assert loaded_modules(*args, cwd=tmp_path) == []
    assert (tmp_path / "ten.validate.csv").exists()
