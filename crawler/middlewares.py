"""Downloader middlewares: every request (redirects included) safe to send; meta refresh cheaper.

Feeds are written by third parties: an entry (or a redirect) pointing at 127.0.0.1, 10.0.0.0/8 or a
cloud metadata address would otherwise make aptwatch fetch internal pages. A source that sets
``allow_private_network: true`` (a site the operator runs, the demo and test sites) may reach a
private address only on the hosts and ports of its own URLs; a redirect or an entry elsewhere is
checked like any other. The DNS resolver in ``crawler.safety`` repeats the check at connect time.

Scrapy's RedirectMiddleware sends a redirected request through the downloader middlewares again
with a copy of the original's meta, so every hop is checked here with the source's permissions.
"""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING, Self
from urllib.parse import urlsplit

from scrapy import exceptions as scrapy_exceptions
from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware, RedirectMiddleware
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.http import HtmlResponse
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.error import TCPTimedOutError, TimeoutError

from crawler.safety import (
    ALLOWED_SCHEMES,
    address_problem,
    is_ip_literal,
    netloc_key,
    parse_dns_overrides,
)
from crawler.settings import DEFAULT_MAX_RESPONSE_BYTES, max_response_bytes

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.spiders import Spider

# meta key: the ``host:port`` keys (see ``safety.netloc_key``) this request's source may reach
# even when they are private addresses
PRIVATE_NETLOCS_META_KEY = "aptwatch_private_netlocs"
SOURCE_META_KEY = "aptwatch_source"
# meta key: set on a request whose source was given up while it waited for its download slot
GIVEN_UP_META_KEY = "aptwatch_given_up"
_CREDENTIAL_HEADERS = (b"Authorization", b"Cookie", b"Proxy-Authorization")


class PrivateNetworkBlocked(IgnoreRequest):
    """A request would have reached a non-public address."""


class UnsafeRequest(IgnoreRequest):
    """A request the crawler never sends (a scheme other than http or https)."""


def scrapy_errors(*names: str) -> tuple[type[BaseException], ...]:
    # Scrapy >= 2.15 wraps Twisted's network errors in its own exception classes
    return tuple(
        error for name in names if (error := getattr(scrapy_exceptions, name, None)) is not None
    )


TIMEOUT_ERRORS: tuple[type[BaseException], ...] = (
    TimeoutError,
    TCPTimedOutError,
    *scrapy_errors("DownloadTimeoutError"),
)


class SourceGivenUp(IgnoreRequest):
    """A request of a source this crawl stopped waiting for (its pages kept timing out)."""


class GivenUpSourcesMiddleware:
    """Gives a source up for the rest of a crawl once its downloads time out too many times in
    a row. A host that accepts connections and never answers costs DOWNLOAD_TIMEOUT per page
    (and again for the retry): for a feed of 100 pages, more than an hour in which the crawl,
    and every source crawled with it, waits. Any answer, even an error status, resets the count.

    Placed nearer the downloader than RetryMiddleware, it sees every timeout, retried or not.
    Requests that already passed it wait in their site's download slot, which has no way to take
    one back: those are made to fail at once (a tiny download timeout, no retry) and marked, so
    the spider drops them quietly; later ones are refused here."""

    def __init__(self, crawler: Crawler, limit: int) -> None:
        self.crawler = crawler
        self.limit = limit
        self.timeouts_in_a_row: dict[str, int] = {}
        self.given_up: set[str] = set()
        self.in_downloader: dict[str, set[Request]] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        limit = crawler.settings.getint("APTWATCH_TIMEOUTS_BEFORE_GIVING_UP")
        if limit <= 0:
            raise NotConfigured
        return cls(crawler, limit)

    def process_request(self, request: Request) -> None:
        source = request.meta.get(SOURCE_META_KEY)
        if source is None:
            return
        if source in self.given_up:
            raise SourceGivenUp("given up for this crawl")
        self.in_downloader.setdefault(source, set()).add(request)

    def process_response(self, request: Request, response: Response) -> Response:
        source = request.meta.get(SOURCE_META_KEY)
        if source is not None:
            self.in_downloader.get(source, set()).discard(request)
            self.timeouts_in_a_row[source] = 0
        return response

    def process_exception(self, request: Request, exception: Exception) -> None:
        source = request.meta.get(SOURCE_META_KEY)
        if source is None:
            return
        self.in_downloader.get(source, set()).discard(request)
        if not isinstance(exception, TIMEOUT_ERRORS) or source in self.given_up:
            return
        in_a_row = self.timeouts_in_a_row.get(source, 0) + 1
        self.timeouts_in_a_row[source] = in_a_row
        if in_a_row >= self.limit:
            self._give_up(source, in_a_row)

    def _give_up(self, source: str, timeouts: int) -> None:
        self.given_up.add(source)
        for waiting in self.in_downloader.pop(source, set()):
            waiting.meta.update(
                {GIVEN_UP_META_KEY: True, "download_timeout": 0.001, "dont_retry": True}
            )
        give_up = getattr(self.crawler.spider, "give_up", None)
        if give_up is not None:
            give_up(
                source,
                f"gave up after {timeouts} downloads in a row timed out; the pages left are"
                " fetched next crawl",
            )


class RequestSafetyMiddleware:
    """Scheme allow-list, private-network guard, response size cap and credential hygiene."""

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.block_private = settings.getbool("APTWATCH_BLOCK_PRIVATE_NETWORK", True)
        self.max_bytes = max_response_bytes(
            settings.get("APTWATCH_MAX_RESPONSE_BYTES", DEFAULT_MAX_RESPONSE_BYTES)
        )
        self.warn_bytes = min(settings.getint("DOWNLOAD_WARNSIZE"), self.max_bytes)
        self.overrides = parse_dns_overrides(settings.get("APTWATCH_DNS_OVERRIDES"))
        # netlocs a private-network source asked for, so their robots.txt may be fetched too
        self._trusted_netlocs: set[str] = set()
        self._verdicts: dict[str, str | None] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RequestSafetyMiddleware:
        return cls(crawler)

    async def process_request(self, request: Request) -> None:
        parts = urlparse_cached(request)
        scheme = parts.scheme.lower()
        if scheme not in ALLOWED_SCHEMES:
            self._count("APTWATCH_unsafe_scheme_blocked")
            raise UnsafeRequest(f"blocked: only http and https are fetched, not {scheme or '?'}:")
        # the cap also bounds decompressed bodies: HttpCompressionMiddleware reads this meta key
        request.meta.setdefault("download_maxsize", self.max_bytes)
        request.meta.setdefault("download_warnsize", self.warn_bytes)
        self._drop_credentials_across_origins(request)
        if self.block_private:
            await self._check_address(request)

    def _drop_credentials_across_origins(self, request: Request) -> None:
        """Scrapy keeps Proxy-Authorization across hosts and Cookie on a same-host scheme change;
        credentials belong to the origin they were set for, so any hop away from it loses them."""
        chain = request.meta.get("redirect_urls")
        if not chain:
            return
        first = urlsplit(chain[0])
        here = urlparse_cached(request)
        same_origin = first.scheme.lower() == here.scheme.lower() and netloc_key(
            first.scheme, first.hostname, first.port
        ) == netloc_key(here.scheme, here.hostname, here.port)
        if same_origin:
            return
        for header in _CREDENTIAL_HEADERS:
            if header in request.headers:
                del request.headers[header]
                self._count("APTWATCH_credentials_dropped_on_redirect")

    async def _check_address(self, request: Request) -> None:
        parts = urlparse_cached(request)
        netloc = netloc_key(parts.scheme, parts.hostname, parts.port)
        allowed_netlocs = request.meta.get(PRIVATE_NETLOCS_META_KEY) or ()
        if netloc in allowed_netlocs:
            self._trusted_netlocs.add(netloc)
            return
        # requests without a source (robots.txt) inherit the trust of the source that caused them;
        # a source's own requests never borrow another source's permission
        if SOURCE_META_KEY not in request.meta and netloc in self._trusted_netlocs:
            return
        host = (parts.hostname or "").lower().rstrip(".")
        if host not in self._verdicts:
            self._verdicts[host] = await self._why_blocked(host)
        reason = self._verdicts[host]
        if reason is not None:
            self._count("APTWATCH_private_network_blocked")
            raise PrivateNetworkBlocked(
                f"blocked: {reason} (set allow_private_network: true for this source)"
            )

    async def _why_blocked(self, host: str) -> str | None:
        if not host:
            return "URL has no host"
        if host == "localhost" or host.endswith(".localhost"):
            return f"{host} is not a public address (loopback)"
        if is_ip_literal(host):
            # no DNS is involved, so this check is the only one: it must be complete
            return address_problem(host.strip("[]"))
        if host in self.overrides:
            problem = address_problem(self.overrides[host])
            return None if problem is None else f"{host} resolves to {problem}"
        try:
            # the event loop runs getaddrinfo on a worker thread: the reactor never blocks
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, None, type=socket.SOCK_STREAM
            )
        except (OSError, UnicodeError):
            return None  # let the downloader fail with its own DNS error message
        for address in sorted({str(info[4][0]) for info in infos}):
            problem = address_problem(address)
            if problem is not None:
                return f"{host} resolves to {problem}"
        return None

    def _count(self, key: str) -> None:
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value(key)


# Scrapy reads a meta refresh from a page's first 4096 characters, which an ASCII-compatible
# encoding such as UTF-8 holds in at most four bytes each.
_META_REFRESH_SCAN_BYTES = 4 * 4096


class _WithoutReferer:
    """Redirects that never carry a Referer (``REFERER_ENABLED = False``), said once here rather
    than by Scrapy, which warns at every crawl's start that no RefererMiddleware is there to ask."""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        middleware = cls(crawler.settings)  # type: ignore[call-arg]
        middleware.crawler = crawler  # type: ignore[attr-defined]
        return middleware

    def handle_referer(self, request: Request, response: Response) -> None:
        request.headers.pop("Referer", None)


class NoRefererRedirectMiddleware(_WithoutReferer, RedirectMiddleware):
    """Scrapy's HTTP redirects (3xx), without the Referer."""


class ByteScanMetaRefreshMiddleware(_WithoutReferer, MetaRefreshMiddleware):
    """Scrapy's meta refresh redirects, without decoding every page to learn that it has none.

    Scrapy decodes the whole body (200 KiB for a typical news page) to look at its start: a
    twentieth of the crawl process's CPU. A page whose start lacks the bytes "refresh" in any
    letter case cannot hold one, unless it is in UTF-16 or UTF-32 (NUL bytes between ASCII
    letters), which goes to Scrapy's check as before.
    """

    def process_response(
        self,
        request: Request,
        response: Response,
        spider: Spider | None = None,  # the base class's signature; Scrapy passes none
    ) -> Request | Response:
        if isinstance(response, HtmlResponse):
            start = response.body[:_META_REFRESH_SCAN_BYTES]
            if b"\x00" not in start and b"refresh" not in start.lower():
                return response
        return super().process_response(request, response)
