"""The `feeds` spider: read each enabled source, follow its new entries to their article pages.

Every source is crawled independently: a DNS failure, a timeout, an HTTP error or a broken feed is
recorded in ``spider.source_results[name].errors`` (and the ``APTWATCH_source/<name>/errors`` stat)
and the other sources carry on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import scrapy
from scrapy import exceptions as scrapy_exceptions
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request, Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils.gz import gunzip
from twisted.internet.error import (
    ConnectError,
    ConnectionRefusedError,
    DNSLookupError,
    TCPTimedOutError,
    TimeoutError,
)
from twisted.python.failure import Failure

from crawler.feedparse import FeedEntry, FeedError, parse_feed, parse_sitemap
from crawler.items import ArticlePage, SourceResult
from crawler.middlewares import ALLOW_PRIVATE_META_KEY, PrivateNetworkBlocked
from crawler.sources import Source, enabled_sources, is_xpath

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings
    from sqlalchemy.orm import Session, sessionmaker

logger = logging.getLogger(__name__)


def _scrapy_errors(*names: str) -> tuple[type[BaseException], ...]:
    # Scrapy >= 2.15 wraps Twisted's network errors in its own exception classes
    return tuple(
        error for name in names if (error := getattr(scrapy_exceptions, name, None)) is not None
    )


_DNS_ERRORS: tuple[type[BaseException], ...] = (
    DNSLookupError,
    *_scrapy_errors("CannotResolveHostError"),
)
_TIMEOUT_ERRORS: tuple[type[BaseException], ...] = (
    TimeoutError,
    TCPTimedOutError,
    *_scrapy_errors("DownloadTimeoutError"),
)
_REFUSED_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionRefusedError,
    *_scrapy_errors("DownloadConnectionRefusedError"),
)
_CONNECT_ERRORS: tuple[type[BaseException], ...] = (
    ConnectError,
    *_scrapy_errors("DownloadFailedError", "ResponseDataLossError", "DownloadCancelledError"),
)
ROBOTS_FORBIDDEN = "Forbidden by robots.txt"

SOURCE_META_KEY = "aptwatch_source"
PAGE_META_KEY = "aptwatch_page"
_HTML_TYPES = (b"text/html", b"application/xhtml+xml")
_GZIP_MAGIC = b"\x1f\x8b"


def describe_failure(failure: Failure) -> str:
    """One line a SOC analyst can act on, without a traceback."""
    error = failure.value
    if isinstance(error, HttpError):
        response = error.response
        return f"HTTP {response.status}" if response is not None else "HTTP error"
    if isinstance(error, _DNS_ERRORS):
        return "DNS lookup failed (host not found)"
    if isinstance(error, _TIMEOUT_ERRORS):
        return "timed out"
    if isinstance(error, _REFUSED_ERRORS):
        return "connection refused"
    if isinstance(error, PrivateNetworkBlocked):
        return str(error)
    if isinstance(error, IgnoreRequest):
        text = str(error) or "request ignored"
        return text[0].lower() + text[1:]
    if isinstance(error, _CONNECT_ERRORS):
        text = " ".join(str(error).split())[:200]
        return f"connection failed ({text or type(error).__name__})"
    text = " ".join(str(error).split())[:300]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class FeedsSpider(scrapy.Spider):
    name = "feeds"

    sources: list[Source]
    source_results: dict[str, SourceResult]
    sources_file: Path
    database_url: str

    def __init__(
        self,
        *args: Any,
        sources_file: str | None = None,
        database_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._sources_file_arg = sources_file
        self._database_url_arg = database_url
        self.sources = []
        self.source_results = {}
        self._sources_by_name: dict[str, Source] = {}
        self._followed: dict[str, int] = {}
        self._max_entries = 100
        self._session_factory: sessionmaker[Session] | None = None
        self._engine: Any = None

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> FeedsSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider._configure(crawler.settings)
        return spider

    def _configure(self, settings: BaseSettings) -> None:
        self.sources_file = Path(
            self._sources_file_arg or settings.get("APTWATCH_SOURCES_FILE", "config/sources.yaml")
        )
        self.database_url = self._database_url_arg or settings.get("APTWATCH_DATABASE_URL") or ""
        self._max_entries = settings.getint("APTWATCH_MAX_ENTRIES_PER_SOURCE", 100)
        # a bad sources file fails here, before any request is made
        self.sources = enabled_sources(self.sources_file)
        self._sources_by_name = {source.name: source for source in self.sources}
        self.source_results = {
            source.name: SourceResult(source.name, source.kind) for source in self.sources
        }

    # --- bookkeeping -------------------------------------------------------------------------

    def count(self, source_name: str, key: str, amount: int = 1) -> None:
        """Add to a per-source counter and to the matching ``APTWATCH_source/...`` stat."""
        result = self.source_results[source_name]
        setattr(result, key, getattr(result, key) + amount)
        self.crawler.stats.inc_value(f"APTWATCH_source/{source_name}/{key}", amount)

    def record_error(self, source_name: str, message: str) -> None:
        line = " ".join(message.split())
        self.source_results[source_name].errors.append(line)
        self.crawler.stats.inc_value(f"APTWATCH_source/{source_name}/errors")
        self.crawler.stats.inc_value("APTWATCH_errors")
        logger.warning("source %r: %s", source_name, line)

    def _source_of(self, request: Request) -> Source:
        return self._sources_by_name[request.meta[SOURCE_META_KEY]]

    # --- known URLs (database, off the reactor) ----------------------------------------------

    def _open_database(self) -> None:
        from storage import make_engine, make_session_factory

        self._engine = make_engine(self.database_url)
        self._session_factory = make_session_factory(self._engine)

    def _known_urls(self, urls: Sequence[str]) -> set[str]:
        from storage import get_url_state, is_known_url

        def known(session: Session, url: str) -> bool:
            if is_known_url(session, url):
                return True
            state = get_url_state(session, url)  # fetched before, stored as a duplicate
            return state is not None and state.last_status == 200

        if self._session_factory is None:
            return set()
        with self._session_factory() as session:
            return {url for url in urls if known(session, url)}

    async def _filter_known(self, source: Source, entries: Sequence[FeedEntry]) -> list[FeedEntry]:
        if self._session_factory is None or not entries:
            return list(entries)
        try:
            known = await asyncio.to_thread(self._known_urls, [entry.url for entry in entries])
        except Exception as error:  # the store pipeline reports database trouble itself
            logger.warning("source %r: cannot check known URLs: %s", source.name, error)
            return list(entries)
        self.crawler.stats.inc_value(f"APTWATCH_source/{source.name}/known", len(known))
        return [entry for entry in entries if entry.url not in known]

    def closed(self, reason: str) -> None:
        if self._engine is not None:
            self._engine.dispose()

    # --- requests ------------------------------------------------------------------------------

    async def start(self) -> AsyncIterator[Any]:
        if self.database_url:
            try:
                await asyncio.to_thread(self._open_database)
            except Exception as error:
                logger.warning("cannot open database to skip known articles: %s", error)
        for source in self.sources:
            for url in source.urls:
                yield self._source_request(source, url, page=1)

    def _source_request(self, source: Source, url: str, page: int) -> Request:
        callbacks = {
            "feed": self.parse_feed,
            "listing": self.parse_listing,
            "sitemap": self.parse_sitemap,
        }
        return Request(
            url,
            # two sources may share a URL (e.g. one feed, two names); each must get its response
            dont_filter=True,
            callback=callbacks[source.kind],
            errback=self.on_source_error,
            meta={
                SOURCE_META_KEY: source.name,
                PAGE_META_KEY: page,
                ALLOW_PRIVATE_META_KEY: source.allow_private_network,
            },
        )

    def _article_request(self, source: Source, entry: FeedEntry) -> Request:
        return Request(
            entry.url,
            callback=self.parse_article,
            errback=self.on_article_error,
            cb_kwargs={"entry": entry},
            meta={
                SOURCE_META_KEY: source.name,
                ALLOW_PRIVATE_META_KEY: source.allow_private_network,
            },
        )

    async def _follow(self, source: Source, entries: Sequence[FeedEntry]) -> AsyncIterator[Request]:
        self.count(source.name, "entries", len(entries))
        room = max(0, self._max_entries - self._followed.get(source.name, 0))
        if len(entries) > room:
            self.crawler.stats.inc_value(
                f"APTWATCH_source/{source.name}/over_limit", len(entries) - room
            )
        chosen = list(_unique(entries))[:room]
        self._followed[source.name] = self._followed.get(source.name, 0) + len(chosen)
        for entry in await self._filter_known(source, chosen):
            yield self._article_request(source, entry)

    # --- callbacks -----------------------------------------------------------------------------

    async def parse_feed(self, response: Response) -> AsyncIterator[Request]:
        source = self._source_of(response.request)  # type: ignore[arg-type]
        try:
            parsed = await asyncio.to_thread(parse_feed, response.body, response.url)
        except FeedError as error:
            self.record_error(source.name, f"feed {response.url}: {error}")
            return
        if parsed.problem:
            self.record_error(
                source.name,
                f"feed {response.url}: {parsed.problem} (kept {len(parsed.entries)} entries)",
            )
        async for request in self._follow(source, parsed.entries):
            yield request

    async def parse_listing(self, response: Response) -> AsyncIterator[Request]:
        source = self._source_of(response.request)  # type: ignore[arg-type]
        page = int(response.meta.get(PAGE_META_KEY, 1))
        if not isinstance(response, TextResponse) or not response.body.strip():
            self.record_error(source.name, f"listing {response.url}: empty or non-HTML response")
            return
        assert source.link_selector is not None  # validated for kind: listing
        links = _selected_links(response, source.link_selector)
        if not links and page == 1:
            self.record_error(
                source.name,
                f"listing {response.url}: link_selector matched no links (page layout changed?)",
            )
        async for request in self._follow(source, [FeedEntry(url) for url in links]):
            yield request
        if source.next_selector and page < source.max_pages:
            for next_url in _selected_links(response, source.next_selector)[:1]:
                yield self._source_request(source, next_url, page + 1)

    async def parse_sitemap(self, response: Response) -> AsyncIterator[Request]:
        source = self._source_of(response.request)  # type: ignore[arg-type]
        page = int(response.meta.get(PAGE_META_KEY, 1))
        body = response.body
        if body.startswith(_GZIP_MAGIC):
            try:
                max_size = self.crawler.settings.getint("DOWNLOAD_MAXSIZE")
                body = await asyncio.to_thread(gunzip, body, max_size=max_size)
            except Exception as error:
                self.record_error(source.name, f"sitemap {response.url}: bad gzip data ({error})")
                return
        try:
            content = await asyncio.to_thread(parse_sitemap, body, response.url)
        except FeedError as error:
            self.record_error(source.name, f"sitemap {response.url}: {error}")
            return
        # an index counts as the first page; each child sitemap fetched is one more page
        for offset, child in enumerate(
            content.child_sitemaps[: max(0, source.max_pages - page + 1)]
        ):
            yield self._source_request(source, child, page + 1 + offset)
        async for request in self._follow(source, content.entries):
            yield request

    def parse_article(self, response: Response, entry: FeedEntry) -> Iterator[ArticlePage]:
        source = self._source_of(response.request)  # type: ignore[arg-type]
        content_type = (response.headers.get(b"Content-Type") or b"").lower()
        if content_type and not content_type.startswith(_HTML_TYPES):
            kind = content_type.split(b";")[0].decode("latin-1")
            self.record_error(source.name, f"article {entry.url}: not an HTML page ({kind})")
            return
        if not response.body.strip():
            self.record_error(source.name, f"article {entry.url}: empty response body")
            return
        self.count(source.name, "fetched")
        yield ArticlePage(
            url=entry.url,
            response_url=response.url,
            source_name=source.name,
            source_kind=source.kind,
            source_url=source.url,
            source_lang=source.lang,
            html=response.body,
            fetched_at=datetime.now(UTC),
            entry_title=entry.title,
            entry_published=entry.published,
            body_selector=source.extract.body_selector,
            date_selector=source.extract.date_selector,
        )

    # --- errbacks ------------------------------------------------------------------------------

    def on_source_error(self, failure: Failure) -> None:
        request: Request = failure.request  # type: ignore[attr-defined]
        source = self._source_of(request)
        self.record_error(source.name, f"{source.kind} {request.url}: {describe_failure(failure)}")

    def on_article_error(self, failure: Failure) -> None:
        request: Request = failure.request  # type: ignore[attr-defined]
        source = self._source_of(request)
        if isinstance(failure.value, IgnoreRequest) and str(failure.value) == ROBOTS_FORBIDDEN:
            # the site asked crawlers to stay away from this page: respected, not a failure
            self.crawler.stats.inc_value(f"APTWATCH_source/{source.name}/robots_forbidden")
            logger.info("source %r: skipped %s (robots.txt)", source.name, request.url)
            return
        self.record_error(source.name, f"article {request.url}: {describe_failure(failure)}")


def _unique(entries: Iterable[FeedEntry]) -> Iterator[FeedEntry]:
    seen: set[str] = set()
    for entry in entries:
        if entry.url not in seen:
            seen.add(entry.url)
            yield entry


def _selected_links(response: TextResponse, selector: str) -> list[str]:
    """Absolute http(s) links from the nodes a CSS/XPath selector picks (or their <a> children)."""
    nodes = response.xpath(selector) if is_xpath(selector) else response.css(selector)
    links: list[str] = []
    for node in nodes:
        if isinstance(node.root, str):
            href: str | None = node.root
        else:
            href = node.attrib.get("href") or node.xpath(".//a/@href").get()
        if not href or not href.strip():
            continue
        url = response.urljoin(href.strip()).split("#", 1)[0]
        if url.startswith(("http://", "https://")) and url not in links:
            links.append(url)
    return links
