"""Make the sandbox drift from the example file, as a real account does between nightly runs.

Adds a number the file does not list, and moves one number of the file to another agent.
Usage: python examples/sandbox_drift.py BASE_URL NUMBER_TO_MOVE
"""

from __future__ import annotations

import os
import sys
from typing import Any

import httpx
import tenacity


def main() -> int:
    """Add one extra number and reassign one number's agent on the sandbox at BASE_URL."""
    base_url, number = sys.argv[1], sys.argv[2]
    headers = {
        "Authorization": f"Bearer {os.environ.get('CARTESIA_API_KEY', 'sk_car_sandbox')}",
        "Cartesia-Version": "2026-03-01",
    }
    # The demo's sandbox injects faults into API calls, so this script retries like a client should.
    retry = tenacity.retry(
        stop=tenacity.stop_after_attempt(10),
        wait=tenacity.wait_exponential(multiplier=0.05),
        retry=tenacity.retry_if_exception_type(httpx.HTTPError),
        reraise=True,
    )
    with httpx.Client(base_url=base_url, headers=headers, timeout=10) as client:

        @retry
        def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
            response = client.request(method, path, **kwargs)
            response.raise_for_status()
            return response

        extra = {"number": "+14155550199", "label": "added by hand in the console"}
        call("POST", "/_sandbox/numbers", json=extra)
        found = call("GET", "/agents/phone-numbers", params={"q": number, "limit": 100})
        (item,) = [n for n in found.json()["data"] if n["number"] == number]
        call("PATCH", f"/agents/phone-numbers/{item['id']}", json={"agent_id": "agent_night_shift"})
    print(f"drift: added +14155550199; moved {number} to agent_night_shift")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
