"""Bad API answers over real sockets: the hostile aiohttp server of hostile_fixtures.py.

Each test points ``run`` (through the CLI, in this process with click's runner, or in a
subprocess) at one of the server's misbehaviours, chosen by the first path segment of the base
URL: ``http://127.0.0.1:PORT/<mode>``. The listing (``GET``, the check before the first row)
answers well unless the mode is a listing mode (``listing-...``, ``endless-pages``), so that each
misbehaviour reaches the rows. Whatever the server does, the tool never crashes: each row gets a
clear reason in the report, and the exit code is 1 (or 3 where a stop applies); a listing that
misbehaves ends the run before the first row (exit 2 or 3) with one line.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hostile_fixtures import (
    HOST,
    HTML,
    Handler,
    HostileServer,
    answer,
    endless_pages,
    hang_up,
    redirect,
    retry_after,
    slow,
    trickle,
)
from sandbox_fixtures import us_number

from bulk_import.cli import main
from bulk_import.models import REPORT_COLUMNS

KEY = "sk_car_hostile_test_KEY_4711"

MODES: dict[str, Handler] = {
    "listing-404": answer(404, HTML, "text/html"),
    "listing-html-200": answer(200, HTML, "text/html"),
    "listing-no-list": answer(200, '{"items": []}'),
    "listing-401": answer(401, '{"title": "Unauthorized", "message": "invalid API key"}'),
    "html-502": answer(502, HTML, "text/html"),
    "html-400": answer(400, HTML, "text/html"),
    "html-401": answer(401, HTML, "text/html"),
    "html-409": answer(409, HTML, "text/html"),
    "empty-500": answer(500),
    "empty-400": answer(400),
    "empty-201": answer(201),
    "truncated-201": answer(201, '{"id": "pn_cut", "number": "+1415'),
    "truncated-400": answer(400, '{"error_code": null, "title": "Invalid req'),
    "ok-200": answer(200, '{"id": "pn_200"}'),
    "no-content-204": answer(204),
    "unknown-fields": answer(
        201,
        json.dumps(
            {
                "id": "pn_new",
                "provider": {"type": "sip_trunk", "id": "prov_x", "brand_new": True},
                "agent": {"id": "a", "capabilities": ["x"]},
                "future_field": [1, {"nested": None}],
            }
        ),
    ),
    "id-null": answer(201, '{"id": null}'),
    "id-object": answer(201, '{"id": {"value": "pn_1"}}'),
    "json-list": answer(201, '["pn_1"]'),
    "odd-error-fields": answer(400, '{"error_code": 7, "title": 5, "message": null}'),
    "huge-html": answer(400, "<html>" + "x" * 2_000_000 + "</html>", "text/html"),
    "binary": answer(400, bytes(range(256)) * 4, "application/octet-stream"),
    "json-lies": answer(400, "<html><body>not json at all</body></html>"),
    "retry-after-soon": retry_after("soon"),
    "retry-after-negative": retry_after("-5"),
    "retry-after-float": retry_after("0.01"),
    "retry-after-past-date": retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
    "slow": slow(5),
    "trickle": trickle,
    "hang-up": hang_up,
    "endless-pages": endless_pages,
}


@pytest.fixture(scope="module")
def server() -> Iterator[HostileServer]:
    """Run the hostile server for this module's tests."""
    running = HostileServer(modes=dict(MODES)).start()
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def short_waits(fast_retries: None) -> None:
    """Scale the waits between tries down (in-process runs only)."""


def write_input(folder: Path, count: int) -> Path:
    """Write an input of ``count`` valid numbers."""
    path = folder / "in.csv"
    path.write_text("number\n" + "".join(f"{us_number(i)}\n" for i in range(count)))
    return path


def read_report(path: Path) -> list[dict[str, str]]:
    """Return the report's lines, checking its header."""
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == REPORT_COLUMNS
        return list(reader)


def run_cli(folder: Path, base_url: str, *args: str, command: str = "run") -> Result:
    """Run a command in this process through click's runner; return its result."""
    if not (folder / "in.csv").exists():
        write_input(folder, 3)
    return CliRunner().invoke(
        main,
        [
            command,
            str(folder / "in.csv"),
            *("--provider-id", "prov_x", "--no-progress", "--quiet"),
            *("--report", str(folder / "report.csv")),
            *args,
        ],
        env={"CARTESIA_API_KEY": KEY, "CARTESIA_BASE_URL": base_url},
        catch_exceptions=True,
    )


def assert_clean(result: Result) -> None:
    """Say the run did not crash: no exception escaped and no traceback was printed."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stderr
    assert "internal error" not in result.stderr, result.stderr


# -- one misbehaviour per row status ----------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """Say what a row must become when the API misbehaves this way."""

    mode: str
    status: str
    http_status: str
    error: str  # the error column starts with this
    attempts: str
    phone_number_id: str = ""


CASES = [
    Case("html-502", "failed", "502", "gave up after 3 attempts: HTTP 502: <!DOCTYPE html>", "3"),
    Case("html-400", "failed", "400", "HTTP 400: <!DOCTYPE html> <html><head><title>502", "1"),
    Case("html-409", "already_imported", "409", "", "1"),
    Case(
        "empty-500", "failed", "500", "gave up after 3 attempts: HTTP 500 with an empty body", "3"
    ),
    Case("empty-400", "failed", "400", "HTTP 400 with an empty body", "1"),
    Case("empty-201", "imported", "201", "", "1"),
    Case("truncated-201", "imported", "201", "", "1"),
    Case("truncated-400", "failed", "400", 'HTTP 400: {"error_code": null, "title": "Invalid', "1"),
    Case("ok-200", "failed", "200", "unexpected HTTP 200 (expected 201 Created)", "1"),
    Case("no-content-204", "failed", "204", "unexpected HTTP 204 (expected 201 Created)", "1"),
    Case("unknown-fields", "imported", "201", "", "1", "pn_new"),
    Case("id-null", "imported", "201", "", "1"),
    Case("id-object", "imported", "201", "", "1"),
    Case("json-list", "imported", "201", "", "1"),
    Case("odd-error-fields", "failed", "400", "HTTP 400: 5", "1"),
    Case("huge-html", "failed", "400", "HTTP 400: <html>xxxx", "1"),
    Case("binary", "failed", "400", "HTTP 400: ", "1"),
    Case("json-lies", "failed", "400", "HTTP 400: <html><body>not json at all", "1"),
    Case("retry-after-soon", "failed", "503", "gave up after 3 attempts: HTTP 503: busy", "3"),
    Case("retry-after-negative", "failed", "503", "gave up after 3 attempts: HTTP 503", "3"),
    Case("retry-after-float", "failed", "503", "gave up after 3 attempts: HTTP 503", "3"),
    Case("retry-after-past-date", "failed", "503", "gave up after 3 attempts: HTTP 503", "3"),
    Case("hang-up", "failed", "", "gave up after 3 attempts: ", "3"),
]


@pytest.mark.parametrize("case", CASES, ids=[case.mode for case in CASES])
def test_bad_answer_gives_each_row_a_clear_outcome(
    tmp_path: Path, server: HostileServer, case: Case
) -> None:
    """Each bad answer ends every row once with a clear status and reason; no crash."""
    started = time.monotonic()
    result = run_cli(tmp_path, server.url(case.mode), "--max-attempts", "3", "--timeout", "5")
    assert_clean(result)
    assert time.monotonic() - started < 15
    lines = read_report(tmp_path / "report.csv")
    assert [line["row"] for line in lines] == ["2", "3", "4"]
    ok = case.status in ("imported", "already_imported")
    assert result.exit_code == (0 if ok else 1), result.stderr
    for line in lines:
        assert line["status"] == case.status, line
        assert line["http_status"] == case.http_status
        assert line["attempts"] == case.attempts
        assert line["phone_number_id"] == case.phone_number_id
        assert line["error"].startswith(case.error), line["error"]
        assert len(line["error"]) <= 300
        assert line["error"].isprintable()
        assert KEY not in line["error"]


def test_401_html_page_stops_the_run_with_exit_3(tmp_path: Path, server: HostileServer) -> None:
    """An HTML 401 stops the run at once: exit 3, the other rows not_attempted, no crash."""
    write_input(tmp_path, 10)
    result = run_cli(tmp_path, server.url("html-401"), "--concurrency", "1")
    assert_clean(result)
    assert result.exit_code == 3
    lines = read_report(tmp_path / "report.csv")
    assert len(lines) == 10
    statuses = [line["status"] for line in lines]
    assert statuses[0] == "failed"
    assert lines[0]["error"].startswith("HTTP 401: <!DOCTYPE html>")
    assert set(statuses[1:]) == {"not_attempted"}


def test_many_html_errors_in_a_row_stop_the_run_with_exit_3(
    tmp_path: Path, server: HostileServer
) -> None:
    """HTML 400 after HTML 400: --max-consecutive-failures stops the run, exit 3."""
    write_input(tmp_path, 12)
    result = run_cli(
        tmp_path,
        server.url("html-400"),
        *("--concurrency", "1", "--max-consecutive-failures", "4", "--summary-json"),
        str(tmp_path / "s.json"),
    )
    assert_clean(result)
    assert result.exit_code == 3
    lines = read_report(tmp_path / "report.csv")
    assert [line["status"] for line in lines] == ["failed"] * 4 + ["not_attempted"] * 8
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["stopped"].startswith("4 rows failed in a row")


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_to_another_host_is_not_followed_and_never_gets_the_key(
    tmp_path: Path, server: HostileServer, status: int
) -> None:
    """A 3xx to another host is failed with where it pointed; that host never sees the key."""
    elsewhere = HostileServer(modes={"trap": answer(201, '{"id": "pn_trap"}')}).start()
    try:
        target = f"http://localhost:{elsewhere.port}/trap/agents/phone-numbers"
        server.modes[f"redirect-{status}"] = redirect(status, target)
        result = run_cli(tmp_path, server.url(f"redirect-{status}"))
        assert_clean(result)
        assert result.exit_code == 1
        for line in read_report(tmp_path / "report.csv"):
            assert (line["status"], line["http_status"]) == ("failed", str(status))
            assert line["error"] == (
                f"unexpected redirect (HTTP {status} to {target}), not followed"
            )
        assert elsewhere.seen == [], "the redirect was followed"
    finally:
        elsewhere.stop()
    assert all(seen.authorization != f"Bearer {KEY}" for seen in elsewhere.seen)


def test_garbage_that_is_not_http_stops_before_the_first_row(
    tmp_path: Path, server: HostileServer
) -> None:
    """A server that does not speak HTTP: exit 3 naming it, one line, no report, no crash."""
    base = f"http://{HOST}:{server.garbage_port}"
    result = run_cli(tmp_path, base, "--max-attempts", "2", "--timeout", "2")
    assert_clean(result)
    assert result.exit_code == 3
    assert result.stderr.startswith(
        f"bulk-import run {tmp_path / 'in.csv'}: exit 3: stopped early: cannot reach the API at "
        f"{base} (RemoteProtocolError: not a valid HTTP answer"
    )
    assert not (tmp_path / "report.csv").exists()


@pytest.mark.parametrize(
    ("mode", "code", "message"),
    [
        ("listing-404", 2, "does not answer like Cartesia's API ({} gave HTTP 404)"),
        ("listing-html-200", 2, "does not answer like Cartesia's API ({} gave an answer that"),
        ("listing-no-list", 2, "does not answer like Cartesia's API ({} gave an answer that"),
        ("listing-401", 3, "refused the key (HTTP 401); check CARTESIA_API_KEY"),
    ],
)
def test_a_base_url_that_is_not_the_api_is_found_before_the_first_row(
    tmp_path: Path, server: HostileServer, mode: str, code: int, message: str
) -> None:
    """The one GET before the first row: not the API is exit 2, a refused key exit 3; no POST."""
    base = server.url(mode)
    before = len(server.seen)
    result = run_cli(tmp_path, base)
    assert_clean(result)
    assert result.exit_code == code
    assert message.format(f"GET {base}/agents/phone-numbers") in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert [seen.method for seen in server.seen[before:]] == ["GET"]
    assert not (tmp_path / "report.csv").exists()


@pytest.mark.parametrize("mode", ["slow", "trickle"])
def test_an_answer_slower_than_timeout_fails_within_the_timeout(
    tmp_path: Path, server: HostileServer, mode: str
) -> None:
    """A server slower than --timeout (silent, or trickling a byte at a time) is cut off."""
    started = time.monotonic()
    result = run_cli(
        tmp_path,
        server.url(mode),
        *("--timeout", "0.3", "--max-attempts", "2", "--concurrency", "3"),
    )
    elapsed = time.monotonic() - started
    assert_clean(result)
    assert result.exit_code == 1
    # Two attempts of 0.3 s each and a short backoff: far less than the server's 5-10 s.
    assert elapsed < 3, f"took {elapsed:.1f} s"
    for line in read_report(tmp_path / "report.csv"):
        assert line["status"] == "failed"
        assert line["error"].startswith("gave up after 2 attempts: ")
        assert "Timeout" in line["error"], line["error"]


def test_reconcile_stops_when_paging_never_ends(tmp_path: Path, server: HostileServer) -> None:
    """An API whose listing says has_more forever with the same page: exit 3, not a hang."""
    started = time.monotonic()
    result = run_cli(tmp_path, server.url("endless-pages"), command="reconcile")
    assert_clean(result)
    assert time.monotonic() - started < 10
    assert result.exit_code == 3
    listings = [seen for seen in server.seen if seen.path.startswith("/endless-pages/")]
    assert len(listings) < 10
    assert "the API's paging does not advance" in result.stderr
    assert not (tmp_path / "report.csv").exists()


def test_bad_answers_through_the_real_process(tmp_path: Path, server: HostileServer) -> None:
    """As a subprocess too: HTML, truncated JSON and hang-ups give exit 1, no traceback."""
    write_input(tmp_path, 3)
    for mode in ("html-502", "truncated-400", "hang-up", "trickle"):
        env = {k: v for k, v in os.environ.items() if not k.startswith("CARTESIA_")}
        env.update(CARTESIA_API_KEY=KEY, CARTESIA_BASE_URL=server.url(mode))
        done = subprocess.run(
            [
                *(sys.executable, "-m", "bulk_import", "run", "in.csv", "--provider-id", "prov_x"),
                *("--max-attempts", "2", "--timeout", "0.5", "--no-progress"),
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 1, (mode, done.stderr)
        assert "Traceback" not in done.stderr
        assert KEY not in done.stderr + done.stdout
        lines = read_report(tmp_path / "in.report.csv")
        assert [line["status"] for line in lines] == ["failed"] * 3, mode
