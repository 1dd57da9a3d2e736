"""Scrapy's log lines for items, made one line each.

Scrapy logs a dropped item as "Dropped: <reason>" followed by the item's repr, which for an
``ArticlePage`` is the whole page; the reason is already reported with the page's source, so the
drop itself is one line at INFO (under the CLI's default WARNING level it is not shown at all).
"""

from __future__ import annotations

import logging
from typing import Any

from scrapy.logformatter import LogFormatter, LogFormatterResult


def _url_of(item: Any) -> str:
    return str(getattr(item, "url", "") or type(item).__name__)


class OneLineLogFormatter(LogFormatter):
    def dropped(
        self, item: Any, exception: BaseException, response: Any, spider: Any
    ) -> LogFormatterResult:
        return {
            "level": logging.INFO,
            "msg": "Dropped %(url)s: %(reason)s",
            "args": {"url": _url_of(item), "reason": " ".join(str(exception).split())[:300]},
        }

    def item_error(
        self, item: Any, exception: BaseException, response: Any, spider: Any
    ) -> LogFormatterResult:
        return {
            "level": logging.ERROR,
            "msg": "Error processing %(url)s",
            "args": {"url": _url_of(item)},
        }
