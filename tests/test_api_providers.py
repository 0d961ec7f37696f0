"""The providers check before the first import: an unknown provider or account is exit 2."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from conftest import Instrument, api_options, numbers, output_options, read_report, write_input

from bulk_import.api.cartesia import CartesiaApi
from bulk_import.api.control import StopControl
from bulk_import.api.providers import (
    MAX_ACCOUNT_CHECKS,
    Holding,
    LookUp,
    look_up_providers,
    read_holding,
)
from bulk_import.config import InputOptions
from bulk_import.errors import UsageError
from bulk_import.jobs.importing import run as run_job
from bulk_import.jobs.reconcile import reconcile
from bulk_import.models import Provider, Summary
from bulk_import.sandbox import Faults, RunningSandbox

SID = "AC" + "0123456789abcdef" * 2
OTHER_SID = "AC" + "fedcba9876543210" * 2


def run_rows(tmp_path: Path, sandbox: RunningSandbox, inputs: InputOptions) -> None:
    """Import three rows with these input options."""
    run_job(
        source=str(write_input(tmp_path / "in.csv", numbers(3))),
        input_options=inputs,
        api=api_options(sandbox.base_url),
        output=output_options(tmp_path / "in.report.csv"),
    )


def test_an_unknown_provider_id_is_exit_2_before_any_post(tmp_path: Path) -> None:
    """--provider-id prov_nope: one line naming it and the account's providers; no POST."""
    with RunningSandbox() as sandbox:
        with pytest.raises(UsageError) as caught:
            run_rows(tmp_path, sandbox, InputOptions(provider_id="prov_nope"))
        stats = sandbox.state.stats()
    assert str(caught.value) == (
        "provider prov_nope is not in the Cartesia account (its providers: prov_sandbox); "
        "check --provider-id or the provider_id column; nothing was sent"
    )
    assert stats["by_method"] == {"GET": 2}  # the check of the key, then the providers list
    assert not (tmp_path / "in.report.csv").exists()


def test_an_unknown_provider_in_a_row_is_found_too(tmp_path: Path) -> None:
    """A provider_id column naming an unknown provider stops the run before the first row."""
    source = tmp_path / "in.csv"
    given = numbers(3)
    source.write_text(
        "number,provider_id\n" + f"{given[0]},prov_sandbox\n{given[1]},prov_gone\n{given[2]},\n"
    )
    with RunningSandbox() as sandbox:
        with pytest.raises(UsageError, match="provider prov_gone is not in the Cartesia account"):
            run_job(
                source=str(source),
                input_options=InputOptions(provider_id="prov_sandbox"),
                api=api_options(sandbox.base_url),
                output=output_options(tmp_path / "r.csv"),
            )
        assert sandbox.state.stats()["by_method"].get("POST", 0) == 0


def test_an_unlinked_twilio_account_or_region_is_exit_2(tmp_path: Path) -> None:
    """A Twilio account the Cartesia account has not linked is refused before the first row."""
    faults = Faults(twilio_accounts=(SID,))
    with RunningSandbox(faults=faults) as sandbox:
        with pytest.raises(UsageError) as caught:
            run_rows(tmp_path, sandbox, InputOptions(twilio_account_sid=OTHER_SID))
        assert str(caught.value) == (
            f"Twilio account {OTHER_SID} (us1) is not linked in the Cartesia account; nothing was "
            f"sent; link it: bulk-import providers link twilio:{OTHER_SID} --region us1 (or "
            "check --twilio-account-sid, --region and the account_sid / region columns)"
        )
        run_rows(tmp_path, sandbox, InputOptions(twilio_account_sid=SID, region="ie1"))
        assert sandbox.state.stats()["stored"] == 3
    assert {line["status"] for line in read_report(tmp_path / "in.report.csv")} == {"imported"}


def not_offered() -> web.Response:
    """Answer as an API without a providers list would."""
    return web.json_response({"title": "Not found"}, status=404)


def test_an_api_without_a_providers_list_is_not_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No providers list (404): the check says it was skipped and the rows go on."""
    instrument = Instrument(answers={"GET /agents/phone-numbers/providers": not_offered})
    with instrument.install(RunningSandbox()) as sandbox:
        summary = run_job(
            source=str(write_input(tmp_path / "in.csv", numbers(3))),
            input_options=InputOptions(provider_id="prov_sandbox"),
            api=api_options(sandbox.base_url),
            output=output_options(tmp_path / "in.report.csv", quiet=False),
        )
        assert sandbox.state.stats()["stored"] == 3
    assert instrument.count("GET", "/agents/phone-numbers/providers") == 1
    assert summary.exit_code == 0
    assert "the API offers no providers list: providers are not checked" in capsys.readouterr().err


def test_reconcile_apply_checks_the_providers_reconcile_alone_does_not(tmp_path: Path) -> None:
    """Only --apply imports, so only --apply refuses an unknown provider up front."""
    source = write_input(tmp_path / "fleet.csv", numbers(2))
    with RunningSandbox() as sandbox:
        plain = reconcile(
            source=str(source),
            input_options=InputOptions(provider_id="prov_nope"),
            api=api_options(sandbox.base_url),
            output=output_options(tmp_path / "r.csv"),
        )
        assert plain.counts == {"missing": 2}
        with pytest.raises(UsageError, match="provider prov_nope is not in the Cartesia"):
            reconcile(
                source=str(source),
                input_options=InputOptions(provider_id="prov_nope"),
                api=api_options(sandbox.base_url),
                output=output_options(tmp_path / "r.csv"),
                apply=True,
            )
        assert sandbox.state.stats()["by_method"].get("POST", 0) == 0


def write_accounts(path: Path, pairs: list[tuple[str, str]]) -> Path:
    """Write a CSV whose rows name these Twilio accounts and regions, one number each."""
    given = numbers(len(pairs))
    lines = [f"{n},{sid},{region}" for n, (sid, region) in zip(given, pairs, strict=True)]
    path.write_text("number,account_sid,region\n" + "\n".join(lines) + "\n")
    return path


def sids(count: int, start: int = 1) -> list[str]:
    """Return ``count`` distinct well-formed account SIDs."""
    return [f"AC{i:032x}" for i in range(start, start + count)]


def run_accounts(tmp_path: Path, sandbox: RunningSandbox, pairs: list[tuple[str, str]]) -> Summary:
    """Import one row per (account, region) pair."""
    return run_job(
        source=str(write_accounts(tmp_path / "in.csv", pairs)),
        input_options=InputOptions(),
        api=api_options(sandbox.base_url),
        output=output_options(tmp_path / "in.report.csv", quiet=False),
    )


def test_every_unlinked_account_is_named_with_its_command(tmp_path: Path) -> None:
    """Three accounts (one linked only in us1, needed in ie1): one line, then each command."""
    linked, *others = sids(3)
    faults = Faults(twilio_accounts=(), providers=())
    instrument = Instrument()
    with instrument.install(RunningSandbox(faults=faults)) as sandbox:
        sandbox.state.store.link(linked, "us1", "SK" + "1" * 32)
        pairs = [(linked, "us1"), (linked, "ie1"), (others[1], "us1"), (others[0], "au1")]
        with pytest.raises(UsageError) as caught:
            run_accounts(tmp_path, sandbox, pairs)
    assert str(caught.value).splitlines() == [
        "3 Twilio accounts the rows need are not linked in the Cartesia account (or not in the "
        "region the rows name); nothing was sent; link each (a parent and its subaccounts at "
        "once: bulk-import providers link twilio:AC... --subaccounts --create-keys):",
        f"  bulk-import providers link twilio:{linked} --region ie1",
        f"  bulk-import providers link twilio:{others[0]} --region au1",
        f"  bulk-import providers link twilio:{others[1]} --region us1",
    ]
    # The check of the key, the whole list, and one look-up per account the list lacks.
    assert instrument.count("GET", "/agents/phone-numbers/providers") == 1 + 3
    assert instrument.count("POST") == 0


def test_two_hundred_linked_accounts_are_settled_by_one_get(tmp_path: Path) -> None:
    """Accounts the whole list shows need no call of their own: 200 accounts, one GET."""
    accounts = sids(200)
    instrument = Instrument()
    faults = Faults(twilio_accounts=tuple(accounts))
    with instrument.install(RunningSandbox(faults=faults)) as sandbox:
        summary = run_accounts(tmp_path, sandbox, [(sid, "us1") for sid in accounts])
    assert summary.counts == {"imported": 200}
    assert instrument.count("GET", "/agents/phone-numbers/providers") == 1


def test_past_the_cap_the_list_is_taken_at_its_word_once_a_look_up_agrees(tmp_path: Path) -> None:
    """25 unlinked accounts: 20 look-ups agree with the list; all 25 are named, none sent."""
    accounts = sids(25)
    instrument = Instrument()
    sandbox = instrument.install(RunningSandbox(faults=Faults(twilio_accounts=())))
    with sandbox, pytest.raises(UsageError) as caught:
        run_accounts(tmp_path, sandbox, [(sid, "us1") for sid in accounts])
    lines = str(caught.value).splitlines()
    assert lines[0].startswith("25 Twilio accounts the rows need are not linked")
    assert lines[1:] == [f"  bulk-import providers link twilio:{s} --region us1" for s in accounts]
    assert instrument.count("GET", "/agents/phone-numbers/providers") == 1 + MAX_ACCOUNT_CHECKS


def test_a_list_that_leaves_linked_accounts_out_is_not_trusted_past_the_cap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every SID linked, the list showing none: the 20 look-ups find them; the rest's rows tell."""
    accounts = sids(25)
    instrument = Instrument()
    with instrument.install(RunningSandbox()) as sandbox:
        summary = run_accounts(tmp_path, sandbox, [(sid, "us1") for sid in accounts])
    assert summary.counts == {"imported": 25}
    assert instrument.count("GET", "/agents/phone-numbers/providers") == 1 + MAX_ACCOUNT_CHECKS
    assert (
        "5 Twilio accounts the providers list does not show were not looked up one by one (at "
        "most 20); their rows will tell"
    ) in capsys.readouterr().err


async def test_a_look_up_tells_not_listed_from_could_not_look(fast_retries: None) -> None:
    """look_up_providers returns the list (empty: none linked) or why it could not be read (an
    error status, a body that is not the list, no answer), and never stops the run."""
    answers: Iterator[Callable[[], web.Response]] = iter(
        [
            lambda: web.json_response([]),
            lambda: web.json_response({"title": "Unavailable"}, status=503),
            lambda: web.json_response({"data": []}),
        ]
    )
    instrument = Instrument()

    def next_answer() -> web.Response:
        return next(answers)()

    instrument.answers["GET /agents/phone-numbers/providers"] = next_answer
    with instrument.install(RunningSandbox()) as sandbox:
        async with CartesiaApi(
            api_options(sandbox.base_url, max_attempts=1), control=StopControl()
        ) as api:
            found = [await look_up_providers(api, account_sid=SID) for _ in range(3)]
            assert not api.control.stopping
    async with CartesiaApi(
        api_options("http://127.0.0.1:9", max_attempts=1), control=StopControl()
    ) as api:
        unreachable = await look_up_providers(api, account_sid=SID)
        assert not api.control.stopping
    assert found[0] == LookUp([])
    assert found[1] == LookUp(None, "HTTP 503: Unavailable")
    assert found[2] == LookUp(None, "not a list")
    assert unreachable.providers is None
    assert unreachable.error


async def test_rollback_s_holding_says_which_providers_the_account_links() -> None:
    """read_holding: ids and Twilio accounts from the list, the accounts it does not show looked
    up one by one up to the cap (past it: may be linked), and a list that cannot be read leaves
    every provider possibly linked, never stopping the command."""
    linked, unlinked = sids(2)
    beyond = sids(MAX_ACCOUNT_CHECKS + 1, start=100)  # with unlinked: 2 past the cap
    asked = [Provider(id="prov_sandbox"), Provider(id="prov_gone")]
    asked += [Provider(account_sid=sid) for sid in (linked, unlinked, *beyond)]
    instrument = Instrument()
    with instrument.install(RunningSandbox(faults=Faults(twilio_accounts=(linked,)))) as sandbox:
        async with CartesiaApi(
            api_options(sandbox.base_url, max_attempts=1), control=StopControl()
        ) as api:
            holding = await read_holding(api, asked)
            looked = instrument.count("GET", "/agents/phone-numbers/providers")
            instrument.answers["GET /agents/phone-numbers/providers"] = not_offered
            unread = await read_holding(api, asked)
            assert not api.control.stopping
    assert looked == 1 + MAX_ACCOUNT_CHECKS
    said = [holding.links(p) for p in asked]
    assert said[:4] == [True, False, True, False]  # prov_sandbox, prov_gone, linked, unlinked
    assert said[4:] == [False] * (MAX_ACCOUNT_CHECKS - 1) + [True, True]
    assert holding.links(None)
    assert unread == Holding(
        unknown="the API offers no providers list: providers are not checked before the rows"
    )
    assert unread.links(Provider(id="prov_gone"))
