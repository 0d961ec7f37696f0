"""The link job's edges, on real sockets: keys left by a killed run, lost answers, refusals, stops.

Every test drives ``jobs.linking`` in-process against the sandbox's Cartesia and Twilio
stand-ins; the Twilio stand-in shows which keys exist afterwards, which is what must hold: no
key left behind that is not linked, none deleted that is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from aiohttp.typedefs import Middleware
from conftest import Instrument, api_options

from bulk_import.api.providers import may_be
from bulk_import.config import Secret, TwilioCredentials, TwilioOptions
from bulk_import.errors import UsageError
from bulk_import.jobs.linking import link_accounts, list_providers
from bulk_import.models import AccountLink, Exit, LinkState
from bulk_import.sandbox import Faults, RunningSandbox
from bulk_import.sandbox.twilio import ACCOUNT_SID, API_KEY_SECRET, API_KEY_SID, AUTH_TOKEN
from bulk_import.sandbox.twilio_store import TwilioOrg

KEY = "cartesia-bulk-import"
SUBS = [f"AC{i:032x}" for i in range(1, 6)]
LINKS = "/agents/phone-numbers/providers"

pytestmark = pytest.mark.usefixtures("fast_retries")


def org_faults(**extra: object) -> Faults:
    """Return a parent (no numbers) and five active subaccounts, none linked."""
    values: dict[str, object] = {
        "providers": (),
        "twilio_accounts": (),
        "twilio_numbers": 0,
        "twilio_subaccounts": tuple({"numbers": 1} for _ in SUBS),
    }
    values.update(extra)
    return Faults(**values)  # type: ignore[arg-type]


def twilio_options(
    sandbox: RunningSandbox, *, token: bool = True, subaccounts: bool = True
) -> TwilioOptions:
    """Return the parent's Twilio options: its auth token, or its Main key."""
    user, password, kind = (
        (ACCOUNT_SID, AUTH_TOKEN, "auth token")
        if token
        else (API_KEY_SID, API_KEY_SECRET, "API key")
    )
    credentials = TwilioCredentials(Secret(user), Secret(password), kind=kind, origin="tests")
    return TwilioOptions(
        account_sid=ACCOUNT_SID,
        credentials=credentials,
        base_url=sandbox.base_url,
        max_attempts=3,
        timeout=5.0,
        subaccounts=subaccounts,
        concurrency=4,
    )


def link(sandbox: RunningSandbox, **kw: object) -> tuple[int, list[AccountLink]]:
    """Link the organisation with keys made; return the exit code and the accounts, in order."""
    seen: list[AccountLink] = []
    options = twilio_options(sandbox, **{k: kw.pop(k) for k in ("token",) if k in kw})  # type: ignore[arg-type]
    report = link_accounts(
        twilio=options,
        api=api_options(sandbox.base_url, **kw),
        region="us1",
        create_keys=True,
        emit=seen.append,
    )
    assert seen == report.accounts
    return report.exit_code, report.accounts


def org_of(sandbox: RunningSandbox) -> TwilioOrg:
    org = sandbox.state.twilio
    assert org is not None
    return org


def named(org: TwilioOrg, sid: str) -> list[str]:
    """Return the account's keys named cartesia-bulk-import."""
    return [key for key, name in org.keys_of(sid) if name == KEY]


def test_a_key_no_provider_here_holds_is_kept_and_named() -> None:
    """An account holding a cartesia-bulk-import key but no link (a killed run's, or another
    Cartesia account's, which this one cannot see): it is kept and named, one new key linked."""
    with RunningSandbox(faults=org_faults()) as sandbox:
        org = org_of(sandbox)
        left = org.create_key(SUBS[0], KEY)["sid"]
        other = org.create_key(SUBS[0], "someone else's")["sid"]
        code, accounts = link(sandbox)
        keys = named(org, SUBS[0])
        assert [k for k, _ in org.keys_of(SUBS[0])] == [left, other, keys[1]]
    assert code == Exit.OK
    line = accounts[1]
    assert (line.account_sid, line.state) == (SUBS[0], LinkState.LINKED_NOW)
    assert line.detail == (
        f"new API key {keys[1]} named {KEY}; kept 1 older key(s) named {KEY} that no provider "
        f"of this Cartesia account holds (a killed run's, or another Cartesia account's): {left}; "
        "delete those no Cartesia account uses in the Twilio console"
    )


def test_a_key_another_region_may_be_using_is_kept() -> None:
    """A cartesia-bulk-import key whose SID the ie1 provider may mask is not deleted."""
    with RunningSandbox(faults=org_faults()) as sandbox:
        org = org_of(sandbox)
        in_ie1 = org.create_key(SUBS[1], KEY)["sid"]
        sandbox.state.store.link(SUBS[1], "ie1", in_ie1)
        code, _ = link(sandbox)
        keys = named(org, SUBS[1])
    assert code == Exit.OK
    assert len(keys) == 2
    assert keys[0] == in_ie1


def test_a_lost_answer_whose_link_arrived_keeps_the_key() -> None:
    """The link is made but its answer lost (500): the retry's 409 finds it with this key."""
    lost: list[str] = []

    @web.middleware
    async def lose_first(request: web.Request, handler: Handler) -> web.StreamResponse:
        answer = await handler(request)
        if request.method == "POST" and request.path == LINKS and not lost:
            lost.append(request.path)
            return web.json_response({"title": "Internal"}, status=500)
        return answer

    with middleware(RunningSandbox(faults=org_faults(twilio_subaccounts=())), lose_first) as sb:
        code, accounts = link(sb)
        keys = named(org_of(sb), ACCOUNT_SID)
        provider = sb.state.store.providers()[0]
    assert code == Exit.OK
    assert accounts[0].state is LinkState.LINKED_NOW
    (key,) = keys
    assert may_be(str(provider["api_key_sid"]), key)


def test_a_link_made_meanwhile_with_another_key_deletes_the_new_one() -> None:
    """A 409 on the first try: the account was linked after it was looked up, just before the
    key was made; the key made is deleted."""
    instrument = Instrument()
    route = f"GET {LINKS}"

    def hidden_twice() -> web.Response:
        if instrument.calls[route] == 2:
            del instrument.answers[route]
        return web.json_response([])

    instrument.answers[route] = hidden_twice
    faults = org_faults(twilio_subaccounts=())
    with instrument.install(RunningSandbox(faults=faults)) as sandbox:
        sandbox.state.store.link(ACCOUNT_SID, "us1", "SK" + "7" * 32)
        code, accounts = link(sandbox)
        keys = named(org_of(sandbox), ACCOUNT_SID)
    assert code == Exit.OK
    assert accounts[0].state is LinkState.LINKED
    assert accounts[0].detail == "a link was made meanwhile; the key made was deleted again"
    assert keys == []


def test_a_key_that_cannot_be_deleted_is_named_with_the_fix() -> None:
    """Cartesia refuses the key and Twilio will not delete it: failed, naming the key to delete."""
    instrument = Instrument()
    faults = org_faults(twilio_subaccounts=(), link_refusals={ACCOUNT_SID: 1})

    @web.middleware
    async def no_delete(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "DELETE":
            return web.json_response({"code": 20500, "message": "down", "status": 500}, status=500)
        return await handler(request)

    with middleware(instrument.install(RunningSandbox(faults=faults)), no_delete) as sandbox:
        code, accounts = link(sandbox)
        (left,) = named(org_of(sandbox), ACCOUNT_SID)
    assert code == Exit.ATTENTION
    (line,) = accounts
    assert line.state is LinkState.FAILED
    assert f"the key made, {left} named {KEY}, could not be deleted" in line.detail
    assert line.detail.endswith("delete it in the Twilio console")


def test_a_main_key_cannot_make_keys_in_subaccounts_and_the_command_stops() -> None:
    """With the parent's Main key Twilio refuses a subaccount's keys: exit 3, no key left."""
    with RunningSandbox(faults=org_faults()) as sandbox:
        code, accounts = link(sandbox, token=False, concurrency=1)
        org = org_of(sandbox)
        assert all(named(org, sid) == [] for sid in SUBS)
    assert code == Exit.STOPPED
    states = [a.state for a in accounts]
    assert states == [LinkState.LINKED_NOW, LinkState.FAILED, *[LinkState.NOT_ATTEMPTED] * 4]
    assert "making and deleting keys needs the parent's auth token" in accounts[1].detail


def test_accounts_failing_in_a_row_stop_the_command() -> None:
    """--max-consecutive-failures 2: two refused accounts in a row stop it; keys deleted."""
    refused = dict.fromkeys(SUBS, 1)
    with RunningSandbox(faults=org_faults(link_refusals=refused)) as sandbox:
        code, accounts = link(sandbox, concurrency=1, max_consecutive_failures=2)
        org = org_of(sandbox)
        assert all(named(org, sid) == [] for sid in SUBS)
    assert code == Exit.STOPPED
    assert [a.state for a in accounts] == [
        LinkState.LINKED_NOW,
        LinkState.FAILED,
        LinkState.FAILED,
        *[LinkState.NOT_ATTEMPTED] * 3,
    ]


def test_a_plan_with_a_standard_key_says_what_lists_accounts() -> None:
    """--subaccounts with a Standard key: Twilio refuses the list; exit 2 naming the fix."""
    with RunningSandbox(faults=org_faults()) as sandbox:
        made = org_of(sandbox).create_key(ACCOUNT_SID, "mine")
        credentials = TwilioCredentials(
            Secret(made["sid"]), Secret(made["secret"]), kind="API key", origin="tests"
        )
        options = twilio_options(sandbox)
        options = TwilioOptions(
            account_sid=ACCOUNT_SID,
            credentials=credentials,
            base_url=sandbox.base_url,
            subaccounts=True,
        )
        with pytest.raises(UsageError) as caught:
            link_accounts(twilio=options, api=api_options(sandbox.base_url), region="us1")
    assert str(caught.value) == (
        "Twilio refused the API key from tests to list the subaccounts of "
        f"{ACCOUNT_SID} (HTTP 401, code 20003): --subaccounts needs the parent's auth token "
        "(TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, or --twilio-credentials-file holding "
        "ACCOUNT_SID:AUTH_TOKEN) or a Main API key; a Standard key cannot list accounts"
    )


def test_an_api_without_the_providers_list_is_exit_2(tmp_path: Path) -> None:
    """A base URL that does not list providers (404): providers says so, exit 2."""
    instrument = Instrument(answers={f"GET {LINKS}": lambda: web.json_response({}, status=404)})
    sandbox = instrument.install(RunningSandbox())
    with sandbox, pytest.raises(UsageError, match="does not list providers like Cartesia's API"):
        list_providers(api=api_options(sandbox.base_url))


def test_an_unreachable_api_stops_the_listing_with_exit_3() -> None:
    """No API at the base URL: exit 3, naming it."""
    report = list_providers(api=api_options("http://127.0.0.1:9", max_attempts=1))
    assert report.exit_code == Exit.STOPPED
    assert report.error.startswith("cannot reach the API at http://127.0.0.1:9")


@pytest.mark.parametrize(
    ("masked", "key", "expected"),
    [
        ("SK" + "*" * 28 + "abcd", "SK" + "0" * 28 + "abcd", True),
        ("SK" + "*" * 28 + "abcd", "SK" + "0" * 28 + "abce", False),
        ("SK…ABCD", "SK" + "1" * 28 + "abcd", True),
        ("SK12" + "x" * 28 + "cd", "SK12" + "0" * 28 + "cd", True),
        ("SK12" + "x" * 28 + "cd", "SK13" + "0" * 28 + "cd", False),
        ("SK" + "*" * 32, "SK" + "5" * 32, True),  # shows nothing: may be any key
        ("SK" + "a" * 32, "SK" + "a" * 32, True),  # not masked at all
        ("SK" + "a" * 32, "SK" + "b" * 32, False),
        ("", "SK" + "a" * 32, True),  # no mask at all: may be any key
        ("****abcd", "SK" + "0" * 28 + "abcd", True),  # the type hidden too
        ("****abcd", "SK" + "0" * 28 + "abce", False),
        ("sk" + "0" * 28 + "abcd", "SK" + "0" * 28 + "abcd", True),
        ("abcd", "SK" + "0" * 28 + "1234", True),  # nothing hidden, not a whole SID: unsure
        ("0" * 28 + "abcd", "SK" + "0" * 28 + "abcd", True),  # the digits alone, whole
        ("0" * 28 + "abce", "SK" + "0" * 28 + "abcd", False),
    ],
)
def test_may_be_matches_what_a_mask_shows(masked: str, key: str, expected: bool) -> None:
    """A masked key SID may be a key when what it shows matches at both ends; a mask that
    cannot be read may be any key."""
    assert may_be(masked, key) is expected


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def middleware(sandbox: RunningSandbox, func: Middleware) -> RunningSandbox:
    """Put ``func`` in front of the sandbox's handlers (before it starts)."""
    sandbox.app.middlewares.append(func)
    return sandbox


def test_a_link_that_keeps_failing_is_one_failed_account_exit_1() -> None:
    """One account, its key given, Cartesia answering 503 to every try: failed, exit 1."""

    def busy() -> web.Response:
        return web.json_response({"title": "Busy", "message": "try later"}, status=503)

    instrument = Instrument(answers={f"POST {LINKS}": busy})
    with instrument.install(RunningSandbox(faults=org_faults())) as sandbox:
        options = twilio_options(sandbox, token=False, subaccounts=False)
        report = link_accounts(twilio=options, api=api_options(sandbox.base_url), region="us1")
    assert report.exit_code == Exit.ATTENTION
    (line,) = report.accounts
    assert line.state is LinkState.FAILED
    assert line.detail == "not linked: HTTP 503: Busy: try later"
    assert instrument.count("POST", LINKS) == 6  # --max-attempts (6 in these tests)


def test_a_key_made_after_the_command_stopped_is_deleted_not_linked() -> None:
    """Cartesia refuses the key (401) while another account's key is being made: that key is
    deleted again, never sent, and the account is not attempted; exit 3."""
    slow = SUBS[1]

    @web.middleware
    async def refuse_and_slow(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "POST" and request.path == LINKS:
            return web.json_response({"title": "Unauthorized"}, status=401)
        if request.method == "POST" and slow in request.path:
            await asyncio.sleep(0.3)  # this key comes back after the 401 stopped the command
        return await handler(request)

    faults = org_faults(twilio_subaccounts=({}, {}))
    with middleware(RunningSandbox(faults=faults), refuse_and_slow) as sandbox:
        code, accounts = link(sandbox, concurrency=3)
        org = org_of(sandbox)
        keys = {sid: named(org, sid) for sid in (ACCOUNT_SID, *SUBS[:2])}
    assert code == Exit.STOPPED
    assert keys == {sid: [] for sid in keys}
    by_sid = {a.account_sid: a for a in accounts}
    assert by_sid[slow].state is LinkState.NOT_ATTEMPTED
    assert by_sid[slow].detail.startswith("the API at ")
    assert by_sid[slow].detail.endswith("; the key made was deleted again")


def test_a_link_that_never_arrived_deletes_the_key_made() -> None:
    """Cartesia answers 503 to every try and makes nothing: the look-up reads no provider, so
    the key made is surely unused and is deleted; the account failed, exit 1."""
    instrument = Instrument(
        answers={f"POST {LINKS}": lambda: web.json_response({"title": "Busy"}, status=503)}
    )
    faults = org_faults(twilio_subaccounts=())
    with instrument.install(RunningSandbox(faults=faults)) as sandbox:
        code, accounts = link(sandbox, max_attempts=2)
        keys = named(org_of(sandbox), ACCOUNT_SID)
    assert code == Exit.ATTENTION
    (line,) = accounts
    assert line.state is LinkState.FAILED
    assert line.detail == "not linked: HTTP 503: Busy; the key made was deleted again"
    assert keys == []
    assert instrument.count("GET", LINKS) == 3  # the list, before the key, after the link


def later_gets_fail(good: int) -> RunningSandbox:
    """Return a sandbox (one unlinked account) that answers 409 to every link, and 503 to every
    GET of the providers after the first ``good`` ones."""
    route = f"GET {LINKS}"
    instrument = Instrument(answers={f"POST {LINKS}": lambda: web.json_response({}, status=409)})
    sandbox = instrument.install(RunningSandbox(faults=org_faults(twilio_subaccounts=())))

    def good_then_503() -> web.Response:
        if instrument.calls[route] > good:
            return web.json_response({"title": "Unavailable"}, status=503)
        return web.json_response(sandbox.state.store.providers())

    instrument.answers[route] = good_then_503
    return sandbox


def test_a_409_whose_look_up_fails_is_one_failed_account() -> None:
    """A 409 to the first try, and the providers cannot be read again: failed, naming both;
    the key made is not the one linked (the first try's 409 says so): it is deleted."""
    with later_gets_fail(2) as sandbox:  # the list, and the look-up before a key is made
        code, accounts = link(sandbox, max_attempts=1)
        keys = named(org_of(sandbox), ACCOUNT_SID)
    with later_gets_fail(1) as sandbox:
        options = twilio_options(sandbox, token=False, subaccounts=False)
        api = api_options(sandbox.base_url, max_attempts=1)
        given = link_accounts(twilio=options, api=api, region="us1")
    why = "not linked: 409, and the account's providers could not be read: HTTP 503: Unavailable"
    assert (code, accounts[0].state) == (Exit.ATTENTION, LinkState.FAILED)
    assert accounts[0].detail == why + "; the key made was deleted again"
    assert keys == []
    assert (given.exit_code, given.accounts[0].detail) == (Exit.ATTENTION, why)


def test_an_account_whose_providers_cannot_be_read_again_gets_no_key() -> None:
    """The look-up just before a key is made fails: no key is made, the account failed."""
    with later_gets_fail(1) as sandbox:
        code, accounts = link(sandbox, max_attempts=1)
        keys = named(org_of(sandbox), ACCOUNT_SID)
    assert (code, accounts[0].state) == (Exit.ATTENTION, LinkState.FAILED)
    assert accounts[0].detail == (
        "not linked: the account's providers could not be read again (HTTP 503: Unavailable); "
        "no key was made"
    )
    assert keys == []


def lose_key_answers(*, lost: int, then: Handler | None = None) -> Middleware:
    """Return a middleware under which Twilio makes each key but the first ``lost`` answers are
    500s; ``then`` answers the account's keys list (GET Keys.json) after the first lost one."""
    seen: list[str] = []

    @web.middleware
    async def lossy(request: web.Request, handler: Handler) -> web.StreamResponse:
        keys = request.path.endswith("/Keys.json")
        if keys and request.method == "POST" and len(seen) < lost:
            await handler(request)  # the key is made...
            seen.append(request.path)  # ...and its answer is lost
            return web.json_response({"code": 20500, "message": "down", "status": 500}, status=500)
        if keys and request.method == "GET" and seen and then is not None:
            return await then(request)
        return await handler(request)

    return lossy


def test_keys_made_by_tries_whose_answers_were_lost_are_deleted() -> None:
    """Every try makes a key and loses its answer (Twilio's 3 tries): the account failed, and
    the three keys, whose secrets nobody holds, are deleted again."""
    faults = org_faults(twilio_subaccounts=())
    with middleware(RunningSandbox(faults=faults), lose_key_answers(lost=3)) as sandbox:
        code, accounts = link(sandbox, concurrency=1)
        keys = named(org_of(sandbox), ACCOUNT_SID)
        deleted = sandbox.state.stats()["twilio_by_status"].get("204", 0)
    assert code == Exit.ATTENTION
    (line,) = accounts
    assert line.state is LinkState.FAILED
    assert line.detail.startswith("Twilio did not make an API key in ")
    assert ", made by a try whose answer was lost" in line.detail
    assert keys == []
    assert deleted == 3


async def _down(request: web.Request) -> web.StreamResponse:
    return web.json_response({"code": 20500, "message": "down", "status": 500}, status=500)


def test_a_spare_key_that_cannot_be_found_again_is_said() -> None:
    """The first key's answer is lost and the keys cannot be listed again: the second key is
    linked, and the line says to look for a spare key in the console."""
    faults = org_faults(twilio_subaccounts=())
    lossy = lose_key_answers(lost=1, then=_down)
    with middleware(RunningSandbox(faults=faults), lossy) as sandbox:
        code, accounts = link(sandbox, concurrency=1)
        keys = named(org_of(sandbox), ACCOUNT_SID)
    assert code == Exit.OK
    (line,) = accounts
    assert line.state is LinkState.LINKED_NOW
    assert "its keys could not be listed again" in line.detail
    assert f"look in the Twilio console for a spare key named {KEY}" in line.detail
    assert len(keys) == 2  # the spare one stays, as said


class BreaksOneLink(httpx.AsyncBaseTransport):
    """Send every request through a real transport but the link of one account: raise there."""

    def __init__(self, sid: str, error: BaseException, *, sent: bool = False) -> None:
        self.real = httpx.AsyncHTTPTransport()
        self.sid = sid
        self.error = error
        self.sent = sent  # raise once the link was sent and answered (its answer lost)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and self.sid.encode() in request.content:
            if self.sent:
                await self.real.handle_async_request(request)
            raise self.error
        return await self.real.handle_async_request(request)

    async def aclose(self) -> None:
        await self.real.aclose()


@pytest.mark.parametrize("error", [RuntimeError("a bug"), asyncio.CancelledError()])
def test_a_link_cut_short_deletes_its_key_and_the_others_finish(error: BaseException) -> None:
    """The link of one account raises (a bug, a cancellation) once its key is made: that key is
    deleted (the link was never sent), the other accounts are linked, then the error goes on."""
    with RunningSandbox(faults=org_faults()) as sandbox:
        options = twilio_options(sandbox)
        with pytest.raises(type(error)):
            link_accounts(
                twilio=options,
                api=api_options(sandbox.base_url, concurrency=3),
                region="us1",
                create_keys=True,
                transport=BreaksOneLink(SUBS[1], error),
            )
        org = org_of(sandbox)
        keys = {sid: named(org, sid) for sid in (ACCOUNT_SID, *SUBS)}
        linked = {p["account_sid"] for p in sandbox.state.store.providers()}
    assert keys[SUBS[1]] == []
    assert linked == {ACCOUNT_SID, *SUBS} - {SUBS[1]}
    assert all(len(keys[sid]) == 1 for sid in linked)


def test_an_account_line_that_cannot_be_printed_stops_the_printing_not_the_work() -> None:
    """The reader of the lines went away (EPIPE on the second line): no line is tried again,
    every account is linked, exit 0."""
    printed: list[AccountLink] = []

    def emit(done: AccountLink) -> None:
        if printed:
            raise BrokenPipeError(32, "Broken pipe")
        printed.append(done)

    with RunningSandbox(faults=org_faults()) as sandbox:
        report = link_accounts(
            twilio=twilio_options(sandbox),
            api=api_options(sandbox.base_url, concurrency=2),
            region="us1",
            create_keys=True,
            emit=emit,
        )
        linked = len(sandbox.state.store.providers())
    assert report.exit_code == Exit.OK
    assert len(printed) == 1
    assert [a.state for a in report.accounts] == [LinkState.LINKED_NOW] * 6
    assert linked == 6


def test_a_link_cut_short_once_it_arrived_keeps_its_key() -> None:
    """Cancelled after Cartesia made the link: the look-up finds the provider holding the key,
    which is kept (deleting it would break the live provider)."""
    with RunningSandbox(faults=org_faults(twilio_subaccounts=())) as sandbox:
        with pytest.raises(asyncio.CancelledError):
            link_accounts(
                twilio=twilio_options(sandbox),
                api=api_options(sandbox.base_url),
                region="us1",
                create_keys=True,
                transport=BreaksOneLink(ACCOUNT_SID, asyncio.CancelledError(), sent=True),
            )
        (key,) = named(org_of(sandbox), ACCOUNT_SID)
        (provider,) = sandbox.state.store.providers()
    assert may_be(str(provider["api_key_sid"]), key)


def test_an_older_key_is_named_whatever_becomes_of_the_new_one() -> None:
    """Cartesia refuses the new key (deleted again): the older cartesia-bulk-import key the
    account holds is still named, and kept."""
    faults = org_faults(twilio_subaccounts=(), link_refusals={ACCOUNT_SID: 1})
    with RunningSandbox(faults=faults) as sandbox:
        older = org_of(sandbox).create_key(ACCOUNT_SID, KEY)["sid"]
        code, accounts = link(sandbox)
        keys = named(org_of(sandbox), ACCOUNT_SID)
    assert code == Exit.ATTENTION
    (line,) = accounts
    assert line.state is LinkState.FAILED
    assert line.detail.startswith("Cartesia refused the key made: ")
    assert f"; the key made was deleted again; kept 1 older key(s) named {KEY}" in line.detail
    assert keys == [older]


def test_an_account_linked_after_the_list_was_read_gets_no_key() -> None:
    """Another run links the account after this command read the providers list: the look-up
    just before a key is made finds it; the account is linked, no key made."""
    instrument = Instrument()
    route = f"GET {LINKS}"

    def hidden_once() -> web.Response:
        del instrument.answers[route]
        return web.json_response([])

    instrument.answers[route] = hidden_once
    faults = org_faults(twilio_subaccounts=())
    with instrument.install(RunningSandbox(faults=faults)) as sandbox:
        sandbox.state.store.link(ACCOUNT_SID, "us1", "SK" + "7" * 32)
        code, accounts = link(sandbox)
        keys = named(org_of(sandbox), ACCOUNT_SID)
    assert code == Exit.OK
    assert accounts[0].state is LinkState.LINKED
    assert accounts[0].detail == "linked since the list was read; no key was made"
    assert keys == []
    assert instrument.count("POST", "/2010-04-01") == 0


def twilio_faults(
    *, lost: int = 0, before_made: bool = False, delete: int = 200, provider_gets: int = 0
) -> Middleware:
    """Return a middleware that loses the first ``lost`` answers to a key creation (after the
    key is made, or ``before_made``), answers every DELETE ``delete`` (200: as Twilio does),
    and 503 to every GET of the providers after the first ``provider_gets`` (0: none)."""
    seen: list[str] = []
    gets: list[str] = []

    @web.middleware
    async def faulty(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "POST" and request.path.endswith("/Keys.json") and len(seen) < lost:
            seen.append(request.path)
            if not before_made:
                await handler(request)
            return web.json_response({"code": 20500, "message": "down", "status": 500}, status=500)
        if request.method == "DELETE" and delete != 200:
            return web.json_response({"code": 20500, "message": "down"}, status=delete)
        if request.method == "GET" and request.path == LINKS and provider_gets:
            gets.append(request.path)
            if len(gets) > provider_gets:
                return web.json_response({"title": "Unavailable"}, status=503)
        return await handler(request)

    return faulty


def link_one(faults: Middleware) -> tuple[int, AccountLink, list[str]]:
    """Link the parent alone (its key made) under ``faults``; return the exit, line and keys."""
    sandbox = middleware(RunningSandbox(faults=org_faults(twilio_subaccounts=())), faults)
    with sandbox:
        code, (line,) = link(sandbox, concurrency=1)
        keys = named(org_of(sandbox), ACCOUNT_SID)
    return code, line, keys


def test_a_retried_creation_that_made_one_key_has_nothing_to_delete() -> None:
    """The first try failed before Twilio made a key (500), the retry made one: the keys listed
    again show no spare; the key is linked, nothing said."""
    code, line, keys = link_one(twilio_faults(lost=1, before_made=True))
    assert (code, line.state) == (Exit.OK, LinkState.LINKED_NOW)
    assert line.detail == f"new API key {keys[0]} named {KEY}"
    assert len(keys) == 1


def test_a_spare_key_whose_use_cannot_be_checked_is_left_and_said() -> None:
    """A spare key appeared, but the providers cannot be read again to see that none holds it:
    it is left, and the line says why and what to do."""
    code, line, keys = link_one(twilio_faults(lost=1, provider_gets=2))
    assert (code, line.state) == (Exit.OK, LinkState.LINKED_NOW)
    assert "made by a try whose answer was lost are left (whether a provider holds them could " in (
        line.detail
    )
    assert len(keys) == 2


def test_a_spare_key_twilio_will_not_delete_is_said() -> None:
    """A spare key appeared and Twilio refuses to delete it: left, and said."""
    code, line, keys = link_one(twilio_faults(lost=1, delete=500))
    assert (code, line.state) == (Exit.OK, LinkState.LINKED_NOW)
    assert "are left (Twilio did not delete them)" in line.detail
    assert len(keys) == 2


def test_a_key_twilio_refuses_to_make_stops_the_command() -> None:
    """Twilio refuses the key creation itself (401): the command stops, exit 3, no key."""

    @web.middleware
    async def refused(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "POST" and request.path.endswith("/Keys.json"):
            body = {"code": 20003, "message": "Authenticate", "status": 401}
            return web.json_response(body, status=401)
        return await handler(request)

    code, line, keys = link_one(refused)
    assert (code, line.state) == (Exit.STOPPED, LinkState.FAILED)
    assert line.detail.startswith(f"Twilio did not make an API key in {ACCOUNT_SID}: it refused")
    assert keys == []


def test_a_link_cut_short_whose_look_up_fails_keeps_its_key() -> None:
    """Cancelled after the link was sent, and the providers cannot be read again: whether the
    key is linked cannot be known, so it is kept."""
    faults = org_faults(twilio_subaccounts=())
    sandbox = middleware(RunningSandbox(faults=faults), twilio_faults(provider_gets=2))
    with sandbox, pytest.raises(asyncio.CancelledError):
        link_accounts(
            twilio=twilio_options(sandbox),
            api=api_options(sandbox.base_url, max_attempts=1),
            region="us1",
            create_keys=True,
            transport=BreaksOneLink(ACCOUNT_SID, asyncio.CancelledError(), sent=True),
        )
    assert len(named(org_of(sandbox), ACCOUNT_SID)) == 1


class NoKeyAnswers(httpx.AsyncBaseTransport):
    """Send Twilio's requests through a real transport, but no key creation gets through."""

    def __init__(self) -> None:
        self.real = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            raise httpx.ConnectError("connection refused", request=request)
        return await self.real.handle_async_request(request)

    async def aclose(self) -> None:
        await self.real.aclose()


def test_a_key_creation_that_never_gets_an_answer_is_one_failed_account() -> None:
    """No answer to any try of the key creation: failed, naming the retries; the keys are
    listed again (a try may have made one), none appeared, none left."""
    with RunningSandbox(faults=org_faults(twilio_subaccounts=())) as sandbox:
        report = link_accounts(
            twilio=twilio_options(sandbox),
            api=api_options(sandbox.base_url),
            region="us1",
            create_keys=True,
            twilio_transport=NoKeyAnswers(),
        )
        keys = named(org_of(sandbox), ACCOUNT_SID)
    (line,) = report.accounts
    assert (report.exit_code, line.state) == (Exit.ATTENTION, LinkState.FAILED)
    assert line.detail.startswith(f"cannot make an API key in Twilio account {ACCOUNT_SID} at ")
    assert "(3 attempts)" in line.detail
    assert keys == []
