"""Choose the proxy for an API's base URL from the environment, as httpx and curl do.

``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY`` and ``NO_PROXY`` (either case; the lower-case
name wins, as in urllib) mean what httpx gives them: the proxy of the URL's scheme, else
``ALL_PROXY``; ``NO_PROXY`` lists hosts (``example.com`` matches it and its subdomains,
``.example.com`` only the subdomains), IP addresses, ``localhost``, URLs, or ``*`` for every
host. httpx's own reading and matching are used, so the meaning cannot drift from it; they are
httpx's private helpers because the client, handed the aiohttp transport, turns them off.

A client talks to one base URL, so one :class:`Route` is chosen per client, at its start: a
proxy that would never be used (a ``socks5://`` ``ALL_PROXY`` beside an ``HTTPS_PROXY``) is not
refused. Credentials in a proxy's URL go to the proxy only; :attr:`Route.shown` masks them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import httpx
from httpx._utils import URLPattern, get_environment_proxies

from bulk_import.errors import UsageError

#: What the aiohttp transport can speak to a proxy (no SOCKS).
USABLE_SCHEMES = ("http", "https")


@dataclass(frozen=True, slots=True)
class Route:
    """Say how a client's requests go: through ``proxy`` (set by ``variable``), or direct."""

    #: Left out of the repr: httpx's shows the proxy's user name.
    proxy: httpx.Proxy | None = field(default=None, repr=False)
    #: The environment variable that chose the route (``HTTPS_PROXY``, ``no_proxy``), or "".
    variable: str = ""
    #: The proxy's URL with its credentials masked, or "".
    shown: str = ""

    def __str__(self) -> str:
        if self.proxy is not None:
            return f"through the proxy {self.shown} ({self.variable})"
        if self.variable:
            return f"directly ({self.variable} names the host)"
        return "directly (no proxy variable applies)"


DIRECT = Route()


def variable(scheme: str) -> str:
    """Return the name of the variable that set ``scheme``'s proxy (``https``, ``all``, ``no``)."""
    lower = f"{scheme}_proxy"
    return lower if os.environ.get(lower) else lower.upper()


def masked(url: httpx.URL) -> str:
    """Return a proxy's URL with any user name and password shown as ``****``."""
    if not (url.username or url.password):
        return str(url)
    return str(url.copy_with(username=None, password=None)).replace("://", "://****@", 1)


def route_for(base_url: str) -> Route:
    """Return the route httpx would take to ``base_url``; refuse a proxy it cannot use (exit 2)."""
    target = httpx.URL(base_url)
    # The most specific pattern first, as httpx's client orders its mounts.
    mounts = [(URLPattern(key), url) for key, url in get_environment_proxies().items()]
    for pattern, proxy_url in sorted(mounts, key=lambda mount: mount[0]):
        if not pattern.matches(target):
            continue
        if proxy_url is None:
            return Route(variable=variable("no"))
        scheme = pattern.pattern.partition("://")[0]
        return _proxy_route(proxy_url, variable=variable(scheme), host=target.host)
    return DIRECT


def _proxy_route(proxy_url: str, *, variable: str, host: str) -> Route:
    """Return the route through ``proxy_url``, the value of ``variable``, checked."""
    try:
        url = httpx.URL(proxy_url)
    except httpx.InvalidURL:
        url = httpx.URL()
    if not url.host:
        raise UsageError(
            f"{variable} is not a proxy URL (e.g. http://proxy.example.com:3128); "
            f"fix {variable}, or add {host} to NO_PROXY"
        )
    shown = masked(url)
    if url.scheme not in USABLE_SCHEMES:
        raise UsageError(
            f"{variable} names a {url.scheme}:// proxy ({shown}), which bulk-import cannot use; "
            f"set {variable} to an http:// or https:// proxy, or add {host} to NO_PROXY"
        )
    return Route(proxy=httpx.Proxy(url), variable=variable, shown=shown)
