"""Build the options of a ``twilio:`` INPUT: the account, the base URL and the credentials.

Shared by the command line (:mod:`bulk_import.cli.twilio`) and Python
(:mod:`bulk_import.library`); each message names the option as its caller writes it
(:class:`~bulk_import.naming.Naming`). Credentials are never taken on the command line:
``--twilio-credentials-file PATH`` (one line, ``KEY:SECRET`` or the auth token), else
``TWILIO_API_KEY`` + ``TWILIO_API_SECRET``, else ``TWILIO_AUTH_TOKEN`` (with
``TWILIO_ACCOUNT_SID``, or the listed account, as the user). Every reason they cannot be used is
a :class:`~bulk_import.errors.UsageError` (exit 2) raised before anything is sent, naming the
variable or file, never a value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final

from bulk_import import config as cfg
from bulk_import.config import Secret, TwilioCredentials, TwilioOptions
from bulk_import.errors import UsageError
from bulk_import.naming import Naming
from bulk_import.sources.twilio import ACCOUNT_SID, check_account_sid, twilio_account

_API_KEY_SID: Final = re.compile(r"SK[0-9a-fA-F]{32}", re.ASCII)
_ENV_KEY: Final = "TWILIO_API_KEY and TWILIO_API_SECRET"


def twilio_options(
    params: Mapping[str, object],
    source: str,
    *,
    naming: Naming,
    typed: Callable[[str], bool],
    env: Mapping[str, str] | None = None,
) -> TwilioOptions | None:
    """Return the options of a ``twilio:`` INPUT, or None for a file; raise UsageError (exit 2).

    ``params`` holds the options by their Python names; ``typed(name)`` says whether the
    caller gave one itself (not through its environment variable). The account is checked
    first, then the base URL, then the credentials: each refusal names the fix. Twilio's
    options with a file INPUT are refused, not ignored (``TWILIO_BASE_URL`` set is fine).
    """
    env = os.environ if env is None else env
    sid = twilio_account(source, env_sid=env.get("TWILIO_ACCOUNT_SID"))
    if sid is None:
        if params.get("twilio_credentials_file") is not None:
            option = naming.option("twilio_credentials_file")
            raise UsageError(f"{option} is for a twilio: INPUT, not {source!r}; drop it")
        if params.get("twilio_base_url") is not None and typed("twilio_base_url"):
            option = naming.option("twilio_base_url")
            raise UsageError(f"{option} is for a twilio: INPUT, not {source!r}; drop it")
        if params.get("subaccounts"):
            raise UsageError(
                f"{naming.option('subaccounts')} is for a twilio:AC... INPUT (a parent account), "
                f"not {source!r}; drop it"
            )
        return None
    from bulk_import.api.http import check_base_url  # httpx and aiohttp: not for --help

    given_url = params.get("twilio_base_url")
    base_url = check_base_url(
        str(given_url or env.get("TWILIO_BASE_URL") or cfg.DEFAULT_TWILIO_BASE_URL),
        option=naming.option("twilio_base_url"),
        example=cfg.DEFAULT_TWILIO_BASE_URL,
    )
    path = params.get("twilio_credentials_file")
    credentials = read_twilio_credentials(
        None if path is None else str(path), account_sid=sid, env=env, naming=naming
    )
    given = ("max_attempts", "timeout", "concurrency")
    extra = {key: params[key] for key in given if params.get(key) is not None}
    return TwilioOptions(
        account_sid=sid,
        credentials=credentials,
        base_url=base_url,
        subaccounts=bool(params.get("subaccounts")),
        **extra,  # type: ignore[arg-type]  # checked already (click, or library.options)
    )


def listed_account(source: str) -> str | None:
    """Return the account a ``twilio:`` INPUT lists, or None (a file, or an unusable INPUT)."""
    try:
        return twilio_account(source, env_sid=os.environ.get("TWILIO_ACCOUNT_SID"))
    except UsageError:
        return None


def read_twilio_credentials(
    path: str | None, *, account_sid: str, env: Mapping[str, str], naming: Naming
) -> TwilioCredentials:
    """Return the credentials from the file, else the environment; raise UsageError if none."""
    if path is not None:
        return _from_file(path, account_sid=account_sid, env=env, naming=naming)
    key = env.get("TWILIO_API_KEY", "").strip()
    secret = env.get("TWILIO_API_SECRET", "").strip()
    if key or secret:
        if not (key and secret):
            names = ("TWILIO_API_KEY", "TWILIO_API_SECRET")
            given, missing = names if key else names[::-1]
            raise UsageError(
                f"{given} is set but {missing} is not: set both (an API key and its secret), "
                f"or unset {given} to use TWILIO_AUTH_TOKEN"
            )
        if not _API_KEY_SID.fullmatch(key):
            raise UsageError(
                "TWILIO_API_KEY is not an API key SID (SK followed by 32 hexadecimal digits); "
                "copy the key's SID from the Twilio console (API keys & tokens)"
            )
        return _credentials(key, secret, kind="API key", origin=_ENV_KEY)
    token = env.get("TWILIO_AUTH_TOKEN", "").strip()
    if token:
        user = _token_user(account_sid, env)
        return _credentials(user, token, kind="auth token", origin="TWILIO_AUTH_TOKEN")
    raise UsageError(
        f"no Twilio credentials for twilio:{account_sid}: set TWILIO_API_KEY and "
        "TWILIO_API_SECRET (an API key, as Twilio advises), or TWILIO_AUTH_TOKEN, or pass "
        f"{naming.placeholder('twilio_credentials_file', 'PATH')} (KEY:SECRET or the auth token)"
    )


def _token_user(account_sid: str, env: Mapping[str, str]) -> str:
    """Return the account an auth token is for: TWILIO_ACCOUNT_SID (a parent's), else the listed."""
    own = env.get("TWILIO_ACCOUNT_SID", "").strip()
    return check_account_sid(own, where="TWILIO_ACCOUNT_SID") if own else account_sid


def _from_file(
    path: str, *, account_sid: str, env: Mapping[str, str], naming: Naming
) -> TwilioCredentials:
    """Read ``KEY:SECRET`` (or ``ACCOUNT_SID:AUTH_TOKEN``, or the auth token) from one line."""
    where = naming.placeholder("twilio_credentials_file", path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{where} is not UTF-8 text; write KEY:SECRET on one line") from None
    except OSError as exc:
        raise UsageError(f"cannot read {where}: {exc.strerror or exc}") from None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise UsageError(f"{where} holds no credentials; write KEY:SECRET or the auth token")
    if len(lines) > 1:
        raise UsageError(
            f"{where} holds {len(lines)} lines; write KEY:SECRET (or the auth token) on one line"
        )
    user, colon, secret = lines[0].partition(":")
    user, secret = user.strip(), secret.strip()
    if not colon:
        token_user = _token_user(account_sid, env)
        return _credentials(token_user, user, kind="auth token", origin=where)
    if not secret:
        raise UsageError(f"{where} holds no secret after ':'; write KEY:SECRET on one line")
    if _API_KEY_SID.fullmatch(user):
        return _credentials(user, secret, kind="API key", origin=where)
    if ACCOUNT_SID.fullmatch(user):
        return _credentials(user, secret, kind="auth token", origin=where)
    # The part before ':' is never quoted: the line may be SECRET:KEY the wrong way round.
    raise UsageError(
        f"{where}: the part before ':' is neither an API key SID (SK + 32 hex) nor an account "
        "SID (AC + 32 hex); write KEY:SECRET, ACCOUNT_SID:AUTH_TOKEN, or the auth token alone"
    )


def _credentials(user: str, password: str, *, kind: str, origin: str) -> TwilioCredentials:
    """Return the credentials, refusing a value an HTTP header cannot carry (never quoted)."""
    if not (password.isascii() and password.isprintable()):
        raise UsageError(
            f"the Twilio {kind} from {origin} holds a character an HTTP header cannot carry "
            "(a tab, a control or non-ASCII character); check it"
        )
    return TwilioCredentials(Secret(user), Secret(password), kind=kind, origin=origin)
