"""The providers commands on real sockets: list, link, link again, refusals, an organisation.

Through click's runner in-process (``fast_retries`` applies), against the sandbox's Cartesia and
Twilio stand-ins over loopback. The organisation test is the issue's: a parent and 30
subaccounts (2 suspended, one whose key Cartesia refuses) linked with one command, then run.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from click.testing import CliRunner, Result
from conftest import Instrument, read_report

from bulk_import.cli import main
from bulk_import.sandbox import DEFAULT_API_KEY, Faults, RunningSandbox
from bulk_import.sandbox.twilio import (
    ACCOUNT_SID,
    API_KEY_SECRET,
    API_KEY_SID,
    AUTH_TOKEN,
    generated_number,
)

PARENT = ACCOUNT_SID
KEY = "cartesia-bulk-import"
TWILIO_VARS = (
    "TWILIO_ACCOUNT_SID",
    "TWILIO_API_KEY",
    "TWILIO_API_SECRET",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_BASE_URL",
)
UNLINKED = Faults(providers=(), twilio_accounts=(), twilio_numbers=3)

pytestmark = pytest.mark.usefixtures("fast_retries")


def sub(i: int) -> str:
    """Return the i-th subaccount's SID, as the stand-in makes them (1 first)."""
    return f"AC{i:032x}"


def env_for(
    sandbox: RunningSandbox, *, token: bool = False, **given: str | None
) -> dict[str, str | None]:
    """Return a run's environment: the stand-ins, and the parent's Main key (or its token)."""
    env: dict[str, str | None] = dict.fromkeys(TWILIO_VARS)
    env.update(
        CARTESIA_BASE_URL=sandbox.base_url,
        CARTESIA_API_KEY=DEFAULT_API_KEY,
        TWILIO_BASE_URL=sandbox.base_url,
    )
    if token:
        env.update(TWILIO_ACCOUNT_SID=PARENT, TWILIO_AUTH_TOKEN=AUTH_TOKEN)
    else:
        env.update(TWILIO_API_KEY=API_KEY_SID, TWILIO_API_SECRET=API_KEY_SECRET)
    env.update(given)
    return env


def invoke(*args: str, env: dict[str, str | None]) -> Result:
    """Run ``bulk-import ARGS`` in-process with ``env``."""
    return CliRunner().invoke(main, list(args), env=env)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every test in its own folder."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def unlinked() -> Iterator[RunningSandbox]:
    """Run a sandbox that links nothing yet, with the Twilio stand-in's parent account."""
    with RunningSandbox(faults=UNLINKED) as sandbox:
        yield sandbox


def provider_posts(sandbox: RunningSandbox) -> int:
    """Return the POSTs the sandbox received (links: the tests here import nothing)."""
    return int(sandbox.state.stats()["by_method"].get("POST", 0))


def test_link_then_link_again_names_the_provider_and_posts_once(unlinked: RunningSandbox) -> None:
    """link: exit 0 'linked now prov_...'; again: exit 0 'linked prov_...', found in the list."""
    first = invoke("providers", "link", f"twilio:{PARENT}", env=env_for(unlinked))
    assert first.exit_code == 0, first.output
    (line,) = first.stdout.splitlines()
    where, state, provider = line.split("  ")
    assert (where, state) == (f"twilio:{PARENT}:us1", "linked now")
    assert provider.startswith("prov_")
    assert first.stderr.splitlines() == ["providers link: 1 account: 1 linked now; exit 0"]
    again = invoke("providers", "link", "twilio:", env=env_for(unlinked, TWILIO_ACCOUNT_SID=PARENT))
    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines() == [f"twilio:{PARENT}:us1  linked  {provider}"]
    assert provider_posts(unlinked) == 1
    listed = invoke("providers", env=env_for(unlinked))
    assert listed.exit_code == 0
    head, row = listed.stdout.splitlines()
    assert head.split() == ["id", "type", "account", "SID", "region", "key"]
    assert row.split() == [provider, "twilio", PARENT, "us1", "SK" + "*" * 28 + "0000"]
    as_json = json.loads(invoke("providers", "--json", env=env_for(unlinked)).stdout)
    assert [p["id"] for p in as_json] == [provider]
    assert API_KEY_SECRET not in first.output + again.output + listed.output


def test_a_409_is_already_linked_naming_the_provider() -> None:
    """Linked already but not shown at first: the POST's 409 is exit 0 naming the provider."""
    faults = Faults(providers=(), twilio_accounts=(PARENT,), twilio_numbers=0)
    instrument = Instrument()
    route = "GET /agents/phone-numbers/providers"

    def hidden_once() -> web.Response:
        del instrument.answers[route]
        return web.json_response([])

    instrument.answers[route] = hidden_once
    with instrument.install(RunningSandbox(faults=faults)) as sandbox:
        result = invoke("providers", "link", f"twilio:{PARENT}", env=env_for(sandbox))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"twilio:{PARENT}:us1  linked  prov_")
    assert "(a link was made meanwhile (409))" in result.stdout
    assert instrument.count("POST", "/agents/phone-numbers/providers") == 1
    assert instrument.count("GET", "/agents/phone-numbers/providers") == 2


def test_a_wrong_secret_is_exit_2_in_one_line(unlinked: RunningSandbox) -> None:
    """Cartesia refusing the key (400): exit 2, one line quoting it, the secret never shown."""
    secret = "not-the-secret-7f3a"
    env = env_for(unlinked, TWILIO_API_SECRET=secret)
    result = invoke("providers", "link", f"twilio:{PARENT}", env=env)
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith(
        "bulk-import: error: Cartesia refused the API key from TWILIO_API_KEY and "
        f"TWILIO_API_SECRET for Twilio account {PARENT} (HTTP 400: Invalid credentials: "
    )
    assert line.endswith(
        f"check the key and its secret, and that the key was made in {PARENT} (or link with "
        "--create-keys and the account's auth token)"
    )
    assert secret not in result.output
    assert result.stdout == ""
    assert unlinked.state.store.providers() == []


def test_an_auth_token_alone_is_refused_with_the_fix(unlinked: RunningSandbox) -> None:
    """An auth token cannot be sent to Cartesia: exit 2 naming the fix; nothing is sent."""
    result = invoke("providers", "link", "twilio:", env=env_for(unlinked, token=True))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "bulk-import: error: Cartesia links a Twilio account with an API key, not the auth token "
        "from TWILIO_AUTH_TOKEN: make a Standard API key in the Twilio console (Account > API "
        "keys & tokens) and set TWILIO_API_KEY and TWILIO_API_SECRET (or pass "
        "--twilio-credentials-file holding KEY:SECRET), or add --create-keys to make one with "
        "the auth token"
    ]
    stats = unlinked.state.stats()
    assert (stats["requests"], stats["twilio_requests"]) == (0, 0)


def test_create_keys_with_the_token_links_one_account(unlinked: RunningSandbox) -> None:
    """--create-keys without --subaccounts: a key made in the named account, and linked."""
    result = invoke(
        "providers",
        "link",
        "twilio:",
        "--create-keys",
        "--region",
        "au1",
        "--json",
        env=env_for(unlinked, token=True),
    )
    assert result.exit_code == 0, result.output
    (link,) = json.loads(result.stdout)
    assert (link["account_sid"], link["region"], link["state"]) == (PARENT, "au1", "linked now")
    assert unlinked.state.twilio is not None
    (key,) = [k for k, name in unlinked.state.twilio.keys_of(PARENT) if name == KEY]
    assert key in link["detail"]


@pytest.mark.parametrize(
    ("args", "given", "line"),
    [
        (
            ["fleet.csv"],
            {},
            "bulk-import: error: providers link takes twilio:AC<32 hex> (or twilio: for "
            "TWILIO_ACCOUNT_SID), not 'fleet.csv'",
        ),
        (
            [f"twilio:{PARENT}"],
            {"CARTESIA_API_KEY": None},
            "bulk-import: error: no API key: set CARTESIA_API_KEY, or pass --api-key-file PATH "
            "('-' reads stdin)",
        ),
        (
            [f"twilio:{PARENT}"],
            {"TWILIO_API_KEY": None, "TWILIO_API_SECRET": None},
            f"bulk-import: error: no Twilio credentials for twilio:{PARENT}: set TWILIO_API_KEY "
            "and TWILIO_API_SECRET (an API key, as Twilio advises), or TWILIO_AUTH_TOKEN, or "
            "pass --twilio-credentials-file PATH (KEY:SECRET or the auth token)",
        ),
    ],
    ids=["not-twilio", "no-cartesia-key", "no-twilio-credentials"],
)
def test_bad_usage_is_one_line_and_exit_2(
    unlinked: RunningSandbox, args: list[str], given: dict[str, str | None], line: str
) -> None:
    """A target that is no twilio: account, no key, no credentials: exit 2, one line."""
    env = env_for(unlinked)
    env.update(given)
    result = invoke("providers", "link", *args, env=env)
    assert (result.exit_code, result.stderr.splitlines()) == (2, [line])
    assert unlinked.state.stats()["requests"] == 0


def test_a_group_option_before_link_says_where_it_goes(unlinked: RunningSandbox) -> None:
    """providers --json link ...: exit 2 naming where --json goes."""
    result = invoke("providers", "--json", "link", f"twilio:{PARENT}", env=env_for(unlinked))
    assert result.exit_code == 2
    assert "--json belongs after the command: bulk-import providers link ... --json" in (
        result.output
    )


def test_a_refused_cartesia_key_stops_with_exit_3(unlinked: RunningSandbox) -> None:
    """A Cartesia key refused (401): providers and link stop with exit 3, one line each."""
    env = env_for(unlinked, CARTESIA_API_KEY="sk_car_wrong")
    listed = invoke("providers", "--quiet", env=env)
    assert listed.exit_code == 3
    assert listed.stderr.splitlines() == [
        f"bulk-import providers: exit 3: the API at {unlinked.base_url} refused the key (HTTP "
        "401); check CARTESIA_API_KEY or --api-key-file"
    ]
    linked = invoke("providers", "link", f"twilio:{PARENT}", "--quiet", env=env)
    assert linked.exit_code == 3
    assert linked.stderr.splitlines() == [
        "bulk-import providers link: exit 3: stopped early: the API at "
        f"{unlinked.base_url} refused the key (HTTP 401); check CARTESIA_API_KEY or "
        "--api-key-file"
    ]


def test_no_provider_yet_says_how_to_link_one(unlinked: RunningSandbox) -> None:
    """An empty list: exit 0, nothing on stdout, the command that links one on stderr."""
    result = invoke("providers", env=env_for(unlinked))
    assert (result.exit_code, result.stdout) == (0, "")
    assert "bulk-import providers link twilio:AC... links one" in result.stderr
    assert invoke("providers", "--json", env=env_for(unlinked)).stdout.strip() == "[]"


# -- an organisation: a parent and 30 subaccounts -------------------------------------------------

SUSPENDED = (5, 18)
REFUSED = 10
PER_ACCOUNT = 4
ORG = Faults(
    providers=(),
    twilio_accounts=(),
    twilio_numbers=PER_ACCOUNT,
    twilio_subaccounts=tuple(
        {"status": "suspended" if i in SUSPENDED else "active", "numbers": PER_ACCOUNT}
        for i in range(1, 31)
    ),
    link_refusals={sub(REFUSED): 1},
)


def holders() -> dict[str, str]:
    """Return which account holds each number the organisation's active accounts list."""
    sids = [PARENT, *(sub(i) for i in range(1, 31))]
    held = {}
    for k, sid in enumerate(sids):
        if k in SUSPENDED:
            continue
        for j in range(PER_ACCOUNT):
            held[generated_number(k * PER_ACCOUNT + j)[0]] = sid
    return held


def test_an_organisation_is_linked_with_one_command_then_run() -> None:
    """30 subaccounts, 2 suspended, 1 refused: 29 keys made, 28 linked, the refused one deleted.

    The run then refuses to start naming the one account not linked and its command; linking
    again links it (the others are left as they are), and the run imports every number of
    every active account with its own provider.
    """
    instrument = Instrument()
    with instrument.install(RunningSandbox(faults=ORG)) as sandbox:
        env = env_for(sandbox, token=True)
        org = sandbox.state.twilio
        assert org is not None
        plan = invoke("providers", "link", "twilio:", "--subaccounts", env=env)
        assert plan.exit_code == 0, plan.output
        assert Counter(line.split("  ")[1] for line in plan.stdout.splitlines()) == {
            "not linked": 29,
            "skipped": 2,
        }
        assert org.counts()["twilio_keys"] == 0
        assert provider_posts(sandbox) == 0

        linked = invoke("providers", "link", "twilio:", "--subaccounts", "--create-keys", env=env)
        assert linked.exit_code == 1, linked.output
        lines = linked.stdout.splitlines()
        assert [line.split("  ")[0] for line in lines] == [
            f"twilio:{sid}:us1" for sid in [PARENT, *(sub(i) for i in range(1, 31))]
        ]
        states = Counter(line.split("  ")[1] for line in lines)
        assert states == {"linked now": 28, "failed": 1, "skipped": 2}
        assert linked.stderr.splitlines()[-1] == (
            "providers link: 31 accounts: 28 linked now, 1 failed, 2 skipped; exit 1"
        )
        refused = lines[REFUSED]
        assert refused.startswith(f"twilio:{sub(REFUSED)}:us1  failed  (Cartesia refused the key")
        assert refused.endswith("the key made was deleted again)")
        assert instrument.count("POST", "/2010-04-01/Accounts/") == 29  # keys made
        assert instrument.count("DELETE", "/2010-04-01/Accounts/") == 1  # the refused one
        providers = {p["account_sid"]: p for p in sandbox.state.store.providers()}
        for k, sid in enumerate([PARENT, *(sub(i) for i in range(1, 31))]):
            keys = [key for key, name in org.keys_of(sid) if name == KEY]
            if k in SUSPENDED or k == REFUSED:
                assert keys == [], sid  # no orphaned key
                assert sid not in providers
            else:
                (key,) = keys
                assert providers[sid]["api_key_sid"][-4:] == key[-4:]
        assert org.counts()["twilio_keys"] == 28

        run_args = ("run", "twilio:", "--subaccounts", "--agent-id", "agent_sandbox")
        refused_run = invoke(*run_args, env=env)
        assert refused_run.exit_code == 2
        assert refused_run.stderr.splitlines()[0] == (
            f"bulk-import: error: Twilio account {sub(REFUSED)} (us1) is not linked in the "
            "Cartesia account; nothing was sent; link it: bulk-import providers link "
            f"twilio:{sub(REFUSED)} --region us1 (or check --twilio-account-sid, --region and "
            "the account_sid / region columns)"
        )
        # The 29 links tried (28 taken, 1 refused), and not one import.
        assert instrument.count("POST", "/agents/phone-numbers") == 29

        again = invoke("providers", "link", "twilio:", "--subaccounts", "--create-keys", env=env)
        assert again.exit_code == 0, again.output
        assert Counter(line.split("  ")[1] for line in again.stdout.splitlines()) == {
            "linked": 28,
            "linked now": 1,
            "skipped": 2,
        }
        assert org.counts()["twilio_keys"] == 29

        done = invoke(*run_args, "--summary-json", "s.json", env=env)
        assert done.exit_code == 0, done.output
        stored = sandbox.state.numbers
    held = holders()
    assert len(held) == 29 * PER_ACCOUNT
    assert {n: v["provider"]["account_sid"] for n, v in stored.items()} == held
    report = read_report(Path(f"twilio-{PARENT}.report.csv"))
    assert [line["number"] for line in report] == list(held)
    assert [line["provider"] for line in report] == [f"twilio:{s}:us1" for s in held.values()]
    summary = json.loads(Path("s.json").read_text())
    assert summary["twilio"]["skipped"] == {"suspended": 2}
    assert summary["twilio"]["accounts_read"] == 29
    assert "2 suspended skipped" in done.stderr
