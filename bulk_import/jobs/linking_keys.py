"""``providers link --create-keys``: make a key in one account, link it, leave no key behind.

A Standard key (friendly name ``cartesia-bulk-import``) is made in the account and linked at
once; it is deleted again whenever it does not end up linked (refused, not sent, interrupted),
so that no key is left behind. A crash (SIGKILL) between making a key and linking it leaves
that key in Twilio; the next run deletes such keys of an account that is not linked (and those
of a linked account whose masked key SID cannot be theirs) before it makes a new one, so a rerun
leaves one key per account, the linked one.

:mod:`bulk_import.jobs.linking` runs the accounts side by side and calls
:func:`make_and_link` for each account that needs a key.
"""

from __future__ import annotations

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
    try:
        notes = await _clean(linking, sid)
        key = await create_key(linking.twilio, sid)
    except KeyCallError as exc:
        return _twilio_failed(linking, sid, exc)
    link, keep = await _link_new_key(linking, sid, key, notes)
    if keep:
        return link
    try:
        await delete_key(linking.twilio, sid, key.sid)
    except KeyCallError as exc:
        left = (
            f"; the key made, {key.sid} named {KEY_NAME}, could not be deleted: "
            f"{exc.message}; delete it in the Twilio console"
        )
        return AccountLink(sid, region, LinkState.FAILED, link.provider_id, link.detail + left)
    return AccountLink(
        sid,
        region,
        link.state,
        link.provider_id,
        link.detail + "; the key made was deleted again",
    )


async def _link_new_key(
    linking: Linking, sid: str, key: NewKey, notes: str
) -> tuple[AccountLink, bool]:
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
    made = f"new API key {key.sid} named {KEY_NAME}{notes}"
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
        return AccountLink(sid, region, LinkState.FAILED, "", kept + notes), True
    if found is None:
        why = linked.error or "409, yet no provider listed"
        return AccountLink(sid, region, LinkState.FAILED, "", f"not linked: {why}"), False
    if not sure and may_be(str(found.get("api_key_sid", "")), key.sid):
        provider = str(found.get("id"))
        return AccountLink(sid, region, LinkState.LINKED_NOW, provider, made), True
    return linking.already(sid, found, "a link was made meanwhile"), False


async def _clean(linking: Linking, sid: str) -> str:
    """Delete the keys named ``cartesia-bulk-import`` a killed run left in the account.

    A key whose SID a provider of the account (in another region) may be masking is kept.
    """
    in_use = [
        str(p.get("api_key_sid", "")) for p in linking.providers if p.get("account_sid") == sid
    ]
    stale = [
        key
        for key, name in await list_keys(linking.twilio, sid)
        if name == KEY_NAME and not any(may_be(mask, key) for mask in in_use)
    ]
    for key in stale:
        await delete_key(linking.twilio, sid, key)
    if not stale:
        return ""
    left = ", ".join(stale)
    return f"; deleted {len(stale)} key(s) named {KEY_NAME} an earlier run left: {left}"


def _twilio_failed(linking: Linking, sid: str, exc: KeyCallError) -> AccountLink:
    """Say a key call failed; credentials Twilio refuses stop the command (all would fail)."""
    if exc.refused:
        linking.control.stop(f"Twilio: {exc.message}", exit_code=Exit.STOPPED)
    return AccountLink(sid, linking.region, LinkState.FAILED, "", exc.message)
