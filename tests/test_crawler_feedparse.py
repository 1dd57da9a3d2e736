"""RSS / Atom / sitemap parsing, including hostile input."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from crawler.feedparse import FeedEntry, FeedError, parse_feed, parse_sitemap

SITE = Path(__file__).resolve().parent / "site"
BASE = "http://news.example"


def site_file(name: str) -> bytes:
    return (SITE / name).read_bytes().replace(b"__BASE_URL__", BASE.encode())


def test_rss_entries_links_titles_dates() -> None:
    parsed = parse_feed(site_file("feeds/security.rss"), f"{BASE}/feeds/security.rss")
    assert parsed.problem is None
    assert parsed.entries == (
        FeedEntry(
            f"{BASE}/articles/apt28-attribution.html",
            "Germany blames APT28 for the attack on the SPD",
            datetime(2026, 3, 3, 9, 15, tzinfo=timezone(timedelta(hours=1))),
        ),
        # relative link resolved against the feed URL, CDATA title unwrapped
        FeedEntry(
            f"{BASE}/articles/passing-mention.html",
            "Ransomware roundup: hospitals & schools hit",
            datetime(2026, 3, 4, 18, 0, tzinfo=UTC),
        ),
        FeedEntry(
            f"{BASE}/private/internal-memo.html",
            "An entry the site's robots.txt keeps crawlers away from",
            None,
        ),
    )


def test_atom_uses_alternate_link_and_published_date() -> None:
    parsed = parse_feed(site_file("feeds/research.atom"), f"{BASE}/feeds/research.atom")
    assert parsed.entries == (
        FeedEntry(
            f"{BASE}/articles/negated.html",
            "No evidence links the outage to APT28, officials say",
            datetime(2026, 3, 5, 10, 30, tzinfo=UTC),
            updated=datetime(2026, 3, 5, 11, 0, tzinfo=UTC),
        ),
    )


def test_update_dates_of_rss_items_and_sitemap_urls() -> None:
    rss = b"""<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>
      <item><link>https://x.example/a</link><pubDate>Tue, 03 Mar 2026 09:15:00 GMT</pubDate>
        <atom:updated>2026-03-04T10:00:00Z</atom:updated></item>
      <item><link>https://x.example/b</link><pubDate>Tue, 03 Mar 2026 09:15:00 GMT</pubDate></item>
    </channel></rss>"""
    a, b = parse_feed(rss, "https://x.example/").entries
    assert a.updated == datetime(2026, 3, 4, 10, tzinfo=UTC) and b.updated is None
    assert a.published == b.published  # same timestamp, both kept
    sitemap = b"""<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
      xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
      <url><loc>https://x.example/n</loc><lastmod>2026-03-06T08:00:00Z</lastmod>
        <news:news><news:publication_date>2026-03-05T08:00:00Z</news:publication_date>
        <news:title>N</news:title></news:news></url></urlset>"""
    (entry,) = parse_sitemap(sitemap, "https://x.example/sitemap.xml").entries
    assert entry.published == datetime(2026, 3, 5, 8, tzinfo=UTC)
    assert entry.updated == datetime(2026, 3, 6, 8, tzinfo=UTC)


def test_rss_guid_permalink_and_dc_date() -> None:
    body = b"""<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>
      <item><title>A</title><guid>https://x.example/a</guid><dc:date>2025-01-02T03:04:05Z</dc:date></item>
      <item><title>B</title><guid isPermaLink="false">tag:x,2025:b</guid></item>
      <item><title>C</title><link>javascript:alert(1)</link></item>
    </channel></rss>"""
    parsed = parse_feed(body, "https://x.example/feed")
    assert parsed.entries == (
        FeedEntry("https://x.example/a", "A", datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)),
    )


def test_rss1_rdf_feed() -> None:
    body = b"""<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
      xmlns="http://purl.org/rss/1.0/"><channel rdf:about="https://x.example/"><title>X</title></channel>
      <item rdf:about="https://x.example/1"><title>One</title><link>https://x.example/1</link></item>
    </rdf:RDF>"""
    assert parse_feed(body, "https://x.example/rss").entries == (
        FeedEntry("https://x.example/1", "One", None),
    )


def test_real_world_feeds(shared_data: Path) -> None:
    folder = shared_data / "pages" / "feeds-and-sitemaps"
    atom = parse_feed((folder / "feed1.atom").read_bytes(), "https://example.org/")
    rss = parse_feed((folder / "feed2.rss").read_bytes(), "https://example.org/")
    assert atom.entries[0].url == "http://example.org/2003/12/13/atom03"
    assert atom.entries[0].published == datetime(2003, 12, 13, 18, 30, 2, tzinfo=UTC)
    assert rss.entries[0].url == "http://www.example.com/blog/post/1"


def test_external_entities_are_never_resolved(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    body = f"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{secret}">]>
<rss version="2.0"><channel><item><title>&xxe;</title><link>https://x.example/a</link></item>
</channel></rss>""".encode()
    with pytest.raises(FeedError, match="feed declares external entity 'xxe'") as caught:
        parse_feed(body, "https://x.example/feed")
    assert "TOP-SECRET" not in str(caught.value)


def test_billion_laughs_does_not_expand() -> None:
    lol = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 9))
    body = f"""<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY l0 "lol">{lol}]>
<rss version="2.0"><channel><item><title>&l8;</title><link>https://x.example/a</link></item>
</channel></rss>""".encode()
    with pytest.raises(FeedError, match="feed declares entity 'l0'"):
        parse_feed(body, "https://x.example/feed")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty response body"),
        (b"  \n ", "empty response body"),
        (b"<html><body>Not a feed</body></html>", "not an RSS or Atom feed (root element <html>)"),
        (b"<?xml version='1.0'?><rss><channel><item><title>cut", "malformed feed"),
        (b'{"version": "https://jsonfeed.org/version/1"}', "malformed feed"),
    ],
)
def test_unusable_feeds_raise_feed_error(body: bytes, message: str) -> None:
    with pytest.raises(FeedError, match=re.escape(message)):
        parse_feed(body, "https://x.example/feed")


def test_truncated_feed_keeps_readable_entries_and_reports_problem() -> None:
    body = b"""<rss version="2.0"><channel>
      <item><title>Fine</title><link>https://x.example/fine</link></item>
      <item><title>Broken & cut"""
    parsed = parse_feed(body, "https://x.example/feed")
    assert [entry.url for entry in parsed.entries] == ["https://x.example/fine"]
    assert parsed.problem is not None and parsed.problem.startswith("malformed feed")


def test_news_sitemap_newest_first() -> None:
    content = parse_sitemap(site_file("feeds/sitemap.xml"), f"{BASE}/feeds/sitemap.xml")
    assert [entry.url for entry in content.entries] == [
        f"{BASE}/articles/negated.html",
        f"{BASE}/articles/apt28-attribution.html",
    ]
    assert content.entries[0].title == "No evidence links the outage to APT28, officials say"
    assert content.entries[1].published == datetime(2026, 3, 3, tzinfo=UTC)


def test_sitemap_index_lists_children_most_recently_changed_first(shared_data: Path) -> None:
    folder = shared_data / "pages" / "feeds-and-sitemaps"
    index = parse_sitemap((folder / "sitemap2.xml").read_bytes(), "https://www.example.com/")
    assert index.child_sitemaps == (  # lastmod 2005-01-01, then 2004-10-01 (listed first)
        "http://www.example.com/sitemap2.xml.gz",
        "http://www.example.com/sitemap1.xml.gz",
    )
    urlset = parse_sitemap((folder / "sitemap.xml").read_bytes(), "https://www.sitemaps.org/")
    assert len(urlset.entries) == 84


def test_sitemap_rejects_other_xml() -> None:
    with pytest.raises(FeedError, match="not an XML sitemap"):
        parse_sitemap(b"<rss version='2.0'/>", "https://x.example/sitemap.xml")
