"""Build the options of a ``twilio:`` INPUT from the command line's: the checks and messages
are shared with Python (:mod:`bulk_import.library.twilio`); click says which options were typed
rather than taken from their environment variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from bulk_import.config import TwilioOptions
from bulk_import.library.twilio import listed_account, twilio_options
from bulk_import.naming import CLI

__all__ = ["listed_account", "make_twilio_options"]


def make_twilio_options(
    params: dict[str, Any], source: str, *, env: Mapping[str, str] | None = None
) -> TwilioOptions | None:
    """Return the options of a ``twilio:`` INPUT, or None for a file; raise UsageError (exit 2).

    ``--twilio-credentials-file`` (or a typed ``--twilio-base-url``) with a file INPUT is
    refused, not ignored.
    """
    return twilio_options(params, source, naming=CLI, typed=_typed, env=env)


def _typed(name: str) -> bool:
    """Say whether an option was given on the command line (not by its env variable)."""
    source = click.get_current_context().get_parameter_source(name)
    return source is click.core.ParameterSource.COMMANDLINE
