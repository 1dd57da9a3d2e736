"""Parse RSS 2.0 / RSS 1.0 / Atom feeds and XML sitemaps into entries, safely.

Feeds are untrusted input: entities are never resolved, nothing is fetched from the network while
parsing and lxml's size guards stay on, so a hostile feed cannot read local files or blow up memory.
A document that declares entities at all (billion laughs, external entities) is rejected: no real
feed or sitemap needs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urljoin, urlsplit

from lxml import etree

from crawler.extraction import parse_datetime

_ATOM_NS = "http://www.w3.org/2005/Atom"
_RSS1_NS = "http://purl.org/rss/1.0/"
_RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_DC_NS = "http://purl.org/dc/elements/1.1/"
_SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
_NEWS_NS = "http://www.google.com/schemas/sitemap-news/0.9"
_XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"


class FeedError(ValueError):
    """The body is not a feed or sitemap this crawler understands."""


@dataclass(frozen=True)
class FeedEntry:
    url: str
    title: str | None = None
    published: datetime | None = None
    # when the feed says the entry last changed (Atom <updated>, sitemap <lastmod>...): a known
    # article updated after our last fetch is fetched again
    updated: datetime | None = None


@dataclass(frozen=True)
class SitemapContent:
    entries: tuple[FeedEntry, ...]
    child_sitemaps: tuple[str, ...]


def _parser(recover: bool) -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_comments=True,
        remove_pis=True,
        recover=recover,
    )


def _parse_xml(body: bytes, what: str) -> tuple[etree._Element, str | None]:
    """The root element and, if the document had to be repaired, why."""
    if not body or not body.strip():
        raise FeedError("empty response body")
    try:
        root = etree.fromstring(body, parser=_parser(recover=False))
        problem = None
    except etree.XMLSyntaxError as error:
        problem = f"malformed {what}: {_one_line(str(error))}"
        try:
            root = etree.fromstring(body, parser=_parser(recover=True))
        except etree.XMLSyntaxError:
            root = None
        if root is None:
            raise FeedError(problem) from error
    _reject_entity_declarations(root, what)
    return root, problem


def _reject_entity_declarations(root: etree._Element, what: str) -> None:
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is None:
        return
    for entity in dtd.iterentities():
        kind = "external entity" if entity.system_url else "entity"
        raise FeedError(
            f"{what} declares {kind} {entity.name!r}: XML entities are refused "
            "(entity expansion and external-entity attacks)"
        )


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]


def _local(tag: object) -> str:
    return etree.QName(tag).localname.lower() if isinstance(tag, str) else ""


def _text(element: etree._Element | None) -> str | None:
    if element is None:
        return None
    value = " ".join("".join(element.itertext()).split())
    return value or None


def _http_link(href: str | None, base: str) -> str | None:
    if not href or not href.strip():
        return None
    return absolute_http_url(href, base)


def absolute_http_url(href: str, base: str) -> str | None:
    """``href`` resolved against ``base``, without its fragment; None unless it is http(s).

    A link that claims http(s) but cannot be parsed (``http://[::1/x``, a port out of range) is
    returned as it is: the spider skips it with an error on its source, so a broken link is
    reported rather than silently lost, and never takes the rest of its page down with it."""
    href = href.strip()
    try:
        parts = urlsplit(urljoin(base, href))
    except ValueError:
        return href if href.lower().startswith(("http://", "https://")) else None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return parts._replace(fragment="").geturl()


@dataclass(frozen=True)
class ParsedFeed:
    entries: tuple[FeedEntry, ...]
    problem: str | None = None  # set when a broken feed was only partly readable


def parse_feed(body: bytes, base_url: str) -> ParsedFeed:
    """Entries of an RSS 2.0, RSS 1.0 (RDF) or Atom feed; FeedError when it is none of them."""
    root, problem = _parse_xml(body, "feed")
    kind = _local(root.tag)
    if kind == "rss":
        channel = root.find("channel")
        items = channel.findall("item") if channel is not None else []
        entries = [_rss_entry(item, base_url) for item in items]
    elif kind == "rdf":
        items = root.findall(f"{{{_RSS1_NS}}}item") or root.findall("item")
        entries = [_rss_entry(item, base_url) for item in items]
    elif kind == "feed":
        feed_base = _http_link(root.get(_XML_BASE), base_url) or base_url
        entries = [_atom_entry(entry, feed_base) for entry in root.iter(f"{{{_ATOM_NS}}}entry")]
        if not entries:  # Atom without its namespace, seen in the wild
            entries = [_atom_entry(entry, feed_base) for entry in root.iter("entry")]
    else:
        raise FeedError(f"not an RSS or Atom feed (root element <{_local(root.tag) or '?'}>)")
    found = tuple(entry for entry in entries if entry is not None)
    if problem and not found:
        raise FeedError(problem)
    return ParsedFeed(found, problem)


def _child(element: etree._Element, *names: str) -> etree._Element | None:
    wanted = {name.lower() for name in names}
    for child in element:
        if _local(child.tag) in wanted:
            return child
    return None


def _rss_entry(item: etree._Element, base_url: str) -> FeedEntry | None:
    link = _http_link(_text(_child(item, "link")), base_url)
    if link is None:
        guid = _child(item, "guid")
        if guid is not None and (guid.get("isPermaLink") or "true").lower() == "true":
            link = _http_link(_text(guid), base_url)
    if link is None:
        about = item.get(f"{{{_RDF_NS}}}about")
        link = _http_link(about, base_url)
    if link is None:
        return None
    # dc:date stands in for pubDate in RSS 1.0 and some RSS 2.0 feeds
    date_text = _text(_child(item, "pubDate")) or _text(_child(item, "date"))
    # atom:updated or dcterms:modified inside an RSS item, when a feed marks corrections
    updated_text = _text(_child(item, "updated")) or _text(_child(item, "modified"))
    return FeedEntry(
        link,
        _text(_child(item, "title")),
        parse_datetime(date_text),
        parse_datetime(updated_text),
    )


def _atom_entry(entry: etree._Element, base_url: str) -> FeedEntry | None:
    base = _http_link(entry.get(_XML_BASE), base_url) or base_url
    link = None
    for candidate in entry:
        if _local(candidate.tag) != "link":
            continue
        rel = (candidate.get("rel") or "alternate").lower()
        content_type = (candidate.get("type") or "text/html").lower()
        if rel == "alternate" and ("html" in content_type or content_type == ""):
            link = _http_link(candidate.get("href"), base)
            if link:
                break
    if link is None:
        return None
    updated = parse_datetime(_text(_child(entry, "updated")))
    published = parse_datetime(_text(_child(entry, "published"))) or updated
    return FeedEntry(link, _text(_child(entry, "title")), published, updated)


def parse_sitemap(body: bytes, base_url: str) -> SitemapContent:
    """Pages of a ``urlset`` or the children of a ``sitemapindex``, newest first when dated."""
    root, problem = _parse_xml(body, "sitemap")
    kind = _local(root.tag)
    if kind == "sitemapindex":
        children = []
        for sitemap in root:
            if _local(sitemap.tag) == "sitemap":
                loc = _http_link(_text(_child(sitemap, "loc")), base_url)
                if loc:
                    lastmod = parse_datetime(_text(_child(sitemap, "lastmod")))
                    children.append(FeedEntry(loc, None, lastmod, lastmod))
        if problem and not children:
            raise FeedError(problem)
        # the caller follows only the first few: the most recently changed, where dated
        children.sort(key=_newest_first_key)
        return SitemapContent((), tuple(child.url for child in children))
    if kind != "urlset":
        raise FeedError(f"not an XML sitemap (root element <{kind or '?'}>)")
    entries = []
    for url in root:
        if _local(url.tag) != "url":
            continue
        loc = _http_link(_text(_child(url, "loc")), base_url)
        if loc is None:
            continue
        news = _child(url, "news")
        title = _text(_child(news, "title")) if news is not None else None
        date_text = _text(_child(news, "publication_date")) if news is not None else None
        lastmod = parse_datetime(_text(_child(url, "lastmod")))
        published = parse_datetime(date_text) or lastmod
        entries.append(FeedEntry(loc, title, published, lastmod))
    if problem and not entries:
        raise FeedError(problem)
    # sitemaps list thousands of old pages; the caller keeps only the newest few
    entries.sort(key=_newest_first_key)
    return SitemapContent(tuple(entries), ())


def _newest_first_key(entry: FeedEntry) -> tuple[int, float]:
    if entry.published is None:
        return (1, 0.0)
    return (0, -entry.published.timestamp())
