"""What the tests share: inputs, reports, the CLI as a subprocess, and the sandbox.

Plain helpers are imported by the test modules (``from conftest import ...``); fixtures are
found by pytest. No test module imports another.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import os
import random
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import httpx
import pytest
from aiohttp import web
from hypothesis import HealthCheck, settings
from sandbox_fixtures import us_number

from bulk_import.api import retry
from bulk_import.config import ApiOptions, OutputOptions, Secret
from bulk_import.models import REPORT_COLUMNS
from bulk_import.output.report import journal_path
from bulk_import.sandbox import DEFAULT_API_KEY, RunningSandbox

Line = dict[str, str]
OK = frozenset({"imported", "already_imported", "patched"})


# -- CI and hypothesis ----------------------------------------------------------------------------

#: CI sets CI=true (.ci/run does, as GitHub's and GitLab's runners do).
IN_CI = os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def need(available: bool, reason: str) -> None:
    """Skip the calling test when what it needs is missing, or fail it under CI.

    Locally a missing tool (a browser) skips; in CI, which installs it, a skip would let the
    run pass without the test ever running, so it fails and says why.
    """
    if available:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a test that cannot run fails, it never skips)")
    pytest.skip(reason)


# Profiles, chosen by HYPOTHESIS_PROFILE, else "ci" under CI=true, else hypothesis' default.
# "ci" (make test, CI): the same examples on every machine and every run, so a change cannot
# pass or fail by the seed of the day; no example database (a local one replays other
# examples), no deadline and no too_slow check (both time a shared machine's load); a failure
# prints the blob that reproduces it. "fuzz" (make fuzz): random examples, FUZZ_FACTOR times
# as many (see pytest_collection_modifyitems), failures kept in .hypothesis/ and tried first.
# Settings are resolved when a test module is imported, after this: a test's own @settings
# inherits every key it does not name (derandomize included) from the profile loaded here.
settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    print_blob=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "fuzz",
    derandomize=False,
    print_blob=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
HYPOTHESIS_PROFILE = os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if IN_CI else "default")
settings.load_profile(HYPOTHESIS_PROFILE)
FUZZ_FACTOR = int(os.environ.get("FUZZ_FACTOR", "20"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under the fuzz profile, run each property test FUZZ_FACTOR times longer, unseeded.

    A test's own ``@settings(max_examples=N)`` and ``@seed`` win over any profile, so the
    fuzz profile scales them here, on the attributes hypothesis reads when the test runs
    (pinned by the lock; a hypothesis that renamed them fails ``make fuzz`` loudly).
    """
    if HYPOTHESIS_PROFILE != "fuzz":
        return
    tests: dict[int, Any] = {}
    for item in items:
        test = getattr(getattr(item, "obj", None), "__func__", getattr(item, "obj", None))
        if getattr(test, "is_hypothesis_test", False):
            tests[id(test)] = test
    for test in tests.values():
        own = getattr(test, "_hypothesis_internal_use_settings", None)
        if not isinstance(own, settings) or not hasattr(test, "_hypothesis_internal_use_seed"):
            raise pytest.UsageError(f"make fuzz: hypothesis no longer works as {__file__} expects")
        test._hypothesis_internal_use_settings = settings(
            own,
            max_examples=own.max_examples * FUZZ_FACTOR,
            database=settings.get_profile("fuzz").database,
        )
        test._hypothesis_internal_use_seed = None  # an @seed would replay the same examples


# -- inputs ---------------------------------------------------------------------------------------


def numbers(count: int, start: int = 0) -> list[str]:
    """Return ``count`` distinct valid E.164 numbers."""
    return [us_number(start + i) for i in range(count)]


def write_input(
    path: Path,
    given: list[str],
    *,
    agent: str | None = None,
    provider: str | None = None,
    extra: str = "",
) -> Path:
    """Write a CSV of numbers with labels ``label <i>`` (and agent/provider columns when given).

    ``extra`` raw lines go at the end.
    """
    header = ["number", "label"]
    if agent is not None:
        header.append("agent_id")
    if provider is not None:
        header.append("provider_id")
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        for i, number in enumerate(given):
            cells = [number, f"label {i}"]
            if agent is not None:
                cells.append(agent)
            if provider is not None:
                cells.append(provider)
            writer.writerow(cells)
        f.write(extra)
    return path


# -- reports --------------------------------------------------------------------------------------


def read_report(path: Path) -> list[Line]:
    """Return a report's (or a journal's) lines as dicts, checking its header.

    A last line without its newline (SIGKILL between two writes) is dropped, as the tool does.
    """
    text = path.read_bytes().decode("utf-8")
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    reader = csv.DictReader(io.StringIO(text, newline=""))
    assert tuple(reader.fieldnames or ()) == REPORT_COLUMNS
    lines = list(reader)
    for line in lines:
        assert None not in line, f"ragged report line {line}"
        assert None not in line.values(), f"ragged report line {line}"
    return lines


def read_state(report: Path) -> list[Line]:
    """Return what a report's path holds after a crash: the report, its journal's lines over it."""
    by_key: dict[str, Line] = {}
    for path in (report, journal_path(report)):
        if path.exists():
            for line in read_report(path):
                by_key[line["row"] or "extra " + line["number"]] = line
    return sorted(by_key.values(), key=lambda line: int(line["row"] or 1 << 62))


def statuses(lines: list[Line]) -> Counter[str]:
    """Count the lines' statuses."""
    return Counter(line["status"] for line in lines)


def rows_of(lines: list[Line]) -> list[int]:
    """Return the ``row`` of every line, in order."""
    return [int(line["row"]) for line in lines]


def write_report(path: Path, rows: list[list[object]]) -> None:
    """Write a report of these cells, as an earlier run left it."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\r\n")
        writer.writerow(REPORT_COLUMNS)
        writer.writerows(rows)


def assert_each_row_once(lines: list[Line], count: int) -> None:
    """Check the lines hold data rows 2..count+1, each exactly once, in order."""
    assert rows_of(lines) == list(range(2, count + 2))


# -- options and the CLI --------------------------------------------------------------------------


def api_options(base_url: str, **overrides: object) -> ApiOptions:
    """Return API options for ``base_url`` (small timeouts and pools suit the tests).

    ``key`` sets the API key (default: the sandbox's).
    """
    key = str(overrides.pop("key", DEFAULT_API_KEY))
    values: dict[str, object] = {"concurrency": 4, "max_attempts": 6, "timeout": 5.0}
    values.update(overrides)
    return ApiOptions(api_key=Secret(key), base_url=base_url, **values)  # type: ignore[arg-type]


def output_options(report: Path, **overrides: object) -> OutputOptions:
    """Return output options writing ``report``, quiet and without a bar."""
    values: dict[str, object] = {"quiet": True, "progress": False}
    values.update(overrides)
    return OutputOptions(report=report, **values)  # type: ignore[arg-type]


class LibraryApi(TypedDict):
    """The keyword options that point a library call (``bulk_import.run``, ...) at a sandbox."""

    base_url: str
    api_key: str


def library_api(sandbox: RunningSandbox) -> LibraryApi:
    """Return the options that point a library call at ``sandbox``, with its key."""
    return {"base_url": sandbox.base_url, "api_key": sandbox.api_key}


def cli_env(
    base_url: str | None, *, key: str | None = DEFAULT_API_KEY, measured: bool = True
) -> dict[str, str]:
    """Return a CLI environment for ``base_url``; ``measured=False`` leaves coverage out."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CARTESIA_") and (measured or not k.startswith("COVERAGE_"))
    }
    if key is not None:
        env["CARTESIA_API_KEY"] = key
    if base_url is not None:
        env["CARTESIA_BASE_URL"] = base_url
    return env


def cli(
    *args: str,
    env: Mapping[str, str],
    cwd: Path,
    stdin: str | None = None,
    timeout: float = 60,
    umask: int | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``bulk-import ARGS`` (under ``umask`` when given) to the end; return its exit code
    and output."""
    command = [sys.executable, "-m", "bulk_import", *args]
    if umask is not None:
        command = ["sh", "-c", f'umask {umask:03o} && exec "$@"', "sh", *command]
    return subprocess.run(
        command,
        env=dict(env),
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_cli(*args: str, env: Mapping[str, str], cwd: Path) -> subprocess.Popen[str]:
    """Start ``bulk-import ARGS`` in the background, stdout and stderr piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "bulk_import", *args],
        env=dict(env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str, str]:
    """Wait for a started CLI; return its exit code, stdout and stderr."""
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    return process.returncode, out, err


# -- HTTP answers for unit tests of one function (httpx.MockTransport) ------------------------


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


# -- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(autouse=True, scope="session")
def no_proxy_variables() -> Iterator[None]:
    """Keep the proxy variables of the machine out of the suite: it talks to loopback servers."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [name for name in os.environ if name.lower().endswith("_proxy")]:
            patch.delenv(name)
        yield


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    """Run a well-behaved sandbox on loopback."""
    with RunningSandbox() as running:
        yield running


@pytest.fixture
def fast_retries() -> Iterator[None]:
    """Scale every wait between tries down to 1 % (in-process runs only; the shape is tested)."""
    retry.set_testing(True, wait_scale=0.01)
    try:
        yield
    finally:
        retry.set_testing(False)


# -- instruments on a real sandbox ----------------------------------------------------------------


class Instrument:
    """Watch (and slow down or refuse) the requests a sandbox receives.

    Installed as an aiohttp middleware before the sandbox starts, so the sandbox stays the real
    one: the listing answers as the API does while the POSTs misbehave, which no global fault
    can do (the check before the first row is a GET). ``calls`` counts requests as they arrive,
    by ``"METHOD /path"``; ``answered`` counts their answers, by ``"METHOD /path STATUS"``.
    """

    def __init__(
        self,
        *,
        post_delay_s: float = 0.0,
        post_answer: Callable[[], web.Response] | None = None,
        answers: Mapping[str, Callable[[], web.Response]] | None = None,
        delays: Mapping[str, float] | None = None,
    ) -> None:
        self.post_delay_s = post_delay_s
        self.post_answer = post_answer
        #: Answers given instead of the sandbox's, by "METHOD /path".
        self.answers = dict(answers or {})
        #: Seconds to wait before the sandbox handles a request, by "METHOD /path".
        self.delays = dict(delays or {})
        self.calls: Counter[str] = Counter()
        self.answered: Counter[str] = Counter()

    def install(self, sandbox: RunningSandbox) -> RunningSandbox:
        """Put the instrument in front of the sandbox's handlers (before it starts)."""
        sandbox.app.middlewares.append(self._middleware)
        return sandbox

    def calls_now(self) -> dict[str, int]:
        """Return a copy of ``calls`` taken at once: the sandbox's thread may be counting a late
        request (one in flight at a SIGKILL) while a test reads them."""
        return dict(self.calls)  # one C-level copy under the GIL, never a torn iteration

    def by_id(self, method: str) -> Counter[str]:
        """Return the requests of ``method`` per phone number id in their path."""
        prefix = f"{method} /agents/phone-numbers/"
        return Counter(
            {
                key[len(prefix) :]: n
                for key, n in self.calls_now().items()
                if key.startswith(prefix) and key[len(prefix) :] != "providers"
            }
        )

    def count(self, method: str, prefix: str = "/agents/phone-numbers") -> int:
        """Return the requests of this method whose path starts with ``prefix``."""
        calls = self.calls_now().items()
        return sum(n for key, n in calls if key.startswith(f"{method} {prefix}"))

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        key = f"{request.method} {request.path}"
        self.calls[key] += 1
        if key in self.delays:
            await asyncio.sleep(self.delays[key])
        if key in self.answers:
            return self.answers[key]()
        if request.method == "POST" and request.path == "/agents/phone-numbers":
            await request.read()  # kept by aiohttp: a client that leaves still delivered it
            if self.post_delay_s:
                await asyncio.sleep(self.post_delay_s)
            if self.post_answer is not None:
                return self.post_answer()
        response = await handler(request)
        self.answered[f"{key} {response.status}"] += 1
        return response


# -- crash and signal points ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Point:
    """Say when to signal a run: after ``rows`` new journal lines, or ``seconds`` after start."""

    rows: int | None = None
    seconds: float | None = None

    def __str__(self) -> str:
        return f"after {self.rows} rows" if self.rows is not None else f"at {self.seconds:.2f} s"


def kill_points(rng: random.Random, count: int, *, max_rows: int) -> list[Point]:
    """Return ``count`` seeded points: two during start-up, the rest after 0..max_rows rows."""
    points = [Point(seconds=round(rng.uniform(0.05, 0.6), 2)) for _ in range(2)]
    points += [Point(rows=rng.randint(0, max_rows)) for _ in range(count - 2)]
    rng.shuffle(points)
    return points


class JournalWatch:
    """Count the data lines of the journal a run writes beside its report, reading what is new.

    A journal that was there before the run started (a killed run's) is not the run's own: its
    lines count from the moment the run replaces it with its fresh one.
    """

    def __init__(self, report: Path) -> None:
        self.path = journal_path(report)
        self._inode = self._stat_inode()
        self._offset = 0
        self.lines = -1  # the header is not a data line
        self._mine = self._inode is None

    def _stat_inode(self) -> int | None:
        try:
            return os.stat(self.path).st_ino
        except FileNotFoundError:
            return None

    def poll(self) -> int:
        """Return the data lines of this run's journal (-1: not started yet)."""
        inode = self._stat_inode()
        if inode is None:
            return self.lines if self._mine else -1
        if inode != self._inode:  # the run moved its fresh journal over the old one
            self._inode, self._offset, self.lines, self._mine = inode, 0, -1, True
        if not self._mine:
            return -1
        with contextlib.suppress(FileNotFoundError), self.path.open("rb") as f:
            f.seek(self._offset)
            chunk = f.read()
            self._offset += len(chunk)
            self.lines += chunk.count(b"\n")
        return self.lines


def signal_at(
    process: subprocess.Popen[str], watch: JournalWatch, point: Point, *, base: int, sig: int
) -> bool:
    """Send ``sig`` at ``point`` (base lines not counted); say whether the run was still going."""
    started = time.monotonic()
    deadline = started + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if point.seconds is not None:
            if time.monotonic() - started >= point.seconds:
                break
        elif point.rows is not None and watch.poll() >= base + point.rows:
            break
        time.sleep(0.005)
    else:
        raise AssertionError(f"the run never reached its signal point {point}")
    process.send_signal(sig)
    return True


def wait_for(check: Callable[[], bool], *, what: str, timeout: float = 60) -> float:
    """Poll ``check`` every 5 ms until it holds; return the seconds it took (fail after
    ``timeout``, naming ``what``)."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"never happened within {timeout} s: {what}")
        time.sleep(0.005)
    return time.monotonic() - started


# -- the README's rehearsal ------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent


def rehearsal_block() -> str:
    """Return the README's rehearsal block: the shell code under its marker."""
    readme = (ROOT / "README.md").read_text()
    marker = readme.index("<!-- rehearsal:")
    return readme[marker:].split("```sh\n", 1)[1].split("```", 1)[0]


def free_port() -> int:
    """Return a TCP port free on loopback right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def run_rehearsal(folder: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the README's rehearsal block in ``folder`` (on a free port) and check what each
    command did: exits 0, 1, 0, 0, the run page, and each command's own report."""
    script = rehearsal_block().replace("8080", str(free_port()))
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=folder,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    exits = [line for line in done.stderr.splitlines() if line.startswith("exit ")]
    # validate (the export names its accounts), run (3 webhook failures), retry-patch (all
    # patched), reconcile (in sync)
    assert exits == ["exit 0", "exit 1", "exit 0", "exit 0"], done.stderr
    assert (folder / "run.html").exists()
    assert "sandbox listening on http://127.0.0.1:" in (folder / "sandbox.log").read_text()
    for suffix in (".validate.csv", ".report.csv", ".reconcile.csv"):
        assert len(read_report(folder / f"twilio-export{suffix}")) >= 40, suffix
    run_report = statuses(read_report(folder / "twilio-export.report.csv"))
    assert run_report["patched"] == 3  # the webhook failures, patched by retry-patch
    assert run_report["imported"] + run_report["already_imported"] == 37  # 409: a retried POST
    return done


def print_figures(name: str, **figures: object) -> None:
    """Print one line of figures for RELIABILITY.md (shown by ``pytest -s``)."""
    print(f"\nFIGURES {name} " + json.dumps(figures, sort_keys=True, default=str))


def mode(path: Path) -> int:
    """Return a file's permission bits."""
    return path.stat().st_mode & 0o777


class BreaksAfter(httpx.AsyncBaseTransport):
    """Send the first ``requests`` through a real transport, then raise as a bug would."""

    def __init__(self, requests: int) -> None:
        self.real = httpx.AsyncHTTPTransport()
        self.left = requests

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Pass the request on, or raise once the budget is spent."""
        self.left -= 1
        if self.left < 0:
            raise RuntimeError("the clock went backwards")
        return await self.real.handle_async_request(request)

    async def aclose(self) -> None:
        """Close the real transport."""
        await self.real.aclose()
