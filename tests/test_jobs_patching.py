"""retry-patch against the sandbox over real loopback sockets: PATCHes, look-ups, stops."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import api_options, cli, cli_env, output_options, read_report, write_input
from sandbox_fixtures import us_number

from bulk_import.config import ApiOptions, InputOptions
from bulk_import.jobs.importing import run as run_job
from bulk_import.jobs.patching import retry_patch
from bulk_import.models import REPORT_COLUMNS
from bulk_import.sandbox import Faults, RunningSandbox

KEY = "sk_car_sandbox"
AGENTS = ("agent_sandbox", "agent_b")
EMPTY_ACCOUNT = {"data": [], "has_more": False}


def api(sandbox: RunningSandbox, **kw: object) -> ApiOptions:
    """Return API options for the sandbox."""
    return api_options(sandbox.base_url, **kw)


@pytest.fixture
def webhook_sandbox() -> Iterator[RunningSandbox]:
    faults = Faults(webhook_fail_numbers=(us_number(1), us_number(4), us_number(7)), agents=AGENTS)
    with RunningSandbox(faults=faults) as sandbox:
        yield sandbox


def test_retry_patch_assigns_the_agents(tmp_path: Path, webhook_sandbox: RunningSandbox) -> None:
    """Webhook-failed rows get their agent on the sandbox and become patched; a rerun is a no-op."""
    numbers = [us_number(i) for i in range(10)]
    source = write_input(
        tmp_path / "in.csv", numbers, agent="agent_sandbox", provider="prov_sandbox"
    )
    report = tmp_path / "in.report.csv"
    first = run_job(
        source=str(source),
        input_options=InputOptions(),
        api=api(webhook_sandbox),
        output=output_options(report),
    )
    assert first.exit_code == 1
    assert first.counts == {"imported": 7, "webhook_failed": 3}
    assert webhook_sandbox.state.get(us_number(4))["agent"] is None  # type: ignore[index]

    summary = retry_patch(
        report=report, agent_id=None, api=api(webhook_sandbox), output=output_options(report)
    )
    assert summary.exit_code == 0
    assert summary.counts == {"imported": 7, "patched": 3}
    rows = read_report(report)
    assert [r["row"] for r in rows] == [str(n) for n in range(2, 12)]
    for i in (1, 4, 7):
        held = webhook_sandbox.state.get(us_number(i))
        assert held is not None
        assert held["agent"]["id"] == "agent_sandbox"
        row = rows[i]
        assert row["status"] == "patched"
        assert row["phone_number_id"] == held["id"]
        assert row["attempts"] == "3"  # the import, the look-up and the PATCH

    before = webhook_sandbox.state.stats()["requests"]
    again = retry_patch(
        report=report, agent_id=None, api=api(webhook_sandbox), output=output_options(report)
    )
    assert again.exit_code == 0
    assert again.requests == 0
    assert webhook_sandbox.state.stats()["requests"] == before
    assert read_report(report) == rows


def test_retry_patch_unknown_number_and_missing_agent(tmp_path: Path) -> None:
    """A number the listing cannot find, or a row with no agent, becomes patch_failed."""
    report = tmp_path / "r.csv"
    lines = [
        [
            2,
            "x",
            us_number(50),
            "l",
            "prov_sandbox",
            "agent_sandbox",
            "webhook_failed",
            400,
            "",
            1,
            "w",
            "2026-11-27T05:59:15Z",
        ],
        [
            3,
            "x",
            us_number(51),
            "l",
            "prov_sandbox",
            "",
            "webhook_failed",
            400,
            "",
            1,
            "w",
            "2026-11-27T05:59:15Z",
        ],
        [
            4,
            "x",
            us_number(52),
            "l",
            "twilio:AC0123:us1",
            "",
            "failed",
            404,
            "",
            1,
            "no",
            "2026-11-27T05:59:15Z",
        ],
    ]
    with report.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(REPORT_COLUMNS)
        writer.writerows(lines)
    target = tmp_path / "patched.csv"
    with RunningSandbox() as sandbox:
        summary = retry_patch(
            report=report, agent_id=None, api=api(sandbox), output=output_options(target)
        )
    assert summary.exit_code == 1
    rows = {r["row"]: r for r in read_report(target)}
    assert rows["2"]["status"] == "patch_failed"
    assert "not found in the account" in rows["2"]["error"]
    assert rows["2"]["attempts"] == "2"
    assert rows["3"]["status"] == "patch_failed"
    assert "pass --agent-id" in rows["3"]["error"]
    assert rows["4"]["status"] == "failed"  # not retry-patch's business: kept as it was
    assert rows["4"]["provider"] == "twilio:AC0123:us1"
    assert report.read_text().count("webhook_failed") == 2  # the input report is untouched


def test_retry_patch_agent_option_wins(tmp_path: Path, webhook_sandbox: RunningSandbox) -> None:
    """--agent-id assigns that agent to every webhook-failed row."""
    given = [us_number(i) for i in range(5)]
    source = write_input(tmp_path / "in.csv", given, agent="agent_sandbox", provider="prov_sandbox")
    report = tmp_path / "in.report.csv"
    run_job(
        source=str(source),
        input_options=InputOptions(),
        api=api(webhook_sandbox),
        output=output_options(report),
    )
    summary = retry_patch(
        report=report, agent_id="agent_b", api=api(webhook_sandbox), output=output_options(report)
    )
    assert summary.counts["patched"] == 2
    assert webhook_sandbox.state.get(us_number(1))["agent"]["id"] == "agent_b"  # type: ignore[index]
    assert {r["agent_id"] for r in read_report(report) if r["status"] == "patched"} == {"agent_b"}


def one_row_report(
    path: Path, *, number: str, number_id: str = "", agent: str = "agent_sandbox"
) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(REPORT_COLUMNS)
        writer.writerow(
            [
                2,
                number,
                number,
                "l",
                "twilio:AC0123:ie1",
                agent,
                "webhook_failed",
                400,
                number_id,
                1,
                "w",
                "2026-11-27T05:59:15Z",
            ]
        )
    return path


def test_retry_patch_refused_key_stops_and_leaves_the_report_as_it_was(tmp_path: Path) -> None:
    """A 401 on the check before the first PATCH: exit 3, the REPORT byte for byte as it was."""
    report = one_row_report(tmp_path / "r.csv", number=us_number(1), number_id="pn_1")
    before = report.read_bytes()
    with RunningSandbox(api_key="sk_car_other") as sandbox:
        summary = retry_patch(
            report=report, agent_id=None, api=api(sandbox), output=output_options(report)
        )
        assert sandbox.state.stats()["by_method"] == {"GET": 1}
    assert summary.exit_code == 3
    assert report.read_bytes() == before
    assert "refused the key (HTTP 401)" in summary.stopped


def test_retry_patch_unknown_agent_is_patch_failed(tmp_path: Path) -> None:
    """A PATCH the API refuses (unknown agent, 404) is patch_failed with the API's words."""
    existing = ({"number": us_number(3), "provider_id": "prov_sandbox"},)
    report = one_row_report(tmp_path / "r.csv", number=us_number(3), agent="agent_gone")
    with RunningSandbox(faults=Faults(existing=existing)) as sandbox:
        summary = retry_patch(
            report=report, agent_id=None, api=api(sandbox), output=output_options(report)
        )
    assert summary.exit_code == 1
    (row,) = read_report(report)
    assert row["status"] == "patch_failed"
    assert row["http_status"] == "404"
    assert row["provider"] == "twilio:AC0123:ie1"
    assert row["attempts"] == "3"  # the import, the look-up, the PATCH


def test_retry_patch_of_agent_mismatch_rows_says_agent_fixed(tmp_path: Path) -> None:
    """An agent_mismatch row (there before the run) becomes agent_fixed, never patched (which
    rollback deletes); a fix the API refuses leaves it agent_mismatch with the API's words,
    while a webhook_failed row of the same report still becomes patched."""
    numbers = [us_number(i) for i in range(3)]
    existing = tuple(
        {"number": n, "provider_id": "prov_sandbox", "agent_id": "agent_b"} for n in numbers
    )
    report = tmp_path / "fleet.reconcile.csv"
    with report.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(REPORT_COLUMNS)
        for i, (status, agent) in enumerate(
            [
                ("agent_mismatch", "agent_sandbox"),
                ("agent_mismatch", "agent_gone"),
                ("webhook_failed", "agent_sandbox"),
            ]
        ):
            number = numbers[i]
            writer.writerow(
                [
                    i + 2,
                    number,
                    number,
                    "l",
                    "prov_sandbox",
                    agent,
                    status,
                    "",
                    "",
                    0,
                    "",
                    "2026-11-27T05:59:15Z",
                ]
            )
    with RunningSandbox(faults=Faults(existing=existing, agents=AGENTS)) as sandbox:
        summary = retry_patch(
            report=report, agent_id=None, api=api(sandbox), output=output_options(report)
        )
        held = [sandbox.state.get(n) for n in numbers]
    assert summary.exit_code == 1
    assert summary.counts == {"agent_fixed": 1, "agent_mismatch": 1, "patched": 1}
    rows = read_report(report)
    assert [r["status"] for r in rows] == ["agent_fixed", "agent_mismatch", "patched"]
    assert rows[0]["phone_number_id"] == held[0]["id"]  # type: ignore[index]
    assert held[0]["agent"]["id"] == "agent_sandbox"  # type: ignore[index]
    assert rows[1]["http_status"] == "404"
    assert "agent not found" in rows[1]["error"]
    assert held[1]["agent"]["id"] == "agent_b"  # type: ignore[index]


@pytest.mark.parametrize(
    ("pages", "reason"),
    [
        ([httpx.Response(500, text="<html>down</html>")], "look-up failed: HTTP 500"),
        ([httpx.Response(200, json={"nope": 1})], "the listing's answer has no data list"),
        (
            [
                httpx.Response(
                    200, json={"data": [{"id": "pn_9", "number": "+1"}], "has_more": True}
                ),
                httpx.Response(200, json={"data": [], "has_more": False}),
            ],
            "not found in the account",
        ),
    ],
)
def test_retry_patch_look_up_failures(
    tmp_path: Path, pages: list[httpx.Response], reason: str
) -> None:
    """A look-up that fails, answers nonsense, or ends without the number: patch_failed."""
    answers = iter(pages)
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if "q" not in request.url.params:  # the check before the first row
            return httpx.Response(200, json=EMPTY_ACCOUNT)
        seen.append(str(request.url))
        return next(answers)

    report = one_row_report(tmp_path / "r.csv", number=us_number(4))
    options = api_options("http://127.0.0.1:9", max_attempts=1)
    summary = retry_patch(
        report=report,
        agent_id=None,
        api=options,
        output=output_options(report),
        transport=httpx.MockTransport(handler),
    )
    assert summary.exit_code == 1
    (row,) = read_report(report)
    assert row["status"] == "patch_failed"
    assert reason in row["error"]
    assert f"q=%2B{us_number(4)[1:]}" in seen[0]
    if len(pages) == 2:
        assert "starting_after=pn_9" in seen[1]


def test_retry_patch_refused_look_up_stops_the_run(tmp_path: Path) -> None:
    """A 401 on the id look-up stops retry-patch at once (exit 3), as a 401 on PATCH does."""
    report = tmp_path / "r.csv"
    with report.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(REPORT_COLUMNS)
        for n in range(2, 42):
            number = us_number(n)
            cells = [n, number, number, "l", "prov_sandbox", "agent_sandbox", "webhook_failed"]
            writer.writerow([*cells, 400, "", 1, "w", "2026-11-27T05:59:15Z"])
    faults = Faults(existing=tuple({"number": us_number(n)} for n in range(2, 42)))
    with RunningSandbox(faults=faults) as sandbox:
        # The key is accepted by the check, then refused: the look-ups meet the 401.
        transport = RevokeAfterFirst(sandbox.base_url)
        summary = retry_patch(
            report=report,
            agent_id=None,
            api=api(sandbox, concurrency=2),
            output=output_options(report),
            transport=transport,
        )
    assert transport.lookups <= 2
    assert summary.exit_code == 3
    assert "refused the key" in summary.stopped
    lines = read_report(report)
    assert len(lines) == 40
    counts = Counter(line["status"] for line in lines)
    # The rows whose look-up met the 401 end patch_failed; every other row is as it was.
    assert counts == {"patch_failed": transport.lookups, "webhook_failed": 40 - transport.lookups}


class RevokeAfterFirst(httpx.AsyncBaseTransport):
    """Pass requests to the sandbox, but answer 401 to everything after the first one."""

    def __init__(self, base_url: str) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._seen = 0
        self.lookups = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Forward the first request; refuse the rest as a revoked key would be."""
        self._seen += 1
        if self._seen == 1:
            return await self._inner.handle_async_request(request)
        self.lookups += 1
        return httpx.Response(401, json={"title": "Unauthorized", "message": "revoked"})


@pytest.mark.parametrize(
    ("first", "kind"),
    [
        (("validate", "in.csv"), "a validate report (3 valid): nothing was imported from it"),
        (
            ("run", "in.csv", "--report", "in.validate.csv"),
            "a run report (3 imported): no row is webhook_failed, patch_failed or agent_mismatch",
        ),
        (
            ("reconcile", "in.csv", "--report", "in.validate.csv"),
            "a reconcile report (3 missing): no agent to fix (reconcile --apply imports the "
            "missing rows)",
        ),
    ],
    ids=["validate", "run", "reconcile"],
)
def test_retry_patch_with_nothing_to_patch_says_which_report_it_is(
    tmp_path: Path, first: tuple[str, ...], kind: str
) -> None:
    """A report with no row to patch: exit 0, no request, one line naming its kind and why."""
    write_input(tmp_path / "in.csv", [us_number(i) for i in range(3)], provider="prov_sandbox")
    with RunningSandbox() as sandbox:
        env = cli_env(sandbox.base_url)
        assert cli(*first, "--quiet", env=env, cwd=tmp_path).returncode in (0, 1)
        before = tmp_path.joinpath("in.validate.csv").read_bytes()
        requests = sandbox.state.stats()["requests"]
        done = cli("retry-patch", "in.validate.csv", "--no-progress", env=env, cwd=tmp_path)
        assert sandbox.state.stats()["requests"] == requests
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[0] == f"nothing to patch: in.validate.csv is {kind}"
    assert tmp_path.joinpath("in.validate.csv").read_bytes() == before
