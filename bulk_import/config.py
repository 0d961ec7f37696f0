"""Every knob of the tool and its default, as frozen dataclasses.

The CLI turns options into these; the core reads only these. Defaults live here, not in click.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bulk_import.errors import UsageError
from bulk_import.naming import CLI, Naming

DEFAULT_BASE_URL = "https://api.cartesia.ai"
DEFAULT_API_VERSION = "2026-03-01"
DEFAULT_CONCURRENCY = 8
DEFAULT_MAX_ATTEMPTS = 6
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_CONSECUTIVE_FAILURES = 25
DEFAULT_REGION = "us1"
DEFAULT_COUNTRY = "US"
DEFAULT_LABEL = "{number}"
DEFAULT_TWILIO_BASE_URL = "https://api.twilio.com"
#: Where the command line's key came from, as a refusal of it says: its two ways, not told
#: apart, so that its documented messages stay as they are.
CLI_KEY_ORIGIN = "CARTESIA_API_KEY or --api-key-file"
#: The bounds the command line (click's types) and Python (library.options) hold options to.
MAX_CONCURRENCY = 512
MAX_ATTEMPTS_LIMIT = 100


class Secret:
    """Hold a secret (an API key, a Twilio credential) so that no print, log or repr shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the secret itself: only for the Authorization header."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('****')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class InputOptions:
    """Say how to read the input and fill what a row does not say.

    ``header_row`` is the spreadsheet row holding the header (None: found among the first
    rows); ``no_header`` reads every row as data, the columns then named by letter or number.
    ``naming`` writes these options in messages as their caller wrote them (``--no-header``,
    ``no_header=True``); it is how they are named, not an option, so the summary leaves it out.
    """

    sheet: str | None = None
    number_column: str | None = None
    label_column: str | None = None
    header_row: int | None = None
    no_header: bool = False
    default_label: str = DEFAULT_LABEL
    default_region: str = DEFAULT_COUNTRY
    provider_id: str | None = None
    twilio_account_sid: str | None = None
    region: str = DEFAULT_REGION
    agent_id: str | None = None
    naming: Naming = CLI


@dataclass(frozen=True, slots=True)
class ApiOptions:
    """Say where the API is, how to authenticate, and how hard to push it.

    ``key_origin`` names where the key came from as its caller wrote it (``api_key=``,
    ``CARTESIA_API_KEY``, ``api_key_file=PATH``; the command line's :data:`CLI_KEY_ORIGIN`):
    what a message refusing the key tells to check. Never the key; not an option, so the
    summary leaves it out.
    """

    api_key: Secret
    base_url: str = DEFAULT_BASE_URL
    api_version: str = DEFAULT_API_VERSION
    concurrency: int = DEFAULT_CONCURRENCY
    rate: float | None = None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    timeout: float = DEFAULT_TIMEOUT
    max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES
    key_origin: str = CLI_KEY_ORIGIN

    def __post_init__(self) -> None:
        key = self.api_key.reveal()
        if not (key.isascii() and key.isprintable()):
            # An HTTP header cannot carry it: refused here in one line, not as a crash at the
            # first request. The key itself is never quoted.
            raise UsageError(
                "the API key holds a character an HTTP header cannot carry (a line break, a tab, "
                f"a control or non-ASCII character); check {self.key_origin}"
            )


@dataclass(frozen=True, slots=True)
class OutputOptions:
    """Say where the report and summary go and how much to show.

    ``report`` None keeps the report in memory only (a library call without ``report=``):
    nothing is written to disk, no lock is taken, and nothing survives a crash.
    """

    report: Path | None
    summary_json: Path | None = None
    #: The run page (``--html``): one self-contained HTML file about the run.
    html: Path | None = None
    quiet: bool = False
    progress: bool = True
    debug: bool = False
    #: The command line's words after ``bulk-import``: the summary's next steps repeat them.
    invocation: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TwilioCredentials:
    """Hold the HTTP Basic credentials for Twilio, and say which kind and from where.

    ``user`` is the API key SID (``SK...``) or an account SID; ``password`` the key's secret
    or the account's auth token. Both are secrets to the repr; ``kind`` ("API key" or "auth
    token") and ``origin`` (the variables or the file they came from) are what messages name.
    """

    user: Secret
    password: Secret
    kind: str
    origin: str

    def __repr__(self) -> str:
        return f"TwilioCredentials(kind={self.kind!r}, origin={self.origin!r})"

    def describe(self) -> str:
        """Name the credential for a message, never its value: ``the API key from ...``."""
        return f"the {self.kind} from {self.origin}"


@dataclass(frozen=True, slots=True)
class TwilioOptions:
    """Say which Twilio account a ``twilio:`` INPUT lists, where, with which credentials.

    ``max_attempts``, ``timeout`` and ``concurrency`` are the run's own (``--max-attempts``,
    ``--timeout``, ``--concurrency``), so Twilio is asked as Cartesia is. ``subaccounts``
    (``--subaccounts``): the account is a parent, read with its active subaccounts.
    """

    account_sid: str
    credentials: TwilioCredentials
    base_url: str = DEFAULT_TWILIO_BASE_URL
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    timeout: float = DEFAULT_TIMEOUT
    concurrency: int = DEFAULT_CONCURRENCY
    subaccounts: bool = False

    def shown(self) -> dict[str, object]:
        """Return the options as the summary shows them: the credential named, never its value."""
        shown: dict[str, object] = {
            "twilio_account": self.account_sid,
            "twilio_base_url": self.base_url,
            "twilio_credentials": self.credentials.describe(),
        }
        if self.subaccounts:
            shown["twilio_subaccounts"] = True
        return shown
