"""Twilio's credentials never leak: a canary secret scanned in every output of every twilio: run.

The sandbox stays the real one; an aiohttp middleware in front of it maps the canary secret to
the stand-in's own (or answers as a server that quotes the secret back), so the canary is what
travels on the wire. Each command runs as a real process with ``--debug``, ``--summary-json``
and ``--html``; stdout, stderr and every file left in the folder are searched.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from conftest import cli, cli_env

from bulk_import.sandbox import Faults, RunningSandbox
from bulk_import.sandbox.twilio import ACCOUNT_SID, API_KEY_SECRET, API_KEY_SID, AUTH_TOKEN

CANARY = "tw_CANARY_93be1f_do_not_leak"
CANARY_PART = "CANARY_93be1f"
CARTESIA_CANARY = "sk_car_CANARY_a51c07"
SOURCE = f"twilio:{ACCOUNT_SID}"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def basic(user: str, password: str) -> str:
    """Return an HTTP Basic Authorization value."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class CanaryGate:
    """Let the canary secret through to the stand-in as its own, or quote it back on purpose."""

    def __init__(self, *, echo: bool = False) -> None:
        self.echo = echo
        self.seen = 0

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Swap the canary credentials for the stand-in's on Twilio's path."""
        if request.path.startswith("/2010-04-01/") and request.headers.get(
            "Authorization"
        ) == basic(API_KEY_SID, CANARY):
            self.seen += 1
            if self.echo:
                body = {"code": 20001, "message": f"bad secret {CANARY}", "status": 400}
                return web.json_response(body, status=400)
            headers = {**request.headers, "Authorization": basic(API_KEY_SID, API_KEY_SECRET)}
            request = request.clone(headers=headers)
        return await handler(request)


def start(gate: CanaryGate) -> RunningSandbox:
    """Start a sandbox of 1,100 Twilio numbers with the Cartesia canary key and the gate."""
    sandbox = RunningSandbox(faults=Faults(twilio_numbers=1100), api_key=CARTESIA_CANARY)
    sandbox.app.middlewares.append(gate.middleware)
    return sandbox.start()


def env_for(sandbox: RunningSandbox, **given: str) -> dict[str, str]:
    """Return the process environment: the canaries as the credentials."""
    env = cli_env(sandbox.base_url, key=CARTESIA_CANARY)
    env = {k: v for k, v in env.items() if not k.startswith("TWILIO_")}
    env.update(
        TWILIO_BASE_URL=sandbox.base_url, TWILIO_API_KEY=API_KEY_SID, TWILIO_API_SECRET=CANARY
    )
    env.update(given)
    return env


def assert_nowhere(folder: Path, *texts: str) -> None:
    """Say that no output and no file in ``folder`` holds the canary, raw or as Basic auth."""
    encoded = basic(API_KEY_SID, CANARY).split()[1]
    files = [p.read_text(errors="replace") for p in folder.iterdir() if p.name != "creds.txt"]
    for text in [*texts, *files]:
        assert CANARY_PART not in text, "the Twilio secret leaked"
        assert encoded not in text, "the Twilio credentials leaked as Basic auth"
        assert "CANARY_a51c07" not in text, "the Cartesia key leaked"


def outputs(name: str) -> list[str]:
    """Return the options every scanned run gets: the summary and the run page."""
    return ["--debug", "--summary-json", f"{name}.json", "--html", f"{name}.html"]


def test_secret_shows_nowhere_in_validate_run_and_reconcile(tmp_path: Path) -> None:
    """validate, run and reconcile --apply with --debug: the canary is in no output or file."""
    gate = CanaryGate()
    sandbox = start(gate)
    try:
        env = env_for(sandbox)
        texts: list[str] = []
        for name, args in (
            ("validate", ["validate", SOURCE]),
            ("run", ["run", SOURCE, "--agent-id", "agent_sandbox"]),
            ("reconcile", ["reconcile", SOURCE, "--apply"]),
        ):
            done = cli(*args, *outputs(name), env=env, cwd=tmp_path)
            assert done.returncode == 0, done.stderr
            texts += [done.stdout, done.stderr]
    finally:
        sandbox.stop()
    assert gate.seen == 3 * 2, "each command listed both pages with the canary"
    assert (tmp_path / f"twilio-{ACCOUNT_SID}.report.csv").exists()
    assert json.loads((tmp_path / "run.json").read_text())["counts"] == {"imported": 1100}
    assert_nowhere(tmp_path, *texts)


def test_secret_from_a_file_shows_nowhere(tmp_path: Path) -> None:
    """The canary read from --twilio-credentials-file shows in no output either."""
    gate = CanaryGate()
    sandbox = start(gate)
    (tmp_path / "creds.txt").write_text(f"{API_KEY_SID}:{CANARY}\n")
    try:
        env = env_for(sandbox, TWILIO_API_SECRET="")
        args = ["validate", SOURCE, "--twilio-credentials-file", "creds.txt"]
        done = cli(*args, *outputs("v"), env=env, cwd=tmp_path)
    finally:
        sandbox.stop()
    assert done.returncode == 0, done.stderr
    assert_nowhere(tmp_path, done.stdout, done.stderr)


@pytest.mark.parametrize("command", ["validate", "run", "reconcile"])
def test_refused_canary_shows_nowhere_with_a_debug_traceback(tmp_path: Path, command: str) -> None:
    """A refused canary (401) with --debug: the traceback and the line name it, never show it."""
    with RunningSandbox(faults=Faults(twilio_numbers=5), api_key=CARTESIA_CANARY) as sandbox:
        env = env_for(sandbox)
        done = cli(command, SOURCE, *outputs("x"), env=env, cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" in done.stderr
    assert "Twilio refused the API key from TWILIO_API_KEY and TWILIO_API_SECRET" in done.stderr
    assert json.loads((tmp_path / "x.json").read_text())["exit_code"] == 2
    assert (tmp_path / "x.html").exists()
    assert_nowhere(tmp_path, done.stdout, done.stderr)


def test_secret_quoted_back_by_the_server_is_masked(tmp_path: Path) -> None:
    """A server that quotes the secret in its error: the line says **** instead."""
    gate = CanaryGate(echo=True)
    sandbox = start(gate)
    try:
        done = cli("validate", SOURCE, *outputs("e"), env=env_for(sandbox), cwd=tmp_path)
    finally:
        sandbox.stop()
    assert done.returncode == 2
    assert "bad secret ****" in done.stderr
    assert_nowhere(tmp_path, done.stdout, done.stderr)


# -- an organisation: the parent's token, the keys made, and the link's secret --------------------

TOKEN_CANARY = "tok_CANARY_5e17c2_do_not_leak"
SUBS = [f"AC{i:032x}" for i in range(1, 5)]
ECHOED = SUBS[2]  # Cartesia's answer to this account's link quotes the secret back


class OrgGate:
    """Let the canary token through as the parent's; make one link's refusal quote its secret."""

    def __init__(self) -> None:
        self.seen = 0
        self.echoed: list[str] = []

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Swap the canary for the stand-in's token; answer ECHOED's link with its secret."""
        if request.headers.get("Authorization") == basic(ACCOUNT_SID, TOKEN_CANARY):
            self.seen += 1
            headers = {**request.headers, "Authorization": basic(ACCOUNT_SID, AUTH_TOKEN)}
            request = request.clone(headers=headers)
        if request.method == "POST" and request.path == "/agents/phone-numbers/providers":
            body = await request.json()
            if body.get("account_sid") == ECHOED:
                secret = body["api_key_secret"]
                self.echoed.append(secret)
                message = f"Twilio said no to {body['api_key_sid']}:{secret}"
                body = {"title": "Invalid credentials", "message": message}
                return web.json_response(body, status=400)
        return await handler(request)


def test_no_secret_of_an_organisation_shows_anywhere(tmp_path: Path) -> None:
    """providers, link --create-keys, validate and run --subaccounts with --debug: the parent's
    token, every key made, every token Accounts.json lists and the Cartesia key show nowhere,
    not even where Cartesia quotes a key's secret back."""
    faults = Faults(
        providers=(),
        twilio_accounts=(),
        twilio_numbers=20,
        twilio_subaccounts=tuple({"numbers": 30} for _ in SUBS),
    )
    gate = OrgGate()
    sandbox = RunningSandbox(faults=faults, api_key=CARTESIA_CANARY)
    sandbox.app.middlewares.append(gate.middleware)
    env = cli_env(None, key=CARTESIA_CANARY)
    env = {k: v for k, v in env.items() if not k.startswith("TWILIO_")}
    texts: list[str] = []
    with sandbox:
        env.update(
            CARTESIA_BASE_URL=sandbox.base_url,
            TWILIO_BASE_URL=sandbox.base_url,
            TWILIO_ACCOUNT_SID=ACCOUNT_SID,
            TWILIO_AUTH_TOKEN=TOKEN_CANARY,
        )
        link = ["providers", "link", "twilio:", "--subaccounts", "--create-keys", "--debug"]
        for name, args, code in (
            ("plan", ["providers", "link", "twilio:", "--subaccounts", "--debug"], 0),
            ("link", link, 1),
            ("list", ["providers", "--json", "--debug"], 0),
            ("validate", ["validate", "twilio:", "--subaccounts", *outputs("validate")], 0),
            ("run", ["run", "twilio:", "--subaccounts", *outputs("run")], 2),
        ):
            done = cli(*args, env=env, cwd=tmp_path)
            assert done.returncode == code, (name, done.stderr)
            texts += [done.stdout, done.stderr]
        org = sandbox.state.twilio
        assert org is not None
        secrets = org.all_secrets()
    assert gate.seen > 0, "the canary token reached Twilio"
    (echoed,) = gate.echoed
    assert "Twilio said no to SK" in texts[2]
    assert f":{echoed}" not in texts[2]
    assert ":****" in texts[2]
    assert len(secrets) >= 5 + 4  # every account's token, the keys made
    assert_nowhere(tmp_path, *texts)
    files = [p.read_text(errors="replace") for p in tmp_path.iterdir()]
    for secret in [*secrets, echoed, TOKEN_CANARY]:
        for text in [*texts, *files]:
            assert secret not in text, "a Twilio secret leaked"
