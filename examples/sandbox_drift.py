"""Make the sandbox drift from the example file, as a real account does between nightly runs.

Adds a number the file does not list, and moves one number of the file to another agent.
Usage: python examples/sandbox_drift.py BASE_URL NUMBER_TO_MOVE
"""

from __future__ import annotations

import os
import sys

import httpx


def main() -> int:
    """Add one extra number and reassign one number's agent on the sandbox at BASE_URL."""
    base_url, number = sys.argv[1], sys.argv[2]
    headers = {
        "Authorization": f"Bearer {os.environ.get('CARTESIA_API_KEY', 'sk_car_sandbox')}",
        "Cartesia-Version": "2026-03-01",
    }
    with httpx.Client(base_url=base_url, headers=headers, timeout=10) as client:
        extra = {"number": "+14155550199", "label": "added by hand in the console"}
        client.post("/_sandbox/numbers", json=extra).raise_for_status()
        found = client.get("/agents/phone-numbers", params={"q": number, "limit": 100})
        found.raise_for_status()
        (item,) = [n for n in found.json()["data"] if n["number"] == number]
        moved = client.patch(f"/agents/phone-numbers/{item['id']}", json={"agent_id": "agent_night_shift"})
        moved.raise_for_status()
    print(f"drift: added +14155550199; moved {number} to agent_night_shift")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
