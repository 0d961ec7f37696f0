"""The CLI with a twilio: INPUT: options, credentials, every bad input's line and exit code.

Through click's runner in-process (``fast_retries`` applies), against the sandbox's Twilio
stand-in over loopback; one run goes through the real process with paging faults.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import assert_each_row_once, cli, cli_env, read_report

from bulk_import.cli import main
from bulk_import.sandbox import DEFAULT_API_KEY, Faults, RunningSandbox
from bulk_import.sandbox.twilio import (
    ACCOUNT_SID,
    API_KEY_SECRET,
    API_KEY_SID,
    AUTH_TOKEN,
    generated_number,
)

REPORT = f"twilio-{ACCOUNT_SID}.report.csv"
OTHER = "AC" + "f" * 32
TWILIO_VARS = (
    "TWILIO_ACCOUNT_SID",
    "TWILIO_API_KEY",
    "TWILIO_API_SECRET",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_BASE_URL",
)
KEY_ORIGIN = "TWILIO_API_KEY and TWILIO_API_SECRET"

pytestmark = pytest.mark.usefixtures("fast_retries")


@pytest.fixture
def fleet() -> Iterator[RunningSandbox]:
    """Run a sandbox whose Twilio account holds 2,500 numbers."""
    with RunningSandbox(faults=Faults(twilio_numbers=2500)) as sandbox:
        yield sandbox


def env_for(sandbox: RunningSandbox | None, **given: str | None) -> dict[str, str | None]:
    """Return the environment of a run: the stand-in's URLs and API key unless ``given`` says."""
    env: dict[str, str | None] = dict.fromkeys(TWILIO_VARS)
    env.update(CARTESIA_API_KEY=None, CARTESIA_BASE_URL=None)
    if sandbox is not None:
        env.update(
            TWILIO_BASE_URL=sandbox.base_url,
            CARTESIA_BASE_URL=sandbox.base_url,
            CARTESIA_API_KEY=DEFAULT_API_KEY,
            TWILIO_API_KEY=API_KEY_SID,
            TWILIO_API_SECRET=API_KEY_SECRET,
        )
    env.update(given)
    return env


def invoke(*args: str, env: dict[str, str | None]) -> Result:
    """Run ``bulk-import ARGS`` in-process with ``env``; the current folder is the test's."""
    return CliRunner().invoke(main, [*args, "--no-progress"], env=env)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every test in its own folder, where the default report goes."""
    monkeypatch.chdir(tmp_path)


def test_validate_bare_twilio_needs_no_cartesia_key(fleet: RunningSandbox) -> None:
    """validate twilio: with TWILIO_ACCOUNT_SID, no Cartesia key: the default report, 3 requests."""
    env = env_for(fleet, TWILIO_ACCOUNT_SID=ACCOUNT_SID, CARTESIA_API_KEY=None)
    result = invoke("validate", "twilio:", "--summary-json", "s.json", env=env)
    assert result.exit_code == 0, result.output
    assert f"listed 2,500 numbers of Twilio account {ACCOUNT_SID} (3 pages, 3 requests)" in (
        result.stderr
    )
    validated = f"twilio-{ACCOUNT_SID}.validate.csv"
    lines = read_report(Path(validated))
    assert_each_row_once(lines, 2500)
    assert {line["status"] for line in lines} == {"valid"}
    summary = json.loads(Path("s.json").read_text())
    assert (summary["input"], summary["report"], summary["requests"]) == ("twilio:", validated, 3)
    assert summary["options"]["twilio_credentials"] == f"the API key from {KEY_ORIGIN}"
    assert fleet.state.stats()["requests"] == 0


def test_run_and_reconcile_take_the_twilio_options(fleet: RunningSandbox) -> None:
    """run twilio:AC... imports the account; reconcile twilio:AC... finds it in sync.

    Each writes its own report: the run's record stays beside the reconcile's.
    """
    env = env_for(fleet)
    result = invoke("run", f"twilio:{ACCOUNT_SID}", "--agent-id", "agent_sandbox", env=env)
    assert result.exit_code == 0, result.output
    assert fleet.state.stats()["stored"] == 2500
    again = invoke("reconcile", f"twilio:{ACCOUNT_SID}", "--agent-id", "agent_sandbox", env=env)
    assert again.exit_code == 0, again.output
    reconciled = Path(f"twilio-{ACCOUNT_SID}.reconcile.csv")
    assert {line["status"] for line in read_report(reconciled)} == {"in_sync"}
    assert {line["status"] for line in read_report(Path(REPORT))} == {"imported"}


@pytest.mark.parametrize(
    ("content", "given"),
    [
        (f"{API_KEY_SID}:{API_KEY_SECRET}\n", {}),
        (f"  {ACCOUNT_SID} : {AUTH_TOKEN}  \n\n", {}),
        (f"{AUTH_TOKEN}\n", {}),
        (f"{AUTH_TOKEN}\n", {"TWILIO_ACCOUNT_SID": ACCOUNT_SID}),
    ],
    ids=["api-key", "account-and-token", "token-alone", "token-with-account-sid"],
)
def test_credentials_file_forms_are_read(
    fleet: RunningSandbox, tmp_path: Path, content: str, given: dict[str, str]
) -> None:
    """KEY:SECRET, ACCOUNT_SID:AUTH_TOKEN and the token alone all list; the file beats the env."""
    (tmp_path / "twilio.txt").write_text(content)
    env = env_for(fleet, TWILIO_API_SECRET="wrong", **given)
    result = invoke(
        "validate", f"twilio:{ACCOUNT_SID}", "--twilio-credentials-file", "twilio.txt", env=env
    )
    assert result.exit_code == 0, result.output


def test_auth_token_from_the_environment(fleet: RunningSandbox) -> None:
    """TWILIO_AUTH_TOKEN with TWILIO_ACCOUNT_SID lists the account (no API key set)."""
    env = env_for(
        fleet,
        TWILIO_API_KEY=None,
        TWILIO_API_SECRET=None,
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
    )
    assert invoke("validate", "twilio:", env=env).exit_code == 0


def test_twilio_base_url_option_beats_the_environment(fleet: RunningSandbox) -> None:
    """--twilio-base-url wins over TWILIO_BASE_URL."""
    env = env_for(fleet, TWILIO_BASE_URL="https://127.0.0.1:9")
    result = invoke(
        "validate", f"twilio:{ACCOUNT_SID}", "--twilio-base-url", fleet.base_url, env=env
    )
    assert result.exit_code == 0, result.output


NO_CREDENTIALS = (
    f"bulk-import: error: no Twilio credentials for twilio:{ACCOUNT_SID}: set TWILIO_API_KEY "
    "and TWILIO_API_SECRET (an API key, as Twilio advises), or TWILIO_AUTH_TOKEN, or pass "
    "--twilio-credentials-file PATH (KEY:SECRET or the auth token)"
)
BAD_INPUT = [
    (
        ["twillio:"],
        {},
        "bulk-import: error: unknown INPUT scheme 'twillio:': did you mean twilio:?",
    ),
    (
        ["twilio:AC12"],
        {},
        "bulk-import: error: INPUT twilio: AC12 is not a Twilio account SID (AC followed by 32 "
        "hexadecimal digits); copy the Account SID from the Twilio console",
    ),
    (
        ["twilio:"],
        {"TWILIO_ACCOUNT_SID": "AC-nope"},
        "bulk-import: error: TWILIO_ACCOUNT_SID AC-nope is not a Twilio account SID (AC "
        "followed by 32 hexadecimal digits); copy the Account SID from the Twilio console",
    ),
    (
        ["twilio:"],
        {},
        "bulk-import: error: INPUT twilio: names no account: set TWILIO_ACCOUNT_SID, or write "
        "twilio:AC<32 hex>",
    ),
    (
        [f"twilio:{ACCOUNT_SID}"],
        {"TWILIO_API_KEY": None, "TWILIO_API_SECRET": None},
        NO_CREDENTIALS,
    ),
    (
        [f"twilio:{ACCOUNT_SID}"],
        {"TWILIO_API_SECRET": None},
        "bulk-import: error: TWILIO_API_KEY is set but TWILIO_API_SECRET is not: set both (an "
        "API key and its secret), or unset TWILIO_API_KEY to use TWILIO_AUTH_TOKEN",
    ),
    (
        [f"twilio:{ACCOUNT_SID}"],
        {"TWILIO_API_KEY": None},
        "bulk-import: error: TWILIO_API_SECRET is set but TWILIO_API_KEY is not: set both (an "
        "API key and its secret), or unset TWILIO_API_SECRET to use TWILIO_AUTH_TOKEN",
    ),
    (
        [f"twilio:{ACCOUNT_SID}"],
        {"TWILIO_API_KEY": ACCOUNT_SID},
        "bulk-import: error: TWILIO_API_KEY is not an API key SID (SK followed by 32 "
        "hexadecimal digits); copy the key's SID from the Twilio console (API keys & tokens)",
    ),
    (
        [f"twilio:{ACCOUNT_SID}"],
        {"TWILIO_API_SECRET": "wrong"},
        f"bulk-import: error: Twilio refused the API key from {KEY_ORIGIN} for account "
        f"{ACCOUNT_SID} (HTTP 401, code 20003); check the credentials, and that they belong to "
        "this account or to its parent",
    ),
    (
        [f"twilio:{OTHER}"],
        {},
        f"bulk-import: error: Twilio knows no account {OTHER} for the API key from {KEY_ORIGIN} "
        "(HTTP 404, code 20404): the credentials belong to another account, or the SID is "
        f"mistyped; name the account they belong to (twilio:AC...), or use {OTHER}'s own API "
        "key (or its parent's account SID and auth token)",
    ),
    (
        [f"twilio:{ACCOUNT_SID}", "--twilio-base-url", "http://example.com"],
        {},
        "bulk-import: error: refusing plain http:// to example.com: credentials would cross "
        "the network unencrypted; use https:// in --twilio-base-url (plain http is allowed for "
        "loopback hosts only)",
    ),
    (
        [f"twilio:{ACCOUNT_SID}", "--sheet", "2"],
        {},
        "bulk-import: error: --sheet does not apply to a twilio: INPUT (each number is a row of "
        "its own, imported as twilio:<account_sid>:<region>); drop --sheet",
    ),
    (
        ["fleet.csv", "--twilio-credentials-file", "creds.txt"],
        {},
        "bulk-import: error: --twilio-credentials-file is for a twilio: INPUT, not 'fleet.csv'; "
        "drop it",
    ),
    (
        ["fleet.csv", "--twilio-base-url", "https://api.twilio.com"],
        {},
        "bulk-import: error: --twilio-base-url is for a twilio: INPUT, not 'fleet.csv'; drop it",
    ),
]


@pytest.mark.parametrize(("args", "given", "line"), BAD_INPUT)
@pytest.mark.parametrize("command", ["validate", "run", "reconcile"])
def test_bad_input_is_one_line_and_exit_2(
    fleet: RunningSandbox,
    tmp_path: Path,
    command: str,
    args: list[str],
    given: dict[str, str | None],
    line: str,
) -> None:
    """Each bad twilio: input: exit 2, its one line, no report, nothing sent to Cartesia."""
    (tmp_path / "fleet.csv").write_text("number\n+14155550100\n")
    result = invoke(command, *args, "--summary-json", "s.json", env=env_for(fleet, **given))
    assert (result.exit_code, result.stderr.splitlines()) == (2, [line])
    assert not Path(REPORT).exists()
    assert json.loads(Path("s.json").read_text())["error"] == line.removeprefix(
        "bulk-import: error: "
    )
    assert fleet.state.stats()["requests"] == 0


@pytest.mark.parametrize(
    ("content", "line"),
    [
        (None, "cannot read --twilio-credentials-file creds.txt: No such file or directory"),
        (
            "\n  \n",
            "--twilio-credentials-file creds.txt holds no credentials; write KEY:SECRET "
            "or the auth token",
        ),
        (
            "a\nb\n",
            "--twilio-credentials-file creds.txt holds 2 lines; write KEY:SECRET (or the "
            "auth token) on one line",
        ),
        (
            f"{API_KEY_SID}:\n",
            "--twilio-credentials-file creds.txt holds no secret after ':'; "
            "write KEY:SECRET on one line",
        ),
        (
            "sandbox_secret:SK00\n",
            "--twilio-credentials-file creds.txt: the part before ':' is "
            "neither an API key SID (SK + 32 hex) nor an account SID (AC + 32 hex); write "
            "KEY:SECRET, ACCOUNT_SID:AUTH_TOKEN, or the auth token alone",
        ),
        (
            f"{API_KEY_SID}:tab\there\n",
            "the Twilio API key from --twilio-credentials-file "
            "creds.txt holds a character an HTTP header cannot carry (a tab, a control or "
            "non-ASCII character); check it",
        ),
        (
            b"\xff\xfe",
            "--twilio-credentials-file creds.txt is not UTF-8 text; write KEY:SECRET on one line",
        ),
    ],
    ids=["missing", "empty", "two-lines", "no-secret", "swapped", "tab", "not-utf8"],
)
def test_bad_credentials_file_is_one_line_and_exit_2(
    fleet: RunningSandbox, tmp_path: Path, content: str | bytes | None, line: str
) -> None:
    """A credentials file that cannot be used says why in one line, quoting no part of it."""
    if isinstance(content, bytes):
        (tmp_path / "creds.txt").write_bytes(content)
    elif content is not None:
        (tmp_path / "creds.txt").write_text(content)
    args = ["validate", f"twilio:{ACCOUNT_SID}", "--twilio-credentials-file", "creds.txt"]
    result = invoke(*args, env=env_for(fleet))
    assert (result.exit_code, result.stderr.splitlines()) == (2, ["bulk-import: error: " + line])
    assert "sandbox_secret" not in result.stderr
    assert fleet.state.stats()["twilio_requests"] == 0


@pytest.mark.parametrize(
    ("step", "line"),
    [
        (
            "repeat_next",
            f"bulk-import: error: Twilio's listing of account {ACCOUNT_SID} does not advance at "
            "page 2: next_page_uri repeats a page already read; nothing was imported; try again "
            "later (a proxy in between may be rewriting pages)",
        ),
        (
            "not_json",
            f"bulk-import: error: page 2 of Twilio account {ACCOUNT_SID}'s numbers is not JSON "
            "(HTTP 200, text/html: <html><body><h1>502 Bad Gateway</h1>The proxy had no "
            "answer.</body></html>); check --twilio-base-url (env TWILIO_BASE_URL) and any "
            "proxy in between; nothing was imported",
        ),
    ],
)
def test_broken_paging_is_one_line_exit_2_nothing_imported(step: str, line: str) -> None:
    """A repeated next_page_uri or a page that is not JSON: exit 2, nothing sent to Cartesia."""
    faults = Faults(twilio_numbers=2500, twilio_faults={"1": (step,)})
    with RunningSandbox(faults=faults) as sandbox:
        result = invoke("run", f"twilio:{ACCOUNT_SID}", env=env_for(sandbox))
        stats = sandbox.state.stats()
    assert (result.exit_code, result.stderr.splitlines()) == (2, [line])
    assert stats["requests"] == 0
    assert not Path(REPORT).exists()


def test_run_without_a_cartesia_key_lists_nothing(fleet: RunningSandbox) -> None:
    """run twilio: with no Cartesia key stops at exit 2 before Twilio is asked anything."""
    result = invoke("run", f"twilio:{ACCOUNT_SID}", env=env_for(fleet, CARTESIA_API_KEY=None))
    assert result.exit_code == 2
    assert "no API key" in result.stderr
    assert fleet.state.stats()["twilio_requests"] == 0


def test_paging_faults_through_the_real_process(tmp_path: Path) -> None:
    """The CLI process survives a drop, a 429 and a 503 across the pages: 2,500 rows, each once."""
    faults = Faults(
        twilio_numbers=2500, twilio_faults={"0": ("drop", "drop"), "1": ("429",), "2": ("503",)}
    )
    with RunningSandbox(faults=faults) as sandbox:
        env = {
            **{k: v for k, v in cli_env(sandbox.base_url).items() if not k.startswith("TWILIO_")},
            "TWILIO_BASE_URL": sandbox.base_url,
            "TWILIO_API_KEY": API_KEY_SID,
            "TWILIO_API_SECRET": API_KEY_SECRET,
        }
        done = cli(
            "run", f"twilio:{ACCOUNT_SID}", "--summary-json", "s.json", env=env, cwd=tmp_path
        )
        stats = sandbox.state.stats()
    assert done.returncode == 0, done.stderr
    lines = read_report(tmp_path / REPORT)
    assert_each_row_once(lines, 2500)
    assert [line["number"] for line in lines] == [generated_number(i)[0] for i in range(2500)]
    assert stats["stored"] == 2500
    assert stats["twilio_by_status"] == {"dropped": 2, "429": 1, "503": 1, "200": 3}
    summary = json.loads((tmp_path / "s.json").read_text())
    # 3 pages and 3 retries (one drop is re-sent by aiohttp itself), the check of the key,
    # the check of the Twilio account among the providers, the POSTs.
    assert summary["requests"] == 6 + 1 + 1 + 2500
