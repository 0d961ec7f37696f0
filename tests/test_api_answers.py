"""Answers into words and outcomes: error text for the report, webhook detection, statuses."""

from __future__ import annotations

import errno

import aiohttp
import httpx
import pytest
from aiohttp.client_reqrep import ConnectionKey
from conftest import answer, error_body

from bulk_import.api.answers import (
    ERROR_TEXT_LIMIT,
    Final,
    describe_error,
    describe_exception,
    import_outcome,
    is_webhook_failure,
    parse_json,
    stop_reason,
)
from bulk_import.api.control import StopControl
from bulk_import.api.http import Blocked, Blocker
from bulk_import.api.proxies import DIRECT, Route
from bulk_import.models import Exit, Outcome, Provider, Row, Status

KEY = "sk_car_unit_test_key"
BASE = "https://api.test"
REQUEST_ID = "550e8400-e29b-41d4-a716-446655440000"
HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    + "<!-- padding -->\r\n" * 20
    + "</body>\r\n</html>\r\n"
)


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
    assert describe_exception(mapped) == "the server closed the connection without an answer"


#: What aiohttp names the connection a failure was on: 127.0.0.1:9, plain http.
CONNECTION_KEY = ConnectionKey("127.0.0.1", 9, False, True, None, None, None)


@pytest.mark.parametrize(
    ("cause", "said"),
    [
        (
            aiohttp.ClientConnectorError(
                CONNECTION_KEY, ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed")
            ),
            "connection refused: cannot connect to 127.0.0.1:9",
        ),
        (
            aiohttp.ClientConnectorError(CONNECTION_KEY, OSError(0, "odd failure")),
            "odd failure: cannot connect to 127.0.0.1:9",
        ),
        (aiohttp.ClientOSError(errno.ECONNRESET, "Connection reset by peer"), "connection reset"),
        (aiohttp.ClientOSError(0, "something else"), "something else"),
        (aiohttp.ServerTimeoutError("Timeout on reading data"), "no answer in time"),
        (
            aiohttp.ClientPayloadError("Response payload is not completed"),
            "the answer was cut short",
        ),
    ],
    ids=["refused", "other-connect", "reset", "other-os", "timeout", "payload"],
)
def test_a_connection_failure_is_said_in_plain_words(cause: Exception, said: str) -> None:
    """aiohttp's class names never reach a person: each failure is said as a person says it."""
    mapped = httpx.ConnectTimeout(str(cause))
    mapped.__cause__ = cause
    assert describe_exception(mapped) == said


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


# -- import_outcome: one final answer → one row's outcome -------------------------------------


def make_row(number: str = "+14155550100") -> Row:
    """Return a row ready to send."""
    return Row(
        row_number=2,
        input_number=number,
        number=number,
        label=number,
        provider=Provider(id="prov_x"),
    )


def outcome_of(
    response: httpx.Response | None, *, attempts: int = 1
) -> tuple[Outcome, StopControl]:
    """Return the outcome of one final answer, and the run's stop control after it."""
    control = StopControl()
    error = "" if response is not None else "ConnectError: refused"
    outcome = import_outcome(make_row(), Final(response, error, attempts), stopping="")
    if response is not None:
        control.stop_if_refused(response.status_code)
    return outcome, control


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
    assert control.exit_code == Exit.STOPPED
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
    final = Final(answer(502, "bad gateway"), "", 2)
    outcome = import_outcome(make_row(), final, stopping="interrupted by SIGINT")
    assert outcome.status is Status.FAILED
    assert outcome.error == (
        "run stopped before a retry (interrupted by SIGINT); last: HTTP 502: bad gateway"
    )


def test_a_row_never_sent_because_the_run_stopped_is_not_attempted() -> None:
    """A stop that came before the first request leaves the row not_attempted, not failed."""
    final = Final(None, "not sent: interrupted by SIGTERM", 0, not_sent=True)
    outcome = import_outcome(make_row(), final, stopping="interrupted by SIGTERM")
    assert (outcome.status, outcome.attempts) == (Status.NOT_ATTEMPTED, 0)
    assert outcome.error == "not sent: interrupted by SIGTERM"


# -- stop_reason ----------------------------------------------------------------------------------


def through(url: str, variable: str = "HTTPS_PROXY") -> Route:
    """Return the route through the proxy at ``url``."""
    proxy = httpx.Proxy(url)
    shown = str(proxy.url).replace("://", "://****@") if proxy.auth else str(proxy.url)
    return Route(proxy=proxy, variable=variable, shown=shown)


def blocked(blocker: Blocker, route: Route, detail: str = "why", status: int = 0) -> Blocked:
    """Return a failure of ``blocker`` on the way to api.test."""
    return Blocked(
        detail, blocker=blocker, host="api.test", route=route, option="--base-url", status=status
    )


PROXY_URL = "http://proxy.corp:3128/"


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (
            blocked(Blocker.CERTIFICATE, DIRECT, "certificate verify failed: self-signed"),
            "cannot verify the TLS certificate of api.test (certificate verify failed: "
            "self-signed); if a private CA signs it (a TLS-inspecting proxy), set SSL_CERT_FILE "
            "to a PEM file holding that CA",
        ),
        (
            blocked(Blocker.CERTIFICATE, through(PROXY_URL), "certificate verify failed: x"),
            f"cannot verify the TLS certificate of api.test through the proxy {PROXY_URL} "
            "(HTTPS_PROXY) (certificate verify failed: x); if a private CA",
        ),
        (
            blocked(Blocker.DNS, DIRECT, "Name or service not known"),
            "unknown host api.test (DNS: Name or service not known); check the host in --base-url",
        ),
        (
            blocked(Blocker.DNS, through(PROXY_URL, "all_proxy"), "Name or service not known"),
            f"cannot find the host api.test of the proxy {PROXY_URL} (all_proxy) "
            "(DNS: Name or service not known); check all_proxy",
        ),
        (
            blocked(Blocker.PROXY, through(PROXY_URL), "HTTP 403 Forbidden", 403),
            f"the proxy {PROXY_URL} (HTTPS_PROXY) refused to connect to api.test (HTTP 403 "
            "Forbidden); ask for api.test to be allowed through it, or check HTTPS_PROXY and "
            "NO_PROXY",
        ),
        (
            blocked(Blocker.PROXY, DIRECT, "HTTP 403 Forbidden", 403),
            "a proxy refused to connect to api.test (HTTP 403 Forbidden); ask for api.test to be "
            "allowed through it, or check HTTPS_PROXY and NO_PROXY",
        ),
        (
            blocked(Blocker.PROXY, through(PROXY_URL), "HTTP 407 Proxy Authentication", 407),
            f"the proxy {PROXY_URL} (HTTPS_PROXY) asks for credentials (HTTP 407 Proxy "
            "Authentication); put them in HTTPS_PROXY: http://USER:PASSWORD@HOST:PORT",
        ),
        (
            blocked(Blocker.PROXY, through("http://u:secret@proxy.corp:3128"), "HTTP 407", 407),
            "the proxy http://****@proxy.corp:3128 (HTTPS_PROXY) refused its credentials "
            "(HTTP 407); check them in HTTPS_PROXY",
        ),
        (
            blocked(Blocker.PROXY, DIRECT, "HTTP 407", 407),
            "a proxy asks for credentials (HTTP 407) but no proxy variable names it; set "
            "HTTPS_PROXY to http://USER:PASSWORD@HOST:PORT",
        ),
    ],
    ids=[
        "tls",
        "tls-via-proxy",
        "dns",
        "dns-of-proxy",
        "connect-refused",
        "connect-refused-unnamed",
        "407",
        "407-credentials",
        "407-unnamed",
    ],
)
def test_stop_reason_names_the_cause_and_the_fix(failure: Blocked, reason: str) -> None:
    """Each failure no retry mends has its one line: what stands in the way, and what to set."""
    said = stop_reason(failure)
    assert said.startswith(reason)
    assert "\n" not in said
    assert "secret" not in said


def test_stop_reason_is_empty_for_failures_a_retry_may_mend() -> None:
    """Timeouts, refused connections and a proxy that is down stop nothing by themselves."""
    for exc in (httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), ValueError("x")):
        assert stop_reason(exc) == ""
