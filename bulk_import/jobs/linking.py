"""``providers`` and ``providers link``: list Cartesia's providers; link Twilio accounts to it.

Three ways to link, by what is given:

- an API key (``TWILIO_API_KEY`` + ``TWILIO_API_SECRET``, or ``KEY:SECRET`` in a file): the one
  account named is linked with it. Already linked (found in the list first, or a 409): exit 0
  naming the provider. Cartesia refusing the key: exit 2. An auth token alone cannot be sent to
  Cartesia, which takes an API key: refused with the fix. Twilio is not asked anything.
- ``--subaccounts`` without ``--create-keys``: a plan. The parent and its subaccounts are listed
  (``Accounts.json``) and each is said linked (with its provider) or not; nothing changes.
- ``--create-keys`` (with or without ``--subaccounts``): each active account not linked yet gets
  a Standard key made in it and linked at once (:mod:`bulk_import.jobs.linking_keys`). Accounts
  are worked side by side, ``--concurrency`` at most.

A key's secret is held in a :class:`~bulk_import.config.Secret`, goes to Cartesia in the link's
body and nowhere else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from bulk_import.api.cartesia import CartesiaApi
from bulk_import.api.control import StopControl
from bulk_import.api.providers import (
    LinkAnswer,
    create_provider,
    fetch_providers,
    look_up_providers,
)
from bulk_import.api.twilio import TwilioClient
from bulk_import.api.twilio_org import ACTIVE, TwilioAccount, list_accounts
from bulk_import.config import ApiOptions, TwilioOptions
from bulk_import.errors import UsageError
from bulk_import.jobs.linking_keys import LookUpFailed, make_and_link
from bulk_import.jobs.pool import stop_on_signals
from bulk_import.models import AccountLink, Exit, LinkState

Providers = list[dict[str, object]]


@dataclass(slots=True)
class LinkReport:
    """Hold the outcome of ``providers link``: each account's, the exit code, a stop's reason."""

    accounts: list[AccountLink] = field(default_factory=list)
    exit_code: int = Exit.OK
    error: str = ""
    requests: int = 0


@dataclass(slots=True)
class ProvidersReport:
    """Hold the providers listed, the exit code, and why the list could not be read."""

    providers: Providers = field(default_factory=list)
    exit_code: int = Exit.OK
    error: str = ""


def list_providers(
    *, api: ApiOptions, transport: httpx.AsyncBaseTransport | None = None
) -> ProvidersReport:
    """Return the Cartesia account's providers (``GET /agents/phone-numbers/providers``)."""

    async def read() -> ProvidersReport:
        control = StopControl()
        async with CartesiaApi(api, control=control, transport=transport) as cartesia:
            listed = await fetch_providers(cartesia)
        if listed is None:
            return ProvidersReport(exit_code=control.exit_code, error=control.reason)
        return ProvidersReport(listed)

    return asyncio.run(read())


def link_accounts(
    *,
    twilio: TwilioOptions,
    api: ApiOptions,
    region: str,
    create_keys: bool = False,
    emit: Callable[[AccountLink], None] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    twilio_transport: httpx.AsyncBaseTransport | None = None,
) -> LinkReport:
    """Link the account ``twilio`` names (and its subaccounts) in ``region``; see the module.

    ``emit`` is told of each account as soon as it and every account before it are done, in
    Twilio's order. Raise :class:`UsageError` (exit 2) for what cannot work before anything is
    changed: an auth token to link with, a key Cartesia refuses, accounts Twilio will not list.
    """
    if not (create_keys or twilio.subaccounts) and twilio.credentials.kind != "API key":
        raise UsageError(
            "Cartesia links a Twilio account with an API key, not "
            f"{twilio.credentials.describe()}: "
            "make a Standard API key in the Twilio console (Account > API keys & tokens) and set "
            "TWILIO_API_KEY and TWILIO_API_SECRET (or pass --twilio-credentials-file holding "
            "KEY:SECRET), or add --create-keys to make one with the auth token"
        )
    linker = _Linker(
        twilio=twilio,
        api=api,
        region=region,
        create_keys=create_keys,
        emit=emit,
        transport=transport,
        twilio_transport=twilio_transport,
    )
    return asyncio.run(linker.run())


class _Linker:
    """Link the accounts of one command, side by side, saying each in order."""

    def __init__(
        self,
        *,
        twilio: TwilioOptions,
        api: ApiOptions,
        region: str,
        create_keys: bool,
        emit: Callable[[AccountLink], None] | None,
        transport: httpx.AsyncBaseTransport | None,
        twilio_transport: httpx.AsyncBaseTransport | None,
    ) -> None:
        self.options = twilio
        self.api_options = api
        self.region = region
        self.create_keys = create_keys
        self.emit = emit
        self.transport = transport
        self.twilio_transport = twilio_transport
        self.report = LinkReport()
        self.providers: Providers = []
        self._done: dict[int, AccountLink] = {}
        self._said = 0
        self._failures = 0

    async def run(self) -> LinkReport:
        control = StopControl()
        self.control = control
        twilio = TwilioClient(
            self.options,
            concurrency=self.options.concurrency,
            transport=self.twilio_transport,
        )
        self.twilio = twilio
        cartesia = CartesiaApi(self.api_options, control=control, transport=self.transport)
        self.cartesia = cartesia
        # Look-ups have a stop control of their own, as the Twilio client has: whether a key is
        # linked decides whether it may be deleted, and must be asked after a Ctrl-C too.
        lookups = CartesiaApi(self.api_options, control=StopControl(), transport=self.transport)
        self.lookups = lookups
        try:
            with stop_on_signals(control):
                await self._link_all()
        finally:
            await cartesia.http.aclose()
            await lookups.http.aclose()
            await twilio.aclose()
            sent = cartesia.counters.requests + lookups.counters.requests
            self.report.requests = sent + twilio.requests
        report = self.report
        if control.stopping:
            report.exit_code = control.exit_code
            report.error = control.reason
        elif any(link.state is LinkState.FAILED for link in report.accounts):
            report.exit_code = Exit.ATTENTION
        return report

    async def _link_all(self) -> None:
        parent = self.options.account_sid
        if self.options.subaccounts:
            accounts, _ = await list_accounts(self.twilio, parent)
        else:
            accounts = [TwilioAccount(parent, ACTIVE, "", parent)]
        single = not (self.options.subaccounts or self.create_keys)
        listed = await fetch_providers(self.cartesia, account_sid=parent if single else None)
        if listed is None:
            return
        self.providers = listed
        todo: list[tuple[int, TwilioAccount]] = []
        for i, account in enumerate(accounts):
            known = self._provider(account.sid)
            if account.status != ACTIVE:
                self._finish(
                    i,
                    AccountLink(
                        account.sid, self.region, LinkState.SKIPPED, "", "", account.status
                    ),
                )
            elif known is not None:
                self._finish(i, self.already(account.sid, known))
            elif not (single or self.create_keys):
                self._finish(i, AccountLink(account.sid, self.region, LinkState.NOT_LINKED))
            else:
                todo.append((i, account))
        if single and todo:
            self._finish(0, await self._link_with_given_key(parent))
            return
        upcoming = iter(todo)

        async def worker() -> None:
            for i, account in upcoming:
                self._finish(i, await make_and_link(self, account.sid))

        workers = max(1, min(self.api_options.concurrency, len(todo)))
        # Every worker finishes its account (its key linked or deleted) before anything a
        # worker raised goes on: gather would otherwise leave the others to be cancelled.
        ended = await asyncio.gather(*(worker() for _ in range(workers)), return_exceptions=True)
        for outcome in ended:
            if isinstance(outcome, BaseException):
                raise outcome

    def _provider(self, sid: str) -> dict[str, object] | None:
        """Return the provider of this account in the region, among those listed."""
        for item in self.providers:
            if item.get("account_sid") == sid and item.get("region") == self.region:
                return item
        return None

    def already(self, sid: str, provider: dict[str, object], detail: str = "") -> AccountLink:
        return AccountLink(sid, self.region, LinkState.LINKED, str(provider.get("id", "")), detail)

    def _finish(self, i: int, link: AccountLink) -> None:
        """Record an account's outcome; say it, and every one after it done already, in order."""
        self._done[i] = link
        if link.state is LinkState.FAILED:
            self._failures += 1
            limit = self.api_options.max_consecutive_failures
            if self._failures >= limit:
                self.control.stop(
                    f"{self._failures} accounts failed in a row (--max-consecutive-failures "
                    f"{limit}); the last said: {link.detail}",
                    exit_code=Exit.STOPPED,
                )
        elif link.state is not LinkState.NOT_ATTEMPTED:
            self._failures = 0
        while self._said in self._done:
            said = self._done.pop(self._said)
            self.report.accounts.append(said)
            if self.emit is not None:
                try:
                    self.emit(said)
                except OSError:  # stdout closed (`| head`): say no more, finish the work
                    self.emit = None
            self._said += 1

    async def _link_with_given_key(self, sid: str) -> AccountLink:
        """Link the one account with the API key given; exit 2 when Cartesia refuses it."""
        credentials = self.options.credentials
        linked = await create_provider(
            self.cartesia,
            account_sid=sid,
            region=self.region,
            key_sid=credentials.user.reveal(),
            secret=credentials.password,
        )
        if linked.answer is LinkAnswer.CREATED:
            return AccountLink(
                sid, self.region, LinkState.LINKED_NOW, str(linked.provider.get("id"))
            )
        if linked.answer is LinkAnswer.EXISTS:
            try:
                found = await self.look_up(sid)
            except LookUpFailed as exc:
                why = f"409, and the account's providers could not be read: {exc}"
                return AccountLink(sid, self.region, LinkState.FAILED, "", f"not linked: {why}")
            if found is not None:
                return self.already(sid, found, "a link was made meanwhile (409)")
        if linked.answer is LinkAnswer.REFUSED and not self.control.stopping:
            raise UsageError(
                f"Cartesia refused {credentials.describe()} for Twilio account {sid} "
                f"({linked.error}); check the key and its secret, and that the key was made in "
                f"{sid} (or link with --create-keys and the account's auth token)"
            )
        why = linked.error or self.control.reason or "no provider found after a 409"
        return AccountLink(sid, self.region, LinkState.FAILED, "", f"not linked: {why}")

    async def look_up(self, sid: str) -> dict[str, object] | None:
        """Return the account's provider in the region, asking Cartesia again (even once the
        command is stopping); raise :class:`LookUpFailed` when its providers cannot be read."""
        found = await look_up_providers(self.lookups, account_sid=sid)
        if found.providers is None:
            raise LookUpFailed(found.error)
        self.providers = [p for p in self.providers if p.get("account_sid") != sid]
        self.providers += found.providers
        return self._provider(sid)
