"""Fixtures of the sandbox tests: a running sandbox with default faults and its client."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from bulk_import.sandbox import RunningSandbox
from sandbox.helpers import client_for


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    """Run a sandbox with default faults."""
    with RunningSandbox() as running:
        yield running


@pytest.fixture
def client(sandbox: RunningSandbox) -> Iterator[httpx.Client]:
    """Return a client of the default sandbox."""
    with client_for(sandbox) as c:
        yield c
