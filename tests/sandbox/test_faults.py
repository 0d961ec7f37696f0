"""Tests for the faults file: every key read, every mistake named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bulk_import.sandbox import Faults
from sandbox.helpers import SID


def test_faults_from_file_reads_every_key(tmp_path: Path) -> None:
    """A faults file with every key gives the same Faults, lists as tuples."""
    data = {
        "latency_ms": 5,
        "latency_jitter_ms": 2,
        "concurrency_limit": 10,
        "rate_limit": 100,
        "retry_after": "date",
        "retry_after_s": 0.5,
        "error_429": 0.1,
        "error_500": 0.1,
        "error_502": 0.1,
        "error_503": 0.1,
        "drop": 0.1,
        "stored_then_500": 0.1,
        "webhook_fail_numbers": ["+14155550100"],
        "webhook_fail_fraction": 0.2,
        "not_in_account": ["+14155550101"],
        "existing": [{"number": "+14155550102", "agent_id": None, "provider_id": "prov_x"}],
        "providers": ["prov_x"],
        "agents": ["agent_x"],
        "twilio_accounts": [SID],
    }
    path = tmp_path / "faults.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    faults = Faults.from_file(path)
    assert faults.rate_limit == 100
    assert faults.webhook_fail_numbers == ("+14155550100",)
    assert faults.existing == ({"number": "+14155550102", "provider_id": "prov_x"},)
    assert faults.twilio_accounts == (SID,)
    assert faults.concurrency_limit == 10
    assert faults.latency_jitter_ms == 2
    assert Faults.from_dict(faults.to_dict()) == faults
    twilio = {
        "twilio_numbers": [{"phone_number": "+14155550100", "friendly_name": "Desk"}],
        "twilio_faults": {"01": ["429", "drop"], "2": ["not_json", "repeat_next"]},
    }
    with_twilio = Faults.from_dict(twilio)
    assert with_twilio.twilio_numbers == (
        {"phone_number": "+14155550100", "friendly_name": "Desk"},
    )
    assert with_twilio.twilio_faults == {"1": ("429", "drop"), "2": ("not_json", "repeat_next")}
    assert Faults.from_dict(with_twilio.to_dict()) == with_twilio
    assert Faults(twilio_numbers=0).twilio_numbers == 0
    assert Faults.from_dict({}) == Faults()
    assert Faults.from_dict({"rate_limit": None}).rate_limit is None


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ('{"latency": 5, "zzz": 1}', "unknown faults key(s): latency, zzz"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"latency_ms": -1}', "latency_ms must be at least 0"),
        ('{"latency_ms": "5"}', "latency_ms must be a number"),
        ('{"error_500": 1.5}', "error_500 must be between 0 and 1"),
        ('{"drop": true}', "drop must be a number"),
        ('{"drop": NaN}', "drop must be a number"),
        ('{"error_500": 0.6, "error_502": 0.6}', "add up to at most 1"),
        ('{"rate_limit": 0}', "rate_limit must be above 0"),
        ('{"retry_after": "minutes"}', "retry_after must be one of"),
        ('{"retry_after_s": -1}', "retry_after_s"),
        ('{"latency_jitter_ms": -1}', "latency_jitter_ms must be at least 0"),
        ('{"concurrency_limit": 0}', "concurrency_limit must be a whole number of at least 1"),
        ('{"concurrency_limit": 2.5}', "concurrency_limit must be a whole number"),
        ('{"concurrency_limit": true}', "concurrency_limit must be a whole number"),
        ('{"concurrency_limit": "10"}', "concurrency_limit must be a whole number"),
        ('{"webhook_fail_numbers": "+14155550100"}', "webhook_fail_numbers must be a list"),
        ('{"not_in_account": ["4155550100"]}', "not an E.164 number"),
        ('{"providers": [""]}', "providers must be a list of non-empty strings"),
        ('{"agents": [5]}', "agents must be a list of non-empty strings"),
        ('{"twilio_accounts": ["AC12"]}', "not an account SID"),
        ('{"existing": {"number": "+14155550100"}}', "existing must be a list"),
        ('{"existing": ["+14155550100"]}', "existing[0] must be an object"),
        ('{"existing": [{"number": "+14155550100", "agent": "a"}]}', "unknown key(s) agent"),
        ('{"existing": [{"number": 14155550100}]}', "existing[0].number must be a string"),
        ('{"existing": [{"label": "x"}]}', "existing[0].number must be an E.164"),
        (
            '{"existing": [{"number": "+14155550100"}, {"number": "+14155550100"}]}',
            "listed twice",
        ),
        ('{"existing": [{"number": "+14155550100", "agent_id": "a"}]}', "not one of agents"),
        ('{"existing": [{"number": "+14155550100", "provider_id": "p"}]}', "not one of providers"),
        ('{"providers": [], "existing": [{"number": "+14155550100"}]}', "needs a provider_id"),
        ('{"twilio_numbers": -1}', "twilio_numbers must be from 0 to 200,000"),
        ('{"twilio_numbers": 200001}', "twilio_numbers must be from 0 to 200,000"),
        ('{"twilio_numbers": true}', "twilio_numbers must be a count or a list"),
        ('{"twilio_numbers": "5"}', "twilio_numbers must be a count or a list"),
        ('{"twilio_numbers": ["+14155550100"]}', "twilio_numbers[0] must be an object"),
        ('{"twilio_numbers": [{"number": "+14155550100"}]}', "unknown key(s) number"),
        ('{"twilio_numbers": [{"phone_number": "4155550100"}]}', "phone_number must be an E.164"),
        ('{"twilio_numbers": [{"phone_number": 5}]}', "phone_number must be an E.164"),
        (
            '{"twilio_numbers": [{"phone_number": "+14155550100"}, '
            '{"phone_number": "+14155550100"}]}',
            "listed twice",
        ),
        (
            '{"twilio_numbers": [{"phone_number": "+14155550100", "friendly_name": 5}]}',
            "friendly_name must be a string",
        ),
        ('{"twilio_numbers": 5, "twilio_faults": [1]}', "twilio_faults must be an object"),
        ('{"twilio_numbers": 5, "twilio_faults": {"first": ["429"]}}', "not a page number"),
        ('{"twilio_numbers": 5, "twilio_faults": {"-1": ["429"]}}', "not a page number"),
        ('{"twilio_numbers": 5, "twilio_faults": {"1": "429"}}', "must be a list of steps"),
        ('{"twilio_numbers": 5, "twilio_faults": {"1": ["404"]}}', "'404' is not one of 429"),
        ('{"twilio_faults": {"1": ["429"]}}', "twilio_faults needs twilio_numbers"),
    ],
)
def test_faults_file_errors_name_the_problem(tmp_path: Path, content: str, fragment: str) -> None:
    """A bad faults file is one ValueError naming the file and what is wrong in it."""
    path = tmp_path / "faults.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match="faults") as info:
        Faults.from_file(path)
    assert str(path) in str(info.value)
    assert fragment in str(info.value)


def test_missing_faults_file_is_a_value_error(tmp_path: Path) -> None:
    """A faults file that cannot be read is a ValueError naming it."""
    missing = tmp_path / "nope.json"
    with pytest.raises(ValueError, match="cannot read faults file") as info:
        Faults.from_file(missing)
    assert str(missing) in str(info.value)


def test_from_dict_refuses_a_non_mapping() -> None:
    """from_dict refuses anything but an object."""
    with pytest.raises(ValueError, match="JSON object"):
        Faults.from_dict([])  # type: ignore[arg-type]


def test_retry_after_s_not_set_means_one_second_for_injected_429s() -> None:
    """retry_after_s unset is 1 s for injected and rate-limit 429s, and stays unset (None)."""
    assert Faults().retry_after_s is None
    assert Faults().retry_wait_s == 1.0
    assert Faults(retry_after_s=0).retry_wait_s == 0.0
    assert Faults.from_dict({"retry_after_s": None}) == Faults()


def test_changed_replaces_only_the_live_keys() -> None:
    """changed() changes limits, waits and dice, clears a limit with null, and refuses the rest."""
    faults = Faults(concurrency_limit=10, agents=("agent_x",))
    moved = faults.changed({"concurrency_limit": 20, "latency_ms": 800, "error_503": 0.1})
    assert (moved.concurrency_limit, moved.latency_ms, moved.error_503) == (20, 800, 0.1)
    assert moved.agents == ("agent_x",)
    assert faults.changed({"concurrency_limit": None}).concurrency_limit is None
    assert faults.changed({}) == faults
    with pytest.raises(ValueError, match="agents cannot change while the sandbox runs"):
        faults.changed({"agents": ["agent_y"]})
    with pytest.raises(ValueError, match=r"unknown faults key\(s\): limit"):
        faults.changed({"limit": 5})
    with pytest.raises(ValueError, match="must be a JSON object"):
        faults.changed([1])
    with pytest.raises(ValueError, match="concurrency_limit must be a whole number"):
        faults.changed({"concurrency_limit": 0})
