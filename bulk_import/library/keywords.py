"""The keyword options of the Python API: the command line's options by their Python names.

Each group is written once, as a ``TypedDict``, and each command's options are the groups it
takes (:class:`RunOptions` = input + API + output + ``resume``). The functions take them as
``**options: Unpack[RunOptions]``: a type checker expands them into keyword arguments (an
unknown name or a wrong type is an error before the script runs), and :func:`signature` writes
the same expansion for ``help()`` and Jupyter's inspector. A name left out (or None) takes the
command line's default (:mod:`bulk_import.config`); a flag left out is False.

No ``from __future__ import annotations``: :func:`signature` reads the types as objects.
"""

import inspect
import os
from typing import Literal, TypeAlias, TypedDict, get_type_hints

PathLike: TypeAlias = str | os.PathLike[str]
Region: TypeAlias = Literal["us1", "ie1", "au1"]


class InputKeywords(TypedDict, total=False):
    """How to read a source and fill what a row does not say (``validate``, ``run``, ...)."""

    sheet: str | int | None
    number_column: str | None
    label_column: str | None
    header_row: int | None
    no_header: bool
    default_label: str | None
    default_region: str | None
    provider_id: str | None
    twilio_account_sid: str | None
    region: Region | None
    agent_id: str | None
    twilio_base_url: str | None
    twilio_credentials_file: PathLike | None
    subaccounts: bool


class ApiKeywords(TypedDict, total=False):
    """Where the API is, the key, and how hard to push it (every command but ``validate``)."""

    base_url: str | None
    api_key: str | None
    api_key_file: PathLike | None
    api_version: str | None
    concurrency: int | None
    rate: float | None
    max_attempts: int | None
    timeout: float | None
    max_consecutive_failures: int | None


class OutputKeywords(TypedDict, total=False):
    """What is written and shown: nothing but the Result unless asked."""

    report: PathLike | None
    summary_json: PathLike | None
    html: PathLike | None
    progress: bool
    verbose: bool


class ValidateOptions(InputKeywords, OutputKeywords, total=False):
    """The options of :func:`bulk_import.validate`."""


class RunOptions(InputKeywords, ApiKeywords, OutputKeywords, total=False):
    """The options of :func:`bulk_import.run`."""

    resume: bool


class RetryPatchOptions(ApiKeywords, OutputKeywords, total=False):
    """The options of :func:`bulk_import.retry_patch`."""

    agent_id: str | None


class ReconcileOptions(InputKeywords, ApiKeywords, OutputKeywords, total=False):
    """The options of :func:`bulk_import.reconcile`."""

    apply: bool


class RollbackOptions(ApiKeywords, OutputKeywords, total=False):
    """The options of :func:`bulk_import.rollback`."""

    apply: bool
    force: bool


def names(options: type) -> frozenset[str]:
    """Return the option names a command's ``TypedDict`` holds."""
    return frozenset(get_type_hints(options))


def signature(options: type, *, source: str) -> inspect.Signature:
    """Return the signature a command's function shows: ``source``, then each option
    keyword-only with its default (False for a flag, else None: the command line's)."""
    first = inspect.Parameter("source", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=source)
    rest = [
        inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            default=False if kind is bool else None,
            annotation=kind,
        )
        for name, kind in get_type_hints(options).items()
    ]
    return inspect.Signature([first, *rest], return_annotation="Result")
