"""Tests for sources.twilio: what a twilio: INPUT names, and a listing's numbers as rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from bulk_import.errors import InputError, UsageError
from bulk_import.models import RawRow
from bulk_import.sources import Source
from bulk_import.sources.twilio import (
    TwilioSource,
    check_scheme,
    is_twilio,
    twilio_account,
    twilio_source,
)

SID = "AC" + "0123456789abcdef" * 2
OTHER = "AC" + "f" * 32


def test_named_account_wins_over_the_environment() -> None:
    """twilio:AC... lists the account it names, whatever TWILIO_ACCOUNT_SID says."""
    assert twilio_account(f"twilio:{SID}", env_sid=OTHER) == SID


def test_bare_scheme_takes_the_account_from_the_environment() -> None:
    """twilio: alone lists TWILIO_ACCOUNT_SID's account (spaces around it dropped)."""
    assert twilio_account("twilio:", env_sid=f" {SID} ") == SID


def test_scheme_is_read_in_any_case() -> None:
    """Twilio: and TWILIO: are the same scheme, as URL schemes are."""
    assert is_twilio(f"Twilio:{SID}")
    assert twilio_account(f"TWILIO:{SID}", env_sid=None) == SID


def test_file_paths_are_not_twilio() -> None:
    """A file path or - names no account."""
    for source in ("fleet.csv", "-", "/tmp/a:b.csv", "./twilio:x.csv", "C:data.csv"):
        assert twilio_account(source, env_sid=SID) is None


def test_bare_scheme_without_an_account_names_the_fix() -> None:
    """twilio: with no TWILIO_ACCOUNT_SID says to set it or to write the SID."""
    with pytest.raises(UsageError) as caught:
        twilio_account("twilio:", env_sid="  ")
    assert str(caught.value) == (
        "INPUT twilio: names no account: set TWILIO_ACCOUNT_SID, or write twilio:AC<32 hex>"
    )


@pytest.mark.parametrize("bad", ["AC123", "AC" + "g" * 32, "AC" + "0" * 33, "acc", SID + " x"])
def test_malformed_sid_is_refused(bad: str) -> None:
    """A SID that is not AC + 32 hex digits is refused with the form it must have."""
    with pytest.raises(UsageError) as caught:
        twilio_account(f"twilio:{bad}", env_sid=None)
    assert str(caught.value) == (
        f"INPUT twilio: {bad} is not a Twilio account SID (AC followed by 32 hexadecimal "
        "digits); copy the Account SID from the Twilio console"
    )


def test_api_key_sid_in_place_of_the_account_says_so() -> None:
    """An API key SID (SK...) given as the account is named as one."""
    key = "SK" + "0" * 32
    with pytest.raises(UsageError) as caught:
        twilio_account(f"twilio:{key}", env_sid=None)
    assert str(caught.value) == (
        f"INPUT twilio: {key} is an API key SID (SK...), not an account SID; "
        "name the account as twilio:AC..."
    )


def test_malformed_environment_sid_names_the_variable() -> None:
    """A bad TWILIO_ACCOUNT_SID is refused naming the variable."""
    with pytest.raises(UsageError, match=r"^TWILIO_ACCOUNT_SID AC1 is not a Twilio account SID"):
        twilio_account("twilio:", env_sid="AC1")


def test_unprintable_sid_is_quoted_safely() -> None:
    """A SID with a control character is shown as its repr, never raw on a terminal."""
    with pytest.raises(UsageError) as caught:
        twilio_account("twilio:AC\x1b[31m", env_sid=None)
    assert "\x1b" not in str(caught.value)
    assert "'AC\\x1b[31m'" in str(caught.value)


@pytest.mark.parametrize("typo", ["twillio:", "twilo:AC1", "twiilio:", "twlio:"])
def test_typo_of_the_scheme_asks_did_you_mean(typo: str, tmp_path: Path) -> None:
    """A misspelt twilio: is never read as a file, even one that exists by that name."""
    (tmp_path / typo).write_text("number\n+14155550100\n")
    with pytest.raises(UsageError) as caught:
        check_scheme(str(typo))
    scheme = typo.split(":")[0] + ":"
    assert str(caught.value) == f"unknown INPUT scheme {scheme!r}: did you mean twilio:?"


def test_unknown_scheme_that_is_no_file_lists_the_inputs() -> None:
    """s3:bucket/key is refused naming what INPUT can be."""
    with pytest.raises(UsageError) as caught:
        check_scheme("s3:bucket/key.csv")
    assert str(caught.value) == (
        "unknown INPUT scheme 's3:': INPUT is a file path, - (CSV on stdin), or twilio: "
        "(the account in TWILIO_ACCOUNT_SID) or twilio:AC<32 hex>"
    )


def test_file_whose_name_looks_like_a_scheme_is_still_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An existing file named notes:2024.csv is read as the file it is."""
    monkeypatch.chdir(tmp_path)
    Path("notes:2024.csv").write_text("number\n+14155550100\n")
    check_scheme("notes:2024.csv")
    assert twilio_account("notes:2024.csv", env_sid=None) is None


def test_rows_are_the_listing_in_order_from_row_2() -> None:
    """Each number is a row: number and label as listed, the listing's account, rows from 2."""
    numbers = [("+14155550100", "Front desk"), ("+14155550101", "  "), ("+14155550102", "=1+1")]
    source = twilio_source(account_sid=SID, numbers=numbers, pages=1, requests=2)
    assert isinstance(source, TwilioSource)
    assert (source.name, source.count) == (f"twilio:{SID}", 3)
    assert list(source) == [
        RawRow(2, "+14155550100", "Front desk", account_sid=SID),
        RawRow(3, "+14155550101", "", account_sid=SID),
        RawRow(4, "+14155550102", "=1+1", account_sid=SID),
    ]
    assert list(source) == list(source), "iterating again reads the listing again"
    assert source.news() == f"listed 3 numbers of Twilio account {SID} (1 page, 2 requests)"
    assert repr(source) == f"TwilioSource(name='twilio:{SID}', count=3)"
    source.close()


def test_source_satisfies_the_protocol_the_jobs_use() -> None:
    """A TwilioSource is a Source as an InputSource is (name, count, rows, close)."""
    source: Source = twilio_source(account_sid=SID, numbers=[("+14155550100", "")])
    assert [raw.row_number for raw in source] == [2]


def test_empty_account_is_refused_naming_subaccounts() -> None:
    """An account with no numbers is unusable input, never an account in sync."""
    with pytest.raises(InputError) as caught:
        twilio_source(account_sid=SID, numbers=[])
    assert str(caught.value) == (
        f"Twilio account {SID} holds no phone numbers: check the account SID (a parent whose "
        "numbers all live in subaccounts is read with --subaccounts)"
    )
