"""The HTTP client: error words for the report, webhook detection, base URLs, bad API answers."""

from __future__ import annotations

import asyncio
import csv
import json
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from bulk_import import importer, retry
from bulk_import.client import (
    ERROR_TEXT_LIMIT,
    PHONE_NUMBERS,
    CartesiaClient,
    check_base_url,
    describe_error,
    describe_exception,
    is_loopback,
    is_webhook_failure,
    parse_json,
)
from bulk_import.config import ApiOptions, InputOptions, OutputOptions, Secret
from bulk_import.errors import UsageError
from bulk_import.models import Outcome, Provider, Row, Status
from bulk_import.runner import EXIT_STOPPED, Sent, StopControl

KEY = "sk_car_unit_test_key"
BASE = "https://api.test"
REQUEST_ID = "550e8400-e29b-41d4-a716-446655440000"
HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    + "<!-- padding -->\r\n" * 20
    + "</body>\r\n</html>\r\n"
)


def answer(status: int, body: object = None, **kwargs: Any) -> httpx.Response:
    """Return a response with a JSON body (a dict or list), raw text (a str), or no body."""
    if isinstance(body, str):
        return httpx.Response(status, text=body, **kwargs)
    if body is None:
        return httpx.Response(status, **kwargs)
    return httpx.Response(status, json=body, **kwargs)


def error_body(title: str, message: str, **extra: object) -> dict[str, object]:
    """Return Cartesia's JSON error body."""
    return {"error_code": None, "title": title, "message": message, **extra}


# -- describe_error ---------------------------------------------------------------------------


def test_describe_error_quotes_title_message_and_request_id() -> None:
    """A JSON error body is quoted as title: message, with the request id for support."""
    body = error_body("Not found", "provider not found", request_id=REQUEST_ID)
    assert describe_error(answer(404, body)) == (
        f"HTTP 404: Not found: provider not found (request_id {REQUEST_ID})"
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"title": "Conflict"}, "HTTP 409: Conflict"),
        ({"message": "already there", "title": ""}, "HTTP 409: already there"),
        ({"title": "T", "message": "M", "request_id": ""}, "HTTP 409: T: M"),
        ({"title": "T", "message": None, "error_code": "x"}, "HTTP 409: T"),
    ],
)
def test_describe_error_uses_the_fields_that_are_there(
    body: dict[str, object], expected: str
) -> None:
    """Only the title and message that are present and non-empty are quoted."""
    assert describe_error(answer(409, body)) == expected


def test_describe_error_html_body_is_quoted_short_on_one_line() -> None:
    """A proxy's HTML page is quoted as its first 200 characters, whitespace folded."""
    text = describe_error(answer(502, HTML_502))
    assert text.startswith("HTTP 502: <html> <head><title>502 Bad Gateway</title></head> <body>")
    assert "\n" not in text
    assert "\r" not in text
    assert len(text) == len("HTTP 502: ") + ERROR_TEXT_LIMIT


def test_describe_error_neutralises_terminal_escapes() -> None:
    """Control characters in an answer cannot reach a terminal: each becomes U+FFFD."""
    body = error_body("Bad\x1b[31m request", "see \x1b]0;pwned\x07 here\x00")
    text = describe_error(answer(400, body))
    assert text == "HTTP 400: Bad\ufffd[31m request: see \ufffd]0;pwned\ufffd here\ufffd"
    assert describe_error(answer(502, "<b>\x1b[2J</b>")) == "HTTP 502: <b>\ufffd[2J</b>"


def test_describe_error_masks_the_key_an_answer_echoes() -> None:
    """A proxy page that quotes the request's headers back does not put the key in the report."""
    request = httpx.Request("POST", BASE, headers={"Authorization": f"Bearer {KEY}"})
    page = f"<pre>Authorization: Bearer {KEY}</pre>"
    response = httpx.Response(502, text=page, request=request)
    assert describe_error(response) == "HTTP 502: <pre>Authorization: Bearer ****</pre>"
    body = error_body("Unauthorized", f"bad key {KEY}")
    response = httpx.Response(401, json=body, request=request)
    assert describe_error(response) == "HTTP 401: Unauthorized: bad key ****"


def test_describe_error_empty_body() -> None:
    """An empty body says so, with the status."""
    assert describe_error(answer(503)) == "HTTP 503 with an empty body"
    assert describe_error(answer(503, "  \n ")) == "HTTP 503 with an empty body"


@pytest.mark.parametrize(
    "raw",
    [
        '{"title": "Too many requests", "message": "slow do',  # cut short by a proxy
        '["a", "list"]',
        '{"error_code": "quota_exceeded"}',  # JSON, but neither title nor message
        '"just a string"',
    ],
)
def test_describe_error_other_bodies_are_quoted_raw(raw: str) -> None:
    """A body that is not Cartesia's error object is quoted as it is."""
    assert describe_error(answer(429, raw)) == f"HTTP 429: {raw}"


def test_describe_error_survives_bytes_that_are_not_utf8() -> None:
    """A body in another encoding is still quoted, never an exception."""
    response = httpx.Response(500, content=b"\xff\xfe Erreur interne \xe9")
    assert parse_json(response) is None
    assert describe_error(response).startswith("HTTP 500: ")


# -- describe_exception -----------------------------------------------------------------------


def test_describe_exception_names_the_failure_on_one_line() -> None:
    """A transport failure is its kind and its text, on one line, at most 200 characters."""
    assert describe_exception(httpx.ReadTimeout("timed out")) == "ReadTimeout: timed out"
    assert describe_exception(httpx.ConnectError("")) == "ConnectError"
    long = describe_exception(httpx.RemoteProtocolError("line one\nline two " + "x" * 500))
    assert long.startswith("RemoteProtocolError: line one line two x")
    assert len(long) == len("RemoteProtocolError: ") + ERROR_TEXT_LIMIT


def test_describe_exception_names_the_transports_own_error() -> None:
    """A transport error that httpx-aiohttp maps to a misleading class is named by its cause."""
    cause = aiohttp.ServerDisconnectedError()
    mapped = httpx.ConnectTimeout(str(cause))
    mapped.__cause__ = cause  # what `raise ... from cause` in httpx-aiohttp leaves
    assert describe_exception(mapped) == "ServerDisconnectedError: Server disconnected"


# -- is_webhook_failure -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        error_body("Webhook configuration failed", "no agent is assigned"),
        error_body("Import failed", "the WEBHOOK could not be set"),
        {"error_code": "webhook_configuration_failed", "title": "Bad request", "message": "x"},
        "Webhook configuration failed",  # plain text from a proxy or an older API
    ],
)
def test_webhook_failure_is_found_in_title_message_code_or_text(body: object) -> None:
    """A 400 that says "webhook" anywhere the API puts words is a webhook failure."""
    assert is_webhook_failure(answer(400, body))


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, error_body("Import failed", "phone number not found in the provider account")),
        (400, {"error_code": None, "title": 7, "message": ["webhook"]}),  # not text
        (400, {"detail": "webhook"}),  # not one of the fields the API uses
        (400, ""),
        (404, error_body("Webhook configuration failed", "wrong status")),
        (500, "webhook"),
    ],
)
def test_other_answers_are_not_webhook_failures(status: int, body: object) -> None:
    """Only a 400 whose title, message, error code or text says webhook counts."""
    assert not is_webhook_failure(answer(status, body))


# -- base URL ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.cartesia.ai", "https://api.cartesia.ai"),
        ("https://api.cartesia.ai/", "https://api.cartesia.ai"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("http://localhost:1234", "http://localhost:1234"),
        ("http://LOCALHOST", "http://LOCALHOST"),
        ("http://127.9.9.9", "http://127.9.9.9"),
        ("http://[::1]:8080", "http://[::1]:8080"),
    ],
)
def test_base_url_accepted(url: str, expected: str) -> None:
    """HTTPS anywhere and plain HTTP on loopback are accepted, without a trailing slash."""
    assert check_base_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://api.cartesia.ai",
        "http://10.0.0.1:8080",
        "http://localhost.example.com",
        "http://127.0.0.1@evil.example/",  # the host is after the @
        "http://0.0.0.0:8080",
    ],
)
def test_plain_http_off_this_machine_is_refused(url: str) -> None:
    """Plain http:// to a host that is not loopback is refused: the key would cross the wire."""
    with pytest.raises(UsageError, match=r"^refusing plain http:// to .*use https://"):
        check_base_url(url)


@pytest.mark.parametrize("url", ["http://[::1", "https://api.cartesia.ai:port"])
def test_base_url_that_does_not_parse_is_refused(url: str) -> None:
    """A base URL that cannot be parsed is refused in one line, with an example."""
    with pytest.raises(UsageError, match=r"is not a valid URL, e\.g\. https://api"):
        check_base_url(url)


@pytest.mark.parametrize("url", ["api.cartesia.ai", "ftp://api.cartesia.ai", "https://", ""])
def test_base_url_that_is_not_http_is_refused(url: str) -> None:
    """A base URL without an http(s) scheme and host is refused with an example."""
    with pytest.raises(UsageError, match=r"is not an http\(s\) URL, e\.g\. https://api"):
        check_base_url(url)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost", True),
        ("LocalHost", True),
        ("127.0.0.1", True),
        ("127.255.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),  # noqa: S104 - every interface, not loopback: the point
        ("10.1.2.3", False),
        ("example.com", False),
        ("localhost.example.com", False),
        ("", False),
    ],
)
def test_is_loopback(host: str, expected: bool) -> None:
    """Only names and addresses of this machine are loopback."""
    assert is_loopback(host) is expected


# -- CartesiaClient over a MockTransport ------------------------------------------------------


def api_options(**overrides: Any) -> ApiOptions:
    """Return API options for the mock API, with a test key."""
    values: dict[str, Any] = {"api_key": Secret(KEY), "base_url": BASE, "max_attempts": 3}
    values.update(overrides)
    return ApiOptions(**values)


async def test_client_sends_the_api_headers_paths_and_bodies() -> None:
    """Every request carries the Bearer key and the version, on the documented paths."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"data": [], "has_more": False})

    options = api_options(base_url=BASE + "/", api_version="2099-01-01")
    async with CartesiaClient(options, transport=httpx.MockTransport(handler)) as client:
        await client.import_number({"number": "+14155550100", "label": "x"})
        await client.list_numbers({"q": "+14155550100", "limit": 100})
        await client.update_number("pn_1", {"agent_id": "agent_1"})
    assert [(r.method, r.url.path) for r in seen] == [
        ("POST", PHONE_NUMBERS),
        ("GET", PHONE_NUMBERS),
        ("PATCH", PHONE_NUMBERS + "/pn_1"),
    ]
    for request in seen:
        assert request.url.host == "api.test"
        assert request.headers["authorization"] == f"Bearer {KEY}"
        assert request.headers["cartesia-version"] == "2099-01-01"
    assert json.loads(seen[0].content) == {"number": "+14155550100", "label": "x"}
    assert seen[1].url.params["q"] == "+14155550100"
    assert seen[1].url.params["limit"] == "100"
    assert json.loads(seen[2].content) == {"agent_id": "agent_1"}


async def test_client_keeps_no_cookies() -> None:
    """A cookie the API sets is never sent back: the client keeps none."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            201, json={"id": "pn_1"}, headers={"set-cookie": "session=abc; Path=/"}
        )

    async with CartesiaClient(api_options(), transport=httpx.MockTransport(handler)) as client:
        await client.import_number({"number": "+14155550100"})
        await client.import_number({"number": "+14155550101"})
    assert [r.headers.get("cookie") for r in seen] == [None, None]


def test_client_refuses_plain_http_off_this_machine() -> None:
    """The client itself checks the base URL, whatever called it."""
    with pytest.raises(UsageError, match="refusing plain http://"):
        CartesiaClient(api_options(base_url="http://api.cartesia.ai"))


def test_secret_never_shows_in_repr_or_str() -> None:
    """The key's holder prints as stars."""
    options = api_options()
    assert KEY not in repr(options)
    assert KEY not in str(options.api_key)
    assert options.api_key == Secret(KEY)
    assert hash(options.api_key) == hash(Secret(KEY))


# -- import_outcome: one final answer → one row's outcome -------------------------------------


def make_row(number: str = "+14155550100") -> Row:
    """Return a row ready to send."""
    return Row(
        row=2, input_number=number, number=number, label=number, provider=Provider(id="prov_x")
    )


def outcome_of(
    response: httpx.Response | None, *, attempts: int = 1
) -> tuple[Outcome, StopControl]:
    """Return the outcome of one final answer, and the run's stop control after it."""
    control = StopControl()
    error = "" if response is not None else "ConnectError: refused"
    return importer.import_outcome(make_row(), Sent(response, error, attempts), control), control


def test_201_is_imported_with_the_id() -> None:
    """201 gives imported with the phone number's id, whatever other fields come along."""
    body = {
        "id": "pn_123",
        "number": "+14155550100",
        "provider": {"type": "sip_trunk", "id": "prov_new", "brand_new": True},
        "some_future_field": [1, 2, 3],
    }
    outcome, control = outcome_of(answer(201, body), attempts=2)
    assert (outcome.status, outcome.http_status, outcome.phone_number_id) == (
        Status.IMPORTED,
        201,
        "pn_123",
    )
    assert outcome.attempts == 2
    assert not control.stopping


@pytest.mark.parametrize("body", ["created", ["pn_1"], {"number": "+14155550100"}])
def test_201_without_an_id_is_still_imported(body: object) -> None:
    """A 201 whose body has no id (or is not JSON) is imported, with the id left empty."""
    outcome, _ = outcome_of(answer(201, body))
    assert (outcome.status, outcome.phone_number_id) == (Status.IMPORTED, "")


def test_409_is_already_imported() -> None:
    """409 means the number is there already."""
    outcome, _ = outcome_of(answer(409, error_body("Conflict", "already imported")))
    assert (outcome.status, outcome.http_status, outcome.error) == (
        Status.ALREADY_IMPORTED,
        409,
        "",
    )


def test_webhook_400_is_webhook_failed_with_the_api_words() -> None:
    """A webhook 400 is webhook_failed and quotes the API."""
    body = error_body("Webhook configuration failed", "no agent", request_id=REQUEST_ID)
    outcome, control = outcome_of(answer(400, body))
    assert outcome.status is Status.WEBHOOK_FAILED
    assert outcome.error == (
        f"HTTP 400: Webhook configuration failed: no agent (request_id {REQUEST_ID})"
    )
    assert not control.stopping


def test_200_instead_of_201_is_failed_with_a_clear_reason() -> None:
    """An unexpected 2xx is not taken as imported: the row needs a look."""
    outcome, _ = outcome_of(answer(200, {"id": "pn_1"}))
    assert (outcome.status, outcome.http_status) == (Status.FAILED, 200)
    assert outcome.error == (
        "unexpected HTTP 200 (expected 201 Created); check the number in Cartesia"
    )


def test_redirect_is_failed_and_names_where_it_pointed() -> None:
    """A 3xx is failed with the target named, never followed."""
    outcome, _ = outcome_of(answer(307, "", headers={"Location": "https://evil.example/x"}))
    assert (outcome.status, outcome.http_status) == (Status.FAILED, 307)
    assert outcome.error == "unexpected redirect (HTTP 307 to https://evil.example/x), not followed"
    outcome, _ = outcome_of(answer(301))
    assert outcome.error == "unexpected redirect (HTTP 301 to ?), not followed"


@pytest.mark.parametrize("status", [401, 403])
def test_refused_key_stops_the_run(status: int) -> None:
    """401 and 403 fail the row and stop the run with exit 3, naming the fix."""
    outcome, control = outcome_of(answer(status, error_body("Unauthorized", "invalid API key")))
    assert outcome.status is Status.FAILED
    assert outcome.error == f"HTTP {status}: Unauthorized: invalid API key"
    assert control.stopping
    assert control.exit_code == EXIT_STOPPED
    assert f"the API refused the key (HTTP {status})" in control.reason


def test_other_4xx_fail_without_stopping() -> None:
    """A 404 or 422 fails its row only."""
    outcome, control = outcome_of(answer(422, error_body("Invalid request", "label too long")))
    assert (outcome.status, outcome.error) == (
        Status.FAILED,
        "HTTP 422: Invalid request: label too long",
    )
    assert not control.stopping


def test_retries_exhausted_say_so_with_the_last_answer() -> None:
    """A retryable status as the final answer means the retries ran out."""
    outcome, _ = outcome_of(answer(503, HTML_502), attempts=6)
    assert outcome.status is Status.FAILED
    assert outcome.error.startswith("gave up after 6 attempts: HTTP 503: <html>")


def test_no_answer_at_all_is_failed_with_the_transport_error() -> None:
    """No response after the retries: failed, naming the transport error."""
    outcome, _ = outcome_of(None, attempts=6)
    assert (outcome.status, outcome.http_status) == (Status.FAILED, None)
    assert outcome.error == "gave up after 6 attempts: ConnectError: refused"


def test_no_answer_because_the_run_stopped_says_so() -> None:
    """A row whose retry was cut short by a stop says the run stopped, and why."""
    control = StopControl()
    control.stop("interrupted by SIGINT", exit_code=130)
    sent = Sent(answer(502, "bad gateway"), "", 2)
    outcome = importer.import_outcome(make_row(), sent, control)
    assert outcome.status is Status.FAILED
    assert outcome.error == (
        "run stopped before a retry (interrupted by SIGINT); last: HTTP 502: bad gateway"
    )


def test_a_row_never_sent_because_the_run_stopped_is_not_attempted() -> None:
    """A stop that came before the first request leaves the row not_attempted, not failed."""
    control = StopControl()
    control.stop("interrupted by SIGTERM", exit_code=130)
    sent = Sent(None, "not sent: interrupted by SIGTERM", 0)
    outcome = importer.import_outcome(make_row(), sent, control)
    assert (outcome.status, outcome.attempts) == (Status.NOT_ATTEMPTED, 0)
    assert outcome.error == "not sent: interrupted by SIGTERM"


# -- run() over a MockTransport: bad API answers end to end -----------------------------------


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the backoff between retries a few milliseconds, so retries are cheap to test."""
    monkeypatch.setattr(retry, "backoff_s", lambda attempt, **_: 0.001 * attempt)


def run_mock(
    tmp_path: Path,
    handler: Callable[[httpx.Request], httpx.Response]
    | Callable[[httpx.Request], Coroutine[None, None, httpx.Response]],
    numbers: list[str],
    **api: Any,
) -> tuple[int, list[dict[str, str]]]:
    """Import ``numbers`` through a mock API; return the exit code and the report's lines."""
    source = tmp_path / "in.csv"
    source.write_text("number\n" + "".join(f"{n}\n" for n in numbers))
    report = tmp_path / "report.csv"
    summary = importer.run(
        source=str(source),
        input_options=InputOptions(provider_id="prov_x"),
        api=api_options(**api),
        output=OutputOptions(report=report, quiet=True, progress=False),
        transport=httpx.MockTransport(handler),
    )
    with report.open(newline="") as f:
        return summary.exit_code, list(csv.DictReader(f))


def numbers(count: int) -> list[str]:
    """Return ``count`` distinct valid US numbers."""
    return [f"+1415{3_000_000 + i:07d}" for i in range(count)]


def test_run_over_bad_answers(tmp_path: Path, fast_backoff: None) -> None:
    """200, 3xx, HTML 502 and odd 201 bodies each end in the right row status, once."""
    given = numbers(5)
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        number = json.loads(request.content)["number"]
        seen.append(number)
        kind = given.index(number)
        if kind == 0:
            return answer(200, {"id": "pn_0"})
        if kind == 1:
            return answer(302, "", headers={"Location": "https://elsewhere.example/"})
        if kind == 2:
            return answer(502, HTML_502, headers={"content-type": "text/html"})
        if kind == 3:
            return answer(201, {"id": "pn_3", "brand_new_field": {"x": 1}, "agent": None})
        return answer(201, "")

    code, lines = run_mock(tmp_path, handler, given, max_attempts=3)
    assert code == 1
    by_number = {line["number"]: line for line in lines}
    assert [line["row"] for line in lines] == ["2", "3", "4", "5", "6"]
    assert by_number[given[0]]["status"] == "failed"
    assert "unexpected HTTP 200" in by_number[given[0]]["error"]
    redirect = by_number[given[1]]
    assert (redirect["status"], redirect["http_status"], redirect["attempts"]) == (
        "failed",
        "302",
        "1",
    )
    assert redirect["error"] == (
        "unexpected redirect (HTTP 302 to https://elsewhere.example/), not followed"
    )
    gateway = by_number[given[2]]
    assert (gateway["status"], gateway["http_status"], gateway["attempts"]) == (
        "failed",
        "502",
        "3",
    )
    assert gateway["error"].startswith(
        "gave up after 3 attempts: HTTP 502: <html> <head><title>502 Bad Gateway"
    )
    assert (by_number[given[3]]["status"], by_number[given[3]]["phone_number_id"]) == (
        "imported",
        "pn_3",
    )
    assert (by_number[given[4]]["status"], by_number[given[4]]["phone_number_id"]) == (
        "imported",
        "",
    )
    # The redirect was not followed: only the POSTs were made, 3 of them for the 502.
    assert sorted(seen) == sorted([*given, given[2], given[2]])


def test_run_stops_at_403(tmp_path: Path, fast_backoff: None) -> None:
    """A 403 stops the run at once with exit 3; the rows not sent are not_attempted."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer(403, error_body("Forbidden", "this key may not import numbers"))

    code, lines = run_mock(tmp_path, handler, numbers(20), concurrency=1)
    assert code == EXIT_STOPPED
    assert len(seen) == 1
    statuses = [line["status"] for line in lines]
    assert statuses == ["failed"] + ["not_attempted"] * 19
    assert lines[0]["error"] == "HTTP 403: Forbidden: this key may not import numbers"
    assert lines[1]["error"].startswith("not sent: the API refused the key (HTTP 403)")


def test_run_retries_transport_errors_then_gives_up(tmp_path: Path, fast_backoff: None) -> None:
    """Connection errors are retried up to --max-attempts, then the row fails naming the error."""
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) <= 2:
            raise httpx.ConnectError("connection refused")
        if len(calls) == 3:
            raise httpx.ReadTimeout("read timed out")
        return answer(201, {"id": "pn_ok"})

    code, lines = run_mock(tmp_path, handler, numbers(2), concurrency=1, max_attempts=3)
    assert code == 1
    first, second = lines
    assert (first["status"], first["attempts"], first["http_status"]) == ("failed", "3", "")
    assert first["error"] == "gave up after 3 attempts: ReadTimeout: read timed out"
    assert (second["status"], second["attempts"], second["phone_number_id"]) == (
        "imported",
        "1",
        "pn_ok",
    )


def test_run_retries_408_429_5xx_and_honours_retry_after(
    tmp_path: Path, fast_backoff: None
) -> None:
    """Every retryable status is retried; a Retry-After in ms is waited; the row ends imported."""
    statuses = iter([408, 429, 500, 502, 503, 504])
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(statuses, 201)
        calls.append(status)
        if status == 201:
            return answer(201, {"id": "pn_7"})
        headers = {"retry-after-ms": "20"} if status == 429 else {}
        return answer(status, error_body("Busy", "try again"), headers=headers)

    code, lines = run_mock(tmp_path, handler, numbers(1), max_attempts=7)
    assert code == 0
    assert calls == [408, 429, 500, 502, 503, 504, 201]
    assert (lines[0]["status"], lines[0]["attempts"], lines[0]["phone_number_id"]) == (
        "imported",
        "7",
        "pn_7",
    )


def test_run_honours_retry_after_dates_and_ignores_nonsense(
    tmp_path: Path, fast_backoff: None
) -> None:
    """A Retry-After date in the past means now; an unreadable retry-after-ms is ignored."""
    answers = iter(
        [
            answer(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),
            answer(429, headers={"retry-after-ms": "soon", "Retry-After": "whenever"}),
            answer(201, {"id": "pn_9"}),
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        return next(answers)

    code, lines = run_mock(tmp_path, handler, numbers(1), max_attempts=3)
    assert code == 0
    assert (lines[0]["status"], lines[0]["attempts"]) == ("imported", "3")


def test_run_gives_up_on_an_answer_slower_than_timeout(tmp_path: Path, fast_backoff: None) -> None:
    """An answer that does not come within --timeout is a timeout, retried, then the row fails."""

    async def handler(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return answer(201, {"id": "pn_late"})

    started = time.monotonic()
    code, lines = run_mock(tmp_path, handler, numbers(1), max_attempts=2, timeout=0.1)
    assert time.monotonic() - started < 2
    assert code == 1
    assert (lines[0]["status"], lines[0]["attempts"]) == ("failed", "2")
    assert lines[0]["error"] == (
        "gave up after 2 attempts: ReadTimeout: no complete answer within --timeout 0.1 s"
    )


def test_run_does_not_retry_other_4xx(tmp_path: Path, fast_backoff: None) -> None:
    """A 400 or 404 is final: one request, failed, quoting the API."""
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return answer(404, error_body("Not found", "agent not found", request_id=REQUEST_ID))

    code, lines = run_mock(tmp_path, handler, numbers(1))
    assert code == 1
    assert len(calls) == 1
    assert lines[0]["error"] == (f"HTTP 404: Not found: agent not found (request_id {REQUEST_ID})")


def test_transport_errors_do_not_leak_the_key(tmp_path: Path, fast_backoff: None) -> None:
    """Whatever a transport error says, the report never holds the key."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"refused ({request.url})")

    _, lines = run_mock(tmp_path, handler, numbers(1), max_attempts=2)
    assert lines[0]["status"] == "failed"
    assert KEY not in (tmp_path / "report.csv").read_text()


def test_run_survives_transport_errors_httpx_does_not_map(
    tmp_path: Path, fast_backoff: None
) -> None:
    """An aiohttp error that reaches the client unmapped is a transport error, not a crash."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise aiohttp.ClientPayloadError("response payload is not completed")

    code, lines = run_mock(tmp_path, handler, numbers(2), max_attempts=2)
    assert code == 1
    for line in lines:
        assert (line["status"], line["attempts"]) == ("failed", "2")
        assert line["error"] == (
            "gave up after 2 attempts: RemoteProtocolError: "
            "ClientPayloadError: response payload is not completed"
        )
