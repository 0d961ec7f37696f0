"""``providers link --create-keys``: make a key in one account, link it, leave no key behind.

Just before a key is made the account's providers are read again: linked since the command's
list was read (another run), it is left as it is. Otherwise a Standard key (friendly name
``cartesia-bulk-import``) is made in the account and linked at once; it is deleted again when it
surely did not end up linked (refused, not sent), and kept when it is or may be (see
:func:`_link_new_key`).

Keys of that name that no provider of this Cartesia account holds are never deleted, only named
in the account's line: a killed run (SIGKILL between making a key and linking it) leaves one,
but so does another Cartesia account linking the same Twilio account, which this one cannot see;
deleting that one would break a customer's calls.

:mod:`bulk_import.jobs.linking` runs the accounts side by side and calls
:func:`make_and_link` for each account that needs a key.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from typing import Protocol

from bulk_import.api.cartesia import CartesiaApi
from bulk_import.api.control import StopControl
from bulk_import.api.providers import LinkAnswer, create_provider, may_be
from bulk_import.api.twilio import TwilioClient
from bulk_import.api.twilio_org import (
    KEY_NAME,
    KeyCallError,
    NewKey,
    create_key,
    delete_key,
    list_keys,
)
from bulk_import.models import AccountLink, Exit, LinkState

#: An account's API keys: (SID, friendly name).
Keys = list[tuple[str, str]]


class LookUpFailed(Exception):
    """Say why an account's providers could not be read again (not: "none listed")."""


class Linking(Protocol):
    """What the key path needs of the command that links: its clients, stop and providers."""

    control: StopControl
    twilio: TwilioClient
    cartesia: CartesiaApi
    region: str
    providers: list[dict[str, object]]

    async def look_up(self, sid: str) -> dict[str, object] | None:
        """Return the account's provider in the region, asking Cartesia again (even once the
        command is stopping); raise :class:`LookUpFailed` when its providers cannot be read."""

    def already(self, sid: str, provider: dict[str, object], detail: str = "") -> AccountLink:
        """Return the line of an account linked already, by ``provider``."""


async def make_and_link(linking: Linking, sid: str) -> AccountLink:
    """Make a key in the account, link it, and delete it again unless it is (or may be) linked."""
    control, region = linking.control, linking.region
    if control.stopping:
        return AccountLink(sid, region, LinkState.NOT_ATTEMPTED, "", control.reason)
    # Asked again just before a key is made: another run may have linked it since the list.
    try:
        found = await linking.look_up(sid)
    except LookUpFailed as exc:
        why = f"the account's providers could not be read again ({exc}); no key was made"
        return AccountLink(sid, region, LinkState.FAILED, "", f"not linked: {why}")
    if found is not None:
        return linking.already(sid, found, "linked since the list was read; no key was made")
    try:
        before = await list_keys(linking.twilio, sid)
        key = await _new_key(linking, sid, before)
    except KeyCallError as exc:
        return _twilio_failed(linking, sid, exc)
    try:
        spares = (
            await _delete_spares(linking, sid, before, keep=key.sid) if key.attempts > 1 else ""
        )
        link, keep = await _link_new_key(linking, sid, key)
    except BaseException:
        # Cancelled (or a bug) with a key made: its secret dies with this task, so the key is
        # deleted unless it is, or may be, linked; shielded from the cancellation itself.
        await asyncio.shield(_settle(linking, sid, key))
        raise
    # What else was found in the account is said whatever became of the key.
    notes = spares + _unused(linking, sid, before)
    if keep:
        return replace(link, detail=link.detail + notes)
    try:
        await delete_key(linking.twilio, sid, key.sid)
    except KeyCallError as exc:
        left = (
            f"; the key made, {key.sid} named {KEY_NAME}, could not be deleted: "
            f"{exc.message}; delete it in the Twilio console"
        )
        detail = link.detail + left + notes
        return AccountLink(sid, region, LinkState.FAILED, link.provider_id, detail)
    return replace(link, detail=link.detail + "; the key made was deleted again" + notes)


async def _link_new_key(linking: Linking, sid: str, key: NewKey) -> tuple[AccountLink, bool]:
    """Link the account with the key just made; return its line and whether the key stays.

    The key stays when it is linked, or may be: a link whose fate is unknown (no answer, or an
    answer after a try whose answer was lost) is looked up, and when the look-up cannot be made
    the key is kept and named. Deleting the key a live provider holds would break the
    customer's telephony; a spare key costs nothing.
    """
    control, region = linking.control, linking.region
    if control.stopping:
        return AccountLink(sid, region, LinkState.NOT_ATTEMPTED, "", control.reason), False
    linked = await create_provider(
        linking.cartesia, account_sid=sid, region=region, key_sid=key.sid, secret=key.secret
    )
    made = f"new API key {key.sid} named {KEY_NAME}"
    if linked.answer is LinkAnswer.CREATED:
        provider = str(linked.provider.get("id"))
        return AccountLink(sid, region, LinkState.LINKED_NOW, provider, made), True
    if linked.answer is LinkAnswer.NOT_SENT:
        return AccountLink(sid, region, LinkState.NOT_ATTEMPTED, "", control.reason), False
    # The first try's own answer says this key was linked nowhere; after a lost answer it may be.
    sure = linked.attempts <= 1 and linked.answer is not LinkAnswer.FAILED
    if sure and linked.answer is LinkAnswer.REFUSED:
        refused = f"Cartesia refused the key made: {linked.error}"
        return AccountLink(sid, region, LinkState.FAILED, "", refused), False
    try:
        found = await linking.look_up(sid)
    except LookUpFailed as exc:
        if sure:  # a 409 on the first try: linked, but not with this key
            why = f"409, and the account's providers could not be read: {exc}"
            return AccountLink(sid, region, LinkState.FAILED, "", f"not linked: {why}"), False
        kept = (
            f"the link may have arrived ({linked.error or linked.answer.value}; the look-up "
            f"failed: {exc}); key {key.sid} named {KEY_NAME} kept: check `bulk-import "
            f"providers`, and delete the key in the Twilio console if no provider holds it"
        )
        return AccountLink(sid, region, LinkState.FAILED, "", kept), True
    if found is None:
        why = linked.error or "409, yet no provider listed"
        return AccountLink(sid, region, LinkState.FAILED, "", f"not linked: {why}"), False
    if not sure and may_be(str(found.get("api_key_sid", "")), key.sid):
        provider = str(found.get("id"))
        return AccountLink(sid, region, LinkState.LINKED_NOW, provider, made), True
    return linking.already(sid, found, "a link was made meanwhile"), False


async def _new_key(linking: Linking, sid: str, before: Keys) -> NewKey:
    """Make a key in the account; raise KeyCallError if Twilio does not (see the spares).

    A creation that took more than one try, or failed after a try went out, may have made keys
    whose answers were lost: nobody holds their secrets. :func:`_delete_spares` deletes them:
    here when the creation failed, by the caller once the key returned is held.
    """
    try:
        return await create_key(linking.twilio, sid)
    except KeyCallError as exc:
        if not exc.uncertain:
            raise
        said = await _delete_spares(linking, sid, before, keep="")
        raise KeyCallError(exc.message + said, refused=exc.refused) from None


async def _delete_spares(linking: Linking, sid: str, before: Keys, *, keep: str) -> str:
    """Delete the keys a creation whose answer was lost made; say what was done (or not).

    The account's keys are listed again; those named ``cartesia-bulk-import`` that were not
    there before, are not ``keep`` and that no provider of this Cartesia account may hold (read
    again) are deleted.
    """
    known = {key for key, _ in before} | {keep}
    try:
        now = await list_keys(linking.twilio, sid)
    except KeyCallError as exc:
        return (
            f"; an answer of Twilio's was lost, and its keys could not be listed again "
            f"({exc.message}): look in the Twilio console for a spare key named {KEY_NAME}"
        )
    spares = [key for key, name in now if name == KEY_NAME and key not in known]
    if not spares:
        return ""
    try:
        await linking.look_up(sid)  # read again: a provider linked in these seconds may hold one
    except LookUpFailed as exc:
        return _left(spares, f"whether a provider holds them could not be read: {exc}")
    in_use = _masks(linking, sid)
    spares = [key for key in spares if not any(may_be(mask, key) for mask in in_use)]
    left = []
    for key in spares:
        try:
            await delete_key(linking.twilio, sid, key)
        except KeyCallError:
            left.append(key)
    deleted = [key for key in spares if key not in left]
    said = f"; deleted {', '.join(deleted)}, made by a try whose answer was lost" if deleted else ""
    return said + (_left(left, "Twilio did not delete them") if left else "")


async def _settle(linking: Linking, sid: str, key: NewKey) -> None:
    """Delete a key whose link was cut short, unless a provider may hold it (or none can say)."""
    try:
        found = await linking.look_up(sid)
    except LookUpFailed:
        return  # unsure: the key stays
    if found is not None and may_be(str(found.get("api_key_sid", "")), key.sid):
        return
    with contextlib.suppress(KeyCallError):
        await delete_key(linking.twilio, sid, key.sid)


def _left(keys: list[str], why: str) -> str:
    """Say which spare keys stay, and why."""
    return (
        f"; key(s) {', '.join(keys)} made by a try whose answer was lost are left ({why}): "
        "delete them in the Twilio console if no Cartesia account uses them"
    )


def _unused(linking: Linking, sid: str, keys: Keys) -> str:
    """Name the account's keys called ``cartesia-bulk-import`` that no provider here may hold.

    Such a key is a killed run's (made, never linked), or another Cartesia account's link,
    which this account cannot see: only a person can tell them apart, so none is deleted (a
    live key deleted breaks a customer's calls; a spare one costs nothing). The providers are
    the account's, just read again (another region's may hold one).
    """
    in_use = _masks(linking, sid)
    unused = [
        key
        for key, name in keys
        if name == KEY_NAME and not any(may_be(mask, key) for mask in in_use)
    ]
    if not unused:
        return ""
    return (
        f"; kept {len(unused)} older key(s) named {KEY_NAME} that no provider of this Cartesia "
        f"account holds (a killed run's, or another Cartesia account's): {', '.join(unused)}; "
        "delete those no Cartesia account uses in the Twilio console"
    )


def _masks(linking: Linking, sid: str) -> list[str]:
    """Return the masked key SIDs of the account's providers, in every region."""
    return [str(p.get("api_key_sid", "")) for p in linking.providers if p.get("account_sid") == sid]


def _twilio_failed(linking: Linking, sid: str, exc: KeyCallError) -> AccountLink:
    """Say a key call failed; credentials Twilio refuses stop the command (all would fail)."""
    if exc.refused:
        linking.control.stop(f"Twilio: {exc.message}", exit_code=Exit.STOPPED)
    return AccountLink(sid, linking.region, LinkState.FAILED, "", exc.message)
