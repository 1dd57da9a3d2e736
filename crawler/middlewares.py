"""Downloader middleware that keeps the crawler off loopback and private networks.

Feeds are written by third parties: an entry (or a redirect) pointing at 127.0.0.1, 10.0.0.0/8 or a
cloud metadata address would otherwise make aptwatch fetch internal pages. Only sources that set
``allow_private_network: true`` (sites the operator runs, the demo and test sites) may go there.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import TYPE_CHECKING

from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.utils.asyncio import is_asyncio_available
from scrapy.utils.httpobj import urlparse_cached

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler

ALLOW_PRIVATE_META_KEY = "aptwatch_allow_private_network"


class PrivateNetworkBlocked(IgnoreRequest):
    """A request would have reached a non-public address."""


def _is_public(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class PrivateNetworkGuardMiddleware:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        # hosts that a private-network source asked for, so their robots.txt may be fetched too
        self._trusted_netlocs: set[str] = set()
        self._verdicts: dict[str, str | None] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PrivateNetworkGuardMiddleware:
        if not crawler.settings.getbool("APTWATCH_BLOCK_PRIVATE_NETWORK", True):
            raise NotConfigured("APTWATCH_BLOCK_PRIVATE_NETWORK is off")
        return cls(crawler)

    async def process_request(self, request: Request) -> None:
        parts = urlparse_cached(request)
        netloc = parts.netloc.lower()
        allowed = request.meta.get(ALLOW_PRIVATE_META_KEY)
        if allowed:
            self._trusted_netlocs.add(netloc)
            return
        # requests without a source (robots.txt) inherit the trust of the source that caused them;
        # a source's own requests never borrow another source's permission
        if allowed is None and netloc in self._trusted_netlocs:
            return
        host = (parts.hostname or "").lower()
        if host not in self._verdicts:
            self._verdicts[host] = await self._why_blocked(host)
        reason = self._verdicts[host]
        if reason is not None:
            stats = self.crawler.stats
            if stats is not None:
                stats.inc_value("APTWATCH_private_network_blocked")
            raise PrivateNetworkBlocked(
                f"blocked: {reason} (set allow_private_network: true for this source)"
            )

    async def _why_blocked(self, host: str) -> str | None:
        if not host:
            return "URL has no host"
        if host == "localhost" or host.endswith(".localhost"):
            return f"{host} is a loopback address"
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            return None if _is_public(host) else f"{host} is not a public address"
        if not is_asyncio_available():
            return None
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, None, type=socket.SOCK_STREAM
            )
        except (OSError, UnicodeError):
            return None  # let the downloader fail with its own DNS error message
        private = sorted({str(info[4][0]) for info in infos if not _is_public(str(info[4][0]))})
        if private:
            return f"{host} resolves to non-public address {private[0]}"
        return None
