"""Say what each HTTP answer of a run stands for, as the run page's answers table shows it.

A count alone ("200: 2") leaves a person guessing which requests those were: in a ``run`` the
only 200s are the checks before the first row (the key, the providers), in a ``reconcile`` the
listing's pages, in a ``retry-patch`` the look-ups and the PATCHes done.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Final

#: What a 200 answers, per command (the only status whose requests differ by command).
_OK_BY_COMMAND: Final = {
    "run": "the checks before the first row (GET: the key and base URL, the providers)",
    "reconcile": "the account's listing, page by page (the first page checks the key); "
    "with --apply, the PATCHes of agents too",
    "retry-patch": "the check before the first PATCH, the look-ups of ids (GET ?q=) and the "
    "PATCHes done",
    "rollback": "the checks and look-ups before each change, and the PATCHes unassigning agents",
}
_MEANINGS: Final = {
    "201": "imported",
    "204": "deleted",
    "400": "refused: a webhook failure (imported, agent not assigned) or a row the API rejects",
    "401": "the key was refused: the run stops",
    "403": "the key may not do this: the run stops",
    "404": "not found: a provider, an agent or a number",
    "408": "the server timed out waiting: retried",
    "409": "already in the account (already_imported)",
    "422": "a row the API rejects",
    "429": "too many requests: the run slowed down and retried",
    "500": "server error: retried",
    "502": "bad gateway: retried",
    "503": "unavailable: retried",
    "504": "gateway timeout: retried",
    "no_answer": "no answer (a dropped connection, a timeout): retried",
}


def answer_meaning(command: str, status: str) -> str:
    """Return what the answers with ``status`` (``200``, ``no_answer``) were, for ``command``."""
    if status == "200":
        return _OK_BY_COMMAND.get(command, "done (GET look-ups, PATCHes)")
    if status in _MEANINGS:
        return _MEANINGS[status]
    try:
        return HTTPStatus(int(status)).phrase
    except ValueError:
        return ""
