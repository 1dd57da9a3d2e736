"""What the feeds spider hands to the item pipelines."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crawler.workers import PageAnalysis


@dataclass
class ArticlePage:
    """One fetched article page plus what the feed said about it.

    ``url`` is the link as the feed listed it (what ``is_known_url`` is asked about next time);
    ``response_url`` is where redirects ended. The analyse pipeline fills ``analysis``.
    """

    url: str
    response_url: str
    source_name: str
    source_kind: str
    source_url: str
    source_lang: str
    html: bytes = field(repr=False)
    fetched_at: datetime
    entry_title: str | None = None
    entry_published: datetime | None = None
    body_selector: str | None = None
    date_selector: str | None = None
    analysis: PageAnalysis | None = field(default=None, repr=False)


@dataclass
class SourceResult:
    """What one crawl did for one source; mutated by the spider and the store pipeline."""

    name: str
    kind: str
    entries: int = 0
    fetched: int = 0
    new_articles: int = 0
    updated_articles: int = 0  # known articles whose text changed and were analysed again
    attributions: int = 0
    errors: list[str] = field(default_factory=list)
    given_up: bool = False  # its downloads kept timing out: its pages left wait for next time
