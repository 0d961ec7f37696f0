"""Serve a local stand-in for Cartesia's phone-number API, with faults on demand.

The sandbox answers ``POST``/``GET /agents/phone-numbers`` and ``GET``/``PATCH``/``DELETE
/agents/phone-numbers/{id}`` with the real paths, status codes and JSON error bodies
(``error_code``, ``title``, ``message``, ``request_id``), on 127.0.0.1 only. It is what the demo,
the tests and the benchmarks run against, and what a migration is rehearsed on.

The package is laid out by responsibility: ``faults`` and ``twilio_checks`` (the faults file
and its checks), ``store`` (numbers, providers, agents), ``state`` (the store with the counters,
the fault dice and the token bucket), ``responses`` (answers and request bodies), ``handlers``
(the API operations through the fault steps, described there), ``twilio_store``,
``twilio_objects`` and ``twilio`` (a stand-in for Twilio's accounts, numbers and keys: its data,
its resources and its answers, on when the faults set ``twilio_numbers``), ``providers``
(Cartesia's providers list and links), ``admin`` (the ``/_sandbox/`` endpoints) and ``server``
(``make_app``, ``RunningSandbox``, ``serve``).

Besides the phone numbers, it lists the providers it knows (``GET
/agents/phone-numbers/providers``, with ``type`` and ``account_sid``) and links a Twilio account
with an API key the Twilio stand-in holds (``POST``): ``providers`` answers both.

Admin endpoints (same key, no version header, no faults, not counted as API requests):
``GET /_sandbox/stats`` (``?detail=1`` adds ``posts_by_number``), ``POST /_sandbox/numbers``
(``{number, label?, agent_id?, provider_id?}``: add a number directly), ``POST /_sandbox/faults``
(a partial faults object: change the limits, waits and fractions at once; answers the faults in
force), ``POST /_sandbox/twilio/numbers`` (``{phone_number, friendly_name?}``: buy a number in
the Twilio stand-in) and ``POST /_sandbox/reset`` (back to the state at start: its faults, the
``existing`` and Twilio numbers, zero counters, the seed's first draw).
"""

from bulk_import.sandbox.faults import Faults
from bulk_import.sandbox.handlers import API_VERSION
from bulk_import.sandbox.server import (
    DEFAULT_API_KEY,
    HOST,
    STATE_KEY,
    RunningSandbox,
    make_app,
    serve,
)
from bulk_import.sandbox.state import SandboxState

__all__ = [
    "API_VERSION",
    "DEFAULT_API_KEY",
    "HOST",
    "STATE_KEY",
    "Faults",
    "RunningSandbox",
    "SandboxState",
    "make_app",
    "serve",
]
