"""The calls on one number by id (GET, unassign, DELETE): each answer mapped to a Reply.

Small units of the mapping over a MockTransport; the real answers are the sandbox's, in
test_jobs_rollback.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from conftest import answer, api_options, error_body

from bulk_import.api.cartesia import CartesiaApi
from bulk_import.api.control import StopControl
from bulk_import.api.numbers import Reply, delete_number, fetch_number, is_number_id, unassign
from bulk_import.models import Exit

BASE = "https://api.test"
NUMBER = {
    "id": "pn_1",
    "number": "+14155550100",
    "label": None,
    "agent": {"id": "agent_1", "name": "Front desk"},
    "provider": {"type": "cartesia"},
    "created_at": "2026-12-01T00:00:00Z",
    "updated_at": "2026-12-01T00:00:00Z",
}

Handler = Callable[[httpx.Request], httpx.Response]


async def call(
    handler: Handler, what: str, number_id: str = "pn_1"
) -> tuple[Reply, StopControl, list[httpx.Request]]:
    """Make one call through a CartesiaApi over ``handler``; return the reply and the requests."""
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    control = StopControl()
    options = api_options(BASE, max_attempts=2)
    calls = {"get": fetch_number, "unassign": unassign, "delete": delete_number}
    async with CartesiaApi(options, control=control, transport=httpx.MockTransport(record)) as api:
        reply = await calls[what](api, number_id)
    return reply, control, seen


async def test_get_reads_what_the_id_holds() -> None:
    """A 200 is the number, its agent and its label (null label: "")."""
    reply, _, seen = await call(lambda _: answer(200, NUMBER), "get")
    assert reply.done
    assert reply.held is not None
    assert (reply.held.id, reply.held.number, reply.held.agent_id, reply.held.label) == (
        "pn_1",
        "+14155550100",
        "agent_1",
        "",
    )
    assert [(r.method, r.url.path) for r in seen] == [("GET", "/agents/phone-numbers/pn_1")]


async def test_unassign_sends_agent_id_null_and_delete_sends_no_body() -> None:
    """The unassign is PATCH {"agent_id": null}; the DELETE has no body; 200 and 204 are done."""
    reply, _, seen = await call(lambda _: answer(200, {**NUMBER, "agent": None}), "unassign")
    assert reply.done
    assert (seen[0].method, json.loads(seen[0].content)) == ("PATCH", {"agent_id": None})
    reply, _, seen = await call(lambda _: answer(204), "delete")
    assert (reply.done, reply.code, reply.attempts) == (True, 204, 1)
    assert (seen[0].method, seen[0].content) == ("DELETE", b"")


@pytest.mark.parametrize("what", ["get", "unassign", "delete"])
async def test_404_is_gone_not_an_error(what: str) -> None:
    """A 404 says no number has the id: gone, with no error (the job decides what it means)."""
    reply, _, _ = await call(lambda _: answer(404, error_body("Not found", "nope")), what)
    assert (reply.gone, reply.done, reply.error, reply.code) == (True, False, "", 404)


@pytest.mark.parametrize(
    ("what", "response", "error"),
    [
        (
            "delete",
            answer(400, error_body("Assigned", "unassign it first", request_id="r1")),
            "DELETE failed: HTTP 400: Assigned: unassign it first (request_id r1)",
        ),
        (
            "delete",
            answer(200, {}),
            "DELETE failed: unexpected HTTP 200 (expected 204 No Content); check the number in "
            "Cartesia",
        ),
        (
            "unassign",
            answer(400, "<html>nope</html>"),
            "unassign (PATCH agent_id null) failed: HTTP 400: <html>nope</html>",
        ),
        ("get", answer(200, {"id": "pn_1"}), "GET failed: the answer is not a phone number"),
        (
            "get",
            answer(503, error_body("Unavailable", "later")),
            "GET failed: gave up after 2 attempts: HTTP 503: Unavailable: later",
        ),
    ],
)
async def test_a_refusal_is_an_error_in_the_api_s_words(
    what: str, response: httpx.Response, error: str, fast_retries: None
) -> None:
    """Any other answer (once the retries are spent) says what the API said, on one line."""
    reply, control, _ = await call(lambda _: response, what)
    assert (reply.done, reply.gone, reply.error) == (False, False, error)
    assert not control.stopping


async def test_a_refused_key_stops_the_run() -> None:
    """401 on any of the calls stops the run (exit 3), like every other request."""
    reply, control, _ = await call(
        lambda _: answer(401, error_body("Unauthorized", "no")), "delete"
    )
    assert reply.code == 401
    assert control.stopping
    assert control.exit_code == Exit.STOPPED


async def test_no_answer_is_an_error_after_the_retries(fast_retries: None) -> None:
    """A connection that keeps failing: not done, with the cause and the tries."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    reply, _, seen = await call(refuse, "delete")
    assert (reply.code, reply.attempts, len(seen)) == (None, 2, 2)
    assert (
        reply.error == "DELETE failed: gave up after 2 attempts: ConnectError: connection refused"
    )


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("pn_abc123", True),
        ("pn_000000000001", True),
        ("PN-1", True),
        ("", False),
        ("..", False),
        ("pn_1/../providers", False),
        ("pn_1?x=1", False),
        ("pn_1#x", False),
        ("_pn", False),
        ("pn 1", False),
        ("p" * 201, False),
    ],
)
def test_only_an_api_id_may_go_into_a_url(text: str, ok: bool) -> None:
    """An id from a REPORT is used in a URL path only when it looks like the API's ids."""
    assert is_number_id(text) is ok


async def test_a_bad_id_never_reaches_the_network() -> None:
    """A call with an id that is not one raises before anything is sent."""
    with pytest.raises(ValueError, match="not a phone number id"):
        await call(lambda _: answer(204), "delete", number_id="../providers/prov_1")
