"""End-to-end crawls of the test site (tests/site) served on 127.0.0.1, into a tmp SQLite DB."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from twisted.python.failure import Failure

from aptwatch.commands import print_report
from aptwatch.localsite import LocalSite, Response, serve
from crawler.items import SourceResult
from crawler.progress import progress_line
from crawler.run import (
    CrawlError,
    CrawlReport,
    SourceReport,
    format_report,
    format_report_lines,
    run_crawl,
)
from crawler.sources import SourcesError
from crawler.spiders.feeds import describe_failure
from storage import make_engine

SITE = Path(__file__).resolve().parent / "site"
REPO_ROOT = Path(__file__).resolve().parents[1]
# The polite production delays would only make the suite slow against a local server, and the
# worker pool has its own tests (test_pipelines.py): here it would only add start-up time.
FAST = {
    "AUTOTHROTTLE_ENABLED": False,
    "DOWNLOAD_DELAY": 0,
    "LOG_LEVEL": "WARNING",
    "APTWATCH_WORKERS": 0,
}
FAST_CLI_SETTINGS = ["-s", "AUTOTHROTTLE_ENABLED=0", "-s", "DOWNLOAD_DELAY=0"]
ARTICLE_PATHS = [
    "/articles/apt28-attribution.html",
    "/articles/passing-mention.html",
    "/articles/negated.html",
]


@pytest.fixture
def test_site(tmp_path: Path) -> Iterator[LocalSite]:
    root = tmp_path / "site"
    shutil.copytree(SITE, root)
    with serve(root) as site:
        site.routes["/feeds/server-error.rss"] = lambda handler: Response(500, b"oops")
        yield site


def write_sources(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text("sources:\n" + body, encoding="utf-8")
    return path


def rows(db_url: str, sql: str) -> list[dict[str, object]]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(text(sql))]
    finally:
        engine.dispose()


def test_crawl_stores_articles_reports_per_source_and_skips_known_urls(
    tmp_path: Path, test_site: LocalSite
) -> None:
    sources = write_sources(
        tmp_path,
        f"""
  - name: Example News
    kind: feed
    urls: ["{test_site.url("feeds/security.rss")}", "{test_site.url("feeds/research.atom")}"]
    allow_private_network: true
  - name: Broken Feed
    kind: feed
    url: {test_site.url("feeds/broken.rss")}
    allow_private_network: true
  - name: Failing Server
    kind: feed
    url: {test_site.url("feeds/server-error.rss")}
    allow_private_network: true
  - name: Vanished Host
    kind: feed
    url: http://aptwatch-test.invalid/feed.xml
  - name: Not Allowed Private
    kind: feed
    url: {test_site.url("feeds/security.rss?copy=1")}
  - name: Switched Off
    kind: feed
    url: {test_site.url("feeds/never.rss")}
    enabled: false
""",
    )
    db_url = f"sqlite:///{tmp_path / 'aptwatch.db'}"

    report = run_crawl(sources, db_url, settings=FAST)

    assert [s.name for s in report.sources] == [
        "Example News",
        "Broken Feed",
        "Failing Server",
        "Vanished Host",
        "Not Allowed Private",
    ]
    news = report.source("Example News")
    # 3 RSS entries with links (one under /private/, which robots.txt disallows) + 1 Atom entry
    assert (news.entries, news.fetched, news.new_articles) == (4, 3, 3)
    assert news.attributions == 1  # APT28 asserted; the passing mention and the denial are not
    assert news.errors == ()
    assert test_site.count("/private/internal-memo.html") == 0
    for path in ARTICLE_PATHS:
        assert test_site.count(path) == 1

    broken = report.source("Broken Feed")
    assert len(broken.errors) == 1 and "malformed feed" in broken.errors[0]
    assert report.source("Failing Server").errors == (
        f"feed {test_site.url('feeds/server-error.rss')}: HTTP 500",
    )
    assert report.source("Vanished Host").errors == (
        "feed http://aptwatch-test.invalid/feed.xml: DNS lookup failed (host not found)",
    )
    private = report.source("Not Allowed Private")
    assert len(private.errors) == 1
    assert "127.0.0.1 is not a public address" in private.errors[0]
    assert "allow_private_network" in private.errors[0]
    assert test_site.count("/feeds/never.rss") == 0
    assert not report.ok and not report.all_failed
    assert report.stats["APTWATCH_source/Failing Server/errors"] == 1
    # every source, failed or not, is finished (what the live progress line counts as done)
    for source in report.sources:
        assert report.stats.get(f"APTWATCH_source/{source.name}/finished") == 1, source.name

    stored = {
        row["url"]: row
        for row in rows(
            db_url, "SELECT url, canonical_url, title, published, authors, lang FROM articles"
        )
    }
    apt28 = stored[test_site.url("articles/apt28-attribution.html")]
    assert apt28["title"] == "Germany blames APT28 for the attack on the SPD"
    assert apt28["canonical_url"] == test_site.url("news/2026/germany-blames-apt28")
    assert json.loads(str(apt28["authors"])) == ["Jane Example", "Max Muster"]
    assert apt28["lang"] == "en"
    published = datetime.fromisoformat(str(apt28["published"]))
    published = published if published.tzinfo else published.replace(tzinfo=UTC)
    assert published == datetime(2026, 3, 3, 8, 15, tzinfo=UTC)
    assert len(stored) == 3
    stances = rows(db_url, "SELECT group_name, stance, attributed_by FROM attributions")
    assert {(r["group_name"], r["stance"]) for r in stances} == {
        ("APT28", "asserted"),
        ("APT28", "negated"),
    }

    again = run_crawl(sources, db_url, settings=FAST)

    news_again = again.source("Example News")
    # the feeds came back byte for byte the same (no validators on this site): not even parsed
    assert (news_again.entries, news_again.fetched, news_again.new_articles) == (0, 0, 0)
    assert again.stats["APTWATCH_source/Example News/unchanged"] == 2
    # no entries and no errors, yet done: an unchanged re-crawl must not show "sources 4/5"
    assert again.stats.get("APTWATCH_source/Example News/finished") == 1
    # the broken feed is read again in full: its errors kept its state from being remembered
    assert len(again.source("Broken Feed").errors) == 1
    for path in ARTICLE_PATHS:
        assert test_site.count(path) == 1, f"{path} fetched again"
    assert len(rows(db_url, "SELECT id FROM articles")) == 3


def mirror_page(handler: object) -> Response:
    body = b'<html><body><a class="m" href="/articles/negated.html?from=mirror">same</a></body>'
    return Response(200, body, {"Content-Type": "text/html; charset=utf-8"})


def test_listing_pagination_sitemap_and_duplicates(tmp_path: Path, test_site: LocalSite) -> None:
    test_site.routes["/mirror.html"] = mirror_page
    sources = write_sources(
        tmp_path,
        f"""
  - name: Press Office
    kind: listing
    url: {test_site.url("feeds/listing.html")}
    link_selector: "ul.press h3 a"
    next_selector: "a.next"
    max_pages: 2
    allow_private_network: true
  - name: Site Map
    kind: sitemap
    url: {test_site.url("feeds/sitemap.xml")}
    allow_private_network: true
  - name: Empty Listing
    kind: listing
    url: {test_site.url("feeds/listing-2.html")}
    link_selector: "div.nothing-here a"
    allow_private_network: true
  - name: Mirror
    kind: listing
    url: {test_site.url("mirror.html")}
    link_selector: "a.m"
    allow_private_network: true
""",
    )
    db_url = f"sqlite:///{tmp_path / 'aptwatch.db'}"

    report = run_crawl(sources, db_url, settings=FAST)

    press = report.source("Press Office")
    assert press.entries == 3  # two links on page 1, one on page 2 (fragment stripped)
    assert test_site.count("/feeds/listing-2.html") == 2  # page 2 of Press Office + Empty Listing
    assert report.source("Site Map").entries == 2
    empty = report.source("Empty Listing")
    assert empty.failed and "link_selector matched no links" in empty.errors[0]
    # each article is fetched once even though two sources list it...
    for path in ["/articles/apt28-attribution.html", "/articles/passing-mention.html"]:
        assert test_site.count(path) == 1
    # ...and the mirror's copy under another URL is fetched, but stored once (whichever came first)
    assert test_site.count("/articles/negated.html") == 2
    mirror = report.source("Mirror")
    assert (mirror.fetched, mirror.errors) == (1, ())
    assert len(rows(db_url, "SELECT id FROM articles")) == 3
    assert sum(source.new_articles for source in report.sources) == 3

    again = run_crawl(sources, db_url, settings=FAST)

    assert again.source("Mirror").fetched == 0  # the duplicate's URL is remembered too
    assert sum(source.fetched for source in again.sources) == 0
    assert test_site.count("/articles/negated.html") == 2


def test_bad_sources_file_fails_before_any_request(tmp_path: Path, test_site: LocalSite) -> None:
    sources = write_sources(
        tmp_path,
        f"""
  - name: Fine
    kind: feed
    url: {test_site.url("feeds/security.rss")}
  - name: Typo
    kind: feed
    ulr: {test_site.url("feeds/research.atom")}
""",
    )
    with pytest.raises(SourcesError, match=r"sources\.yaml: source 'Typo': field 'ulr'"):
        run_crawl(sources, f"sqlite:///{tmp_path / 'db.sqlite'}", settings=FAST)
    assert test_site.requests == []
    assert not (tmp_path / "db.sqlite").exists()


def test_scrapy_crawl_feeds_from_repo_root(tmp_path: Path, test_site: LocalSite) -> None:
    sources = write_sources(
        tmp_path,
        f"""
  - name: Research
    kind: feed
    url: {test_site.url("feeds/research.atom")}
    allow_private_network: true
""",
    )
    db_url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "APTWATCH_SOURCES_FILE": str(sources),
        "APTWATCH_DATABASE_URL": db_url,
    }
    completed = subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "feeds", *FAST_CLI_SETTINGS],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "'APTWATCH_source/Research/new_articles': 1" in completed.stderr
    titles = [r["title"] for r in rows(db_url, "SELECT title FROM articles")]
    assert titles == ["No evidence links the outage to APT28, officials say"]


def test_failure_descriptions_are_one_line() -> None:
    from scrapy import exceptions
    from twisted.internet.error import DNSLookupError, TimeoutError

    assert describe_failure(Failure(DNSLookupError("x"))) == "DNS lookup failed (host not found)"
    assert describe_failure(Failure(TimeoutError())) == "timed out"
    assert describe_failure(Failure(exceptions.DownloadTimeoutError("slow"))) == "timed out"
    assert describe_failure(Failure(ValueError("bad\nthing"))) == "ValueError: bad thing"


def test_format_report_table_and_errors() -> None:
    report = CrawlReport(
        sources=(
            SourceReport("Good", entries=10, fetched=4, new_articles=3, attributions=1),
            SourceReport("Down", errors=("feed https://down.example/rss: HTTP 503",)),
        )
    )
    lines = format_report(report).splitlines()
    assert lines[0].split() == ["source", "entries", "fetched", "new", "attributions", "status"]
    assert lines[2].split() == ["Good", "10", "4", "3", "1", "ok"]
    assert lines[3].split() == ["Down", "0", "0", "0", "0", "FAILED"]
    assert lines[5].split() == ["total", "10", "4", "3", "1", "errors"]
    assert lines[-1] == "  Down: feed https://down.example/rss: HTTP 503"
    assert not report.ok and not report.all_failed
    assert CrawlReport(sources=(report.sources[1],)).all_failed


def test_progress_line_counts_a_source_done_when_finished_even_with_nothing_new() -> None:
    # "Unchanged" answered 304: no entries, no errors, but its crawl is over; "Slow" has read its
    # feed and still fetches articles; "Down" failed and is over too
    unchanged = SourceResult("Unchanged", "feed")
    slow = SourceResult("Slow", "feed", entries=5, fetched=2, new_articles=2, attributions=1)
    results = {"Unchanged": unchanged, "Slow": slow}

    assert progress_line(results, set()) == (
        "sources 0/2  articles fetched 2, new 2  attributions 1"
    )
    assert progress_line(results, {"Unchanged"}) == (
        "sources 1/2  articles fetched 2, new 2  attributions 1"
    )

    results["Down"] = SourceResult(
        "Down", "feed", errors=["feed https://down.example/rss: HTTP 503"]
    )
    assert progress_line(results, {"Unchanged", "Down"}) == (
        "sources 2/3  articles fetched 2, new 2  attributions 1  sources with errors 1"
    )


REPORT = CrawlReport(
    sources=(
        SourceReport("Example News", entries=10, fetched=4, new_articles=3, attributions=1),
        SourceReport(
            "CERT",
            errors=(
                'listing https://cert.example/news: link_selector "a.story"\n matched no links',
                "listing https://cert.example/news?page=2: HTTP 404",
            ),
            kind="listing",
        ),
    )
)


def test_format_report_lines_one_logfmt_line_per_source() -> None:
    assert format_report_lines(REPORT).splitlines() == [
        'source="Example News" status=ok entries=10 fetched=4 new=3 updated=0 attributions=1'
        " errors=0",
        'source="CERT" status=failed entries=0 fetched=0 new=0 updated=0 attributions=0 errors=2'
        ' error="listing https://cert.example/news: link_selector \\"a.story\\" matched no links"',
    ]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class _Log(io.StringIO):
    def isatty(self) -> bool:
        return False


def test_print_report_table_on_a_terminal_structured_lines_in_a_log() -> None:
    terminal, log = _Terminal(), _Log()

    print_report(REPORT, terminal)
    print_report(REPORT, log)

    table = terminal.getvalue().splitlines()
    assert table[0].split() == ["source", "entries", "fetched", "new", "attributions", "status"]
    assert table[2].split() == ["Example", "News", "10", "4", "3", "1", "ok"]
    assert table[3].split() == ["CERT", "0", "0", "0", "0", "FAILED"]
    assert "source=" not in terminal.getvalue()
    assert log.getvalue() == format_report_lines(REPORT) + "\n"
    assert log.getvalue().startswith('source="Example News" status=ok entries=10 ')
    assert "attributions  status" not in log.getvalue()


def test_an_article_moved_by_meta_refresh_is_followed_without_telling_where_from(
    tmp_path: Path, test_site: LocalSite
) -> None:
    # some press offices move a page by <meta http-equiv="Refresh">; the scan for it looks at
    # the page's bytes, and must still see it in any letter case
    moved = (
        b'<!doctype html><html><head><META HTTP-EQUIV="Refresh" '
        b'CONTENT="0; URL=/articles/apt28-attribution.html"><title>Moved</title></head>'
        b"<body><p>This page has moved.</p></body></html>"
    )
    referers: list[str | None] = []

    def moved_page(handler: Any) -> Response:
        referers.append(handler.headers.get("Referer"))
        return Response(200, moved, {"Content-Type": "text/html; charset=utf-8"})

    test_site.routes["/old/apt28.html"] = moved_page
    test_site.routes["/moved.html"] = lambda handler: Response(
        200,
        b'<html><body><a class="m" href="/old/apt28.html">APT28</a></body></html>',
        {"Content-Type": "text/html; charset=utf-8"},
    )
    sources = write_sources(
        tmp_path,
        f"""
  - name: Moved
    kind: listing
    url: {test_site.url("moved.html")}
    link_selector: "a.m"
    allow_private_network: true
""",
    )
    db_url = f"sqlite:///{tmp_path / 'aptwatch.db'}"

    report = run_crawl(sources, db_url, settings=FAST)

    assert test_site.count("/articles/apt28-attribution.html") == 1
    assert report.source("Moved").new_articles == 1
    titles = [row["title"] for row in rows(db_url, "SELECT title FROM articles")]
    assert titles == ["Germany blames APT28 for the attack on the SPD"]
    assert referers == [None]  # the article's site does not learn which listing led to it


def test_a_crawl_stopped_by_its_time_limit_says_so_even_before_it_began(
    tmp_path: Path, local_site: LocalSite
) -> None:
    # stopped while its process is still starting: it said "died without a report (exit code 0)"
    sources = write_sources(
        tmp_path,
        f"  - {{name: A, kind: feed, url: '{local_site.url('feed.rss')}',"
        " allow_private_network: true}\n",
    )
    with pytest.raises(CrawlError, match=r"crawl did not finish within 0\.01s and was stopped"):
        run_crawl(sources, f"sqlite:///{tmp_path / 'db.sqlite'}", settings=FAST, timeout=0.01)
