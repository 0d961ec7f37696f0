"""Act on one phone number by its id, for ``rollback``: read it, unassign it, delete it.

``GET``, ``PATCH {"agent_id": null}`` and ``DELETE /agents/phone-numbers/{id}`` go through the
run's caller (retries, the adaptive limit, the stop) like every request, and each answers a
:class:`Reply`: the final HTTP status, the tries, what the API said, and for a GET what the id
holds now. A 404 is not an error here: it says the number is gone, and the job decides what
that means. A job never sees an ``httpx.Response``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from bulk_import.api.answers import Final as Answer
from bulk_import.api.answers import failure_text, gave_up, parse_json
from bulk_import.api.cartesia import PHONE_NUMBERS, CartesiaApi
from bulk_import.api.listing import Held, number_held

#: What an id from a REPORT must look like before it goes into a URL: the API's ids are like
#: ``pn_abc123``; anything else (a ``/``, ``..``, ``?``) could reach another path.
NUMBER_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,199}")
GONE: Final = 404


@dataclass(frozen=True, slots=True)
class Reply:
    """Hold what one call on a number came to."""

    #: The final answer's HTTP status (None: no answer came).
    code: int | None
    attempts: int
    #: Why the call did not do what it asked, in the API's words ("" when it did, or when the
    #: number is gone).
    error: str = ""
    #: The run stopped before the call's first try went out: nothing was sent.
    not_sent: bool = False
    #: For a GET: what the id holds now.
    held: Held | None = None

    @property
    def gone(self) -> bool:
        """Say whether the API answered that no number has this id (404)."""
        return self.code == GONE and not self.error

    @property
    def done(self) -> bool:
        """Say whether the call did what it asked."""
        return not (self.error or self.not_sent or self.gone)


def is_number_id(text: str) -> bool:
    """Say whether ``text`` can be a phone number id of the API (and so safe in a URL path)."""
    return NUMBER_ID.fullmatch(text) is not None


def _path(number_id: str) -> str:
    if not is_number_id(number_id):  # the job checks first: this is the last line of defence
        raise ValueError(f"not a phone number id: {number_id!r}")
    return f"{PHONE_NUMBERS}/{number_id}"


async def _send(api: CartesiaApi, method: str, number_id: str, **kwargs: object) -> Answer:
    path = _path(number_id)
    http = api.http
    return await api.caller.send(lambda: http.request(method, path, **kwargs))


def _reply(api: CartesiaApi, final: Answer, *, ok: int, expected: str, what: str) -> Reply:
    """Turn the final answer to one call into a :class:`Reply` (``ok``: the success status)."""
    response = final.response
    if response is None:
        if final.not_sent:
            return Reply(None, final.attempts, final.error, not_sent=True)
        return Reply(
            None, final.attempts, f"{what} failed: " + gave_up(final, stopping=api.stopping)
        )
    code = response.status_code
    if code in (ok, GONE):
        return Reply(code, final.attempts)
    api.stop_if_refused(code)
    error = failure_text(response, final, stopping=api.stopping, expected=expected)
    return Reply(code, final.attempts, f"{what} failed: {error}")


async def fetch_number(api: CartesiaApi, number_id: str) -> Reply:
    """GET one number by id: what it holds now, or gone (404)."""
    final = await _send(api, "GET", number_id)
    reply = _reply(api, final, ok=200, expected="200 OK", what="GET")
    if reply.code != 200 or final.response is None:
        return reply
    body = parse_json(final.response)
    if not (
        isinstance(body, dict)
        and isinstance(body.get("id"), str)
        and isinstance(body.get("number"), str)
    ):
        return Reply(200, final.attempts, "GET failed: the answer is not a phone number")
    if body["id"] != number_id:
        # A caching proxy or an API bug: what it says is not what the id holds, and the id
        # must never be deleted on the word of another number's object.
        return Reply(200, final.attempts, f"GET failed: the answer is for id {body['id']}")
    return Reply(200, final.attempts, held=number_held(body))


async def unassign(api: CartesiaApi, number_id: str) -> Reply:
    """PATCH a number's agent to null (the API refuses to delete an assigned number)."""
    final = await _send(api, "PATCH", number_id, json={"agent_id": None})
    return _reply(api, final, ok=200, expected="200 OK", what="unassign (PATCH agent_id null)")


async def delete_number(api: CartesiaApi, number_id: str) -> Reply:
    """DELETE a number: done (204), or gone already (404)."""
    final = await _send(api, "DELETE", number_id)
    return _reply(api, final, ok=204, expected="204 No Content", what="DELETE")
