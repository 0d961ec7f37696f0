"""Tests for running the sandbox: make_app, RunningSandbox and serve()."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from sandbox_fixtures import PATH, api_headers, import_body

from bulk_import.sandbox import DEFAULT_API_KEY, Faults, RunningSandbox, make_app, serve
from bulk_import.sandbox.twilio import ACCOUNT_SID, API_KEY_SID


def test_running_sandbox_lifecycle() -> None:
    """A sandbox starts once, refuses a busy port, and stops twice without harm."""
    sb = RunningSandbox().start()
    try:
        assert sb.base_url == f"http://127.0.0.1:{sb.port}"
        with pytest.raises(RuntimeError, match="already started"):
            sb.start()
        with pytest.raises(OSError, match="address"):
            RunningSandbox(port=sb.port).start()
    finally:
        sb.stop()
    sb.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(sb.base_url + PATH)


def test_make_app_is_an_aiohttp_application() -> None:
    """make_app builds an application whose state starts empty."""
    app = make_app(faults=Faults(), api_key="k", seed=1)
    assert {r.resource.canonical for r in app.router.routes() if r.resource} >= {
        PATH,
        PATH + "/{id}",
        "/_sandbox/stats",
    }


SERVE = "from bulk_import.sandbox import serve; raise SystemExit(serve(port=0))"


def test_serve_subprocess_prints_url_answers_and_exits_0_on_sigterm() -> None:
    """`serve` prints its URL first, accepts the env key without printing it, exits 0 on SIGTERM."""
    secret = "sk_car_env_secret_123"
    env = {**os.environ, "CARTESIA_API_KEY": secret}
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        assert first.startswith("sandbox listening on http://127.0.0.1:")
        assert proc.stdout.readline().strip() == "accepting the API key from CARTESIA_API_KEY"
        url = first.rsplit(" ", 1)[1]
        headers = api_headers(secret)
        assert (
            httpx.post(url + PATH, json=import_body("+14155550100"), headers=headers).status_code
            == 201
        )
        assert httpx.get(url + PATH, headers=api_headers()).status_code == 401
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert secret not in first + out + err
    assert "Traceback" not in err


def run_serve_in_process(**kwargs: Any) -> tuple[int, list[str], list[str]]:
    """Run serve() in this thread; once it prints its URL, call it, then send SIGTERM to us."""
    lines: list[str] = []
    errors: list[str] = []
    seen: list[int] = []

    def poke(url: str) -> None:
        headers = api_headers(os.environ.get("CARTESIA_API_KEY") or DEFAULT_API_KEY)
        seen.append(httpx.get(url + PATH, headers=headers).status_code)
        os.kill(os.getpid(), signal.SIGTERM)

    def echo(line: str) -> None:
        lines.append(line)
        if line.startswith("sandbox listening on "):
            url = line.rsplit(" ", 1)[1]
            threading.Thread(target=poke, args=(url,), daemon=True).start()

    code = serve(echo=echo, echo_err=errors.append, **kwargs)
    if code == 0:
        assert seen == [200]
    return code, lines, errors


def test_serve_in_process_stops_on_sigterm_and_restores_handlers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """serve() returns 0 on SIGTERM, says which key it accepts, and puts the handlers back."""
    monkeypatch.delenv("CARTESIA_API_KEY", raising=False)
    before = signal.getsignal(signal.SIGTERM)
    faults = tmp_path / "faults.json"
    faults.write_text('{"latency_ms": 1}', encoding="utf-8")
    code, lines, errors = run_serve_in_process(faults_path=str(faults), latency_ms=0, seed=3)
    assert code == 0
    assert errors == []
    assert lines[0].startswith("sandbox listening on http://127.0.0.1:")
    assert lines[1] == (
        "accepting the API key sk_car_sandbox (set CARTESIA_API_KEY to choose another)"
    )
    assert lines[2] == f"faults from {faults}"
    assert lines[3] == "provider prov_sandbox, agent agent_sandbox"
    assert len(lines) == 4
    assert signal.getsignal(signal.SIGTERM) == before


def test_serve_in_process_never_prints_the_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """With CARTESIA_API_KEY set, serve() accepts it and never prints it."""
    monkeypatch.setenv("CARTESIA_API_KEY", "sk_car_from_env_987")
    code, lines, _ = run_serve_in_process()
    assert code == 0
    assert lines[1] == "accepting the API key from CARTESIA_API_KEY"
    assert "sk_car_from_env_987" not in "\n".join(lines)


def test_serve_bad_faults_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """A bad faults file or latency prints one line to stderr and returns 2, serving nothing."""
    bad = tmp_path / "faults.json"
    bad.write_text('{"dropp": 1}', encoding="utf-8")
    out: list[str] = []
    err: list[str] = []
    assert serve(faults_path=str(bad), echo=out.append, echo_err=err.append) == 2
    assert out == []
    assert len(err) == 1
    assert "dropp" in err[0]
    assert serve(latency_ms=-5, echo=out.append, echo_err=err.append) == 2
    assert out == []
    assert "latency_ms" in err[1]


def test_serve_busy_port_is_exit_2() -> None:
    """A port already in use prints one line to stderr and returns 2."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out: list[str] = []
        err: list[str] = []
        assert serve(port=port, echo=out.append, echo_err=err.append) == 2
    assert out == []
    assert len(err) == 1
    assert f"127.0.0.1:{port}" in err[0]


def test_serve_default_echo_flushes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The default echo functions write whole lines to stdout and stderr."""
    assert serve(faults_path=str(tmp_path / "none.json")) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("bulk-import sandbox: cannot read faults file")


@pytest.mark.parametrize(
    ("faults", "known"),
    [
        ({"providers": ["prov_a", "prov_b"]}, "providers prov_a and prov_b, agent agent_sandbox"),
        (
            {"providers": [], "agents": ["a1", "a2", "a3"]},
            "no provider, agents a1, a2 and a3",
        ),
    ],
)
def test_serve_names_the_provider_and_agent_ids_it_knows(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, faults: dict[str, Any], known: str
) -> None:
    """serve() prints, after the key and the faults file, the provider and agent ids it knows."""
    monkeypatch.delenv("CARTESIA_API_KEY", raising=False)
    path = tmp_path / "faults.json"
    path.write_text(json.dumps(faults), encoding="utf-8")
    code, lines, _ = run_serve_in_process(faults_path=str(path))
    assert code == 0
    assert lines[3:] == [known]


def test_serve_tells_how_to_reach_the_twilio_stand_in(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With twilio_numbers, serve() names the Twilio account and both ways to authenticate."""
    monkeypatch.setenv("CARTESIA_API_KEY", "sk_car_from_env_555")
    monkeypatch.setenv("TWILIO_API_SECRET", "env_twilio_secret_555")
    path = tmp_path / "faults.json"
    path.write_text('{"twilio_numbers": 2500}', encoding="utf-8")
    code, lines, _ = run_serve_in_process(faults_path=str(path))
    assert code == 0
    assert lines[4] == (
        f"Twilio stand-in at the same URL (--twilio-base-url): account {ACCOUNT_SID}, 2,500 numbers"
    )
    assert lines[5] == (
        f"Twilio credentials: TWILIO_API_KEY={API_KEY_SID} TWILIO_API_SECRET=sandbox_secret, "
        f"or TWILIO_ACCOUNT_SID={ACCOUNT_SID} TWILIO_AUTH_TOKEN=sandbox_auth_token"
    )
    printed = "\n".join(lines)
    assert "sk_car_from_env_555" not in printed
    assert "env_twilio_secret_555" not in printed


def test_serve_counts_one_listed_twilio_number_in_the_singular(tmp_path: Path) -> None:
    """A Twilio list of one number is announced as 1 number."""
    path = tmp_path / "faults.json"
    path.write_text('{"twilio_numbers": [{"phone_number": "+14155550100"}]}', encoding="utf-8")
    code, lines, _ = run_serve_in_process(faults_path=str(path))
    assert code == 0
    assert lines[4].endswith(f"account {ACCOUNT_SID}, 1 number")
