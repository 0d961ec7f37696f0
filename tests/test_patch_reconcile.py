"""retry-patch and reconcile against the sandbox over real loopback sockets."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sandbox_fixtures import us_number

from bulk_import import importer, patch, reconcile
from bulk_import.config import ApiOptions, InputOptions, OutputOptions, Secret
from bulk_import.models import REPORT_COLUMNS, Status
from bulk_import.sandbox import Faults, RunningSandbox

KEY = "sk_car_sandbox"
AGENTS = ("agent_sandbox", "agent_b")


def api(sandbox: RunningSandbox, **kw: object) -> ApiOptions:
    return ApiOptions(api_key=Secret(KEY), base_url=sandbox.base_url, **kw)  # type: ignore[arg-type]


def out(path: Path) -> OutputOptions:
    return OutputOptions(report=path, quiet=True, progress=False)


def write_input(path: Path, numbers: list[str], agent: str = "agent_sandbox") -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["number", "label", "agent_id", "provider_id"])
        for i, number in enumerate(numbers):
            writer.writerow([number, f"line {i}", agent, "prov_sandbox"])
    return path


def report_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == REPORT_COLUMNS
        return list(reader)


@pytest.fixture
def webhook_sandbox() -> Iterator[RunningSandbox]:
    faults = Faults(webhook_fail_numbers=(us_number(1), us_number(4), us_number(7)), agents=AGENTS)
    with RunningSandbox(faults=faults) as sandbox:
        yield sandbox


def test_retry_patch_assigns_the_agents(tmp_path: Path, webhook_sandbox: RunningSandbox) -> None:
    """Webhook-failed rows get their agent on the sandbox and become patched; a rerun is a no-op."""
    numbers = [us_number(i) for i in range(10)]
    source = write_input(tmp_path / "in.csv", numbers)
    report = tmp_path / "in.report.csv"
    first = importer.run(
        source=str(source),
        input_options=InputOptions(),
        api=api(webhook_sandbox),
        output=out(report),
    )
    assert first.exit_code == 1
    assert first.counts == {"imported": 7, "webhook_failed": 3}
    assert webhook_sandbox.state.get(us_number(4))["agent"] is None  # type: ignore[index]

    summary = patch.retry_patch(
        report=report, agent_id=None, api=api(webhook_sandbox), output=out(report)
    )
    assert summary.exit_code == 0
    assert summary.counts == {"imported": 7, "patched": 3}
    rows = report_rows(report)
    assert [r["row"] for r in rows] == [str(n) for n in range(2, 12)]
    for i in (1, 4, 7):
        held = webhook_sandbox.state.get(us_number(i))
        assert held is not None
        assert held["agent"]["id"] == "agent_sandbox"
        row = rows[i]
        assert row["status"] == "patched"
        assert row["phone_number_id"] == held["id"]
        assert int(row["attempts"]) >= 2  # the import, the look-up and the PATCH

    before = webhook_sandbox.state.stats()["requests"]
    again = patch.retry_patch(
        report=report, agent_id=None, api=api(webhook_sandbox), output=out(report)
    )
    assert again.exit_code == 0
    assert again.requests == 0
    assert webhook_sandbox.state.stats()["requests"] == before
    assert report_rows(report) == rows


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
        summary = patch.retry_patch(
            report=report, agent_id=None, api=api(sandbox), output=out(target)
        )
    assert summary.exit_code == 1
    rows = {r["row"]: r for r in report_rows(target)}
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
    source = write_input(tmp_path / "in.csv", [us_number(i) for i in range(5)])
    report = tmp_path / "in.report.csv"
    importer.run(
        source=str(source),
        input_options=InputOptions(),
        api=api(webhook_sandbox),
        output=out(report),
    )
    summary = patch.retry_patch(
        report=report, agent_id="agent_b", api=api(webhook_sandbox), output=out(report)
    )
    assert summary.counts["patched"] == 2
    assert webhook_sandbox.state.get(us_number(1))["agent"]["id"] == "agent_b"  # type: ignore[index]
    assert {r["agent_id"] for r in report_rows(report) if r["status"] == "patched"} == {"agent_b"}


@pytest.fixture
def drifted() -> Iterator[RunningSandbox]:
    """An account of 250 numbers: 3 with another agent, 10 the input will not list."""
    existing = []
    for i in range(250):
        agent = "agent_b" if i in (5, 50, 150) else "agent_sandbox"
        existing.append({"number": us_number(i), "agent_id": agent, "provider_id": "prov_sandbox"})
    with RunningSandbox(faults=Faults(existing=tuple(existing), agents=AGENTS)) as sandbox:
        yield sandbox


def test_reconcile_reports_each_kind_of_drift(tmp_path: Path, drifted: RunningSandbox) -> None:
    """One listing pass over 3 pages finds in_sync, missing, agent_mismatch and extra rows."""
    numbers = [us_number(i) for i in range(240)] + [us_number(1000 + i) for i in range(5)]
    source = write_input(tmp_path / "fleet.csv", numbers)
    report = tmp_path / "fleet.report.csv"
    summary = reconcile.reconcile(
        source=str(source), input_options=InputOptions(), api=api(drifted), output=out(report)
    )
    assert summary.exit_code == 1
    assert summary.counts == {"in_sync": 237, "agent_mismatch": 3, "missing": 5, "extra": 10}
    assert summary.requests == math.ceil(250 / 100)
    assert drifted.state.stats()["by_method"] == {"GET": 3}
    rows = report_rows(report)
    assert len(rows) == 255
    assert [r["status"] for r in rows[-10:]] == ["extra"] * 10
    assert all(r["row"] == "" for r in rows[-10:])
    mismatch = next(r for r in rows if r["status"] == "agent_mismatch")
    assert "agent_b" in mismatch["error"]


def test_reconcile_apply_fixes_and_never_deletes(tmp_path: Path, drifted: RunningSandbox) -> None:
    """--apply imports the missing, patches the mismatched, keeps extras; then all is in sync."""
    numbers = [us_number(i) for i in range(240)] + [us_number(1000 + i) for i in range(5)]
    source = write_input(tmp_path / "fleet.csv", numbers)
    report = tmp_path / "fleet.report.csv"
    summary = reconcile.reconcile(
        source=str(source),
        input_options=InputOptions(),
        api=api(drifted),
        output=out(report),
        apply=True,
    )
    assert summary.exit_code == 0
    assert summary.counts == {"in_sync": 237, "patched": 3, "imported": 5, "extra": 10}
    assert summary.requests == 3 + 3 + 5  # list pages + one call per fix
    assert drifted.state.stats()["stored"] == 255  # nothing deleted
    assert drifted.state.get(us_number(50))["agent"]["id"] == "agent_sandbox"  # type: ignore[index]
    final = reconcile.reconcile(
        source=str(source), input_options=InputOptions(), api=api(drifted), output=out(report)
    )
    assert final.exit_code == 0
    assert final.counts == {"in_sync": 245, "extra": 10}


def test_reconcile_stops_when_the_listing_is_refused(tmp_path: Path) -> None:
    """A refused key stops reconcile with exit 3 and every row not_attempted."""
    source = write_input(tmp_path / "fleet.csv", [us_number(i) for i in range(4)])
    report = tmp_path / "r.csv"
    with RunningSandbox(api_key="sk_car_other") as sandbox:
        summary = reconcile.reconcile(
            source=str(source), input_options=InputOptions(), api=api(sandbox), output=out(report)
        )
        assert sandbox.state.stats()["requests"] == 1
    assert summary.exit_code == 3
    assert summary.counts == {"not_attempted": 4}
    assert "listing the account failed" in summary.stopped


def test_reconcile_provider_filter(tmp_path: Path) -> None:
    """--provider-id lists only that provider's numbers."""
    existing = (
        {"number": us_number(0), "provider_id": "prov_sandbox"},
        {"number": us_number(1), "provider_id": "prov_other"},
    )
    faults = Faults(existing=existing, providers=("prov_sandbox", "prov_other"))
    source = write_input(tmp_path / "fleet.csv", [us_number(0)], agent="")
    with RunningSandbox(faults=faults) as sandbox:
        summary = reconcile.reconcile(
            source=str(source),
            input_options=InputOptions(provider_id="prov_sandbox"),
            api=api(sandbox),
            output=out(tmp_path / "r.csv"),
        )
    assert summary.counts == {"in_sync": 1}
    assert Status.EXTRA.value not in summary.counts


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


def test_retry_patch_refused_key_stops_and_leaves_rows_as_they_were(tmp_path: Path) -> None:
    """A 401 stops retry-patch with exit 3; rows not patched stay webhook_failed for next time."""
    report = one_row_report(tmp_path / "r.csv", number=us_number(1), number_id="pn_1")
    with RunningSandbox(api_key="sk_car_other") as sandbox:
        summary = patch.retry_patch(
            report=report, agent_id=None, api=api(sandbox), output=out(report)
        )
    assert summary.exit_code == 3
    rows = report_rows(report)
    assert len(rows) == 1
    assert rows[0]["status"] in {"webhook_failed", "patch_failed"}
    assert "HTTP 401" in rows[0]["error"] or "refused" in rows[0]["error"]


def test_retry_patch_unknown_agent_is_patch_failed(tmp_path: Path) -> None:
    """A PATCH the API refuses (unknown agent, 404) is patch_failed with the API's words."""
    existing = ({"number": us_number(3), "provider_id": "prov_sandbox"},)
    report = one_row_report(tmp_path / "r.csv", number=us_number(3), agent="agent_gone")
    with RunningSandbox(faults=Faults(existing=existing)) as sandbox:
        summary = patch.retry_patch(
            report=report, agent_id=None, api=api(sandbox), output=out(report)
        )
    assert summary.exit_code == 1
    (row,) = report_rows(report)
    assert row["status"] == "patch_failed"
    assert row["http_status"] == "404"
    assert row["provider"] == "twilio:AC0123:ie1"
    assert row["attempts"] == "3"  # the import, the look-up, the PATCH


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
        seen.append(str(request.url))
        return next(answers)

    report = one_row_report(tmp_path / "r.csv", number=us_number(4))
    options = ApiOptions(api_key=Secret(KEY), base_url="http://127.0.0.1:9", max_attempts=1)
    summary = patch.retry_patch(
        report=report,
        agent_id=None,
        api=options,
        output=out(report),
        transport=httpx.MockTransport(handler),
    )
    assert summary.exit_code == 1
    (row,) = report_rows(report)
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
    with RunningSandbox(api_key="sk_car_other") as sandbox:
        summary = patch.retry_patch(
            report=report, agent_id=None, api=api(sandbox, concurrency=2), output=out(report)
        )
        assert sandbox.state.stats()["requests"] <= 2
    assert summary.exit_code == 3
    assert "refused the key" in summary.stopped
    assert len(report_rows(report)) == 40
