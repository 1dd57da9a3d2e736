"""Per-source extraction overrides and sitemap indexes, crawled for real from a local site.

Each crawl runs in a child process (``run_crawl``) against a site on 127.0.0.1 into SQLite; what is
checked is what a user would see in the database and the crawl report.
"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from test_crawler import FAST as ANALYSED
from test_crawler import write_sources
from test_crawler_incremental import FAST, Page, article

from aptwatch.localsite import LocalSite
from crawler.run import run_crawl
from crawler.sources import check_sources
from storage import make_engine, make_session_factory
from storage.models import Article

# --- helpers -------------------------------------------------------------------------------------


def stored_articles(db_url: str) -> dict[str, Article]:
    """Every stored article by URL, read through the ORM (aware datetimes, as the app sees them)."""
    engine = make_engine(db_url)
    try:
        with make_session_factory(engine)() as session:
            found = session.scalars(select(Article)).all()
            session.expunge_all()
            return {row.url: row for row in found}
    finally:
        engine.dispose()


def urlset(site: LocalSite, *paths: str) -> bytes:
    urls = "".join(f"<url><loc>{site.url(path)}</loc></url>" for path in paths)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
    ).encode()


def news_urlset(site: LocalSite, *items: tuple[str, str, str]) -> bytes:
    """A Google News sitemap: (path, news:title, news:publication_date) per URL."""
    urls = "".join(
        f"<url><loc>{site.url(path)}</loc><news:news>"
        "<news:publication><news:name>Wire</news:name><news:language>en</news:language>"
        f"</news:publication><news:publication_date>{published}</news:publication_date>"
        f"<news:title>{title}</news:title></news:news></url>"
        for path, title, published in items
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        f'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">{urls}</urlset>'
    ).encode()


def sitemap_index(site: LocalSite, *paths: str) -> bytes:
    children = "".join(f"<sitemap><loc>{site.url(path)}</loc></sitemap>" for path in paths)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{children}'
        "</sitemapindex>"
    ).encode()


def sitemap_source(tmp_path: Path, site: LocalSite, *, max_pages: int) -> Path:
    """A sources file with one sitemap source, "Wire", read from the site's /sitemap_index.xml."""
    return write_sources(
        tmp_path,
        f"""
  - name: Wire
    kind: sitemap
    url: {site.url("sitemap_index.xml")}
    max_pages: {max_pages}
    allow_private_network: true
""",
    )


def undated_article(title: str, sentence: str) -> bytes:
    """An article page stating no date anywhere (the sitemap's date is the only one)."""
    return article(title, sentence).replace(b" on Tuesday", b"")


# --- extraction overrides ------------------------------------------------------------------------

# The ministry's "about us" block: longer than the statement and in paragraphs, so generic
# extraction takes it for the article.
BOILERPLATE = [
    "The Ministry of Foreign Affairs is responsible for the foreign policy of the Republic and for "
    "the protection of its citizens abroad, and it publishes statements, speeches and press "
    "releases on this website every working day of the year.",
    "Our consular service helps travellers who have lost their documents, been arrested or fallen "
    "ill abroad, and our embassies in more than ninety countries can be reached by telephone "
    "around the clock in an emergency.",
    "Visitors to this website can subscribe to the newsletter, follow the ministry on social "
    "media, request documents under the freedom of information act, or apply for an internship "
    "in the diplomatic service.",
    "This page was last reviewed on 2 January 2025 by the web team of the ministry; please report "
    "broken links or accessibility problems to the webmaster using the contact form.",
]
STATEMENT = [
    "The Ministry of Foreign Affairs attributes the intrusion into its cable network to APT31, "
    "a group acting on behalf of a foreign intelligence service.",
    "The attackers had access to unclassified e-mail for several months before the breach was "
    "detected.",
]


def statement_page() -> bytes:
    boilerplate = "".join(f"<p>{p}</p>" for p in BOILERPLATE)
    statement = "".join(f"<p>{p}</p>" for p in STATEMENT)
    # the issue time is only in the reference line's content attribute: without the selector the
    # page yields at best a day (no time, no zone), from the boilerplate's dates or this one
    return (
        "<!doctype html><html><head><title>Statement on the cable network intrusion</title>"
        '</head><body><header><nav><a href="/">Home</a> <a href="/press/">Press</a></nav></header>'
        f'<main><div class="content">{boilerplate}</div>'
        f'<section class="statement">{statement}</section>'
        '<p class="ref"><span class="stamp" content="2026-02-14T06:30:00+01:00">'
        "Ref. MFA/2026/117</span></p></main>"
        "<footer><p>Copyright 2025 Ministry of Foreign Affairs</p></footer></body></html>"
    ).encode()


def test_per_source_overrides_pick_body_date_and_language_of_a_crawled_page(
    tmp_path: Path, local_site: LocalSite
) -> None:
    site = local_site
    site.routes["/press/"] = Page(
        b'<html><body><ul class="releases"><li><a href="/press/cable-statement.html">'
        b"Statement</a></li></ul></body></html>"
    )
    site.routes["/press/cable-statement.html"] = Page(statement_page())
    sources = write_sources(
        tmp_path,
        f"""
  - name: Ministry
    kind: listing
    url: {site.url("press/")}
    link_selector: "ul.releases a"
    lang: cs
    extract:
      body_selector: "section.statement"
      date_selector: "p.ref .stamp"
    allow_private_network: true
""",
    )
    db_url = f"sqlite:///{tmp_path / 'db.sqlite'}"

    report = run_crawl(sources, db_url, settings=ANALYSED)

    ministry = report.source("Ministry")
    assert (ministry.fetched, ministry.new_articles, ministry.errors) == (1, 1, ())
    stored = stored_articles(db_url)[site.url("press/cable-statement.html")]
    assert stored.text.split() == " ".join(STATEMENT).split()
    assert not any(p[:40] in stored.text for p in BOILERPLATE)
    assert stored.published == datetime(2026, 2, 14, 5, 30, tzinfo=UTC)
    assert stored.title == "Statement on the cable network intrusion"
    assert stored.lang == "cs"  # the page states none: the source's language is stored


# --- sitemaps ------------------------------------------------------------------------------------


def test_sitemap_index_with_a_gzipped_google_news_child(
    tmp_path: Path, local_site: LocalSite
) -> None:
    site = local_site
    site.routes["/sitemap_index.xml"] = Page(
        sitemap_index(site, "sitemaps/pages.xml", "sitemaps/news.xml.gz"), "application/xml"
    )
    site.routes["/sitemaps/pages.xml"] = Page(urlset(site, "pages/about.html"), "application/xml")
    news = news_urlset(
        site,
        ("news/apt28.html", "APT28 blamed for ministry hack", "2026-03-03T08:15:00+00:00"),
        ("news/ransomware.html", "Hospital ransomware", "2026-03-02T17:40:00+01:00"),
    )
    # gzipped as a file, not as a transfer encoding: no Content-Encoding, a gzip content type
    site.routes["/sitemaps/news.xml.gz"] = Page(gzip.compress(news), "application/x-gzip")
    pages = {
        "/pages/about.html": article("About", "An evergreen page listed in the plain sitemap."),
        "/news/apt28.html": undated_article("APT28", "APT28 was behind the attack on a ministry."),
        "/news/ransomware.html": undated_article("Ransom", "Ransomware hit a hospital at night."),
    }
    for path, body in pages.items():
        site.routes[path] = Page(body)
    sources = sitemap_source(tmp_path, site, max_pages=3)
    db_url = f"sqlite:///{tmp_path / 'db.sqlite'}"

    report = run_crawl(sources, db_url, settings=FAST)

    wire = report.source("Wire")
    assert (wire.entries, wire.fetched, wire.new_articles, wire.errors) == (3, 3, 3, ())
    for path in ["/sitemap_index.xml", "/sitemaps/pages.xml", "/sitemaps/news.xml.gz", *pages]:
        assert site.count(path) == 1, path
    stored = stored_articles(db_url)
    assert sorted(stored) == sorted(site.url(path) for path in pages)
    # the pages state no date: what is stored comes from the gzipped news sitemap
    assert stored[site.url("news/apt28.html")].published == datetime(2026, 3, 3, 8, 15, tzinfo=UTC)
    ransomware = stored[site.url("news/ransomware.html")]
    assert ransomware.published == datetime(2026, 3, 2, 16, 40, tzinfo=UTC)


def test_of_a_sitemap_index_the_max_pages_newest_children_are_read(
    tmp_path: Path, local_site: LocalSite
) -> None:
    site = local_site
    # listed oldest first, as WordPress lists post-sitemap1, post-sitemap2, ...
    dated = {"sitemaps/part-1.xml": "2025-06-01", "sitemaps/part-2.xml": "2026-01-15"}
    dated["sitemaps/part-3.xml"] = "2026-03-02T10:00:00+00:00"
    entries = "".join(
        f"<sitemap><loc>{site.url(path)}</loc><lastmod>{lastmod}</lastmod></sitemap>"
        for path, lastmod in dated.items()
    )
    site.routes["/sitemap_index.xml"] = Page(
        (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}'
            "</sitemapindex>"
        ).encode(),
        "application/xml",
    )
    for n, child in enumerate(dated, start=1):
        site.routes["/" + child] = Page(urlset(site, f"news/{n}.html"), "application/xml")
        site.routes[f"/news/{n}.html"] = Page(article(f"Story {n}", f"Story number {n} is here."))
    sources = sitemap_source(tmp_path, site, max_pages=2)
    # what `aptwatch sources check` promises for this source
    assert "of an index the 2 newest child sitemap(s)" in check_sources(sources)[0]
    db_url = f"sqlite:///{tmp_path / 'db.sqlite'}"

    report = run_crawl(sources, db_url, settings=FAST)

    assert site.count("/sitemaps/part-3.xml") == site.count("/sitemaps/part-2.xml") == 1
    assert site.count("/sitemaps/part-1.xml") == 0  # the oldest, beyond max_pages
    assert report.source("Wire").new_articles == 2
    assert sorted(stored_articles(db_url)) == [site.url("news/2.html"), site.url("news/3.html")]


def test_new_article_in_a_child_sitemap_is_found_while_the_index_is_unchanged(
    tmp_path: Path, local_site: LocalSite
) -> None:
    site = local_site
    site.routes["/sitemap_index.xml"] = Page(
        sitemap_index(site, "sitemaps/news.xml"), "application/xml"
    )
    child = Page(
        news_urlset(site, ("news/1.html", "First", "2026-03-03T08:15:00+00:00")),
        "application/xml",
    )
    site.routes["/sitemaps/news.xml"] = child
    for n in (1, 2):
        site.routes[f"/news/{n}.html"] = Page(article(f"Story {n}", f"Story number {n} is here."))
    sources = sitemap_source(tmp_path, site, max_pages=2)
    db_url = f"sqlite:///{tmp_path / 'db.sqlite'}"

    first = run_crawl(sources, db_url, settings=FAST)
    assert first.source("Wire").new_articles == 1

    # the news sitemap gains an entry; the index, which only names the news sitemap, stays as is
    child.body = news_urlset(
        site,
        ("news/2.html", "Second", "2026-03-04T08:15:00+00:00"),
        ("news/1.html", "First", "2026-03-03T08:15:00+00:00"),
    )
    second = run_crawl(sources, db_url, settings=FAST)

    assert site.count("/sitemaps/news.xml") == 2
    assert second.source("Wire").new_articles == 1
    assert site.url("news/2.html") in stored_articles(db_url)

    # nothing changed: the index is read again, the child is asked for conditionally (one 304)
    third = run_crawl(sources, db_url, settings=FAST)
    assert child.answered[-1] == 304
    assert (third.source("Wire").fetched, third.source("Wire").new_articles) == (0, 0)
