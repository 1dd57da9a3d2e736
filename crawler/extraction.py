"""Article extraction: body text, and metadata from JSON-LD and <meta> where present.

Publishers state title, date and authors most reliably in JSON-LD and OpenGraph meta, so those win;
trafilatura's own metadata heuristics are the fallback. The body text comes from the page's one
clear article container when it has one (``crawler.fastextract``), from trafilatura otherwise.
"""

from __future__ import annotations

import contextlib
import gzip
import html as html_lib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from dateutil import parser as dateutil_parser
from lxml import etree
from lxml import html as lxml_html
from lxml.etree import ParserError, _Element

from crawler.fastextract import container_text, strip_never_text
from crawler.sources import is_xpath

_ARTICLE_TYPES = frozenset(
    {
        "article",
        "newsarticle",
        "reportagenewsarticle",
        "analysisnewsarticle",
        "opinionnewsarticle",
        "backgroundnewsarticle",
        "reviewnewsarticle",
        "blogposting",
        "liveblogposting",
        "techarticle",
        "report",
        "scholarlyarticle",
    }
)
_LANG_RE = re.compile(r"^([A-Za-z]{2,3})(?:[-_].*)?$")
_WHITESPACE_RE = re.compile(r"\s+")
_NAME_SEPARATOR_RE = re.compile(r"\s*[,;|]\s*|\s+(?:and|und|et|y|e|og|och|&)\s+", re.IGNORECASE)


# navigation, sidebars and footers: never body text, and in trafilatura's own list of elements
# it deletes before looking for the body
_REGIONS_TRAFILATURA_DELETES = ("nav", "aside", "footer")


class ExtractionError(ValueError):
    """The input cannot be read as an HTML page."""


@dataclass(frozen=True)
class Extracted:
    title: str | None
    text: str
    published: datetime | None  # always timezone-aware when set
    authors: tuple[str, ...]
    lang: str | None
    canonical_url: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "text": self.text,
            "published": self.published.isoformat() if self.published else None,
            "authors": list(self.authors),
            "lang": self.lang,
            "canonical_url": self.canonical_url,
        }


def extract(
    html: str | bytes,
    url: str | None = None,
    *,
    body_selector: str | None = None,
    date_selector: str | None = None,
    feed_published: datetime | None = None,
    search_bylines: bool = True,
) -> Extracted:
    """Title, body text, publication date, authors, language and canonical URL of an article page.

    ``body_selector`` / ``date_selector`` (CSS, or XPath when starting with "/" or "(") override the
    generic heuristics for sources where they fail. ``feed_published``, the date the feed or
    sitemap gave the entry, is stated by the publisher in a machine-readable field: it is taken
    before guessing a date from the page's text (which costs about 8 ms a page), though after the
    page's own metadata. ``search_bylines=False`` leaves the authors empty when the metadata
    names none, rather than searching the page's bylines (as costly as the rest of the metadata
    together); :func:`byline_authors` does that search later for the pages that need it.
    """
    tree = parse_html(html)
    meta = _PageMeta.from_tree(tree, url)
    published = _date_from_selector(tree, date_selector) if date_selector else None
    # Metadata comes from ``_PageMeta`` first; trafilatura's own pass is the slowest part of a page
    # (its JSON-LD repair regexes), so only the fields still missing are looked up. They run before
    # the scripts are stripped below: trafilatura's author search reads JSON-LD blocks ``json``
    # rejects, and htmldate reads dates in scripts.
    fallback = _Fallbacks(tree, url)
    title = meta.title or fallback.title()
    published = (
        published or meta.published or parse_datetime(feed_published) or fallback.published()
    )
    authors = meta.authors or (fallback.authors() if search_bylines else ())
    # Never body text: without scripts, styles and the like (a tenth of a page's elements)
    # trafilatura returns the same text (all 281 test pages) about 1 ms sooner, and the container
    # path walks fewer elements.
    strip_never_text(tree)
    return Extracted(
        title=title,
        text=_body_text(tree, url, body_selector),
        published=published,
        authors=authors,
        lang=meta.lang,
        canonical_url=meta.canonical_url or _http_url(url),
    )


def _body_text(tree: _Element, url: str | None, body_selector: str | None) -> str:
    body_source: _Element = tree
    if body_selector:
        chosen = _select(tree, body_selector)
        if chosen:
            body_source = _wrap_fragments(chosen)
    else:
        # one clear body container (most news pages) is read directly, in a tenth of
        # trafilatura's time; anything less clear goes to trafilatura
        text = container_text(tree)
        if text is not None:
            return text
    # trafilatura deletes these itself (keeping their tails), but only after copying the tree,
    # some of it more than once: removed first, the same text comes out 15 % sooner (all 62
    # real pages that take this path)
    etree.strip_elements(body_source, *_REGIONS_TRAFILATURA_DELETES, with_tail=False)
    # ``fast`` skips the readability/jusText comparison: a third of the cost, and no loss on
    # article-extraction-benchmark (F1 0.967 fast, 0.961 with the comparison).
    import trafilatura  # see parse_html

    document = trafilatura.bare_extraction(
        body_source,
        url=url,
        fast=True,
        with_metadata=False,
        include_comments=False,
        include_tables=True,
    )
    text = (getattr(document, "text", None) or "").strip() if document is not None else ""
    if not text and body_source is not tree:
        text = _element_text(body_source)
    return text


class _Fallbacks:
    """trafilatura's and htmldate's heuristics for a field the page's metadata does not state;
    each runs only when asked, as the author search alone costs as much as the rest of a page."""

    def __init__(self, tree: _Element, url: str | None) -> None:
        self._tree = tree
        self._url = url

    def title(self) -> str | None:
        from trafilatura.metadata import examine_meta, extract_title

        return _clean(examine_meta(self._tree).title) or _clean(extract_title(self._tree))

    def published(self) -> datetime | None:
        from htmldate import find_date

        found = find_date(self._tree, url=self._url, extensive_search=True, original_date=True)
        return parse_datetime(found)

    def authors(self) -> tuple[str, ...]:
        # trafilatura's own order: meta tags, then its JSON-LD reader (which repairs JSON that
        # ``json`` rejects), then bylines in the page
        from trafilatura.metadata import examine_meta, extract_author, extract_meta_json

        metadata = examine_meta(self._tree)
        if metadata.author and " " not in metadata.author:
            metadata.author = None  # trafilatura's rule: one word in a meta tag is rarely a name
        # trafilatura guards this call the same way: a bug in it costs one field, not the page
        with contextlib.suppress(Exception):
            metadata = extract_meta_json(self._tree, metadata)
        return _split_authors(metadata.author or extract_author(self._tree))


def byline_authors(html: str | bytes, url: str | None = None) -> tuple[str, ...]:
    """The authors ``extract(..., search_bylines=True)`` finds on a page whose metadata names
    none: from trafilatura's JSON-LD reader and its byline search."""
    return _Fallbacks(parse_html(html), url).authors()


def extract_file(path: Path | str) -> dict[str, Any]:
    """The `aptwatch extract` contract for one ``.html`` or ``.html.gz`` file."""
    path = Path(path)
    if not path.name.endswith((".html", ".htm", ".html.gz", ".htm.gz")):
        raise ExtractionError(f"{path}: expected an .html or .html.gz file")
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise ExtractionError(f"{path}: not a valid gzip file ({error})") from error
    try:
        extracted = extract(raw)
    except ExtractionError as error:
        raise ExtractionError(f"{path}: {error}") from error
    return {"path": str(path), **extracted.to_json()}


# --- parsing helpers ---------------------------------------------------------------------------


def parse_html(html: str | bytes) -> _Element:
    """The page as an lxml tree, parsed as trafilatura parses it."""
    if isinstance(html, str):
        # lxml refuses str input that carries an XML encoding declaration
        html = html.encode("utf-8")
    if not html.strip():
        raise ExtractionError("empty document")
    tree = _parse_plain_utf8(html)
    if tree is not None:
        return tree
    # Imported on first use: the crawl process itself only parses feeds (pages are extracted in
    # the worker processes), and trafilatura with htmldate costs it a third of a second to load.
    import trafilatura

    tree = trafilatura.load_html(html)
    if tree is None:
        try:
            tree = lxml_html.document_fromstring(html)
        except (ParserError, ValueError) as error:
            raise ExtractionError(f"not an HTML document ({error})") from error
    return tree


# what trafilatura.load_html repairs before parsing: characters XML forbids (left to it), a doctype
# holding a slash on the first line (repaired the same way), a self-closing <html/> (left to it)
_XML_FORBIDDEN_BYTES = bytes((*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)))
_XML_FORBIDDEN_SEQUENCES = ("\ufffe".encode(), "\uffff".encode())
_DOCTYPE_WITH_SLASH = re.compile(rb"^< ?! ?DOCTYPE[^>]*/[^<>]*>", re.IGNORECASE)


def _parse_plain_utf8(html: bytes) -> _Element | None:
    """trafilatura.load_html's tree for the common page, in about half its time: a UTF-8
    document with nothing to repair is parsed from its bytes, without the decoding, the
    decompression attempts and the whole-page repair expressions; ``None`` for anything else."""
    beginning = html[:50].lower()
    if b"html" not in beginning:
        return None  # a fragment or not HTML: trafilatura's checks decide
    if any(
        b"<html" in line.lower() and line.endswith(b"/>") for line in html[:4096].splitlines()[:4]
    ):
        return None
    if len(html.translate(None, _XML_FORBIDDEN_BYTES)) != len(html) or any(
        sequence in html for sequence in _XML_FORBIDDEN_SEQUENCES
    ):
        return None
    try:
        html.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if b"doctype" in beginning:
        # libxml2 mishandles a doctype with a slash on the first line; trafilatura removes it
        first_line, _, rest = html.partition(b"\n")
        html = _DOCTYPE_WITH_SLASH.sub(b"", first_line, count=1) + b"\n" + rest
    # trafilatura's own parser (its settings: UTF-8, no comments...), so both ways give one tree
    from trafilatura.utils import HTML_PARSER

    tree = lxml_html.fromstring(html, parser=HTML_PARSER)
    return tree if len(tree) else None


def _select(tree: _Element, selector: str) -> list[_Element]:
    try:
        found = tree.xpath(selector) if is_xpath(selector) else tree.cssselect(selector)
    except Exception:  # an override that does not fit this page: fall back to heuristics
        return []
    return [item for item in found if isinstance(item, _Element)]


def _wrap_fragments(elements: list[_Element]) -> _Element:
    wrapper = lxml_html.fromstring("<html><body><article></article></body></html>")
    article = wrapper.find(".//article")
    assert article is not None
    for element in elements:
        article.append(lxml_html.fromstring(lxml_html.tostring(element)))
    return wrapper


def _element_text(element: _Element) -> str:
    return _WHITESPACE_RE.sub(" ", element.text_content()).strip()


def _date_from_selector(tree: _Element, selector: str) -> datetime | None:
    for element in _select(tree, selector):
        for candidate in (
            element.get("datetime"),
            element.get("content"),
            element.text_content(),
        ):
            parsed = parse_datetime(candidate)
            if parsed is not None:
                return parsed
    return None


def parse_datetime(value: object) -> datetime | None:
    """ISO 8601, RFC 822 or a free-form date -> an aware datetime (UTC assumed when no zone)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        parsed: datetime | None = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    else:
        text = _clean(str(value))
        if not text:
            return None
        parsed = _parse_date_text(text)
    if parsed is None:
        return None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _parse_date_text(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        pass
    if not any(ch.isdigit() for ch in text) or len(text) > 80:
        return None
    try:
        return dateutil_parser.parse(text, fuzzy=True)
    except (ValueError, OverflowError):
        return None


def _clean(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    # some publishers escape entities twice in meta tags ("R&amp;uuml;ckbau")
    cleaned = _WHITESPACE_RE.sub(" ", html_lib.unescape(value)).strip()
    return cleaned or None


def _normalise_lang(value: object) -> str | None:
    text = _clean(value)
    if text is None:
        return None
    match = _LANG_RE.match(text)
    return match.group(1).lower() if match else None


def _http_url(url: str | None) -> str | None:
    if url and urlsplit(url).scheme.lower() in ("http", "https"):
        return url
    return None


def _split_authors(value: object) -> tuple[str, ...]:
    text = _clean(value)
    if text is None:
        return ()
    return _dedupe(_split_names(text))


def _dedupe(names: Iterator[str] | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for name in names:
        cleaned = _clean(name)
        if cleaned and not cleaned.lower().startswith(("http://", "https://")):
            seen.setdefault(cleaned.casefold(), cleaned)
    return tuple(seen.values())


# --- page metadata ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _PageMeta:
    title: str | None
    published: datetime | None
    authors: tuple[str, ...]
    lang: str | None
    canonical_url: str | None

    @classmethod
    def from_tree(cls, tree: _Element, url: str | None) -> _PageMeta:
        article = _first_json_ld_article(tree)
        metas = _meta_values(tree)

        title = _clean(article.get("headline")) if article else None
        title = title or _first(metas, "og:title", "twitter:title")

        published = parse_datetime(article.get("datePublished")) if article else None
        published = published or parse_datetime(
            _first(metas, "article:published_time", "og:article:published_time", "pubdate")
        )

        people, organisations = _json_ld_authors(article.get("author")) if article else ((), ())
        # a named person beats the publisher that JSON-LD often lists as "author"
        authors = people or _dedupe(
            name
            for value in (metas.get("author", []) + metas.get("dc.creator", []))
            for name in _split_names(value)
        )
        authors = authors or organisations

        lang = _normalise_lang(
            tree.get("lang") or tree.get("{http://www.w3.org/XML/1998/namespace}lang")
        )
        if lang is None and article:
            lang = _normalise_lang(article.get("inLanguage"))
        lang = lang or _normalise_lang(_first(metas, "og:locale", "content-language"))

        canonical = None
        for link in tree.iter("link"):
            rel_values = (link.get("rel") or "").lower().split()
            if "canonical" in rel_values:
                canonical = _absolute(link.get("href"), url)
                if canonical:
                    break
        canonical = canonical or _absolute(_first(metas, "og:url"), url)
        return cls(title, published, authors, lang, canonical)


def _absolute(href: str | None, base: str | None) -> str | None:
    if not href or not href.strip():
        return None
    joined = urljoin(base, href.strip()) if base else href.strip()
    return joined if urlsplit(joined).scheme.lower() in ("http", "https") else None


def _meta_values(tree: _Element) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for meta in tree.iter("meta"):
        key = meta.get("property") or meta.get("name") or meta.get("http-equiv")
        content = meta.get("content")
        if key and content and content.strip():
            values.setdefault(key.strip().lower(), []).append(content.strip())
    return values


def _first(metas: dict[str, list[str]], *keys: str) -> str | None:
    for key in keys:
        for value in metas.get(key, []):
            cleaned = _clean(value)
            if cleaned:
                return cleaned
    return None


def _first_json_ld_article(tree: _Element) -> dict[str, Any] | None:
    for script in tree.xpath("//script[contains(translate(@type, 'LDJSON', 'ldjson'), 'ld+json')]"):
        raw = script.text or ""
        try:
            data = json.loads(raw, strict=False)
        except ValueError:
            continue
        for node in _json_ld_nodes(data):
            types = node.get("@type")
            type_names = types if isinstance(types, list) else [types]
            if any(isinstance(t, str) and t.lower() in _ARTICLE_TYPES for t in type_names):
                return node
    return None


def _json_ld_nodes(data: Any) -> Iterator[dict[str, Any]]:
    if isinstance(data, list):
        for item in data:
            yield from _json_ld_nodes(item)
    elif isinstance(data, dict):
        yield data
        if "@graph" in data:
            yield from _json_ld_nodes(data["@graph"])
        main = data.get("mainEntity")
        if isinstance(main, dict | list):
            yield from _json_ld_nodes(main)


def _json_ld_authors(value: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(people, organisations) named in a JSON-LD ``author`` value."""
    people: list[str] = []
    organisations: list[str] = []
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, str):
            people.extend(_split_names(item))
        elif isinstance(item, dict):
            kinds = item.get("@type")
            kind_names = kinds if isinstance(kinds, list) else [kinds]
            target = organisations if "Organization" in kind_names else people
            name = item.get("name")
            for one in name if isinstance(name, list) else [name]:
                if isinstance(one, str):
                    target.extend(_split_names(one))
    return _dedupe(people), _dedupe(organisations)


def _split_names(value: str) -> list[str]:
    """'A, B and C' / 'A und B, dpa' -> one name each."""
    return [part for part in _NAME_SEPARATOR_RE.split(html_lib.unescape(value)) if part.strip()]
