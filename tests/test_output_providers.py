"""Tests for output.providers: the table, an account's line, the JSON, the closing lines."""

from __future__ import annotations

import json

from bulk_import.models import AccountLink, LinkState
from bulk_import.output.providers import (
    closing_line,
    link_line,
    links_json,
    providers_table,
    why_line,
)

SID = "AC" + "1" * 32
OTHER = "AC" + "2" * 32


def test_the_table_lines_up_and_shows_an_unknown_type_as_it_comes() -> None:
    """Columns line up; a provider of another type (no account SID) has blank cells."""
    table = providers_table(
        [
            {
                "id": "prov_a",
                "type": "twilio",
                "account_sid": SID,
                "region": "us1",
                "api_key_sid": "SK" + "*" * 28 + "abcd",
            },
            {"id": "prov_long_id", "type": "sip_trunk", "label": "PBX\nmain"},
        ]
    )
    lines = table.splitlines()
    assert lines[0].split() == ["id", "type", "account", "SID", "region", "key"]
    assert lines[1].split() == ["prov_a", "twilio", SID, "us1", "SK" + "*" * 28 + "abcd"]
    assert lines[2].split() == ["prov_long_id", "sip_trunk"]
    assert lines[0].index("type") == lines[1].index("twilio") == lines[2].index("sip_trunk")


def test_each_state_has_its_line() -> None:
    """Linked names the provider; not linked names --create-keys; skipped names the status."""
    assert link_line(AccountLink(SID, "us1", LinkState.LINKED, "prov_a")) == (
        f"twilio:{SID}:us1  linked  prov_a"
    )
    assert link_line(AccountLink(SID, "ie1", LinkState.NOT_LINKED)) == (
        f"twilio:{SID}:ie1  not linked  (--create-keys makes a key in it and links it)"
    )
    assert link_line(AccountLink(SID, "us1", LinkState.SKIPPED, status="closed")) == (
        f"twilio:{SID}:us1  skipped  (closed in Twilio: not linked, its numbers not read)"
    )
    done = AccountLink(SID, "us1", LinkState.LINKED_NOW, "prov_b", "new API key SK1 named x")
    assert link_line(done) == f"twilio:{SID}:us1  linked now  prov_b  (new API key SK1 named x)"


def test_json_holds_one_object_per_account() -> None:
    """--json: account, region, state, provider (null when none), Twilio's status, detail."""
    links = [
        AccountLink(SID, "us1", LinkState.LINKED, "prov_a"),
        AccountLink(OTHER, "us1", LinkState.FAILED, detail="; refused"),
    ]
    assert json.loads(links_json(links)) == [
        {
            "account_sid": SID,
            "region": "us1",
            "state": "linked",
            "provider_id": "prov_a",
            "twilio_status": "active",
            "detail": "",
        },
        {
            "account_sid": OTHER,
            "region": "us1",
            "state": "failed",
            "provider_id": None,
            "twilio_status": "active",
            "detail": "refused",
        },
    ]


def test_closing_and_quiet_lines_say_what_needs_care() -> None:
    """The closing line counts by state; --quiet's line names the first failure and the rest."""
    links = [
        AccountLink(SID, "us1", LinkState.FAILED, detail="Cartesia refused the key made"),
        AccountLink(OTHER, "us1", LinkState.FAILED, detail="not linked: HTTP 503"),
        AccountLink(SID, "ie1", LinkState.LINKED_NOW, "prov_c"),
    ]
    assert closing_line(links, exit_code=1) == (
        "providers link: 3 accounts: 1 linked now, 2 failed; exit 1"
    )
    assert why_line(links, exit_code=1) == (
        f"bulk-import providers link: exit 1: 2 of 3 accounts not linked; twilio:{SID}:us1: "
        "Cartesia refused the key made (and 1 more)"
    )
    assert closing_line([], exit_code=3, error="the API refused the key") == (
        "providers link: 0 accounts: none; stopped early: the API refused the key; exit 3"
    )
