"""Tests for api.twilio: the paging logic (MockTransport) and the listing over real sockets."""

from __future__ import annotations

import base64
from collections.abc import Callable

import httpx
import pytest

from bulk_import.api.twilio import PAGE_SIZE, TwilioListing, list_numbers
from bulk_import.config import Secret, TwilioCredentials, TwilioOptions
from bulk_import.errors import BulkImportError, InputError, UsageError
from bulk_import.sandbox import Faults, RunningSandbox
from bulk_import.sandbox.twilio import (
    ACCOUNT_SID,
    API_KEY_SECRET,
    API_KEY_SID,
    AUTH_TOKEN,
    generated_number,
)

BASE = "https://twilio.test"
SID = "AC" + "0123456789abcdef" * 2
LIST = f"/2010-04-01/Accounts/{SID}/IncomingPhoneNumbers.json"
KEY = "SK" + "1" * 32
SECRET = "s3cret_CANARY_4d2e"
ORIGIN = "TWILIO_API_KEY and TWILIO_API_SECRET"

Handler = Callable[[httpx.Request], httpx.Response]


def options(
    *,
    sid: str = SID,
    base_url: str = BASE,
    user: str = KEY,
    password: str = SECRET,
    kind: str = "API key",
    max_attempts: int = 3,
) -> TwilioOptions:
    """Return the options of a listing (few attempts, short timeout: these are tests)."""
    credentials = TwilioCredentials(Secret(user), Secret(password), kind=kind, origin=ORIGIN)
    return TwilioOptions(
        account_sid=sid,
        credentials=credentials,
        base_url=base_url,
        max_attempts=max_attempts,
        timeout=5.0,
    )


def page_body(numbers: list[tuple[str, str]], next_uri: str | None) -> dict[str, object]:
    """Return a page as Twilio writes one (only the fields the client reads, and a few more)."""
    return {
        "incoming_phone_numbers": [
            {"phone_number": number, "friendly_name": name, "sid": "PN" + number[1:]}
            for number, name in numbers
        ],
        "next_page_uri": next_uri,
        "page_size": PAGE_SIZE,
    }


def mocked(handler: Handler, **kw: object) -> TwilioListing:
    """List through a MockTransport answering with ``handler``."""
    return list_numbers(options(**kw), transport=httpx.MockTransport(handler))  # type: ignore[arg-type]


#: Every retry in this module waits 1 % of its time.
pytestmark = pytest.mark.usefixtures("fast_retries")


# -- the paging logic, over a MockTransport -------------------------------------------------------


def test_follows_next_page_uri_until_null_with_basic_auth() -> None:
    """PageSize=1000 first, then each next_page_uri under the base URL, with HTTP Basic auth."""
    seen: list[httpx.Request] = []
    pages = {
        f"{LIST}?PageSize=1000": page_body([("+14155550100", "A")], f"{LIST}?Page=1&T=x"),
        f"{LIST}?Page=1&T=x": page_body([("+14155550101", "B")], f"{LIST}?Page=2&T=y"),
        f"{LIST}?Page=2&T=y": page_body([("+14155550102", "")], None),
    }

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=pages[request.url.raw_path.decode()])

    listing = mocked(handler)
    assert listing == TwilioListing(
        SID, (("+14155550100", "A"), ("+14155550101", "B"), ("+14155550102", "")), 3, 3
    )
    assert [str(r.url) for r in seen] == [BASE + uri for uri in pages]
    expected = "Basic " + base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
    assert {r.headers["authorization"] for r in seen} == {expected}
    assert {r.method for r in seen} == {"GET"}


def test_missing_or_odd_friendly_name_is_a_blank_label() -> None:
    """A number with no friendly_name, or one that is not text, gets a blank label."""
    body = {
        "incoming_phone_numbers": [
            {"phone_number": "+14155550100"},
            {"phone_number": "+14155550101", "friendly_name": None},
            {"phone_number": "+14155550102", "friendly_name": 7},
        ],
        "next_page_uri": None,
    }
    listing = mocked(lambda request: httpx.Response(200, json=body))
    assert [name for _, name in listing.numbers] == ["", "", ""]


def test_a_page_that_names_itself_next_is_refused() -> None:
    """A next_page_uri that repeats a page read already ends the listing: exit 2, one line."""
    first = f"{LIST}?PageSize=1000"
    again = page_body([("+14155550100", "A")], first)
    with pytest.raises(InputError) as caught:
        mocked(lambda request: httpx.Response(200, json=again))
    assert str(caught.value) == (
        f"Twilio's listing of account {SID} does not advance at page 1: next_page_uri repeats "
        "a page already read; nothing was imported; try again later (a proxy in between may "
        "be rewriting pages)"
    )
    assert caught.value.exit_code == 2


def test_a_new_uri_with_the_same_numbers_is_refused() -> None:
    """Pages whose URIs differ but whose numbers were all listed already do not advance."""
    count = iter(range(1, 100))

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json=page_body([("+14155550100", "A")], f"{LIST}?P={next(count)}")
        )

    with pytest.raises(InputError, match="at page 2: it lists only numbers already listed"):
        mocked(handler)


@pytest.mark.parametrize(
    "following",
    [
        "https://evil.test/2010-04-01/Accounts/x/IncomingPhoneNumbers.json?Page=1",
        f"/2010-04-01/Accounts/{'AC' + 'f' * 32}/IncomingPhoneNumbers.json?Page=1",
        "/2010-04-01/Accounts/x/Calls.json",
        17,
    ],
)
def test_next_page_uri_that_leads_away_is_not_followed(following: object) -> None:
    """Credentials never go to another host or list: a foreign next_page_uri ends the listing."""
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(200, json=page_body([("+14155550100", "A")], following))  # type: ignore[arg-type]

    with pytest.raises(
        InputError, match=r"does not advance at page 1: next_page_uri .* is not a page of this list"
    ):
        mocked(handler)
    assert len(calls) == 1


def test_a_sid_in_capitals_follows_twilio_lowercase_uris() -> None:
    """twilio:AC<CAPITAL HEX> follows Twilio's own (lowercase) next_page_uri."""
    upper = "AC" + "0123456789ABCDEF" * 2
    pages = iter(
        [
            page_body([("+14155550100", "A")], f"{LIST}?Page=1"),
            page_body([("+14155550101", "B")], None),
        ]
    )
    listing = mocked(lambda request: httpx.Response(200, json=next(pages)), sid=upper)
    assert len(listing.numbers) == 2


def test_a_page_that_is_not_json_is_refused_quoting_its_start() -> None:
    """An HTML page with status 200 (a proxy's) is exit 2, one line, nothing imported."""
    html = "<html><body>Proxy says\nhello</body></html>"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=html, headers={"content-type": "text/html; charset=utf-8"})

    with pytest.raises(InputError) as caught:
        mocked(handler)
    assert str(caught.value) == (
        f"page 1 of Twilio account {SID}'s numbers is not JSON (HTTP 200, text/html: "
        "<html><body>Proxy says hello</body></html>); check --twilio-base-url (env "
        "TWILIO_BASE_URL) and any proxy in between; nothing was imported"
    )


@pytest.mark.parametrize(
    "body",
    [
        {"data": []},
        {"incoming_phone_numbers": [{"friendly_name": "x"}]},
        [1, 2],
        {"incoming_phone_numbers": ["+1"]},
    ],
)
def test_json_that_is_not_the_list_is_refused(body: object) -> None:
    """JSON without incoming_phone_numbers of numbers is not Twilio's list: exit 2."""
    with pytest.raises(
        InputError, match=r"^page 1 of Twilio account .* is not Twilio's IncomingPhoneNumbers list"
    ):
        mocked(lambda request: httpx.Response(200, json=body))


def twilio_error(status: int, code: int, message: str) -> httpx.Response:
    """Return Twilio's error body."""
    body = {"code": code, "message": message, "more_info": "https://x/", "status": status}
    return httpx.Response(status, json=body)


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_name_the_account_and_the_credential(status: int) -> None:
    """401/403: exit 2, naming the account and which credential, never its value."""
    with pytest.raises(UsageError) as caught:
        mocked(lambda request: twilio_error(status, 20003, "Authenticate"))
    assert str(caught.value) == (
        f"Twilio refused the API key from {ORIGIN} for account {SID} (HTTP {status}, code "
        "20003); check the credentials, and that they belong to this account or to its parent"
    )
    assert SECRET not in str(caught.value)
    assert KEY not in str(caught.value)


def test_credentials_for_another_account_name_the_fix() -> None:
    """Twilio's 404 for the account: the credentials are another account's."""
    with pytest.raises(UsageError) as caught:
        mocked(lambda request: twilio_error(404, 20404, "The requested resource was not found"))
    assert str(caught.value) == (
        f"Twilio knows no account {SID} for the API key from {ORIGIN} (HTTP 404, code 20404): "
        "the credentials belong to another account, or the SID is mistyped; name the account "
        f"they belong to (twilio:AC...), or use {SID}'s own API key (or its parent's account "
        "SID and auth token)"
    )


def test_a_404_that_is_not_twilio_names_the_base_url() -> None:
    """A plain 404 (a base URL that is not Twilio's) names --twilio-base-url."""
    with pytest.raises(UsageError) as caught:
        mocked(lambda request: httpx.Response(404, text="404: Not Found"))
    assert str(caught.value) == (
        f"{BASE} does not list Twilio account {SID} (HTTP 404: 404: Not Found); check "
        "--twilio-base-url (env TWILIO_BASE_URL) and the account SID"
    )


def test_a_redirect_is_not_followed() -> None:
    """A 302 is never followed (it would carry the credentials): exit 2."""
    answer = httpx.Response(302, headers={"location": "https://elsewhere.test/"})
    with pytest.raises(
        UsageError, match=r"answered the listing with a redirect \(HTTP 302\), not followed"
    ):
        mocked(lambda request: answer)


def test_a_bad_request_quotes_twilio() -> None:
    """Another 4xx quotes Twilio's code and message."""
    with pytest.raises(UsageError, match=r"\(HTTP 400, code 20001: Invalid PageSize\)"):
        mocked(lambda request: twilio_error(400, 20001, "Invalid PageSize"))


def test_retries_spent_on_5xx_say_try_again_later() -> None:
    """A 503 on every try: retried up to --max-attempts, then exit 2 naming the page."""
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return twilio_error(503, 20503, "Service Unavailable")

    with pytest.raises(UsageError) as caught:
        mocked(handler, max_attempts=3)
    assert len(calls) == 3
    assert str(caught.value) == (
        f"Twilio kept failing while listing account {SID} (HTTP 503, code 20503: Service "
        "Unavailable, page 1, 3 attempts); nothing was imported; try again later"
    )


def test_429_then_success_is_retried_and_counted() -> None:
    """Twilio's 429 (20429, never processed) is retried; the requests count both tries."""
    answers = iter(
        [
            twilio_error(429, 20429, "Too Many Requests"),
            httpx.Response(200, json=page_body([("+14155550100", "")], None)),
        ]
    )
    listing = mocked(lambda request: next(answers))
    assert (listing.pages, listing.requests, len(listing.numbers)) == (1, 2, 1)


def test_unreachable_twilio_names_the_option_after_the_retries() -> None:
    """Connection errors on every try: exit 2, one line naming --twilio-base-url."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(UsageError) as caught:
        mocked(handler, max_attempts=2)
    assert str(caught.value) == (
        f"cannot list Twilio account {SID} at {BASE}: ConnectError: connection refused "
        "(page 1, 2 attempts); check --twilio-base-url (env TWILIO_BASE_URL) and the network"
    )


def test_a_secret_quoted_back_is_masked() -> None:
    """A server that quotes the secret back in its message never gets it printed."""
    with pytest.raises(BulkImportError) as caught:
        mocked(lambda request: twilio_error(400, 20001, f"bad password {SECRET}"))
    assert SECRET not in str(caught.value)
    assert "bad password ****" in str(caught.value)


# -- the listing against the sandbox's Twilio stand-in, over loopback -----------------------------


def sandbox_options(sandbox: RunningSandbox, **kw: object) -> TwilioOptions:
    """Return options for the stand-in's account with its API key."""
    values: dict[str, object] = {
        "sid": ACCOUNT_SID,
        "base_url": sandbox.base_url,
        "user": API_KEY_SID,
        "password": API_KEY_SECRET,
        "max_attempts": 6,
    }
    values.update(kw)
    return options(**values)  # type: ignore[arg-type]


def test_2500_numbers_over_3_pages_in_3_requests() -> None:
    """The stand-in's 2,500 numbers come in order, each once, in 3 pages of at most 1,000."""
    with RunningSandbox(faults=Faults(twilio_numbers=2500)) as sandbox:
        listing = list_numbers(sandbox_options(sandbox))
        stats = sandbox.state.stats()
    assert listing.numbers == tuple(generated_number(i) for i in range(2500))
    assert (listing.pages, listing.requests) == (3, 3)
    assert stats["twilio_requests"] == 3
    assert stats["requests"] == 0, "nothing was sent to the Cartesia API"


def test_auth_token_credentials_list_the_account() -> None:
    """The account SID and its auth token work as the API key does."""
    with RunningSandbox(faults=Faults(twilio_numbers=3)) as sandbox:
        creds = {"user": ACCOUNT_SID, "password": AUTH_TOKEN, "kind": "auth token"}
        listing = list_numbers(sandbox_options(sandbox, **creds))
    assert len(listing.numbers) == 3


def test_paging_faults_are_survived_with_nothing_lost_or_doubled() -> None:
    """A dropped connection on page 1, a 429 on page 2 and a 503 on page 3: every number once."""
    faults = Faults(
        twilio_numbers=2500, twilio_faults={"0": ("drop",), "1": ("429",), "2": ("503",)}
    )
    with RunningSandbox(faults=faults) as sandbox:
        listing = list_numbers(sandbox_options(sandbox))
        stats = sandbox.state.stats()
    assert listing.numbers == tuple(generated_number(i) for i in range(2500))
    assert len(set(listing.numbers)) == 2500
    assert stats["twilio_by_status"] == {"dropped": 1, "429": 1, "503": 1, "200": 3}
    assert stats["twilio_requests"] == 6
    # aiohttp sends a GET again once, itself, when the server drops the connection (RFC 9112
    # 9.3.1): the stand-in sees that try, the retry policy does not.
    assert (listing.pages, listing.requests) == (3, 5)


def test_drops_past_the_transport_retry_are_retried_by_the_policy() -> None:
    """Two drops in a row on page 2 reach the retry policy, which tries again: nothing lost."""
    faults = Faults(twilio_numbers=2500, twilio_faults={"1": ("drop", "drop", "500")})
    with RunningSandbox(faults=faults) as sandbox:
        listing = list_numbers(sandbox_options(sandbox))
        stats = sandbox.state.stats()
    assert listing.numbers == tuple(generated_number(i) for i in range(2500))
    assert stats["twilio_by_status"] == {"dropped": 2, "500": 1, "200": 3}
    assert (listing.pages, listing.requests) == (3, 5)


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ("repeat_next", "does not advance at page 2: next_page_uri repeats a page already read"),
        (
            "not_json",
            "page 2 of Twilio account AC00000000000000000000000000000000's numbers is not JSON",
        ),
    ],
)
def test_broken_paging_from_the_stand_in_is_refused(step: str, expected: str) -> None:
    """The stand-in's repeat_next and not_json steps on page 2 each end the listing: exit 2."""
    faults = Faults(twilio_numbers=1500, twilio_faults={"1": (step,)})
    with RunningSandbox(faults=faults) as sandbox, pytest.raises(InputError) as caught:
        list_numbers(sandbox_options(sandbox))
    assert expected in str(caught.value)


def test_wrong_secret_against_the_stand_in_is_refused() -> None:
    """The stand-in's 401 (code 20003) is one line naming the credential's origin."""
    with (
        RunningSandbox(faults=Faults(twilio_numbers=3)) as sandbox,
        pytest.raises(UsageError) as caught,
    ):
        list_numbers(sandbox_options(sandbox, password="nope"))
    assert str(caught.value).startswith(
        f"Twilio refused the API key from {ORIGIN} for account {ACCOUNT_SID} (HTTP 401, code 20003)"
    )


def test_another_account_against_the_stand_in_is_404() -> None:
    """Listing an account the credentials are not for is Twilio's 404 message."""
    other = "AC" + "f" * 32
    with (
        RunningSandbox(faults=Faults(twilio_numbers=3)) as sandbox,
        pytest.raises(UsageError) as caught,
    ):
        list_numbers(sandbox_options(sandbox, sid=other))
    assert str(caught.value).startswith(f"Twilio knows no account {other} for the API key")
