"""Incremental crawling against a local site whose feed and pages change between runs.

The site honours conditional GETs (ETag / If-None-Match, or Last-Modified / If-Modified-Since) the
way real servers do; each run is a real crawl in a child process into one SQLite database.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from sqlalchemy import text

from aptwatch.localsite import LocalSite, Response
from crawler.run import run_crawl
from storage import make_engine, make_session_factory, url_states
from storage.records import UrlState

# analysis (spaCy) is beside the point here and the slowest part of starting a crawl
FAST = {
    "AUTOTHROTTLE_ENABLED": False,
    "DOWNLOAD_DELAY": 0,
    "LOG_LEVEL": "WARNING",
    "APTWATCH_ANALYZE_ENABLED": False,
}
SAME_TIME = "Tue, 03 Mar 2026 09:15:00 GMT"


@dataclass
class Page:
    """A resource served with an ETag derived from its body; a matching If-None-Match gets 304.

    With ``last_modified`` set it sends that date as Last-Modified and no ETag instead, and an
    If-Modified-Since equal to it gets 304 (nginx's default, ``if_modified_since exact``).
    """

    body: bytes
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    conditional_requests: list[str] = field(default_factory=list)
    last_modified: str | None = None
    # per request, in order: the If-Modified-Since it carried (None without one), and the status
    # it was answered with
    if_modified_since: list[str | None] = field(default_factory=list)
    answered: list[int] = field(default_factory=list)

    def __call__(self, handler: BaseHTTPRequestHandler) -> Response:
        response = self._respond(handler)
        self.answered.append(response.status)
        return response

    def _respond(self, handler: BaseHTTPRequestHandler) -> Response:
        etag = '"' + hashlib.sha1(self.body).hexdigest()[:16] + '"'
        asked = handler.headers.get("If-None-Match")
        if asked:
            self.conditional_requests.append(asked)
        since = handler.headers.get("If-Modified-Since")
        self.if_modified_since.append(since)
        if self.status != 200:
            return Response(self.status, b"unavailable")
        if self.last_modified is not None:
            validator = {"Last-Modified": self.last_modified}
            if since == self.last_modified:
                return Response(304, b"", validator)
            return Response(200, self.body, {"Content-Type": self.content_type, **validator})
        if asked == etag:
            return Response(304, b"", {"ETag": etag})
        return Response(200, self.body, {"Content-Type": self.content_type, "ETag": etag})


def article(title: str, sentence: str) -> bytes:
    return (
        f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
        f"<p>{sentence} Officials gave more details on Tuesday about the incident, which "
        "affected several agencies and is still being investigated by national authorities.</p>"
        "</article></body></html>"
    ).encode()


def feed(site: LocalSite, *items: tuple[str, str, str | None]) -> bytes:
    """RSS items (path, pubDate, atom:updated or None)."""
    entries = []
    for path, published, updated in items:
        extra = f"<atom:updated>{updated}</atom:updated>" if updated else ""
        entries.append(
            f"<item><title>{path}</title><link>{site.url(path)}</link>"
            f"<pubDate>{published}</pubDate>{extra}</item>"
        )
    return (
        '<?xml version="1.0"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">'
        f"<channel><title>t</title>{''.join(entries)}</channel></rss>"
    ).encode()


def scalar_rows(db_url: str, sql: str) -> list[object]:
    engine = make_engine(db_url)
    try:
        with engine.begin() as connection:
            return [row[0] for row in connection.execute(text(sql))]
    finally:
        engine.dispose()


def stored_states(db_url: str, *urls: str) -> dict[str, UrlState]:
    """What the crawler keeps about each URL, read through the storage API."""
    engine = make_engine(db_url)
    try:
        with make_session_factory(engine)() as session:
            return url_states(session, urls)
    finally:
        engine.dispose()


def test_conditional_gets_same_timestamps_updates_and_rechecks(
    tmp_path: Path, local_site: LocalSite
) -> None:
    site = local_site
    pages = {
        "/a.html": Page(article("Alpha", "APT28 was behind the attack on the ministry.")),
        "/b.html": Page(article("Bravo", "A second story published at the very same minute.")),
        "/c.html": Page(article("Charlie", "An older story about ransomware at a hospital.")),
        "/flaky.html": Page(article("Flaky", "This page fails on the first crawl."), status=500),
    }
    for path, page in pages.items():
        site.routes[path] = page
    news = Page(
        feed(
            site, ("/a.html", SAME_TIME, None), ("/c.html", "Mon, 02 Mar 2026 08:00:00 GMT", None)
        ),
        content_type="application/rss+xml",
    )
    flaky_feed = Page(feed(site, ("/flaky.html", SAME_TIME, None)), "application/rss+xml")
    site.routes["/news.rss"] = news
    site.routes["/flaky.rss"] = flaky_feed
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        f"""sources:
  - {{name: News, kind: feed, url: '{site.url("news.rss")}', allow_private_network: true}}
  - {{name: Flaky, kind: feed, url: '{site.url("flaky.rss")}', allow_private_network: true}}
""",
        encoding="utf-8",
    )
    db_url = f"sqlite:///{tmp_path / 'db.sqlite'}"

    first = run_crawl(sources, db_url, settings=FAST)

    assert first.source("News").new_articles == 2
    assert first.source("Flaky").errors == (f"article {site.url('flaky.html')}: HTTP 500",)

    # --- nothing changed: one conditional request per feed that was fully handled, no parse
    pages["/flaky.html"].status = 200
    second = run_crawl(sources, db_url, settings=FAST)

    assert news.conditional_requests and second.stats["APTWATCH_source/News/not_modified"] == 1
    assert site.count("/news.rss") == 2  # one request per run
    assert second.source("News").entries == 0  # a 304 is not parsed
    assert site.count("/a.html") == site.count("/c.html") == 1
    # the flaky feed's validators were not kept (an article failed), so it was read again in full
    assert flaky_feed.conditional_requests == []
    assert second.source("Flaky").new_articles == 1 and site.count("/flaky.html") == 2

    # --- a new entry shares the first one's timestamp; the first is marked updated; a third has
    # not been looked at for 8 days (the stored fetch time is moved back, not the clock)
    later = datetime.now(UTC) + timedelta(minutes=1)
    news.body = feed(
        site,
        ("/a.html", SAME_TIME, later.strftime("%Y-%m-%dT%H:%M:%SZ")),
        ("/b.html", SAME_TIME, None),
        ("/c.html", "Mon, 02 Mar 2026 08:00:00 GMT", None),
    )
    eight_days_ago = (datetime.now(UTC) - timedelta(days=8)).strftime("%Y-%m-%d %H:%M:%S")
    engine = make_engine(db_url)
    with engine.begin() as connection:
        updated = connection.execute(
            text("UPDATE url_state SET last_fetched = :when WHERE url = :url"),
            {"when": eight_days_ago, "url": site.url("c.html")},
        )
        assert updated.rowcount == 1
    engine.dispose()
    pages["/c.html"].body = article("Charlie", "A corrected story: APT29 hacked the hospital.")

    third = run_crawl(sources, db_url, settings=FAST)

    stats = third.stats
    assert site.count("/b.html") == 1  # new, though no newer than an entry already seen
    assert site.count("/a.html") == 2 and pages["/a.html"].conditional_requests  # updated entry
    assert stats["APTWATCH_source/News/refetch_updated"] == 1
    assert stats["APTWATCH_source/News/not_modified"] == 1  # its page answered 304
    assert site.count("/c.html") == 2 and stats["APTWATCH_source/News/refetch_recheck"] == 1
    assert stats["APTWATCH_source/News/changed"] == 1  # went through the pipelines again
    assert third.source("News").fetched == 2  # b (new) and c (changed)
    urls = scalar_rows(db_url, "SELECT url FROM articles ORDER BY url")
    assert urls == [site.url(p) for p in ("a.html", "b.html", "c.html", "flaky.html")]

    # --- and a run over unchanged sources fetches no article at all
    before = len(site.requests)
    fourth = run_crawl(sources, db_url, settings=FAST)

    article_requests = [p for p in site.requests[before:] if p.endswith(".html")]
    assert article_requests == []
    assert fourth.stats["APTWATCH_source/News/not_modified"] == 1
    assert fourth.stats["APTWATCH_source/Flaky/not_modified"] == 1
    assert sum(s.fetched for s in fourth.sources) == 0 and fourth.ok


def test_last_modified_only_feed_is_polled_with_if_modified_since(
    tmp_path: Path, local_site: LocalSite
) -> None:
    site = local_site
    feed_date = "Wed, 04 Mar 2026 10:00:00 GMT"
    article_date = "Wed, 04 Mar 2026 09:30:00 GMT"
    story = Page(
        article("Delta", "APT28 was behind the attack on the ministry."),
        last_modified=article_date,
    )
    site.routes["/d.html"] = story
    news = Page(
        feed(site, ("/d.html", SAME_TIME, None)), "application/rss+xml", last_modified=feed_date
    )
    site.routes["/dated.rss"] = news
    feed_url, article_url = site.url("dated.rss"), site.url("d.html")
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        f"""sources:
  - {{name: Dated, kind: feed, url: '{feed_url}', allow_private_network: true}}
""",
        encoding="utf-8",
    )
    db_url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    # analysed (in the crawl process), so that a second analysis would store attributions again
    analysed = {**FAST, "APTWATCH_ANALYZE_ENABLED": True, "APTWATCH_WORKERS": 0}
    count_articles = "SELECT count(*) FROM articles"
    count_attributions = "SELECT count(*) FROM attributions"

    first = run_crawl(sources, db_url, settings=analysed)

    assert (first.source("Dated").new_articles, first.source("Dated").attributions) == (1, 1)
    assert (news.if_modified_since, news.answered) == ([None], [200])
    states = stored_states(db_url, feed_url, article_url)
    assert (states[feed_url].etag, states[feed_url].last_modified) == (None, feed_date)
    assert (states[article_url].etag, states[article_url].last_modified) == (None, article_date)
    assert scalar_rows(db_url, count_articles) == [1]
    assert scalar_rows(db_url, count_attributions) == [1]

    # --- nothing changed: one request carrying the stored date, a 304, and nothing else
    second = run_crawl(sources, db_url, settings=analysed)

    assert news.if_modified_since == [None, states[feed_url].last_modified]
    assert news.answered == [200, 304]
    assert news.conditional_requests == []  # no ETag was ever sent, so none is made up
    assert second.stats["APTWATCH_source/Dated/not_modified"] == 1
    dated = second.source("Dated")
    assert (dated.entries, dated.fetched, dated.new_articles, dated.errors) == (0, 0, 0, ())
    assert story.answered == [200]  # the article was not asked for again
    assert scalar_rows(db_url, count_articles) == [1]
    assert scalar_rows(db_url, count_attributions) == [1]
    after = stored_states(db_url, feed_url, article_url)
    # a 304 carries no validators of its own: the stored date is kept for the next poll
    assert (after[feed_url].last_status, after[feed_url].last_modified) == (304, feed_date)
    assert after[article_url].last_modified == article_date

    # --- the feed changes and marks the article updated: the article is asked for with its own
    # stored date, answers 304 and is neither parsed nor stored again
    new_feed_date = "Thu, 05 Mar 2026 07:00:00 GMT"
    later = (datetime.now(UTC) + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    news.body = feed(site, ("/d.html", SAME_TIME, later))
    news.last_modified = new_feed_date

    third = run_crawl(sources, db_url, settings=analysed)

    assert news.answered == [200, 304, 200]
    assert story.if_modified_since == [None, article_date]
    assert story.answered == [200, 304]
    assert third.stats["APTWATCH_source/Dated/refetch_updated"] == 1
    assert third.stats["APTWATCH_source/Dated/not_modified"] == 1  # the article's 304
    assert (third.source("Dated").fetched, third.source("Dated").new_articles) == (0, 0)
    assert scalar_rows(db_url, count_articles) == [1]
    assert scalar_rows(db_url, count_attributions) == [1]
    final = stored_states(db_url, feed_url, article_url)
    assert final[feed_url].last_modified == new_feed_date
    assert (final[article_url].last_status, final[article_url].last_modified) == (304, article_date)


ACCESS_DENIED_PAGE = (
    b"<html><head><title>Access denied</title></head><body><h1>Access denied</h1>"
    b"<p>You do not have permission to view this page.</p></body></html>"
)


def test_an_error_page_served_in_place_of_a_stored_article_does_not_replace_it(
    tmp_path: Path, local_site: LocalSite
) -> None:
    site = local_site
    long_article = article("Alpha", "APT28 was behind the attack on the ministry. " * 12)
    page = Page(long_article)
    site.routes["/a.html"] = page
    news = Page(feed(site, ("/a.html", SAME_TIME, None)), content_type="application/rss+xml")
    site.routes["/news.rss"] = news
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        f"sources:\n  - {{name: News, kind: feed, url: '{site.url('news.rss')}', "
        "allow_private_network: true}\n",
        encoding="utf-8",
    )
    db_url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    assert run_crawl(sources, db_url, settings=FAST).source("News").new_articles == 1
    stored_text = scalar_rows(db_url, "SELECT text FROM articles")

    # The page now answers 200 with an error page, and the feed marks the entry updated.
    page.body = ACCESS_DENIED_PAGE
    later = (datetime.now(UTC) + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    news.body = feed(site, ("/a.html", SAME_TIME, later))
    second = run_crawl(sources, db_url, settings=FAST)

    assert site.count("/a.html") == 2
    assert second.source("News").updated_articles == 0
    (error,) = second.source("News").errors
    assert error.startswith(f"article {site.url('a.html')}: page now much shorter")
    assert error.endswith("kept the stored version")
    assert scalar_rows(db_url, "SELECT title FROM articles") == ["Alpha"]
    assert scalar_rows(db_url, "SELECT text FROM articles") == stored_text


def test_a_source_whose_pages_stall_is_given_up_and_its_pages_come_next_crawl(
    tmp_path: Path, local_site: LocalSite
) -> None:
    """A host that answers its feed but lets every article page hang held the crawl (and every
    source crawled with it) for DOWNLOAD_TIMEOUT per page and again per retry: for 100 pages,
    past the hour APTWATCH_CRAWL_TIMEOUT allows."""
    site = local_site
    stalled = [f"/stalled-{n}.html" for n in range(12)]
    for path in stalled:
        site.routes[path] = lambda handler: Response(200, article("Late", "Too late."), delay=3)
    site.routes["/stalling.rss"] = Page(
        feed(site, *[(path, SAME_TIME, None) for path in stalled]), "application/rss+xml"
    )
    site.routes["/fine.html"] = Page(article("Fine", "APT28 was behind the attack."))
    # the same server under another name: a download slot of its own, as another site has
    other = site.base_url.replace("127.0.0.1", "localhost")
    site.routes["/fine.rss"] = Page(
        feed(site, ("/fine.html", SAME_TIME, None)).replace(site.base_url.encode(), other.encode()),
        "application/rss+xml",
    )
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        f"""sources:
  - {{name: Stalling, kind: feed, url: '{site.url("stalling.rss")}', allow_private_network: true}}
  - {{name: Fine, kind: feed, url: '{other}/fine.rss', allow_private_network: true}}
""",
        encoding="utf-8",
    )
    db_url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    # a delay between requests, as in production: without one, Scrapy (2.19) lets every queued
    # request of a site start at once, whatever CONCURRENT_REQUESTS_PER_DOMAIN says
    settings = {**FAST, "DOWNLOAD_TIMEOUT": 1, "DOWNLOAD_DELAY": 0.01}

    report = run_crawl(sources, db_url, settings=settings)

    errors = report.source("Stalling").errors
    assert "gave up after 3 downloads in a row timed out" in " ".join(errors)
    # no page was waited for after those three (each would have cost the timeout twice, and
    # failed with an "article ...: timed out" line of its own)
    assert len(errors) == 1, errors
    assert report.source("Fine").new_articles == 1  # the source crawled beside it is unaffected

    # the host answers again: the feed is read in full and the pages left are fetched
    for path in stalled:
        site.routes[path] = Page(article("On time", f"Page {path} about ransomware."))
    again = run_crawl(sources, db_url, settings=settings)

    assert again.source("Stalling").errors == ()
    assert again.source("Stalling").new_articles == 12
