"""Write what ``providers`` and ``providers link`` say: the table, one line per account, JSON.

Nothing here holds a secret: a provider's key SID comes masked from Cartesia, and a link's line
names a key made by its SID only, which is what a person looks for in Twilio's console.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence

from bulk_import.models import AccountLink, LinkState

COLUMNS = (("id", "id"), ("type", "type"), ("account_sid", "account SID"), ("region", "region"))
KEY_COLUMN = ("api_key_sid", "key")
_ORDER = tuple(LinkState)


def providers_table(providers: Sequence[dict[str, object]]) -> str:
    """Return the providers as a table: id, type, account SID, region and the masked key SID."""
    columns = (*COLUMNS, KEY_COLUMN)
    rows = [[_cell(p.get(key)) for key, _ in columns] for p in providers]
    heads = [head for _, head in columns]
    widths = [max(len(cell) for cell in column) for column in zip(heads, *rows, strict=True)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (heads, *rows)
    )


def _cell(value: object) -> str:
    """Return a provider's field as one cell: a value of an unknown type shows as text."""
    if value is None:
        return ""
    return " ".join(str(value).split())


def link_line(link: AccountLink) -> str:
    """Return one account's line: ``twilio:AC...:us1  linked now  prov_...  (how)``."""
    where = f"twilio:{link.account_sid}:{link.region}"
    if link.state is LinkState.SKIPPED:
        return f"{where}  skipped  ({link.status} in Twilio: not linked, its numbers not read)"
    parts = [where, link.state.value]
    if link.provider_id:
        parts.append(link.provider_id)
    line = "  ".join(parts)
    detail = link.detail.removeprefix("; ")
    if link.state is LinkState.NOT_LINKED and not detail:
        detail = "--create-keys makes a key in it and links it"
    return f"{line}  ({detail})" if detail else line


def links_json(links: Sequence[AccountLink]) -> str:
    """Return the accounts as a JSON array, one object each (for scripts: ``--json``)."""
    return json.dumps(
        [
            {
                "account_sid": link.account_sid,
                "region": link.region,
                "state": link.state.value,
                "provider_id": link.provider_id or None,
                "twilio_status": link.status,
                "detail": link.detail.removeprefix("; "),
            }
            for link in links
        ],
        indent=2,
    )


def closing_line(links: Sequence[AccountLink], *, exit_code: int, error: str = "") -> str:
    """Return the line that closes ``providers link``: the accounts by state, and the exit."""
    counts = Counter(link.state for link in links)
    said = ", ".join(f"{counts[state]} {state.value}" for state in _ORDER if counts[state])
    noun = "account" if len(links) == 1 else "accounts"
    stopped = f"; stopped early: {error}" if error else ""
    return f"providers link: {len(links)} {noun}: {said or 'none'}{stopped}; exit {exit_code}"


def why_line(links: Sequence[AccountLink], *, exit_code: int, error: str = "") -> str:
    """Return the one line ``--quiet`` prints on a non-zero exit: the stop, or what failed."""
    if error:
        return f"bulk-import providers link: exit {exit_code}: stopped early: {error}"
    failed = [link for link in links if link.state is LinkState.FAILED]
    if not failed:  # pragma: no cover - a non-zero exit has a stop or a failure
        return f"bulk-import providers link: exit {exit_code}"
    first = failed[0]
    more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
    return (
        f"bulk-import providers link: exit {exit_code}: {len(failed)} of {len(links)} accounts "
        f"not linked; twilio:{first.account_sid}:{first.region}: "
        f"{first.detail.removeprefix('; ')}{more}"
    )
