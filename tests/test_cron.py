"""examples/crontab and examples/nightly.sh as cron runs them: env -i, cron's PATH, no TTY.

The crontab's lines are read as cron reads them (its ``NAME=value`` lines set the job's
environment, on top of cron's own ``PATH=/usr/bin:/bin``, ``HOME``, ``SHELL=/bin/sh``), with
``/opt/bulk-import`` standing for a folder that holds this checkout's ``examples/`` and a venv
whose ``bin/bulk-import`` is this environment's, and the job runs under ``/bin/sh -c``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, numbers, read_report, write_input

from bulk_import.sandbox import DEFAULT_API_KEY, RunningSandbox

CRON_PATH = "/usr/bin:/bin"


def install(tmp: Path, *, venv: bool = True) -> Path:
    """Lay out /opt/bulk-import: examples/ (the scripts), and .venv/bin/bulk-import."""
    opt = tmp / "opt" / "bulk-import"
    (opt / "examples").mkdir(parents=True)
    for name in ("nightly.sh", "crontab"):
        shutil.copy2(ROOT / "examples" / name, opt / "examples" / name)
    if venv:
        (opt / ".venv" / "bin").mkdir(parents=True)
        (opt / ".venv" / "bin" / "bulk-import").symlink_to(
            Path(sys.executable).parent / "bulk-import"
        )
    return opt


def cron_job(opt: Path, *, fleet: Path, keep_path: bool = True) -> tuple[dict[str, str], str]:
    """Return the crontab's environment and its first job's command, pointed at ``opt``."""
    text = (opt / "examples" / "crontab").read_text()
    text = text.replace("/opt/bulk-import", str(opt)).replace(
        "/srv/telephony/fleet.csv", str(fleet)
    )
    text = text.replace("prov_123", "prov_sandbox").replace("agent_123", "agent_sandbox")
    env: dict[str, str] = {}
    jobs = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, equals, value = line.partition("=")
        if equals and " " not in name.strip():
            if name.strip() != "PATH" or keep_path:
                env[name.strip()] = value.strip()
        else:
            jobs.append(line.split(None, 5)[5])
    return env, jobs[0]


def run_as_cron(
    command: str, crontab_env: dict[str, str], *, home: Path, extra: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run one crontab command as cron does: env -i, its PATH unless the crontab sets one."""
    env = {"PATH": CRON_PATH, "HOME": str(home), "SHELL": "/bin/sh", "LOGNAME": "cron"}
    env |= crontab_env | extra
    return subprocess.run(
        ["/usr/bin/env", "-i", *(f"{k}={v}" for k, v in env.items()), "/bin/sh", "-c", command],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    """Write a fleet file that names no provider: the crontab's PROVIDER must supply it."""
    return write_input(tmp_path / "fleet.csv", numbers(3))


@pytest.mark.parametrize("found", ["crontab PATH", "clone's .venv"])
def test_the_crontab_line_imports_the_fleet_quietly(
    tmp_path: Path, fleet: Path, found: str
) -> None:
    """As cron runs it: bulk-import found, PROVIDER passed, nothing printed, the summary linked."""
    opt = install(tmp_path)
    crontab_env, command = cron_job(opt, fleet=fleet, keep_path=found == "crontab PATH")
    key = tmp_path / "key"
    key.write_text(DEFAULT_API_KEY + "\n")
    out = tmp_path / "out"
    with RunningSandbox() as sandbox:
        extra = {"OUT": str(out), "KEY_FILE": str(key), "CARTESIA_BASE_URL": sandbox.base_url}
        done = run_as_cron(command, crontab_env, home=tmp_path, extra=extra)
        assert sandbox.state.stats()["stored"] == 3
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == ("", "")  # cron mails nothing
    latest = out / "latest.json"
    assert latest.is_symlink()
    summary = json.loads(latest.read_text())
    assert (summary["exit_code"], summary["counts"]) == (0, {"imported": 3})
    [report] = out.glob("reconcile-*.report.csv")
    assert {line["provider"] for line in read_report(report)} == {"prov_sandbox"}


def test_no_bulk_import_anywhere_says_so_and_leaves_no_dangling_link(
    tmp_path: Path, fleet: Path
) -> None:
    """Not on cron's PATH, no .venv: exit 127, one line naming the fix, latest.json untouched."""
    opt = install(tmp_path, venv=False)
    crontab_env, command = cron_job(opt, fleet=fleet, keep_path=False)
    out = tmp_path / "out"
    out.mkdir()
    (out / "reconcile-2026-01-01.json").write_text('{"exit_code": 0}')
    (out / "latest.json").symlink_to("reconcile-2026-01-01.json")
    done = run_as_cron(command, crontab_env, home=tmp_path, extra={"OUT": str(out)})
    assert done.returncode == 127
    assert done.stderr.startswith("nightly.sh: bulk-import not found on PATH (/usr/bin:/bin)")
    assert len(done.stderr.splitlines()) == 1
    assert os.readlink(out / "latest.json") == "reconcile-2026-01-01.json"
    assert json.loads((out / "latest.json").read_text()) == {"exit_code": 0}


def test_a_refused_key_mails_one_line_and_links_its_summary(tmp_path: Path, fleet: Path) -> None:
    """A key the API refuses: exit 3, the one line cron mails, and the summary saying why."""
    opt = install(tmp_path)
    crontab_env, command = cron_job(opt, fleet=fleet)
    key = tmp_path / "key"
    key.write_text("sk_car_wrong\n")
    out = tmp_path / "out"
    with RunningSandbox() as sandbox:
        extra = {"OUT": str(out), "KEY_FILE": str(key), "CARTESIA_BASE_URL": sandbox.base_url}
        done = run_as_cron(command, crontab_env, home=tmp_path, extra=extra)
    assert done.returncode == 3
    assert len(done.stderr.splitlines()) == 1
    assert "exit 3: stopped early" in done.stderr
    assert json.loads((out / "latest.json").read_text())["exit_code"] == 3


def test_a_fleet_without_a_provider_mails_the_fix(tmp_path: Path, fleet: Path) -> None:
    """No PROVIDER and no provider column: the one line cron mails names --provider-id."""
    opt = install(tmp_path)
    crontab_env, command = cron_job(opt, fleet=fleet)
    key = tmp_path / "key"
    key.write_text(DEFAULT_API_KEY + "\n")
    out = tmp_path / "out"
    with RunningSandbox() as sandbox:
        extra = {"OUT": str(out), "KEY_FILE": str(key), "CARTESIA_BASE_URL": sandbox.base_url}
        done = run_as_cron(
            command.replace("PROVIDER=prov_sandbox ", ""), crontab_env, home=tmp_path, extra=extra
        )
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert line.startswith(f"bulk-import reconcile {fleet}: exit 1: 3 invalid (report {out}/")
    assert line.endswith(
        "; 3 rows name no provider: pass --provider-id or add a provider_id column"
    )
