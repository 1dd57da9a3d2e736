"""A live progress line on the terminal while a crawl runs (only when stderr is a terminal)."""

from __future__ import annotations

import sys
from collections.abc import Collection
from typing import TYPE_CHECKING, Any, Self, TextIO

from scrapy import signals
from scrapy.exceptions import NotConfigured
from twisted.internet import task

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.spiders import Spider


class ProgressExtension:
    """Redraws one status line a second: sources finished / total, articles, attributions."""

    def __init__(self, crawler: Crawler, stream: TextIO, interval: float) -> None:
        self.crawler = crawler
        self.stream = stream
        self.interval = interval
        self.loop: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        if not crawler.settings.getbool("APTWATCH_PROGRESS"):
            raise NotConfigured  # a message would make Scrapy log a warning
        extension = cls(
            crawler, sys.stderr, crawler.settings.getfloat("APTWATCH_PROGRESS_INTERVAL", 1)
        )
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        return extension

    def spider_opened(self, spider: Spider) -> None:
        self.loop = task.LoopingCall(self.draw, spider)
        self.loop.start(self.interval, now=True)

    def spider_closed(self, spider: Spider) -> None:
        if self.loop is not None and self.loop.running:
            self.loop.stop()
        self.stream.write("\r\033[K")
        self.stream.flush()

    def draw(self, spider: Spider) -> None:
        line = progress_line(
            getattr(spider, "source_results", {}), getattr(spider, "finished_sources", ())
        )
        self.stream.write("\r\033[K" + line)
        self.stream.flush()


def progress_line(results: dict[str, Any], finished: Collection[str]) -> str:
    """``results``: the spider's SourceResult per source name; ``finished``: the names of the
    sources whose crawl is over, errors or not (a feed that answered 304 has no entries yet is
    done)."""
    done = sum(1 for name in results if name in finished)
    fetched = sum(r.fetched for r in results.values())
    new = sum(r.new_articles for r in results.values())
    attributions = sum(r.attributions for r in results.values())
    failing = sum(1 for r in results.values() if r.errors)
    return (
        f"sources {done}/{len(results)}  articles fetched {fetched}, new {new}  "
        f"attributions {attributions}" + (f"  sources with errors {failing}" if failing else "")
    )
