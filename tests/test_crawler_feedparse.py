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
        ),
    )


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
    parsed = parse_feed(body, "https://x.example/feed")
    assert all("TOP-SECRET" not in (entry.title or "") for entry in parsed.entries)


def test_billion_laughs_does_not_expand() -> None:
    lol = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 9))
    body = f"""<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY l0 "lol">{lol}]>
<rss version="2.0"><channel><item><title>&l8;</title><link>https://x.example/a</link></item>
</channel></rss>""".encode()
    try:
        parsed = parse_feed(body, "https://x.example/feed")
    except FeedError:
        return
    assert all(len(entry.title or "") < 1000 for entry in parsed.entries)


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


def test_sitemap_index_lists_children(shared_data: Path) -> None:
    folder = shared_data / "pages" / "feeds-and-sitemaps"
    index = parse_sitemap((folder / "sitemap2.xml").read_bytes(), "https://www.example.com/")
    assert index.child_sitemaps == (
        "http://www.example.com/sitemap1.xml.gz",
        "http://www.example.com/sitemap2.xml.gz",
    )
    urlset = parse_sitemap((folder / "sitemap.xml").read_bytes(), "https://www.sitemaps.org/")
    assert len(urlset.entries) == 84


def test_sitemap_rejects_other_xml() -> None:
    with pytest.raises(FeedError, match="not an XML sitemap"):
        parse_sitemap(b"<rss version='2.0'/>", "https://x.example/sitemap.xml")
