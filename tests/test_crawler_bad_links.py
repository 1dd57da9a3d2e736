"""Bad input from the sites a crawl reads, crawled for real from a local site: a malformed link in
a feed, listing page or sitemap is skipped with one error on its source while the page's other
links are still followed; a page without text and a redirect to ftp:// are each one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_crawler import FAST as ANALYSED
from test_crawler import write_sources
from test_crawler_incremental import FAST, Page, article

from aptwatch.localsite import LocalSite, Response
from crawler.feedparse import parse_feed, parse_sitemap
from crawler.run import SourceReport, run_crawl

BAD_LINKS = ["http://[::1/x", "http://127.0.0.1:99999/x", "http://[notip]/x"]


def rss(*links: str) -> bytes:
    items = "".join(
        f"<item><title>t{i}</title><link>{link}</link></item>" for i, link in enumerate(links)
    )
    channel = f"<channel><title>x</title>{items}</channel>"
    return f'<?xml version="1.0"?><rss version="2.0">{channel}</rss>'.encode()


def run(tmp_path: Path, site: LocalSite, kind: str, path: str, extra: str = "") -> SourceReport:
    sources = write_sources(
        tmp_path,
        f"""
  - name: BL
    kind: {kind}
    url: {site.url(path)}
    allow_private_network: true
{extra}""",
    )
    report = run_crawl(sources, f"sqlite:///{tmp_path / 'db.sqlite'}", settings=FAST)
    return report.source("BL")


def assert_skipped_and_rest_crawled(
    result: SourceReport, capfd: pytest.CaptureFixture[str], bad: int
) -> None:
    errors = result.errors
    assert len(errors) == bad, errors
    assert all("skipped malformed link" in error for error in errors)
    assert result.fetched == 2
    assert result.status == "errors"
    output = capfd.readouterr()
    assert "Traceback" not in output.err + output.out
    assert "Spider error" not in output.err + output.out


def serve_articles(site: LocalSite) -> None:
    site.routes["/a1.html"] = Page(article("Government blames APT31", "The ministry said so."))
    site.routes["/a2.html"] = Page(article("Agency blames APT28", "The agency said so."))


def test_malformed_feed_links_are_skipped_and_the_rest_followed(
    tmp_path: Path, local_site: LocalSite, capfd: pytest.CaptureFixture[str]
) -> None:
    serve_articles(local_site)
    local_site.routes["/bl.rss"] = Page(
        rss(BAD_LINKS[0], local_site.url("a1.html"), *BAD_LINKS[1:], local_site.url("a2.html")),
        "application/rss+xml",
    )
    result = run(tmp_path, local_site, "feed", "bl.rss")
    assert_skipped_and_rest_crawled(result, capfd, bad=3)
    assert "http://[::1/x" in result.errors[0]


def test_malformed_listing_links_are_skipped_and_the_rest_followed(
    tmp_path: Path, local_site: LocalSite, capfd: pytest.CaptureFixture[str]
) -> None:
    serve_articles(local_site)
    links = ["http://[::1/x", "/a1.html", "http://127.0.0.1:99999/x", "/a2.html"]
    anchors = "".join(f'<li><a href="{link}">x</a></li>' for link in links)
    local_site.routes["/news/"] = Page(f"<html><body><ul>{anchors}</ul></body></html>".encode())
    result = run(tmp_path, local_site, "listing", "news/", "    link_selector: 'ul a'\n")
    assert_skipped_and_rest_crawled(result, capfd, bad=2)


def test_malformed_sitemap_locs_are_skipped_and_the_rest_followed(
    tmp_path: Path, local_site: LocalSite, capfd: pytest.CaptureFixture[str]
) -> None:
    serve_articles(local_site)
    locs = [
        "http://127.0.0.1:99999/x",
        local_site.url("a1.html"),
        "http://[::1/x",
        local_site.url("a2.html"),
    ]
    urls = "".join(f"<url><loc>{loc}</loc></url>" for loc in locs)
    local_site.routes["/sitemap.xml"] = Page(
        f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}'
        "</urlset>".encode(),
        "application/xml",
    )
    result = run(tmp_path, local_site, "sitemap", "sitemap.xml")
    assert_skipped_and_rest_crawled(result, capfd, bad=2)


def test_parsers_keep_malformed_http_links_for_the_spider_to_report() -> None:
    feed = parse_feed(
        rss("http://[::1/x", "https://a.example/1", "ftp://a.example/2"), "https://a.example/"
    )
    assert [entry.url for entry in feed.entries] == ["http://[::1/x", "https://a.example/1"]
    sitemap = parse_sitemap(
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<url><loc>http://a.example:99999/x</loc></url></urlset>",
        "https://a.example/",
    )
    assert [entry.url for entry in sitemap.entries] == ["http://a.example:99999/x"]


def test_a_page_without_text_is_dropped_in_one_log_line(
    tmp_path: Path, local_site: LocalSite, capfd: pytest.CaptureFixture[str]
) -> None:
    local_site.routes["/empty.html"] = Page(
        b"<html><head><title>x</title></head><body></body></html>"
    )
    local_site.routes["/a1.html"] = Page(
        article("Government blames APT31", "The ministry said so.")
    )
    local_site.routes["/bl.rss"] = Page(
        rss(local_site.url("empty.html"), local_site.url("a1.html")), "application/rss+xml"
    )
    sources = write_sources(
        tmp_path,
        f"  - {{name: BL, kind: feed, url: '{local_site.url('bl.rss')}',"
        " allow_private_network: true}\n",
    )
    settings = {**ANALYSED, "LOG_LEVEL": "INFO"}  # with analysis, which drops the empty page
    report = run_crawl(sources, f"sqlite:///{tmp_path / 'db.sqlite'}", settings=settings)

    result = report.source("BL")
    assert result.new_articles == 1 and len(result.errors) == 1, result.errors
    log = capfd.readouterr().err
    assert "ArticlePage(" not in log
    dropped = [line for line in log.splitlines() if "Dropped" in line]
    assert len(dropped) == 1 and local_site.url("empty.html") in dropped[0], dropped


def test_a_feed_redirected_to_ftp_says_so(tmp_path: Path, local_site: LocalSite) -> None:
    local_site.routes["/bl.rss"] = lambda handler: Response(
        302, b"", {"Location": "ftp://127.0.0.1/feed.rss"}
    )
    report = run(tmp_path, local_site, "feed", "bl.rss")

    assert report.errors == (
        f"feed {local_site.url('bl.rss')}: HTTP 302 redirect to a non-http(s) URL "
        "('ftp://127.0.0.1/feed.rss'), not followed",
    )
