"""Tests for the Twilio stand-in: IncomingPhoneNumbers paged as Twilio pages, over loopback."""

from __future__ import annotations

import email.utils
import re
from collections.abc import Iterator
from typing import Any

import httpx
import phonenumbers
import pytest

from bulk_import.sandbox import Faults, RunningSandbox
from bulk_import.sandbox.twilio import (
    ACCOUNT_SID,
    API_KEY_SECRET,
    API_KEY_SID,
    AUTH_TOKEN,
    TwilioOrg,
    generated_number,
)
from sandbox.helpers import OTHER_SID, assert_error_body, client_for

LIST = f"/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers.json"
KEY_AUTH = (API_KEY_SID, API_KEY_SECRET)


def twilio_client(sandbox: RunningSandbox, auth: tuple[str, str] = KEY_AUTH) -> httpx.Client:
    """Return a client of the Twilio stand-in with HTTP Basic auth."""
    return httpx.Client(base_url=sandbox.base_url, auth=auth, timeout=5)


@pytest.fixture
def fleet() -> Iterator[RunningSandbox]:
    """Run a sandbox whose Twilio account holds 2,500 generated numbers."""
    with RunningSandbox(faults=Faults(twilio_numbers=2500)) as running:
        yield running


def assert_twilio_error(response: httpx.Response, status: int, code: int) -> dict[str, Any]:
    """Check Twilio's error body: status, code, message and more_info, and nothing else."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "message", "more_info", "status"}
    assert (body["status"], body["code"]) == (status, code)
    assert body["more_info"].endswith(f"/errors/{code}")
    assert body["message"]
    return body


def read_all(c: httpx.Client, first: str) -> list[dict[str, Any]]:
    """Follow next_page_uri from ``first`` until it is null; return the pages."""
    pages = []
    uri: str | None = first
    while uri is not None:
        r = c.get(uri)
        assert r.status_code == 200, r.text
        pages.append(r.json())
        uri = pages[-1]["next_page_uri"]
        assert len(pages) < 100
    return pages


def test_lists_2500_numbers_over_3_pages_as_twilio_pages(fleet: RunningSandbox) -> None:
    """PageSize=1000 then next_page_uri gives 3 pages, every number once, with Twilio's fields."""
    with twilio_client(fleet) as c:
        pages = read_all(c, LIST + "?PageSize=1000")
    assert [len(p["incoming_phone_numbers"]) for p in pages] == [1000, 1000, 500]
    assert [p["page"] for p in pages] == [0, 1, 2]
    assert [(p["start"], p["end"]) for p in pages] == [(0, 999), (1000, 1999), (2000, 2499)]
    assert {p["page_size"] for p in pages} == {1000}
    assert {p["first_page_uri"] for p in pages} == {LIST + "?PageSize=1000&Page=0"}
    assert pages[0]["uri"] == LIST + "?PageSize=1000"
    assert pages[1]["uri"] == pages[0]["next_page_uri"]
    assert pages[0]["previous_page_uri"] is None
    first = pages[0]["incoming_phone_numbers"]
    assert pages[0]["next_page_uri"] == (
        f"{LIST}?PageSize=1000&Page=1&PageToken=PA{first[-1]['sid']}"
    )
    second = pages[1]["incoming_phone_numbers"]
    assert pages[1]["previous_page_uri"] == (
        f"{LIST}?PageSize=1000&Page=0&PageToken=PB{second[0]['sid']}"
    )
    assert pages[2]["next_page_uri"] is None
    listed = [n for p in pages for n in p["incoming_phone_numbers"]]
    numbers = [n["phone_number"] for n in listed]
    assert numbers == [generated_number(i)[0] for i in range(2500)]
    assert len({n["sid"] for n in listed}) == 2500
    assert all(phonenumbers.is_valid_number(phonenumbers.parse(n)) for n in numbers)
    assert fleet.state.stats()["twilio_by_status"] == {"200": 3}


def test_each_number_has_twilios_fields(fleet: RunningSandbox) -> None:
    """A listed number has Twilio's fields: PN sid, account, friendly name, RFC 2822 dates."""
    with twilio_client(fleet) as c:
        page = c.get(LIST, params={"PageSize": 2}).json()
    number = page["incoming_phone_numbers"][1]
    assert re.fullmatch(r"PN[0-9a-f]{32}", number["sid"])
    assert number["account_sid"] == ACCOUNT_SID
    assert number["phone_number"] == "+14153000001"
    assert number["friendly_name"] == "(415) 300-0001"
    assert number["capabilities"] == {"fax": False, "mms": True, "sms": True, "voice": True}
    assert number["status"] == "in-use"
    assert email.utils.parsedate_to_datetime(number["date_created"]).year == 2024
    assert (
        number["uri"]
        == f"/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers/{number['sid']}.json"
    )
    assert {"date_updated", "api_version", "voice_url", "sms_url", "trunk_sid"} <= set(number)


def test_page_size_defaults_to_50_and_pages_by_page_or_token(fleet: RunningSandbox) -> None:
    """No PageSize gives 50; Page=N gives that slice; a PB token goes back to the page before."""
    with twilio_client(fleet) as c:
        first = c.get(LIST).json()
        assert (first["page_size"], len(first["incoming_phone_numbers"])) == (50, 50)
        third = c.get(LIST, params={"PageSize": 100, "Page": 2}).json()
        assert third["start"] == 200
        assert third["incoming_phone_numbers"][0]["phone_number"] == generated_number(200)[0]
        fourth = c.get(third["next_page_uri"]).json()
        back = c.get(fourth["previous_page_uri"]).json()
        assert back["incoming_phone_numbers"] == third["incoming_phone_numbers"]
        assert back["page"] == 2
        beyond = c.get(LIST, params={"PageSize": 1000, "Page": 9}).json()
        assert beyond["incoming_phone_numbers"] == []
        assert (beyond["next_page_uri"], beyond["previous_page_uri"]) == (None, None)


@pytest.mark.parametrize(
    ("params", "code", "fragment"),
    [
        ({"PageSize": "1001"}, 20007, "maximum page size is 1000"),
        ({"PageSize": "0"}, 20001, "PageSize"),
        ({"PageSize": "ten"}, 20001, "PageSize"),
        ({"PageSize": "-5"}, 20001, "PageSize"),
        ({"Page": "x"}, 20001, "Page"),
        ({"PageToken": "PAPN" + "f" * 32}, 20001, "PageToken"),
        ({"PageToken": "nope"}, 20001, "PageToken"),
    ],
)
def test_bad_paging_parameters_are_400(
    fleet: RunningSandbox, params: dict[str, str], code: int, fragment: str
) -> None:
    """A PageSize outside 1 to 1000, a Page that is no number or an unknown token answer 400."""
    with twilio_client(fleet) as c:
        body = assert_twilio_error(c.get(LIST, params=params), 400, code)
    assert fragment in body["message"]
    assert fleet.state.stats()["twilio_by_status"] == {"400": 1}


@pytest.mark.parametrize(
    "auth",
    [
        (API_KEY_SID, "wrong_secret"),
        (ACCOUNT_SID, API_KEY_SECRET),  # the key's secret is not the account's token
        ("SK" + "1" * 32, API_KEY_SECRET),
        (API_KEY_SID, AUTH_TOKEN),
    ],
)
def test_wrong_credentials_are_401_20003(fleet: RunningSandbox, auth: tuple[str, str]) -> None:
    """Credentials that are not the stand-in's answer 401 code 20003, asking for Basic auth."""
    with twilio_client(fleet, auth) as c:
        r = c.get(LIST)
    assert_twilio_error(r, 401, 20003)
    assert r.headers["WWW-Authenticate"].startswith("Basic")
    assert auth[1] not in r.text


@pytest.mark.parametrize("header", [None, "Bearer sk_car_sandbox", "Basic %%%", "Basic " + "//79"])
def test_missing_or_malformed_basic_auth_is_401(fleet: RunningSandbox, header: str | None) -> None:
    """No Authorization, another scheme, or Basic that is not base64 text answer 401."""
    headers = {} if header is None else {"Authorization": header}
    assert_twilio_error(httpx.get(fleet.base_url + LIST, headers=headers), 401, 20003)


def test_account_sid_with_its_auth_token_is_accepted(fleet: RunningSandbox) -> None:
    """The account SID with the auth token authenticates, as TWILIO_AUTH_TOKEN does."""
    with twilio_client(fleet, (ACCOUNT_SID, AUTH_TOKEN)) as c:
        assert c.get(LIST, params={"PageSize": 1}).status_code == 200


def test_another_account_is_404_20404(fleet: RunningSandbox) -> None:
    """Good credentials for another account's path answer 404 code 20404 naming the resource."""
    with twilio_client(fleet) as c:
        r = c.get(f"/2010-04-01/Accounts/{OTHER_SID}/IncomingPhoneNumbers.json")
    body = assert_twilio_error(r, 404, 20404)
    assert OTHER_SID in body["message"]


def test_no_twilio_numbers_means_no_twilio_endpoint(sandbox: RunningSandbox) -> None:
    """Without twilio_numbers the list path is not served at all."""
    with twilio_client(sandbox) as c:
        assert c.get(LIST).status_code == 404


def test_page_faults_answer_in_order_then_serve_the_page() -> None:
    """twilio_faults answers a page's first requests 429, drop, 503, then serves it."""
    faults = Faults(twilio_numbers=2500, twilio_faults={"1": ("429", "drop", "503")})
    with RunningSandbox(faults=faults) as sb, twilio_client(sb) as c:
        first = c.get(LIST, params={"PageSize": 1000}).json()
        second = first["next_page_uri"]
        limited = c.get(second)
        body = assert_twilio_error(limited, 429, 20429)
        assert body["message"] == "Too Many Requests"
        with pytest.raises(httpx.TransportError):
            c.get(second)
        assert_twilio_error(c.get(second), 503, 20503)
        served = c.get(second)
        assert served.status_code == 200
        assert served.json()["start"] == 1000
        assert c.get(second).status_code == 200  # the steps are spent
        stats = sb.state.stats()
    assert stats["twilio_by_status"] == {"200": 3, "429": 1, "dropped": 1, "503": 1}
    assert stats["twilio_requests"] == 6
    assert (stats["requests"], stats["by_status"]) == (0, {})


def test_page_faults_not_json_and_a_next_page_uri_that_repeats() -> None:
    """not_json answers 200 with an HTML body; repeat_next serves a page pointing at itself."""
    faults = Faults(twilio_numbers=30, twilio_faults={"0": ("not_json", "repeat_next")})
    with RunningSandbox(faults=faults) as sb, twilio_client(sb) as c:
        url = LIST + "?PageSize=20"
        html = c.get(url)
        assert html.status_code == 200
        assert html.headers["content-type"].startswith("text/html")
        with pytest.raises(ValueError, match="Expecting value"):
            html.json()
        looped = c.get(url).json()
        assert looped["next_page_uri"] == looped["uri"] == url
        assert len(looped["incoming_phone_numbers"]) == 20
        assert c.get(url).json()["next_page_uri"].startswith(LIST + "?PageSize=20&Page=1&")


def test_bad_requests_do_not_spend_the_fault_steps() -> None:
    """A refused request (401, 404, 400) does not take a page's fault step."""
    faults = Faults(twilio_numbers=5, twilio_faults={"0": ("503",)})
    with RunningSandbox(faults=faults) as sb:
        with twilio_client(sb, (API_KEY_SID, "nope")) as bad:
            assert bad.get(LIST).status_code == 401
        with twilio_client(sb) as c:
            assert c.get(LIST, params={"PageSize": 5000}).status_code == 400
            assert c.get(LIST).status_code == 503
            assert c.get(LIST).status_code == 200


def test_listed_numbers_and_a_bought_one_come_in_purchase_order() -> None:
    """A list of numbers is served as given; a number bought through the admin call comes last."""
    listed = (
        {"phone_number": "+14155550100", "friendly_name": "Front desk"},
        {"phone_number": "+442071838750"},
    )
    with RunningSandbox(faults=Faults(twilio_numbers=listed)) as sb:
        with client_for(sb) as admin:
            bought = admin.post(
                "/_sandbox/twilio/numbers",
                json={"phone_number": "+14155550199", "friendly_name": "Night line"},
            )
            assert bought.status_code == 201
            assert bought.json()["friendly_name"] == "Night line"
            unnamed = admin.post("/_sandbox/twilio/numbers", json={"phone_number": "+14155550198"})
            assert unnamed.json()["friendly_name"] == "+14155550198"
        with twilio_client(sb) as c:
            numbers = c.get(LIST).json()["incoming_phone_numbers"]
        assert [(n["phone_number"], n["friendly_name"]) for n in numbers] == [
            ("+14155550100", "Front desk"),
            ("+442071838750", "+442071838750"),
            ("+14155550199", "Night line"),
            ("+14155550198", "+14155550198"),
        ]
        assert numbers[2] == bought.json()
        assert email.utils.parsedate_to_datetime(numbers[2]["date_created"]).year >= 2026


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"phone_number": "+14153000000"}, 409, "already"),
        ({"phone_number": "4155550100"}, 400, "E.164"),
        ({"friendly_name": "x"}, 400, "phone_number is required"),
        ({"phone_number": "+14155550100", "friendly_name": 5}, 400, "friendly_name"),
        ({"phone_number": "+14155550100", "sid": "PN1"}, 400, "unknown field(s): sid"),
        (["+14155550100"], 400, "JSON object"),
    ],
)
def test_buying_a_bad_or_held_number_is_refused(body: object, status: int, fragment: str) -> None:
    """The buy call refuses a number held already (409), and a malformed one (400)."""
    with RunningSandbox(faults=Faults(twilio_numbers=3)) as sb, client_for(sb) as admin:
        assert_error_body(admin.post("/_sandbox/twilio/numbers", json=body), status, fragment)
        assert len(sb.state.twilio or ()) == 3


def test_buying_without_the_twilio_stand_in_names_the_fix(client: httpx.Client) -> None:
    """With the Twilio stand-in off, the buy call answers 400 naming twilio_numbers."""
    r = client.post("/_sandbox/twilio/numbers", json={"phone_number": "+14155550100"})
    assert_error_body(r, 400, "twilio_numbers")


def test_reset_takes_back_bought_numbers_and_restores_the_steps() -> None:
    """A reset puts back the numbers at start and every unused fault step, and zeroes counts."""
    faults = Faults(twilio_numbers=2, twilio_faults={"0": ("503",)})
    with RunningSandbox(faults=faults) as sb, twilio_client(sb) as c, client_for(sb) as admin:
        assert c.get(LIST).status_code == 503
        admin.post("/_sandbox/twilio/numbers", json={"phone_number": "+14155550100"})
        assert len(c.get(LIST).json()["incoming_phone_numbers"]) == 3
        assert admin.get("/_sandbox/stats").json()["twilio_requests"] == 2
        admin.post("/_sandbox/reset")
        assert admin.get("/_sandbox/stats").json()["twilio_requests"] == 0
        assert c.get(LIST).status_code == 503
        assert len(c.get(LIST).json()["incoming_phone_numbers"]) == 2


def test_account_of_zero_numbers_lists_one_empty_page() -> None:
    """twilio_numbers 0 is an empty account: one empty page with a null next_page_uri."""
    account = TwilioOrg(Faults(twilio_numbers=0))
    page = account.numbers_page(ACCOUNT_SID, size=50, page=0, token=None, uri=LIST)
    assert page["incoming_phone_numbers"] == []
    assert (page["start"], page["end"], page["next_page_uri"]) == (0, 0, None)
    assert len(account) == 0


def test_a_pb_token_gives_the_numbers_just_before_it_and_no_more() -> None:
    """A PB token near the start gives only the numbers before it, never the token's own."""
    account = TwilioOrg(Faults(twilio_numbers=30))
    sixth = account.numbers_page(ACCOUNT_SID, size=1, page=5, token=None, uri=LIST)
    before = account.numbers_page(
        ACCOUNT_SID,
        size=10,
        page=0,
        token="PB" + sixth["incoming_phone_numbers"][0]["sid"],
        uri=LIST,
    )
    assert [n["phone_number"] for n in before["incoming_phone_numbers"]] == [
        generated_number(i)[0] for i in range(5)
    ]
    token = "PA" + sixth["incoming_phone_numbers"][0]["sid"]
    after = account.numbers_page(ACCOUNT_SID, size=10, page=1, token=token, uri=LIST)
    assert after["incoming_phone_numbers"][0]["phone_number"] == generated_number(6)[0]
    assert after["next_page_uri"] is not None
