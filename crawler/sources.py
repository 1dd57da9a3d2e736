"""Load and validate the sources YAML (which feeds, listing pages and sitemaps to watch)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from cssselect import GenericTranslator, SelectorError
from lxml import etree
from lxml import html as lxml_html
from parsel import Selector
from parsel.csstranslator import HTMLTranslator

KINDS = frozenset({"feed", "listing", "sitemap"})
DEFAULT_LANG = "en"
DEFAULT_INTERVAL = "1h"
DEFAULT_MAX_PAGES = 1

_SOURCE_KEYS = frozenset(
    {
        "name",
        "kind",
        "url",
        "urls",
        "lang",
        "interval",
        "enabled",
        "link_selector",
        "next_selector",
        "max_pages",
        "extract",
        "allow_private_network",
    }
)
_EXTRACT_KEYS = frozenset({"body_selector", "date_selector"})
_LISTING_ONLY_KEYS = ("link_selector", "next_selector")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_INTERVAL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_INTERVAL_RE = re.compile(r"^\s*(\d+)\s*([smhd])\s*$", re.IGNORECASE)
_LANG_RE = re.compile(r"^[a-z]{2,3}$")
# sane upper bounds: larger values are typos, and would overflow the scheduler's clock arithmetic
MAX_INTERVAL = 366 * 86400
MAX_PAGES = 1000
# a tiny page every selector is tried on at load time: some mistakes (an XPath with an undefined
# namespace prefix or variable, a function lxml does not know) only show when a selector runs
_PROBE_HTML = "<html><head><title>t</title></head><body><a href='/x'>x</a><p>p</p></body></html>"


class SourcesError(ValueError):
    """The sources file is unreadable or one of its entries is invalid."""


@dataclass(frozen=True)
class ExtractOverrides:
    """Per-source hints for article pages where generic extraction gets it wrong."""

    body_selector: str | None = None
    date_selector: str | None = None


@dataclass(frozen=True)
class Source:
    name: str
    kind: str
    urls: tuple[str, ...]
    lang: str = DEFAULT_LANG
    interval: int = 3600  # seconds
    enabled: bool = True
    link_selector: str | None = None
    next_selector: str | None = None
    max_pages: int = DEFAULT_MAX_PAGES
    extract: ExtractOverrides = field(default_factory=ExtractOverrides)
    allow_private_network: bool = False

    @property
    def url(self) -> str:
        return self.urls[0]

    @property
    def private_netlocs(self) -> tuple[str, ...]:
        """``host:port`` of each of the source's URLs when it may use private addresses: the
        permission covers the source's own sites, not wherever its links or redirects point."""
        if not self.allow_private_network:
            return ()
        keys = []
        for url in self.urls:
            parts = urlsplit(url)
            scheme = parts.scheme.lower()
            host = (parts.hostname or "").lower()
            keys.append(f"{host}:{parts.port or _DEFAULT_PORTS.get(scheme, 0)}")
        return tuple(dict.fromkeys(keys))

    @property
    def private_hosts(self) -> tuple[str, ...]:
        """Host names (no port) of :attr:`private_netlocs`, for the DNS resolver."""
        return tuple(dict.fromkeys(key.rsplit(":", 1)[0] for key in self.private_netlocs))


def is_xpath(selector: str) -> bool:
    """Selectors starting with "/" or "(" are XPath; anything else is CSS."""
    return selector.lstrip().startswith(("/", "("))


def selector_problem(selector: str, *, scrapy_css: bool = False) -> str | None:
    """Why ``selector`` cannot be compiled, or None when it is a valid CSS or XPath selector.

    ``scrapy_css`` accepts Scrapy's ``::text`` / ``::attr(name)`` pseudo-elements (link selectors
    run through parsel; extraction overrides through plain lxml, which has none)."""
    if not selector.strip():
        return "empty selector"
    try:
        if scrapy_css or is_xpath(selector):
            # run the way the spider runs it (parsel), and extraction (lxml) on the same engine
            probe = Selector(text=_PROBE_HTML)
            if is_xpath(selector):
                etree.XPath(selector)
                probe.xpath(selector)
            else:
                HTMLTranslator().css_to_xpath(selector)
                probe.css(selector)
        else:
            xpath = GenericTranslator().css_to_xpath(selector)
            lxml_html.fromstring(_PROBE_HTML).xpath(xpath)
    except (etree.XPathError, SelectorError, ValueError) as error:
        kind = "XPath" if is_xpath(selector) else "CSS"
        reason = " ".join(str(error).split()) or type(error).__name__
        return f"invalid {kind} selector {selector!r} ({reason})"
    return None


def parse_interval(value: str | int) -> int:
    """'30m', '2h', '1d', '45s' or a bare number of seconds -> seconds (> 0)."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str):
        match = _INTERVAL_RE.match(value)
        if match is None:
            raise ValueError(f"not a duration like 30m, 2h or 1d: {value!r}")
        seconds = int(match.group(1)) * _INTERVAL_UNITS[match.group(2).lower()]
    else:  # a date, a list...: YAML's reading of it means nothing to the user
        raise ValueError(f"not a duration like 30m, 2h or 1d: {_shown(value)}")
    if seconds <= 0:
        raise ValueError(f"duration must be positive: {value!r}")
    if seconds > MAX_INTERVAL:
        raise ValueError(f"duration must be at most 366d, got {_shown(value)}")
    return seconds


def _shown(value: object) -> str:
    """A YAML value as the user wrote it (not Python's repr of a date), kept short."""
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 80 else text[:80] + "..."


def url_problem(url: object) -> str | None:
    if not isinstance(url, str) or not url.strip():
        return f"not a URL: {_shown(url)}"
    try:
        parts = urlsplit(url.strip())
    except ValueError as error:  # "Invalid IPv6 URL", a bracketed host that is no address
        return f"malformed URL {url!r} ({' '.join(str(error).split())})"
    try:
        port = parts.port
    except ValueError:
        port = 0
    if parts.scheme.lower() not in ("http", "https"):
        return f"only http and https URLs are allowed: {url!r}"
    if not parts.hostname:
        return f"URL has no host: {url!r}"
    if any(ch.isspace() or ord(ch) < 32 for ch in url.strip()):
        return f"URL contains whitespace or control characters: {url!r}"
    if parts.username is not None or parts.password is not None:
        # they would be sent to every site the crawl is redirected to and end up in logs
        return "credentials in URLs are not allowed (user:password@host)"
    if port == 0:
        return f"URL has an invalid port (1-65535): {url!r}"
    return None


def load_sources(path: Path | str) -> list[Source]:
    """Every source in the file, enabled or not; SourcesError names the first problem."""
    path = Path(path)
    try:
        raw_text = path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise SourcesError(f"{path}: sources file not found") from error
    except (OSError, UnicodeDecodeError) as error:
        raise SourcesError(f"{path}: cannot read sources file ({error})") from error
    try:
        document = yaml.safe_load(raw_text)
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" line {where.line + 1}" if where is not None else ""
        problem = getattr(error, "problem", None) or type(error).__name__
        raise SourcesError(f"{path}:{line} invalid YAML ({problem})") from error
    return parse_sources(document, origin=str(path))


def enabled_sources(path: Path | str) -> list[Source]:
    return [source for source in load_sources(path) if source.enabled]


def parse_sources(document: Any, origin: str = "<sources>") -> list[Source]:
    """Validate an already-parsed YAML document (``{"sources": [...]}``)."""
    if not isinstance(document, Mapping) or "sources" not in document:
        raise SourcesError(f"{origin}: expected a top-level 'sources:' list")
    extra = sorted(set(document) - {"sources"})
    if extra:
        raise SourcesError(
            f"{origin}: unknown top-level key {extra[0]!r} (only 'sources' is allowed)"
        )
    entries = document["sources"]
    if not isinstance(entries, list) or not entries:
        raise SourcesError(f"{origin}: 'sources' must be a non-empty list")
    sources: list[Source] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries, start=1):
        source = _parse_source(entry, index, origin)
        if source.name.casefold() in seen:
            raise SourcesError(f"{origin}: source {source.name!r}: field 'name': duplicate name")
        seen.add(source.name.casefold())
        sources.append(source)
    return sources


def _parse_source(entry: Any, index: int, origin: str) -> Source:
    label = f"source #{index}"

    def fail(field_name: str, problem: str) -> SourcesError:
        return SourcesError(f"{origin}: {label}: field {field_name!r}: {problem}")

    if not isinstance(entry, Mapping):
        raise SourcesError(f"{origin}: {label}: expected a mapping of fields, got {_shown(entry)}")
    name = entry.get("name")
    if isinstance(name, str) and name.strip():
        label = f"source {name.strip()!r}"
    unknown = sorted(str(key) for key in set(entry) - _SOURCE_KEYS)
    if unknown:
        raise fail(unknown[0], _unknown_field(unknown[0], _SOURCE_KEYS))
    if name is None or (isinstance(name, str) and not name.strip()):
        raise fail("name", "missing or empty")
    if not isinstance(name, str):
        raise fail("name", f"must be text, got {_shown(name)} (quote it: name: '{name}')")
    if "/" in name or any(ord(ch) < 32 for ch in name):
        # the name becomes part of stats keys such as APTWATCH_source/<name>/errors
        raise fail("name", "must not contain '/' or control characters")

    kind = entry.get("kind")
    if kind is None:
        raise fail("kind", "missing")
    if not isinstance(kind, str) or kind not in KINDS:
        raise fail("kind", f"must be one of {', '.join(sorted(KINDS))}, got {_shown(kind)}")

    if "url" in entry and "urls" in entry:
        raise fail("urls", "give either 'url' or 'urls', not both")
    if "url" in entry:
        urls_field, raw_urls = "url", [entry["url"]]
    elif "urls" in entry:
        urls_field, raw_urls = "urls", entry["urls"]
        if not isinstance(raw_urls, list) or not raw_urls:
            raise fail("urls", "must be a non-empty list of URLs")
    else:
        raise fail("url", "missing (give 'url' or 'urls')")
    for raw_url in raw_urls:
        problem = url_problem(raw_url)
        if problem:
            raise fail(urls_field, problem)
    urls = tuple(str(url).strip() for url in raw_urls)

    lang = entry.get("lang", DEFAULT_LANG)
    if not isinstance(lang, str) or not _LANG_RE.match(lang.strip().lower()):
        raise fail("lang", f"expected an ISO 639-1 code such as 'en', got {_shown(lang)}")

    try:
        interval = parse_interval(entry.get("interval", DEFAULT_INTERVAL))
    except ValueError as error:
        raise fail("interval", str(error)) from error

    enabled = entry.get("enabled", True)
    if not isinstance(enabled, bool):
        raise fail("enabled", f"expected true or false, got {_shown(enabled)}")
    allow_private = entry.get("allow_private_network", False)
    if not isinstance(allow_private, bool):
        raise fail("allow_private_network", f"expected true or false, got {_shown(allow_private)}")

    selectors: dict[str, str | None] = {}
    for key in ("link_selector", "next_selector"):
        value = entry.get(key)
        if value is not None:
            if not isinstance(value, str):
                raise fail(key, f"expected a CSS or XPath selector string, got {_shown(value)}")
            problem = selector_problem(value, scrapy_css=True)
            if problem:
                raise fail(key, problem)
            if kind != "listing":
                raise fail(key, f"only used by kind: listing (this source is kind: {kind})")
        selectors[key] = value
    if kind == "listing" and not selectors["link_selector"]:
        raise fail("link_selector", "missing (required for kind: listing)")

    max_pages = entry.get("max_pages", DEFAULT_MAX_PAGES)
    if isinstance(max_pages, bool) or not isinstance(max_pages, int) or max_pages < 1:
        raise fail("max_pages", f"expected a whole number >= 1, got {_shown(max_pages)}")
    if max_pages > MAX_PAGES:
        raise fail("max_pages", f"must be at most {MAX_PAGES}, got {_shown(max_pages)}")

    extract = _parse_extract(entry.get("extract"), fail)
    return Source(
        name=name.strip(),
        kind=kind,
        urls=urls,
        lang=lang.strip().lower(),
        interval=interval,
        enabled=enabled,
        link_selector=selectors["link_selector"],
        next_selector=selectors["next_selector"],
        max_pages=max_pages,
        extract=extract,
        allow_private_network=allow_private,
    )


def _parse_extract(raw: Any, fail: Any) -> ExtractOverrides:
    if raw is None:
        return ExtractOverrides()
    if not isinstance(raw, Mapping):
        raise fail("extract", "expected a mapping with body_selector and/or date_selector")
    unknown = sorted(str(key) for key in set(raw) - _EXTRACT_KEYS)
    if unknown:
        raise fail(f"extract.{unknown[0]}", _unknown_field(unknown[0], _EXTRACT_KEYS))
    values: dict[str, str | None] = {}
    for key in sorted(_EXTRACT_KEYS):
        value = raw.get(key)
        if value is not None:
            if not isinstance(value, str):
                raise fail(f"extract.{key}", f"expected a selector string, got {_shown(value)}")
            problem = selector_problem(value)
            if problem:
                raise fail(f"extract.{key}", problem)
        values[key] = value
    return ExtractOverrides(**values)


def _unknown_field(key: str, known: frozenset[str]) -> str:
    close = difflib.get_close_matches(key, sorted(known), n=1)
    return f"unknown field (did you mean {close[0]!r}?)" if close else "unknown field"


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def describe_source(source: Source) -> str:
    """One line: what a source is and how it is crawled (for ``aptwatch sources check``)."""
    parts = [f"{source.name}: {source.kind}"]
    parts.append(source.url if len(source.urls) == 1 else f"{len(source.urls)} URLs")
    parts.append(f"every {_duration(source.interval)}")
    parts.append(f"lang {source.lang}")
    if source.kind == "listing":
        parts.append(f"links {source.link_selector!r}")
        if source.next_selector:
            parts.append(f"next {source.next_selector!r} up to {source.max_pages} page(s)")
    elif source.kind == "sitemap":
        parts.append(f"of an index the {source.max_pages} newest child sitemap(s)")
    overrides = [
        name
        for name, value in (
            ("body", source.extract.body_selector),
            ("date", source.extract.date_selector),
        )
        if value
    ]
    if overrides:
        parts.append(f"extract overrides: {', '.join(overrides)}")
    if source.allow_private_network:
        parts.append("private network allowed")
    else:
        parts += [f"WILL BE BLOCKED: {problem}" for problem in _blocked_hosts(source)]
    parts.append("enabled" if source.enabled else "disabled")
    return ", ".join(parts)


def _blocked_hosts(source: Source) -> list[str]:
    """Why the crawl will refuse the source's own URLs, where that shows without DNS: a private
    or loopback address written into the URL, or localhost."""
    from crawler.safety import address_problem, is_ip_literal

    problems = []
    for url in source.urls:
        host = (urlsplit(url).hostname or "").lower()
        if host == "localhost" or host.endswith(".localhost"):
            problems.append(f"{host} is this machine")
        elif is_ip_literal(host) and (problem := address_problem(host)):
            problems.append(problem)
    return [
        f"{problem} (set allow_private_network: true if this source is yours)"
        for problem in dict.fromkeys(problems)
    ]


def check_sources(path: Path | str) -> list[str]:
    """Validate the sources file without crawling: one summary line per source.

    Raises SourcesError (one line naming the file, the source and the field) when it is invalid.
    """
    return [describe_source(source) for source in load_sources(path)]
