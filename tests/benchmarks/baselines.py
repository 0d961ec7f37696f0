"""The baselines the benchmarks compare bulk-import with: the least code that does the same work.

Each mode runs in its own process (started by ``run.py``, timed from outside like the CLI) and
prints one JSON line: what it did and how long its loop took.

- ``phonenumbers FILE``: parse + is_valid_number + format_number(E164) over the first column of
  a CSV (header skipped): the floor under ``bulk-import validate``.
- ``aiohttp``: ``--concurrency`` workers POSTing ``--count`` numbers with one aiohttp session.
- ``httpx-async``: the same with httpx's default transport (``--aiohttp-transport``: with
  httpx-aiohttp's transport, as bulk-import uses it).
- ``httpx-seq``: one call at a time with a plain ``httpx.Client``.

Numbers are ``us_number(start + i)``, bodies are what bulk-import sends for a row with no label
(``{"number", "label": number, "provider": {"id": "prov_sandbox"}}``).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sandbox_fixtures import api_headers, import_body, us_number

PATH = "/agents/phone-numbers"


def _numbers(start: int, count: int) -> Iterator[str]:
    return (us_number(start + i) for i in range(count))


def phonenumbers_loop(path: Path) -> dict[str, object]:
    """Validate and format every number of the CSV's first column; return the counts."""
    import phonenumbers

    started = time.perf_counter()
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        texts = [cells[0] for cells in reader]
    read_s = time.perf_counter() - started
    e164 = phonenumbers.PhoneNumberFormat.E164
    valid = 0
    started = time.perf_counter()
    for text in texts:
        try:
            number = phonenumbers.parse(text, "US")
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            phonenumbers.format_number(number, e164)
            valid += 1
    return {"rows": len(texts), "valid": valid, "read_s": read_s, "loop_s": _since(started)}


async def aiohttp_loop(
    base_url: str, start: int, count: int, concurrency: int
) -> dict[str, object]:
    """POST every number with ``concurrency`` workers over one aiohttp session."""
    import aiohttp

    statuses: Counter[str] = Counter()
    numbers = _numbers(start, count)
    connector = aiohttp.TCPConnector(limit=concurrency)
    url = base_url + PATH
    async with aiohttp.ClientSession(connector=connector, headers=api_headers()) as session:

        async def worker() -> None:
            for number in numbers:
                async with session.post(url, json=import_body(number)) as response:
                    await response.read()
                    statuses[str(response.status)] += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        loop_s = _since(started)
    return {"rows": count, "statuses": dict(statuses), "loop_s": loop_s}


async def httpx_async_loop(
    base_url: str, start: int, count: int, concurrency: int, *, aiohttp_transport: bool
) -> dict[str, object]:
    """POST every number with ``concurrency`` workers over one httpx.AsyncClient."""
    import httpx

    statuses: Counter[str] = Counter()
    numbers = _numbers(start, count)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    transport: httpx.AsyncBaseTransport
    if aiohttp_transport:
        from httpx_aiohttp import AiohttpTransport

        transport = AiohttpTransport(limits=limits)
    else:
        transport = httpx.AsyncHTTPTransport(limits=limits)
    async with httpx.AsyncClient(
        base_url=base_url, headers=api_headers(), transport=transport
    ) as client:

        async def worker() -> None:
            for number in numbers:
                response = await client.post(PATH, json=import_body(number))
                statuses[str(response.status_code)] += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        loop_s = _since(started)
    return {"rows": count, "statuses": dict(statuses), "loop_s": loop_s}


def httpx_sequential(base_url: str, start: int, count: int) -> dict[str, object]:
    """POST every number one at a time with a plain httpx.Client."""
    import httpx

    statuses: Counter[str] = Counter()
    with httpx.Client(base_url=base_url, headers=api_headers()) as client:
        started = time.perf_counter()
        for number in _numbers(start, count):
            statuses[str(client.post(PATH, json=import_body(number)).status_code)] += 1
        loop_s = _since(started)
    return {"rows": count, "statuses": dict(statuses), "loop_s": loop_s}


def _since(started: float) -> float:
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    """Run one baseline and print its JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["phonenumbers", "aiohttp", "httpx-async", "httpx-seq"])
    parser.add_argument("file", nargs="?", type=Path, help="CSV for the phonenumbers mode")
    parser.add_argument("--base-url")
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--aiohttp-transport", action="store_true")
    args = parser.parse_args(argv)
    result: dict[str, object]
    if args.mode == "phonenumbers":
        if args.file is None:
            parser.error("phonenumbers needs FILE")
        result = phonenumbers_loop(args.file)
    elif not args.base_url or args.count <= 0:
        parser.error(f"{args.mode} needs --base-url and --count")
    elif args.mode == "aiohttp":
        result = asyncio.run(aiohttp_loop(args.base_url, args.start, args.count, args.concurrency))
    elif args.mode == "httpx-async":
        result = asyncio.run(
            httpx_async_loop(
                args.base_url,
                args.start,
                args.count,
                args.concurrency,
                aiohttp_transport=args.aiohttp_transport,
            )
        )
    else:
        result = httpx_sequential(args.base_url, args.start, args.count)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
