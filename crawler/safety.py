"""Which addresses the crawler may connect to, and a DNS resolver that enforces it at connect time.

Feeds, sitemaps and redirects are written by third parties. Left alone, an entry or a ``Location``
header pointing at 127.0.0.1, 10.0.0.0/8 or a cloud metadata service would make aptwatch fetch
internal pages. Two layers stop that:

* ``crawler.middlewares.RequestSafetyMiddleware`` checks every request (redirects included, since
  Scrapy sends them through the downloader middlewares again) before it is downloaded;
* :class:`PublicOnlyResolver`, installed as Scrapy's DNS resolver, refuses to hand a non-public
  address to the connection for any host that no source explicitly trusts. The address checked is
  the address connected to, so a DNS answer that changes between check and connect (DNS
  rebinding) cannot slip through.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from urllib.request import getproxies

from scrapy.resolver import CachingThreadedResolver
from twisted.internet import defer
from twisted.internet.error import DNSLookupError
from twisted.internet.interfaces import IResolverSimple
from zope.interface import implementer

if TYPE_CHECKING:
    from typing import Self

    from twisted.internet.base import ReactorBase
    from twisted.internet.defer import Deferred

ALLOWED_SCHEMES = frozenset({"http", "https"})
DEFAULT_PORTS = {"http": 80, "https": 443}

# Cloud metadata services: named on their own so the log says what was at stake.
_METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack, DigitalOcean...
        ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
        ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
    }
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


class BlockedAddressError(DNSLookupError):
    """A host resolved to an address the crawler must not connect to."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 transition address really reaches, if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_problem(address: str) -> str | None:
    """Why the crawler must not connect to ``address``, or None when it is a public unicast one."""
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(
            address.split("%", 1)[0]
        )
    except ValueError:
        return f"{address!r} is not an IP address"
    shown = str(ip)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64_LOCAL:
            return f"{shown} is not a public address (local NAT64)"
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            inner = address_problem(str(embedded))
            return None if inner is None else f"{shown} embeds {inner}"
    if ip in _METADATA_ADDRESSES:
        kind = "cloud metadata service"
    elif ip.is_unspecified:
        kind = "unspecified"
    elif ip.is_loopback:
        kind = "loopback"
    elif ip.is_link_local:
        kind = "link-local"
    elif isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        kind = "carrier-grade NAT"
    elif ip.is_multicast:
        kind = "multicast"
    elif ip.is_reserved:
        kind = "reserved"
    elif ip.is_private or not ip.is_global:
        kind = "private network"
    else:
        return None
    return f"{shown} is not a public address ({kind})"


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


def netloc_key(scheme: str, host: str | None, port: int | None) -> str:
    """``host:port`` with the scheme's default port filled in, for comparing origins."""
    host = (host or "").lower().strip("[]")
    return f"{host}:{port or DEFAULT_PORTS.get(scheme.lower(), 0)}"


class _TrustedHosts:
    """Host names whose DNS answers may be private: the hosts of sources with
    ``allow_private_network: true``. Filled by the spider, read by the resolver (same process)."""

    def __init__(self) -> None:
        self._hosts: set[str] = set()

    def add(self, hosts: Iterable[str]) -> None:
        self._hosts.update(host.lower().rstrip(".") for host in hosts if host)

    def __contains__(self, host: object) -> bool:
        return isinstance(host, str) and host.lower().rstrip(".") in self._hosts

    def clear(self) -> None:
        self._hosts.clear()


trusted_hosts = _TrustedHosts()

# host -> why the resolver refused it. Twisted turns a resolver error into a bare "no results"
# DNS failure, so the spider looks the reason up here to report it.
_blocked_resolutions: dict[str, str] = {}


def blocked_resolution(host: str) -> str | None:
    """Why the resolver refused to return an address for ``host`` in this process, if it did."""
    return _blocked_resolutions.get(host.lower().rstrip("."))


def parse_dns_overrides(raw: object) -> dict[str, str]:
    """``APTWATCH_DNS_OVERRIDES``: a mapping host -> IP address, like curl's ``--resolve``
    (pinning a host, or giving a made-up host an address in tests). Checked like any DNS answer."""
    if raw is None or raw == "" or raw == {}:
        return {}
    if isinstance(raw, str):
        pairs: Iterable[tuple[Any, Any]] = (
            tuple(item.split("=", 1)) if "=" in item else (item, "")  # type: ignore[misc]
            for item in raw.split(",")
            if item.strip()
        )
    elif isinstance(raw, Mapping):
        pairs = raw.items()
    else:
        raise ValueError(f"APTWATCH_DNS_OVERRIDES: expected a mapping host -> IP, got {raw!r}")
    overrides: dict[str, str] = {}
    for host, address in pairs:
        host_text, address_text = str(host).strip().lower(), str(address).strip()
        if not host_text or not is_ip_literal(address_text):
            raise ValueError(
                f"APTWATCH_DNS_OVERRIDES: {host!r} must map to an IP address, got {address!r}"
            )
        overrides[host_text.rstrip(".")] = address_text
    return overrides


@implementer(IResolverSimple)
class PublicOnlyResolver(CachingThreadedResolver):
    """Scrapy's caching threaded resolver, plus ``APTWATCH_DNS_OVERRIDES`` and a refusal to return
    non-public addresses for hosts that are not trusted (see module docstring)."""

    def __init__(
        self,
        reactor: ReactorBase,
        cache_size: int,
        timeout: float,
        *,
        overrides: Mapping[str, str] | None = None,
        block_private: bool = True,
    ) -> None:
        super().__init__(reactor, cache_size, timeout)
        self.overrides = dict(overrides or {})
        self.block_private = block_private

    @classmethod
    def from_crawler(cls, crawler: Any, reactor: ReactorBase) -> Self:
        # Scrapy passes the CrawlerProcess here; only its settings are used
        settings = crawler.settings
        cache_size = settings.getint("DNSCACHE_SIZE") if settings.getbool("DNSCACHE_ENABLED") else 0
        if settings.getbool("HTTPPROXY_ENABLED"):
            # a proxy from the environment is the operator's choice and often on a private
            # network; the middleware still checks each target host before it goes to the proxy
            trusted_hosts.add(
                urlsplit(proxy).hostname or "" for proxy in getproxies().values() if "://" in proxy
            )
        return cls(
            reactor,
            cache_size,
            settings.getfloat("DNS_TIMEOUT"),
            overrides=parse_dns_overrides(settings.get("APTWATCH_DNS_OVERRIDES")),
            block_private=settings.getbool("APTWATCH_BLOCK_PRIVATE_NETWORK", True),
        )

    def getHostByName(self, name: str, timeout: Sequence[int] = ()) -> Deferred[str]:
        override = self.overrides.get(name.lower().rstrip("."))
        resolved = defer.succeed(override) if override else super().getHostByName(name, timeout)
        return resolved.addCallback(self._checked, name)

    def _checked(self, address: str, name: str) -> str:
        if self.block_private and name not in trusted_hosts:
            problem = address_problem(address)
            if problem is not None:
                message = f"blocked: {name} resolves to {problem}"
                _blocked_resolutions[name.lower().rstrip(".")] = message
                raise BlockedAddressError(message)
        return address
