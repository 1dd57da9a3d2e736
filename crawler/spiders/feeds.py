"""The `feeds` spider: read each enabled source, follow its new entries to their article pages.

Every source is crawled independently: a DNS failure, a timeout, an HTTP error or a broken feed is
recorded in ``spider.source_results[name].errors`` (and the ``APTWATCH_source/<name>/errors`` stat)
and the other sources carry on.

Incremental: every source URL is polled with a conditional GET (ETag / Last-Modified from
``url_state``); a 304 or a byte-identical body is not parsed (stats ``not_modified`` /
``unchanged``). Its validators are kept only after a crawl in which the source had no errors, so an
article that failed is retried next time instead of hiding behind a 304. Entries are looked up by
URL (no timestamp watermark); a known article is fetched again, conditionally, only when the feed
marks it updated after our last fetch or ``APTWATCH_RECHECK_AFTER`` has passed, and only a changed
body goes through the item pipelines again.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urljoin, urlsplit

import scrapy
from scrapy import signals
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request, Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils.gz import gunzip
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.response import get_base_url
from twisted.internet.error import (
    ConnectError,
    ConnectionRefusedError,
    DNSLookupError,
)
from twisted.python.failure import Failure
from w3lib.url import safe_url_string

from crawler.feedparse import FeedEntry, FeedError, absolute_http_url, parse_feed, parse_sitemap
from crawler.items import ArticlePage, SourceResult
from crawler.middlewares import (
    GIVEN_UP_META_KEY,
    PRIVATE_NETLOCS_META_KEY,
    SOURCE_META_KEY,
    TIMEOUT_ERRORS,
    PrivateNetworkBlocked,
    SourceGivenUp,
    UnsafeRequest,
    scrapy_errors,
)
from crawler.safety import blocked_resolution, trusted_hosts
from crawler.settings import APTWATCH_RECHECK_AFTER
from crawler.sources import Source, enabled_sources, is_xpath
from storage.records import FetchIn

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings
    from sqlalchemy.orm import Session, sessionmaker

    from storage.records import UrlState

logger = logging.getLogger(__name__)
T = TypeVar("T")


def _answers_request(
    callback: Callable[..., AsyncIterator[Any]],
) -> Callable[..., AsyncIterator[Any]]:
    """A callback's request counts as answered once its output is all out (whatever it returns
    early for: a 304, an unchanged body, an error)."""

    @functools.wraps(callback)
    async def answering(
        spider: FeedsSpider, response: Response, *args: Any, **kwargs: Any
    ) -> AsyncIterator[Any]:
        try:
            async for output in callback(spider, response, *args, **kwargs):
                yield output
        finally:
            spider._work_done(response.meta.get(SOURCE_META_KEY))

    return answering


_DNS_ERRORS: tuple[type[BaseException], ...] = (
    DNSLookupError,
    *scrapy_errors("CannotResolveHostError"),
)
_REFUSED_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionRefusedError,
    *scrapy_errors("DownloadConnectionRefusedError"),
)
_CONNECT_ERRORS: tuple[type[BaseException], ...] = (
    ConnectError,
    *scrapy_errors("DownloadFailedError", "ResponseDataLossError", "DownloadCancelledError"),
)
ROBOTS_FORBIDDEN = "Forbidden by robots.txt"

PAGE_META_KEY = "aptwatch_page"
_STATE_BATCH_SIZE = 50
_MAXSIZE_RE = re.compile(r"larger than download max size \((\d+)\)")
_DECOMPRESSED_RE = re.compile(r"exceeded DOWNLOAD_MAXSIZE \((\d+) B\) during decompression")
_HTML_TYPES = (b"text/html", b"application/xhtml+xml")
_GZIP_MAGIC = b"\x1f\x8b"
# how a sitemap index is told from a list of pages without parsing it (its root element's name,
# after at most an XML declaration, a stylesheet and comments)
_SITEMAP_INDEX = b"sitemapindex"
_SNIFF_BYTES = 8192


def describe_failure(failure: Failure) -> str:
    """One line a SOC analyst can act on, without a traceback."""
    error = failure.value
    if isinstance(error, HttpError):
        response = error.response
        if response is None:
            return "HTTP error"
        if 300 <= response.status < 400:
            return _redirect_problem(response)
        return f"HTTP {response.status}"
    request = getattr(failure, "request", None)
    blocked = (
        blocked_resolution(urlparse_cached(request).hostname or "")
        if isinstance(error, _DNS_ERRORS) and request is not None
        else None
    )
    if blocked is not None:
        return f"{blocked} (set allow_private_network: true for this source)"
    text = " ".join(str(error).split())
    if (cap := _MAXSIZE_RE.search(text)) is not None:
        return f"response larger than the {cap.group(1)}-byte cap (APTWATCH_MAX_RESPONSE_BYTES)"
    if (cap := _DECOMPRESSED_RE.search(text)) is not None:
        return (
            f"decompressed response larger than the {cap.group(1)}-byte cap "
            "(APTWATCH_MAX_RESPONSE_BYTES; compression bomb?)"
        )
    tls_reason = _tls_failure(error)
    if tls_reason is not None:
        return f"TLS handshake failed ({tls_reason})"
    if isinstance(error, _DNS_ERRORS):
        return "DNS lookup failed (host not found)"
    if isinstance(error, TIMEOUT_ERRORS):
        return "timed out"
    if isinstance(error, _REFUSED_ERRORS):
        return "connection refused"
    if isinstance(error, PrivateNetworkBlocked | UnsafeRequest):
        return str(error)
    if isinstance(error, IgnoreRequest):
        text = str(error) or "request ignored"
        return text[0].lower() + text[1:]
    if isinstance(error, _CONNECT_ERRORS):
        text = " ".join(str(error).split())[:200]
        return f"connection failed ({text or type(error).__name__})"
    text = " ".join(str(error).split())[:300]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _redirect_problem(response: Response) -> str:
    """Why a redirect was not followed: Scrapy follows only http(s) ones, and lets the others
    through as if the 3xx were an error of its own."""
    status = f"HTTP {response.status}"
    location = (response.headers.get(b"Location") or b"").decode("latin-1").strip()
    if not location:
        return f"{status} redirect without a Location header"
    shown = location if len(location) <= 200 else location[:200] + "..."
    try:
        target = urlsplit(urljoin(response.url, location))
    except ValueError:
        return f"{status} redirect to a malformed URL ({shown!r})"
    if target.scheme.lower() not in ("http", "https"):
        return f"{status} redirect to a non-http(s) URL ({shown!r}), not followed"
    return status


def _cause_of_type(error: BaseException, wanted: type[T]) -> T | None:
    """``error`` or the first exception in its cause/context chain of type ``wanted``."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, wanted):
            return current
        seen.add(id(current))
        inner = getattr(current, "reasons", None)  # Twisted's ResponseNeverReceived & co.
        if inner:
            for reason in inner:
                found = _cause_of_type(getattr(reason, "value", reason), wanted)
                if found is not None:
                    return found
        current = current.__cause__ or current.__context__
    return None


def _tls_failure(error: BaseException) -> str | None:
    """What OpenSSL said when a TLS handshake failed (e.g. "certificate verify failed")."""
    from OpenSSL import SSL

    ssl_error = _cause_of_type(error, SSL.Error)
    if ssl_error is None:
        return None
    reasons = [
        str(entry[-1])
        for entry in (ssl_error.args[0] if ssl_error.args else ())
        if isinstance(entry, tuple) and entry
    ]
    return "; ".join(dict.fromkeys(reasons)) or "handshake failed"


def _header(response: Response, name: bytes) -> str | None:
    value = response.headers.get(name)
    if not value:
        return None
    text = value.decode("latin-1").strip()
    return text[:250] or None  # a hostile server must not fill the database


def _fetched(response: Response, url: str, at: datetime | None = None) -> FetchIn:
    """Validators and body hash of one response, written to ``url_state`` once it is handled."""
    return FetchIn(
        url=url,
        status=response.status,
        etag=_header(response, b"ETag"),
        last_modified=_header(response, b"Last-Modified"),
        content_hash=hashlib.sha256(response.body).hexdigest(),
        fetched_at=at or datetime.now(UTC),
    )


def _not_modified(url: str) -> FetchIn:
    return FetchIn(url, 304, fetched_at=datetime.now(UTC))


def link_problem(url: str) -> str | None:
    """Why a link found on a page cannot be requested (Scrapy's Request would raise), or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises on a port out of range
        safe_url_string(url)
    except ValueError as error:
        return " ".join(str(error).split())[:200] or "malformed URL"
    if not parts.hostname:
        return "no host"
    return None


def _conditional_headers(state: UrlState | None) -> dict[str, str]:
    headers: dict[str, str] = {}
    if state is not None:
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
    return headers


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
        self._recheck_after = timedelta(seconds=APTWATCH_RECHECK_AFTER)
        self._session_factory: sessionmaker[Session] | None = None
        self._engine: Any = None
        # one thread for every database call the spider makes: SQLite sees one writer from here
        self._db_executor: ThreadPoolExecutor | None = None
        # url_state of each source URL as the crawl began (for conditional GETs)
        self._source_states: dict[str, UrlState] = {}
        # per source: what its feed/listing/sitemap requests returned, written when the crawl ends
        self._source_fetches: dict[str, list[FetchIn]] = {}
        self._over_limit: set[str] = set()
        # article URL -> what its response said, written once the item pipelines stored it
        self._pending_articles: dict[str, FetchIn] = {}
        # article fetch states waiting to be written, in batches: one transaction per article
        # would compete with the store pipeline for SQLite's write lock
        self._unsaved_articles: list[FetchIn] = []
        # per source: requests made and articles handed to the pipelines, not yet through; a
        # source whose count falls back to zero has finished (even if its feed answered 304)
        self._open_work: dict[str, int] = {}
        self.finished_sources: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> FeedsSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider._configure(crawler.settings)
        crawler.signals.connect(spider._on_item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(spider._on_item_done, signal=signals.item_dropped)
        crawler.signals.connect(spider._on_item_done, signal=signals.item_error)
        crawler.signals.connect(spider._on_request_dropped, signal=signals.request_dropped)
        return spider

    def _configure(self, settings: BaseSettings) -> None:
        self.sources_file = Path(
            self._sources_file_arg or settings.get("APTWATCH_SOURCES_FILE", "config/sources.yaml")
        )
        self.database_url = self._database_url_arg or settings.get("APTWATCH_DATABASE_URL") or ""
        self._max_entries = settings.getint("APTWATCH_MAX_ENTRIES_PER_SOURCE", 100)
        recheck = settings.getint("APTWATCH_RECHECK_AFTER", APTWATCH_RECHECK_AFTER)
        if recheck < 0:
            raise ValueError("APTWATCH_RECHECK_AFTER must be a number of seconds >= 0")
        self._recheck_after = timedelta(seconds=recheck)
        # a bad sources file fails here, before any request is made
        self.sources = enabled_sources(self.sources_file)
        # the scheduler crawls only the sources that are due
        only = set(settings.getlist("APTWATCH_SOURCE_NAMES"))
        if only:
            self.sources = [source for source in self.sources if source.name in only]
        self._sources_by_name = {source.name: source for source in self.sources}
        self.source_results = {
            source.name: SourceResult(source.name, source.kind) for source in self.sources
        }
        # the DNS resolver lets only these names resolve to private addresses
        trusted_hosts.add(host for source in self.sources for host in source.private_hosts)

    # --- bookkeeping -------------------------------------------------------------------------

    def count(self, source_name: str, key: str, amount: int = 1) -> None:
        """Add to a per-source counter and to the matching ``APTWATCH_source/...`` stat."""
        result = self.source_results[source_name]
        setattr(result, key, getattr(result, key) + amount)
        self.crawler.stats.inc_value(f"APTWATCH_source/{source_name}/{key}", amount)

    def stat(self, source_name: str, key: str, amount: int = 1) -> None:
        """A per-source stat without a field on SourceResult."""
        self.crawler.stats.inc_value(f"APTWATCH_source/{source_name}/{key}", amount)

    def record_error(self, source_name: str, message: str) -> None:
        line = " ".join(message.split())
        self.source_results[source_name].errors.append(line)
        self.crawler.stats.inc_value(f"APTWATCH_source/{source_name}/errors")
        self.crawler.stats.inc_value("APTWATCH_errors")
        logger.warning("source %r: %s", source_name, line)

    def give_up(self, source_name: str, message: str) -> None:
        self.source_results[source_name].given_up = True
        self.record_error(source_name, message)

    def _work_started(self, source_name: str) -> None:
        self._open_work[source_name] = self._open_work.get(source_name, 0) + 1

    def _work_done(self, source_name: str | None) -> None:
        """One request answered (callback or errback through, or dropped) or one article through
        the pipelines; the last one finishes the source."""
        if source_name not in self._open_work:
            return
        self._open_work[source_name] -= 1
        if self._open_work[source_name] == 0:
            self.finished_sources.add(source_name)
            self.stat(source_name, "finished")

    def _on_request_dropped(self, request: Request) -> None:
        self._work_done(request.meta.get(SOURCE_META_KEY))  # e.g. a duplicate article URL

    def _source_of(self, request: Request) -> Source:
        return self._sources_by_name[request.meta[SOURCE_META_KEY]]

    # --- database (off the reactor, on the spider's one database thread) ----------------------

    async def _in_db_thread(self, function: Callable[..., T], *args: Any) -> T:
        assert self._db_executor is not None
        return await asyncio.get_running_loop().run_in_executor(self._db_executor, function, *args)

    def _open_database(self) -> None:
        from storage import make_engine, make_session_factory

        self._engine = make_engine(self.database_url)
        self._session_factory = make_session_factory(self._engine)

    async def _states_of(self, urls: Sequence[str]) -> dict[str, UrlState]:
        """The stored states of source URLs found during the crawl (a sitemap's children), kept
        with those of the sources' own URLs so an unchanged body is recognised too."""
        if self._session_factory is None or not urls:
            return {}
        try:
            states = await self._in_db_thread(self._load_states, urls)
        except Exception as error:  # the crawl goes on; these are fetched in full
            logger.warning("cannot read the state of %d sitemaps: %s", len(urls), error)
            return {}
        self._source_states.update(states)
        return states

    def _load_states(self, urls: Sequence[str]) -> dict[str, UrlState]:
        from storage import url_states

        assert self._session_factory is not None
        with self._session_factory() as session:
            return url_states(session, urls)

    def _article_states(self, urls: Sequence[str]) -> dict[str, tuple[bool, UrlState | None]]:
        """For each URL: whether an article is stored under it, and its url_state."""
        from storage import known_urls, url_states

        assert self._session_factory is not None
        with self._session_factory() as session:
            known = known_urls(session, urls)
            states = url_states(session, urls)
        return {url: (url in known, states.get(url)) for url in urls}

    def _save_fetches(self, fetches: Sequence[FetchIn]) -> None:
        from storage import record_fetches

        if self._session_factory is None or not fetches:
            return
        with self._session_factory() as session:
            record_fetches(session, fetches)
            session.commit()

    async def _save(self, fetches: Sequence[FetchIn], what: str) -> None:
        if self._session_factory is None:
            return
        try:
            await self._in_db_thread(self._save_fetches, fetches)
        except Exception as error:  # the next crawl only does more work than needed
            logger.warning("cannot record the fetch state of %s: %s", what, error)

    def _recheck_due(self, entry: FeedEntry, state: UrlState, now: datetime) -> str | None:
        """Why a known article is fetched again ("updated", "recheck"), or None to skip it."""
        last = state.last_fetched or state.last_seen
        if entry.updated is not None and entry.updated > last:
            return "updated"
        if now - last >= self._recheck_after:
            return "recheck"
        return None

    async def _plan_articles(
        self, source: Source, entries: Sequence[FeedEntry]
    ) -> list[tuple[FeedEntry, UrlState | None]]:
        """The entries to fetch, each with its url_state when it is a re-check of a known URL.

        No "newer than the last run" watermark: every entry is looked up by URL, so entries that
        share a timestamp with one already seen are never lost."""
        if self._session_factory is None or not entries:
            return [(entry, None) for entry in entries]
        try:
            known = await self._in_db_thread(self._article_states, [e.url for e in entries])
        except Exception as error:  # the store pipeline reports database trouble itself
            logger.warning("source %r: cannot check known URLs: %s", source.name, error)
            return [(entry, None) for entry in entries]
        now = datetime.now(UTC)
        planned: list[tuple[FeedEntry, UrlState | None]] = []
        for entry in entries:
            stored, state = known[entry.url]
            if state is None or state.last_status not in (200, 304):
                if stored:  # stored before fetch states were kept: nothing to compare with
                    self.stat(source.name, "known")
                else:
                    planned.append((entry, None))
                continue
            reason = self._recheck_due(entry, state, now)
            if reason is None:
                self.stat(source.name, "known")
            else:
                self.stat(source.name, f"refetch_{reason}")
                planned.append((entry, state))
        return planned

    async def _remember_article(self, fetch: FetchIn) -> None:
        self._unsaved_articles.append(fetch)
        if len(self._unsaved_articles) >= _STATE_BATCH_SIZE:
            batch, self._unsaved_articles = self._unsaved_articles, []
            await self._save(batch, f"{len(batch)} article URLs")

    async def closed(self, reason: str) -> None:
        try:
            batch, self._unsaved_articles = self._unsaved_articles, []
            await self._save(batch, f"{len(batch)} article URLs")
            await self._save_source_fetches()
        finally:
            if self._db_executor is not None:
                self._db_executor.shutdown(wait=True)
            if self._engine is not None:
                self._engine.dispose()

    async def _save_source_fetches(self) -> None:
        """Keep a source's validators only when everything it listed was handled: a source whose
        articles failed must be read in full next time, not answered with a 304."""
        fetches: list[FetchIn] = []
        for name, fetched in self._source_fetches.items():
            clean = not self.source_results[name].errors and name not in self._over_limit
            for fetch in fetched:
                if not clean and fetch.status != 304:
                    fetch = FetchIn(fetch.url, fetch.status, fetched_at=fetch.fetched_at)
                fetches.append(fetch)
        await self._save(fetches, "source URLs")

    async def _on_item_scraped(self, item: Any) -> None:
        if not isinstance(item, ArticlePage):
            return
        fetch = self._pending_articles.pop(item.url, None)
        self._work_done(item.source_name)
        if fetch is not None:
            await self._remember_article(fetch)

    def _on_item_done(self, item: Any) -> None:
        if isinstance(item, ArticlePage):
            self._work_done(item.source_name)

    # --- requests ------------------------------------------------------------------------------

    async def start(self) -> AsyncIterator[Any]:
        if self.database_url:
            self._db_executor = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="aptwatch-spider-db"
            )
            try:
                await self._in_db_thread(self._open_database)
                urls = [url for source in self.sources for url in source.urls]
                self._source_states = await self._in_db_thread(self._load_states, urls)
            except Exception as error:
                logger.warning("cannot open database to skip known articles: %s", error)
                self._session_factory = None
        # all made before the first is answered: a source of two URLs is not finished after one
        requests = [
            self._source_request(source, url, page=1, state=self._root_state(source, url))
            for source in self.sources
            for url in source.urls
        ]
        for request in requests:
            yield request

    def _root_state(self, source: Source, url: str) -> UrlState | None:
        """The state a source URL is asked for conditionally with. Not a sitemap's: a 304 for an
        unchanged sitemap index would leave its child sitemaps, which change, unread (an
        unchanged body is still recognised by its hash and costs no parse)."""
        return None if source.kind == "sitemap" else self._source_states.get(url)

    def _meta(self, source: Source, **extra: Any) -> dict[str, Any]:
        return {
            SOURCE_META_KEY: source.name,
            PRIVATE_NETLOCS_META_KEY: source.private_netlocs,
            **extra,
        }

    def _source_request(
        self, source: Source, url: str, page: int, state: UrlState | None = None
    ) -> Request:
        callbacks = {
            "feed": self.parse_feed,
            "listing": self.parse_listing,
            "sitemap": self.parse_sitemap,
        }
        headers = _conditional_headers(state)
        meta = self._meta(source, **{PAGE_META_KEY: page})
        self._work_started(source.name)
        if headers:
            meta["handle_httpstatus_list"] = [304]
        return Request(
            url,
            # two sources may share a URL (e.g. one feed, two names); each must get its response
            dont_filter=True,
            callback=callbacks[source.kind],
            errback=self.on_source_error,
            headers=headers or None,
            meta=meta,
        )

    def _article_request(
        self, source: Source, entry: FeedEntry, previous: UrlState | None = None
    ) -> Request:
        headers = _conditional_headers(previous)
        meta = self._meta(source)
        self._work_started(source.name)
        if headers:
            meta["handle_httpstatus_list"] = [304]
        return Request(
            entry.url,
            callback=self.parse_article,
            errback=self.on_article_error,
            cb_kwargs={"entry": entry, "previous": previous},
            headers=headers or None,
            meta=meta,
        )

    def _requestable(self, source: Source, found_on: str, url: str) -> bool:
        """Whether a link found on ``found_on`` (a feed, listing or sitemap) can be requested; a
        malformed one is skipped with one error on its source, and the page's other links are
        still followed. Every link a page yields goes through here before it becomes a Request."""
        problem = link_problem(url)
        if problem is None:
            return True
        shown = url if len(url) <= 200 else url[:200] + "..."
        self.record_error(
            source.name, f"{source.kind} {found_on}: skipped malformed link {shown!r} ({problem})"
        )
        return False

    async def _follow(
        self, source: Source, found_on: str, entries: Sequence[FeedEntry]
    ) -> AsyncIterator[Request]:
        self.count(source.name, "entries", len(entries))
        entries = [entry for entry in entries if self._requestable(source, found_on, entry.url)]
        room = max(0, self._max_entries - self._followed.get(source.name, 0))
        if len(entries) > room:
            self._over_limit.add(source.name)
            self.stat(source.name, "over_limit", len(entries) - room)
        chosen = list(_unique(entries))[:room]
        self._followed[source.name] = self._followed.get(source.name, 0) + len(chosen)
        for entry, previous in await self._plan_articles(source, chosen):
            yield self._article_request(source, entry, previous)

    def _source_unchanged(self, source: Source, response: Response) -> bool:
        """Record the response of a source URL; True when it need not be parsed again."""
        url = response.request.url if response.request is not None else response.url
        if response.status == 304:
            self._source_fetches.setdefault(source.name, []).append(_not_modified(url))
            self.stat(source.name, "not_modified")
            return True
        fetch = _fetched(response, url)
        self._source_fetches.setdefault(source.name, []).append(fetch)
        previous = self._source_states.get(url)
        # servers without ETag/Last-Modified still send the same bytes for an unchanged feed
        if previous is not None and previous.content_hash == fetch.content_hash:
            self.stat(source.name, "unchanged")
            return True
        return False

    # --- callbacks -----------------------------------------------------------------------------

    @_answers_request
    async def parse_feed(self, response: Response) -> AsyncIterator[Request]:
        source = self._source_of(response.request)  # type: ignore[arg-type]
        if self._source_unchanged(source, response):
            return
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
        async for request in self._follow(source, response.url, parsed.entries):
            yield request

    @_answers_request
    async def parse_listing(self, response: Response) -> AsyncIterator[Request]:
        source = self._source_of(response.request)  # type: ignore[arg-type]
        page = int(response.meta.get(PAGE_META_KEY, 1))
        if self._source_unchanged(source, response):
            return
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
        async for request in self._follow(source, response.url, [FeedEntry(url) for url in links]):
            yield request
        if source.next_selector and page < source.max_pages:
            for next_url in _selected_links(response, source.next_selector)[:1]:
                if self._requestable(source, response.url, next_url):
                    yield self._source_request(source, next_url, page + 1)

    @_answers_request
    async def parse_sitemap(self, response: Response) -> AsyncIterator[Request]:
        source = self._source_of(response.request)  # type: ignore[arg-type]
        page = int(response.meta.get(PAGE_META_KEY, 1))
        unchanged = self._source_unchanged(source, response)
        # a child sitemap is never an index (sitemaps.org), so an unchanged one has nothing new
        if response.status == 304 or (unchanged and page > 1):
            return
        body = response.body
        if body.startswith(_GZIP_MAGIC):
            try:
                max_size = int(response.meta.get("download_maxsize") or 0) or (
                    self.crawler.settings.getint("DOWNLOAD_MAXSIZE")
                )
                body = await asyncio.to_thread(gunzip, body, max_size=max_size)
            except Exception as error:
                self.record_error(source.name, f"sitemap {response.url}: bad gzip data ({error})")
                return
        if unchanged and _SITEMAP_INDEX not in body[:_SNIFF_BYTES]:
            return  # the same list of pages as last time
        try:
            content = await asyncio.to_thread(parse_sitemap, body, response.url)
        except FeedError as error:
            self.record_error(source.name, f"sitemap {response.url}: {error}")
            return
        # the newest max_pages children, each asked for conditionally: an index names the same
        # sitemaps for months while the newest of them fills up
        children = list(content.child_sitemaps[: source.max_pages])
        states = await self._states_of(children)
        for child in children:
            if self._requestable(source, response.url, child):
                yield self._source_request(source, child, page + 1, state=states.get(child))
        async for request in self._follow(source, response.url, content.entries):
            yield request

    @_answers_request
    async def parse_article(
        self, response: Response, entry: FeedEntry, previous: UrlState | None = None
    ) -> AsyncIterator[ArticlePage]:
        source = self._source_of(response.request)  # type: ignore[arg-type]
        if response.status == 304:
            self.stat(source.name, "not_modified")
            await self._remember_article(_not_modified(entry.url))
            return
        content_type = (response.headers.get(b"Content-Type") or b"").lower()
        if content_type and not content_type.startswith(_HTML_TYPES):
            kind = content_type.split(b";")[0].decode("latin-1")
            self.record_error(source.name, f"article {entry.url}: not an HTML page ({kind})")
            return
        if not response.body.strip():
            self.record_error(source.name, f"article {entry.url}: empty response body")
            return
        fetched_at = datetime.now(UTC)
        fetch = _fetched(response, entry.url, fetched_at)
        if previous is not None:
            if previous.content_hash == fetch.content_hash:
                self.stat(source.name, "unchanged")
                await self._remember_article(fetch)
                return
            # a changed page goes through analysis and storage again
            self.stat(source.name, "changed")
        self.count(source.name, "fetched")
        self._pending_articles[entry.url] = fetch
        self._work_started(source.name)  # until the item pipelines are through with it
        yield ArticlePage(
            url=entry.url,
            response_url=response.url,
            source_name=source.name,
            source_kind=source.kind,
            source_url=source.url,
            source_lang=source.lang,
            html=response.body,
            fetched_at=fetched_at,
            entry_title=entry.title,
            entry_published=entry.published,
            body_selector=source.extract.body_selector,
            date_selector=source.extract.date_selector,
        )

    # --- errbacks ------------------------------------------------------------------------------

    def on_source_error(self, failure: Failure) -> None:
        request: Request = failure.request  # type: ignore[attr-defined]
        source = self._source_of(request)
        if isinstance(failure.value, SourceGivenUp) or request.meta.get(GIVEN_UP_META_KEY):
            # said once, when the source was given up
            self.stat(source.name, "given_up_pages")
            self._work_done(source.name)
            return
        error = failure.value
        status = error.response.status if isinstance(error, HttpError) and error.response else None
        first_url = _requested_url(request)
        self._source_fetches.setdefault(source.name, []).append(
            FetchIn(first_url, status, fetched_at=datetime.now(UTC))
        )
        self.record_error(
            source.name, f"{source.kind} {_where(request)}: {describe_failure(failure)}"
        )
        self._work_done(source.name)

    def on_article_error(self, failure: Failure) -> None:
        request: Request = failure.request  # type: ignore[attr-defined]
        source = self._source_of(request)
        if isinstance(failure.value, IgnoreRequest) and str(failure.value) == ROBOTS_FORBIDDEN:
            # the site asked crawlers to stay away from this page: respected, not a failure
            self.stat(source.name, "robots_forbidden")
            logger.info("source %r: skipped %s (robots.txt)", source.name, request.url)
            self._work_done(source.name)
            return
        if isinstance(failure.value, SourceGivenUp) or request.meta.get(GIVEN_UP_META_KEY):
            # said once, when the source was given up
            self.stat(source.name, "given_up_pages")
            self._work_done(source.name)
            return
        self.record_error(source.name, f"article {_where(request)}: {describe_failure(failure)}")
        self._work_done(source.name)


def _requested_url(request: Request) -> str:
    """The URL the spider asked for, before any redirect."""
    chain = request.meta.get("redirect_urls")
    return str(chain[0]) if chain else request.url


def _where(request: Request) -> str:
    first = _requested_url(request)
    return first if first == request.url else f"{first} (redirected to {request.url})"


def _unique(entries: Iterable[FeedEntry]) -> Iterator[FeedEntry]:
    seen: set[str] = set()
    for entry in entries:
        if entry.url not in seen:
            seen.add(entry.url)
            yield entry


def _selected_links(response: TextResponse, selector: str) -> list[str]:
    """Absolute http(s) links from the nodes a CSS/XPath selector picks (or their <a> children)."""
    nodes = response.xpath(selector) if is_xpath(selector) else response.css(selector)
    try:
        base = get_base_url(response)  # the page's <base href>, if any
    except ValueError:  # a malformed one
        base = response.url
    links: list[str] = []
    for node in nodes:
        if isinstance(node.root, str):
            href: str | None = node.root
        else:
            href = node.attrib.get("href") or node.xpath(".//a/@href").get()
        if not href or not href.strip():
            continue
        url = absolute_http_url(href, base)
        if url is not None and url not in links:
            links.append(url)
    return links
