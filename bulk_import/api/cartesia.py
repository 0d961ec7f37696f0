"""Speak Cartesia's phone-number API for the jobs: outcomes in, never an ``httpx.Response`` out.

One :class:`CartesiaApi` per run holds the HTTP client, the retry policy, the limiter, the stop
control and the counters. Its calls answer in the values the jobs work with: an
:class:`~bulk_import.models.Outcome` for an import or an agent assignment, a number's id, the
account's numbers by E.164 number. Listing lives in :mod:`bulk_import.api.listing`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import httpx

from bulk_import.api.answers import (
    Final,
    describe_error,
    failure_text,
    import_outcome,
    parse_json,
)
from bulk_import.api.caller import Caller, Counters, Recorder
from bulk_import.api.control import StopControl
from bulk_import.api.http import Http, check_base_url
from bulk_import.api.limiter import Limiter
from bulk_import.api.retry import RETRY_STATUSES, RetryPolicy
from bulk_import.config import ApiOptions
from bulk_import.errors import UsageError
from bulk_import.models import Exit, Outcome, Row, Status

PHONE_NUMBERS = "/agents/phone-numbers"
PROVIDERS = "/agents/phone-numbers/providers"


class CartesiaApi:
    """Send one run's requests to Cartesia and turn the answers into outcomes."""

    def __init__(
        self,
        options: ApiOptions,
        *,
        control: StopControl,
        limiter: Limiter | None = None,
        recorder: Recorder | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.base_url = check_base_url(options.base_url)
        self.control = control
        self.key_origin = options.key_origin
        self._log = log
        self._max_attempts = options.max_attempts
        self.limiter = limiter or Limiter(ceiling=options.concurrency, rate=options.rate)
        self.counters = Counters()
        self.caller = Caller(
            policy=RetryPolicy(max_attempts=options.max_attempts),
            limiter=self.limiter,
            control=control,
            counters=self.counters,
            recorder=recorder,
        )
        self.http = Http(
            base_url=self.base_url,
            headers={
                "Authorization": f"Bearer {options.api_key.reveal()}",
                "Cartesia-Version": options.api_version,
            },
            timeout=options.timeout,
            connections=options.concurrency,
            transport=transport,
            option="--base-url (env CARTESIA_BASE_URL)",
        )
        self._numbers_url = self.http.url(PHONE_NUMBERS)

    def stop_if_refused(self, code: int) -> None:
        """Stop the run at once when an answer refuses the key, naming where the key came from."""
        self.control.stop_if_refused(code, url=self.base_url, key=self.key_origin)

    async def __aenter__(self) -> CartesiaApi:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    @property
    def stopping(self) -> str:
        """Return why the run is stopping, or "" while it goes on."""
        return self.control.reason if self.control.stopping else ""

    async def get(self, path: str, params: dict[str, str | int]) -> Final:
        """GET one page of a listing with the run's retry policy."""
        return await self.caller.send(lambda: self.http.request("GET", path, params=params))

    async def preflight(self) -> None:
        """Check the key and that the base URL answers like the API, before the first row.

        One ``GET /agents/phone-numbers?limit=1``, judged by :meth:`judge_listing`; while it is
        retried, each retry is said, so that an unreachable URL is not minutes of silence.
        """
        log = self._log

        def said(last: Final, wait: float) -> None:
            if log is not None:
                why = describe_error(last.response) if last.response is not None else last.error
                log(
                    f"{self.base_url} does not answer yet ({why}); trying again in {wait:.1f} s "
                    f"(try {last.attempts + 1} of at most {self._max_attempts})"
                )

        http = self.http
        final = await self.caller.send(
            lambda: http.request("GET", PHONE_NUMBERS, params={"limit": 1}), on_retry=said
        )
        self.judge_listing(final)

    def judge_listing(self, final: Final) -> None:
        """Judge the first answer of a listing as the run's first contact with the API.

        A refused key stops the run (exit 3); a base URL that answers, but not like the API, is
        :class:`UsageError` (exit 2); one that cannot be reached, or keeps failing, once the
        retries are spent stops the run (exit 3). Each is one line naming the URL.
        """
        response = self.judge_contact(final)
        if response is None:
            return
        code = response.status_code
        body = parse_json(response) if code == 200 else None
        if not (isinstance(body, dict) and isinstance(body.get("data"), list)):
            what = f"HTTP {code}" if code != 200 else "an answer that is not its list"
            raise UsageError(
                f"{self.base_url} does not answer like Cartesia's API "
                f"(GET {self.base_url}{PHONE_NUMBERS} gave {what}); "
                "check --base-url (env CARTESIA_BASE_URL)"
            )

    def judge_contact(self, final: Final) -> httpx.Response | None:
        """Stop the run when an answer says the API cannot be used; else return the answer.

        No answer once the retries are spent, a refused key, or a status still worth a retry:
        the run stops (exit 3) with one line naming the URL, and None is returned.
        """
        response = final.response
        if response is None:
            if not final.not_sent:
                route = self.http.route
                through = f" {route}" if route.proxy is not None else ""
                proxy = f", {route.variable}" if route.proxy is not None else ""
                self.control.stop(
                    f"cannot reach the API at {self.base_url}{through} ({final.error}); "
                    f"check --base-url (env CARTESIA_BASE_URL){proxy} and the network",
                    exit_code=Exit.STOPPED,
                )
            return None
        code = response.status_code
        self.stop_if_refused(code)
        if self.control.stopping:
            return None
        if code in RETRY_STATUSES:
            self.control.stop(
                f"the API at {self.base_url} kept failing ({describe_error(response)}); "
                "try again later",
                exit_code=Exit.STOPPED,
            )
            return None
        return response

    async def import_row(self, row: Row) -> Outcome:
        """POST one row; return its outcome (imported, already_imported, webhook_failed, ...)."""
        payload = row.payload()
        url = self._numbers_url
        final = await self.caller.send(lambda: self.http.request("POST", url, json=payload))
        if final.response is not None:
            self.stop_if_refused(final.response.status_code)
        return import_outcome(row, final, stopping=self.stopping)

    async def assign_agent(
        self, row: Row, *, number_id: str, agent_id: str, attempts: int = 0, fix: bool = False
    ) -> Outcome:
        """PATCH one number's agent; return the row as ``patched`` or ``patch_failed``.

        ``fix``: the number was in the account before the run (reconcile's ``agent_mismatch``),
        so the row becomes ``agent_fixed``, or stays ``agent_mismatch`` with the error: rollback
        must never take it for a number this tool created.
        """
        done_as, failed_as = (Status.PATCHED, Status.PATCH_FAILED)
        if fix:
            done_as, failed_as = (Status.AGENT_FIXED, Status.AGENT_MISMATCH)
        body: dict[str, object] = {"agent_id": agent_id}
        path = f"{PHONE_NUMBERS}/{number_id}"
        final = await self.caller.send(lambda: self.http.request("PATCH", path, json=body))
        attempts += final.attempts
        response = final.response
        if response is None:
            status = Status.NOT_ATTEMPTED if final.not_sent else failed_as
            error = final.error if final.not_sent else f"PATCH failed: {final.error}"
            return Outcome(row, status, None, number_id, attempts, error)
        code = response.status_code
        if code == 200:
            done = replace(row, agent_id=agent_id)
            return Outcome(done, done_as, code, number_id, attempts)
        self.stop_if_refused(code)
        error = failure_text(response, final, stopping=self.stopping, expected="200 OK")
        return Outcome(row, failed_as, code, number_id, attempts, error)
