"""Item pipelines: analyse each article page (extraction + nlp), then store it.

Neither runs on the reactor. Extraction and spaCy are CPU-bound: they run in a pool of
``APTWATCH_WORKERS`` worker processes (default: one per CPU), so a crawl uses every core; with
``APTWATCH_WORKERS = 0`` they run on one thread of the crawl process instead. Database calls block:
they run on one writer thread, so SQLite never sees concurrent writers from the same crawl.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from scrapy.exceptions import DropItem, NotConfigured

from crawler.extraction import ExtractionError, extract
from crawler.items import ArticlePage
from crawler.workers import (
    AnalysisPool,
    PageAnalysis,
    PageJob,
    WorkerCrashed,
    WorkersSettingError,
    analyse_page,
    build_nlp,
    default_workers,
)

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from spacy.language import Language
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from crawler.spiders.feeds import FeedsSpider
    from storage.records import StoreResult

logger = logging.getLogger(__name__)
T = TypeVar("T")


async def _run_on(executor: ThreadPoolExecutor, function: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(executor, function, *args)


def _feeds_spider(crawler: Crawler) -> FeedsSpider | None:
    spider = crawler.spider
    return spider if spider is not None and hasattr(spider, "source_results") else None  # type: ignore[return-value]


def _page_job(item: ArticlePage) -> PageJob:
    return PageJob(
        html=item.html,
        url=item.response_url,
        entry_title=item.entry_title,
        entry_published=item.entry_published,
        body_selector=item.body_selector,
        date_selector=item.date_selector,
    )


class AnalyzePipeline:
    """Fill ``item.analysis``: the extracted article (title, text, date...), its group mentions
    and attributions."""

    def __init__(
        self,
        crawler: Crawler,
        kb_path: str | None,
        workers: int,
        max_in_flight: int | None = None,
        exit_marker: str | None = None,
        *,
        page_timeout: float | None = None,
        hang_marker: str | None = None,
    ) -> None:
        self.crawler = crawler
        self.kb_path = kb_path
        self.workers = workers
        self.max_in_flight = max_in_flight
        self.exit_marker = exit_marker
        self.page_timeout = page_timeout
        self.hang_marker = hang_marker
        self._nlp: Language | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._pool: AnalysisPool | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> AnalyzePipeline:
        settings = crawler.settings
        if not settings.getbool("APTWATCH_ANALYZE_ENABLED", True):
            raise NotConfigured("APTWATCH_ANALYZE_ENABLED is off")
        workers_setting = settings.get("APTWATCH_WORKERS")
        try:
            workers = default_workers() if workers_setting in (None, "") else int(workers_setting)
        except (TypeError, ValueError):
            raise WorkersSettingError(
                f"APTWATCH_WORKERS must be a whole number, not {workers_setting!r}"
            ) from None
        if workers < 0:
            raise WorkersSettingError(
                f"APTWATCH_WORKERS must be 0 (analyse in the crawl process) or more, not {workers}"
            )
        timeout_setting = settings.get("APTWATCH_ANALYSIS_TIMEOUT")
        try:
            page_timeout = float(timeout_setting) if timeout_setting not in (None, "") else 0.0
        except (TypeError, ValueError):
            raise WorkersSettingError(
                f"APTWATCH_ANALYSIS_TIMEOUT must be a number of seconds, not {timeout_setting!r}"
            ) from None
        if page_timeout < 0:
            raise WorkersSettingError(
                f"APTWATCH_ANALYSIS_TIMEOUT must be 0 (no limit) or more, not {page_timeout:g}"
            )
        return cls(
            crawler,
            settings.get("APTWATCH_NLP_KB_PATH"),
            workers,
            settings.getint("APTWATCH_WORKERS_MAX_IN_FLIGHT", 0) or None,
            settings.get("APTWATCH_TEST_WORKER_EXIT_MARKER") or None,
            page_timeout=page_timeout or None,
            hang_marker=settings.get("APTWATCH_TEST_WORKER_HANG_MARKER") or None,
        )

    async def open_spider(self) -> None:
        if self.crawler.stats is not None:
            self.crawler.stats.set_value("APTWATCH_analysis_workers", self.workers)
        if self.workers > 0:
            self._pool = AnalysisPool(
                self.workers,
                self.kb_path,
                max_in_flight=self.max_in_flight,
                page_timeout=self.page_timeout,
                exit_marker=self.exit_marker,
                hang_marker=self.hang_marker,
            )
            return  # workers start with the first article: a crawl with nothing new needs none
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aptwatch-analyze")
        # built once per crawl: loading the gazetteer is the expensive part
        self._nlp = await _run_on(self._executor, build_nlp, self.kb_path)

    async def close_spider(self) -> None:
        if self._pool is not None:
            crashes, startup = self._pool.crashes, self._pool.startup_seconds
            await self._pool.close()
            if self.crawler.stats is not None:
                if crashes:
                    self.crawler.stats.set_value("APTWATCH_worker_pool_restarts", crashes)
                if startup is not None:
                    self.crawler.stats.set_value(
                        "APTWATCH_analysis_startup_seconds", round(startup, 3)
                    )
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    async def process_item(self, item: Any) -> Any:
        if not isinstance(item, ArticlePage):
            return item
        try:
            item.analysis = await self._analyse(item)
        except Exception as error:
            # one odd page must not cost the rest of the crawl; it is reported with its source
            problem = " ".join(str(error).split())[:300] or type(error).__name__
            if not isinstance(error, ExtractionError | WorkerCrashed):
                logger.error("analysis of %s failed", item.url, exc_info=error)
                problem = f"analysis failed ({type(error).__name__}: {problem})"
            spider = _feeds_spider(self.crawler)
            if spider is not None:
                spider.record_error(item.source_name, f"article {item.url}: {problem}")
            raise DropItem(f"cannot analyse {item.url}: {problem}") from error
        return item

    async def _analyse(self, item: ArticlePage) -> PageAnalysis:
        if self._pool is not None:
            return await self._pool.analyse(_page_job(item))
        assert self._executor is not None and self._nlp is not None
        return await _run_on(self._executor, analyse_page, self._nlp, _page_job(item))


class StorePipeline:
    """Store each article with its mentions and attributions, one transaction per article."""

    def __init__(self, crawler: Crawler, database_url: str) -> None:
        self.crawler = crawler
        self.database_url = database_url
        self._engine: Engine | None = None
        self._session_factory: sessionmaker[Session] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._sources_stored: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        url = crawler.settings.get("APTWATCH_DATABASE_URL")
        if not url:
            raise NotConfigured("APTWATCH_DATABASE_URL is empty")
        return cls(crawler, url)

    async def open_spider(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aptwatch-store")
        await _run_on(self._executor, self._open_database)

    def _open_database(self) -> None:
        from storage import make_engine, make_session_factory, upgrade_database

        upgrade_database(self.database_url)
        self._engine = make_engine(self.database_url)
        self._session_factory = make_session_factory(self._engine)

    async def close_spider(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        if self._engine is not None:
            self._engine.dispose()

    async def process_item(self, item: Any) -> Any:
        if not isinstance(item, ArticlePage):
            return item
        assert self._executor is not None
        spider = _feeds_spider(self.crawler)
        try:
            result, attributions = await _run_on(self._executor, self._store, item)
        except Exception as error:
            from storage.errors import ShrunkArticleError

            message = " ".join(str(error).split())[:300] or type(error).__name__
            # A shrunk page was refused on purpose (likely an error page): the stored article
            # stays, and dropping the item leaves its URL state alone so the page is fetched again.
            what = "" if isinstance(error, ShrunkArticleError) else "cannot store: "
            if spider is not None:
                spider.record_error(item.source_name, f"article {item.url}: {what}{message}")
            raise DropItem(f"cannot store {item.url}: {message}") from error
        if spider is not None and (result.created or result.updated):
            spider.count(item.source_name, "new_articles" if result.created else "updated_articles")
            spider.count(item.source_name, "attributions", attributions)
        return item

    def _store(self, item: ArticlePage) -> tuple[StoreResult, int]:
        from storage import ensure_source, store_article
        from storage.records import ALERTING_STANCES, ArticleIn

        assert self._session_factory is not None
        # without the analyse pipeline (switched off) articles are still stored, unanalysed
        analysis = item.analysis
        extracted = (
            analysis.extracted
            if analysis
            else extract(
                item.html,
                item.response_url,
                body_selector=item.body_selector,
                date_selector=item.date_selector,
                feed_published=item.entry_published,
            )
        )
        article = ArticleIn(
            url=item.url,
            canonical_url=extracted.canonical_url or item.response_url,
            source_name=item.source_name,
            title=extracted.title or item.entry_title,
            text=extracted.text,
            published=extracted.published or item.entry_published,
            authors=extracted.authors,
            lang=extracted.lang or item.source_lang,
            fetched_at=item.fetched_at,
        )
        mentions = analysis.mentions if analysis else ()
        attributions = analysis.attributions if analysis else ()
        with self._session_factory() as session:
            # remembered only once committed: a rolled-back first article takes its source along
            if item.source_name not in self._sources_stored:
                ensure_source(session, item.source_name, item.source_kind, item.source_url)
            # A duplicate's URL is remembered by the spider, which records every fetch once the
            # pipelines are done with it, so the next crawl does not download it again.
            result = store_article(
                session, article, mentions, attributions, analysis.identity if analysis else None
            )
            # article, attributions and their alert outbox rows become visible together
            session.commit()
        self._sources_stored.add(item.source_name)
        claimed = sum(1 for a in attributions if a.stance in ALERTING_STANCES)
        return result, claimed
