"""The Cartesia API layer: base URLs, headers, cookies, and runs over a MockTransport.

The MockTransport tests drive ``run`` end to end through one function standing for the API: a
small unit of the answer mapping each, with real end-to-end runs in test_jobs_importing.py.
"""

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
from conftest import answer, error_body

from bulk_import.api.cartesia import PHONE_NUMBERS, CartesiaApi
from bulk_import.api.control import StopControl
from bulk_import.api.http import check_base_url, is_loopback
from bulk_import.config import ApiOptions, InputOptions, OutputOptions, Secret
from bulk_import.errors import UsageError
from bulk_import.jobs.importing import run as run_job
from bulk_import.models import Exit, Provider, Row

KEY = "sk_car_unit_test_key"
BASE = "https://api.test"
REQUEST_ID = "550e8400-e29b-41d4-a716-446655440000"
HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    + "<!-- padding -->\r\n" * 20
    + "</body>\r\n</html>\r\n"
)
EMPTY_ACCOUNT = {"data": [], "has_more": False}


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
    transport = httpx.MockTransport(handler)
    async with CartesiaApi(options, control=StopControl(), transport=transport) as api:
        await api.import_row(make_row())
        await api.get(PHONE_NUMBERS, {"q": "+14155550100", "limit": 100})
        await api.assign_agent(make_row(), number_id="pn_1", agent_id="agent_1")
    assert [(r.method, r.url.path) for r in seen] == [
        ("POST", PHONE_NUMBERS),
        ("GET", PHONE_NUMBERS),
        ("PATCH", PHONE_NUMBERS + "/pn_1"),
    ]
    for request in seen:
        assert request.url.host == "api.test"
        assert request.headers["authorization"] == f"Bearer {KEY}"
        assert request.headers["cartesia-version"] == "2099-01-01"
    assert json.loads(seen[0].content) == {
        "number": "+14155550100",
        "label": "x",
        "provider": {"id": "prov_x"},
    }
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

    transport = httpx.MockTransport(handler)
    async with CartesiaApi(api_options(), control=StopControl(), transport=transport) as api:
        await api.import_row(make_row())
        await api.import_row(make_row())
    assert [r.headers.get("cookie") for r in seen] == [None, None]


def test_client_refuses_plain_http_off_this_machine() -> None:
    """The API layer itself checks the base URL, whatever called it."""
    with pytest.raises(UsageError, match="refusing plain http://"):
        CartesiaApi(api_options(base_url="http://api.cartesia.ai"), control=StopControl())


def make_row(number: str = "+14155550100") -> Row:
    """Return a row ready to send."""
    return Row(
        row_number=2, input_number=number, number=number, label="x", provider=Provider(id="prov_x")
    )


def test_secret_never_shows_in_repr_or_str() -> None:
    """The key's holder prints as stars."""
    options = api_options()
    assert KEY not in repr(options)
    assert KEY not in str(options.api_key)
    assert options.api_key == Secret(KEY)
    assert hash(options.api_key) == hash(Secret(KEY))


# -- run() over a MockTransport: bad API answers end to end -----------------------------------


Handler = (
    Callable[[httpx.Request], httpx.Response]
    | Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]
)


def with_listing(
    handler: Handler,
) -> Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]:
    """Answer the check before the first row (GET ?limit=1) as an empty account; POSTs go on."""

    async def both(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return answer(200, EMPTY_ACCOUNT)
        result = handler(request)
        return await result if asyncio.iscoroutine(result) else result

    return both


def run_mock(
    tmp_path: Path, handler: Handler, numbers: list[str], **api: Any
) -> tuple[int, list[dict[str, str]]]:
    """Import ``numbers`` through a mock API; return the exit code and the report's lines."""
    source = tmp_path / "in.csv"
    source.write_text("number\n" + "".join(f"{n}\n" for n in numbers))
    report = tmp_path / "report.csv"
    summary = run_job(
        source=str(source),
        input_options=InputOptions(provider_id="prov_x"),
        api=api_options(**api),
        output=OutputOptions(report=report, quiet=True, progress=False),
        transport=httpx.MockTransport(with_listing(handler)),
    )
    with report.open(newline="") as f:
        return summary.exit_code, list(csv.DictReader(f))


def numbers(count: int) -> list[str]:
    """Return ``count`` distinct valid US numbers."""
    return [f"+1415{3_000_000 + i:07d}" for i in range(count)]


def test_run_over_bad_answers(tmp_path: Path, fast_retries: None) -> None:
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


def test_run_stops_at_403(tmp_path: Path, fast_retries: None) -> None:
    """A 403 stops the run at once with exit 3; the rows not sent are not_attempted."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer(403, error_body("Forbidden", "this key may not import numbers"))

    code, lines = run_mock(tmp_path, handler, numbers(20), concurrency=1)
    assert code == Exit.STOPPED
    assert len(seen) == 1
    statuses = [line["status"] for line in lines]
    assert statuses == ["failed"] + ["not_attempted"] * 19
    assert lines[0]["error"] == "HTTP 403: Forbidden: this key may not import numbers"
    assert lines[1]["error"].startswith(f"not sent: the API at {BASE} refused the key (HTTP 403)")


def test_run_retries_transport_errors_then_gives_up(tmp_path: Path, fast_retries: None) -> None:
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
    tmp_path: Path, fast_retries: None
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
    tmp_path: Path, fast_retries: None
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


def test_run_gives_up_on_an_answer_slower_than_timeout(tmp_path: Path, fast_retries: None) -> None:
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


def test_run_does_not_retry_other_4xx(tmp_path: Path, fast_retries: None) -> None:
    """A 400 or 404 is final: one request, failed, quoting the API."""
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return answer(404, error_body("Not found", "agent not found", request_id=REQUEST_ID))

    code, lines = run_mock(tmp_path, handler, numbers(1))
    assert code == 1
    assert len(calls) == 1
    assert lines[0]["error"] == (f"HTTP 404: Not found: agent not found (request_id {REQUEST_ID})")


def test_transport_errors_do_not_leak_the_key(tmp_path: Path, fast_retries: None) -> None:
    """Whatever a transport error says, the report never holds the key."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"refused ({request.url})")

    _, lines = run_mock(tmp_path, handler, numbers(1), max_attempts=2)
    assert lines[0]["status"] == "failed"
    assert KEY not in (tmp_path / "report.csv").read_text()


def test_run_survives_transport_errors_httpx_does_not_map(
    tmp_path: Path, fast_retries: None
) -> None:
    """An aiohttp error that reaches the client unmapped is a transport error, not a crash."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise aiohttp.ClientPayloadError("response payload is not completed")

    code, lines = run_mock(tmp_path, handler, numbers(2), max_attempts=2)
    assert code == 1
    for line in lines:
        assert (line["status"], line["attempts"]) == ("failed", "2")
        assert line["error"] == "gave up after 2 attempts: the answer was cut short"
